//! `GET /api/v1/cart/{cart_id}`: the cart, for its owner only; `304` to an `If-None-Match`
//! naming its version.

use lambda_http::Request;
use shared::http::{
    authenticate, cart_answer, cart_in_path, json_object, named_user, not_modified,
    not_modified_response, AppState, Endpoint, HandlerResult,
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
        match state
            .store
            .get_cart(&id, shared::domain::now_unix())
            .await?
        {
            Some(cart) if not_modified(&req, cart.version) => not_modified_response(cart.version),
            Some(cart) => cart_answer(200, &cart),
            None => Err(ApiError::CartNotFound),
        }
    }
}
