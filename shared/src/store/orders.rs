//! The orders table: one item per order, keyed by `order_id`, put by a purchase and changed
//! only by the transitions of its lifecycle (`commit_order`); the `by-user` index (`user_id`,
//! `created_key` = `"{created_at}#{order_id}"`) lists a user's, and the sparse `by-due` index
//! (`due_pk = "DUE"`, `payment_due_by`) holds the orders waiting for a payment, for the sweep.
//!
//! An order is also the record of the idempotency key that bought it: its id is the key's
//! (`OrderId::of_key`), it carries the fingerprint the key is bound to (`request`), and the
//! answer is rebuilt from it (`domain::purchase::bought`). So a purchase writes no key record of
//! its own, and a purchase key stays bound to its order for as long as the order exists. The
//! same item is where a user's key keeps the record of a cart write it made
//! (`store::idempotency`): such an item has no `lines` and no `user_id`, so it is no order, is
//! in no index, and expires (TTL `expires_at`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::catalog::give_back;
use super::discounts::give_back_code;
use super::keys::{NewRecord, UNUSED_OR_EXPIRED};
use super::schema::{ORDERS_BY_DUE_INDEX, ORDERS_BY_USER_INDEX};
use super::{built, n, names, s, Raw, RequestToken, Store, StoreError, Written, LAST_REQUEST};
use crate::domain::purchase::receipt_of;
use crate::domain::{
    CartId, DiscountCode, Fingerprint, ItemId, Order, OrderDiscount, OrderId, OrderLine,
    OrderStatus, OrdersPage, OrdersQuery, Price, Receipt, UserId,
};

#[derive(Debug, Serialize, Deserialize)]
struct OrderRecord {
    order_id: String,
    user_id: String,
    cart_id: String,
    lines: Vec<OrderLineRecord>,
    /// Absent on orders from before discount codes: the total, then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtotal: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discount: Option<OrderDiscountRecord>,
    total: u64,
    created_at: String,
    created_key: String,
    /// The fingerprint of the purchase request its key is bound to.
    #[serde(default)]
    request: String,
    #[serde(default = "placed")]
    status: String,
    #[serde(default)]
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_due_by: Option<i64>,
    /// `"DUE"` while the order waits for a payment: the sparse `by-due` index's partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_pk: Option<String>,
    #[serde(default)]
    refund_due: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_reference: Option<String>,
}

fn placed() -> String {
    OrderStatus::Placed.as_str().to_owned()
}

/// The one partition of the `by-due` index.
const DUE: &str = "DUE";

/// What a code took off an order, and whether the customer's use was counted.
#[derive(Debug, Serialize, Deserialize)]
struct OrderDiscountRecord {
    code: String,
    amount: u64,
    #[serde(default)]
    per_customer: bool,
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
            subtotal: Some(order.subtotal),
            discount: order.discount.as_ref().map(|d| OrderDiscountRecord {
                code: d.code.as_str().to_owned(),
                amount: d.amount,
                per_customer: d.per_customer,
            }),
            total: order.total,
            created_at: order.created_at.clone(),
            created_key: order.position(),
            request: request.as_str().to_owned(),
            status: order.status.as_str().to_owned(),
            version: order.version,
            payment_due_by: order.payment_due_by,
            due_pk: (order.status == OrderStatus::PendingPayment).then(|| DUE.to_owned()),
            refund_due: order.refund_due,
            payment_reference: order.payment_reference.clone(),
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
            subtotal: self.subtotal.unwrap_or(self.total),
            discount: match self.discount {
                Some(d) => Some(OrderDiscount {
                    code: DiscountCode::parse(&d.code).map_err(|_| corrupt())?,
                    amount: d.amount,
                    per_customer: d.per_customer,
                }),
                None => None,
            },
            total: self.total,
            created_at: self.created_at,
            status: OrderStatus::parse(&self.status).ok_or_else(corrupt)?,
            version: self.version,
            payment_due_by: self.payment_due_by,
            refund_due: self.refund_due,
            payment_reference: self.payment_reference,
        })
    }
}

/// What writing an order's transition came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderCommit {
    Done,
    /// The order moved on since it was read (or its window closed): read it again.
    Changed,
    /// The key was taken meanwhile: this is its answer.
    KeyTaken(Receipt),
}

/// Where a page of the orders due ended.
#[derive(Clone, Debug)]
pub struct DueCursor(Raw);

pub(crate) fn order_key(id: OrderId) -> Raw {
    HashMap::from([("order_id".to_owned(), s(id.to_string()))])
}

