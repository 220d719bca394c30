//! The two requests every keyed or multi-item write is made of: ONE strongly consistent
//! `BatchGetItem` of what the write reads, with the key's record ([`Store::batch_read`]), and ONE
//! `TransactWriteItems` of the write's actions, with the key's record ([`Store::transact`]), all
//! or nothing. What a key is and where its record lives: `app::keys`; the record's item shape:
//! `store::keys`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem};

use super::keys::{key_receipt, NewRecord};
use super::{built, pause, Raw, RequestToken, Store, StoreError};
use crate::domain::Receipt;

/// How long one transaction keeps being tried while DynamoDB cancels it for a conflict with
/// another transaction (or throttles it): the buyers of a flash sale wait their turn on a hot
/// row, each try after a jittered pause ([`conflict_pause`]); then it is reported unavailable
/// (`503` with `Retry-After`), well inside the request's deadline.
const CONFLICT_PATIENCE: Duration = Duration::from_secs(4);
/// Reads of a batch before `BatchGetItem` is declared unavailable.
const READ_ATTEMPTS: u32 = 5;
/// Cancellation reasons that mean "try again" rather than "no".
const TRANSIENT_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// A transaction's outcome when it was cancelled: for each action (in order), `Some(the item as
/// its condition saw it)` when its condition failed; and the receipt of whoever holds the key,
/// when the key's record was the one refused.
#[derive(Debug, Default)]
pub(crate) struct Cancelled {
    pub failed: Vec<Option<Option<Raw>>>,
    pub taken_by: Option<Receipt>,
}

impl Cancelled {
    /// The item action `i` saw, when its condition failed.
    pub fn failed_at(&self, i: usize) -> Option<Option<&Raw>> {
        self.failed.get(i)?.as_ref().map(Option::as_ref)
    }
}

impl Store {
    /// The key's live receipt (if a key is given) and `items` (table, key), in ONE strongly
    /// consistent `BatchGetItem`; items come back in the order asked, `None` where absent.
    pub(crate) async fn batch_read(
        &self,
        record: Option<&str>,
        items: Vec<(String, Raw)>,
        now: i64,
    ) -> Result<(Option<Receipt>, Vec<Option<Raw>>), StoreError> {
        let mut wanted: Vec<(String, Raw)> = items;
        if let Some(pk) = record {
            let home = self.record_home(pk);
            wanted.push((home.table, home.key));
        }
        let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
        for (table, key) in &wanted {
            let keys = request.remove(table).map_or_else(Vec::new, |k| k.keys);
            let keys = [keys, vec![key.clone()]].concat();
            let batch = KeysAndAttributes::builder().set_keys(Some(keys));
            request.insert(table.clone(), built(batch.consistent_read(true).build())?);
        }
        let mut found: Vec<(String, Raw)> = Vec::new();
        for attempt in 0..READ_ATTEMPTS {
            pause(attempt).await;
            let out = self
                .client()
                .batch_get_item()
                .set_request_items(Some(request))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            self.metrics().reads(out.consumed_capacity());
            for (table, items) in out.responses().cloned().unwrap_or_default() {
                found.extend(items.into_iter().map(|item| (table.clone(), item)));
            }
            request = out.unprocessed_keys().cloned().unwrap_or_default();
            if request.is_empty() {
                let mut items: Vec<Option<Raw>> = wanted
                    .iter()
                    .map(|(table, key)| {
                        let matches = |(t, item): &&(String, Raw)| {
                            t == table && key.iter().all(|(k, v)| item.get(k) == Some(v))
                        };
                        found.iter().find(matches).map(|(_, item)| item.clone())
                    })
                    .collect();
                let receipt = match record {
                    Some(_) => key_receipt(items.pop().flatten().as_ref(), now)?,
                    None => None,
                };
                return Ok((receipt, items));
            }
        }
        Err(StoreError::Unavailable(
            "a batch read stayed unprocessed".into(),
        ))
    }

