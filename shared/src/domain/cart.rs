//! A shopper's cart.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{CartId, CheckoutPolicy, Item, ItemId, Price, PriceChange, Quantity, UserId};

/// A cart holds at most this many distinct items, so that its purchase (one stock update per
/// line plus the order and the cart itself) fits in one DynamoDB
/// transaction of at most 100 actions with room to spare.
pub const MAX_CART_LINES: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CartLine {
    pub item_id: ItemId,
    pub name: String,
    pub quantity: u64,
    /// The item's price when it was last added (or, held, the price held): a purchase charges
    /// it only if it is still the item's price, or the hold is live.
    pub unit_price: Price,
    /// Units this line took from the item's available stock (`hold` policy): all of
    /// `quantity` while the hold is live; still out of stock after it expired, until the sweep
    /// (or a change of the line) gives them back. Always 0 under `latest`.
    #[serde(skip)]
    pub held: u64,
    /// Until when (Unix seconds) the hold keeps the units and the price; `None` without one.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rfc3339")]
    pub held_until: Option<i64>,
}

impl CartLine {
    pub fn subtotal(&self) -> u64 {
        self.quantity.saturating_mul(self.unit_price.get())
    }

    /// The hold still keeps the line's units and price at `now` (it ends at `held_until`).
    pub fn hold_live(&self, now: i64) -> bool {
        self.held > 0 && self.held_until.is_some_and(|until| now < until)
    }
}

