//! The orders table: one item per order, keyed by `order_id`, written only by a purchase; the
//! `by-user` index (`user_id`, `created_key` = `"{created_at}#{order_id}"`) lists a user's.
//!
//! An order is also the record of the idempotency key that bought it: its id is the key's
//! (`OrderId::of_key`), it carries the fingerprint the key is bound to (`request`), and the
//! answer is rebuilt from it (`domain::purchase::bought`). So a purchase writes no key record of
//! its own, and a purchase key stays bound to its order for as long as the order exists. The
//! same item is where a user's key keeps the record of a cart write it made
//! (`store::idempotency`): such an item has no `lines` and no `user_id`, so it is no order, is
//! in no index, and expires (TTL `expires_at`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::keys::UNUSED_OR_EXPIRED;
use super::schema::ORDERS_BY_USER_INDEX;
use super::{built, n, s, Raw, Store, StoreError};
use crate::domain::purchase::receipt_of;
use crate::domain::{
    CartId, Fingerprint, ItemId, Order, OrderId, OrderLine, OrdersPage, OrdersQuery, Price,
    Receipt, UserId,
};

#[derive(Debug, Serialize, Deserialize)]
struct OrderRecord {
    order_id: String,
    user_id: String,
    cart_id: String,
    lines: Vec<OrderLineRecord>,
    total: u64,
    created_at: String,
    created_key: String,
    /// The fingerprint of the purchase request its key is bound to.
    #[serde(default)]
    request: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderLineRecord {
    item_id: u64,
    name: String,
    quantity: u64,
    unit_price: u64,
}

impl OrderRecord {
    fn from_order(order: &Order, request: &Fingerprint) -> Self {
        Self {
            order_id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            cart_id: order.cart_id.to_string(),
            lines: order
                .lines
                .iter()
                .map(|l| OrderLineRecord {
                    item_id: l.item_id.get(),
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.get(),
                })
                .collect(),
            total: order.total,
            created_at: order.created_at.clone(),
            created_key: order.position(),
            request: request.as_str().to_owned(),
        }
    }

    fn decode(raw: Raw) -> Result<Self, StoreError> {
        serde_dynamo::from_item(raw).map_err(StoreError::mapping)
    }

    fn into_order(self) -> Result<Order, StoreError> {
        let corrupt =
            || StoreError::Unexpected(format!("order {} is malformed", self.order_id).into());
        let lines = self
            .lines
            .into_iter()
            .map(|l| {
                Ok(OrderLine {
                    item_id: ItemId::new(l.item_id).ok_or_else(corrupt)?,
                    name: l.name,
                    quantity: l.quantity,
                    unit_price: Price::new(l.unit_price).ok_or_else(corrupt)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Order {
            id: OrderId::parse(&self.order_id).map_err(|_| corrupt())?,
            cart_id: CartId::parse(&self.cart_id).map_err(|_| corrupt())?,
            user_id: UserId::parse(&self.user_id).map_err(|_| corrupt())?,
            lines,
            total: self.total,
            created_at: self.created_at,
        })
    }
}

pub(crate) fn order_key(id: OrderId) -> Raw {
    HashMap::from([("order_id".to_owned(), s(id.to_string()))])
}

/// Whether a raw item of the orders table is an order (rather than a key's record).
pub(crate) fn is_order(raw: &Raw) -> bool {
    raw.contains_key("lines")
}

/// The purchase's order, one action of its transaction, bound to `request`. Its id is its key's,
/// so it is refused when the key already bought something or holds a live record of a cart
/// write (`now`: Unix seconds); the refusal returns what holds the key.
pub(crate) fn put_order(
    table: &str,
    order: &Order,
    request: &Fingerprint,
    now: i64,
) -> Result<Put, StoreError> {
    let record = OrderRecord::from_order(order, request);
    let item = serde_dynamo::to_item(record).map_err(StoreError::mapping)?;
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(UNUSED_OR_EXPIRED)
            .expression_attribute_names("#key", "order_id")
            .expression_attribute_names("#expires_at", "expires_at")
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )
}

/// The receipt of the key that bought a stored order: the order's answer, bound to the
/// request the key was sent with.
pub(crate) fn order_receipt(raw: Option<&Raw>) -> Result<Option<Receipt>, StoreError> {
    let Some(raw) = raw else { return Ok(None) };
    let record = OrderRecord::decode(raw.clone())?;
    let request = record.request.clone();
    Ok(Some(receipt_of(&record.into_order()?, &request)))
}

impl Store {
    /// One page of `user`'s orders, newest first: one Query of the `by-user` index reading
    /// `limit + 1` entries.
    pub async fn list_orders(
        &self,
        user: &UserId,
        query: &OrdersQuery,
    ) -> Result<OrdersPage, StoreError> {
        let mut request = self
            .client()
            .query()
            .table_name(&self.tables().orders)
            .index_name(ORDERS_BY_USER_INDEX)
            .key_condition_expression("#user_id = :user")
            .expression_attribute_names("#user_id", "user_id")
            .expression_attribute_values(":user", s(user.as_str()))
            .scan_index_forward(false)
            .limit(query.limit as i32 + 1)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if let Some(after) = &query.after {
            let order_id = after.rsplit('#').next().unwrap_or_default();
            request = request.set_exclusive_start_key(Some(HashMap::from([
                ("user_id".to_owned(), s(user.as_str())),
                ("created_key".to_owned(), s(after.as_str())),
                ("order_id".to_owned(), s(order_id)),
            ])));
        }
        let out = request.send().await.map_err(StoreError::from_sdk)?;
        self.metrics().reads(out.consumed_capacity());
        let mut orders = out
            .items()
            .iter()
            .map(|raw| OrderRecord::decode(raw.clone())?.into_order())
            .collect::<Result<Vec<_>, _>>()?;
        let more = orders.len() > query.limit as usize;
        orders.truncate(query.limit as usize);
        let next = more.then(|| orders.last().map(Order::position)).flatten();
        Ok(OrdersPage { orders, next })
    }

    pub async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let raw = self.get_raw(&self.tables().orders, order_key(id)).await?;
        // A key's record under that id is no order.
        raw.filter(is_order)
            .map(|raw| OrderRecord::decode(raw)?.into_order())
            .transpose()
    }
}
