//! `DELETE /api/v1/cart/{cart_id}/items/{item_id}`: removes a line from the caller's cart (what
//! it held goes back to the item's available stock at once). A `user_id` may come in the body
//! or, since many clients drop DELETE bodies, in `?user_id=`.
//!
//! `latest` without a key: one conditional update (exactly once even when the SDK resends it).
//! With an `Idempotency-Key`, or under `hold`: one `BatchGetItem` (the cart, the key's record),
//! then one write of the cart's new version (a transaction with the item's stock and the key's
//! record when there are any); a replay is one request.

use lambda_http::Request;
use shared::domain::{now_unix, CheckoutPolicy, Fingerprint, ItemId, KeyScope};
use shared::http::{
    authenticate, cart_answer, cart_in_path, change_cart, json_object, key_header, named_user,
    path_param, AppState, Endpoint, HandlerResult,
};
use shared::store::CartChange;
use shared::ApiError;

pub struct RemoveCartItem;

impl Endpoint for RemoveCartItem {
    const NAME: &'static str = "remove-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let item_id = path_param(&req, "item_id", ItemId::parse)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let key = key_header(&req)?;
        if cart_id.owner() != &user {
            return Err(ApiError::CartNotFound);
        }
        let store = &state.store;

        if key.is_none() && state.config.checkout == CheckoutPolicy::Latest {
            match store
                .remove_cart_line(&cart_id, item_id, now_unix())
                .await?
            {
                CartChange::Changed(cart) => return cart_answer(200, &cart),
                CartChange::CartNotFound => return Err(ApiError::CartNotFound),
                CartChange::LineNotFound => return Err(ApiError::ItemNotInCart(item_id)),
                // Units held from before a switch to `latest`: given back below.
                CartChange::LineHeld => {}
            }
        }
        let request = Fingerprint::of("remove", &[&cart_id, &item_id]);
        let pk = key.map(|key| KeyScope::User(&user).record_key(&key));
        let key = pk.as_deref().map(|pk| (pk, &request));
        change_cart(state, &cart_id, None, key, |cart, _, _| {
            cart.without(item_id)
                .ok_or(ApiError::ItemNotInCart(item_id))
        })
        .await
    }
}
