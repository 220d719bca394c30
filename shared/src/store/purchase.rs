//! The purchase's I/O: one read of the key's receipt and the cart, then ONE `TransactWriteItems`
//! assembled from the actions each table's module exports (a stock decrement per line from
//! `catalog`, the order from `orders`, the emptied cart from `carts`) and the key's record,
//! whose table lives here. All of it or nothing. What a cancellation means is decided by
//! `domain::purchase::verdict`; this module only decodes the reasons into a `Rejection`.
//!
//! The idempotency table: `pk` (`{user}#{key}`: keys are scoped per user), the receipt
//! (`cart_id`, `order_id`, `status`, `body`), `created_at`, and `expires_at` (Unix seconds;
//! DynamoDB's TTL attribute, but the conditions treat an expired record as absent, whenever TTL
//! gets to delete it).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::carts::{cart_key, clear_cart, decode_cart};
use super::catalog::{decode_item, take_stock};
use super::orders::put_order;
use super::{built, pause, s, Raw, Store, StoreError};
use crate::domain::purchase::{LineRejection, Receipt, Rejection};
use crate::domain::{Cart, IdempotencyKey, Order, UserId};

/// Attempts of one transaction when DynamoDB reports a conflict with another transaction.
const TRANSACTION_ATTEMPTS: u32 = 4;
/// Reads of the two items before `BatchGetItem` is declared unavailable.
const READ_ATTEMPTS: u32 = 5;
/// Cancellation reasons that mean "try again" rather than "no".
const TRANSIENT_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// The idempotency table's item.
#[derive(Debug, Serialize, Deserialize)]
struct KeyRecord {
    pk: String,
    user_id: String,
    cart_id: String,
    order_id: String,
    status: u16,
    body: String,
    created_at: String,
    expires_at: i64,
}

impl KeyRecord {
    /// The receipt of a record that is still live at `now`.
    fn live(raw: Option<&Raw>, now: i64) -> Result<Option<Receipt>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let record: Self = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
        Ok((record.expires_at >= now).then_some(Receipt {
            cart_id: record.cart_id,
            order_id: record.order_id,
            status: record.status,
            body: record.body,
        }))
    }
}

fn record_key(user: &UserId, key: &IdempotencyKey) -> String {
    format!("{user}#{}", key.as_str())
}

/// What the first read found: the key's live receipt and the user's cart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseSnapshot {
    pub receipt: Option<Receipt>,
    pub cart: Option<Cart>,
}

/// Everything the transaction writes.
#[derive(Clone, Debug)]
pub struct PurchasePlan<'a> {
    pub user: &'a UserId,
    pub key: &'a IdempotencyKey,
    pub cart: &'a Cart,
    pub order: &'a Order,
    /// The success body, kept under the key so a replay answers the same bytes.
    pub body: &'a str,
    /// Unix seconds: records that expired before this are free to overwrite.
    pub now: i64,
    /// Unix seconds after which the key is free again.
    pub expires_at: i64,
}

impl Store {
    /// Reads the key's record and the user's cart in one strongly consistent `BatchGetItem`.
    pub async fn load_purchase(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let tables = self.tables();
        let record_key = HashMap::from([("pk".to_owned(), s(record_key(user, key)))]);
        let mut wanted = HashMap::from([
            (tables.carts.clone(), keys(cart_key(user))?),
            (tables.idempotency.clone(), keys(record_key)?),
        ]);
        let mut found: HashMap<String, Vec<Raw>> = HashMap::new();
        for attempt in 0..READ_ATTEMPTS {
            pause(attempt).await;
            let out = self
                .client()
                .batch_get_item()
                .set_request_items(Some(wanted))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            self.metrics().reads(out.consumed_capacity());
            for (table, items) in out.responses().cloned().unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
            wanted = out.unprocessed_keys().cloned().unwrap_or_default();
            if wanted.is_empty() {
                let first = |table: &String| found.get(table).and_then(|items| items.first());
                return Ok(PurchaseSnapshot {
                    receipt: KeyRecord::live(first(&tables.idempotency), now)?,
                    cart: first(&tables.carts).map(decode_cart).transpose()?,
                });
            }
        }
        Err(StoreError::Unavailable(
            "the purchase read stayed unprocessed".into(),
        ))
    }

