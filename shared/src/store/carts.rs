//! The carts table: one item per user, keyed by `user_id`.
//!
//! Item shape: `user_id` (S), `cart_token` (S, the random half of the cart id), `version` (N,
//! bumped by every change), `created_at`, `expires_at` (Unix seconds: the cart idles out then;
//! DynamoDB's TTL attribute, but every read treats an expired cart as absent), `last_request`,
//! and six maps keyed by item id: `qty`, `price` (the unit price when last added, or held),
//! `name`, `added` (when first added, for the line order), `held` (units the line took from the
//! available stock, `hold` policy) and `held_until` (when that hold ends). A cart holding units
//! also has `sweep_pk` (`"HOLD"`) and `next_expiry` (its first hold's end): the sparse `by-expiry`
//! index the sweep queries. One item per cart makes create, view and an unkeyed `latest` add or
//! remove one request each, checked in the same atomic step that writes; a change that moves
//! stock (`hold`) or carries a key is one transaction with the items and the key's record.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::catalog::{decode_item, item_key, move_stock};
use super::discounts::DiscountRecord;
use super::keys::NewRecord;
use super::schema::CARTS_BY_EXPIRY_INDEX;
use super::shards::{row_key, ItemRows};
use super::{built, n, names, s, Raw, RequestToken, Store, StoreError, Written, LAST_REQUEST};
use crate::domain::shards::{another_shard, blind_take};
use crate::domain::{
    Cart, CartHistory, CartId, CartLine, Item, ItemId, Price, Quantity, Receipt, StockMove,
    StockRow, Stocking, Take, Takes, UserId, MAX_CART_LINES, MAX_SHARDS,
};

/// The one partition of the `by-expiry` index: every cart that holds units.
const HOLDING: &str = "HOLD";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CartRecord {
    user_id: String,
    cart_token: String,
    version: u64,
    created_at: String,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    qty: HashMap<String, u64>,
    #[serde(default)]
    price: HashMap<String, u64>,
    #[serde(default)]
    name: HashMap<String, String>,
    #[serde(default)]
    added: HashMap<String, u64>,
    #[serde(default)]
    held: HashMap<String, u64>,
    #[serde(default)]
    held_until: HashMap<String, i64>,
    /// Each line's view of its item's `max_per_customer` (0: none).
    #[serde(default)]
    limit: HashMap<String, u64>,
    /// The user's hold windows by item (`CartHistory::hold_began`).
    #[serde(default)]
    hold_began: HashMap<String, i64>,
    /// Units of limited items the user bought (`CartHistory::bought`), kept across purchases
    /// and when an idle cart is made anew.
    #[serde(default)]
    bought: HashMap<String, u64>,
    /// Each line's view of the rows its item's stock is split over (absent: not split).
    #[serde(default)]
    shards: HashMap<String, u32>,
    /// The code put on the cart, with its terms as they were then (`Cart::discount`).
    #[serde(default)]
    discount: Option<DiscountRecord>,
}

impl CartRecord {
    /// The record behind `id` at `now`: present, not idle past its expiry, and its token is the
    /// id's.
    pub(crate) fn owned(
        raw: Option<&Raw>,
        id: &CartId,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        let Some(record) = Self::live(raw, now)? else {
            return Ok(None);
        };
        let ours =
            record.user_id == id.owner().as_str() && record.cart_token == id.token().to_string();
        Ok(ours.then_some(record))
    }

    /// Whatever cart a read found, if it has not idled out at `now`.
    fn live(raw: Option<&Raw>, now: i64) -> Result<Option<Self>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let record: Self = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
        Ok((!record.expired(now)).then_some(record))
    }

    fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub(crate) fn into_cart(self) -> Result<Cart, StoreError> {
        let corrupt =
            || StoreError::Unexpected(format!("cart of user {} is malformed", self.user_id).into());
        let owner = UserId::parse_any(&self.user_id).map_err(|_| corrupt())?;
        let token = self.cart_token.parse().map_err(|_| corrupt())?;
        let mut lines = Vec::with_capacity(self.qty.len());
        for (key, quantity) in &self.qty {
            let item_id = key.parse().ok().and_then(ItemId::new).ok_or_else(corrupt)?;
            let added = self.added.get(key).copied().unwrap_or(0);
            let price = self.price.get(key).copied().and_then(Price::new);
            let line = CartLine {
                item_id,
                name: self.name.get(key).cloned().unwrap_or_default(),
                quantity: *quantity,
                unit_price: price.ok_or_else(corrupt)?,
                held: self.held.get(key).copied().unwrap_or(0),
                held_until: self.held_until.get(key).copied().filter(|t| *t > 0),
                limit: self.limit.get(key).copied().filter(|l| *l > 0),
                shards: self
                    .shards
                    .get(key)
                    .copied()
                    .filter(|n| *n > 1)
                    .unwrap_or(1),
            };
            lines.push((added, line));
        }
        lines.sort_by_key(|(added, line)| (*added, line.item_id));
        let by_item = |key: &String| key.parse().ok().and_then(ItemId::new).ok_or_else(corrupt);
        let mut history = CartHistory::default();
        for (key, began) in &self.hold_began {
            history.hold_began.insert(by_item(key)?, *began);
        }
        for (key, units) in &self.bought {
            history.bought.insert(by_item(key)?, *units);
        }
        Ok(Cart {
            id: CartId::new(owner, token),
            lines: lines.into_iter().map(|(_, line)| line).collect(),
            version: self.version,
            history,
            discount: (self.discount.map(DiscountRecord::into_discount))
                .transpose()?
                .map(Box::new),
        })
    }

    fn quantity_of(&self, item: ItemId) -> Option<u64> {
        self.qty.get(&item.get().to_string()).copied()
    }
}

