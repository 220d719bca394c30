//! The rows of an item whose stock is split (`domain::shards`), in the catalog table beside it.
//!
//! Shard row shape: `id` (N, `-(item_id * 100 + shard + 1)`: negative, so never an item's id nor
//! the id counter's 0), `item_id`, `shard` (0-based), `stock`, `version` (moved on by every take),
//! and copies of the item's `price` and `max_per_customer`, kept equal to the item's by every admin
//! change in the same transaction, so a take's condition reads like a whole item's. No `list_pk`:
//! never listed. The item's own row keeps `shards` (N), its pool in `stock`, and `in_shards`.
//!
//! The registry (`id = -1`, never a shard's: item ids start at 1) has `items`, the set of split
//! items' ids, so the sweep finds them without a scan; every reshard that splits an item or makes
//! it whole changes the set in its transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::catalog::{item_key, own_units, ItemRecord, MAX_PER_CUSTOMER};
use super::keys::NewRecord;
use super::{built, n, names, pause, Raw, RequestToken, Store, StoreError, Written};
use crate::domain::shards::Move;
use crate::domain::{Item, ItemId, Receipt, StockRow, Stocking, MAX_SHARDS};

/// Keys of a `BatchGetItem`, at most.
const BATCH_KEYS: usize = 100;
/// Reads of a batch before it is declared unavailable.
const READ_ATTEMPTS: u32 = 5;

/// How long what a shard row was seen to hold steers the takes of this process.
const HINT_TTL: Duration = Duration::from_secs(5);

/// What this process (a Lambda instance, which serves many buyers of a sale one after another)
/// last saw of split items' shard rows: a failed take's row as its condition returned it, every
/// row of a read. Only a hint, never a rule: a blind take avoids the shards seen short of its
/// units in the last [`HINT_TTL`] (so that, near a sell-out, buyers stop trying rows known to be
/// empty), and what it takes is still decided by the row's condition in the transaction.
#[derive(Debug, Default)]
pub(crate) struct ShardHints {
    seen: Mutex<HashMap<(ItemId, u32), (u64, Instant)>>,
}

impl ShardHints {
    pub(crate) fn saw(&self, item: ItemId, shard: u32, stock: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, (_, at)| at.elapsed() < HINT_TTL);
        }
        seen.insert((item, shard), (stock, Instant::now()));
    }

    /// The shards of `item` (of `shards`) seen with fewer than `needs` units lately.
    pub(crate) fn short(&self, item: ItemId, shards: u32, needs: u64) -> Vec<u32> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        (0..shards.min(MAX_SHARDS))
            .filter(|&i| {
                seen.get(&(item, i))
                    .is_some_and(|(stock, at)| *stock < needs && at.elapsed() < HINT_TTL)
            })
            .collect()
    }
}

/// A shard row, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    id: i64,
    item_id: u64,
    shard: u32,
    stock: u64,
    #[serde(default)]
    version: u64,
    price: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_per_customer: Option<u64>,
}

/// The id of shard `shard` of `item`.
fn shard_id(item: ItemId, shard: u32) -> String {
    format!("-{}", item.get() * 100 + u64::from(shard) + 1)
}

/// The key of one of an item's rows: its own, or a shard's.
pub(crate) fn row_key(item: ItemId, row: StockRow) -> Raw {
    match row {
        StockRow::Pool => item_key(item),
        StockRow::Shard(i) => {
            HashMap::from([("id".to_owned(), AttributeValue::N(shard_id(item, i)))])
        }
    }
}

fn registry_key() -> Raw {
    HashMap::from([("id".to_owned(), AttributeValue::N("-1".to_owned()))])
}

/// A row as a failed condition returned it: a shard's `(price, stock, max_per_customer)`, or
/// `None` when it is not a shard row.
pub(crate) fn decode_row(raw: &Raw) -> Result<Option<(u64, u64, Option<u64>)>, StoreError> {
    if !raw.contains_key("shard") {
        return Ok(None);
    }
    let row: ShardRecord = serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping)?;
    Ok(Some((row.price, row.stock, row.max_per_customer)))
}

