//! A shopper's cart.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{CartId, CheckoutPolicy, Discount, Item, ItemId, Price, PriceChange, Quantity, UserId};

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
    /// The item's `max_per_customer` when the line last read the item: the purchase checks the
    /// limit as it is then, and counts what it buys of a limited item (`CartHistory::bought`).
    #[serde(skip)]
    pub limit: Option<u64>,
    /// The rows the item's stock was split over when the line last read it (1: not split): a
    /// purchase takes the line's units from one of them (`domain::shards`).
    #[serde(skip)]
    pub shards: u32,
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
    s.serialize_str(&until.map(super::rfc3339).unwrap_or_default())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cart {
    pub id: CartId,
    /// Lines in the order their items were first added.
    pub lines: Vec<CartLine>,
    /// Bumped by every change: a purchase only commits against the version it read.
    pub version: u64,
    /// What the cart keeps of its user beyond its lines.
    pub history: CartHistory,
    /// The discount code put on the cart, with its terms as they were then: the purchase
    /// applies it only if they are still the code's (its version), so the code's terms are
    /// read with the cart (`domain::discount`).
    pub discount: Option<Box<Discount>>,
}

/// What a cart remembers of its user beyond its lines, so that limits bind one customer and not
/// one line: when the user's hold window on each item began (`hold`: kept when the line is
/// removed), and how many units of each limited item the user bought (kept across purchases).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CartHistory {
    /// `hold`: when the user's current hold window on an item began (its first hold).
    pub hold_began: BTreeMap<ItemId, i64>,
    /// Units bought, all purchases together, of items that had a `max_per_customer`.
    pub bought: BTreeMap<ItemId, u64>,
}

impl CartHistory {
    /// Units of `item` bought so far (counted while the item had a limit).
    pub fn bought(&self, item: ItemId) -> u64 {
        self.bought.get(&item).copied().unwrap_or(0)
    }
}

impl Cart {
    pub fn user_id(&self) -> &UserId {
        self.id.owner()
    }

    /// The lines' prices times their quantities. Below 2^53-1 for every cart the API lets
    /// exist (see `Price::ITEM_MAX`); saturating all the same, so no stored data can make it
    /// panic.
    pub fn subtotal(&self) -> u64 {
        self.lines
            .iter()
            .map(CartLine::subtotal)
            .fold(0, u64::saturating_add)
    }

    /// What the cart's code takes off its subtotal now: nothing below the code's
    /// `min_subtotal` (the purchase would refuse it; the code's other terms are checked at the
    /// purchase, at its second).
    pub fn discount_amount(&self) -> u64 {
        let subtotal = self.subtotal();
        let code = self.discount.as_deref();
        let met = |d: &&Discount| d.min_subtotal.is_none_or(|min| subtotal >= min);
        code.filter(met).map_or(0, |d| d.amount(subtotal))
    }

    /// What the customer pays: the subtotal less the discount, never below zero.
    pub fn total(&self) -> u64 {
        self.subtotal().saturating_sub(self.discount_amount())
    }

    /// The cart's code as the cart shows it: `{"code", "amount", "min_subtotal"}`, or `null`.
    fn discount_shown(&self) -> Option<serde_json::Value> {
        let d = self.discount.as_ref()?;
        Some(serde_json::json!({
            "code": d.code,
            "amount": self.discount_amount(),
            "min_subtotal": d.min_subtotal,
        }))
    }

