//! `POST /api/v1/admin/orders/{order_id}/payment` (IAM only) `{"status": "captured" | "failed",
//! "reference": "..."}`: the shop's payment service reports a payment. Captured before
//! `payment_due_by`: `paid`, with its reference; after it: `409 order_expired` with
//! `refund_due` (refund it), even before the sweep has expired the order. Failed: the order is
//! `cancelled` and its units go back. Reporting the same payment again answers the order
//! unchanged.

use lambda_http::Request;
use shared::app::orders::{transition, Actor};
use shared::app::AppState;
use shared::domain::lifecycle::Change;
use shared::domain::PaymentReference;
use shared::http::{
    if_match, order_in_path, reply, required_field, AdminCall, Endpoint, HandlerResult,
};

pub struct AdminOrderPayment;

impl Endpoint for AdminOrderPayment {
    const NAME: &'static str = "admin-order-payment";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let order = order_in_path(&req)?;
        let captured = required_field(&call.body, "status", |v| match v.as_str() {
            Some("captured") => Ok(true),
            Some("failed") => Ok(false),
            _ => Err("must be \"captured\" or \"failed\"".to_owned()),
        })?;
        let reference = required_field(&call.body, "reference", PaymentReference::from_json)?;
        let reference = reference.as_str().to_owned();
        let change = match captured {
            true => Change::Pay { reference },
            false => Change::PaymentFailed { reference },
        };
        let (seen, key) = (if_match(&req)?, call.key.as_ref());
        let actor = Actor::Admin(&call.principal);
        reply(transition(state, actor, order, &change, seen, key).await?)
    }
}
