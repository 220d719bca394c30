//! `POST /api/v1/guest/carts` (no sign-in; a tighter throttle of its own): a new empty cart for a
//! new guest, `201` with the cart and its `guest_token`, shown this once (only its hash is kept:
//! it is the guest's id). Every call makes a new guest. In `iam` mode the shop's backend calls
//! (an IAM identity), holding the token for its visitor. One conditional write.

use lambda_http::Request;
use shared::app::carts::create_guest_cart;
use shared::app::AppState;
use shared::config::AuthMode;
use shared::http::{json_object, reply, require_iam, Endpoint, HandlerResult};

pub struct GuestCreateCart;

impl Endpoint for GuestCreateCart {
    const NAME: &'static str = "guest-create-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        if state.config.auth.mode == AuthMode::Iam {
            require_iam(state, &req)?;
        }
        json_object(&req)?;
        reply(create_guest_cart(state).await?)
    }
}
