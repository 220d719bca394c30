//! `GET /api/v1/cart/{cart_id}`: the cart. Its id is unguessable, so it is the capability.

use lambda_http::Request;
use serde_json::json;
use shared::domain::CartId;
use shared::http::{json, path_param, AppState, Endpoint, HandlerResult};
use shared::ApiError;

pub struct GetCart;

impl Endpoint for GetCart {
    const NAME: &'static str = "get-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let id = path_param(&req, "cart_id", CartId::parse)?;
        match state.store.get_cart(&id).await? {
            Some(cart) => json(200, &json!({ "cart": cart })),
            None => Err(ApiError::CartNotFound),
        }
    }
}
