//! `GET /api/v1/orders/{order_id}`: an order, for its owner only.

use lambda_http::Request;
use serde_json::json;
use shared::http::{
    authenticate, json, json_object, named_user, order_in_path, AppState, Endpoint, HandlerResult,
};
use shared::ApiError;

pub struct GetOrder;

impl Endpoint for GetOrder {
    const NAME: &'static str = "get-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let order_id = order_in_path(&req)?;
        let user = caller.user(named_user(&req, &json_object(&req)?)?)?;
        match state.store.get_order(order_id).await? {
            Some(order) if order.user_id == user => json(200, &json!({ "order": order })),
            _ => Err(ApiError::OrderNotFound),
        }
    }
}
