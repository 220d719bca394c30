//! The carts table: one item per user, keyed by `user_id`.
//!
//! Item shape: `user_id` (S), `cart_token` (S, the random half of the cart id), `version` (N,
//! bumped by every change), `created_at`, and four maps keyed by item id: `qty`, `price` (unit
//! price when last added), `name` and `added` (when first added, for the line order). One item
//! per cart makes create, view and remove one request each, and makes every change a single
//! conditional update: ownership, the 50-line bound and the stock bound are checked in the same
//! atomic step that writes.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::catalog::{decode_item, item_key};
use super::idempotency::NewRecord;
use super::{built, n, names, s, Raw, RequestToken, Store, StoreError, Written, LAST_REQUEST};
use crate::domain::{
    Cart, CartId, CartLine, Item, ItemId, Price, Quantity, Receipt, UserId, MAX_CART_LINES,
};

#[derive(Debug, Serialize, Deserialize)]
struct CartRecord {
    user_id: String,
    cart_token: String,
    version: u64,
    created_at: String,
    #[serde(default)]
    qty: HashMap<String, u64>,
    #[serde(default)]
    price: HashMap<String, u64>,
    #[serde(default)]
    name: HashMap<String, String>,
    #[serde(default)]
    added: HashMap<String, u64>,
}

impl CartRecord {
    fn empty(id: &CartId) -> Self {
        Self {
            user_id: id.owner().to_string(),
            cart_token: id.token().to_string(),
            version: 0,
            created_at: super::now_rfc3339(),
            qty: HashMap::new(),
            price: HashMap::new(),
            name: HashMap::new(),
            added: HashMap::new(),
        }
    }

    /// The record behind `id`: present, and its token is the id's.
    fn owned(raw: Option<&Raw>, id: &CartId) -> Result<Option<Self>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let record: Self = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
        Ok(
            (record.user_id == id.owner().as_str() && record.cart_token == id.token().to_string())
                .then_some(record),
        )
    }

    /// The record of whatever cart `user` has.
    fn any(raw: &Raw) -> Result<Self, StoreError> {
        serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)
    }

    fn into_cart(self) -> Result<Cart, StoreError> {
        let corrupt =
            || StoreError::Unexpected(format!("cart of user {} is malformed", self.user_id).into());
        let owner = UserId::parse(&self.user_id).map_err(|_| corrupt())?;
        let token = self.cart_token.parse().map_err(|_| corrupt())?;
        let mut lines = Vec::with_capacity(self.qty.len());
        for (key, quantity) in &self.qty {
            let item_id = key.parse().ok().and_then(ItemId::new).ok_or_else(corrupt)?;
            let added = self.added.get(key).copied().unwrap_or(0);
            let line = CartLine {
                item_id,
                name: self.name.get(key).cloned().unwrap_or_default(),
                quantity: *quantity,
                unit_price: self
                    .price
                    .get(key)
                    .copied()
                    .and_then(Price::new)
                    .ok_or_else(corrupt)?,
            };
            lines.push((added, line));
        }
        lines.sort_by_key(|(added, line)| (*added, line.item_id));
        Ok(Cart {
            id: CartId::new(owner, token),
            lines: lines.into_iter().map(|(_, line)| line).collect(),
            version: self.version,
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
}

/// The key of `user`'s cart (one per user).
pub(crate) fn cart_key(user: &UserId) -> Raw {
    HashMap::from([("user_id".to_owned(), s(user.as_str()))])
}

/// Whatever cart a read of `cart_key` found.
pub(crate) fn decode_cart(raw: &Raw) -> Result<Cart, StoreError> {
    CartRecord::any(raw)?.into_cart()
}

/// The purchase's action on the cart: emptied, if it is still the cart and the version that
/// the purchase read (any change since then cancels the purchase).
pub(crate) fn clear_cart(table: &str, cart: &Cart) -> Result<Update, StoreError> {
    let empty = AttributeValue::M(HashMap::new());
    built(
        Update::builder()
            .table_name(table)
            .set_key(Some(cart_key(cart.user_id())))
            .update_expression(
                "SET #qty = :empty, #price = :empty, #name = :empty, #added = :empty, \
                 #version = #version + :one, #last_request = :request_token",
            )
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(names(&[
                "cart_token",
                "qty",
                "price",
                "name",
                "added",
                "version",
                LAST_REQUEST,
            ])))
            .expression_attribute_values(":empty", empty)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":request_token", s(RequestToken::new().0))
            .expression_attribute_values(":token", s(cart.id.token().to_string()))
            .expression_attribute_values(":version", n(cart.version))
            .build(),
    )
}