    /// ONE `TransactWriteItems`: `actions`, then the key's record if there is one, all or
    /// nothing. A conflict with another transaction (or throttling) is retried with jittered
    /// backoff and the same client request token, `token` (so a retry never applies twice), for
    /// up to [`CONFLICT_PATIENCE`], then reported as unavailable. `None` when it committed.
    pub(crate) async fn transact(
        &self,
        actions: Vec<TransactWriteItem>,
        record: Option<&NewRecord<'_>>,
        token: &RequestToken,
    ) -> Result<Option<Cancelled>, StoreError> {
        self.transact_repicking(actions, record, token, None).await
    }

    /// [`Store::transact`], where an action that met a conflict may be replaced for the next try
    /// by `repick` (given its position; `None`: keep it): a take from one shard of a split item
    /// moves to another shard rather than wait for this one. Changed actions are another
    /// request, so the next try has a client request token of its own: a cancelled transaction
    /// applied nothing, and what makes the write happen once is its own condition (the order's,
    /// the cart's version).
    pub(crate) async fn transact_repicking(
        &self,
        mut actions: Vec<TransactWriteItem>,
        record: Option<&NewRecord<'_>>,
        token: &RequestToken,
        repick: Option<&Repick<'_>>,
    ) -> Result<Option<Cancelled>, StoreError> {
        let with_record = record.is_some();
        if let Some(record) = record {
            actions.push(
                TransactWriteItem::builder()
                    .put(self.put_record(record)?)
                    .build(),
            );
        }
        let started = Instant::now();
        let mut request_token = token.0.clone();
        for attempt in 0.. {
            if attempt > 0 {
                tokio::time::sleep(conflict_pause(attempt)).await;
            }
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .client_request_token(&request_token)
                // Per table and per index: DynamoDB bills a transaction's index writes at the
                // plain rate, its table writes at twice it, and the figures tell which is which.
                .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                .send()
                .await;
            let err = match result {
                Ok(out) => {
                    self.metrics().writes(out.consumed_capacity());
                    return Ok(None);
                }
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    e.cancellation_reasons().to_vec()
                }
                _ => return Err(StoreError::from_sdk(err)),
            };
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            if codes.iter().any(|c| TRANSIENT_REASONS.contains(c)) {
                tracing::debug!(attempt, reasons = ?codes, "transaction conflicted");
                if started.elapsed() >= CONFLICT_PATIENCE {
                    tracing::warn!(attempt, reasons = ?codes, "transaction kept conflicting");
                    return Err(StoreError::Unavailable(Box::new(err)));
                }
                let mut changed = false;
                let conflicted =
                    (codes.iter().enumerate()).filter(|(_, c)| TRANSIENT_REASONS.contains(c));
                for (i, _) in conflicted {
                    if let Some(action) = repick.and_then(|repick| repick(i)) {
                        actions[i] = action?;
                        changed = true;
                    }
                }
                if changed {
                    request_token = RequestToken::new().0;
                }
                continue;
            }
            let mut failed: Vec<Option<Option<Raw>>> = reasons
                .iter()
                .map(|r| (r.code() == Some("ConditionalCheckFailed")).then(|| r.item().cloned()))
                .collect();
            let mut taken_by = None;
            if with_record {
                if let Some(Some(old)) = failed.pop() {
                    // Whatever its age: it was live when the condition refused it.
                    taken_by = key_receipt(old.as_ref(), i64::MIN)?;
                }
            }
            return Ok(Some(Cancelled { failed, taken_by }));
        }
        unreachable!("the loop only ends by returning")
    }
}

/// A replacement for the action at a position that met a conflict (see
/// [`Store::transact_repicking`]).
pub(crate) type Repick<'a> =
    dyn Fn(usize) -> Option<Result<TransactWriteItem, StoreError>> + Send + Sync + 'a;

/// Before try `attempt` (1, 2, ...) of a transaction that met a conflict: a jittered pause
/// between half and all of 10 ms, 20 ms, 40 ms, 80 ms, then 160 ms: about the time a
/// transaction holds its items, so a hot row is tried again soon after it is free.
fn conflict_pause(attempt: u32) -> Duration {
    let ceiling = 10u64 << (attempt.saturating_sub(1)).min(4);
    Duration::from_millis(ceiling / 2 + fastrand::u64(0..=ceiling / 2))
}
