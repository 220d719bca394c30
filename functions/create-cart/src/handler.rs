//! `POST /api/v1/cart/` (and without the slash): the acting user's one cart, created on first
//! call. The user is the token's subject (`jwt`) or the body's `user_id` (`iam`).

use lambda_http::Request;
use shared::http::{
    authenticate, cart_answer, json_object, named_user, AppState, Endpoint, HandlerResult,
};

pub struct CreateCart;

impl Endpoint for CreateCart {
    const NAME: &'static str = "create-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let (cart, created) = state
            .store
            .create_or_get_cart(&user, shared::domain::now_unix())
            .await?;
        cart_answer(if created { 201 } else { 200 }, &cart)
    }
}
