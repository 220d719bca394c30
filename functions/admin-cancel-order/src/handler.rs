//! `POST /api/v1/admin/orders/{order_id}/cancel` (IAM only): an admin cancels any order, as its
//! owner could (`shared::app::orders::transition`).

use lambda_http::Request;
use shared::app::orders::{transition, Actor};
use shared::app::AppState;
use shared::domain::lifecycle::Change;
use shared::http::{if_match, order_in_path, reply, AdminCall, Endpoint, HandlerResult};

pub struct AdminCancelOrder;

impl Endpoint for AdminCancelOrder {
    const NAME: &'static str = "admin-cancel-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let order = order_in_path(&req)?;
        let (seen, key) = (if_match(&req)?, call.key.as_ref());
        let actor = Actor::Admin(&call.principal);
        reply(transition(state, actor, order, &Change::Cancel, seen, key).await?)
    }
}
