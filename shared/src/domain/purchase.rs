//! The purchase rule, in one place and without I/O: what a first read of the key and the cart
//! leads to, the order a cart becomes, and the verdict on a cancelled purchase transaction.
//! (What a key is and how long it binds: `domain::idempotency`.)
//!
//! The I/O around it lives in `store::purchase` (one read, one `TransactWriteItems`, decoding
//! the cancellation reasons into a [`Rejection`]) and in the `purchase-cart` handler, which
//! loops over [`first_look`] and [`verdict`] and maps each step to an answer.

use serde::Serialize;
use serde_json::json;

use std::collections::BTreeMap;

use super::shards::{blind_take, planned_take, Stocking, Takes};
use super::{
    Cart, CartId, CartLine, Discount, ItemId, NotApplicable, Order, OrderDiscount, OrderId,
    OrderLine, OrderStatus, Receipt, UserId,
};

/// A line that cannot be bought in the quantity asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub item_id: ItemId,
    pub requested: u64,
    /// What the line can have: the available stock, and what the line still holds.
    pub available: u64,
    /// `hold`: the line's hold had expired, so it needed the stock again.
    #[serde(skip_serializing_if = "is_false")]
    pub hold_expired: bool,
}

/// A line whose price changed since it was added to the cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    pub item_id: ItemId,
    pub cart_price: u64,
    pub current_price: u64,
    /// `hold`: the line's hold had expired, so it was priced again.
    #[serde(skip_serializing_if = "is_false")]
    pub hold_expired: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// What the purchase transaction asks of a line's item: `None` for a line whose live hold has
/// all its units (already out of the available stock, its price held: nothing to check), else
/// the units to take from the available stock (what the line does not hold; 0 or less when an
/// ended hold still has them), at the line's price.
pub fn stock_needed(line: &CartLine, now: i64) -> Option<i64> {
    let held_whole = line.hold_live(now) && line.held >= line.quantity;
    (!held_whole).then(|| line.quantity as i64 - line.held as i64)
}

/// What the first read (the key's order, as its receipt, and the user's cart) leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstLook {
    /// The key already bought something: answer what it answered (or 422 for another cart).
    Replay(Receipt),
    /// No such cart for this user.
    CartNotFound,
    /// The cart is empty. A purchase with this very key may have committed between the two
    /// reads of the one `BatchGetItem` (it is not a snapshot): read the key again before
    /// answering `cart_empty`.
    CartEmpty,
    /// The cart is no longer the version the client saw (`If-Match`): answer `412` with it.
    Stale(Cart),
    /// Buy this cart.
    Buy(Cart),
}

/// The key is resolved first (it may answer a purchase already made), then the cart must be
/// the user's, be the one named, be the version the client saw if it said (`If-Match`), and
/// hold something.
pub fn first_look(
    receipt: Option<Receipt>,
    cart: Option<Cart>,
    cart_id: &CartId,
    user: &UserId,
    seen: Option<u64>,
) -> FirstLook {
    if let Some(receipt) = receipt {
        return FirstLook::Replay(receipt);
    }
    if cart_id.owner() != user {
        return FirstLook::CartNotFound;
    }
    match cart.filter(|cart| cart.id == *cart_id) {
        None => FirstLook::CartNotFound,
        Some(cart) if seen.is_some_and(|version| version != cart.version) => FirstLook::Stale(cart),
        Some(cart) if cart.is_empty() => FirstLook::CartEmpty,
        Some(cart) => FirstLook::Buy(cart),
    }
}

