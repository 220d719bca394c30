//! The purchase: one read of the idempotency record and the cart, then ONE `TransactWriteItems`
//! that decrements every line's stock (if it is still enough and the price is still the cart's),
//! puts the idempotency record (if the key is unused or expired), puts the order and empties the
//! cart (if it is still the version that was read). All of it or nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::carts::CartRecord;
use super::catalog::backoff;
use super::orders::OrderRecord;
use super::{Store, StoreError};
use crate::domain::{Cart, IdempotencyKey, ItemId, Order, UserId};

type Raw = HashMap<String, AttributeValue>;

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

/// A successful purchase as stored under its key, so a replay answers the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pk: String,
    pub user_id: u64,
    pub cart_id: String,
    pub order_id: String,
    pub status: u16,
    pub body: String,
    pub created_at: String,
    /// Unix seconds after which the key is free again (DynamoDB's TTL attribute; the
    /// conditions treat an expired record as absent, whenever TTL gets to delete it).
    pub expires_at: i64,
}

impl IdempotencyRecord {
    pub fn new(
        user: UserId,
        key: &IdempotencyKey,
        order: &Order,
        body: String,
        expires_at: i64,
    ) -> Self {
        Self {
            pk: record_key(user, key),
            user_id: user.get(),
            cart_id: order.cart_id.to_string(),
            order_id: order.id.to_string(),
            status: 200,
            body,
            created_at: order.created_at.clone(),
            expires_at,
        }
    }

    fn live(raw: Option<&Raw>, now: i64) -> Result<Option<Self>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let record: Self = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
        Ok((record.expires_at >= now).then_some(record))
    }
}

/// Keys are scoped per user: the same string from two users is two keys.
fn record_key(user: UserId, key: &IdempotencyKey) -> String {
    format!("{}#{}", user.get(), key.as_str())
}

/// What the first read found: the key's live record and the user's cart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseSnapshot {
    pub record: Option<IdempotencyRecord>,
    pub cart: Option<Cart>,
}

/// Everything the transaction writes.
#[derive(Clone, Debug)]
pub struct PurchasePlan<'a> {
    pub cart: &'a Cart,
    pub order: &'a Order,
    pub record: &'a IdempotencyRecord,
    /// Unix seconds: records that expired before this are free to overwrite.
    pub now: i64,
}

/// Why a line could not be bought: its item as the failed condition saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRejection {
    pub item_id: ItemId,
    pub requested: u64,
    pub cart_price: u64,
    /// `(price, stock)` now, or `None` when the item no longer exists.
    pub current: Option<(u64, u64)>,
}

/// Why the transaction was cancelled, from its `CancellationReasons`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurchaseRejection {
    pub lines: Vec<LineRejection>,
    /// The key was taken meanwhile (a concurrent submit won): its record.
    pub taken_by: Option<IdempotencyRecord>,
    /// The cart changed since it was read.
    pub cart_changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PurchaseResult {
    Committed,
    Rejected(PurchaseRejection),
}

impl Store {
    /// Reads the key's record and the user's cart in one strongly consistent `BatchGetItem`.
    pub async fn load_purchase(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let tables = self.tables();
        let cart_key = HashMap::from([(
            "user_id".to_owned(),
            AttributeValue::N(user.get().to_string()),
        )]);
        let record_key =
            HashMap::from([("pk".to_owned(), AttributeValue::S(record_key(user, key)))]);
        let mut wanted = HashMap::from([
            (tables.carts.clone(), keys(cart_key)?),
            (tables.idempotency.clone(), keys(record_key)?),
        ]);
        let mut found: HashMap<String, Vec<Raw>> = HashMap::new();
        for attempt in 0..READ_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
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
                let cart = found
                    .get(&tables.carts)
                    .and_then(|items| items.first())
                    .map(|raw| {
                        serde_dynamo::from_item::<_, CartRecord>(raw.clone())
                            .map_err(StoreError::mapping)?
                            .into_cart()
                    })
                    .transpose()?;
                let record = IdempotencyRecord::live(
                    found
                        .get(&tables.idempotency)
                        .and_then(|items| items.first()),
                    now,
                )?;
                return Ok(PurchaseSnapshot { record, cart });
            }
        }
        Err(StoreError::Unavailable(
            "the purchase read stayed unprocessed".into(),
        ))
    }

    /// The key's live record alone, read strongly consistent. A purchase that found the cart
    /// empty asks again: `BatchGetItem` reads its two items one after the other, so a concurrent
    /// submit of the same key may have committed between them.
    pub async fn get_idempotency_record(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().idempotency)
            .key("pk", AttributeValue::S(record_key(user, key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.metrics().reads(out.consumed_capacity());
        IdempotencyRecord::live(out.item(), now)
    }

    /// Runs the purchase transaction. A conflict with another transaction is retried with
    /// jittered backoff and the same client request token (so a retry can never apply twice),
    /// then reported as unavailable.
    pub async fn commit_purchase(
        &self,
        plan: &PurchasePlan<'_>,
    ) -> Result<PurchaseResult, StoreError> {
        let items = transaction_items(self, plan)?;
        let token = Uuid::new_v4().to_string();
        for attempt in 0..TRANSACTION_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
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
                    return Ok(PurchaseResult::Committed);
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
            return explain(plan, &reasons).map(PurchaseResult::Rejected);
        }
        unreachable!("the loop returns on its last attempt")
    }
}