/// All the rows of a split item (or of one about to be), as read.
#[derive(Clone, Debug)]
pub struct ItemRows {
    /// The item with every row counted: its stock is all of it, its version the sum of its rows'
    /// (what `If-Match` names: it moves on with every sale on any row).
    pub item: Item,
    pub stock: Stocking,
    /// The item's own row's version, and each shard's (`None`: a shard the item should have and
    /// does not, which a reshard then makes).
    main_version: u64,
    shard_versions: Vec<Option<u64>>,
    /// What the item's own row lists of its shards (`in_shards`).
    pub in_shards: u64,
}

impl ItemRows {
    /// The rows as read: the item's own row and its shards' in order (`None`: not there).
    pub(crate) fn of(main: &Raw, shards: &[Option<Raw>]) -> Result<Self, StoreError> {
        let mut item = super::catalog::decode_item(main)?;
        let main_version = item.version;
        let mut stock = Stocking {
            pool: own_units(main),
            shards: vec![],
        };
        let mut shard_versions = Vec::new();
        if item.sharded() {
            for raw in shards.iter().take(item.shards as usize) {
                let row: Option<ShardRecord> = raw
                    .as_ref()
                    .map(|raw| serde_dynamo::from_item(raw.clone()).map_err(StoreError::mapping))
                    .transpose()?;
                stock.shards.push(row.as_ref().map_or(0, |r| r.stock));
                shard_versions.push(row.map(|r| r.version));
            }
        }
        let corrupt = || StoreError::Unexpected("an item's rows hold too many units".into());
        item.stock = crate::domain::Stock::stored(stock.available()).ok_or_else(corrupt)?;
        item.version = main_version + shard_versions.iter().flatten().sum::<u64>();
        Ok(Self {
            item,
            stock,
            main_version,
            shard_versions,
            in_shards: super::number(main, "in_shards").unwrap_or(0),
        })
    }
}

/// What an admin's change of a split item (or one that splits or makes whole) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowsCommit {
    Done,
    /// A row changed since it was read (a sale, a sweep, another change): read them again.
    Changed,
    NotFound,
    KeyTaken(Receipt),
}

impl Store {
    pub(crate) fn hints(&self) -> &ShardHints {
        &self.hints
    }

    /// The shards of `item` (split over `shards`) this process saw short of `needs` units
    /// lately: what a blind take avoids.
    pub fn shards_seen_short(&self, item: ItemId, shards: u32, needs: u64) -> Vec<u32> {
        match shards {
            0 | 1 => vec![],
            n => self.hints.short(item, n, needs),
        }
    }

    /// Notes what the shard rows a cancelled transaction's conditions refused hold now (their
    /// old items): `rows`, each action's item and row, from position `first` of the transaction.
    pub(crate) fn saw_failed_shards(
        &self,
        rows: impl Iterator<Item = (ItemId, StockRow)>,
        cancelled: &super::transact::Cancelled,
        first: usize,
    ) {
        for (i, (item, row)) in rows.enumerate() {
            let (StockRow::Shard(shard), Some(Some(raw))) = (row, cancelled.failed_at(first + i))
            else {
                continue;
            };
            if let Ok(Some((_, stock, _))) = decode_row(raw) {
                self.hints.saw(item, shard, stock);
            }
        }
    }