/// The order a cart becomes: every line at the cart's price; `placed`, or `pending_payment`
/// until `payment_due_by` when the shop takes payments (`PAYMENT_MODE=external`).
pub fn order_for(
    cart: &Cart,
    id: OrderId,
    created_at: String,
    payment_due_by: Option<i64>,
) -> Order {
    let status = match payment_due_by {
        Some(_) => OrderStatus::PendingPayment,
        None => OrderStatus::Placed,
    };
    Order {
        id,
        cart_id: cart.id.clone(),
        user_id: cart.user_id().clone(),
        lines: cart
            .lines
            .iter()
            .map(|l| OrderLine {
                item_id: l.item_id,
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
        subtotal: cart.subtotal(),
        discount: cart.discount.as_ref().map(|d| OrderDiscount {
            code: d.code.clone(),
            amount: d.amount(cart.subtotal()),
            per_customer: d.max_uses_per_customer.is_some(),
        }),
        total: cart.total(),
        created_at,
        status,
        version: 0,
        payment_due_by,
        refund_due: false,
        payment_reference: None,
    }
}

/// The body of a purchase's `200`: the lines bought (`response`, as the original API answered)
/// and the order as the purchase made it. The order is the key's record: a replay answers this
/// again, rebuilt from the stored order (whatever happened to it since), byte for byte.
pub fn bought(order: &Order) -> String {
    let order = &order.as_placed();
    json!({
        "response": order.lines.iter()
            .map(|l| json!({ "item": l.item_id, "quantity": l.quantity }))
            .collect::<Vec<_>>(),
        "order": order,
    })
    .to_string()
}

/// What the key that bought `order` answers again; `request` is the fingerprint it bound.
pub fn receipt_of(order: &Order, request: &str) -> Receipt {
    Receipt {
        request: request.to_owned(),
        status: 200,
        body: bought(order),
        version: None,
    }
}

/// Why a line could not be bought: its item as the failed condition saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRejection {
    pub item_id: ItemId,
    pub requested: u64,
    /// Units the line still held (an expired hold not given back yet).
    pub held: u64,
    /// The line had a hold, expired.
    pub hold_expired: bool,
    pub cart_price: u64,
    /// `(price, stock)` now, or `None` when the item no longer exists.
    pub current: Option<(u64, u64)>,
    /// The item's `max_per_customer` now.
    pub current_limit: Option<u64>,
    /// The limit the line saw when it read its item (`CartLine::limit`).
    pub limit: Option<u64>,
    /// Units of the item the customer bought before.
    pub bought: u64,
    /// The failed condition saw one row of an item split over shards (or a row that is gone),
    /// so `current`'s stock is not the item's: read all of its rows before saying it is short.
    pub partial: bool,
}

/// Why the purchase transaction was cancelled, as its cancellation reasons tell it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejection {
    /// The lines whose stock or price condition failed.
    pub lines: Vec<LineRejection>,
    /// The key was taken meanwhile (a concurrent submit won): its receipt.
    pub taken_by: Option<Receipt>,
    /// The cart changed since it was read.
    pub cart_changed: bool,
    /// The cart's discount code failed its condition.
    pub discount: Option<CodeRejection>,
}

/// Which of the cart's code's conditions failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeRejection {
    /// The code's own (its terms' version, active, its window, `max_uses`): the code as it is
    /// now, `None` when there is no such code.
    Code(Option<Discount>),
    /// The customer's uses were at `max_uses_per_customer`.
    Customer,
}

/// What a failed code calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeVerdict {
    /// Answer `409 discount_not_applicable` with this reason; the cart keeps its code.
    Refuse(NotApplicable),
    /// The code's terms changed: put them on the cart, then buy again (`None`) or answer the
    /// reason (they no longer apply, or take off another amount: `changed`).
    Renew(Discount, Option<NotApplicable>),
}

/// What the cart's code calls for when its condition failed at `now`.
pub fn code_verdict(cart: &Cart, rejection: &CodeRejection, now: i64) -> CodeVerdict {
    let subtotal = cart.subtotal();
    let held = cart.discount.as_ref();
    match rejection {
        CodeRejection::Customer => CodeVerdict::Refuse(NotApplicable::CustomerLimitReached),
        CodeRejection::Code(None) => CodeVerdict::Refuse(NotApplicable::Inactive),
        CodeRejection::Code(Some(code)) if held.is_some_and(|h| h.version != code.version) => {
            let before = held.map_or(0, |h| h.amount(subtotal));
            let reason = match code.check(subtotal, now, 0) {
                Err(why) => Some(why),
                Ok(()) if code.amount(subtotal) != before => Some(NotApplicable::Changed),
                Ok(()) => None,
            };
            CodeVerdict::Renew(code.clone(), reason)
        }
        CodeRejection::Code(Some(code)) => CodeVerdict::Refuse(
            (code.check(subtotal, now, 0).err()).unwrap_or(NotApplicable::Exhausted),
        ),
    }
}

