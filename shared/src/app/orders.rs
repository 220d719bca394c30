//! The loop of an order's transitions (cancel, pay, payment failed, fulfil, expire): read the
//! order (with the key's record when there is a key), decide with `domain::lifecycle::decide`,
//! and write the transition conditioned on the status and version read (with the units back in
//! the stock, in one transaction, when it cancels or expires); again if the order moved on
//! meanwhile. A transition that already happened answers the order unchanged and writes nothing.

use serde_json::json;

use super::keys::{exactly_once, record, Attempt};
use super::{AppState, Reply};
use crate::domain::lifecycle::{as_of, decide, Change, Decision, Refusal};
use crate::domain::{now_unix, Fingerprint, IdempotencyKey, KeyScope, Order, OrderId, UserId};
use crate::store::{OrderCommit, Store, StoreError};
use crate::ApiError;

/// Who asks for a transition.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// The order's owner (someone else's order is `404`, as one that does not exist).
    Owner(&'a UserId),
    /// An admin principal, or the shop's payment service calling the admin routes.
    Admin(&'a str),
    /// A payment provider's signed webhook: no key (its events carry their own identity, and a
    /// transition that already happened answers unchanged).
    Webhook,
}

/// `{"order": ...}` as it stands at `now`, with its version for the `ETag`.
pub fn order_reply(order: &Order, now: i64) -> Reply {
    let body = json!({ "order": as_of(order, now) }).to_string();
    Reply::new(200, body, Some(order.version))
}

/// Applies `change` to the order `id` for `actor`; `seen` is the version `If-Match` named.
pub async fn transition(
    state: &AppState,
    actor: Actor<'_>,
    id: OrderId,
    change: &Change,
    seen: Option<u64>,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
    let request = &Fingerprint::of("order", &[&id, &change.fingerprint(), &seen_text]);
    let pk = key.and_then(|key| match actor {
        Actor::Owner(user) => Some(KeyScope::User(user).record_key(key)),
        Actor::Admin(principal) => Some(KeyScope::Admin(principal).record_key(key)),
        Actor::Webhook => None,
    });
    let pk = pk.as_deref();
    exactly_once(request, || async move {
        let now = now_unix();
        let (receipt, order) = store.read_order(id, pk, now).await?;
        if let Some(receipt) = receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let order = order.ok_or(ApiError::OrderNotFound)?;
        if let Actor::Owner(user) = actor {
            if order.user_id != *user {
                return Err(ApiError::OrderNotFound);
            }
        }
        if seen.is_some_and(|version| version != order.version) {
            return Err(ApiError::PreconditionFailed {
                member: "order",
                current: json!(as_of(&order, now)),
            });
        }
        let (after, returns_stock) = match decide(&order, change, now).map_err(refused)? {
            Decision::Already => return Ok(Attempt::Done(order_reply(&order, now))),
            Decision::Write {
                after,
                returns_stock,
            } => (after, returns_stock),
        };
        let reply = order_reply(&after, now);
        let record = pk.map(|pk| record(pk, request, &reply, now));
        let commit = store.commit_order(&order, &after, returns_stock, record.as_ref(), now);
        Ok(match commit.await? {
            OrderCommit::Done => Attempt::Done(reply),
            OrderCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
            OrderCommit::Changed => Attempt::Again,
        })
    })
    .await
}

/// The sweep's part: expires the order `id` if nobody paid it by now, its units back into the
/// stock. The units given back (0 when it was paid, cancelled or changed meanwhile: a change
/// wins, and the next sweep sees the order again if it is still due).
pub async fn expire(store: &Store, id: OrderId, now: i64) -> Result<u64, StoreError> {
    let Some(order) = store.get_order(id).await? else {
        return Ok(0);
    };
    match decide(&order, &Change::Expire, now) {
        Ok(Decision::Write {
            after,
            returns_stock,
        }) => Ok(
            match store
                .commit_order(&order, &after, returns_stock, None, now)
                .await?
            {
                OrderCommit::Done => order.lines.iter().map(|l| l.quantity).sum(),
                _ => 0,
            },
        ),
        _ => Ok(0),
    }
}

/// What a refused transition answers.
fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotCancellable(status) => ApiError::OrderNotCancellable { status },
        Refusal::Expired => ApiError::OrderExpired,
        Refusal::NotPayable { status, refund_due } => {
            ApiError::OrderNotPayable { status, refund_due }
        }
        Refusal::NotFulfillable(status) => ApiError::OrderNotFulfillable { status },
    }
}
