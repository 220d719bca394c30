//! A shopper's cart.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{CartId, ItemId, Price, UserId};

/// A cart holds at most this many distinct items, so that its purchase (one stock update per
/// line plus the order, the idempotency record and the cart itself) fits in one DynamoDB
/// transaction of at most 100 actions with room to spare.
pub const MAX_CART_LINES: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CartLine {
    pub item_id: ItemId,
    pub name: String,
    pub quantity: u64,
    /// The item's price when it was last added: a purchase charges it only if it is still the
    /// item's price.
    pub unit_price: Price,
}

impl CartLine {
    pub fn subtotal(&self) -> u64 {
        self.quantity.saturating_mul(self.unit_price.get())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cart {
    pub id: CartId,
    /// Lines in the order their items were first added.
    pub lines: Vec<CartLine>,
    /// Bumped by every change: a purchase only commits against the version it read.
    pub version: u64,
}

impl Cart {
    pub fn user_id(&self) -> &UserId {
        self.id.owner()
    }

    /// Below 2^53-1 for every cart the API lets exist (see `Price::ITEM_MAX`); saturating all
    /// the same, so no stored data can make it panic.
    pub fn total(&self) -> u64 {
        self.lines
            .iter()
            .map(CartLine::subtotal)
            .fold(0, u64::saturating_add)
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// `{"id", "user_id", "items": [item_id...], "lines": [...], "total"}`: `items` keeps the
/// original API's shape, `lines` and `total` are what a client needs to show the cart.
impl Serialize for Cart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<ItemId> = self.lines.iter().map(|l| l.item_id).collect();
        let mut cart = s.serialize_struct("Cart", 5)?;
        cart.serialize_field("id", &self.id)?;
        cart.serialize_field("user_id", self.user_id())?;
        cart.serialize_field("items", &items)?;
        cart.serialize_field("lines", &self.lines)?;
        cart.serialize_field("total", &self.total())?;
        cart.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carts_total_is_the_sum_of_quantity_times_unit_price() {
        let line = |id, quantity, price| CartLine {
            item_id: ItemId::new(id).unwrap(),
            name: format!("Item {id}"),
            quantity,
            unit_price: Price::new(price).unwrap(),
        };
        let cart = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![line(1, 2, 869), line(3, 1, 1470)],
            version: 3,
        };
        let json = serde_json::to_value(&cart).unwrap();
        assert_eq!(json["total"], 2 * 869 + 1470);
        assert_eq!(json["items"], serde_json::json!([1, 3]));
        assert_eq!(json["user_id"], "7");
    }
}
