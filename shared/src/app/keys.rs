//! Idempotency keys: how a key binds, where its record lives and for how long, and the loop
//! every keyed write runs in. Open this first to learn how a key works.
//!
//! - **Whose.** A key belongs to its caller: a user (cart and purchase routes) or an admin
//!   principal (the catalog admin routes, by IAM user ARN or caller id). The same key from two
//!   callers is two keys (`domain::KeyScope::record_key`: `user#{user}#{key}`,
//!   `admin#{principal}#{key}`).
//! - **What it binds.** The request as the client sent it: its operation and every parameter
//!   that decides its effect (`domain::Fingerprint`; a purchase's: the cart and the `If-Match`
//!   version, or `*`). The same key with another request is `422 idempotency_key_reused`.
//! - **Where its record lives.** A user's key has ONE item, in the orders table, under the id
//!   of the order it would buy (`OrderId::of_key`, a v8 UUID of the SHA-256 of the record key):
//!   the order itself when the key bought something, or else the record of the cart write it
//!   made. So one key binds one request across purchases and cart writes: both puts are
//!   conditioned on that item being unused (or an expired record), and one of two racing writes
//!   is always refused. An admin's key has its record in the idempotency table, under its record
//!   key. (`store::keys` has the item shape and `Store::record_home`.)
//! - **For how long.** A record lives `KEY_LIFETIME_SECS` (24 hours; DynamoDB's TTL deletes it
//!   some time later, but every read and condition treats an expired record as absent). An order
//!   never expires, so a purchase key stays bound to its order for as long as the order exists.
//! - **What a repeat gets.** The first answer, byte for byte, with `Idempotent-Replayed: true`
//!   and the same `ETag` (a purchase's body is rebuilt from its order by the function that made
//!   it, `domain::purchase::bought`).
//! - **Exactly once.** A keyed write reads what it changes with the key's record in one strongly
//!   consistent `BatchGetItem` (`Store::batch_read`), computes the new state with the domain's
//!   rule, and writes it conditioned on the version it read, with the key's record, in one
//!   `TransactWriteItems` (`Store::transact`): neither exists without the other. A rejection
//!   (a `4xx`) writes nothing and binds nothing. Concurrent sends of one key make one change:
//!   the losers find the winner's record (in the read, or returned by the cancelled transaction)
//!   and answer it. What changed between the read and the write is read again ([`exactly_once`]).

use std::future::Future;
use std::time::{Duration, Instant};

use super::Reply;
use crate::domain::{Fingerprint, Receipt};
use crate::store::NewRecord;
use crate::ApiError;

/// How long a write keeps reading again what it changes, when that keeps changing between the
/// read and the write (each try after a short jittered pause: every such conflict means another
/// write went through, so trying again soon wastes little), before answering
/// `409 request_in_progress`: well inside the request's deadline, so that contention is
/// answered as contention (retry), never as a timeout.
const TRYING: Duration = Duration::from_secs(6);

/// What one attempt of a keyed write came to.
pub enum Attempt {
    /// Written (with the key's record, when there is a key): this is the answer.
    Done(Reply),
    /// The key already answered (before the read, or meanwhile): answer that again.
    Replay(Receipt),
    /// What was read changed before the write: read again.
    Again,
}

/// Runs `attempt` until it answers (a refusal is its `Err`), replaying a taken key; after
/// [`TRYING`] of changes in a row, `409 request_in_progress` (retry: nothing was written, and
/// the key still binds nothing).
pub async fn exactly_once<F, Fut>(request: &Fingerprint, mut attempt: F) -> Result<Reply, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt, ApiError>>,
{
    let started = Instant::now();
    for round in 0.. {
        if round > 0 && started.elapsed() >= TRYING {
            break;
        }
        if round > 0 {
            let ceiling = (5u64 << round.min(5)).min(100);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling))).await;
        }
        match attempt().await? {
            Attempt::Done(reply) => return Ok(reply),
            Attempt::Replay(receipt) => return replay(receipt, request),
            Attempt::Again => {}
        }
    }
    Err(ApiError::RequestInProgress)
}

/// The first answer again; or `422` when the key is bound to another request.
pub fn replay(receipt: Receipt, request: &Fingerprint) -> Result<Reply, ApiError> {
    if !receipt.answers(request) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Reply::replay(receipt))
}

/// The record of the key `pk` (`KeyScope::record_key`), bound to `request`, answering `reply`:
/// written with the change, in its transaction.
pub fn record<'a>(
    pk: &'a str,
    request: &'a Fingerprint,
    reply: &'a Reply,
    now: i64,
) -> NewRecord<'a> {
    NewRecord {
        pk,
        request,
        status: reply.status,
        body: &reply.body,
        version: reply.version,
        now,
    }
}
