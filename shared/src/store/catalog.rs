//! The catalog table: items keyed by `id`, listed through the `by-price` index.
//!
//! Item shape: `id` (N), `name`, `name_lc` (lower-cased, for the name filter), `price` (N),
//! `stock` (N), `version` (N, moved on by every change, sales included), `list_pk` (always
//! `"ITEM"`: the index's one partition) and `price_key` (`"{price:016}#{id:016}"`: the index's
//! sort key, so the index holds every item in price-then-id order and a price range is one key
//! range). Item `id = 0` is the id counter for admin-created items (`next_id`, the last id
//! handed out); it has no `list_pk`, so it is never listed. An item split over shard rows
//! (`domain::shards`) also has `shards` (N) and `in_shards` (what its shards held at the last
//! sweep): its `stock` is then its pool, and the listing shows `stock + in_shards`. Its shard rows
//! and the registry of split items are in `store::shards`; neither has a `list_pk`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use serde::{Deserialize, Serialize};

use super::keys::NewRecord;
use super::schema::CATALOG_BY_PRICE_INDEX;
use super::shards::row_key;
use super::{built, n, names, pause, s, Raw, RequestToken, Store, StoreError, Written};
use crate::domain::{
    CartLine, Cursor, Item, ItemChange, ItemId, ListQuery, NewItem, Page, Price, Quantity, Receipt,
    Stock, StockMove, StockRow, Take,
};

/// Ids from here up are handed out by `create_item`; the seeded dataset uses ids below it.
pub const ADMIN_ID_FLOOR: u64 = 1_000_000;

const LIST_PARTITION: &str = "ITEM";
const COUNTER_ID: u64 = 0;
const BATCH_SIZE: usize = 25;
const BATCH_ATTEMPTS: u32 = 8;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ItemRecord {
    id: u64,
    name: String,
    name_lc: String,
    price: u64,
    stock: u64,
    #[serde(default)]
    version: u64,
    list_pk: String,
    price_key: String,
    /// The most units one customer may hold and buy (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_per_customer: Option<u64>,
    /// The rows its stock is split over (absent: not split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shards: Option<u32>,
    /// Split: what its shards held at the last sweep (or admin change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    in_shards: Option<u64>,
}

impl ItemRecord {
    pub(crate) fn from_item(item: &Item) -> Self {
        Self {
            id: item.id.get(),
            name: item.name.clone(),
            name_lc: item.name.to_lowercase(),
            price: item.price.get(),
            stock: item.stock.get(),
            version: item.version,
            list_pk: LIST_PARTITION.to_owned(),
            price_key: price_key(item.price, item.id),
            max_per_customer: item.max_per_customer.map(|max| u64::from(max.get())),
            shards: None,
            in_shards: None,
        }
    }

    /// The item's own row when its stock is split: `pool` units in it, `in_shards` in its shards.
    pub(crate) fn split(item: &Item, pool: u64, in_shards: u64, version: u64) -> Self {
        Self {
            stock: pool,
            version,
            shards: Some(item.shards),
            in_shards: Some(in_shards),
            ..Self::from_item(item)
        }
    }

