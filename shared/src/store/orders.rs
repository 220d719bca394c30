//! The orders table: one item per order, keyed by `order_id`, written only by a purchase.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::Put;
use serde::{Deserialize, Serialize};

use super::{built, s, Store, StoreError};
use crate::domain::{CartId, ItemId, Order, OrderId, OrderLine, Price, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct OrderRecord {
    order_id: String,
    user_id: String,
    cart_id: String,
    lines: Vec<OrderLineRecord>,
    total: u64,
    created_at: String,
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
