//! The catalog table: items keyed by `id`, listed through the `by-price` index.
//!
//! Item shape: `id` (N), `name`, `name_lc` (lower-cased, for the name filter), `price` (N),
//! `stock` (N), `list_pk` (always `"ITEM"`: the index's one partition) and `price_key`
//! (`"{price:016}#{id:016}"`: the index's sort key, so the index holds every item in price-then-id
//! order and a price range is one key range). Item `id = 0` is the id counter for admin-created
//! items; it has no `list_pk`, so it is never listed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, PutRequest, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    Update, WriteRequest,
};
use serde::{Deserialize, Serialize};

use super::schema::CATALOG_BY_PRICE_INDEX;
use super::{built, n, names, pause, s, Store, StoreError, Written};
use crate::domain::{
    CartLine, Cursor, Item, ItemChange, ItemId, ListQuery, NewItem, Page, Price, Stock,
};

/// Ids from here up are handed out by `create_item`; the seeded dataset uses ids below it.
pub const ADMIN_ID_FLOOR: u64 = 1_000_000;

const LIST_PARTITION: &str = "ITEM";
const COUNTER_ID: u64 = 0;
const BATCH_SIZE: usize = 25;
const BATCH_ATTEMPTS: u32 = 8;

#[derive(Debug, Serialize, Deserialize)]
struct ItemRecord {
    id: u64,
    name: String,
    name_lc: String,
    price: u64,
    stock: u64,
    list_pk: String,
    price_key: String,
}

impl ItemRecord {
    fn from_item(item: &Item) -> Self {
        Self {
            id: item.id.get(),
            name: item.name.clone(),
            name_lc: item.name.to_lowercase(),
            price: item.price.get(),
            stock: item.stock.get(),
            list_pk: LIST_PARTITION.to_owned(),
            price_key: price_key(item.price, item.id),
        }
    }

    fn into_item(self) -> Result<Item, StoreError> {
        let corrupt =
            || StoreError::Unexpected(format!("catalog item {} is malformed", self.id).into());
        Ok(Item {
            id: ItemId::new(self.id).ok_or_else(corrupt)?,
            price: Price::new(self.price).ok_or_else(corrupt)?,
            stock: Stock::new(self.stock).ok_or_else(corrupt)?,
            name: self.name,
        })
    }
}

fn price_key(price: Price, id: ItemId) -> String {
    format!("{:016}#{:016}", price.get(), id.get())
}

fn cursor_from_price_key(key: &str) -> Option<Cursor> {
    let (price, id) = key.split_once('#')?;
    Some(Cursor {
        price: Price::new(price.parse().ok()?)?,
        id: ItemId::new(id.parse().ok()?)?,
    })
}

/// An item as DynamoDB returned it (a read, or the old item of a failed condition).
pub(crate) fn decode_item(raw: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    serde_dynamo::from_item::<_, ItemRecord>(raw.clone())
        .map_err(StoreError::mapping)?
        .into_item()
}

/// What an admin's change came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemUpdate {
    Updated(Item),
    NotFound,
    /// The restock would take the stock past `Stock::MAX`.
    StockFull,
}

/// What a batch upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatalogWrite {
    pub written: usize,
    pub batches: usize,
    /// Batches re-sent because DynamoDB left some of their items unprocessed.
    pub retried_batches: usize,
}

impl Store {
    /// One item, read strongly consistent (an add to a cart checks the stock of this moment).
    pub async fn get_item(&self, id: ItemId) -> Result<Option<Item>, StoreError> {
        let key = HashMap::from([("id".to_owned(), n(id.get()))]);
        let raw = self.get_raw(&self.tables().catalog, key).await?;
        raw.as_ref().map(decode_item).transpose()
    }

