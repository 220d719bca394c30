//! Catalog entries and the values an admin may set on them.

use serde::Serialize;
use serde_json::Value;

use super::ids::Refusal;
use super::{ItemId, Quantity, MAX_SAFE_INTEGER};

/// An amount in minor units (cents): an integer from 0 to 2^53-1. Money is never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Price(u64);

impl Price {
    /// The largest amount a JSON client holds exactly (listing filters go up to it).
    pub const MAX: u64 = MAX_SAFE_INTEGER;
    /// The largest price an item may have (1,000,000.00). With at most `Stock::MAX` units on a
    /// line and `MAX_CART_LINES` lines, every cart and order total stays below 2^53-1.
    pub const ITEM_MAX: u64 = 100_000_000;

    /// An item's price as an admin sends it: 0..=`ITEM_MAX`.
    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        value.as_u64().and_then(Self::for_item).ok_or_else(|| {
            "must be an integer number of minor units from 0 to 100000000".to_owned()
        })
    }

    pub fn new(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    pub fn for_item(n: u64) -> Option<Self> {
        (n <= Self::ITEM_MAX).then_some(Self(n))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// Units on hand: an integer from 0 to 1,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Stock(u64);

impl Stock {
    pub const MAX: u64 = 1_000_000;

    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        value
            .as_u64()
            .and_then(Self::new)
            .ok_or_else(|| "must be an integer from 0 to 1000000".to_owned())
    }

    pub fn new(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    /// A stock as stored: may pass [`Stock::MAX`] by units a hold gave back after an admin set
    /// the stock (never by an input); bounded by what a JSON client holds exactly.
    pub fn stored(n: u64) -> Option<Self> {
        (n <= MAX_SAFE_INTEGER).then_some(Self(n))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// An item's display name: 1..=200 characters, no control characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ItemName(String);

impl ItemName {
    pub const MAX_CHARS: usize = 200;

    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) => Self::parse(s),
            _ => Err("must be a string".to_owned()),
        }
    }

    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > Self::MAX_CHARS {
            return Err("must be 1 to 200 characters".to_owned());
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A catalog entry as the API shows it; `quantity` is the stock on hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: ItemId,
    pub name: String,
    pub price: Price,
    #[serde(rename = "quantity")]
    pub stock: Stock,
    /// Moved on by every change of the item, sales included: what an admin's `If-Match` names
    /// (the item's `ETag`), so a stock set outright never overwrites sales made since. Shown by
    /// the admin routes ([`Item::admin_view`]), not in the listing's original shape.
    #[serde(skip)]
    pub version: u64,
    /// The most units one customer may hold and buy of it, all purchases together (`None`: no
    /// limit). Shown by the admin routes.
    #[serde(skip)]
    pub max_per_customer: Option<Quantity>,
    /// The rows its stock is split over (`domain::shards`; 1: not split, the stock is all in the
    /// item's own row). Split, `stock` is what the item's own row says is available: its pool and
    /// what its shards held at the last sweep (the listing's figure), unless all the rows were
    /// read (the admin routes, a short shard): then all of it, exactly. Shown by the admin routes.
    #[serde(skip)]
    pub shards: u32,
}

/// An item as the admin routes show it: the listing's members, the `version` and the
/// `max_per_customer` (`null` without one), and `stock_shards` when its stock is split.
#[derive(Serialize)]
pub struct AdminView<'a> {
    #[serde(flatten)]
    item: &'a Item,
    version: u64,
    max_per_customer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stock_shards: Option<u32>,
}

impl Item {
    pub fn admin_view(&self) -> AdminView<'_> {
        AdminView {
            item: self,
            version: self.version,
            max_per_customer: self.max_per_customer.map(Quantity::get),
            stock_shards: (self.shards > 1).then_some(self.shards),
        }
    }

    /// Its stock is split over shard rows.
    pub fn sharded(&self) -> bool {
        self.shards > 1
    }
}

/// What an admin sends to create an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewItem {
    pub name: ItemName,
    pub price: Price,
    pub stock: Stock,
    pub max_per_customer: Option<Quantity>,
}

/// What an admin may change on an item: its name, its price, and its stock either set
/// (`stock`) or raised atomically (`restock`, safe while purchases decrement it), its limit per
/// customer, and the rows its stock is split over.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ItemChange {
    pub name: Option<ItemName>,
    pub price: Option<Price>,
    pub stock: Option<Stock>,
    pub restock: Option<Stock>,
    /// `Some(None)` removes the limit.
    pub max_per_customer: Option<Option<Quantity>>,
    /// `stock_shards`: the rows to split the stock over (1..=`MAX_SHARDS`; 1 makes it whole).
    pub shards: Option<u32>,
}

impl NewItem {
    /// The item it becomes under `id`.
    pub fn with_id(&self, id: ItemId) -> Item {
        Item {
            id,
            name: self.name.as_str().to_owned(),
            price: self.price,
            stock: self.stock,
            version: 0,
            max_per_customer: self.max_per_customer,
            shards: 1,
        }
    }
}

impl Item {
    /// The item with `change` applied, one version on; `None` when a restock would take the
    /// stock past [`Stock::MAX`]. (The unkeyed update applies the same change in one
    /// conditional `UpdateItem`: `store::catalog`.)
    pub fn changed(&self, change: &ItemChange) -> Option<Item> {
        let stock = match (change.stock, change.restock) {
            (_, Some(more)) => Stock::new(self.stock.get() + more.get())?,
            (Some(stock), None) => stock,
            (None, None) => self.stock,
        };
        Some(Item {
            id: self.id,
            name: change
                .name
                .as_ref()
                .map_or_else(|| self.name.clone(), |n| n.as_str().to_owned()),
            price: change.price.unwrap_or(self.price),
            stock,
            version: self.version + 1,
            max_per_customer: change.max_per_customer.unwrap_or(self.max_per_customer),
            shards: change.shards.unwrap_or(self.shards),
        })
    }
}

/// Part of a keyed update's fingerprint (`app::items::update`), so written as `derive(Debug)`
/// wrote it before `shards` existed, `shards` only when it is set: a key bound to a request
/// then binds the same request now.
impl std::fmt::Debug for ItemChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut change = f.debug_struct("ItemChange");
        change
            .field("name", &self.name)
            .field("price", &self.price)
            .field("stock", &self.stock)
            .field("restock", &self.restock)
            .field("max_per_customer", &self.max_per_customer);
        if let Some(shards) = self.shards {
            change.field("shards", &shards);
        }
        change.finish()
    }
}

impl ItemChange {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.price.is_none()
            && self.stock.is_none()
            && self.restock.is_none()
            && self.max_per_customer.is_none()
            && self.shards.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_prices_are_integers_from_zero_to_one_million_units() {
        assert!(Price::from_json(&json!(0)).is_ok());
        assert!(Price::from_json(&json!(Price::ITEM_MAX)).is_ok());
        assert!(Price::from_json(&json!(869)).is_ok());
        for value in [
            json!(-1),
            json!(8.69),
            json!("869"),
            json!(Price::ITEM_MAX + 1),
            json!(MAX_SAFE_INTEGER + 1),
        ] {
            assert!(
                Price::from_json(&value).is_err(),
                "{value} should be refused"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ItemName::parse("  Mussels - Frozen ").unwrap().as_str(),
            "Mussels - Frozen"
        );
        assert!(ItemName::parse("   ").is_err());
        assert!(ItemName::parse(&"x".repeat(201)).is_err());
        assert!(ItemName::parse("bell\u{7}").is_err());
    }
}
