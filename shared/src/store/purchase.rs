//! The purchase's I/O: one read of the key's order and the cart, then ONE `TransactWriteItems`
//! assembled from the actions each table's module exports (a stock decrement per line from
//! `catalog`, the order from `orders`, the emptied cart from `carts`). All of it or nothing.
//! The order is the key's record (`store::orders`), in the item where a user's key keeps the
//! record of a cart write too: a key that made one is refused by the order's condition. What a
//! cancellation means is decided by `domain::purchase::verdict`; this module only decodes the
//! reasons into a `Rejection`.

use std::sync::Mutex;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::carts::{cart_key, clear_cart, decode_cart};
use super::catalog::{decode_item, take_stock};
use super::discounts::{decode_discount, use_code};
use super::keys::key_receipt;
use super::orders::put_order;
use super::shards::decode_row;
use super::transact::Cancelled;
use super::{RequestToken, Store, StoreError};
use crate::domain::purchase::{stock_needed, CodeRejection, LineRejection, Rejection};
use crate::domain::shards::another_shard;
use crate::domain::{Cart, CartLine, Fingerprint, Order, Receipt, StockRow, Take, Takes, UserId};

/// What the first read found: the key's receipt (its order, if it bought one, or the record of
/// a cart write it made) and the user's cart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseSnapshot {
    pub receipt: Option<Receipt>,
    pub cart: Option<Cart>,
}

/// Everything the transaction writes.
#[derive(Clone, Debug)]
pub struct PurchasePlan<'a> {
    pub cart: &'a Cart,
    /// The order, named by the key (`OrderId::of_key`).
    pub order: &'a Order,
    /// The request the key is bound to, kept with the order.
    pub request: &'a Fingerprint,
    /// Unix seconds.
    pub now: i64,
    /// Which rows each line takes its units from (`domain::purchase::first_takes`, or `replan`
    /// after a short shard).
    pub takes: &'a Takes,
}

impl Store {
    /// Reads the key's item (`pk`: its order, or the record of a cart write it made) and the
    /// user's cart in one strongly consistent `BatchGetItem`.
    pub async fn load_purchase(
        &self,
        user: &UserId,
        pk: &str,
        now: i64,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let carts = self.tables().carts.clone();
        let (receipt, items) = self
            .batch_read(Some(pk), vec![(carts, cart_key(user))], now)
            .await?;
        let cart = items.into_iter().next().flatten();
        Ok(PurchaseSnapshot {
            receipt,
            cart: decode_cart(cart.as_ref(), now)?,
        })
    }

    /// The key's receipt alone, read strongly consistent.
    pub async fn key_receipt(&self, pk: &str, now: i64) -> Result<Option<Receipt>, StoreError> {
        Ok(self.batch_read(Some(pk), vec![], now).await?.0)
    }