/// Whether a raw item of the orders table is an order (rather than a key's record).
pub(crate) fn is_order(raw: &Raw) -> bool {
    raw.contains_key("lines")
}

/// An item as a DynamoDB stream record carries it (`NewImage`, `OldImage` of a change of the
/// orders table), in the stream's JSON (`{"S": "..."}`, `{"N": "..."}`): opaque outside this
/// module, which alone knows an order's shape.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct StreamImage(serde_dynamo::Item);

/// The order a stream image of the orders table holds, decoded as every read of an order is:
/// `None` when the item is no order (a key's record of a cart write: no `lines`); an error when
/// it is an order that does not decode (a bug, or an item written by hand).
pub fn order_in_image(image: &StreamImage) -> Result<Option<Order>, StoreError> {
    if !image.0.contains_key("lines") {
        return Ok(None);
    }
    let record: OrderRecord =
        serde_dynamo::from_item(image.0.clone()).map_err(StoreError::mapping)?;
    record.into_order().map(Some)
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

    /// The order `id` and, with a key, its live receipt (`pk`), in one strongly consistent
    /// `BatchGetItem` (a `GetItem` without a key): what a transition starts from.
    pub async fn read_order(
        &self,
        id: OrderId,
        pk: Option<&str>,
        now: i64,
    ) -> Result<(Option<Receipt>, Option<Order>), StoreError> {
        let Some(pk) = pk else {
            return Ok((None, self.get_order(id).await?));
        };
        let keys = vec![(self.tables().orders.clone(), order_key(id))];
        let (receipt, items) = self.batch_read(Some(pk), keys, now).await?;
        let raw = items.into_iter().next().flatten().filter(is_order);
        let order = raw
            .map(|raw| OrderRecord::decode(raw)?.into_order())
            .transpose()?;
        Ok((receipt, order))
    }

    /// Writes a transition of `before` into `after` (one version on), if the order is still
    /// `before` (its status and version) and, while it waits for a payment, the window is still
    /// open at `now` (or, for an expiry, has closed): one conditional `UpdateItem`; or one
    /// transaction with every line's units back into its item's stock (`returns_stock`) and the
    /// key's record (`record`), all or nothing.
    pub async fn commit_order(
        &self,
        before: &Order,
        after: &Order,
        returns_stock: bool,
        record: Option<&NewRecord<'_>>,
        now: i64,
    ) -> Result<OrderCommit, StoreError> {
        let mut names = names(&["status", "version", "refund_due", "due_pk"]);
        let mut values = HashMap::from([
            (":from".to_owned(), s(before.status.as_str())),
            (":version".to_owned(), n(before.version)),
            (":to".to_owned(), s(after.status.as_str())),
            (":next".to_owned(), n(after.version)),
            (
                ":refund_due".to_owned(),
                AttributeValue::Bool(after.refund_due),
            ),
        ]);
        let mut sets = "#status = :to, #version = :next, #refund_due = :refund_due".to_owned();
        if let Some(reference) = &after.payment_reference {
            sets.push_str(", #payment_reference = :reference");
            names.insert(
                "#payment_reference".to_owned(),
                "payment_reference".to_owned(),
            );
            values.insert(":reference".to_owned(), s(reference));
        }
        let mut condition = "#status = :from AND #version = :version".to_owned();
        if before.status == OrderStatus::PendingPayment {
            // The window decides, at this second: open for a payment or a cancellation, closed
            // for an expiry.
            condition.push_str(match after.status {
                OrderStatus::Expired => " AND #payment_due_by <= :now",
                _ => " AND #payment_due_by > :now",
            });
            names.insert("#payment_due_by".to_owned(), "payment_due_by".to_owned());
            values.insert(":now".to_owned(), n(now.max(0) as u64));
        }
        let expression = format!("REMOVE #due_pk SET {sets}");
        if !returns_stock && record.is_none() {
            // One conditional write (exactly once even when the SDK resends it).
            let request = self
                .client()
                .update_item()
                .table_name(&self.tables().orders)
                .set_key(Some(order_key(before.id)))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values));
            return Ok(match self.update(request).await? {
                Written::Done(_) => OrderCommit::Done,
                Written::Refused(_) => OrderCommit::Changed,
            });
        }
        // A transaction: the order (its `last_request` set to the transaction's token, so that a
        // resend that was applied finds it), every line's units back, the key's record.
        let token = RequestToken::new();
        names.insert(format!("#{LAST_REQUEST}"), LAST_REQUEST.to_owned());
        values.insert(":request_token".to_owned(), s(&token.0));
        let update = Update::builder()
            .table_name(&self.tables().orders)
            .set_key(Some(order_key(before.id)))
            .update_expression(format!("{expression}, #{LAST_REQUEST} = :request_token"))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut actions = vec![TransactWriteItem::builder()
            .update(built(update.build())?)
            .build()];
        if returns_stock {
            for line in &before.lines {
                let back = give_back(&self.tables().catalog, line.item_id, line.quantity)?;
                actions.push(TransactWriteItem::builder().update(back).build());
            }
            // The code's use (and the customer's) comes back with the units.
            if let Some(used) = &before.discount {
                let table = &self.tables().discounts;
                actions.extend(give_back_code(table, used, &before.user_id)?);
            }
        }
        let Some(cancelled) = self.transact(actions, record, &token).await? else {
            return Ok(OrderCommit::Done);
        };
        if let Some(receipt) = cancelled.taken_by.clone() {
            return Ok(OrderCommit::KeyTaken(receipt));
        }
        match cancelled.failed_at(0) {
            Some(now) if token.written(now) => Ok(OrderCommit::Done),
            Some(_) => Ok(OrderCommit::Changed),
            None => Err(StoreError::Unexpected(
                "an order transition was cancelled for no known reason".into(),
            )),
        }
    }

    /// One page of the orders whose payment window closed by `now`, from the sparse `by-due`
    /// index (eventually consistent: each is read again before it is expired), after `from`.
    pub async fn orders_due(
        &self,
        now: i64,
        limit: i32,
        from: Option<DueCursor>,
    ) -> Result<(Vec<OrderId>, Option<DueCursor>), StoreError> {
        let out = self
            .client()
            .query()
            .table_name(&self.tables().orders)
            .index_name(ORDERS_BY_DUE_INDEX)
            .key_condition_expression("#due_pk = :due AND #payment_due_by <= :now")
            .set_expression_attribute_names(Some(names(&["due_pk", "payment_due_by"])))
            .expression_attribute_values(":due", s(DUE))
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .set_exclusive_start_key(from.map(|cursor| cursor.0))
            .limit(limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.metrics().reads(out.consumed_capacity());
        let ids = out
            .items()
            .iter()
            .filter_map(|raw| OrderId::parse(raw.get("order_id")?.as_s().ok()?).ok());
        let next = out.last_evaluated_key().cloned().map(DueCursor);
        Ok((ids.collect(), next))
    }

    pub async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let raw = self.get_raw(&self.tables().orders, order_key(id)).await?;
        // A key's record under that id is no order.
        raw.filter(is_order)
            .map(|raw| OrderRecord::decode(raw)?.into_order())
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        let user = UserId::parse("7").unwrap();
        Order {
            id: OrderId::of_key("user#7#k"),
            cart_id: CartId::generate(user.clone()),
            user_id: user,
            lines: vec![OrderLine {
                item_id: ItemId::new(3).unwrap(),
                name: "Wine".to_owned(),
                quantity: 2,
                unit_price: Price::new(1299).unwrap(),
            }],
            subtotal: 2598,
            discount: None,
            total: 2598,
            created_at: "2026-12-05T12:59:00Z".to_owned(),
            status: OrderStatus::PendingPayment,
            version: 0,
            payment_due_by: Some(1_796_476_440),
            refund_due: false,
            payment_reference: None,
        }
    }

    /// An item as the stream's JSON carries it.
    fn image(item: Raw) -> StreamImage {
        let item: serde_dynamo::Item = item.into();
        serde_json::from_value(serde_json::to_value(item).unwrap()).unwrap()
    }

    #[test]
    fn a_stream_image_of_an_order_decodes_as_the_order_and_a_keys_record_as_none() {
        let order = order();
        let written = serde_dynamo::to_item(OrderRecord::from_order(
            &order,
            &Fingerprint::of("purchase", &[&"cart"]),
        ))
        .unwrap();
        assert_eq!(order_in_image(&image(written)).unwrap(), Some(order));

        let record = HashMap::from([
            ("order_id".to_owned(), s("k")),
            ("status".to_owned(), n(200)),
            ("body".to_owned(), s("{}")),
        ]);
        assert_eq!(order_in_image(&image(record)).unwrap(), None);

        let broken = HashMap::from([
            ("order_id".to_owned(), s("not an id")),
            ("lines".to_owned(), AttributeValue::L(vec![])),
        ]);
        assert!(order_in_image(&image(broken)).is_err());
    }
}
