//! `DELETE /api/v1/cart/{cart_id}/items/{item_id}`: removes a line from the caller's cart.
//! A `user_id` may come in the body or, since many clients drop DELETE bodies, in `?user_id=`.
//!
//! Without a key, one conditional update (exactly once even when the SDK resends it). With an
//! `Idempotency-Key`, one `BatchGetItem` (the key's record and the cart), then one transaction
//! writing the cart's new version with the key's record; a replay is one request.

use lambda_http::Request;
use shared::domain::{now_unix, Fingerprint, ItemId, KeyScope};
use shared::http::{
    authenticate, cart_answer, cart_in_path, commit_keyed, exactly_once, json_object, key_header,
    named_user, path_param, AppState, Attempt, Endpoint, HandlerResult,
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

        let Some(key) = key else {
            return match store.remove_cart_line(&cart_id, item_id).await? {
                CartChange::Changed(cart) => cart_answer(200, &cart),
                CartChange::CartNotFound => Err(ApiError::CartNotFound),
                CartChange::LineNotFound => Err(ApiError::ItemNotInCart(item_id)),
            };
        };
        let request = Fingerprint::of("remove", &[&cart_id, &item_id]);
        let pk = KeyScope::User(&user).record_key(&key);
        let (pk, request_ref, cart_id) = (pk.as_str(), &request, &cart_id);
        exactly_once(&request, || async move {
            let now = now_unix();
            let read = store.read_cart(cart_id, Some(pk), None, now).await?;
            if let Some(receipt) = read.receipt {
                return Ok(Attempt::Replay(receipt));
            }
            let cart = read.cart.ok_or(ApiError::CartNotFound)?;
            let after = cart
                .without(item_id)
                .ok_or(ApiError::ItemNotInCart(item_id))?;
            commit_keyed(state, &cart, &after, pk, request_ref, now).await
        })
        .await
    }
}
