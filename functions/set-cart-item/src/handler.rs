//! `PATCH /api/v1/cart/{cart_id}/items/{item_id}` `{"quantity": q}`: sets a line's quantity (`0`
//! removes it), with the same checks as an add: the available stock, and under `hold` the hold
//! (more units extend it, fewer give the difference back at once) and the cap per user.
//!
//! One `BatchGetItem` (the cart, the item, the key's record if a key is sent), then one write of
//! the cart's new version (a transaction with the item's stock and the key's record when there
//! are any); a replay is one request. The loop: `shared::app::carts::set`.

use lambda_http::Request;
use serde_json::Value;
use shared::app::{carts, AppState};
use shared::domain::{ItemId, Quantity};
use shared::http::{path_param, reply, required_field, CartCall, Endpoint, HandlerResult};

pub struct SetCartItem;

impl Endpoint for SetCartItem {
    const NAME: &'static str = "set-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = CartCall::change(state, &req)?;
        let item = path_param(&req, "item_id", ItemId::parse)?;
        let quantity = required_field(&call.body, "quantity", |v: &Value| match v.as_u64() {
            Some(0) => Ok(0),
            _ => Quantity::from_json(v)
                .map(|q| u64::from(q.get()))
                .map_err(|_| "must be an integer from 0 to 10000".to_owned()),
        })?;
        reply(carts::set(state, &call.cart, item, quantity, call.key.as_ref()).await?)
    }
}
