//! `DELETE /api/v1/cart/{cart_id}/items/{item_id}`: removes a line from the caller's cart (what
//! it held goes back to the item's available stock at once). A `user_id` may come in the body
//! or, since many clients drop DELETE bodies, in `?user_id=`.
//!
//! `latest` without a key: one conditional update (exactly once even when the SDK resends it).
//! With an `Idempotency-Key`, or under `hold`: one `BatchGetItem` (the cart, the key's record),
//! then one write of the cart's new version (a transaction with the item's stock and the key's
//! record when there are any); a replay is one request. The loop: `shared::app::carts::remove`.

use lambda_http::Request;
use shared::app::{carts, AppState};
use shared::domain::ItemId;
use shared::http::{path_param, reply, CartCall, Endpoint, HandlerResult};

pub struct RemoveCartItem;

impl Endpoint for RemoveCartItem {
    const NAME: &'static str = "remove-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = CartCall::change(state, &req)?;
        let item = path_param(&req, "item_id", ItemId::parse)?;
        reply(carts::remove(state, &call.cart, item, call.key.as_ref()).await?)
    }
}
