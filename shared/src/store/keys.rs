//! The item a key's record is, and where it lives (the rules of keys: `app::keys`).
//!
//! Where ([`Store::record_home`]): a user's key has ONE item, in the orders table under the id
//! of the order the key would buy (`OrderId::of_key`): the order itself when the key bought
//! something (`store::orders`), else the record of the cart write it made. So a purchase and a
//! cart write sent with one key contend for one item, and one of them is refused by its
//! condition, whatever the interleaving. An admin principal's key has its record in the
//! idempotency table, keyed by `pk`.
//!
//! Record shape: `pk` (`KeyScope::record_key`: the caller and the key), `request` (the
//! fingerprint the key is bound to), `status` and `body` (the answer, byte for byte), `version`
//! (what its `ETag` named, if anything), `created_at`, and `expires_at` (Unix seconds; DynamoDB's
//! TTL attribute, but every read and condition here treats an expired record as absent, whenever
//! TTL gets to delete it). A record has no `lines` (an order does) and no `user_id` (so it is in
//! no index of the orders table). It is written by [`Store::transact`](super::transact) in the
//! same transaction as the change it answers for.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::orders::{is_order, order_key, order_receipt};
use super::{built, n, s, Raw, Store, StoreError};
use crate::domain::idempotency::{order_of_key, Fingerprint, Receipt, KEY_LIFETIME_SECS};

/// The condition of a put of a key's item (`#key`: the table's key attribute): nothing there, or
/// a record that expired before `:now`. An order has no `expires_at`, so it is never replaced.
pub(crate) const UNUSED_OR_EXPIRED: &str = "attribute_not_exists(#key) OR #expires_at < :now";

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

    /// The key's record, if the key is unused or its record expired (an order never does).
    pub(crate) fn put_record(&self, record: &NewRecord<'_>) -> Result<Put, StoreError> {
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