    fn into_item(self) -> Result<Item, StoreError> {
        let corrupt =
            || StoreError::Unexpected(format!("catalog item {} is malformed", self.id).into());
        let listed = self.stock.saturating_add(self.in_shards.unwrap_or(0));
        Ok(Item {
            id: ItemId::new(self.id).ok_or_else(corrupt)?,
            price: Price::new(self.price).ok_or_else(corrupt)?,
            stock: Stock::stored(listed).ok_or_else(corrupt)?,
            shards: self.shards.filter(|n| *n > 1).unwrap_or(1),
            max_per_customer: match self.max_per_customer {
                Some(max) => Some(Quantity::new(max).ok_or_else(corrupt)?),
                None => None,
            },
            name: self.name,
            version: self.version,
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

/// The key of an item.
pub(crate) fn item_key(id: ItemId) -> Raw {
    HashMap::from([("id".to_owned(), n(id.get()))])
}

/// An item as DynamoDB returned it (a read, or the old item of a failed condition). Split over
/// shards, its `stock` is the listing's figure (see `Item::shards`).
pub(crate) fn decode_item(raw: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    serde_dynamo::from_item::<_, ItemRecord>(raw.clone())
        .map_err(StoreError::mapping)?
        .into_item()
}

/// The units in an item's own row: all of them, or its pool when it is split.
pub(crate) fn own_units(raw: &Raw) -> u64 {
    super::number(raw, "stock").unwrap_or(0)
}

/// What an admin's change came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemUpdate {
    Updated(Item),
    NotFound,
    /// The restock would take the stock past `Stock::MAX`.
    StockFull,
    /// The item is no longer at the version the change was made against: this is it now.
    Stale(Item),
    /// The key was taken meanwhile: this is its answer.
    KeyTaken(Receipt),
    /// The item's stock is split over this many shards: the change takes the way that writes
    /// all its rows (`Store::commit_rows`).
    Sharded(u32),
}

/// What an admin's keyed create came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemCreate {
    Created(Item),
    KeyTaken(Receipt),
    /// Another create took the id meanwhile: try again.
    IdTaken,
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
        let raw = self.get_raw(&self.tables().catalog, item_key(id)).await?;
        raw.as_ref().map(decode_item).transpose()
    }

    /// The key's live receipt (`pk`) and the item, or, for a create, the last id handed out, in
    /// one strongly consistent `BatchGetItem`: what a keyed admin change starts from.
    pub async fn read_item(
        &self,
        pk: &str,
        id: Option<ItemId>,
        now: i64,
    ) -> Result<(Option<Receipt>, Option<Item>, u64), StoreError> {
        let key = id.map_or_else(counter_key, item_key);
        let keys = vec![(self.tables().catalog.clone(), key)];
        let (receipt, items) = self.batch_read(Some(pk), keys, now).await?;
        let raw = items.into_iter().next().flatten();
        Ok(match id {
            Some(_) => (receipt, raw.as_ref().map(decode_item).transpose()?, 0),
            None => (receipt, None, last_id(raw.as_ref())),
        })
    }

    /// Creates `item` (its id the one after `last_id`) and moves the counter on, with the key's
    /// record, in one transaction.
    pub async fn commit_new_item(
        &self,
        item: &Item,
        last_id: u64,
        record: &NewRecord<'_>,
    ) -> Result<ItemCreate, StoreError> {
        let table = &self.tables().catalog;
        let counter = Put::builder()
            .table_name(table)
            .item("id", n(COUNTER_ID))
            .item("next_id", n(item.id.get()))
            .condition_expression("attribute_not_exists(#next_id) OR #next_id = :last")
            .expression_attribute_names("#next_id", "next_id")
            .expression_attribute_values(":last", n(last_id));
        let record_item =
            serde_dynamo::to_item(ItemRecord::from_item(item)).map_err(StoreError::mapping)?;
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(record_item))
            .condition_expression("attribute_not_exists(id)");
        let actions = vec![
            TransactWriteItem::builder()
                .put(built(counter.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(built(put.build())?)
                .build(),
        ];
        Ok(
            match self
                .transact(actions, Some(record), &RequestToken::new())
                .await?
            {
                None => ItemCreate::Created(item.clone()),
                Some(cancelled) => match cancelled.taken_by {
                    Some(receipt) => ItemCreate::KeyTaken(receipt),
                    None => ItemCreate::IdTaken,
                },
            },
        )
    }

    /// Writes `after` over `before` (the same item, one version on) with the key's record, in
    /// one transaction, if the item is still `before`.
    pub async fn commit_item(
        &self,
        before: &Item,
        after: &Item,
        record: &NewRecord<'_>,
    ) -> Result<ItemUpdate, StoreError> {
        let item =
            serde_dynamo::to_item(ItemRecord::from_item(after)).map_err(StoreError::mapping)?;
        let put = Put::builder()
            .table_name(&self.tables().catalog)
            .set_item(Some(item))
            .condition_expression("attribute_exists(#list_pk) AND #version = :version")
            .expression_attribute_names("#list_pk", "list_pk")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(before.version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let actions = vec![TransactWriteItem::builder()
            .put(built(put.build())?)
            .build()];
        let Some(cancelled) = self
            .transact(actions, Some(record), &RequestToken::new())
            .await?
        else {
            return Ok(ItemUpdate::Updated(after.clone()));
        };
        Ok(match (cancelled.taken_by.clone(), cancelled.failed_at(0)) {
            (Some(receipt), _) => ItemUpdate::KeyTaken(receipt),
            (None, Some(Some(now))) if now.contains_key("shards") => {
                ItemUpdate::Sharded(decode_item(now)?.shards)
            }
            (None, Some(Some(now))) if now.contains_key("list_pk") => {
                ItemUpdate::Stale(decode_item(now)?)
            }
            _ => ItemUpdate::NotFound,
        })
    }

    /// The items of `items` that the catalog does not hold yet: `BatchGetItem`s of their ids,
    /// 100 at a time.
    pub async fn missing_items(&self, items: &[Item]) -> Result<Vec<Item>, StoreError> {
        let table = &self.tables().catalog;
        let mut found = std::collections::HashSet::new();
        for chunk in items.chunks(100) {
            let keys = chunk.iter().map(|item| item_key(item.id)).collect();
            let mut batch = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("id")
                .consistent_read(true);
            for attempt in 0..BATCH_ATTEMPTS {
                pause(attempt).await;
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(table, built(batch.build())?)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                self.metrics().reads(out.consumed_capacity());
                let read = out
                    .responses()
                    .and_then(|r| r.get(table))
                    .into_iter()
                    .flatten();
                found.extend(read.filter_map(|raw| super::number(raw, "id")));
                match out.unprocessed_keys().and_then(|u| u.get(table)) {
                    Some(rest) if !rest.keys().is_empty() => {
                        batch = KeysAndAttributes::builder()
                            .set_keys(Some(rest.keys().to_vec()))
                            .projection_expression("id")
                            .consistent_read(true);
                    }
                    _ => break,
                }
            }
        }
        Ok(items
            .iter()
            .filter(|item| !found.contains(&item.id.get()))
            .cloned()
            .collect())
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
            .set_key(Some(counter_key()))
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
        let item = new.with_id(id);
        let record =
            serde_dynamo::to_item(ItemRecord::from_item(&item)).map_err(StoreError::mapping)?;
        match self
            .put_new(&self.tables().catalog, record, "id", None)
            .await?
        {
            Written::Done(_) => Ok(item),
            Written::Refused(_) => Err(StoreError::Unexpected(
                format!("the new item id {} is taken", item.id.get()).into(),
            )),
        }
    }

    /// Applies an admin's change to an existing item in one conditional update; with an
    /// expected version (`If-Match`), only if the item is still at it.
    pub async fn update_item(
        &self,
        id: ItemId,
        change: &ItemChange,
        expected: Option<u64>,
    ) -> Result<ItemUpdate, StoreError> {
        let mut sets = vec!["#version = if_not_exists(#version, :zero) + :one"];
        // A split item's change writes all its rows (`Store::commit_rows`).
        let mut conditions = vec!["attribute_exists(#list_pk) AND attribute_not_exists(#shards)"];
        let mut request = self
            .client()
            .update_item()
            .table_name(&self.tables().catalog)
            .set_key(Some(item_key(id)))
            .expression_attribute_names("#list_pk", "list_pk")
            .expression_attribute_names("#shards", "shards")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        if let Some(version) = expected {
            conditions.push("#version = :expected");
            request = request.expression_attribute_values(":expected", n(version));
        }
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
            conditions.push("#stock <= :room");
            request = request
                .expression_attribute_names("#stock", "stock")
                .expression_attribute_values(":restock", n(restock.get()))
                .expression_attribute_values(":room", n(Stock::MAX - restock.get()));
        }
        let mut removes = "";
        match change.max_per_customer {
            Some(Some(max)) => {
                sets.push("#max_per_customer = :max_per_customer");
                request = request
                    .expression_attribute_names("#max_per_customer", MAX_PER_CUSTOMER)
                    .expression_attribute_values(":max_per_customer", n(u64::from(max.get())));
            }
            Some(None) => {
                removes = "REMOVE #max_per_customer ";
                request = request.expression_attribute_names("#max_per_customer", MAX_PER_CUSTOMER);
            }
            None => {}
        }
        let request = request
            .update_expression(format!("{removes}SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "));
        Ok(match self.update(request).await? {
            Written::Done(new) => ItemUpdate::Updated(decode_item(&new)?),
            // The item exists (it has its `list_pk`): at another version, or the restock would
            // pass the limit.
            Written::Refused(Some(old)) if old.contains_key("shards") => {
                ItemUpdate::Sharded(decode_item(&old)?.shards)
            }
            Written::Refused(Some(old)) if old.contains_key("list_pk") => {
                let now = decode_item(&old)?;
                match expected {
                    Some(version) if version != now.version => ItemUpdate::Stale(now),
                    _ => ItemUpdate::StockFull,
                }
            }
            Written::Refused(_) => ItemUpdate::NotFound,
        })
    }
}

/// The attribute of an item's per-customer limit.
pub(crate) const MAX_PER_CUSTOMER: &str = "max_per_customer";

/// The condition that a customer's `total` units of an item (what their cart takes and what
/// they bought) fit its `max_per_customer`, which their line saw as `limit`: a line that saw no
/// limit needs the item to have none still (a limit set since is found, and the cart told).
pub(crate) fn within_limit(limit: Option<u64>) -> &'static str {
    match limit {
        Some(_) => "(attribute_not_exists(#max) OR #max >= :total)",
        None => "attribute_not_exists(#max)",
    }
}

/// A purchase line's stock decrement, one action of the purchase transaction, on the row of
/// `take` (the item's own row, or one of its shards: each has the item's price and limit): the
/// take's units (what the line does not hold any more; 0 or less when its expired hold still has
/// them, which then go back) if the row has what the take needs, the price is still the one the
/// cart holds, and the customer's `total` (`bought` before, and the line) is within the item's
/// `max_per_customer`. When it fails, the row comes back as it is now (`ALL_OLD`: an item's row is
/// read with `decode_item`, a shard's with `shards::decode_row`; none when the row is gone).
pub(crate) fn take_stock(
    table: &str,
    line: &CartLine,
    take: &Take,
    bought: u64,
) -> Result<Update, StoreError> {
    let condition = format!(
        "#stock >= :need AND #price = :seen_price AND {}",
        within_limit(line.limit)
    );
    // One figure for the condition and the update, as always, unless a planned take asks a row
    // for more than it takes from it (a take split over rows: never for an item that is whole).
    let (update, needs) = match take.needs as i64 == take.taken || take.needs == 0 {
        true => ("SET #stock = #stock - :need", take.taken),
        false => ("SET #stock = #stock - :taken", take.needs as i64),
    };
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(row_key(line.item_id, take.row)))
        .update_expression(format!(
            "{update}, #version = if_not_exists(#version, :zero) + :one"
        ))
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names(&["stock", "price", "version"])))
        .expression_attribute_names("#max", MAX_PER_CUSTOMER)
        .expression_attribute_values(":need", AttributeValue::N(needs.to_string()))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":seen_price", n(line.unit_price.get()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if needs != take.taken {
        update =
            update.expression_attribute_values(":taken", AttributeValue::N(take.taken.to_string()));
    }
    if line.limit.is_some() {
        update = update.expression_attribute_values(":total", n(bought + line.quantity));
    }
    built(update.build())
}