/// A line that would take the customer past the item's `max_per_customer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimitReached {
    pub item_id: ItemId,
    pub limit: u64,
    /// What the customer bought of it before.
    pub bought: u64,
    pub requested: u64,
}

/// What a cancelled purchase calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A concurrent submit with this key won: answer what it answered.
    Replay(Receipt),
    /// The cart changed between the read and the transaction: read it again.
    ReadCartAgain,
    /// Prices changed: put the current prices into the cart and answer `price_changed`.
    Reprice(Vec<PriceChange>),
    /// The customer would pass an item's limit: answer `customer_limit`.
    CustomerLimit(Vec<LimitReached>),
    /// An item has a limit its line did not know (set since the line read it), which the
    /// purchase fits: let the cart know it, and read it again.
    Relimit(Vec<(ItemId, u64)>),
    /// Not enough stock (or the item is gone): answer `insufficient_stock`.
    InsufficientStock(Vec<Shortfall>),
    /// The cart's code failed its condition: see [`code_verdict`].
    Code(CodeRejection),
    /// A line of an item split over shards found its row short (the rows of the rejection that
    /// are `partial`): read all the rows of their items, then [`replan`].
    ReadStock(Vec<LineRejection>),
    /// Cancelled, but no reason names a line, the key or the cart: a bug.
    Unexplained,
}

/// The verdict, in order of precedence: the key's winner, then a changed cart, then changed
/// prices (a price change is told even when the stock is short too: the user decides again at
/// the new price), then a customer limit passed (or one the cart must learn), then short stock.
pub fn verdict(rejection: Rejection) -> Verdict {
    if let Some(receipt) = rejection.taken_by {
        return Verdict::Replay(receipt);
    }
    if rejection.cart_changed {
        return Verdict::ReadCartAgain;
    }
    if let Some(code) = rejection.discount {
        return Verdict::Code(code);
    }
    let changed: Vec<PriceChange> = rejection
        .lines
        .iter()
        .filter_map(|line| {
            let (price, _) = line.current?;
            (price != line.cart_price).then_some(PriceChange {
                item_id: line.item_id,
                cart_price: line.cart_price,
                current_price: price,
                hold_expired: line.hold_expired,
            })
        })
        .collect();
    if !changed.is_empty() {
        return Verdict::Reprice(changed);
    }
    let (mut reached, mut relimit) = (vec![], vec![]);
    let limited = rejection.lines.iter();
    for (line, limit) in limited.filter_map(|l| Some((l, l.current_limit?))) {
        if line.requested + line.bought > limit {
            reached.push(LimitReached {
                item_id: line.item_id,
                limit,
                bought: line.bought,
                requested: line.requested,
            });
        } else if line.limit.is_none() {
            relimit.push((line.item_id, limit));
        }
    }
    if !reached.is_empty() {
        return Verdict::CustomerLimit(reached);
    }
    if !relimit.is_empty() {
        return Verdict::Relimit(relimit);
    }
    if rejection.lines.iter().any(|line| line.partial) {
        return Verdict::ReadStock(rejection.lines);
    }
    let short: Vec<Shortfall> = rejection
        .lines
        .iter()
        .map(|line| Shortfall {
            item_id: line.item_id,
            requested: line.requested,
            available: line.current.map_or(0, |(_, stock)| stock) + line.held,
            hold_expired: line.hold_expired,
        })
        .collect();
    if short.is_empty() {
        Verdict::Unexplained
    } else {
        Verdict::InsufficientStock(short)
    }
}

