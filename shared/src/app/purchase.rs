//! The purchase loop: buys everything in the cart at the latest stock and price (under `hold`,
//! a line within its hold at the held price), exactly once per idempotency key, and only at the
//! version of the cart the client saw when it says which (`If-Match`).
//!
//! Two DynamoDB requests on the happy path, whatever the cart's size: one `BatchGetItem` (the
//! key's order and the cart), one `TransactWriteItems` (stock decrements conditioned on stock
//! and price, the order, the emptied cart). A line of an item split over shards takes from one
//! shard; only when that shard is short are the item's rows read (one `BatchGetItem` more) and
//! the units taken from rows that have them (`domain::purchase::replan`). The order is named by the key and is its record
//! (`app::keys`). A replay is one request. The rule each step follows is
//! `domain::purchase` (`first_look`, `order_for`, `verdict`).

use serde_json::json;

use super::keys::{exactly_once, Attempt};
use super::{AppState, Reply};
use crate::domain::purchase::{
    bought, code_verdict, first_look, first_takes, order_for, replan, verdict, CodeVerdict,
    FirstLook, Verdict,
};
use crate::domain::{
    now_unix, rfc3339, Cart, CartId, Fingerprint, IdempotencyKey, ItemId, KeyScope, OrderId, UserId,
};
use crate::store::{CartCommit, PurchasePlan};
use crate::ApiError;

/// Buys `user`'s cart `cart_id` with `key`; `seen` is the version `If-Match` named, if any. The
/// key is resolved before the cart's owner is checked: a used key answers (or is `422`) for
/// whatever cart it is sent with.
pub async fn purchase(
    state: &AppState,
    cart_id: &CartId,
    user: &UserId,
    key: &IdempotencyKey,
    seen: Option<u64>,
) -> Result<Reply, ApiError> {
    // The key binds the request as sent: this cart, at this version or at any.
    let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
    let request = &Fingerprint::of("purchase", &[cart_id, &seen_text]);
    let store = &state.store;
    let pk = KeyScope::User(user).record_key(key);
    let (pk, order_id) = (pk.as_str(), OrderId::of_key(&pk));
    exactly_once(request, || async move {
        let now = now_unix();
        let snapshot = store.load_purchase(user, pk, now).await?;
        let cart = match first_look(snapshot.receipt, snapshot.cart, cart_id, user, seen) {
            FirstLook::Replay(receipt) => return Ok(Attempt::Replay(receipt)),
            FirstLook::CartNotFound => return Err(ApiError::CartNotFound),
            FirstLook::Stale(cart) => return Err(stale(&cart)),
            FirstLook::CartEmpty => {
                return match store.key_receipt(pk, now).await? {
                    Some(receipt) => Ok(Attempt::Replay(receipt)),
                    None => Err(ApiError::CartEmpty),
                }
            }
            FirstLook::Buy(cart) => cart,
        };
        // The cart's code, by the terms it keeps (its uses are the transaction's conditions).
        if let Some(code) = &cart.discount {
            code.check_terms(cart.subtotal(), now)
                .map_err(ApiError::DiscountNotApplicable)?;
        }
        let due_by = state.config.payment.due_by(now);
        // Created at the second its conditions (a code's window) are checked at.
        let order = order_for(&cart, order_id, rfc3339(now), due_by);
        let rng = &mut fastrand::Rng::new();
        let short = |item, shards, needs| store.shards_seen_short(item, shards, needs);
        let mut takes = first_takes(&cart, now, short, rng);
        // A take from a shard that ran short reads its item's rows and takes from those that
        // have the units; a few times, as the sale goes on meanwhile, then from the start.
        for _ in 0..REPLANS {
            let plan = PurchasePlan {
                cart: &cart,
                order: &order,
                request,
                now,
                takes: &takes,
            };
            let Some(rejection) = store.commit_purchase(&plan).await? else {
                return Ok(Attempt::Done(Reply::new(200, bought(&order), None)));
            };
            let lines = match verdict(rejection) {
                Verdict::ReadStock(lines) => lines,
                other => return answer(state, &cart, other, now).await,
            };
            let split: Vec<(ItemId, u32)> = (lines.iter().filter(|l| l.partial))
                .map(|l| (l.item_id, cart.line(l.item_id).map_or(1, |l| l.shards)))
                .collect();
            let rows = store.read_rows(&split).await?;
            let stock = rows
                .into_iter()
                .map(|(id, rows)| (id, rows.stock))
                .collect();
            match replan(&lines, &stock, rng) {
                Ok(planned) => takes.extend(planned),
                Err(short) => return Err(ApiError::InsufficientStock(short)),
            }
        }
        Ok(Attempt::Again)
    })
    .await
}

/// How many times one attempt of a purchase plans its takes again after a short shard.
const REPLANS: usize = 4;

/// What a cancelled purchase's verdict (but a short shard's) answers.
async fn answer(
    state: &AppState,
    cart: &Cart,
    verdict: Verdict,
    now: i64,
) -> Result<Attempt, ApiError> {
    let store = &state.store;
    {
        match verdict {
            Verdict::Replay(receipt) => Ok(Attempt::Replay(receipt)),
            Verdict::ReadCartAgain => Ok(Attempt::Again),
            // Tell the user, and let the cart hold the prices they were told. If the cart
            // changed meanwhile, what it holds now decides the answer.
            Verdict::Reprice(changed) => {
                match store
                    .commit_cart(cart, &cart.repriced(&changed), None, now)
                    .await?
                {
                    CartCommit::Done => Err(ApiError::PriceChanged(changed)),
                    _ => Ok(Attempt::Again),
                }
            }
            Verdict::CustomerLimit(reached) => Err(ApiError::CustomerLimit(reached)),
            // The cart learns the limit; the purchase then reads it again and tries under it.
            Verdict::Relimit(limits) => {
                let after = cart.relimited(&limits);
                store.commit_cart(cart, &after, None, now).await?;
                Ok(Attempt::Again)
            }
            Verdict::InsufficientStock(short) => Err(ApiError::InsufficientStock(short)),
            Verdict::Code(rejection) => match code_verdict(cart, &rejection, now) {
                CodeVerdict::Refuse(why) => Err(ApiError::DiscountNotApplicable(why)),
                // The cart takes the code's new terms; a change it did not see is told.
                CodeVerdict::Renew(terms, why) => {
                    let after = cart.with_discount(Some(terms));
                    match store.commit_cart(cart, &after, None, now).await? {
                        CartCommit::Done => match why {
                            Some(why) => Err(ApiError::DiscountNotApplicable(why)),
                            None => Ok(Attempt::Again),
                        },
                        _ => Ok(Attempt::Again),
                    }
                }
            },
            Verdict::ReadStock(_) | Verdict::Unexplained => Err(ApiError::Internal(
                "the purchase transaction was cancelled for no known reason".into(),
            )),
        }
    }
}

/// `412`: the cart is not the version the client saw; here it is now.
fn stale(cart: &Cart) -> ApiError {
    ApiError::PreconditionFailed {
        member: "cart",
        current: json!(cart),
    }
}
