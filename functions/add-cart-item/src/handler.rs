//! `POST /api/v1/cart/{cart_id}/items`: adds units of an item to the caller's cart, checked
//! against the item's available stock at this moment; under the `hold` policy, the units are
//! taken from it and held, at today's price, for `HOLD_SECONDS`.
//!
//! `latest` without a key: two requests, the item read, then one conditional update of the cart
//! (an atomic increment, exactly once even when the SDK resends it). With an `Idempotency-Key`,
//! or under `hold`: two as well, one `BatchGetItem` (the cart, the item, the key's record), then
//! one write of the cart's new version (a transaction with the item's stock and the key's record
//! when there are any); a replay is one request. The loop: `shared::app::carts::add`.

use lambda_http::Request;
use shared::app::{carts, AppState};
use shared::domain::{ItemId, Quantity};
use shared::http::{reply, required_field, CartCall, Endpoint, HandlerResult};

pub struct AddCartItem;

impl Endpoint for AddCartItem {
    const NAME: &'static str = "add-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = CartCall::change(state, &req)?;
        let item = required_field(&call.body, "item_id", ItemId::from_json)?;
        let quantity = required_field(&call.body, "quantity", Quantity::from_json)?;
        reply(carts::add(state, &call.cart, item, quantity, call.key.as_ref()).await?)
    }
}
