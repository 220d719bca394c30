//! A completed purchase.

use serde::Serialize;

use super::{CartId, ItemId, OrderId, Price, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub item_id: ItemId,
    pub name: String,
    pub quantity: u64,
    pub unit_price: Price,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub cart_id: CartId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
}