/// The first try of every line that asks its item for units (see [`stock_needed`]): a line of an
/// item that is not split takes from the item's row as always; a split one from one of its shards
/// picked at random (`shards::blind_take`), before anything is read, leaving out the shards
/// `short` names (item, shards, units needed: the shards seen short of them lately).
pub fn first_takes(
    cart: &Cart,
    now: i64,
    short: impl Fn(ItemId, u32, u64) -> Vec<u32>,
    rng: &mut fastrand::Rng,
) -> Takes {
    let asking = cart
        .lines
        .iter()
        .filter_map(|l| Some((l, stock_needed(l, now)?)));
    asking
        .map(|(line, need)| {
            let needs = need.max(0) as u64;
            let short = short(line.item_id, line.shards, needs);
            let take = blind_take(line.shards, need, needs, &short, rng);
            (line.item_id, vec![take])
        })
        .collect()
}

/// The takes that buy the lines of `ReadStock` now that their items' rows are read (`stock`,
/// by item): a line whose row was short takes its units from rows that have them
/// (`shards::planned_take`). Or every line that is short for real: a line whose whole item is
/// short, and a line whose condition saw the whole item already (an item not split); none is
/// answered short while all its rows together have its units.
pub fn replan(
    lines: &[LineRejection],
    stock: &BTreeMap<ItemId, Stocking>,
    rng: &mut fastrand::Rng,
) -> Result<Takes, Vec<Shortfall>> {
    let (mut takes, mut short) = (Takes::new(), Vec::new());
    for line in lines {
        let need = line.requested as i64 - line.held as i64;
        let rows = stock.get(&line.item_id).filter(|_| line.partial);
        let planned = rows.and_then(|rows| planned_take(rows, need, need.max(0) as u64, rng));
        match planned {
            Some(planned) => {
                takes.insert(line.item_id, planned);
            }
            None => short.push(Shortfall {
                item_id: line.item_id,
                requested: line.requested,
                available: match rows {
                    Some(rows) => rows.available(),
                    None => line.current.map_or(0, |(_, stock)| stock),
                } + line.held,
                hold_expired: line.hold_expired,
            }),
        }
    }
    match short.is_empty() {
        true => Ok(takes),
        false => Err(short),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartLine, Price};

    fn item(n: u64) -> ItemId {
        ItemId::new(n).unwrap()
    }

    fn receipt(request: &str) -> Receipt {
        Receipt {
            request: request.to_owned(),
            status: 200,
            body: "{}".to_owned(),
            version: None,
        }
    }

    /// A line of `requested` units of item `id` at `cart_price`, seen now at `current`.
    fn line(
        id: u64,
        requested: u64,
        cart_price: u64,
        current: Option<(u64, u64)>,
    ) -> LineRejection {
        LineRejection {
            item_id: item(id),
            requested,
            held: 0,
            hold_expired: false,
            cart_price,
            current,
            current_limit: None,
            limit: None,
            bought: 0,
            partial: false,
        }
    }

    fn short(id: u64, requested: u64, available: u64) -> Shortfall {
        Shortfall {
            item_id: item(id),
            requested,
            available,
            hold_expired: false,
        }
    }

    fn change(id: u64, cart_price: u64, current_price: u64) -> PriceChange {
        PriceChange {
            item_id: item(id),
            cart_price,
            current_price,
            hold_expired: false,
        }
    }

    #[test]
    fn the_verdict_on_every_kind_of_cancellation() {
        let rows: Vec<(&str, Rejection, Verdict)> = vec![
            (
                "a concurrent submit with the key won",
                Rejection {
                    taken_by: Some(receipt("c")),
                    cart_changed: true,
                    discount: None,
                    lines: vec![line(1, 1, 10, Some((10, 0)))],
                },
                Verdict::Replay(receipt("c")),
            ),
            (
                "the cart changed since it was read",
                Rejection {
                    cart_changed: true,
                    discount: None,
                    lines: vec![line(1, 1, 10, Some((12, 5)))],
                    ..Rejection::default()
                },
                Verdict::ReadCartAgain,
            ),
            (
                "one price changed",
                Rejection {
                    lines: vec![line(1, 2, 10, Some((12, 5)))],
                    ..Rejection::default()
                },
                Verdict::Reprice(vec![change(1, 10, 12)]),
            ),
            (
                "a price changed and another line is short: the price change is told",
                Rejection {
                    lines: vec![line(1, 2, 10, Some((12, 5))), line(2, 9, 7, Some((7, 3)))],
                    ..Rejection::default()
                },
                Verdict::Reprice(vec![change(1, 10, 12)]),
            ),
            (
                "stock too low at the same price",
                Rejection {
                    lines: vec![line(1, 5, 10, Some((10, 3)))],
                    ..Rejection::default()
                },
                Verdict::InsufficientStock(vec![short(1, 5, 3)]),
            ),
            (
                "the item no longer exists",
                Rejection {
                    lines: vec![line(4, 1, 10, None)],
                    ..Rejection::default()
                },
                Verdict::InsufficientStock(vec![short(4, 1, 0)]),
            ),
            (
                "two lines short",
                Rejection {
                    lines: vec![line(1, 5, 10, Some((10, 0))), line(2, 2, 3, Some((3, 1)))],
                    ..Rejection::default()
                },
                Verdict::InsufficientStock(vec![short(1, 5, 0), short(2, 2, 1)]),
            ),
            (
                "a line would take the customer past the item's limit",
                Rejection {
                    lines: vec![LineRejection {
                        current_limit: Some(3),
                        limit: Some(3),
                        bought: 2,
                        ..line(1, 2, 10, Some((10, 9)))
                    }],
                    ..Rejection::default()
                },
                Verdict::CustomerLimit(vec![LimitReached {
                    item_id: item(1),
                    limit: 3,
                    bought: 2,
                    requested: 2,
                }]),
            ),
            (
                "a limit set since the line read its item, which the purchase fits",
                Rejection {
                    lines: vec![LineRejection {
                        current_limit: Some(5),
                        ..line(1, 2, 10, Some((10, 9)))
                    }],
                    ..Rejection::default()
                },
                Verdict::Relimit(vec![(item(1), 5)]),
            ),
            (
                "an expired hold short of stock counts what it still holds",
                Rejection {
                    lines: vec![LineRejection {
                        held: 2,
                        hold_expired: true,
                        ..line(1, 5, 10, Some((10, 1)))
                    }],
                    ..Rejection::default()
                },
                Verdict::InsufficientStock(vec![Shortfall {
                    hold_expired: true,
                    ..short(1, 5, 3)
                }]),
            ),
            (
                "a shard of a split item short: read its rows before saying so",
                Rejection {
                    lines: vec![partial(1, 2, Some((10, 1))), line(2, 9, 7, Some((7, 3)))],
                    ..Rejection::default()
                },
                Verdict::ReadStock(vec![
                    partial(1, 2, Some((10, 1))),
                    line(2, 9, 7, Some((7, 3))),
                ]),
            ),
            (
                "a shard that is gone (the item was made whole since)",
                Rejection {
                    lines: vec![partial(1, 2, None)],
                    ..Rejection::default()
                },
                Verdict::ReadStock(vec![partial(1, 2, None)]),
            ),
            (
                "a shard's copy of a changed price is a price change",
                Rejection {
                    lines: vec![partial(1, 2, Some((12, 9)))],
                    ..Rejection::default()
                },
                Verdict::Reprice(vec![change(1, 10, 12)]),
            ),
            (
                "no reason at all",
                Rejection::default(),
                Verdict::Unexplained,
            ),
        ];
        for (case, rejection, expected) in rows {
            assert_eq!(verdict(rejection), expected, "{case}");
        }
    }

    /// A line of item `id` (price 10) whose condition saw one shard, `current` now.
    fn partial(id: u64, requested: u64, current: Option<(u64, u64)>) -> LineRejection {
        LineRejection {
            partial: true,
            ..line(id, requested, 10, current)
        }
    }

    #[test]
    fn after_reading_the_rows_a_line_is_short_only_when_all_of_them_are() {
        use crate::domain::shards::{StockRow, Take};
        let rows = |pool, shards: &[u64]| Stocking {
            pool,
            shards: shards.to_vec(),
        };
        let stock: BTreeMap<ItemId, Stocking> = [
            (item(1), rows(0, &[0, 3, 0])),
            (item(2), rows(1, &[1, 0])),
            (item(3), rows(0, &[])),
        ]
        .into();
        let rng = &mut fastrand::Rng::with_seed(3);
        let take = |row, units: i64| Take {
            row,
            taken: units,
            needs: units.max(0) as u64,
        };
        // (case, lines, the takes or the shortfalls)
        type Row = (
            &'static str,
            Vec<LineRejection>,
            Result<Takes, Vec<Shortfall>>,
        );
        let cases: Vec<Row> = vec![
            (
                "another shard has them",
                vec![partial(1, 2, Some((10, 0)))],
                Ok([(item(1), vec![take(StockRow::Shard(1), 2)])].into()),
            ),
            (
                "only the pool and a shard together have them",
                vec![partial(2, 2, Some((10, 0)))],
                Ok([(
                    item(2),
                    vec![take(StockRow::Pool, 1), take(StockRow::Shard(0), 1)],
                )]
                .into()),
            ),
            (
                "the whole item is short",
                vec![partial(1, 4, Some((10, 0)))],
                Err(vec![short(1, 4, 3)]),
            ),
            (
                "an item made whole since, short",
                vec![partial(3, 1, None)],
                Err(vec![short(3, 1, 0)]),
            ),
            (
                "a line of an item not split is short as its condition saw",
                vec![partial(1, 2, Some((10, 0))), line(4, 5, 10, Some((10, 2)))],
                Err(vec![short(4, 5, 2)]),
            ),
        ];
        for (case, lines, expected) in cases {
            assert_eq!(replan(&lines, &stock, rng), expected, "{case}");
        }
    }

    #[test]
    fn a_live_hold_needs_no_stock_and_an_expired_one_what_it_no_longer_holds() {
        let line = |held: u64, until: Option<i64>| CartLine {
            item_id: item(1),
            name: "x".to_owned(),
            quantity: 3,
            unit_price: Price::new(5).unwrap(),
            held,
            held_until: until,
            limit: None,
            shards: 1,
        };
        let rows = [
            ("no hold (latest)", line(0, None), Some(3)),
            ("a live hold", line(3, Some(101)), None),
            ("a hold that ends now", line(3, Some(100)), Some(0)),
            ("an expired hold given back", line(0, Some(90)), Some(3)),
            // More units added under `latest` after a switch from `hold`.
            (
                "a live hold of part of the line",
                line(2, Some(101)),
                Some(1),
            ),
        ];
        for (case, line, expected) in rows {
            assert_eq!(stock_needed(&line, 100), expected, "{case}");
        }
    }

    #[test]
    fn the_first_look_resolves_the_key_then_the_cart() {
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        let id = CartId::generate(alice.clone());
        let other = CartId::generate(alice.clone());
        let empty = Cart {
            id: id.clone(),
            lines: vec![],
            version: 3,
            history: Default::default(),
            discount: None,
        };
        let full = Cart {
            lines: vec![CartLine {
                item_id: item(1),
                name: "x".to_owned(),
                quantity: 2,
                unit_price: Price::new(5).unwrap(),
                held: 0,
                held_until: None,
                limit: None,
                shards: 1,
            }],
            ..empty.clone()
        };
        // (case, the key's receipt, the cart read, who asks, the version they saw, the look)
        type Row = (
            &'static str,
            Option<Receipt>,
            Option<Cart>,
            UserId,
            Option<u64>,
            FirstLook,
        );
        let rows: Vec<Row> = vec![
            (
                "a live receipt answers before anything else",
                Some(receipt("c")),
                None,
                bob.clone(),
                Some(1),
                FirstLook::Replay(receipt("c")),
            ),
            (
                "another user's cart is not found",
                None,
                Some(full.clone()),
                bob.clone(),
                None,
                FirstLook::CartNotFound,
            ),
            (
                "no cart",
                None,
                None,
                alice.clone(),
                None,
                FirstLook::CartNotFound,
            ),
            (
                "the user's cart under another id",
                None,
                Some(Cart {
                    id: other,
                    ..full.clone()
                }),
                alice.clone(),
                None,
                FirstLook::CartNotFound,
            ),
            (
                "an empty cart",
                None,
                Some(empty),
                alice.clone(),
                None,
                FirstLook::CartEmpty,
            ),
            (
                "a cart at another version than the client saw",
                None,
                Some(full.clone()),
                alice.clone(),
                Some(2),
                FirstLook::Stale(full.clone()),
            ),
            (
                "a cart at the version the client saw",
                None,
                Some(full.clone()),
                alice.clone(),
                Some(3),
                FirstLook::Buy(full.clone()),
            ),
            (
                "a cart to buy",
                None,
                Some(full.clone()),
                alice,
                None,
                FirstLook::Buy(full),
            ),
        ];
        for (case, receipt, cart, user, seen, expected) in rows {
            assert_eq!(
                first_look(receipt, cart, &id, &user, seen),
                expected,
                "{case}"
            );
        }
    }

    /// A purchase key's replay is rebuilt from its stored order by `bought`, for as long as the
    /// order exists: a change to these bytes changes the replay of every past purchase. (Discount
    /// codes changed them once: `subtotal` and `discount` joined the order; an order stored
    /// before has no `subtotal`, read as its total, and no discount.)
    #[test]
    fn a_purchase_answers_these_bytes_today_and_on_every_replay() {
        let cart_id = CartId::new(
            UserId::parse("7").unwrap(),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        );
        let order = Order {
            id: OrderId::of_key("user#7#k"),
            cart_id: cart_id.clone(),
            user_id: UserId::parse("7").unwrap(),
            lines: vec![OrderLine {
                item_id: item(3),
                name: "Caf\u{e9} \"No. 1\"".to_owned(),
                quantity: 2,
                unit_price: crate::domain::Price::new(150).unwrap(),
            }],
            subtotal: 300,
            discount: None,
            total: 300,
            created_at: "2026-11-26T07:00:00Z".to_owned(),
            status: OrderStatus::Placed,
            version: 0,
            payment_due_by: None,
            refund_due: false,
            payment_reference: None,
        };
        let expected = format!(
            r#"{{"order":{{"cart_id":"{cart_id}","created_at":"2026-11-26T07:00:00Z","discount":null,"id":"{}","lines":[{{"item_id":3,"name":"Café \"No. 1\"","quantity":2,"unit_price":150}}],"payment_due_by":null,"refund_due":false,"status":"placed","subtotal":300,"total":300,"user_id":"7","version":0}},"response":[{{"item":3,"quantity":2}}]}}"#,
            order.id
        );
        assert_eq!(bought(&order), expected);
        assert_eq!(receipt_of(&order, "purchase c *").body, expected);
        // Whatever happens to the order later, its key answers what the purchase answered.
        let cancelled = Order {
            status: OrderStatus::Cancelled,
            version: 3,
            ..order.clone()
        };
        assert_eq!(bought(&cancelled), expected);
    }

    #[test]
    fn an_order_holds_every_line_at_the_cart_price() {
        let id = CartId::generate(UserId::parse("7").unwrap());
        let cart = Cart {
            id: id.clone(),
            lines: vec![
                CartLine {
                    item_id: item(1),
                    name: "a".to_owned(),
                    quantity: 2,
                    unit_price: Price::new(150).unwrap(),
                    held: 0,
                    held_until: None,
                    limit: None,
                    shards: 1,
                },
                CartLine {
                    item_id: item(2),
                    name: "b".to_owned(),
                    quantity: 1,
                    unit_price: Price::new(99).unwrap(),
                    held: 0,
                    held_until: None,
                    limit: None,
                    shards: 1,
                },
            ],
            version: 1,
            history: Default::default(),
            discount: None,
        };
        let created = "2026-01-01T00:00:00Z".to_owned();
        let order = order_for(&cart, OrderId::of_key("user#7#k"), created.clone(), None);
        assert_eq!(order.cart_id, id);
        assert_eq!(&order.user_id, cart.user_id());
        assert_eq!(order.total, 399);
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].unit_price.get(), 150);
        assert_eq!((order.status, order.version), (OrderStatus::Placed, 0));
        let waiting = order_for(&cart, order.id, created, Some(1_767_226_500));
        assert_eq!(waiting.status, OrderStatus::PendingPayment);
        assert_eq!(waiting.as_placed(), waiting);
    }
}
