//! The purchase's I/O: one read of the key's order and the cart, then ONE `TransactWriteItems`
//! assembled from the actions each table's module exports (a stock decrement per line from
//! `catalog`, the order from `orders`, the emptied cart from `carts`). All of it or nothing.
//! The order is the key's record (`store::orders`), in the item where a user's key keeps the
//! record of a cart write too: a key that made one is refused by the order's condition. What a
//! cancellation means is decided by `domain::purchase::verdict`; this module only decodes the
//! reasons into a `Rejection`.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::carts::{cart_key, clear_cart, decode_cart};
use super::catalog::{decode_item, take_stock};
use super::keys::key_receipt;
use super::orders::put_order;
use super::transact::Cancelled;
use super::{RequestToken, Store, StoreError};
use crate::domain::purchase::{stock_needed, LineRejection, Rejection};
use crate::domain::{Cart, CartLine, Fingerprint, Order, Receipt, UserId};

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

    /// Runs the purchase transaction: `None` when it committed, else why it was cancelled.
    pub async fn commit_purchase(
        &self,
        plan: &PurchasePlan<'_>,
    ) -> Result<Option<Rejection>, StoreError> {
        let tables = self.tables();
        let now = plan.now;
        // A line under a live hold asks nothing of its item; every other line one action.
        let asking: Vec<(&CartLine, i64)> = (plan.cart.lines.iter())
            .filter_map(|line| Some((line, stock_needed(line, now)?)))
            .collect();
        let mut actions = Vec::with_capacity(asking.len() + 3);
        for (line, need) in &asking {
            let bought = plan.cart.history.bought(line.item_id);
            let update = take_stock(&tables.catalog, line, *need, bought)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let order = put_order(&tables.orders, plan.order, plan.request, now)?;
        actions.push(TransactWriteItem::builder().put(order).build());
        let expiry = self.cart_expiry(plan.cart.user_id(), now);
        let cart = clear_cart(&tables.carts, plan.cart, expiry)?;
        actions.push(TransactWriteItem::builder().update(cart).build());
        match self.transact(actions, None, &RequestToken::new()).await? {
            None => Ok(None),
            Some(cancelled) => decode_reasons(plan.cart, &asking, &cancelled).map(Some),
        }
    }
}

/// Decodes a cancelled transaction (actions in the order of `commit_purchase`: the lines that
/// ask their item, the order, the cart): which lines failed, with their item as it is now; the
/// receipt of the key's order if the key had bought already; whether the cart changed. No extra
/// reads.
fn decode_reasons(
    cart: &Cart,
    asking: &[(&CartLine, i64)],
    cancelled: &Cancelled,
) -> Result<Rejection, StoreError> {
    let mut rejection = Rejection::default();
    for (i, (line, _)) in asking.iter().enumerate() {
        let Some(now) = cancelled.failed_at(i) else {
            continue;
        };
        let item = now.map(decode_item).transpose()?;
        rejection.lines.push(LineRejection {
            item_id: line.item_id,
            requested: line.quantity,
            held: line.held,
            hold_expired: line.held_until.is_some(),
            cart_price: line.unit_price.get(),
            current: item
                .as_ref()
                .map(|item| (item.price.get(), item.stock.get())),
            current_limit: item.and_then(|item| item.max_per_customer.map(|m| u64::from(m.get()))),
            limit: line.limit,
            bought: cart.history.bought(line.item_id),
        });
    }
    // Whatever its age: what held the key was live when the condition refused the order.
    rejection.taken_by = key_receipt(cancelled.failed_at(asking.len()).flatten(), i64::MIN)?;
    rejection.cart_changed = cancelled.failed_at(asking.len() + 1).is_some();
    Ok(rejection)
}