    /// Upserts items with `BatchWriteItem`, 25 at a time, re-sending unprocessed items with
    /// backoff. Touches nothing but the given catalog items.
    pub async fn put_items(&self, items: &[Item]) -> Result<CatalogWrite, StoreError> {
        let mut report = CatalogWrite::default();
        for chunk in items.chunks(BATCH_SIZE) {
            let mut requests = chunk
                .iter()
                .map(|item| {
                    let record = serde_dynamo::to_item(ItemRecord::from_item(item))
                        .map_err(StoreError::mapping)?;
                    Ok(WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(record))
                                .build()
                                .map_err(|e| StoreError::Unexpected(Box::new(e)))?,
                        )
                        .build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            report.batches += 1;
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt > 0 {
                    report.retried_batches += 1;
                }
                pause(attempt).await;
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        format!("{} catalog items stayed unprocessed", requests.len()).into(),
                    ));
                }
                let sent = requests.len();
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(&self.tables().catalog, requests)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                self.metrics().writes(out.consumed_capacity());
                requests = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.tables().catalog))
                    .cloned()
                    .unwrap_or_default();
                report.written += sent - requests.len();
                attempt += 1;
            }
        }
        Ok(report)
    }

    /// One page of the listing, read from the `by-price` index (a Query, never a Scan).
    ///
    /// Without a name filter a page is one request reading `limit + 1` entries. With one, the
    /// index cannot skip non-matching names, so a request reads at most `read_budget` entries;
    /// when that bound is hit, the matches so far are answered with a cursor to continue.
    pub async fn list_items(
        &self,
        query: &ListQuery,
        read_budget: u32,
    ) -> Result<Page, StoreError> {
        let limit = query.limit as usize;
        let mut budget = read_budget.max(1);
        let mut start = query.after.map(exclusive_start_key);
        let mut items: Vec<Item> = Vec::with_capacity(limit + 1);
        let mut scanned = 0u32;
        loop {
            let read_limit = match query.name {
                Some(_) => budget,
                None => budget.min((limit + 1 - items.len()) as u32),
            };
            let mut request = self
                .client()
                .query()
                .table_name(&self.tables().catalog)
                .index_name(CATALOG_BY_PRICE_INDEX)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", "list_pk")
                .expression_attribute_names("#sk", "price_key")
                .expression_attribute_values(":pk", s(LIST_PARTITION))
                .expression_attribute_values(":lo", s(format!("{:016}#", query.min_price.get())))
                .expression_attribute_values(":hi", s(format!("{:016}#~", query.max_price.get())))
                .set_exclusive_start_key(start.take())
                .limit(read_limit as i32)
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            if let Some(name) = &query.name {
                request = request
                    .filter_expression("contains(#name_lc, :name)")
                    .expression_attribute_names("#name_lc", "name_lc")
                    .expression_attribute_values(":name", s(name.as_str()));
            }
            let out = request.send().await.map_err(StoreError::from_sdk)?;
            self.metrics().reads(out.consumed_capacity());
            let read = out.scanned_count().max(0) as u32;
            scanned += read;
            budget = budget.saturating_sub(read);
            for raw in out.items() {
                items.push(decode_item(raw)?);
            }
            let more_in_index = out.last_evaluated_key().is_some();
            if items.len() > limit || (items.len() == limit && more_in_index) {
                items.truncate(limit);
                let next = items.last().map(|i| Cursor {
                    price: i.price,
                    id: i.id,
                });
                return Ok(Page {
                    items,
                    next,
                    scanned,
                });
            }
            match out.last_evaluated_key() {
                None => {
                    return Ok(Page {
                        items,
                        next: None,
                        scanned,
                    })
                }
                Some(key) if budget == 0 => {
                    let next = key
                        .get("price_key")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|k| cursor_from_price_key(k));
                    return Ok(Page {
                        items,
                        next,
                        scanned,
                    });
                }
                Some(key) => start = Some(key.clone()),
            }
        }
    }

    /// Creates an item with the next free id (`ADMIN_ID_FLOOR` and up): two requests, the id
    /// counter's atomic increment and a put that never overwrites.
    pub async fn create_item(&self, new: &NewItem) -> Result<Item, StoreError> {
        let counter = self
            .client()
            .update_item()
            .table_name(&self.tables().catalog)
            .key("id", n(COUNTER_ID))
            .update_expression("SET #next_id = if_not_exists(#next_id, :floor) + :one")
            .set_expression_attribute_names(Some(names(&["next_id"])))
            .expression_attribute_values(":floor", n(ADMIN_ID_FLOOR - 1))
            .expression_attribute_values(":one", n(1));
        let Written::Done(counter) = self.update(counter).await? else {
            return Err(StoreError::Unexpected(
                "the id counter has no condition".into(),
            ));
        };
        let id = counter
            .get("next_id")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .and_then(ItemId::new)
            .ok_or_else(|| StoreError::Unexpected("the item id counter is malformed".into()))?;
        let item = Item {
            id,
            name: new.name.as_str().to_owned(),
            price: new.price,
            stock: new.stock,
        };
        let record =
            serde_dynamo::to_item(ItemRecord::from_item(&item)).map_err(StoreError::mapping)?;
        match self.put_new(&self.tables().catalog, record, "id").await? {
            Written::Done(_) => Ok(item),
            Written::Refused(_) => Err(StoreError::Unexpected(
                format!("the new item id {} is taken", item.id.get()).into(),
            )),
        }
    }

    /// Applies an admin's change to an existing item in one conditional update.
    pub async fn update_item(
        &self,
        id: ItemId,
        change: &ItemChange,
    ) -> Result<ItemUpdate, StoreError> {
        let mut sets = Vec::new();
        let mut condition = "attribute_exists(#list_pk)";
        let mut request = self
            .client()
            .update_item()
            .table_name(&self.tables().catalog)
            .key("id", n(id.get()))
            .expression_attribute_names("#list_pk", "list_pk");
        if let Some(name) = &change.name {
            sets.push("#name = :name, #name_lc = :name_lc");
            request = request
                .expression_attribute_names("#name", "name")
                .expression_attribute_names("#name_lc", "name_lc")
                .expression_attribute_values(":name", s(name.as_str()))
                .expression_attribute_values(":name_lc", s(name.as_str().to_lowercase()));
        }
        if let Some(price) = change.price {
            sets.push("#price = :price, #price_key = :price_key");
            request = request
                .expression_attribute_names("#price", "price")
                .expression_attribute_names("#price_key", "price_key")
                .expression_attribute_values(":price", n(price.get()))
                .expression_attribute_values(":price_key", s(price_key(price, id)));
        }
        if let Some(stock) = change.stock {
            sets.push("#stock = :stock");
            request = request
                .expression_attribute_names("#stock", "stock")
                .expression_attribute_values(":stock", n(stock.get()));
        }
        if let Some(restock) = change.restock {
            sets.push("#stock = #stock + :restock");
            condition = "attribute_exists(#list_pk) AND #stock <= :room";
            request = request
                .expression_attribute_names("#stock", "stock")
                .expression_attribute_values(":restock", n(restock.get()))
                .expression_attribute_values(":room", n(Stock::MAX - restock.get()));
        }
        let request = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition);
        Ok(match self.update(request).await? {
            Written::Done(new) => ItemUpdate::Updated(decode_item(&new)?),
            // The item exists (it has its `list_pk`): the restock would pass the limit.
            Written::Refused(Some(old)) if old.contains_key("list_pk") => ItemUpdate::StockFull,
            Written::Refused(_) => ItemUpdate::NotFound,
        })
    }
}

/// A purchase line's stock decrement, one action of the purchase transaction: it applies only
/// while the stock covers the quantity and the price is still the one the cart holds. When it
/// fails, the item comes back as it is now (`ALL_OLD`, read with `decode_item`).
pub(crate) fn take_stock(table: &str, line: &CartLine) -> Result<Update, StoreError> {
    built(
        Update::builder()
            .table_name(table)
            .key("id", n(line.item_id.get()))
            .update_expression("SET #stock = #stock - :quantity")
            .condition_expression("#stock >= :quantity AND #price = :seen_price")
            .set_expression_attribute_names(Some(names(&["stock", "price"])))
            .expression_attribute_values(":quantity", n(line.quantity))
            .expression_attribute_values(":seen_price", n(line.unit_price.get()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )
}

fn exclusive_start_key(cursor: Cursor) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_owned(), n(cursor.id.get())),
        ("list_pk".to_owned(), s(LIST_PARTITION)),
        (
            "price_key".to_owned(),
            s(price_key(cursor.price, cursor.id)),
        ),
    ])
}