    /// The cart with `code` on it (or none), one version on.
    pub fn with_discount(&self, code: Option<Discount>) -> Cart {
        Cart {
            discount: code.map(Box::new),
            ..self.next()
        }
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
    /// Both policies: with what the user bought of it, the line never passes the item's
    /// `max_per_customer`. `latest`: the line is at the item's current price, and the quantity
    /// must fit the available stock. `hold`: the line holds all its units until
    /// `now + seconds` at the price of this moment, at most `max_per_item`, taking from the
    /// available stock the units its live hold does not have yet (an ended hold's units are
    /// nobody's: a renewal needs them available, as a new buyer would) and giving back what it
    /// no longer needs. A user holds an item for at most `max_seconds` from the first hold of
    /// the window (no hold outlives it; removing the line does not restart it); after that the
    /// item cannot be held again until the window has cooled down as long: buy the line or
    /// remove it. A live hold at another price than today's is not moved to today's: the change
    /// is refused (remove the line, or let the hold end, to hold at today's price). Lowering
    /// the quantity of a live hold gives the difference back and keeps the hold's time.
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
        let in_cart = existing.map_or(0, |l| l.quantity);
        let limit = item.max_per_customer.map(|max| u64::from(max.get()));
        let bought = self.history.bought(item.id);
        if let Some(limit) = limit.filter(|limit| quantity + bought > *limit) {
            let requested = quantity;
            return Err(AddRefusal::CustomerLimit {
                limit,
                bought,
                requested,
            });
        }
        let mut after = self.next();
        let mut line = CartLine {
            item_id: item.id,
            name: item.name.clone(),
            quantity,
            unit_price: item.price,
            held: 0,
            held_until: None,
            limit,
            shards: item.shards,
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
                max_seconds,
            } => {
                if quantity > max_per_item {
                    return Err(AddRefusal::HoldLimit {
                        limit: max_per_item,
                    });
                }
                let began = match self.history.hold_began.get(&item.id) {
                    Some(&began) if now < began + max_seconds => began,
                    Some(&began) if now < began + 2 * max_seconds => {
                        return Err(AddRefusal::HoldTimeUsed {
                            ended: began + max_seconds,
                            again: began + 2 * max_seconds,
                        });
                    }
                    _ => now,
                };
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
                // Units the live hold does not have come out of the available stock.
                let held = live.map_or(0, |l| l.held);
                if quantity > held && quantity - held > item.stock.get() {
                    let available = item.stock.get() + held;
                    return Err(AddRefusal::InsufficientStock { in_cart, available });
                }
                line.held = quantity;
                line.held_until = match live {
                    Some(live) if quantity <= live.quantity => live.held_until,
                    _ => Some((now + seconds).min(began + max_seconds)),
                };
                // Windows that have cooled down are forgotten.
                let windows = &mut after.history.hold_began;
                windows.retain(|_, began| now < *began + 2 * max_seconds);
                windows.insert(item.id, began);
            }
        }
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

    /// What a change from this cart to `after` at `now` does to each item's available stock:
    /// the units that go from it into the lines (positive) or back (negative), the difference
    /// of what the lines hold; and the condition the item must meet when a live hold takes more
    /// than the line's live hold had (see [`StockMove`]).
    pub fn stock_moves(&self, after: &Cart, now: i64) -> Vec<StockMove> {
        let held = |cart: &Cart, item: ItemId| cart.line(item).map_or(0, |l| l.held);
        let live = |cart: &Cart, item: ItemId| {
            let line = cart.line(item).filter(|l| l.hold_live(now));
            line.map_or(0, |l| l.held)
        };
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
            .map(|item| {
                let line = after.line(item);
                StockMove {
                    item,
                    taken: held(after, item) as i64 - held(self, item) as i64,
                    needs: live(after, item).saturating_sub(live(self, item)),
                    limit: line.and_then(|l| l.limit),
                    total: line.map_or(0, |l| l.quantity) + after.history.bought(item),
                    shards: (line.or_else(|| self.line(item))).map_or(1, |l| l.shards),
                }
            })
            .filter(|m| m.taken != 0 || m.needs > 0)
            .collect()
    }

    /// What a purchase leaves of the user's history: the units of limited items it buys are
    /// counted, and the hold windows end with the lines they held.
    pub fn history_after_purchase(&self) -> CartHistory {
        let mut bought = self.history.bought.clone();
        for line in self.lines.iter().filter(|l| l.limit.is_some()) {
            *bought.entry(line.item_id).or_insert(0) += line.quantity;
        }
        CartHistory {
            hold_began: BTreeMap::new(),
            bought,
        }
    }

