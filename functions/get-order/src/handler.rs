//! `GET /api/v1/orders/{order_id}?user_id=`: an order, for its owner only.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{OrderId, UserId};
use shared::http::{json, path_param, query_param, AppState, Endpoint, HandlerResult};
use shared::ApiError;

pub struct GetOrder;

impl Endpoint for GetOrder {
    const NAME: &'static str = "get-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let order_id = path_param(&req, "order_id", OrderId::parse)?;
        let user = query_param(&req, "user_id")?
            .ok_or_else(|| ApiError::invalid("user_id", "is required as ?user_id="))
            .and_then(|v| UserId::parse(v).map_err(|why| ApiError::invalid("user_id", why)))?;
        match state.store.get_order(order_id).await? {
            Some(order) if order.user_id == user => json(200, &json!({ "order": order })),
            _ => Err(ApiError::OrderNotFound),
        }
    }
}
