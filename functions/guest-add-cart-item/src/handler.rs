//! `POST /api/v1/guest/carts/{cart_id}/items` with `Guest-Token`: adds units to a guest's cart,
//! with a user's checks (the stock; under `hold`, the hold, at most `MAX_GUEST_HELD_PER_ITEM`
//! units of an item). The loop: `shared::app::carts::add`.

use lambda_http::Request;
use shared::app::{carts, AppState};
use shared::domain::{ItemId, Quantity};
use shared::http::{reply, required_field, Endpoint, GuestCall, HandlerResult};

pub struct GuestAddCartItem;

impl Endpoint for GuestAddCartItem {
    const NAME: &'static str = "guest-add-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = GuestCall::parse(state, &req)?;
        let item = required_field(&call.body, "item_id", ItemId::from_json)?;
        let quantity = required_field(&call.body, "quantity", Quantity::from_json)?;
        reply(carts::add(state, &call.cart, item, quantity, call.key.as_ref()).await?)
    }
}
