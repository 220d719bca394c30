//! `PATCH /api/v1/guest/carts/{cart_id}/items/{item_id}` `{"quantity": q}` with `Guest-Token`:
//! sets a guest's line (`0` removes it), with a user's checks. The loop:
//! `shared::app::carts::set`.

use lambda_http::Request;
use serde_json::Value;
use shared::app::{carts, AppState};
use shared::domain::{ItemId, Quantity};
use shared::http::{path_param, reply, required_field, Endpoint, GuestCall, HandlerResult};

pub struct GuestSetCartItem;

impl Endpoint for GuestSetCartItem {
    const NAME: &'static str = "guest-set-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = GuestCall::parse(state, &req)?;
        let item = path_param(&req, "item_id", ItemId::parse)?;
        let quantity = required_field(&call.body, "quantity", |v: &Value| match v.as_u64() {
            Some(0) => Ok(0),
            _ => Quantity::from_json(v)
                .map(|q| u64::from(q.get()))
                .map_err(|_| "must be an integer from 0 to 10000".to_owned()),
        })?;
        reply(carts::set(state, &call.cart, item, quantity, call.key.as_ref()).await?)
    }
}
