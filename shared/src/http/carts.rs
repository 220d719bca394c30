//! Answers about a cart: its JSON with the `ETag` of its version, and the change of a cart
//! computed from what it is now (an add, a removal, a new quantity): read, compute, write, with
//! what the lines hold moving between the items' stock and the cart, and with the key's record
//! when there is a key; again if the cart changed meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::keys::{exactly_once, Attempt};
use super::{json_text, with_etag, AppState, HandlerResult};
use crate::domain::{
    now_unix, AddRefusal, Cart, CartId, Fingerprint, Item, ItemId, Shortfall, MAX_CART_LINES,
};
use crate::store::{CartCommit, NewRecord};
use crate::ApiError;

/// `{"cart": ...}` with the cart's `ETag`.
pub fn cart_answer(status: u16, cart: &Cart) -> HandlerResult {
    with_etag(json_text(status, cart_body(cart))?, cart.version)
}

fn cart_body(cart: &Cart) -> String {
    json!({ "cart": cart }).to_string()
}

/// A key's record (`KeyScope::record_key`) and the request it binds.
pub type Key<'a> = (&'a str, &'a Fingerprint);

/// Changes the cart `cart_id` as `change` computes it from the cart and the `item` (when one is
/// named) as they are now: one `BatchGetItem` of the cart, the item and the key's record, then
/// one conditional write (a transaction when stock moves or there is a key). The answer is the
/// cart it made (or the key's first answer).
///
/// The batch reads each item at its own instant, so a refusal that depends on the item (its
/// stock, its price) is answered only when a second read finds the same cart version: the cart
/// did not change across the first read, whose item was then read with the cart as it is.
/// A refusal costs one read more; an accepted change, none.
pub async fn change_cart<F>(
    state: &AppState,
    cart_id: &CartId,
    item: Option<ItemId>,
    key: Option<Key<'_>>,
    change: F,
) -> HandlerResult
where
    F: Fn(&Cart, Option<&Item>, i64) -> Result<Cart, ApiError>,
{
    let unkeyed = Fingerprint::of("unkeyed", &[]);
    let request = key.map_or(&unkeyed, |(_, request)| request);
    let change = &change;
    // The cart version of the last refusal read (none yet: no version is `u64::MAX`).
    let refused_at = &AtomicU64::new(u64::MAX);
    exactly_once(request, || async move {
        let now = now_unix();
        let pk = key.map(|(pk, _)| pk);
        let read = state.store.read_cart(cart_id, pk, item, now).await?;
        if let Some(receipt) = read.receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let cart = read.cart.ok_or(ApiError::CartNotFound)?;
        let after = match change(&cart, read.item.as_ref(), now) {
            Ok(after) => after,
            Err(ApiError::InsufficientStock(_) | ApiError::HeldAtAnotherPrice { .. })
                if refused_at.swap(cart.version, Ordering::Relaxed) != cart.version =>
            {
                return Ok(Attempt::Again);
            }
            Err(refusal) => return Err(refusal),
        };
        let body = cart_body(&after);
        let record = key.map(|(pk, request)| NewRecord {
            pk,
            request,
            status: 200,
            body: &body,
            version: Some(after.version),
            now,
        });
        let store = &state.store;
        Ok(
            match store
                .commit_cart(&cart, &after, record.as_ref(), now)
                .await?
            {
                CartCommit::Done => {
                    Attempt::Answer(with_etag(json_text(200, body)?, after.version))
                }
                CartCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
                CartCommit::CartChanged => Attempt::Again,
                CartCommit::CartNotFound => Attempt::Answer(Err(ApiError::CartNotFound)),
                CartCommit::StockShort => Attempt::Again,
            },
        )
    })
    .await
}

/// What a refused add (or new quantity: `quantity` more units) answers.
pub fn refused(refusal: AddRefusal, item: &Item, quantity: u64) -> ApiError {
    match refusal {
        AddRefusal::CartFull => ApiError::CartFull {
            limit: MAX_CART_LINES,
        },
        AddRefusal::InsufficientStock { in_cart, available } => {
            ApiError::InsufficientStock(vec![Shortfall {
                item_id: item.id,
                requested: in_cart + quantity,
                available,
                hold_expired: false,
            }])
        }
        AddRefusal::HoldLimit { limit } => ApiError::HoldLimit { limit },
        AddRefusal::HeldAtAnotherPrice { held, now } => ApiError::HeldAtAnotherPrice {
            item_id: item.id,
            held: held.get(),
            now: now.get(),
        },
    }
}