    /// Runs the purchase transaction: `None` when it committed, else why it was cancelled. A
    /// line's take from a shard that meets a conflict tries another shard (`transact_repicking`).
    pub async fn commit_purchase(
        &self,
        plan: &PurchasePlan<'_>,
    ) -> Result<Option<Rejection>, StoreError> {
        let tables = self.tables();
        let now = plan.now;
        // A line under a live hold asks nothing of its item; every other line one action per row
        // it takes from (one, unless a replan split it over several).
        let mut slots: Vec<(&CartLine, Take)> = Vec::new();
        for line in &plan.cart.lines {
            let Some(need) = stock_needed(line, now) else {
                continue;
            };
            let blind = || {
                vec![Take {
                    row: StockRow::Pool,
                    taken: need,
                    needs: need.max(0) as u64,
                }]
            };
            let takes = plan.takes.get(&line.item_id).cloned().unwrap_or_else(blind);
            slots.extend(takes.into_iter().map(|take| (line, take)));
        }
        let mut actions = Vec::with_capacity(slots.len() + 3);
        for (line, take) in &slots {
            let bought = plan.cart.history.bought(line.item_id);
            let update = take_stock(&tables.catalog, line, take, bought)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let order = put_order(&tables.orders, plan.order, plan.request, now)?;
        actions.push(TransactWriteItem::builder().put(order).build());
        let expiry = self.cart_expiry(plan.cart.user_id(), now);
        let cart = clear_cart(&tables.carts, plan.cart, expiry)?;
        actions.push(TransactWriteItem::builder().update(cart).build());
        // The cart's code: its use (and the customer's) counted within its limits.
        if let Some(code) = &plan.cart.discount {
            let user = plan.cart.user_id();
            actions.extend(use_code(&tables.discounts, code, user, now)?);
        }
        // The row each slot takes from now: a lone take from a shard moves to another on a
        // conflict.
        let rows: Mutex<Vec<StockRow>> = Mutex::new(slots.iter().map(|(_, t)| t.row).collect());
        let repick = |i: usize| {
            let (line, take) = slots.get(i)?;
            let lone = slots
                .iter()
                .filter(|(l, _)| l.item_id == line.item_id)
                .count()
                == 1;
            let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner());
            let row = rows
                .get_mut(i)
                .filter(|r| lone && matches!(r, StockRow::Shard(_)))?;
            let short = self.shards_seen_short(line.item_id, line.shards, take.needs);
            *row = another_shard(line.shards, *row, &short, &mut fastrand::Rng::new());
            let bought = plan.cart.history.bought(line.item_id);
            let take = Take { row: *row, ..*take };
            Some(
                take_stock(&tables.catalog, line, &take, bought)
                    .map(|update| TransactWriteItem::builder().update(update).build()),
            )
        };
        let token = RequestToken::new();
        match self
            .transact_repicking(actions, None, &token, Some(&repick))
            .await?
        {
            None => Ok(None),
            Some(cancelled) => {
                let rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
                let items = slots.iter().map(|(line, _)| line.item_id);
                self.saw_failed_shards(items.zip(rows.iter().copied()), &cancelled, 0);
                decode_reasons(plan.cart, &slots, &rows, &cancelled).map(Some)
            }
        }
    }
}

/// Decodes a cancelled transaction (actions in the order of `commit_purchase`: the slots of the
/// lines that ask their items, the order, the cart, the code's and the customer's uses; `rows`: each slot's row at the last try):
/// which lines failed, with their row as it is now (`partial` when that row is not all of the
/// item: a shard, a split item's pool, a shard that is gone); the receipt of the key's order if
/// the key had bought already; whether the cart changed. No extra reads.
fn decode_reasons(
    cart: &Cart,
    slots: &[(&CartLine, Take)],
    rows: &[StockRow],
    cancelled: &Cancelled,
) -> Result<Rejection, StoreError> {
    let mut rejection = Rejection::default();
    for (i, (line, _)) in slots.iter().enumerate() {
        let Some(now) = cancelled.failed_at(i) else {
            continue;
        };
        if rejection.lines.iter().any(|l| l.item_id == line.item_id) {
            continue;
        }
        let shard = now.map(decode_row).transpose()?.flatten();
        let item = match shard {
            Some(_) => None,
            None => now.map(decode_item).transpose()?,
        };
        let (current, current_limit) = match (shard, &item) {
            (Some((price, stock, max)), _) => (Some((price, stock)), max),
            (None, Some(item)) => (
                Some((item.price.get(), item.stock.get())),
                item.max_per_customer.map(|m| u64::from(m.get())),
            ),
            (None, None) => (None, None),
        };
        let partial = shard.is_some()
            || item.as_ref().is_some_and(|item| item.sharded())
            || (now.is_none() && matches!(rows.get(i), Some(StockRow::Shard(_))));
        rejection.lines.push(LineRejection {
            item_id: line.item_id,
            requested: line.quantity,
            held: line.held,
            hold_expired: line.held_until.is_some(),
            cart_price: line.unit_price.get(),
            current,
            current_limit,
            limit: line.limit,
            bought: cart.history.bought(line.item_id),
            partial,
        });
    }
    // Whatever its age: what held the key was live when the condition refused the order.
    rejection.taken_by = key_receipt(cancelled.failed_at(slots.len()).flatten(), i64::MIN)?;
    rejection.cart_changed = cancelled.failed_at(slots.len() + 1).is_some();
    if let Some(code) = cancelled.failed_at(slots.len() + 2) {
        rejection.discount = Some(CodeRejection::Code(decode_discount(code)?));
    } else if cancelled.failed_at(slots.len() + 3).is_some() {
        rejection.discount = Some(CodeRejection::Customer);
    }
    Ok(rejection)
}
