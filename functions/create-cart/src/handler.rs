//! `POST /api/v1/cart/` (and without the slash): the acting user's one cart, created on first
//! call (`201`; `200` with the same cart after). The user is the token's subject (`jwt`) or the
//! body's `user_id` (`iam`). One conditional `PutItem`.

use lambda_http::Request;
use shared::app::carts::cart_reply;
use shared::app::AppState;
use shared::domain::now_unix;
use shared::http::{reply, Endpoint, HandlerResult, UserCall};

pub struct CreateCart;

impl Endpoint for CreateCart {
    const NAME: &'static str = "create-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = UserCall::parse(state, &req)?;
        let store = &state.store;
        let (cart, created) = store.create_or_get_cart(&call.user, now_unix()).await?;
        reply(cart_reply(if created { 201 } else { 200 }, &cart))
    }
}
