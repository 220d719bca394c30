//! `POST /api/v1/admin/orders/{order_id}/fulfil` (IAM only): a `placed` or `paid` order becomes
//! `fulfilled` (one conditional write); fulfilling it again answers it unchanged; any other is
//! `409 order_not_fulfillable`.

use lambda_http::Request;
use shared::app::orders::{transition, Actor};
use shared::app::AppState;
use shared::domain::lifecycle::Change;
use shared::http::{if_match, order_in_path, reply, AdminCall, Endpoint, HandlerResult};

pub struct AdminFulfilOrder;

impl Endpoint for AdminFulfilOrder {
    const NAME: &'static str = "admin-fulfil-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let order = order_in_path(&req)?;
        let (seen, key) = (if_match(&req)?, call.key.as_ref());
        let actor = Actor::Admin(&call.principal);
        reply(transition(state, actor, order, &Change::Fulfil, seen, key).await?)
    }
}
