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
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{built, n, names, s, Raw, Store, StoreError, Written};
use crate::domain::{
    Cart, CartId, CartLine, Item, ItemId, Price, PriceChange, Quantity, UserId, MAX_CART_LINES,
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

/// The purchase's last action: the cart emptied, if it is still the cart and the version that
/// the purchase read (any change since then cancels the purchase).
pub(crate) fn clear_cart(table: &str, cart: &Cart) -> Result<Update, StoreError> {
    let empty = AttributeValue::M(HashMap::new());
    built(
        Update::builder()
            .table_name(table)
            .set_key(Some(cart_key(cart.user_id())))
            .update_expression(
                "SET #qty = :empty, #price = :empty, #name = :empty, #added = :empty, \
                 #version = #version + :one",
            )
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(names(&[
                "cart_token",
                "qty",
                "price",
                "name",
                "added",
                "version",
            ])))
            .expression_attribute_values(":empty", empty)
            .expression_attribute_values(":one", n(1))
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
        let added_at = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
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
            .expression_attribute_values(":now", n(added_at.max(0) as u64))
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

    /// Sets the unit prices of some lines to the items' current prices, if the cart is still at
    /// `version` (a concurrent change wins; the next purchase notices the prices again).
    pub async fn refresh_cart_prices(
        &self,
        cart: &Cart,
        prices: &[PriceChange],
    ) -> Result<bool, StoreError> {
        if prices.is_empty() {
            return Ok(true);
        }
        let mut sets = vec!["#version = #version + :one".to_owned()];
        let mut request = self
            .update_cart(cart.user_id())
            .condition_expression(UNCHANGED)
            .set_expression_attribute_names(Some(names(&["cart_token", "version", "price"])))
            .expression_attribute_values(":token", s(cart.id.token().to_string()))
            .expression_attribute_values(":version", n(cart.version))
            .expression_attribute_values(":one", n(1));
        for (i, change) in prices.iter().enumerate() {
            sets.push(format!("#price.#i{i} = :p{i}"));
            request = request
                .expression_attribute_names(format!("#i{i}"), change.item_id.get().to_string())
                .expression_attribute_values(format!(":p{i}"), n(change.current_price));
        }
        let request = request.update_expression(format!("SET {}", sets.join(", ")));
        Ok(matches!(self.update(request).await?, Written::Done(_)))
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