/// The cart is still the one that was read, at the version that was read.
const UNCHANGED: &str = "#cart_token = :token AND #version = :version";

impl Store {
    /// The user's cart, created if they have none: one conditional put that either writes a new
    /// empty cart or, when one exists, fails and returns it. Racing creates all get one cart.
    /// The boolean says whether this call created it.
    pub async fn create_or_get_cart(&self, user: &UserId) -> Result<(Cart, bool), StoreError> {
        let id = CartId::generate(user.clone());
        let record = CartRecord::empty(&id);
        let item = serde_dynamo::to_item(&record).map_err(StoreError::mapping)?;
        match self.put_new(&self.tables().carts, item, "user_id").await? {
            Written::Done(_) => Ok((record.into_cart()?, true)),
            Written::Refused(Some(existing)) => Ok((decode_cart(&existing)?, false)),
            Written::Refused(None) => Err(StoreError::Unexpected(
                "the failed cart put returned no item".into(),
            )),
        }
    }

    /// The cart with this id, read strongly consistent.
    pub async fn get_cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        let raw = self
            .get_raw(&self.tables().carts, cart_key(id.owner()))
            .await?;
        CartRecord::owned(raw.as_ref(), id)?
            .map(CartRecord::into_cart)
            .transpose()
    }

    /// Adds `quantity` of `item` to the cart in one conditional update: the cart must be this
    /// id's, have room for a new line, and hold no more than `item.stock` units of the item
    /// afterwards. The line's unit price becomes the item's current price. Concurrent adds are
    /// atomic increments, so none is lost.
    pub async fn add_cart_line(
        &self,
        id: &CartId,
        item: &Item,
        quantity: Quantity,
    ) -> Result<AddLine, StoreError> {
        let requested = u64::from(quantity.get());
        let Some(room) = item.stock.get().checked_sub(requested) else {
            // More than the stock whatever the cart holds; one read tells which answer is due.
            return Ok(match self.get_cart(id).await? {
                None => AddLine::CartNotFound,
                Some(cart) => AddLine::InsufficientStock {
                    in_cart: cart
                        .lines
                        .iter()
                        .find(|l| l.item_id == item.id)
                        .map_or(0, |l| l.quantity),
                },
            });
        };
        let added_at = added_now();
        let request = self
            .update_cart(id.owner())
            .update_expression(
                "SET #qty.#item = if_not_exists(#qty.#item, :zero) + :quantity, \
                 #price.#item = :price, #name.#item = :name, \
                 #added.#item = if_not_exists(#added.#item, :now), \
                 #version = #version + :one",
            )
            .condition_expression(
                "#cart_token = :token \
                 AND (attribute_exists(#qty.#item) OR size(#qty) < :max_lines) \
                 AND (attribute_not_exists(#qty.#item) OR #qty.#item <= :room)",
            )
            .set_expression_attribute_names(Some(line_names(item.id)))
            .expression_attribute_values(":token", s(id.token().to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":quantity", n(requested))
            .expression_attribute_values(":price", n(item.price.get()))
            .expression_attribute_values(":name", s(item.name.as_str()))
            .expression_attribute_values(":now", n(added_at))
            .expression_attribute_values(":max_lines", n(MAX_CART_LINES as u64))
            .expression_attribute_values(":room", n(room));
        Ok(match self.update(request).await? {
            Written::Done(new) => AddLine::Added(owned_cart(new, id)?),
            Written::Refused(old) => match CartRecord::owned(old.as_ref(), id)? {
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

    /// Removes a line in one conditional update (the cart must be this id's and hold the item).
    pub async fn remove_cart_line(
        &self,
        id: &CartId,
        item: ItemId,
    ) -> Result<CartChange, StoreError> {
        let request = self
            .update_cart(id.owner())
            .update_expression(
                "REMOVE #qty.#item, #price.#item, #name.#item, #added.#item \
                 SET #version = #version + :one",
            )
            .condition_expression("#cart_token = :token AND attribute_exists(#qty.#item)")
            .set_expression_attribute_names(Some(line_names(item)))
            .expression_attribute_values(":token", s(id.token().to_string()))
            .expression_attribute_values(":one", n(1));
        Ok(match self.update(request).await? {
            Written::Done(new) => CartChange::Changed(owned_cart(new, id)?),
            Written::Refused(old) => match CartRecord::owned(old.as_ref(), id)? {
                None => CartChange::CartNotFound,
                Some(_) => CartChange::LineNotFound,
            },
        })
    }

    /// The user's cart, with the key's live receipt (`pk`) and an item when asked, in one
    /// strongly consistent `BatchGetItem`: what a keyed change of a cart starts from.
    pub async fn read_cart(
        &self,
        id: &CartId,
        pk: Option<&str>,
        item: Option<ItemId>,
        now: i64,
    ) -> Result<CartRead, StoreError> {
        let tables = self.tables();
        let mut keys = vec![(tables.carts.clone(), cart_key(id.owner()))];
        keys.extend(item.map(|item| (tables.catalog.clone(), item_key(item))));
        let (receipt, items) = self.read_with_receipt(pk, keys, now).await?;
        let mut items = items.into_iter();
        let cart = CartRecord::owned(items.next().flatten().as_ref(), id)?;
        Ok(CartRead {
            receipt,
            cart: cart.map(CartRecord::into_cart).transpose()?,
            item: items
                .next()
                .flatten()
                .as_ref()
                .map(decode_item)
                .transpose()?,
        })
    }

    /// Writes `after` over `before` (the same cart, one version on), if the cart is still
    /// `before`: the lines that changed, in one conditional write. With a key's record, in one
    /// transaction with it.
    pub async fn commit_cart(
        &self,
        before: &Cart,
        after: &Cart,
        record: Option<&NewRecord<'_>>,
    ) -> Result<CartCommit, StoreError> {
        let change = transition(before, after);
        let Some(record) = record else {
            let request = change.apply(self.update_cart(before.user_id()));
            return Ok(match self.update(request).await? {
                Written::Done(_) => CartCommit::Done,
                Written::Refused(now) => match CartRecord::owned(now.as_ref(), &before.id)? {
                    Some(_) => CartCommit::CartChanged,
                    None => CartCommit::CartNotFound,
                },
            });
        };
        let update = change
            .apply_to(Update::builder().table_name(&self.tables().carts))
            .set_key(Some(cart_key(before.user_id())))
            .update_expression(format!(
                "{}, #{LAST_REQUEST} = :request_token",
                change.expression
            ))
            .expression_attribute_names(format!("#{LAST_REQUEST}"), LAST_REQUEST)
            .expression_attribute_values(":request_token", s(RequestToken::new().0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let action = TransactWriteItem::builder()
            .update(built(update.build())?)
            .build();
        let Some(cancelled) = self.transact(vec![action], Some(record)).await? else {
            return Ok(CartCommit::Done);
        };
        if let Some(receipt) = cancelled.taken_by {
            return Ok(CartCommit::KeyTaken(receipt));
        }
        Ok(match cancelled.failed_at(0) {
            Some(now) if CartRecord::owned(now, &before.id)?.is_some() => CartCommit::CartChanged,
            Some(_) => CartCommit::CartNotFound,
            None => {
                return Err(StoreError::Unexpected(
                    "a cart transaction was cancelled for no known reason".into(),
                ))
            }
        })
    }
}

/// What a keyed change of a cart starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartRead {
    pub receipt: Option<Receipt>,
    /// The cart, if it exists and is this id's.
    pub cart: Option<Cart>,
    pub item: Option<Item>,
}

/// What writing a cart's new state came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartCommit {
    Done,
    /// The cart changed since it was read: read it again.
    CartChanged,
    /// The cart is gone, or is another cart now.
    CartNotFound,
    /// The key was taken meanwhile: this is its answer.
    KeyTaken(Receipt),
}

/// The expressions that take a cart from `before` to `after`: the lines that changed set, the
/// lines that went removed, the version moved on; if the cart is still `before`.
struct Transition {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn transition(before: &Cart, after: &Cart) -> Transition {
    let mut names = names(&["cart_token", "qty", "price", "name", "added", "version"]);
    let mut values = HashMap::from([
        (":token".to_owned(), s(before.id.token().to_string())),
        (":version".to_owned(), n(before.version)),
        (":next".to_owned(), n(after.version)),
    ]);
    let (mut sets, mut removes) = (vec!["#version = :next".to_owned()], Vec::new());
    for (i, line) in after.lines.iter().enumerate() {
        if before.lines.contains(line) {
            continue;
        }
        values
            .entry(":now".to_owned())
            .or_insert_with(|| n(added_now()));
        names.insert(format!("#s{i}"), line.item_id.get().to_string());
        values.insert(format!(":q{i}"), n(line.quantity));
        values.insert(format!(":p{i}"), n(line.unit_price.get()));
        values.insert(format!(":n{i}"), s(line.name.as_str()));
        sets.push(format!(
            "#qty.#s{i} = :q{i}, #price.#s{i} = :p{i}, #name.#s{i} = :n{i}, \
             #added.#s{i} = if_not_exists(#added.#s{i}, :now)"
        ));
    }
    for (i, line) in before.lines.iter().enumerate() {
        if after.lines.iter().any(|l| l.item_id == line.item_id) {
            continue;
        }
        names.insert(format!("#r{i}"), line.item_id.get().to_string());
        removes.push(format!(
            "#qty.#r{i}, #price.#r{i}, #name.#r{i}, #added.#r{i}"
        ));
    }
    let mut expression = String::new();
    if !removes.is_empty() {
        expression = format!("REMOVE {} ", removes.join(", "));
    }
    expression.push_str(&format!("SET {}", sets.join(", ")));
    Transition {
        expression,
        names,
        values,
    }
}

impl Transition {
    fn apply(&self, request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        request
            .update_expression(&self.expression)
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(self.names.clone()))
            .set_expression_attribute_values(Some(self.values.clone()))
    }

    fn apply_to(&self, update: UpdateBuilder) -> UpdateBuilder {
        update
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(self.names.clone()))
            .set_expression_attribute_values(Some(self.values.clone()))
    }
}

/// Now, in microseconds: when a line was first added (lines are shown in that order).
fn added_now() -> u64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).max(0) as u64
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

/// The placeholders of an update to one line: every map, the token, the version, and `#item`.
fn line_names(item: ItemId) -> HashMap<String, String> {
    let mut names = names(&["cart_token", "qty", "price", "name", "added", "version"]);
    names.insert("#item".to_owned(), item.get().to_string());
    names
}

/// The cart an update returned, which must be `id`'s.
fn owned_cart(raw: Raw, id: &CartId) -> Result<Cart, StoreError> {
    CartRecord::owned(Some(&raw), id)?
        .ok_or_else(|| StoreError::Unexpected("the cart update returned no cart".into()))?
        .into_cart()
}
