//! `POST /api/v1/cart/{cart_id}/items`: adds units of an item to the caller's cart, checked
//! against the item's available stock at this moment; under the `hold` policy, the units are
//! taken from it and held, at today's price, for `HOLD_SECONDS`.
//!
//! `latest` without a key: two requests, the item read, then one conditional update of the cart
//! (an atomic increment, exactly once even when the SDK resends it). With an `Idempotency-Key`,
//! or under `hold`: two as well, one `BatchGetItem` (the cart, the item, the key's record), then
//! one write of the cart's new version (a transaction with the item's stock and the key's record
//! when there are any); a replay is one request.

use lambda_http::Request;
use shared::domain::{
    now_unix, AddRefusal, CheckoutPolicy, Fingerprint, ItemId, KeyScope, Quantity,
};
use shared::http::{
    authenticate, cart_answer, cart_in_path, change_cart, json_object, key_header, named_user,
    refused, required_field, AppState, Endpoint, HandlerResult,
};
use shared::store::AddLine;
use shared::ApiError;

pub struct AddCartItem;

impl Endpoint for AddCartItem {
    const NAME: &'static str = "add-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let item_id = required_field(&body, "item_id", ItemId::from_json)?;
        let quantity = required_field(&body, "quantity", Quantity::from_json)?;
        let key = key_header(&req)?;
        if cart_id.owner() != &user {
            // Someone else's cart, or none: the same answer either way.
            return Err(ApiError::CartNotFound);
        }
        let (store, policy) = (&state.store, state.config.checkout);

        if key.is_none() && policy == CheckoutPolicy::Latest {
            let item = store.get_item(item_id).await?;
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            return match store
                .add_cart_line(&cart_id, &item, quantity, now_unix())
                .await?
            {
                AddLine::Added(cart) => cart_answer(200, &cart),
                AddLine::CartNotFound => Err(ApiError::CartNotFound),
                AddLine::CartFull => Err(refused(
                    AddRefusal::CartFull,
                    &item,
                    u64::from(quantity.get()),
                )),
                AddLine::InsufficientStock { in_cart } => Err(refused(
                    AddRefusal::InsufficientStock {
                        in_cart,
                        available: item.stock.get(),
                    },
                    &item,
                    u64::from(quantity.get()),
                )),
            };
        }
        let request = Fingerprint::of("add", &[&cart_id, &item_id, &quantity.get()]);
        let pk = key.map(|key| KeyScope::User(&user).record_key(&key));
        let key = pk.as_deref().map(|pk| (pk, &request));
        change_cart(state, &cart_id, Some(item_id), key, |cart, item, now| {
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            let added = cart.with_added(item, quantity, policy, now);
            added.map_err(|refusal| refused(refusal, item, u64::from(quantity.get())))
        })
        .await
    }
}
