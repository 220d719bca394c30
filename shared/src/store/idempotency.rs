//! Keys' records, and the two requests every keyed write is made of: one strongly consistent
//! `BatchGetItem` of the key's record with the items the write reads, and ONE
//! `TransactWriteItems` of the write's actions with the key's record (for a purchase, the order
//! is the record: `store::purchase`), all or nothing.
//!
//! Where a key's record is ([`Store::record_home`]): a user's key has ONE item, in the orders
//! table under the id of the order the key would buy (`OrderId::of_key`): the order itself when
//! the key bought something (`store::orders`), else the record of the cart write it made. So a
//! purchase and a cart write sent with one key contend for one item, and one of them is refused
//! by its condition, whatever the interleaving. An admin principal's key has its record in the
//! idempotency table, keyed by `pk`.
//!
//! Record shape: `pk` (`KeyScope::record_key`: the caller and the key), `request` (the
//! fingerprint the key is bound to), `status` and `body` (the answer, byte for byte), `version`
//! (what its `ETag` named, if anything), `created_at`, and `expires_at` (Unix seconds; DynamoDB's
//! TTL attribute, but every read and condition here treats an expired record as absent, whenever
//! TTL gets to delete it). A record has no `lines` (an order does) and no `user_id` (so it is in
//! no index of the orders table).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};

use super::orders::{is_order, order_key, order_receipt};
use super::{built, n, pause, s, Raw, RequestToken, Store, StoreError};
use crate::domain::idempotency::{order_of_key, Fingerprint, Receipt, KEY_LIFETIME_SECS};

/// The condition of a put of a key's item (`#key`: the table's key attribute): nothing there, or
/// a record that expired before `:now`. An order has no `expires_at`, so it is never replaced.
pub(crate) const UNUSED_OR_EXPIRED: &str = "attribute_not_exists(#key) OR #expires_at < :now";

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

#[derive(Debug, Serialize, Deserialize)]
struct KeyRecord {
    pk: String,
    request: String,
    status: u16,
    body: String,
    #[serde(default)]
    version: Option<u64>,
    created_at: String,
    expires_at: i64,
}

/// A key's record, to be written with the change it answers for.
#[derive(Clone, Debug)]
pub struct NewRecord<'a> {
    /// `KeyScope::record_key`.
    pub pk: &'a str,
    pub request: &'a Fingerprint,
    pub status: u16,
    pub body: &'a str,
    pub version: Option<u64>,
    /// Unix seconds: records that expired before this are free to overwrite.
    pub now: i64,
}

/// The receipt of a key's item: an order answers for as long as it exists; a record while it is
/// live at `now`.
pub(crate) fn key_receipt(raw: Option<&Raw>, now: i64) -> Result<Option<Receipt>, StoreError> {
    match raw {
        Some(raw) if is_order(raw) => order_receipt(Some(raw)),
        _ => live_receipt(raw, now),
    }
}

/// The receipt of a record that is still live at `now`.
fn live_receipt(raw: Option<&Raw>, now: i64) -> Result<Option<Receipt>, StoreError> {
    let Some(raw) = raw else { return Ok(None) };
    let record: KeyRecord = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
    Ok((record.expires_at >= now).then_some(Receipt {
        request: record.request,
        status: record.status,
        body: record.body,
        version: record.version,
    }))
}

/// Where a key's record is: its table, the name of that table's key attribute, and the item's
/// key.
pub(crate) struct RecordHome {
    pub table: String,
    pub key_name: &'static str,
    pub key: Raw,
}

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
    /// Where the record of the key `pk` (`KeyScope::record_key`) is (see the module's head).
    pub(crate) fn record_home(&self, pk: &str) -> RecordHome {
        match order_of_key(pk) {
            Some(order) => RecordHome {
                table: self.tables().orders.clone(),
                key_name: "order_id",
                key: order_key(order),
            },
            None => RecordHome {
                table: self.tables().idempotency.clone(),
                key_name: "pk",
                key: HashMap::from([("pk".to_owned(), s(pk))]),
            },
        }
    }

    /// The key's live receipt (if a key is given) and `items` (table, key), in ONE strongly
    /// consistent `BatchGetItem`; items come back in the order asked, `None` where absent.
    pub(crate) async fn read_with_receipt(
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

    /// The key's record, if the key is unused or its record expired (an order never does).
    fn put_record(&self, record: &NewRecord<'_>) -> Result<Put, StoreError> {
        let home = self.record_home(record.pk);
        let item = KeyRecord {
            pk: record.pk.to_owned(),
            request: record.request.as_str().to_owned(),
            status: record.status,
            body: record.body.to_owned(),
            version: record.version,
            created_at: super::now_rfc3339(),
            expires_at: record.now + KEY_LIFETIME_SECS,
        };
        let mut item: Raw = serde_dynamo::to_item(item).map_err(StoreError::mapping)?;
        item.extend(home.key);
        built(
            Put::builder()
                .table_name(home.table)
                .set_item(Some(item))
                .condition_expression(UNUSED_OR_EXPIRED)
                .expression_attribute_names("#key", home.key_name)
                .expression_attribute_names("#expires_at", "expires_at")
                .expression_attribute_values(":now", n(record.now.max(0) as u64))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )
    }
}

/// Decodes `AttributeValue::N` (a helper for reading counters from raw items).
pub(crate) fn number(raw: &Raw, name: &str) -> Option<u64> {
    match raw.get(name)? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}