fn keys(key: Raw) -> Result<KeysAndAttributes, StoreError> {
    KeysAndAttributes::builder()
        .keys(key)
        .consistent_read(true)
        .build()
        .map_err(|e| StoreError::Unexpected(Box::new(e)))
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn built<T, E: std::error::Error + Send + Sync + 'static>(
    r: Result<T, E>,
) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Unexpected(Box::new(e)))
}

/// The transaction: one stock update per line, then the record, the order and the cart, in
/// that order (the cancellation reasons come back in the same order).
fn transaction_items(
    store: &Store,
    plan: &PurchasePlan<'_>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let tables = store.tables();
    let mut items = Vec::with_capacity(plan.cart.lines.len() + 3);
    for line in &plan.cart.lines {
        let update = Update::builder()
            .table_name(&tables.catalog)
            .key("id", n(line.item_id.get()))
            .update_expression("SET #stock = #stock - :quantity")
            .condition_expression("#stock >= :quantity AND #price = :seen_price")
            .expression_attribute_names("#stock", "stock")
            .expression_attribute_names("#price", "price")
            .expression_attribute_values(":quantity", n(line.quantity))
            .expression_attribute_values(":seen_price", n(line.unit_price.get()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        items.push(
            TransactWriteItem::builder()
                .update(built(update.build())?)
                .build(),
        );
    }
    let record = serde_dynamo::to_item(plan.record).map_err(StoreError::mapping)?;
    let put_record = Put::builder()
        .table_name(&tables.idempotency)
        .set_item(Some(record))
        .condition_expression("attribute_not_exists(#pk) OR #expires_at < :now")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#expires_at", "expires_at")
        .expression_attribute_values(":now", AttributeValue::N(plan.now.to_string()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    items.push(
        TransactWriteItem::builder()
            .put(built(put_record.build())?)
            .build(),
    );

    let order =
        serde_dynamo::to_item(OrderRecord::from_order(plan.order)).map_err(StoreError::mapping)?;
    let put_order = Put::builder()
        .table_name(&tables.orders)
        .set_item(Some(order))
        .condition_expression("attribute_not_exists(order_id)");
    items.push(
        TransactWriteItem::builder()
            .put(built(put_order.build())?)
            .build(),
    );

    let empty = AttributeValue::M(HashMap::new());
    let clear_cart = Update::builder()
        .table_name(&tables.carts)
        .key("user_id", n(plan.cart.user_id().get()))
        .update_expression(
            "SET #qty = :empty, #price = :empty, #name = :empty, #added = :empty, \
             #version = #version + :one",
        )
        .condition_expression("#token = :token AND #version = :version")
        .expression_attribute_names("#qty", "qty")
        .expression_attribute_names("#price", "price")
        .expression_attribute_names("#name", "name")
        .expression_attribute_names("#added", "added")
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#token", "cart_token")
        .expression_attribute_values(":empty", empty)
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":token", s(plan.cart.id.token().to_string()))
        .expression_attribute_values(":version", n(plan.cart.version));
    items.push(
        TransactWriteItem::builder()
            .update(built(clear_cart.build())?)
            .build(),
    );
    Ok(items)
}

/// Reads a cancelled transaction's reasons: which lines failed (with the item as it is now),
/// whether the key was taken, whether the cart changed. No extra reads.
fn explain(
    plan: &PurchasePlan<'_>,
    reasons: &[aws_sdk_dynamodb::types::CancellationReason],
) -> Result<PurchaseRejection, StoreError> {
    let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
    let mut rejection = PurchaseRejection::default();
    for (i, line) in plan.cart.lines.iter().enumerate() {
        if !failed(i) {
            continue;
        }
        let old = reasons[i].item();
        let number = |name: &str| {
            old.and_then(|item| item.get(name))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let current = number("price").zip(number("stock"));
        rejection.lines.push(LineRejection {
            item_id: line.item_id,
            requested: line.quantity,
            cart_price: line.unit_price.get(),
            current,
        });
    }
    let record_at = plan.cart.lines.len();
    if failed(record_at) {
        rejection.taken_by = IdempotencyRecord::live(reasons[record_at].item(), i64::MIN)?;
    }
    rejection.cart_changed = failed(record_at + 2);
    Ok(rejection)
}
