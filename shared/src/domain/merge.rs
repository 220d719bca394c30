//! A guest's cart met at sign-in: the rule of what the user's cart becomes, pure. The I/O around
//! it (one read of both carts, one transaction: the guest's cart gone, the user's written, units
//! that do not fit given back to the stock) is `app::carts::merge`.
//!
//! Held units (`hold` policy) move from the guest's line to the user's without passing through
//! the available stock, as far as the user's limits allow: the units a user may hold of an item
//! (`max_per_item`), the item's limit per customer (with what the user bought of it), a line
//! held at another price, the user's hold window on the item, the cart's 50 lines. What does
//! not fit goes back to the stock and is reported, never lost silently: every line that changed
//! is named with its outcome (`merged`, `capped`, `dropped`) and why.

use serde::Serialize;

use super::{Cart, CartLine, CheckoutPolicy, ItemId, MAX_CART_LINES};

/// What to do with the guest's cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    /// The guest's lines are added to the user's cart, quantities summed (the default).
    Merge,
    /// The guest's lines become the user's cart; the user's old lines are given up.
    Replace,
    /// The guest's cart is discarded; the user's cart stays as it is.
    Keep,
}

impl MergeMode {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "merge" => Ok(Self::Merge),
            "replace" => Ok(Self::Replace),
            "keep" => Ok(Self::Keep),
            _ => Err("must be merge, replace or keep".to_owned()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Replace => "replace",
            Self::Keep => "keep",
        }
    }
}

/// How a line came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// All its units are on the user's line.
    Merged,
    /// Some of its units are; the rest went back to the stock.
    Capped,
    /// None are (the line is gone from the user's cart, or was not taken from the guest's).
    Dropped,
}

/// Why a line was capped or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// `hold`: the most units of an item a user may hold.
    HoldLimit,
    /// The item's `max_per_customer`, with what the user bought of it.
    CustomerLimit,
    /// `hold`: the user's line is held at another price than the guest's.
    HeldAtAnotherPrice,
    /// `hold`: the user held the item for the longest a hold may last.
    HoldTimeLimit,
    /// The user's cart has 50 lines already.
    CartFull,
    /// `replace`: the user's own line, given up for the guest's cart.
    Replaced,
    /// `keep`: the guest's line, discarded with the guest's cart.
    Kept,
}

/// One line that changed: the item, where its units came from (`guest` or `user`), how many
/// reached the user's cart from it (`quantity`), and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineChange {
    pub item_id: ItemId,
    pub from: &'static str,
    pub quantity: u64,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Why>,
}

/// What a merge comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// The user's cart after it, one version on.
    pub cart: Cart,
    pub changes: Vec<LineChange>,
    /// Units held by either cart that go back to the stock, by item.
    pub released: Vec<(ItemId, u64)>,
}

/// The user's cart after meeting `guest`'s in `mode`, under the user's `policy`, at `now`.
pub fn merge(
    user: &Cart,
    guest: &Cart,
    mode: MergeMode,
    policy: CheckoutPolicy,
    now: i64,
) -> Merged {
    let mut after = Cart {
        version: user.version + 1,
        ..user.clone()
    };
    let mut changes = vec![];
    let mut released: Vec<(ItemId, u64)> = vec![];
    let mut give_back = |item: ItemId, units: u64| {
        if units > 0 {
            released.push((item, units));
        }
    };
    match mode {
        MergeMode::Keep => {
            for line in &guest.lines {
                give_back(line.item_id, line.held);
                changes.push(dropped(line.item_id, "guest", Why::Kept));
            }
        }
        MergeMode::Replace => {
            for line in &user.lines {
                give_back(line.item_id, line.held);
                changes.push(dropped(line.item_id, "user", Why::Replaced));
            }
            after.lines.clear();
            for line in &guest.lines {
                let (change, back) = take(&mut after, user, line, policy, now);
                give_back(line.item_id, back);
                changes.push(change);
            }
        }
        MergeMode::Merge => {
            for line in &guest.lines {
                let (change, back) = take(&mut after, user, line, policy, now);
                give_back(line.item_id, back);
                changes.push(change);
            }
        }
    }
    // The user's hold windows keep the earlier start of either cart's.
    for (item, began) in &guest.history.hold_began {
        let mine = after.history.hold_began.entry(*item).or_insert(*began);
        *mine = (*mine).min(*began);
    }
    Merged {
        cart: after,
        changes,
        released,
    }
}

