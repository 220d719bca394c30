//! `PATCH /api/v1/cart/{cart_id}/items/{item_id}` `{"quantity": q}`: sets a line's quantity (`0`
//! removes it), with the same checks as an add: the available stock, and under `hold` the hold
//! (more units extend it, fewer give the difference back at once) and the cap per user.
//!
//! One `BatchGetItem` (the cart, the item, the key's record if a key is sent), then one write of
//! the cart's new version (a transaction with the item's stock and the key's record when there
//! are any); a replay is one request.

use lambda_http::Request;
use serde_json::Value;
use shared::domain::{Fingerprint, ItemId, KeyScope, Quantity};
use shared::http::{
    authenticate, cart_in_path, change_cart, json_object, key_header, named_user, path_param,
    refused, required_field, AppState, Endpoint, HandlerResult,
};
use shared::ApiError;

pub struct SetCartItem;

impl Endpoint for SetCartItem {
    const NAME: &'static str = "set-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let item_id = path_param(&req, "item_id", ItemId::parse)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let quantity = required_field(&body, "quantity", |v: &Value| match v.as_u64() {
            Some(0) => Ok(0),
            _ => Quantity::from_json(v)
                .map(|q| u64::from(q.get()))
                .map_err(|_| "must be an integer from 0 to 10000".to_owned()),
        })?;
        let key = key_header(&req)?;
        if cart_id.owner() != &user {
            return Err(ApiError::CartNotFound);
        }
        let policy = state.config.checkout;
        let request = Fingerprint::of("set", &[&cart_id, &item_id, &quantity]);
        let pk = key.map(|key| KeyScope::User(&user).record_key(&key));
        let key = pk.as_deref().map(|pk| (pk, &request));
        change_cart(state, &cart_id, Some(item_id), key, |cart, item, now| {
            let in_cart = cart.line(item_id).map_or(0, |l| l.quantity);
            if quantity == 0 {
                return cart
                    .without(item_id)
                    .ok_or(ApiError::ItemNotInCart(item_id));
            }
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            let set = cart.with_quantity(item, quantity, policy, now);
            set.map_err(|refusal| refused(refusal, item, quantity.saturating_sub(in_cart)))
        })
        .await
    }
}
