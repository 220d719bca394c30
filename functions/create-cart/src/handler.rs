//! `POST /api/v1/cart/` (and without the slash): the user's one cart, created on first call.

use lambda_http::Request;
use serde_json::json;
use shared::domain::UserId;
use shared::http::{json, json_object, required_field, AppState, Endpoint, HandlerResult};

pub struct CreateCart;

impl Endpoint for CreateCart {
    const NAME: &'static str = "create-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let body = json_object(&req)?;
        let user = required_field(&body, "user_id", UserId::from_json)?;
        let (cart, created) = state.store.create_or_get_cart(user).await?;
        json(if created { 201 } else { 200 }, &json!({ "cart": cart }))
    }
}