fn dropped(item_id: ItemId, from: &'static str, reason: Why) -> LineChange {
    LineChange {
        item_id,
        from,
        quantity: 0,
        outcome: Outcome::Dropped,
        reason: Some(reason),
    }
}

/// Puts the guest's `line` into `after` (the user's cart being built; `user` as it was): the
/// change, and the guest's held units that do not fit (to give back).
fn take(
    after: &mut Cart,
    user: &Cart,
    line: &CartLine,
    policy: CheckoutPolicy,
    now: i64,
) -> (LineChange, u64) {
    let item = line.item_id;
    let mine = after.lines.iter().position(|l| l.item_id == item);
    let refuse = |why| (dropped(item, "guest", why), line.held);
    let live = |l: &CartLine| l.hold_live(now);
    if mine.is_none() && after.lines.len() >= MAX_CART_LINES {
        return refuse(Why::CartFull);
    }
    if let (Some(i), CheckoutPolicy::Hold { .. }) = (mine, policy) {
        let own = &after.lines[i];
        if live(own) && live(line) && own.unit_price != line.unit_price {
            return refuse(Why::HeldAtAnotherPrice);
        }
    }
    if let CheckoutPolicy::Hold { max_seconds, .. } = policy {
        let window = user.history.hold_began.get(&item);
        let ended = window.is_some_and(|began| now >= began + max_seconds);
        if ended && window.is_some_and(|began| now < began + 2 * max_seconds) && line.held > 0 {
            return refuse(Why::HoldTimeLimit);
        }
    }
    let in_cart = mine.map_or(0, |i| after.lines[i].quantity);
    // What the user's line may hold in all: the caps that apply.
    let mut room = u64::MAX;
    let mut cap = None;
    if let CheckoutPolicy::Hold { max_per_item, .. } = policy {
        room = max_per_item;
        cap = Some(Why::HoldLimit);
    }
    if let Some(limit) = line.limit.or(mine.and_then(|i| after.lines[i].limit)) {
        let allowed = limit.saturating_sub(user.history.bought(item));
        if allowed < room {
            room = allowed;
            cap = Some(Why::CustomerLimit);
        }
    }
    let fits = room.saturating_sub(in_cart).min(line.quantity);
    if fits == 0 {
        return refuse(cap.unwrap_or(Why::HoldLimit));
    }
    // Held units move with the line only from a live hold onto a new line or a live line (at
    // the same price: checked above): one line has one hold. An ended hold's units are
    // nobody's, and a user's line without a live hold does not take one over (its price was
    // never held): those units go back, the quantity merges as a line without a hold would.
    let takes_hold = live(line) && mine.is_none_or(|i| live(&after.lines[i]));
    let moved_held = if takes_hold { line.held.min(fits) } else { 0 };
    match mine {
        Some(i) => {
            let own = &mut after.lines[i];
            own.quantity += fits;
            own.held += moved_held;
            if let (Some(a), Some(b)) = (own.held_until, line.held_until) {
                if moved_held > 0 {
                    own.held_until = Some(a.min(b));
                }
            }
            own.limit = own.limit.or(line.limit);
            own.shards = own.shards.max(line.shards);
        }
        None => after.lines.push(CartLine {
            quantity: fits,
            held: moved_held,
            ..line.clone()
        }),
    }
    let outcome = match fits == line.quantity {
        true => Outcome::Merged,
        false => Outcome::Capped,
    };
    let change = LineChange {
        item_id: item,
        from: "guest",
        quantity: fits,
        outcome,
        reason: (outcome == Outcome::Capped).then_some(cap.unwrap_or(Why::HoldLimit)),
    };
    (change, line.held - moved_held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartHistory, CartId, Price, UserId};

    const HOLD: CheckoutPolicy = CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10,
        max_seconds: 1800,
    };

    fn line(item: u64, quantity: u64, price: u64, held: u64) -> CartLine {
        CartLine {
            item_id: ItemId::new(item).unwrap(),
            name: format!("Item {item}"),
            quantity,
            unit_price: Price::new(price).unwrap(),
            held,
            held_until: (held > 0).then_some(1_900),
            limit: None,
            shards: 1,
        }
    }

    fn cart(owner: &str, lines: Vec<CartLine>) -> Cart {
        Cart {
            id: CartId::generate(UserId::parse_any(owner).unwrap()),
            lines,
            version: 3,
            history: CartHistory::default(),
            discount: None,
        }
    }

    fn item(n: u64) -> ItemId {
        ItemId::new(n).unwrap()
    }

    #[test]
    fn merging_sums_the_lines_moves_the_held_units_and_caps_what_does_not_fit() {
        let user = cart("7", vec![line(1, 6, 100, 6), line(2, 1, 50, 1)]);
        let guest = cart(
            "guest:ab",
            vec![line(1, 6, 100, 6), line(3, 2, 10, 2), line(2, 1, 60, 1)],
        );
        let merged = merge(&user, &guest, MergeMode::Merge, HOLD, 1_000);
        let outcome: Vec<_> = merged
            .changes
            .iter()
            .map(|c| (c.item_id.get(), c.quantity, c.outcome, c.reason))
            .collect();
        assert_eq!(
            outcome,
            [
                (1, 4, Outcome::Capped, Some(Why::HoldLimit)),
                (3, 2, Outcome::Merged, None),
                (2, 0, Outcome::Dropped, Some(Why::HeldAtAnotherPrice)),
            ]
        );
        let held = |n| merged.cart.line(item(n)).map(|l| (l.quantity, l.held));
        assert_eq!(
            (held(1), held(2), held(3)),
            (Some((10, 10)), Some((1, 1)), Some((2, 2)))
        );
        // What did not fit goes back to the stock, and nothing else: every unit accounted for.
        assert_eq!(merged.released, [(item(1), 2), (item(2), 1)]);
        assert_eq!(merged.cart.version, 4);
    }

    #[test]
    fn only_a_live_hold_moves_and_only_onto_a_live_line() {
        // The guest's hold on item 1 ended (1900 <= 2000); the user's line 2 has no hold.
        let user = cart("7", vec![line(2, 1, 50, 0)]);
        let guest = cart("guest:ab", vec![line(1, 2, 100, 2), line(2, 1, 50, 1)]);
        let merged = merge(&user, &guest, MergeMode::Merge, HOLD, 2_000);
        let held = |n| merged.cart.line(item(n)).map(|l| (l.quantity, l.held));
        assert_eq!((held(1), held(2)), (Some((2, 0)), Some((2, 0))));
        assert_eq!(
            merged.released,
            [(item(1), 2), (item(2), 1)],
            "ended holds' units go back"
        );
        // At 1000 the guest's line 2 is live, but the user's is not: its unit goes back too.
        let merged = merge(&user, &guest, MergeMode::Merge, HOLD, 1_000);
        assert_eq!(
            merged.cart.line(item(2)).map(|l| (l.quantity, l.held)),
            Some((2, 0))
        );
        assert_eq!(merged.released, [(item(2), 1)]);
    }

    #[test]
    fn replacing_gives_the_users_lines_up_and_keeping_discards_the_guests() {
        let user = cart("7", vec![line(1, 2, 100, 2)]);
        let guest = cart("guest:ab", vec![line(3, 1, 10, 1)]);
        let replaced = merge(&user, &guest, MergeMode::Replace, HOLD, 1_000);
        assert_eq!(replaced.cart.lines.len(), 1);
        assert_eq!(replaced.cart.lines[0].item_id, item(3));
        assert_eq!(replaced.released, [(item(1), 2)]);
        assert_eq!(replaced.changes[0].reason, Some(Why::Replaced));
        let kept = merge(&user, &guest, MergeMode::Keep, HOLD, 1_000);
        assert_eq!(kept.cart.lines, user.lines);
        assert_eq!(kept.released, [(item(3), 1)]);
        assert_eq!(kept.changes[0].outcome, Outcome::Dropped);
    }

    #[test]
    fn a_customer_limit_and_a_full_cart_bound_what_a_merge_adds() {
        let mut user = cart("7", (1..=50).map(|i| line(i, 1, 10, 0)).collect());
        user.history.bought.insert(item(1), 2);
        let mut limited = line(1, 3, 10, 0);
        limited.limit = Some(3);
        let guest = cart("guest:ab", vec![limited, line(99, 1, 10, 0)]);
        let merged = merge(&user, &guest, MergeMode::Merge, CheckoutPolicy::Latest, 0);
        let outcome: Vec<_> = merged
            .changes
            .iter()
            .map(|c| (c.outcome, c.reason))
            .collect();
        assert_eq!(
            outcome,
            [
                (Outcome::Dropped, Some(Why::CustomerLimit)),
                (Outcome::Dropped, Some(Why::CartFull)),
            ]
        );
        assert_eq!(merged.cart.lines, user.lines);
        assert!(merged.released.is_empty(), "nothing was held");
    }
}
