//! The cart writes: add, set a quantity, remove. Each computes the cart's next state with a rule
//! of `domain::cart` from the cart as it is now, and writes it conditioned on the version it
//! read; what the lines hold (`hold` policy) moves between the items' stock and the cart in the
//! same step, and the key's record with it when there is a key.
//!
//! Under `latest` without a key, add and remove take a shorter way: one conditional update of
//! the cart whose condition is the rule (an atomic increment or removal; exactly once even when
//! the SDK resends it: `store::LAST_REQUEST`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::keys::{exactly_once, record, Attempt};
use super::{AppState, Reply};
use crate::domain::merge::MergeMode;
use crate::domain::{
    now_unix, AddRefusal, Cart, CartId, CheckoutPolicy, Fingerprint, GuestToken, IdempotencyKey,
    Item, ItemId, KeyScope, LimitReached, Quantity, Shortfall, UserId, MAX_CART_LINES,
};
use crate::store::{AddLine, CartChange, CartCommit};
use crate::ApiError;

/// `{"cart": ...}`, with the cart's version for its `ETag`.
pub fn cart_reply(status: u16, cart: &Cart) -> Reply {
    Reply::new(status, cart_body(cart), Some(cart.version))
}

fn cart_body(cart: &Cart) -> String {
    json!({ "cart": cart }).to_string()
}

/// Adds `quantity` units of `item_id` to the cart (its owner's call): checked against the item's
/// available stock of this moment and its limit per customer; under `hold`, taken from the
/// stock and held.
pub async fn add(
    state: &AppState,
    cart_id: &CartId,
    item_id: ItemId,
    quantity: Quantity,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let (store, policy) = (&state.store, state.config.checkout_for(cart_id.owner()));
    let more = u64::from(quantity.get());
    let fast = key.is_none() && policy == CheckoutPolicy::Latest;
    let item = match fast {
        true => Some(
            store
                .get_item(item_id)
                .await?
                .ok_or(ApiError::ItemNotFound(item_id))?,
        ),
        false => None,
    };
    // An item with a per-customer limit takes the longer way: its rule needs the cart's
    // history (one request more).
    if let Some(item) = item.filter(|item| item.max_per_customer.is_none()) {
        return match store
            .add_cart_line(cart_id, &item, quantity, now_unix())
            .await?
        {
            AddLine::Added(cart) => Ok(cart_reply(200, &cart)),
            AddLine::CartNotFound => Err(ApiError::CartNotFound),
            AddLine::CartFull => Err(refused(AddRefusal::CartFull, &item, more)),
            AddLine::InsufficientStock { in_cart } => {
                let available = item.stock.get();
                let why = AddRefusal::InsufficientStock { in_cart, available };
                Err(refused(why, &item, more))
            }
        };
    }
    let request = Fingerprint::of("add", &[cart_id, &item_id, &quantity.get()]);
    change(
        state,
        cart_id,
        Some(item_id),
        key,
        &request,
        |cart, item, now| {
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            let added = cart.with_added(item, quantity, policy, now);
            added.map_err(|refusal| refused(refusal, item, more))
        },
    )
    .await
}

/// Sets the line of `item_id` to `quantity` units (`0` removes it), with an add's checks.
pub async fn set(
    state: &AppState,
    cart_id: &CartId,
    item_id: ItemId,
    quantity: u64,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let policy = state.config.checkout_for(cart_id.owner());
    let request = Fingerprint::of("set", &[cart_id, &item_id, &quantity]);
    change(
        state,
        cart_id,
        Some(item_id),
        key,
        &request,
        |cart, item, now| {
            if quantity == 0 {
                return cart
                    .without(item_id)
                    .ok_or(ApiError::ItemNotInCart(item_id));
            }
            let in_cart = cart.line(item_id).map_or(0, |l| l.quantity);
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            let set = cart.with_quantity(item, quantity, policy, now);
            set.map_err(|refusal| refused(refusal, item, quantity.saturating_sub(in_cart)))
        },
    )
    .await
}

/// Removes the line of `item_id` (what it held goes back to the item's available stock at once).
pub async fn remove(
    state: &AppState,
    cart_id: &CartId,
    item_id: ItemId,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    if key.is_none() && state.config.checkout == CheckoutPolicy::Latest {
        match state
            .store
            .remove_cart_line(cart_id, item_id, now_unix())
            .await?
        {
            CartChange::Changed(cart) => return Ok(cart_reply(200, &cart)),
            CartChange::CartNotFound => return Err(ApiError::CartNotFound),
            CartChange::LineNotFound => return Err(ApiError::ItemNotInCart(item_id)),
            // Units held from before a switch to `latest`: given back below.
            CartChange::LineHeld => {}
        }
    }
    let request = Fingerprint::of("remove", &[cart_id, &item_id]);
    change(state, cart_id, None, key, &request, |cart, _, _| {
        cart.without(item_id)
            .ok_or(ApiError::ItemNotInCart(item_id))
    })
    .await
}

