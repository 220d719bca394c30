//! The catalog admin's writes: create an item (a new id from the counter), change one (price,
//! name, stock set outright or restocked, its stock split over shards). Without a key, one or two
//! single-item conditional writes; with one, the keyed loop (`app::keys`): one `BatchGetItem`
//! (the key's record and the counter or the item), then one transaction of the write and the
//! record. An item split over shards is changed in all its rows at once ([`change_rows`]).

use serde_json::json;

use super::keys::{exactly_once, record, Attempt};
use super::{AppState, Reply};
use crate::domain::shards::rows_after;
use crate::domain::{
    now_unix, Fingerprint, IdempotencyKey, Item, ItemChange, ItemId, KeyScope, NewItem, Stock,
};
use crate::store::{ItemCreate, ItemUpdate, RowsCommit};
use crate::ApiError;

/// `{"item": ...}` as the admin sees it, with its version for the `ETag`.
fn item_reply(status: u16, item: &Item) -> Reply {
    let body = json!({ "item": item.admin_view() }).to_string();
    Reply::new(status, body, Some(item.version))
}

/// Adds `new` to the catalog with a new id (`201`). `principal` owns the key.
pub async fn create(
    state: &AppState,
    principal: &str,
    new: &NewItem,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let Some(key) = key else {
        return Ok(item_reply(201, &store.create_item(new).await?));
    };
    let name = format!("{:?}", new.name.as_str());
    let request = &Fingerprint::of("create-item", &[&name, &new.price.get(), &new.stock.get()]);
    let pk = KeyScope::Admin(principal).record_key(key);
    let pk = pk.as_str();
    exactly_once(request, || async move {
        let now = now_unix();
        let (receipt, _, last_id) = store.read_item(pk, None, now).await?;
        if let Some(receipt) = receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let id = ItemId::new(last_id + 1)
            .ok_or_else(|| ApiError::Internal("the item ids ran out".into()))?;
        let item = new.with_id(id);
        let reply = item_reply(201, &item);
        let record = record(pk, request, &reply, now);
        Ok(
            match store.commit_new_item(&item, last_id, &record).await? {
                ItemCreate::Created(_) => Attempt::Done(reply),
                ItemCreate::KeyTaken(receipt) => Attempt::Replay(receipt),
                ItemCreate::IdTaken => Attempt::Again,
            },
        )
    })
    .await
}

/// Changes item `id` as `change` says; with `seen` (`If-Match`), only if the item is still at
/// that version (else `412` with the item as it is now), so a stock set outright never
/// overwrites sales made since the admin read it. An item split over shards (or a change that
/// splits one, `stock_shards`) takes the way that writes all its rows in one transaction
/// ([`change_rows`]).
pub async fn update(
    state: &AppState,
    principal: &str,
    id: ItemId,
    change: &ItemChange,
    seen: Option<u64>,
    key: Option<&IdempotencyKey>,
) -> Result<Reply, ApiError> {
    let store = &state.store;
    let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
    let request = &Fingerprint::of("update-item", &[&id, &format!("{change:?}"), &seen_text]);
    let Some(key) = key else {
        let shards = match change.shards {
            None => match store.update_item(id, change, seen).await? {
                ItemUpdate::Sharded(shards) => shards,
                other => return answer(id, other),
            },
            Some(_) => 1,
        };
        return exactly_once(request, || {
            change_rows(state, id, shards, change, seen, None)
        })
        .await;
    };
    let pk = KeyScope::Admin(principal).record_key(key);
    let pk = pk.as_str();
    exactly_once(request, || async move {
        let now = now_unix();
        let (receipt, item, _) = store.read_item(pk, Some(id), now).await?;
        if let Some(receipt) = receipt {
            return Ok(Attempt::Replay(receipt));
        }
        let item = item.ok_or(ApiError::ItemNotFound(id))?;
        if item.sharded() || change.shards.is_some() {
            let keyed = Some((pk, request));
            return change_rows(state, id, item.shards, change, seen, keyed).await;
        }
        if seen.is_some_and(|version| version != item.version) {
            return Err(stale(&item));
        }
        let after = item.changed(change).ok_or_else(stock_full)?;
        let reply = item_reply(200, &after);
        let record = record(pk, request, &reply, now);
        Ok(match store.commit_item(&item, &after, &record).await? {
            ItemUpdate::Updated(_) => Attempt::Done(reply),
            ItemUpdate::KeyTaken(receipt) => Attempt::Replay(receipt),
            // A sale (or another change) moved the item on since it was read.
            ItemUpdate::Stale(_) | ItemUpdate::Sharded(_) => Attempt::Again,
            other => Attempt::Done(answer(id, other)?),
        })
    })
    .await
}

/// One attempt of an admin's change of an item split over `shards` rows (as last seen), or of
/// one that `stock_shards` splits or makes whole: all its rows read (one `BatchGetItem`), the
/// change decided (`Item::changed`; the units by `shards::rows_after`: a restock to the pool, a
/// stock set or a reshard spread over the shards), and written in one transaction with the
/// key's record when there is one (`Store::commit_rows`). The version `If-Match` names is the sum
/// of the rows' versions, which every sale on any row moves on.
async fn change_rows(
    state: &AppState,
    id: ItemId,
    shards: u32,
    change: &ItemChange,
    seen: Option<u64>,
    keyed: Option<(&str, &Fingerprint)>,
) -> Result<Attempt, ApiError> {
    let store = &state.store;
    let now = now_unix();
    let mut rows = store.read_rows(&[(id, shards)]).await?;
    let rows = rows.remove(&id).ok_or(ApiError::ItemNotFound(id))?;
    if seen.is_some_and(|version| version != rows.item.version) {
        return Err(stale(&rows.item));
    }
    let stock = rows_after(&rows.stock, change).ok_or_else(stock_full)?;
    let mut after = rows.item.changed(change).ok_or_else(stock_full)?;
    after.stock = Stock::stored(stock.available()).ok_or_else(stock_full)?;
    after.shards = (stock.shards.len() as u32).max(1);
    let reply = item_reply(200, &after);
    let record = keyed.map(|(pk, request)| record(pk, request, &reply, now));
    let guard = seen.is_some();
    Ok(
        match store
            .commit_rows(&rows, &after, &stock, guard, record.as_ref())
            .await?
        {
            RowsCommit::Done => Attempt::Done(reply),
            RowsCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
            // A sale, the sweep or another change moved a row on since they were read.
            RowsCommit::Changed => Attempt::Again,
            RowsCommit::NotFound => return Err(ApiError::ItemNotFound(id)),
        },
    )
}

fn answer(id: ItemId, update: ItemUpdate) -> Result<Reply, ApiError> {
    match update {
        ItemUpdate::Updated(item) => Ok(item_reply(200, &item)),
        ItemUpdate::NotFound => Err(ApiError::ItemNotFound(id)),
        ItemUpdate::StockFull => Err(stock_full()),
        ItemUpdate::Stale(item) => Err(stale(&item)),
        ItemUpdate::KeyTaken(_) => Err(ApiError::Internal("a key outside a keyed update".into())),
        ItemUpdate::Sharded(_) => Err(ApiError::Internal("a split item's change unwritten".into())),
    }
}

fn stock_full() -> ApiError {
    ApiError::invalid("restock", "would take the stock past 1000000")
}

/// `412`: the item is not the version `If-Match` named; here it is now.
fn stale(item: &Item) -> ApiError {
    ApiError::PreconditionFailed {
        member: "item",
        current: json!(item.admin_view()),
    }
}
