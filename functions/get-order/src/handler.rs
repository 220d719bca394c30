//! `GET /api/v1/orders/{order_id}`: an order as it stands now (its status by the time: a
//! pending order whose payment window closed is `expired`), for its owner only (someone
//! else's is `404`, exactly as one that does not exist), with its version as the `ETag`. One
//! `GetItem`.

use lambda_http::Request;
use shared::app::orders::order_reply;
use shared::app::AppState;
use shared::domain::now_unix;
use shared::http::{order_in_path, reply, Endpoint, HandlerResult, UserCall};
use shared::ApiError;

pub struct GetOrder;

impl Endpoint for GetOrder {
    const NAME: &'static str = "get-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = UserCall::parse(state, &req)?;
        let order_id = order_in_path(&req)?;
        match state.store.get_order(order_id).await? {
            Some(order) if order.user_id == call.user => reply(order_reply(&order, now_unix())),
            _ => Err(ApiError::OrderNotFound),
        }
    }
}