/// Changes the cart `cart_id` as `rule` computes it from the cart and the `item` (when one is
/// named) as they are now: one `BatchGetItem` of the cart, the item and the key's record, then
/// one conditional write (a transaction when stock moves or there is a key). The answer is the
/// cart it made (or the key's first answer). A key is its owner's: the caller's cart is checked
/// to be theirs before this runs.
///
/// The batch reads each item at its own instant, so a refusal that depends on the item (its
/// stock, its price) is answered only when a second read finds the same cart version: the cart
/// did not change across the first read, whose item was then read with the cart as it is.
/// A refusal costs one read more; an accepted change, none.
async fn change<F>(
    state: &AppState,
    cart_id: &CartId,
    item: Option<ItemId>,
    key: Option<&IdempotencyKey>,
    request: &Fingerprint,
    rule: F,
) -> Result<Reply, ApiError>
where
    F: Fn(&Cart, Option<&Item>, i64) -> Result<Cart, ApiError>,
{
    let pk = key.map(|key| KeyScope::User(cart_id.owner()).record_key(key));
    let (pk, rule, store) = (pk.as_deref(), &rule, &state.store);
    // The cart version of the last refusal read (none yet: no version is `u64::MAX`).
    let refused_at = &AtomicU64::new(u64::MAX);
    exactly_once(request, || async move {
        let now = now_unix();
        let read = store.read_cart(cart_id, pk, item, now).await?;
        if let Some(receipt) = read.receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let cart = read.cart.ok_or(ApiError::CartNotFound)?;
        let after = match rule(&cart, read.item.as_ref(), now) {
            Ok(after) => after,
            Err(ApiError::InsufficientStock(_) | ApiError::HeldAtAnotherPrice { .. })
                if refused_at.swap(cart.version, Ordering::Relaxed) != cart.version =>
            {
                return Ok(Attempt::Again);
            }
            Err(refusal) => return Err(refusal),
        };
        let reply = cart_reply(200, &after);
        let record = pk.map(|pk| record(pk, request, &reply, now));
        Ok(
            match store
                .commit_cart(&cart, &after, record.as_ref(), now)
                .await?
            {
                CartCommit::Done => Attempt::Done(reply),
                CartCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
                CartCommit::CartChanged | CartCommit::StockShort => Attempt::Again,
                CartCommit::CartNotFound => return Err(ApiError::CartNotFound),
            },
        )
    })
    .await
}

/// What a refused add (or new quantity: `quantity` more units) answers.
fn refused(refusal: AddRefusal, item: &Item, quantity: u64) -> ApiError {
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
        AddRefusal::CustomerLimit {
            limit,
            bought,
            requested,
        } => ApiError::CustomerLimit(vec![LimitReached {
            item_id: item.id,
            limit,
            bought,
            requested,
        }]),
        AddRefusal::HoldTimeUsed { ended, again } => ApiError::HoldTimeLimit {
            item_id: item.id,
            ended,
            again,
        },
    }
}

/// What a guest's cart creation answers: `{"cart": ..., "guest_token": ...}` (`201`). The
/// token is shown this once: only its hash is kept, as the guest's id.
pub async fn create_guest_cart(state: &AppState) -> Result<Reply, ApiError> {
    let token = GuestToken::generate();
    let (cart, _) = state
        .store
        .create_or_get_cart(&token.guest(), now_unix())
        .await?;
    let body = json!({ "cart": cart, "guest_token": token.as_str() }).to_string();
    Ok(Reply::new(201, body, Some(cart.version)))
}

/// Meets the guest's cart `guest` with `user`'s at sign-in, in `mode` (`domain::merge`): one
/// `BatchGetItem` (both carts, the key's record), then one transaction (the guest's cart gone,
/// the user's written, what does not fit back in the stock, the key's record); again if either
/// cart changed meanwhile. A user without a cart gets one first (one request more). The answer
/// is the user's cart and every line that changed, with why.
pub async fn merge(
    state: &AppState,
    user: &UserId,
    guest: &CartId,
    mode: MergeMode,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let policy = state.config.checkout_for(user);
    let request = &Fingerprint::of("merge", &[guest, &mode.as_str()]);
    let pk = key.map(|key| KeyScope::User(user).record_key(key));
    let pk = pk.as_deref();
    exactly_once(request, || async move {
        let now = now_unix();
        let read = store.read_merge(user, guest, pk, now).await?;
        if let Some(receipt) = read.receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let guest = read.guest.ok_or(ApiError::CartNotFound)?;
        let Some(mine) = read.user else {
            store.create_or_get_cart(user, now).await?;
            return Ok(Attempt::Again);
        };
        let merged = crate::domain::merge::merge(&mine, &guest, mode, policy, now);
        let body = json!({ "cart": merged.cart, "merge": merged.changes }).to_string();
        let reply = Reply::new(200, body, Some(merged.cart.version));
        let record = pk.map(|pk| record(pk, request, &reply, now));
        Ok(
            match store
                .commit_merge(
                    &mine,
                    &merged.cart,
                    &guest,
                    &merged.released,
                    record.as_ref(),
                    now,
                )
                .await?
            {
                CartCommit::Done => Attempt::Done(reply),
                CartCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
                CartCommit::CartChanged | CartCommit::StockShort => Attempt::Again,
                CartCommit::CartNotFound => Attempt::Again,
            },
        )
    })
    .await
}
