//! `GET /api/v1/guest/carts/{cart_id}` with `Guest-Token`: the guest's cart (`304` to an
//! `If-None-Match` naming its version). One `GetItem`.

use lambda_http::Request;
use shared::app::carts::cart_reply;
use shared::app::AppState;
use shared::domain::now_unix;
use shared::http::{
    not_modified, not_modified_response, reply, Endpoint, GuestCall, HandlerResult,
};
use shared::ApiError;

pub struct GuestGetCart;

impl Endpoint for GuestGetCart {
    const NAME: &'static str = "guest-get-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = GuestCall::parse(state, &req)?;
        match state.store.get_cart(&call.cart, now_unix()).await? {
            Some(cart) if not_modified(&req, cart.version) => not_modified_response(cart.version),
            Some(cart) => reply(cart_reply(200, &cart)),
            None => Err(ApiError::CartNotFound),
        }
    }
}