/// What adding to a cart came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddLine {
    Added(Cart),
    CartNotFound,
    CartFull,
    /// The cart already holds `in_cart` units, and `in_cart + requested` exceeds the stock.
    InsufficientStock {
        in_cart: u64,
    },
}

/// What removing from a cart came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartChange {
    Changed(Cart),
    CartNotFound,
    LineNotFound,
    /// The line still holds units (a hold from before a switch to `latest`): they must go back
    /// to the item with the removal, in a transaction (`commit_cart`).
    LineHeld,
}

/// What a keyed or stock-moving change of a cart starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartRead {
    pub receipt: Option<Receipt>,
    /// The cart, if it exists, is this id's and has not idled out.
    pub cart: Option<Cart>,
    pub item: Option<Item>,
    /// All the item's rows, when they were read with it (an item split over shards): then the
    /// item's `stock` is all of it.
    pub stock: Option<Stocking>,
}

/// What a merge starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRead {
    pub receipt: Option<Receipt>,
    /// The user's cart, whichever it is, if it has not idled out.
    pub user: Option<Cart>,
    /// The guest's cart, if it is the one named and has not idled out.
    pub guest: Option<Cart>,
}

/// One page of the carts to sweep, and where the next begins (`None`: the last page).
#[derive(Debug)]
pub struct SweepPage {
    pub users: Vec<UserId>,
    pub next: Option<SweepCursor>,
}

/// Where a page of the carts to sweep ended (the index's key of its last entry).
#[derive(Clone, Debug)]
pub struct SweepCursor(Raw);

/// What writing a cart's new state came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartCommit {
    Done,
    /// The cart changed since it was read: read it again.
    CartChanged,
    /// The cart is gone, idled out, or is another cart now.
    CartNotFound,
    /// The key was taken meanwhile: this is its answer.
    KeyTaken(Receipt),
    /// An item had fewer available units than the cart took (it changed since it was read).
    StockShort,
}

/// The key of `user`'s cart (one per user).
pub(crate) fn cart_key(user: &UserId) -> Raw {
    HashMap::from([("user_id".to_owned(), s(user.as_str()))])
}

/// Whatever cart a read of `cart_key` found, if it has not idled out at `now`.
pub(crate) fn decode_cart(raw: Option<&Raw>, now: i64) -> Result<Option<Cart>, StoreError> {
    CartRecord::live(raw, now)?
        .map(CartRecord::into_cart)
        .transpose()
}