    /// The key's live receipt alone, read strongly consistent.
    pub async fn get_receipt(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<Option<Receipt>, StoreError> {
        let key = HashMap::from([("pk".to_owned(), s(record_key(user, key)))]);
        let raw = self.get_raw(&self.tables().idempotency, key).await?;
        KeyRecord::live(raw.as_ref(), now)
    }

    /// Runs the purchase transaction: `None` when it committed, else why it was cancelled. A
    /// conflict with another transaction is retried with jittered backoff and the same client
    /// request token (so a retry can never apply twice), then reported as unavailable.
    pub async fn commit_purchase(
        &self,
        plan: &PurchasePlan<'_>,
    ) -> Result<Option<Rejection>, StoreError> {
        let items = transaction_items(self, plan)?;
        let token = Uuid::new_v4().to_string();
        for attempt in 0..TRANSACTION_ATTEMPTS {
            pause(attempt).await;
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
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
                tracing::warn!(attempt, reasons = ?codes, "purchase transaction conflicted");
                if attempt + 1 == TRANSACTION_ATTEMPTS {
                    return Err(StoreError::Unavailable(Box::new(err)));
                }
                continue;
            }
            return decode_reasons(plan, &reasons).map(Some);
        }
        unreachable!("the loop returns on its last attempt")
    }
}

fn keys(key: Raw) -> Result<KeysAndAttributes, StoreError> {
    built(
        KeysAndAttributes::builder()
            .keys(key)
            .consistent_read(true)
            .build(),
    )
}

/// The transaction: one stock update per line, then the key's record, the order and the cart,
/// in that order (the cancellation reasons come back in the same order).
fn transaction_items(
    store: &Store,
    plan: &PurchasePlan<'_>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let tables = store.tables();
    let mut items = Vec::with_capacity(plan.cart.lines.len() + 3);
    for line in &plan.cart.lines {
        let update = take_stock(&tables.catalog, line)?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    items.push(
        TransactWriteItem::builder()
            .put(put_record(&tables.idempotency, plan)?)
            .build(),
    );
    items.push(
        TransactWriteItem::builder()
            .put(put_order(&tables.orders, plan.order)?)
            .build(),
    );
    items.push(
        TransactWriteItem::builder()
            .update(clear_cart(&tables.carts, plan.cart)?)
            .build(),
    );
    Ok(items)
}

/// The key's record, if the key is unused or its record expired.
fn put_record(table: &str, plan: &PurchasePlan<'_>) -> Result<Put, StoreError> {
    let record = KeyRecord {
        pk: record_key(plan.user, plan.key),
        user_id: plan.user.to_string(),
        cart_id: plan.order.cart_id.to_string(),
        order_id: plan.order.id.to_string(),
        status: 200,
        body: plan.body.to_owned(),
        created_at: plan.order.created_at.clone(),
        expires_at: plan.expires_at,
    };
    let item = serde_dynamo::to_item(record).map_err(StoreError::mapping)?;
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #expires_at < :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#expires_at", "expires_at")
            .expression_attribute_values(":now", AttributeValue::N(plan.now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )
}

/// Decodes a cancelled transaction's reasons (in the order of `transaction_items`): which lines
/// failed, with their item as it is now; the key's record if it was taken; whether the cart
/// changed. No extra reads.
fn decode_reasons(
    plan: &PurchasePlan<'_>,
    reasons: &[CancellationReason],
) -> Result<Rejection, StoreError> {
    let failed = |i: usize| {
        reasons
            .get(i)
            .filter(|r| r.code() == Some("ConditionalCheckFailed"))
    };
    let mut rejection = Rejection::default();
    for (i, line) in plan.cart.lines.iter().enumerate() {
        let Some(reason) = failed(i) else { continue };
        let current = reason
            .item()
            .map(decode_item)
            .transpose()?
            .map(|item| (item.price.get(), item.stock.get()));
        rejection.lines.push(LineRejection {
            item_id: line.item_id,
            requested: line.quantity,
            cart_price: line.unit_price.get(),
            current,
        });
    }
    let record_at = plan.cart.lines.len();
    if let Some(reason) = failed(record_at) {
        // Whatever its age: it was live when the condition refused it.
        rejection.taken_by = KeyRecord::live(reason.item(), i64::MIN)?;
    }
    rejection.cart_changed = failed(record_at + 2).is_some();
    Ok(rejection)
}
