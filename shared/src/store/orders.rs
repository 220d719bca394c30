//! The orders table: one item per order, keyed by `order_id`, written only by a purchase; the
//! `by-user` index (`user_id`, `created_key` = `"{created_at}#{order_id}"`) lists a user's.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::Put;
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::schema::ORDERS_BY_USER_INDEX;
use super::{built, s, Store, StoreError};
use crate::domain::{
    CartId, ItemId, Order, OrderId, OrderLine, OrdersPage, OrdersQuery, Price, UserId,
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
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderLineRecord {
    item_id: u64,
    name: String,
    quantity: u64,
    unit_price: u64,
}

impl OrderRecord {
    fn from_order(order: &Order) -> Self {
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
        }
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

/// The purchase's order, one action of its transaction; an order id is never reused.
pub(crate) fn put_order(table: &str, order: &Order) -> Result<Put, StoreError> {
    let item =
        serde_dynamo::to_item(OrderRecord::from_order(order)).map_err(StoreError::mapping)?;
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(order_id)")
            .build(),
    )
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
            .map(|raw| {
                serde_dynamo::from_item::<_, OrderRecord>(raw.clone())
                    .map_err(StoreError::mapping)?
                    .into_order()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let more = orders.len() > query.limit as usize;
        orders.truncate(query.limit as usize);
        let next = more.then(|| orders.last().map(Order::position)).flatten();
        Ok(OrdersPage { orders, next })
    }

    pub async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let key = HashMap::from([("order_id".to_owned(), s(id.to_string()))]);
        let raw = self.get_raw(&self.tables().orders, key).await?;
        raw.map(|raw| {
            serde_dynamo::from_item::<_, OrderRecord>(raw)
                .map_err(StoreError::mapping)?
                .into_order()
        })
        .transpose()
    }
}