/// The purchase's action on the cart: emptied (what its lines held is sold; the units of
/// limited items counted in `bought`), if it is still the cart and the version that the purchase
/// read (any change since then cancels the purchase).
pub(crate) fn clear_cart(table: &str, cart: &Cart, expires_at: i64) -> Result<Update, StoreError> {
    let empty = AttributeValue::M(HashMap::new());
    let bought = cart.history_after_purchase().bought;
    let bought = bought
        .iter()
        .map(|(item, units)| (item.get().to_string(), n(*units)));
    built(
        Update::builder()
            .table_name(table)
            .set_key(Some(cart_key(cart.user_id())))
            .update_expression(
                "REMOVE #sweep_pk, #next_expiry, #discount \
                 SET #qty = :empty, #price = :empty, #name = :empty, #added = :empty, \
                 #held = :empty, #held_until = :empty, #limit = :empty, #hold_began = :empty, \
                 #bought = :bought, #version = #version + :one, \
                 #expires_at = :expires_at, #last_request = :request_token",
            )
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(names(&[
                "cart_token",
                "qty",
                "price",
                "name",
                "added",
                "held",
                "held_until",
                "limit",
                "hold_began",
                "bought",
                "version",
                "expires_at",
                "sweep_pk",
                "next_expiry",
                "discount",
                LAST_REQUEST,
            ])))
            .expression_attribute_values(":empty", empty)
            .expression_attribute_values(":bought", AttributeValue::M(bought.collect()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires_at", n(expires_at.max(0) as u64))
            .expression_attribute_values(":request_token", s(RequestToken::new().0))
            .expression_attribute_values(":token", s(cart.id.token().to_string()))
            .expression_attribute_values(":version", n(cart.version))
            .build(),
    )
}

/// The cart is still the one that was read, at the version that was read.
const UNCHANGED: &str = "#cart_token = :token AND #version = :version";
/// ... and it has not idled out.
const ALIVE: &str = "(attribute_not_exists(#expires_at) OR #expires_at > :now)";

impl Store {
    /// When a cart changed at `now` idles out.
    pub(crate) fn cart_expiry(&self, owner: &UserId, now: i64) -> i64 {
        now + self.cart_idle_secs(owner)
    }

    /// The user's cart, created if they have none (or theirs idled out with nothing held): one
    /// conditional put that either writes a new empty cart or, when one exists, fails and returns
    /// it. Racing creates all get one cart. The boolean says whether this call created it.
    pub async fn create_or_get_cart(
        &self,
        user: &UserId,
        now: i64,
    ) -> Result<(Cart, bool), StoreError> {
        let id = CartId::generate(user.clone());
        let empty = AttributeValue::M(HashMap::new());
        let request = self
            .update_cart(user)
            // What the user bought of limited items outlives an idled-out cart.
            .update_expression(
                "REMOVE #discount \
                 SET #cart_token = :token, #version = :zero, #created_at = :created_at, \
                 #expires_at = :expires_at, #qty = :empty, #price = :empty, #name = :empty, \
                 #added = :empty, #held = :empty, #held_until = :empty, #limit = :empty, \
                 #hold_began = :empty, #bought = if_not_exists(#bought, :empty)",
            )
            .condition_expression(
                "attribute_not_exists(#user_id) \
                 OR (#expires_at <= :now AND attribute_not_exists(#sweep_pk))",
            )
            .set_expression_attribute_names(Some(names(&[
                "user_id",
                "cart_token",
                "version",
                "created_at",
                "expires_at",
                "qty",
                "price",
                "name",
                "added",
                "held",
                "held_until",
                "limit",
                "hold_began",
                "bought",
                "discount",
                "sweep_pk",
            ])))
            .expression_attribute_values(":token", s(id.token().to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":created_at", s(super::now_rfc3339()))
            .expression_attribute_values(
                ":expires_at",
                n(self.cart_expiry(user, now).max(0) as u64),
            )
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .expression_attribute_values(":empty", empty);
        match self.update(request).await? {
            Written::Done(new) => Ok((owned_cart(new, &id, now)?, true)),
            Written::Refused(Some(existing)) => match decode_cart(Some(&existing), now)? {
                Some(cart) => Ok((cart, false)),
                // Idled out, but the sweep has not given its held units back yet.
                None => Err(StoreError::Unavailable(
                    "the user's expired cart still holds units".into(),
                )),
            },
            Written::Refused(None) => Err(StoreError::Unexpected(
                "the refused cart creation returned no item".into(),
            )),
        }
    }

    /// The cart with this id, read strongly consistent; `None` if it idled out.
    pub async fn get_cart(&self, id: &CartId, now: i64) -> Result<Option<Cart>, StoreError> {
        let raw = self
            .get_raw(&self.tables().carts, cart_key(id.owner()))
            .await?;
        CartRecord::owned(raw.as_ref(), id, now)?
            .map(CartRecord::into_cart)
            .transpose()
    }

    /// `latest` policy: adds `quantity` of `item` to the cart in one conditional update: the cart
    /// must be this id's and alive, have room for a new line, and hold no more than `item.stock`
    /// units of the item afterwards. The line's unit price becomes the item's current price.
    /// Concurrent adds are atomic increments, so none is lost.
    pub async fn add_cart_line(
        &self,
        id: &CartId,
        item: &Item,
        quantity: Quantity,
        now: i64,
    ) -> Result<AddLine, StoreError> {
        let requested = u64::from(quantity.get());
        let Some(room) = item.stock.get().checked_sub(requested) else {
            // More than the stock whatever the cart holds; one read tells which answer is due.
            return Ok(match self.get_cart(id, now).await? {
                None => AddLine::CartNotFound,
                Some(cart) => AddLine::InsufficientStock {
                    in_cart: cart.line(item.id).map_or(0, |l| l.quantity),
                },
            });
        };
        let request = self
            .update_cart(id.owner())
            .update_expression(
                "SET #qty.#item = if_not_exists(#qty.#item, :zero) + :quantity, \
                 #price.#item = :price, #name.#item = :name, \
                 #added.#item = if_not_exists(#added.#item, :added), \
                 #version = #version + :one, #expires_at = :expires_at",
            )
            .condition_expression(format!(
                "#cart_token = :token AND {ALIVE} \
                 AND (attribute_exists(#qty.#item) OR size(#qty) < :max_lines) \
                 AND (attribute_not_exists(#qty.#item) OR #qty.#item <= :room)"
            ))
            .set_expression_attribute_names(Some(line_names(item.id)))
            .expression_attribute_values(":token", s(id.token().to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":quantity", n(requested))
            .expression_attribute_values(":price", n(item.price.get()))
            .expression_attribute_values(":name", s(item.name.as_str()))
            .expression_attribute_values(":added", n(added_now()))
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .expression_attribute_values(
                ":expires_at",
                n(self.cart_expiry(id.owner(), now).max(0) as u64),
            )
            .expression_attribute_values(":max_lines", n(MAX_CART_LINES as u64))
            .expression_attribute_values(":room", n(room));
        Ok(match self.update(request).await? {
            Written::Done(new) => AddLine::Added(owned_cart(new, id, now)?),
            Written::Refused(old) => match CartRecord::owned(old.as_ref(), id, now)? {
                None => AddLine::CartNotFound,
                Some(cart) => match cart.quantity_of(item.id) {
                    Some(in_cart) if in_cart > room => AddLine::InsufficientStock { in_cart },
                    None if cart.qty.len() >= MAX_CART_LINES => AddLine::CartFull,
                    _ => {
                        return Err(StoreError::Unexpected(
                            "the cart update was refused for no known reason".into(),
                        ))
                    }
                },
            },
        })
    }

    /// `latest` policy: removes a line in one conditional update (the cart must be this id's,
    /// alive, and hold the item).
    pub async fn remove_cart_line(
        &self,
        id: &CartId,
        item: ItemId,
        now: i64,
    ) -> Result<CartChange, StoreError> {
        let mut names = line_names(item);
        names.extend(super::names(&["held", "held_until"]));
        let request = self
            .update_cart(id.owner())
            // A line's `limit` stays: read only for a line the cart holds, and the next write
            // of the limits drops it.
            .update_expression(
                "REMOVE #qty.#item, #price.#item, #name.#item, #added.#item, #held.#item, \
                 #held_until.#item SET #version = #version + :one, #expires_at = :expires_at",
            )
            .condition_expression(format!(
                "#cart_token = :token AND {ALIVE} AND attribute_exists(#qty.#item) \
                 AND (attribute_not_exists(#held.#item) OR #held.#item = :zero)"
            ))
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":token", s(id.token().to_string()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .expression_attribute_values(
                ":expires_at",
                n(self.cart_expiry(id.owner(), now).max(0) as u64),
            );
        Ok(match self.update(request).await? {
            Written::Done(new) => CartChange::Changed(owned_cart(new, id, now)?),
            Written::Refused(old) => match CartRecord::owned(old.as_ref(), id, now)? {
                None => CartChange::CartNotFound,
                Some(record) => match record.into_cart()?.line(item) {
                    Some(line) if line.held > 0 => CartChange::LineHeld,
                    _ => CartChange::LineNotFound,
                },
            },
        })
    }

    /// The user's cart, with the key's live receipt (`pk`) and an item when asked (with its
    /// first `shards` shard rows when it is split over them: then all of its stock, exactly), in
    /// one strongly consistent `BatchGetItem`: what a keyed or stock-moving change starts from.
    pub async fn read_cart(
        &self,
        id: &CartId,
        pk: Option<&str>,
        item: Option<ItemId>,
        shards: u32,
        now: i64,
    ) -> Result<CartRead, StoreError> {
        let tables = self.tables();
        let mut keys = vec![(tables.carts.clone(), cart_key(id.owner()))];
        keys.extend(item.map(|item| (tables.catalog.clone(), item_key(item))));
        let rows = match (item, shards) {
            (Some(item), n) if n > 1 => (0..n.min(MAX_SHARDS))
                .map(|i| row_key(item, StockRow::Shard(i)))
                .collect(),
            _ => vec![],
        };
        keys.extend(rows.iter().map(|key| (tables.catalog.clone(), key.clone())));
        let (receipt, items) = self.batch_read(pk, keys, now).await?;
        let mut items = items.into_iter();
        let cart = CartRecord::owned(items.next().flatten().as_ref(), id, now)?;
        let main = items.next().flatten();
        let shard_rows: Vec<Option<Raw>> = items.collect();
        let mut read = CartRead {
            receipt,
            cart: cart.map(CartRecord::into_cart).transpose()?,
            item: main.as_ref().map(decode_item).transpose()?,
            stock: None,
        };
        // All of a split item's rows read (as many as it has): its stock exactly.
        if let (Some(main), Some(item)) = (&main, &read.item) {
            if item.sharded() && item.shards <= shards {
                let rows = ItemRows::of(main, &shard_rows)?;
                read.item = Some(rows.item);
                read.stock = Some(rows.stock);
            }
        }
        Ok(read)
    }

    /// Writes `after` over `before` (the same cart, one version on), if the cart is still
    /// `before` and alive at `now`: the lines that changed. What the lines hold moves between the
    /// items' available stock and the cart in the same step (`Cart::stock_moves`). Without a key
    /// and without stock to move, one conditional `UpdateItem`; else one transaction with the
    /// items and the key's record.
    pub async fn commit_cart(
        &self,
        before: &Cart,
        after: &Cart,
        record: Option<&NewRecord<'_>>,
        now: i64,
    ) -> Result<CartCommit, StoreError> {
        let takes = Takes::new();
        self.write_cart(before, after, record, Some(now), &takes)
            .await
    }

    /// [`Store::commit_cart`], the stock of the items in `takes` moved from the rows it names
    /// (planned from all of a split item's rows); any other split item's units come out of one of
    /// its shards picked at random, and go back into its pool (`domain::shards::blind_take`).
    pub async fn commit_cart_taking(
        &self,
        before: &Cart,
        after: &Cart,
        record: Option<&NewRecord<'_>>,
        now: i64,
        takes: &Takes,
    ) -> Result<CartCommit, StoreError> {
        self.write_cart(before, after, record, Some(now), takes)
            .await
    }

    async fn write_cart(
        &self,
        before: &Cart,
        after: &Cart,
        record: Option<&NewRecord<'_>>,
        alive_at: Option<i64>,
        takes: &Takes,
    ) -> Result<CartCommit, StoreError> {
        let now = alive_at.unwrap_or_else(crate::domain::now_unix);
        let idle = self.cart_idle_secs(before.user_id());
        let change = transition(before, after, alive_at, idle)?;
        let moves = before.stock_moves(after, now);
        if record.is_none() && moves.is_empty() {
            let request = change.apply(self.update_cart(before.user_id()));
            return Ok(match self.update(request).await? {
                Written::Done(_) => CartCommit::Done,
                Written::Refused(old) => refused(old.as_ref(), before, now)?,
            });
        }
        // The transaction's client request token, and the cart's `LAST_REQUEST`: a resend of a
        // transaction that was applied finds its own token on the cart.
        let token = RequestToken::new();
        let mut actions = vec![self.cart_action(before, &change, &token)?];
        let rng = &mut fastrand::Rng::new();
        let slots: Vec<(&StockMove, Take)> = (moves.iter())
            .flat_map(|moved| {
                let short = self.shards_seen_short(moved.item, moved.shards, moved.needs);
                let blind = || {
                    vec![blind_take(
                        moved.shards,
                        moved.taken,
                        moved.needs,
                        &short,
                        rng,
                    )]
                };
                let planned = takes.get(&moved.item).cloned();
                let takes = planned.unwrap_or_else(blind);
                takes.into_iter().map(move |take| (moved, take))
            })
            .collect();
        let catalog = &self.tables().catalog;
        for (moved, take) in &slots {
            let update = move_stock(catalog, moved, take)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        // A lone take from a shard that meets a conflict moves to another shard.
        let rows: Mutex<Vec<StockRow>> = Mutex::new(slots.iter().map(|(_, t)| t.row).collect());
        let repick = |i: usize| {
            let (moved, take) = slots.get(i.checked_sub(1)?)?;
            let lone = slots.iter().filter(|(m, _)| m.item == moved.item).count() == 1;
            let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner());
            let row = rows
                .get_mut(i - 1)
                .filter(|r| lone && matches!(r, StockRow::Shard(_)))?;
            let short = self.shards_seen_short(moved.item, moved.shards, moved.needs);
            *row = another_shard(moved.shards, *row, &short, &mut fastrand::Rng::new());
            let take = Take { row: *row, ..*take };
            Some(
                move_stock(catalog, moved, &take)
                    .map(|u| TransactWriteItem::builder().update(u).build()),
            )
        };
        let cancelled = self
            .transact_repicking(actions, record, &token, Some(&repick))
            .await?;
        let Some(cancelled) = cancelled else {
            return Ok(CartCommit::Done);
        };
        if let Some(receipt) = cancelled.taken_by.clone() {
            return Ok(CartCommit::KeyTaken(receipt));
        }
        if let Some(old) = cancelled.failed_at(0) {
            if token.written(old) {
                return Ok(CartCommit::Done);
            }
            return refused(old, before, now);
        }
        if (1..=slots.len()).any(|i| cancelled.failed_at(i).is_some()) {
            let rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
            let items = slots.iter().map(|(moved, _)| moved.item);
            self.saw_failed_shards(items.zip(rows.iter().copied()), &cancelled, 1);
            return Ok(CartCommit::StockShort);
        }
        Err(StoreError::Unexpected(
            "a cart transaction was cancelled for no known reason".into(),
        ))
    }

    /// The user's cart (whichever it is, if it has not idled out), the guest's cart `guest`, and
    /// the key's live receipt (`pk`), in one strongly consistent `BatchGetItem`: what a merge
    /// starts from.
    pub async fn read_merge(
        &self,
        user: &UserId,
        guest: &CartId,
        pk: Option<&str>,
        now: i64,
    ) -> Result<MergeRead, StoreError> {
        let carts = &self.tables().carts;
        let keys = vec![
            (carts.clone(), cart_key(user)),
            (carts.clone(), cart_key(guest.owner())),
        ];
        let (receipt, items) = self.batch_read(pk, keys, now).await?;
        let mut items = items.into_iter();
        let user = decode_cart(items.next().flatten().as_ref(), now)?;
        let guest = CartRecord::owned(items.next().flatten().as_ref(), guest, now)?;
        Ok(MergeRead {
            receipt,
            user,
            guest: guest.map(CartRecord::into_cart).transpose()?,
        })
    }

    /// Writes a merge in ONE transaction: the user's cart from `before` to `after` (if it is
    /// still `before` and alive), the guest's cart `guest` deleted (if it is still that version),
    /// the units `released` back into their items' stock, and the key's record. Held units that
    /// moved from one cart to the other never pass through the available stock.
    pub async fn commit_merge(
        &self,
        before: &Cart,
        after: &Cart,
        guest: &Cart,
        released: &[(ItemId, u64)],
        record: Option<&NewRecord<'_>>,
        now: i64,
    ) -> Result<CartCommit, StoreError> {
        let change = transition(
            before,
            after,
            Some(now),
            self.cart_idle_secs(before.user_id()),
        )?;
        let token = RequestToken::new();
        let delete = Delete::builder()
            .table_name(&self.tables().carts)
            .set_key(Some(cart_key(guest.user_id())))
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(names(&["cart_token", "version"])))
            .expression_attribute_values(":token", s(guest.id.token().to_string()))
            .expression_attribute_values(":version", n(guest.version));
        let mut actions = vec![
            self.cart_action(before, &change, &token)?,
            TransactWriteItem::builder()
                .delete(built(delete.build())?)
                .build(),
        ];
        for (item, units) in released {
            let back = StockMove {
                item: *item,
                taken: -(*units as i64),
                needs: 0,
                limit: None,
                total: 0,
                shards: 1,
            };
            let pool = Take {
                row: StockRow::Pool,
                taken: back.taken,
                needs: 0,
            };
            let update = move_stock(&self.tables().catalog, &back, &pool)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let Some(cancelled) = self.transact(actions, record, &token).await? else {
            return Ok(CartCommit::Done);
        };
        if let Some(receipt) = cancelled.taken_by.clone() {
            return Ok(CartCommit::KeyTaken(receipt));
        }
        if let Some(old) = cancelled.failed_at(0) {
            if token.written(old) {
                return Ok(CartCommit::Done);
            }
            return refused(old, before, now);
        }
        match cancelled.failed_at(1) {
            // The guest's cart changed (read again) or is gone (the read finds none: 404).
            Some(_) => Ok(CartCommit::CartChanged),
            None => Err(StoreError::Unexpected(
                "a merge was cancelled for no known reason".into(),
            )),
        }
    }

    /// The transaction's action on `before`'s cart: `change`, if the cart is still `before`,
    /// marked with `token` (a resend that was applied finds it).
    fn cart_action(
        &self,
        before: &Cart,
        change: &Transition,
        token: &RequestToken,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = change
            .apply_to(Update::builder().table_name(&self.tables().carts))
            .set_key(Some(cart_key(before.user_id())))
            .update_expression(format!(
                "{}, #{LAST_REQUEST} = :request_token",
                change.expression
            ))
            .expression_attribute_names(format!("#{LAST_REQUEST}"), LAST_REQUEST)
            .expression_attribute_values(":request_token", s(&token.0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder()
            .update(built(update.build())?)
            .build())
    }

    /// One page of the users whose carts hold units whose hold ended by `now`, from the
    /// `by-expiry` index (eventually consistent: each is read again before anything is
    /// released), at most `limit`, after `from` (where the previous page ended).
    pub async fn carts_to_sweep(
        &self,
        now: i64,
        limit: i32,
        from: Option<SweepCursor>,
    ) -> Result<SweepPage, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(&self.tables().carts)
            .index_name(CARTS_BY_EXPIRY_INDEX)
            .key_condition_expression("#sweep_pk = :hold AND #next_expiry <= :now")
            .set_expression_attribute_names(Some(names(&["sweep_pk", "next_expiry"])))
            .expression_attribute_values(":hold", s(HOLDING))
            .expression_attribute_values(":now", n(now.max(0) as u64))
            .set_exclusive_start_key(from.map(|cursor| cursor.0))
            .limit(limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.metrics().reads(out.consumed_capacity());
        let users = out
            .items()
            .iter()
            .filter_map(|raw| raw.get("user_id")?.as_s().ok());
        Ok(SweepPage {
            users: users.filter_map(|u| UserId::parse_any(u).ok()).collect(),
            next: out.last_evaluated_key().cloned().map(SweepCursor),
        })
    }

    /// Gives back the units of `user`'s expired holds at `now` (idled-out carts included): one
    /// strongly consistent read, then one transaction of the cart and the items. The units
    /// given back, by item (none if a change of the cart came first: the next sweep sees it).
    pub async fn release_holds(
        &self,
        user: &UserId,
        now: i64,
    ) -> Result<Vec<(ItemId, u64)>, StoreError> {
        let raw = self.get_raw(&self.tables().carts, cart_key(user)).await?;
        let Some(raw) = raw else { return Ok(vec![]) };
        let cart = CartRecord::live(Some(&raw), i64::MIN)?
            .ok_or_else(|| StoreError::Unexpected("an unreadable cart".into()))?
            .into_cart()?;
        let Some(after) = cart.released(now) else {
            return Ok(vec![]);
        };
        let given = cart.stock_moves(&after, now);
        let takes = Takes::new();
        Ok(
            match self.write_cart(&cart, &after, None, None, &takes).await? {
                CartCommit::Done => given
                    .into_iter()
                    .map(|moved| (moved.item, moved.taken.unsigned_abs()))
                    .collect(),
                _ => vec![],
            },
        )
    }
}

impl Store {
    /// An `UpdateItem` of `user`'s cart, to be given its expressions.
    fn update_cart(&self, user: &UserId) -> UpdateItemFluentBuilder {
        self.client()
            .update_item()
            .table_name(&self.tables().carts)
            .set_key(Some(cart_key(user)))
    }
}

/// What a refused write of `before` means, from the cart as the condition saw it.
fn refused(old: Option<&Raw>, before: &Cart, now: i64) -> Result<CartCommit, StoreError> {
    Ok(match CartRecord::owned(old, &before.id, now)? {
        Some(_) => CartCommit::CartChanged,
        None => CartCommit::CartNotFound,
    })
}

/// The expressions that take a cart from `before` to `after`: the lines that changed set, the
/// lines that went removed, the hold index attributes and the version moved on; if the cart is
/// still `before`. A user's change (`alive_at`) also needs the cart alive then, and pushes its
/// expiry back by `idle_secs`; the sweep's does neither.
struct Transition {
    expression: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn transition(
    before: &Cart,
    after: &Cart,
    alive_at: Option<i64>,
    idle_secs: i64,
) -> Result<Transition, StoreError> {
    let mut names = names(&["cart_token", "version", "sweep_pk", "next_expiry"]);
    let line_maps = ["qty", "price", "name", "added", "held", "held_until"];
    let mut values = HashMap::from([
        (":token".to_owned(), s(before.id.token().to_string())),
        (":version".to_owned(), n(before.version)),
        (":next".to_owned(), n(after.version)),
    ]);
    let mut sets = vec!["#version = :next".to_owned()];
    let mut removes = Vec::new();
    // The lines, written whole, map by map: one clause each whatever the cart's size (an
    // expression of a clause per line passed DynamoDB's 4 KB for a few dozen lines), and the
    // cart's version guards the whole like a part. `added` keeps the lines' order by position.
    if before.lines != after.lines {
        let map = |value: &dyn Fn(usize, &CartLine) -> AttributeValue| {
            let lines = after.lines.iter().enumerate();
            AttributeValue::M(
                lines
                    .map(|(i, l)| (l.item_id.get().to_string(), value(i, l)))
                    .collect(),
            )
        };
        values.insert(":qty".to_owned(), map(&|_, l| n(l.quantity)));
        values.insert(":price".to_owned(), map(&|_, l| n(l.unit_price.get())));
        values.insert(":name".to_owned(), map(&|_, l| s(l.name.as_str())));
        values.insert(":added".to_owned(), map(&|i, _| n(i as u64)));
        values.insert(":held".to_owned(), map(&|_, l| n(l.held)));
        let until = |l: &CartLine| n(l.held_until.unwrap_or(0).max(0) as u64);
        values.insert(":held_until".to_owned(), map(&|_, l| until(l)));
        sets.push(
            "#qty = :qty, #price = :price, #name = :name, #added = :added, #held = :held, \
             #held_until = :held_until"
                .to_owned(),
        );
    }
    // The lines' limits, written whole (a cart written before they existed has no such map to
    // set a member of): small, and the cart's version guards it like the rest.
    let limits = |cart: &Cart| -> Vec<(ItemId, u64)> {
        let lines = cart.lines.iter();
        lines.filter_map(|l| Some((l.item_id, l.limit?))).collect()
    };
    if limits(before) != limits(after) {
        let limits = limits(after).into_iter();
        let limits = limits.map(|(item, limit)| (item.get().to_string(), n(limit)));
        values.insert(":limits".to_owned(), AttributeValue::M(limits.collect()));
        names.extend(super::names(&["limit"]));
        sets.push("#limit = :limits".to_owned());
    }
    // The lines' views of their items' shards, written whole like the limits.
    let shards = |cart: &Cart| -> Vec<(ItemId, u32)> {
        let lines = cart.lines.iter().filter(|l| l.shards > 1);
        lines.map(|l| (l.item_id, l.shards)).collect()
    };
    if shards(before) != shards(after) {
        let shards = shards(after).into_iter();
        let shards = shards.map(|(item, n)| (item.get().to_string(), super::n(u64::from(n))));
        values.insert(":shards".to_owned(), AttributeValue::M(shards.collect()));
        names.extend(super::names(&["shards"]));
        sets.push("#shards = :shards".to_owned());
    }
    if before.history.hold_began != after.history.hold_began {
        let windows = after.history.hold_began.iter();
        let windows =
            windows.map(|(item, began)| (item.get().to_string(), n(began.max(&0).unsigned_abs())));
        values.insert(
            ":hold_began".to_owned(),
            AttributeValue::M(windows.collect()),
        );
        names.extend(super::names(&["hold_began"]));
        sets.push("#hold_began = :hold_began".to_owned());
    }
    // The code and the terms it was put on with, written whole when they change.
    if before.discount != after.discount {
        names.extend(super::names(&["discount"]));
        match &after.discount {
            Some(code) => {
                let record = DiscountRecord::of(code);
                let item = serde_dynamo::to_item(record).map_err(StoreError::mapping)?;
                values.insert(":discount".to_owned(), AttributeValue::M(item));
                sets.push("#discount = :discount".to_owned());
            }
            None => removes.push("#discount".to_owned()),
        }
    }
    match after.next_expiry() {
        Some(at) => {
            values.insert(":hold".to_owned(), s(HOLDING));
            values.insert(":next_expiry".to_owned(), n(at.max(0) as u64));
            sets.push("#sweep_pk = :hold, #next_expiry = :next_expiry".to_owned());
        }
        None => removes.push("#sweep_pk, #next_expiry".to_owned()),
    }
    if before.lines != after.lines {
        names.extend(super::names(&line_maps));
    }
    let mut condition = UNCHANGED.to_owned();
    if let Some(now) = alive_at {
        // A user's change: the cart must not have idled out, and its idle time starts again.
        condition = format!("{UNCHANGED} AND {ALIVE}");
        values.insert(":now".to_owned(), n(now.max(0) as u64));
        let expires_at = now.saturating_add(idle_secs).max(0) as u64;
        values.insert(":expires_at".to_owned(), n(expires_at));
        sets.push("#expires_at = :expires_at".to_owned());
        names.extend(super::names(&["expires_at"]));
    }
    let mut expression = String::new();
    if !removes.is_empty() {
        expression = format!("REMOVE {} ", removes.join(", "));
    }
    expression.push_str(&format!("SET {}", sets.join(", ")));
    Ok(Transition {
        expression,
        condition,
        names,
        values,
    })
}

impl Transition {
    fn apply(&self, request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        request
            .update_expression(&self.expression)
            .condition_expression(&self.condition)
            .set_expression_attribute_names(Some(self.names.clone()))
            .set_expression_attribute_values(Some(self.values.clone()))
    }

    fn apply_to(&self, update: UpdateBuilder) -> UpdateBuilder {
        update
            .condition_expression(&self.condition)
            .set_expression_attribute_names(Some(self.names.clone()))
            .set_expression_attribute_values(Some(self.values.clone()))
    }
}

/// Now, in microseconds: when a line was first added (lines are shown in that order).
fn added_now() -> u64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).max(0) as u64
}

/// The placeholders of an update to one line: every map, the token, the version, the expiry,
/// and `#item`.
fn line_names(item: ItemId) -> HashMap<String, String> {
    let mut names = names(&[
        "cart_token",
        "qty",
        "price",
        "name",
        "added",
        "version",
        "expires_at",
    ]);
    names.insert("#item".to_owned(), item.get().to_string());
    names
}

/// The cart an update returned, which must be `id`'s.
fn owned_cart(raw: Raw, id: &CartId, now: i64) -> Result<Cart, StoreError> {
    CartRecord::owned(Some(&raw), id, now)?
        .ok_or_else(|| StoreError::Unexpected("the cart update returned no cart".into()))?
        .into_cart()
}