    /// Every row of each item of `items` (with the rows the caller believes it has: the item's
    /// own row says how many it has, and those are read too when they are more), strongly
    /// consistent, in as few `BatchGetItem`s as 100 keys a request allow: one for up to 99
    /// shards. Items that do not exist are left out.
    pub async fn read_rows(
        &self,
        items: &[(ItemId, u32)],
    ) -> Result<BTreeMap<ItemId, ItemRows>, StoreError> {
        let mut keys: Vec<Raw> = Vec::new();
        for &(item, shards) in items {
            keys.push(item_key(item));
            keys.extend((0..shards.min(MAX_SHARDS)).map(|i| row_key(item, StockRow::Shard(i))));
        }
        let found = self.get_many(keys.clone()).await?;
        let mut rows = BTreeMap::new();
        let mut again = Vec::new();
        for &(item, believed) in items {
            let Some(main) = found.get(&key_id(&item_key(item))) else {
                continue;
            };
            let shards = super::number(main, "shards").unwrap_or(1) as u32;
            if shards > believed && shards > 1 {
                again.push((item, shards));
                continue;
            }
            let shard_rows: Vec<Option<Raw>> = (0..shards)
                .map(|i| found.get(&shard_id(item, i)).cloned())
                .collect();
            let read = ItemRows::of(main, &shard_rows)?;
            for (i, stock) in read.stock.shards.iter().enumerate() {
                self.hints().saw(item, i as u32, *stock);
            }
            rows.insert(item, read);
        }
        if !again.is_empty() {
            rows.extend(Box::pin(self.read_rows(&again)).await?);
        }
        Ok(rows)
    }