fn rfc3339<S: Serializer>(until: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    let at = until.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
    let text = at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    s.serialize_str(&text.unwrap_or_default())
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
    /// unkeyed add of the `latest` policy in `store::carts`): at most [`MAX_CART_LINES`] lines,
    /// and a line never holds more than the item's available stock. Under `hold`, see
    /// [`Cart::with_quantity`].
    pub fn with_added(
        &self,
        item: &Item,
        quantity: Quantity,
        policy: CheckoutPolicy,
        now: i64,
    ) -> Result<Cart, AddRefusal> {
        let in_cart = self.line(item.id).map_or(0, |l| l.quantity);
        self.with_quantity(item, in_cart + u64::from(quantity.get()), policy, now)
            .map_err(|refusal| match refusal {
                AddRefusal::InsufficientStock { available, .. } => {
                    AddRefusal::InsufficientStock { in_cart, available }
                }
                other => other,
            })
    }

    /// The cart with `quantity` units of `item` on its line (0 removes it).
    ///
    /// `latest`: the line is at the item's current price, and the quantity must fit the
    /// available stock. `hold`: the line takes from the available stock the units it does not
    /// hold yet (and gives back what it no longer needs), and holds all of them until
    /// `now + seconds` at the price of this moment, at most `max_per_item`. A live hold at
    /// another price than today's is not moved to today's: the change is refused (remove the
    /// line, or let the hold expire, to hold at today's price). Lowering the quantity gives the
    /// difference back and keeps the hold's time.
    pub fn with_quantity(
        &self,
        item: &Item,
        quantity: u64,
        policy: CheckoutPolicy,
        now: i64,
    ) -> Result<Cart, AddRefusal> {
        let existing = self.line(item.id);
        if quantity == 0 {
            return Ok(self.without(item.id).unwrap_or_else(|| self.clone()));
        }
        if existing.is_none() && self.lines.len() >= MAX_CART_LINES {
            return Err(AddRefusal::CartFull);
        }
        let held = existing.map_or(0, |l| l.held);
        let in_cart = existing.map_or(0, |l| l.quantity);
        let mut line = CartLine {
            item_id: item.id,
            name: item.name.clone(),
            quantity,
            unit_price: item.price,
            held: 0,
            held_until: None,
        };
        match policy {
            CheckoutPolicy::Latest => {
                if quantity > item.stock.get() {
                    let available = item.stock.get();
                    return Err(AddRefusal::InsufficientStock { in_cart, available });
                }
            }
            CheckoutPolicy::Hold {
                seconds,
                max_per_item,
            } => {
                if quantity > max_per_item {
                    return Err(AddRefusal::HoldLimit {
                        limit: max_per_item,
                    });
                }
                let live = existing.filter(|l| l.hold_live(now));
                if let Some(live) = live.filter(|l| l.unit_price != item.price) {
                    if quantity > live.quantity {
                        return Err(AddRefusal::HeldAtAnotherPrice {
                            held: live.unit_price,
                            now: item.price,
                        });
                    }
                    // Fewer units at the held price, until the same time.
                    line.unit_price = live.unit_price;
                    line.name = live.name.clone();
                }
                // Units this line does not hold yet come out of the available stock.
                if quantity > held && quantity - held > item.stock.get() {
                    let available = item.stock.get() + held;
                    return Err(AddRefusal::InsufficientStock { in_cart, available });
                }
                line.held = quantity;
                line.held_until = match live {
                    Some(live) if quantity <= live.quantity => live.held_until,
                    _ => Some(now + seconds),
                };
            }
        }
        let mut after = self.next();
        match after.lines.iter_mut().find(|l| l.item_id == item.id) {
            Some(existing) => *existing = line,
            None => after.lines.push(line),
        }
        Ok(after)
    }

    /// The cart without `item`'s line (its held units go back to the stock), or `None` when it
    /// holds none.
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

    /// The cart with the units of every expired hold given back (the sweep), or `None` when it
    /// has none to give. The lines stay, at their price, their holds ended: a purchase then needs
    /// the stock and the price again.
    pub fn released(&self, now: i64) -> Option<Cart> {
        let expired = |l: &CartLine| l.held > 0 && !l.hold_live(now);
        if !self.lines.iter().any(expired) {
            return None;
        }
        let mut after = self.next();
        for line in after.lines.iter_mut().filter(|l| expired(l)) {
            // `held_until` stays: the line had a hold, which ended then.
            line.held = 0;
        }
        Some(after)
    }

    /// When the first hold this cart still has units of ends: what the sweep looks for.
    pub fn next_expiry(&self) -> Option<i64> {
        let held = self.lines.iter().filter(|l| l.held > 0);
        held.filter_map(|l| l.held_until).min()
    }

    /// The units that go from the available stock into `after`'s lines (positive) or back
    /// (negative), by item: the difference of what the lines hold.
    pub fn stock_moves(&self, after: &Cart) -> Vec<(ItemId, i64)> {
        let held = |cart: &Cart, item: ItemId| cart.line(item).map_or(0, |l| l.held as i64);
        let mut items: Vec<ItemId> = self
            .lines
            .iter()
            .chain(&after.lines)
            .map(|l| l.item_id)
            .collect();
        items.sort();
        items.dedup();
        items
            .into_iter()
            .map(|item| (item, held(after, item) - held(self, item)))
            .filter(|(_, taken)| *taken != 0)
            .collect()
    }

    /// The same cart, one version on: what every change starts from.
    fn next(&self) -> Cart {
        Cart {
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Why an add (or a new quantity) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddRefusal {
    CartFull,
    /// The cart already holds `in_cart` units, and the quantity asked for exceeds the
    /// `available` units the line can have: the item's available stock, plus what the line
    /// holds already (`hold`).
    InsufficientStock {
        in_cart: u64,
        available: u64,
    },
    /// `hold`: a user holds at most `limit` units of an item.
    HoldLimit {
        limit: u64,
    },
    /// `hold`: the line's live hold is at `held`, the item is now at `now`; more units are not
    /// held at either price while it lasts.
    HeldAtAnotherPrice {
        held: Price,
        now: Price,
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

    const LATEST: CheckoutPolicy = CheckoutPolicy::Latest;
    const HOLD: CheckoutPolicy = CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10,
    };

    #[test]
    fn the_rules_of_holding_one_row_each() {
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 0,
        };
        // Two units held at 100 at t=1000 (until 1900).
        let held = empty
            .with_quantity(&item(1, 100, 5), 2, HOLD, 1000)
            .unwrap();
        let moves = |before: &Cart, after: &Cart| before.stock_moves(after);
        assert_eq!(moves(&empty, &held), [(ItemId::new(1).unwrap(), 2)]);
        // (case, cart, item as it is now, quantity, time, line after: quantity, price, held,
        //  until; or the refusal) -- the stock of `item` is what is still available.
        type Row<'a> = (
            &'a str,
            &'a Cart,
            Item,
            u64,
            i64,
            Result<(u64, u64, u64, i64), AddRefusal>,
        );
        let rows: Vec<Row> = vec![
            (
                "more units extend the whole line",
                &held,
                item(1, 100, 3),
                5,
                1500,
                Ok((5, 100, 5, 2400)),
            ),
            (
                "fewer units keep the hold's time",
                &held,
                item(1, 100, 3),
                1,
                1500,
                Ok((1, 100, 1, 1900)),
            ),
            (
                "fewer units keep a held price that moved",
                &held,
                item(1, 120, 3),
                1,
                1500,
                Ok((1, 100, 1, 1900)),
            ),
            (
                "more units while the hold is at another price",
                &held,
                item(1, 120, 3),
                3,
                1500,
                Err(AddRefusal::HeldAtAnotherPrice {
                    held: Price::new(100).unwrap(),
                    now: Price::new(120).unwrap(),
                }),
            ),
            (
                "an expired hold holds again at today's price",
                &held,
                item(1, 120, 0),
                2,
                1900,
                Ok((2, 120, 2, 2800)),
            ),
            (
                "an expired hold takes only what it lacks",
                &held,
                item(1, 120, 1),
                3,
                2000,
                Ok((3, 120, 3, 2900)),
            ),
            (
                "more than the stock",
                &held,
                item(1, 100, 2),
                5,
                1500,
                Err(AddRefusal::InsufficientStock {
                    in_cart: 2,
                    available: 4,
                }),
            ),
            (
                "past the cap per user",
                &empty,
                item(1, 100, 50),
                11,
                1000,
                Err(AddRefusal::HoldLimit { limit: 10 }),
            ),
        ];
        for (case, cart, item, quantity, now, expected) in rows {
            let got = cart.with_quantity(&item, quantity, HOLD, now).map(|after| {
                let line = after.line(item.id).unwrap();
                let until = line.held_until.unwrap();
                (line.quantity, line.unit_price.get(), line.held, until)
            });
            assert_eq!(got, expected, "{case}");
        }
        // Removing gives the held units back; the sweep gives back only expired holds.
        assert_eq!(
            moves(&held, &held.without(ItemId::new(1).unwrap()).unwrap()),
            [(ItemId::new(1).unwrap(), -2)]
        );
        assert_eq!(held.released(1899), None, "a live hold is never released");
        let swept = held.released(1900).unwrap();
        assert_eq!(moves(&held, &swept), [(ItemId::new(1).unwrap(), -2)]);
        assert_eq!((swept.lines[0].quantity, swept.next_expiry()), (2, None));
        assert_eq!(held.next_expiry(), Some(1900));
    }

    #[test]
    fn the_rules_of_adding_one_row_each() {
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 4,
        };
        let two = empty
            .with_added(&item(1, 100, 5), quantity(2), LATEST, 0)
            .unwrap();
        let full = (1..=MAX_CART_LINES as u64).fold(empty.clone(), |cart, id| {
            cart.with_added(&item(id, 1, 1), quantity(1), LATEST, 0)
                .unwrap()
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
                Err(AddRefusal::InsufficientStock {
                    in_cart: 2,
                    available: 5,
                }),
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
            let got = cart.with_added(&item, quantity(n), LATEST, 0).map(|after| {
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
            held: 0,
            held_until: None,
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
