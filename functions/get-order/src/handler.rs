//! `GET /api/v1/orders/{order_id}`: an order, for its owner only (someone else's is `404`,
//! exactly as one that does not exist). One `GetItem`.

use lambda_http::Request;
use serde_json::json;
use shared::app::AppState;
use shared::http::{json, order_in_path, Endpoint, HandlerResult, UserCall};
use shared::ApiError;

pub struct GetOrder;

impl Endpoint for GetOrder {
    const NAME: &'static str = "get-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = UserCall::parse(state, &req)?;
        let order_id = order_in_path(&req)?;
        match state.store.get_order(order_id).await? {
            Some(order) if order.user_id == call.user => json(200, &json!({ "order": order })),
            _ => Err(ApiError::OrderNotFound),
        }
    }
}