/// A hold's move of an item's available stock, one action of a cart's transaction, on the row
/// of `take` (`Take::taken` units out or, negative, back): when the lines need units, only if
/// the row has what the take needs and the customer stays within the item's limit (`StockMove`).
/// The item's own row must exist (`list_pk`), a shard row too (`shard`): a move never makes one.
pub(crate) fn move_stock(
    table: &str,
    moved: &StockMove,
    take: &Take,
) -> Result<Update, StoreError> {
    let exists = match take.row {
        StockRow::Pool => "list_pk",
        StockRow::Shard(_) => "shard",
    };
    let mut condition = "attribute_exists(#list_pk)".to_owned();
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(row_key(moved.item, take.row)))
        .update_expression(
            "SET #stock = #stock - :taken, #version = if_not_exists(#version, :zero) + :one",
        )
        .set_expression_attribute_names(Some(names(&["stock", "version"])))
        .expression_attribute_names("#list_pk", exists)
        .expression_attribute_values(":taken", AttributeValue::N(take.taken.to_string()))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if take.needs > 0 {
        condition.push_str(" AND #stock >= :needs AND ");
        condition.push_str(within_limit(moved.limit));
        update = update
            .expression_attribute_names("#max", MAX_PER_CUSTOMER)
            .expression_attribute_values(":needs", n(take.needs));
        if moved.limit.is_some() {
            update = update.expression_attribute_values(":total", n(moved.total));
        }
    }
    built(update.condition_expression(condition).build())
}

/// A cancelled or expired order's line, one action of its transition's transaction: `units`
/// back into the item's stock (items are never deleted; the condition only keeps the update
/// from making one).
pub(crate) fn give_back(table: &str, item: ItemId, units: u64) -> Result<Update, StoreError> {
    built(
        Update::builder()
            .table_name(table)
            .set_key(Some(item_key(item)))
            .update_expression(
                "SET #stock = #stock + :units, #version = if_not_exists(#version, :zero) + :one",
            )
            .condition_expression("attribute_exists(#list_pk)")
            .set_expression_attribute_names(Some(names(&["stock", "version", "list_pk"])))
            .expression_attribute_values(":units", n(units))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .build(),
    )
}

fn counter_key() -> Raw {
    HashMap::from([("id".to_owned(), n(COUNTER_ID))])
}

/// The last id handed out, from the counter item (`ADMIN_ID_FLOOR - 1` before the first).
fn last_id(counter: Option<&Raw>) -> u64 {
    counter
        .and_then(|c| super::number(c, "next_id"))
        .unwrap_or(ADMIN_ID_FLOOR - 1)
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
