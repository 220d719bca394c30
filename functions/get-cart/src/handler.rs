//! `GET /api/v1/cart/{cart_id}`: the cart, for its owner only.

use lambda_http::Request;
use serde_json::json;
use shared::http::{
    authenticate, cart_in_path, json, json_object, named_user, AppState, Endpoint, HandlerResult,
};
use shared::ApiError;

pub struct GetCart;

impl Endpoint for GetCart {
    const NAME: &'static str = "get-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let id = cart_in_path(&req)?;
        let user = caller.user_or(named_user(&req, &json_object(&req)?)?, id.owner())?;
        if id.owner() != &user {
            // Someone else's cart, or none: the same answer either way.
            return Err(ApiError::CartNotFound);
        }
        match state.store.get_cart(&id).await? {
            Some(cart) => json(200, &json!({ "cart": cart })),
            None => Err(ApiError::CartNotFound),
        }
    }
}