    /// The cart with the current `max_per_customer` of the items named (a limit set since the
    /// line read its item, which the purchase found).
    pub fn relimited(&self, limits: &[(ItemId, u64)]) -> Cart {
        let mut after = self.next();
        for line in &mut after.lines {
            if let Some((_, limit)) = limits.iter().find(|(item, _)| *item == line.item_id) {
                line.limit = Some(*limit);
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
    /// The item's `max_per_customer` is `limit`, the user bought `bought` already, and the line
    /// would hold `requested`.
    CustomerLimit {
        limit: u64,
        bought: u64,
        requested: u64,
    },
    /// `hold`: the user held the item for the longest a hold may last, until `ended` (Unix
    /// seconds); it cannot be held again before `again`. Buy the line or remove it.
    HoldTimeUsed {
        ended: i64,
        again: i64,
    },
}

/// One item's part in a cart change (`Cart::stock_moves`): `taken` units out of its available
/// stock (negative: back), if it has `needs` units available (what the lines take beyond what
/// their live holds had: an ended hold's units are not theirs any more) and, when units are
/// needed, the customer's `total` (what their line holds and what they bought) within the
/// item's `max_per_customer`, which the line saw as `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StockMove {
    pub item: ItemId,
    pub taken: i64,
    pub needs: u64,
    pub limit: Option<u64>,
    pub total: u64,
    /// The rows the item's stock is split over, as the line knows it (1: not split).
    pub shards: u32,
}

/// `{"id", "user_id", "items": [item_id...], "lines": [...], "total", "version"}`: `items`
/// keeps the original API's shape, `lines` and `total` are what a client needs to show the
/// cart, `version` what a purchase's `If-Match` names (the cart's `ETag`).
impl Serialize for Cart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<ItemId> = self.lines.iter().map(|l| l.item_id).collect();
        let mut cart = s.serialize_struct("Cart", 8)?;
        cart.serialize_field("id", &self.id)?;
        cart.serialize_field("user_id", self.user_id())?;
        cart.serialize_field("items", &items)?;
        cart.serialize_field("lines", &self.lines)?;
        cart.serialize_field("subtotal", &self.subtotal())?;
        cart.serialize_field("discount", &self.discount_shown())?;
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
            max_per_customer: None,
            shards: 1,
        }
    }

    /// An item with a limit per customer.
    fn limited(id: u64, price: u64, stock: u64, max: u64) -> Item {
        Item {
            max_per_customer: Quantity::new(max),
            ..item(id, price, stock)
        }
    }

    fn quantity(n: u64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    const LATEST: CheckoutPolicy = CheckoutPolicy::Latest;
    const HOLD: CheckoutPolicy = CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10,
        max_seconds: 1800,
    };

    #[test]
    fn the_rules_of_holding_one_row_each() {
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 0,
            history: CartHistory::default(),
            discount: None,
        };
        // Two units held at 100 at t=1000 (until 1900).
        let held = empty
            .with_quantity(&item(1, 100, 5), 2, HOLD, 1000)
            .unwrap();
        let moves = |before: &Cart, after: &Cart, now: i64| -> Vec<(ItemId, i64, u64)> {
            let moves = before.stock_moves(after, now).into_iter();
            moves.map(|m| (m.item, m.taken, m.needs)).collect()
        };
        let one = ItemId::new(1).unwrap();
        assert_eq!(moves(&empty, &held, 1000), [(one, 2, 2)]);
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
                "an ended hold holds again at today's price, if its units are available",
                &held,
                item(1, 120, 2),
                2,
                1900,
                Ok((2, 120, 2, 2800)),
            ),
            (
                "an ended hold's units are nobody's: holding again needs them available",
                &held,
                item(1, 120, 0),
                2,
                1900,
                Err(AddRefusal::InsufficientStock {
                    in_cart: 2,
                    available: 0,
                }),
            ),
            (
                "no hold outlives the first hold's window",
                &held,
                item(1, 120, 3),
                3,
                2000,
                Ok((3, 120, 3, 2800)),
            ),
            (
                "past the window nothing renews the hold",
                &held,
                item(1, 100, 50),
                2,
                2800,
                Err(AddRefusal::HoldTimeUsed {
                    ended: 2800,
                    again: 4600,
                }),
            ),
            (
                "once the window has cooled down as long, a new one begins",
                &held,
                item(1, 100, 50),
                2,
                4600,
                Ok((2, 100, 2, 5500)),
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
        let removed = held.without(one).unwrap();
        assert_eq!(moves(&held, &removed, 1500), [(one, -2, 0)]);
        assert_eq!(held.released(1899), None, "a live hold is never released");
        let swept = held.released(1900).unwrap();
        assert_eq!(moves(&held, &swept, 1900), [(one, -2, 0)]);
        // Holding again after the hold ended, before the sweep: no stock moves, but the units
        // must be available to a new buyer.
        let renewed = held.with_quantity(&item(1, 100, 2), 2, HOLD, 2000).unwrap();
        assert_eq!(moves(&held, &renewed, 2000), [(one, 0, 2)]);
        // Removing the line does not start the window again.
        let again = removed.with_quantity(&item(1, 100, 5), 1, HOLD, 2800);
        assert!(matches!(again, Err(AddRefusal::HoldTimeUsed { .. })));
        assert_eq!((swept.lines[0].quantity, swept.next_expiry()), (2, None));
        assert_eq!(held.next_expiry(), Some(1900));
    }

    #[test]
    fn a_customers_limit_counts_what_they_hold_and_what_they_bought_before() {
        let one = ItemId::new(1).unwrap();
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 0,
            history: CartHistory::default(),
            discount: None,
        };
        let max_three = limited(1, 100, 50, 3);
        for policy in [LATEST, HOLD] {
            let add = |cart: &Cart, n| cart.with_added(&max_three, quantity(n), policy, 1000);
            assert!(add(&empty, 3).is_ok(), "{policy:?}");
            assert_eq!(
                add(&empty, 4),
                Err(AddRefusal::CustomerLimit {
                    limit: 3,
                    bought: 0,
                    requested: 4
                })
            );
            let mut bought_two = empty.clone();
            bought_two.history.bought.insert(one, 2);
            assert_eq!(
                add(&bought_two, 2),
                Err(AddRefusal::CustomerLimit {
                    limit: 3,
                    bought: 2,
                    requested: 2
                })
            );
            let cart = add(&bought_two, 1).unwrap();
            assert_eq!(cart.line(one).unwrap().limit, Some(3));
            // A purchase counts the units of limited items, and ends the hold windows.
            let after = cart.history_after_purchase();
            assert_eq!(after.bought(one), 3);
            assert!(after.hold_began.is_empty());
            // A hold's move asks the item to keep the customer's total within its limit.
            if policy.holds() {
                let moved = bought_two.stock_moves(&cart, 1000);
                assert_eq!((moved[0].limit, moved[0].total), (Some(3), 3));
            }
        }
        // Items without a limit are not counted.
        let free = empty
            .with_added(&item(2, 10, 9), quantity(5), LATEST, 0)
            .unwrap();
        assert!(free.history_after_purchase().bought.is_empty());
    }

    #[test]
    fn the_rules_of_adding_one_row_each() {
        let empty = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![],
            version: 4,
            history: CartHistory::default(),
            discount: None,
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
            limit: None,
            shards: 1,
        };
        let cart = Cart {
            id: CartId::generate(UserId::parse("7").unwrap()),
            lines: vec![line(1, 2, 869), line(3, 1, 1470)],
            version: 3,
            history: CartHistory::default(),
            discount: None,
        };
        let json = serde_json::to_value(&cart).unwrap();
        assert_eq!(json["total"], 2 * 869 + 1470);
        assert_eq!(json["items"], serde_json::json!([1, 3]));
        assert_eq!(json["user_id"], "7");
    }
}
