//! Discount codes: the admin's writes (create, change; keyed like the item writes, in the loop of
//! `app::keys`) and read, and a cart's code (put on, taken off). What a code gives and when it
//! does not apply is `domain::discount`; the purchase applies it (`app::purchase`).

use serde_json::json;

use super::carts::cart_reply;
use super::keys::{exactly_once, record, Attempt};
use super::{AppState, Reply};
use crate::domain::{
    now_unix, CartId, Discount, DiscountChange, DiscountCode, Fingerprint, IdempotencyKey, KeyScope,
};
use crate::store::{CartCommit, DiscountCommit};
use crate::ApiError;

/// `{"discount": ...}` as the admin sees it, with its version for the `ETag`.
fn discount_reply(status: u16, discount: &Discount) -> Reply {
    let body = json!({ "discount": discount.admin_view() }).to_string();
    Reply::new(status, body, Some(discount.version))
}

/// Creates the code `new` (`201`); `409 discount_exists` when the code is taken.
pub async fn create(
    state: &AppState,
    principal: &str,
    new: &Discount,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let request = &Fingerprint::of("create-discount", &[&format!("{new:?}")]);
    let pk = key.map(|key| KeyScope::Admin(principal).record_key(key));
    let pk = pk.as_deref();
    exactly_once(request, || async move {
        let now = now_unix();
        if let Some(pk) = pk {
            // The key's record alone: whether the code exists is the put's condition.
            if let Some(receipt) = store.key_receipt(pk, now).await? {
                return Ok(Attempt::Replay(receipt));
            }
        }
        let reply = discount_reply(201, new);
        let record = pk.map(|pk| record(pk, request, &reply, now));
        Ok(
            match store.commit_discount(None, new, record.as_ref()).await? {
                DiscountCommit::Done => Attempt::Done(reply),
                DiscountCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
                DiscountCommit::Exists | DiscountCommit::Changed => {
                    return Err(ApiError::DiscountExists(new.code.clone()))
                }
            },
        )
    })
    .await
}

/// Changes the code's terms as `change` says (never its uses, which purchases move meanwhile);
/// with `seen` (`If-Match`), only if the code is still at that version.
pub async fn update(
    state: &AppState,
    principal: &str,
    code: &DiscountCode,
    change: &DiscountChange,
    seen: Option<u64>,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
    let request = &Fingerprint::of(
        "update-discount",
        &[code, &format!("{change:?}"), &seen_text],
    );
    let pk = key.map(|key| KeyScope::Admin(principal).record_key(key));
    let pk = pk.as_deref();
    exactly_once(request, || async move {
        let now = now_unix();
        let read = store.read_discount(code, pk, now).await?;
        if let Some(receipt) = read.receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let before = read
            .discount
            .ok_or_else(|| ApiError::DiscountNotFound(code.clone()))?;
        if seen.is_some_and(|version| version != before.version) {
            return Err(ApiError::PreconditionFailed {
                member: "discount",
                current: before.admin_view(),
            });
        }
        let after = before
            .changed(change)
            .ok_or_else(|| ApiError::invalid("ends_at", "must be after starts_at"))?;
        let reply = discount_reply(200, &after);
        let record = pk.map(|pk| record(pk, request, &reply, now));
        Ok(
            match store
                .commit_discount(Some(&before), &after, record.as_ref())
                .await?
            {
                DiscountCommit::Done => Attempt::Done(reply),
                DiscountCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
                DiscountCommit::Exists | DiscountCommit::Changed => Attempt::Again,
            },
        )
    })
    .await
}

/// The code with its uses (one strongly consistent read).
pub async fn get(state: &AppState, code: &DiscountCode) -> Result<Reply, ApiError> {
    let read = state.store.read_discount(code, None, now_unix()).await?;
    let discount = read
        .discount
        .ok_or_else(|| ApiError::DiscountNotFound(code.clone()))?;
    Ok(discount_reply(200, &discount))
}

/// Puts `code` on the cart `cart_id` (its owner's call), checked as it is now against the cart
/// and the customer's uses: one `BatchGetItem` (the cart, the code, the customer's uses), then
/// one conditional update of the cart. The cart keeps the code's terms, which its purchase
/// checks again (`app::purchase`). Putting the code it has on again is the same cart.
pub async fn put_on_cart(
    state: &AppState,
    cart_id: &CartId,
    code: &DiscountCode,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let request = &Fingerprint::of("put-discount", &[cart_id, code]);
    exactly_once(request, || async move {
        let now = now_unix();
        let read = store.read_cart_code(cart_id, code, now).await?;
        let cart = read.cart.ok_or(ApiError::CartNotFound)?;
        let discount = read
            .discount
            .ok_or_else(|| ApiError::DiscountNotFound(code.clone()))?;
        discount
            .check(cart.subtotal(), now, read.customer_uses)
            .map_err(ApiError::DiscountNotApplicable)?;
        if cart.discount.as_deref() == Some(&discount) {
            return Ok(Attempt::Done(cart_reply(200, &cart)));
        }
        let after = cart.with_discount(Some(discount));
        commit(state, &cart, &after, now).await
    })
    .await
}

/// Takes the code off the cart (a cart without one is answered as it is).
pub async fn take_off_cart(state: &AppState, cart_id: &CartId) -> Result<Reply, ApiError> {
    let store = &state.store;
    let request = &Fingerprint::of("remove-discount", &[cart_id]);
    exactly_once(request, || async move {
        let now = now_unix();
        let cart = store
            .get_cart(cart_id, now)
            .await?
            .ok_or(ApiError::CartNotFound)?;
        if cart.discount.is_none() {
            return Ok(Attempt::Done(cart_reply(200, &cart)));
        }
        let after = cart.with_discount(None);
        commit(state, &cart, &after, now).await
    })
    .await
}

async fn commit(
    state: &AppState,
    before: &crate::domain::Cart,
    after: &crate::domain::Cart,
    now: i64,
) -> Result<Attempt, ApiError> {
    Ok(
        match state.store.commit_cart(before, after, None, now).await? {
            CartCommit::Done => Attempt::Done(cart_reply(200, after)),
            CartCommit::CartNotFound => return Err(ApiError::CartNotFound),
            CartCommit::CartChanged | CartCommit::StockShort | CartCommit::KeyTaken(_) => {
                Attempt::Again
            }
        },
    )
}
