//! A shopper's cart.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{CartId, Item, ItemId, Price, PriceChange, Quantity, UserId};

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

    /// The line of `item`, if the cart holds it.
    pub fn line(&self, item: ItemId) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.item_id == item)
    }

    /// The cart with `quantity` more of `item`, at the item's current name and price: a new
    /// line goes last. The rules of adding (the same, as condition expressions, guard the
    /// unkeyed add in `store::carts`): at most [`MAX_CART_LINES`] lines, and a line never
    /// holds more than the item's stock.
    pub fn with_added(&self, item: &Item, quantity: Quantity) -> Result<Cart, AddRefusal> {
        let in_cart = self.line(item.id).map_or(0, |l| l.quantity);
        if in_cart == 0 && self.lines.len() >= MAX_CART_LINES {
            return Err(AddRefusal::CartFull);
        }
        let wanted = in_cart + u64::from(quantity.get());
        if wanted > item.stock.get() {
            return Err(AddRefusal::InsufficientStock { in_cart });
        }
        let line = CartLine {
            item_id: item.id,
            name: item.name.clone(),
            quantity: wanted,
            unit_price: item.price,
        };
        let mut after = self.next();
        match after.lines.iter_mut().find(|l| l.item_id == item.id) {
            Some(existing) => *existing = line,
            None => after.lines.push(line),
        }
        Ok(after)
    }

    /// The cart without `item`'s line, or `None` when it holds none.
    pub fn without(&self, item: ItemId) -> Option<Cart> {
        self.line(item)?;
        let mut after = self.next();
        after.lines.retain(|l| l.item_id != item);
        Some(after)
    }

    /// The cart holding the current prices of the lines that changed.
    pub fn repriced(&self, changes: &[PriceChange]) -> Cart {
        let mut after = self.next();
        for line in &mut after.lines {
            if let Some(change) = changes.iter().find(|c| c.item_id == line.item_id) {
                line.unit_price = Price::new(change.current_price).unwrap_or(line.unit_price);
            }
        }
        after
    }

    /// The same cart, one version on: what every change starts from.
    fn next(&self) -> Cart {
        Cart {
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Why an add was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddRefusal {
    CartFull,
    /// The cart already holds `in_cart` units, and `in_cart` plus the quantity asked for
    /// exceeds the stock.
    InsufficientStock {
        in_cart: u64,
    },
}

/// `{"id", "user_id", "items": [item_id...], "lines": [...], "total", "version"}`: `items`
/// keeps the original API's shape, `lines` and `total` are what a client needs to show the
/// cart, `version` what a purchase's `If-Match` names (the cart's `ETag`).
impl Serialize for Cart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<ItemId> = self.lines.iter().map(|l| l.item_id).collect();
        let mut cart = s.serialize_struct("Cart", 6)?;
        cart.serialize_field("id", &self.id)?;
        cart.serialize_field("user_id", self.user_id())?;
        cart.serialize_field("items", &items)?;
        cart.serialize_field("lines", &self.lines)?;
        cart.serialize_field("total", &self.total())?;
        cart.serialize_field("version", &self.version)?;
        cart.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Stock;

    fn item(id: u64, price: u64, stock: u64) -> Item {
        Item {
            id: ItemId::new(id).unwrap(),
            name: format!("Item {id}"),
            price: Price::new(price).unwrap(),
            stock: Stock::new(stock).unwrap(),
            version: 0,
        }
    }

    fn quantity(n: u64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn the_rules_of_adding_one_row_each() {
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 4,
        };
        let two = empty.with_added(&item(1, 100, 5), quantity(2)).unwrap();
        let full = (1..=MAX_CART_LINES as u64).fold(empty.clone(), |cart, id| {
            cart.with_added(&item(id, 1, 1), quantity(1)).unwrap()
        });
        // (case, cart, item, quantity, the line's quantity and price and the cart's lines after)
        type Row<'a> = (
            &'a str,
            &'a Cart,
            Item,
            u64,
            Result<(u64, u64, usize), AddRefusal>,
        );
        let rows: Vec<Row> = vec![
            ("a new line", &empty, item(1, 100, 5), 2, Ok((2, 100, 1))),
            (
                "exactly the stock",
                &empty,
                item(1, 100, 5),
                5,
                Ok((5, 100, 1)),
            ),
            (
                "more on a line, at today's price",
                &two,
                item(1, 120, 5),
                3,
                Ok((5, 120, 1)),
            ),
            (
                "past the stock with what the cart holds",
                &two,
                item(1, 100, 5),
                4,
                Err(AddRefusal::InsufficientStock { in_cart: 2 }),
            ),
            (
                "a 51st line",
                &full,
                item(99, 1, 9),
                1,
                Err(AddRefusal::CartFull),
            ),
            (
                "more on a line of a full cart",
                &full,
                item(50, 1, 9),
                1,
                Ok((2, 1, 50)),
            ),
        ];
        for (case, cart, item, n, expected) in rows {
            let got = cart.with_added(&item, quantity(n)).map(|after| {
                let line = after.line(item.id).unwrap();
                assert_eq!(after.version, cart.version + 1, "{case}");
                (line.quantity, line.unit_price.get(), after.lines.len())
            });
            assert_eq!(got, expected, "{case}");
        }
    }

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
