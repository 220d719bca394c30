//! The two requests every keyed or multi-item write is made of: ONE strongly consistent
//! `BatchGetItem` of what the write reads, with the key's record ([`Store::batch_read`]), and ONE
//! `TransactWriteItems` of the write's actions, with the key's record ([`Store::transact`]), all
//! or nothing. What a key is and where its record lives: `app::keys`; the record's item shape:
//! `store::keys`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem};

use super::keys::{key_receipt, NewRecord};
use super::{built, pause, Raw, RequestToken, Store, StoreError};
use crate::domain::Receipt;

/// Attempts of one transaction when DynamoDB reports a conflict with another transaction.
const TRANSACTION_ATTEMPTS: u32 = 4;
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
    /// nothing. A conflict with another transaction is retried with jittered backoff and the
    /// same client request token, `token` (so a retry never applies twice), then reported as
    /// unavailable. `None` when it committed.
    pub(crate) async fn transact(
        &self,
        mut actions: Vec<TransactWriteItem>,
        record: Option<&NewRecord<'_>>,
        token: &RequestToken,
    ) -> Result<Option<Cancelled>, StoreError> {
        let with_record = record.is_some();
        if let Some(record) = record {
            actions.push(
                TransactWriteItem::builder()
                    .put(self.put_record(record)?)
                    .build(),
            );
        }
        for attempt in 0..TRANSACTION_ATTEMPTS {
            pause(attempt).await;
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .client_request_token(&token.0)
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
                tracing::warn!(attempt, reasons = ?codes, "transaction conflicted");
                if attempt + 1 == TRANSACTION_ATTEMPTS {
                    return Err(StoreError::Unavailable(Box::new(err)));
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
        unreachable!("the loop returns on its last attempt")
    }
}