    /// Items by their `id` (as DynamoDB writes the number), read strongly consistent.
    async fn get_many(&self, keys: Vec<Raw>) -> Result<HashMap<String, Raw>, StoreError> {
        let table = &self.tables().catalog;
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH_KEYS) {
            let mut wanted = chunk.to_vec();
            for attempt in 0..=READ_ATTEMPTS {
                if attempt == READ_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "a batch read stayed unprocessed".into(),
                    ));
                }
                pause(attempt).await;
                let batch = KeysAndAttributes::builder()
                    .set_keys(Some(wanted))
                    .consistent_read(true);
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(table, built(batch.build())?)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                self.metrics().reads(out.consumed_capacity());
                let read = out.responses().and_then(|r| r.get(table)).into_iter();
                for raw in read.flatten() {
                    found.insert(key_id(raw), raw.clone());
                }
                match out.unprocessed_keys().and_then(|u| u.get(table)) {
                    Some(rest) if !rest.keys().is_empty() => wanted = rest.keys().to_vec(),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Writes what an admin's change makes of a split item (or splits it, or makes it whole),
    /// `after` (the item, its `shards` what it will have) with its units as `stock` says, in one
    /// transaction with the key's record: the item's own row put whole (its pool, `shards`,
    /// `in_shards`) if it is still at the version read; each shard row put whole when the units
    /// move (conditioned on its version; the ones no longer needed deleted), or given the new
    /// price and limit, or only checked at its version when `guard` (an `If-Match`: no sale
    /// since); the registry told when the item is split or made whole. Versions: a shard row put
    /// whole starts again at 0 and the item's own row takes the rest, so that the sum of all of
    /// them (the admin's `version`) is one more than it was.
    pub async fn commit_rows(
        &self,
        before: &ItemRows,
        after: &Item,
        stock: &Stocking,
        guard: bool,
        record: Option<&NewRecord<'_>>,
    ) -> Result<RowsCommit, StoreError> {
        let table = &self.tables().catalog;
        let id = after.id;
        let moved = *stock != before.stock;
        let (old_n, new_n) = (
            before.shard_versions.len() as u32,
            stock.shards.len() as u32,
        );
        let kept_versions: u64 = match moved {
            true => 0,
            false => before.shard_versions.iter().flatten().sum(),
        };
        let version = before.item.version + 1 - kept_versions;
        let main = match new_n {
            0 => ItemRecord::from_item(&Item {
                stock: crate::domain::Stock::stored(stock.pool).unwrap_or(after.stock),
                version,
                shards: 1,
                ..after.clone()
            }),
            _ => ItemRecord::split(after, stock.pool, stock.shards.iter().sum(), version),
        };
        let main = serde_dynamo::to_item(main).map_err(StoreError::mapping)?;
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(main))
            .condition_expression("attribute_exists(#list_pk) AND #version = :version")
            .expression_attribute_names("#list_pk", "list_pk")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(before.main_version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut actions = vec![TransactWriteItem::builder()
            .put(built(put.build())?)
            .build()];
        for i in 0..old_n.max(new_n) {
            let seen = before.shard_versions.get(i as usize).copied().flatten();
            let key = row_key(id, StockRow::Shard(i));
            let at_version = |seen: Option<u64>| match seen {
                Some(v) => ("#version = :version".to_owned(), Some(n(v))),
                None => ("attribute_not_exists(#version)".to_owned(), None),
            };
            let action = if i >= new_n {
                let (condition, value) = at_version(seen);
                let delete = Delete::builder()
                    .table_name(table)
                    .set_key(Some(key))
                    .condition_expression(condition)
                    .expression_attribute_names("#version", "version")
                    .set_expression_attribute_values(
                        value.map(|v| [(":version".to_owned(), v)].into()),
                    );
                TransactWriteItem::builder()
                    .delete(built(delete.build())?)
                    .build()
            } else if moved || seen.is_none() {
                let row = ShardRecord {
                    id: -((id.get() * 100 + u64::from(i) + 1) as i64),
                    item_id: id.get(),
                    shard: i,
                    stock: stock.shards[i as usize],
                    version: 0,
                    price: after.price.get(),
                    max_per_customer: after.max_per_customer.map(|m| u64::from(m.get())),
                };
                let (condition, value) = at_version(seen);
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(
                        serde_dynamo::to_item(row).map_err(StoreError::mapping)?,
                    ))
                    .condition_expression(condition)
                    .expression_attribute_names("#version", "version")
                    .set_expression_attribute_values(
                        value.map(|v| [(":version".to_owned(), v)].into()),
                    );
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build()
            } else if copies_changed(&before.item, after) {
                let mut update = Update::builder()
                    .table_name(table)
                    .set_key(Some(key))
                    .set_expression_attribute_names(Some(names(&["price", "shard"])))
                    .expression_attribute_names("#max", MAX_PER_CUSTOMER)
                    .expression_attribute_values(":price", n(after.price.get()));
                let mut condition = "attribute_exists(#shard)".to_owned();
                // DynamoDB refuses a name the expressions do not use: `#version` only with a
                // guard.
                if guard {
                    condition.push_str(" AND #version = :version");
                    update = update
                        .expression_attribute_names("#version", "version")
                        .expression_attribute_values(":version", n(seen.unwrap_or(0)));
                }
                update = match after.max_per_customer {
                    Some(max) => update
                        .update_expression("SET #price = :price, #max = :max")
                        .expression_attribute_values(":max", n(u64::from(max.get()))),
                    None => update.update_expression("SET #price = :price REMOVE #max"),
                };
                let update = update.condition_expression(condition);
                TransactWriteItem::builder()
                    .update(built(update.build())?)
                    .build()
            } else if guard {
                let check = ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(key))
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":version", n(seen.unwrap_or(0)));
                TransactWriteItem::builder()
                    .condition_check(built(check.build())?)
                    .build()
            } else {
                continue;
            };
            actions.push(action);
        }
        if (old_n > 1) != (new_n > 1) {
            let change = if new_n > 1 { "ADD" } else { "DELETE" };
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(registry_key()))
                .update_expression(format!("{change} #items :id"))
                .expression_attribute_names("#items", "items")
                .expression_attribute_values(":id", AttributeValue::Ns(vec![id.get().to_string()]));
            actions.push(
                TransactWriteItem::builder()
                    .update(built(update.build())?)
                    .build(),
            );
        }
        Ok(
            match self.transact(actions, record, &RequestToken::new()).await? {
                None => RowsCommit::Done,
                Some(cancelled) => match (cancelled.taken_by.clone(), cancelled.failed_at(0)) {
                    (Some(receipt), _) => RowsCommit::KeyTaken(receipt),
                    (None, Some(None)) => RowsCommit::NotFound,
                    _ => RowsCommit::Changed,
                },
            },
        )
    }

    /// The ids of the split items (the registry), read strongly consistent.
    pub async fn split_items(&self) -> Result<Vec<ItemId>, StoreError> {
        let raw = self.get_raw(&self.tables().catalog, registry_key()).await?;
        let ids = raw
            .as_ref()
            .and_then(|r| r.get("items")?.as_ns().ok().cloned());
        Ok(ids
            .unwrap_or_default()
            .iter()
            .filter_map(|id| ItemId::new(id.parse().ok()?))
            .collect())
    }

    /// The sweep's move of `units` of `item` from one row to another (`domain::shards::rebalance`),
    /// in one transaction of the two rows: only if the giving row still has them (a sale since may
    /// have taken them: then nothing moves, and the next sweep looks again). Whether it moved.
    pub async fn move_units(&self, item: ItemId, moved: &Move) -> Result<bool, StoreError> {
        let table = &self.tables().catalog;
        let row = |row: StockRow, units: i64, needs: Option<u64>| {
            let exists = match row {
                StockRow::Pool => "list_pk",
                StockRow::Shard(_) => "shard",
            };
            let mut update = Update::builder()
                .table_name(table)
                .set_key(Some(row_key(item, row)))
                .update_expression(
                    "SET #stock = #stock - :units, #version = if_not_exists(#version, :zero) + :one",
                )
                .set_expression_attribute_names(Some(names(&["stock", "version"])))
                .expression_attribute_names("#exists", exists)
                .expression_attribute_values(":units", AttributeValue::N(units.to_string()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
            update = match needs {
                Some(needs) => update
                    .condition_expression("attribute_exists(#exists) AND #stock >= :needs")
                    .expression_attribute_values(":needs", n(needs)),
                None => update.condition_expression("attribute_exists(#exists)"),
            };
            built(update.build()).map(|u| TransactWriteItem::builder().update(u).build())
        };
        let actions = vec![
            row(moved.from, moved.units as i64, Some(moved.units))?,
            row(moved.to, -(moved.units as i64), None)?,
        ];
        Ok(self
            .transact(actions, None, &RequestToken::new())
            .await?
            .is_none())
    }

    /// Sets what the listing shows of a split item's shards (`in_shards`), if it says otherwise:
    /// one conditional update, which leaves the item's version as it is (the figure is the
    /// listing's, not a change of the item). It sets a figure, so a resend sets the same one:
    /// no `last_request`, and nothing returned.
    pub async fn list_in_shards(&self, item: ItemId, units: u64) -> Result<(), StoreError> {
        let sent = self
            .client()
            .update_item()
            .table_name(&self.tables().catalog)
            .set_key(Some(item_key(item)))
            .update_expression("SET #in_shards = :units")
            .condition_expression("attribute_exists(#shards) AND #in_shards <> :units")
            .set_expression_attribute_names(Some(names(&["in_shards", "shards"])))
            .expression_attribute_values(":units", n(units))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match self.written(sent)? {
            Written::Done(_) | Written::Refused(_) => Ok(()),
        }
    }
}

/// Whether the copies a shard row keeps (price, limit) differ between the two.
fn copies_changed(before: &Item, after: &Item) -> bool {
    before.price != after.price || before.max_per_customer != after.max_per_customer
}

/// An item's `id` as DynamoDB writes the number (the key of `get_many`'s answer).
fn key_id(raw: &Raw) -> String {
    raw.get("id")
        .and_then(|v| v.as_n().ok())
        .cloned()
        .unwrap_or_default()
}
