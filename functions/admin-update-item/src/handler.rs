//! `PATCH /api/v1/admin/items/{item_id}` (IAM only): changes an item's price, name or stock
//! (`quantity` sets it; `restock` adds to it atomically, safe while purchases run). With
//! `If-Match`, only if the item is still at that version (so a stock set outright never
//! overwrites sales made since the admin read it): else `412` with the item as it is now.
//! A price change is what a cart's next purchase detects as `price_changed`.
//!
//! Without a key, one conditional update (exactly once even when the SDK resends it). With an
//! `Idempotency-Key` (scoped to the admin principal): one `BatchGetItem` (the key's record, the
//! item), then one transaction writing the item's new version with the key's record.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{
    now_unix, Fingerprint, Item, ItemChange, ItemId, ItemName, KeyScope, Price, Stock,
};
use shared::http::{
    admin_principal, exactly_once, if_match, json_object, json_text, key_header, optional_field,
    path_param, require_iam, versioned, with_etag, AppState, Attempt, Endpoint, HandlerResult,
};
use shared::store::{ItemUpdate, NewRecord};
use shared::ApiError;

pub struct AdminUpdateItem;

impl Endpoint for AdminUpdateItem {
    const NAME: &'static str = "admin-update-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        require_iam(state, &req)?;
        let id = path_param(&req, "item_id", ItemId::parse)?;
        let body = json_object(&req)?;
        let change = ItemChange {
            name: optional_field(&body, "name", ItemName::from_json)?,
            price: optional_field(&body, "price", Price::from_json)?,
            stock: optional_field(&body, "quantity", Stock::from_json)?,
            restock: optional_field(&body, "restock", |v| match Stock::from_json(v) {
                Ok(units) if units.get() > 0 => Ok(units),
                _ => Err("must be an integer from 1 to 1000000".to_owned()),
            })?,
        };
        if change.is_empty() {
            return Err(ApiError::invalid(
                "body",
                "must set at least one of price, quantity, restock and name",
            ));
        }
        if change.stock.is_some() && change.restock.is_some() {
            return Err(ApiError::invalid(
                "restock",
                "cannot be combined with quantity",
            ));
        }
        let seen = if_match(&req)?;
        let store = &state.store;
        let Some(key) = key_header(&req)? else {
            return answer(id, store.update_item(id, &change, seen).await?);
        };
        let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
        let request = Fingerprint::of("update-item", &[&id, &format!("{change:?}"), &seen_text]);
        let principal = admin_principal(&req);
        let pk = KeyScope::Admin(&principal).record_key(&key);
        let (pk, request_ref, change) = (pk.as_str(), &request, &change);
        exactly_once(&request, || async move {
            let now = now_unix();
            let (receipt, item, _) = store.read_item(pk, Some(id), now).await?;
            if let Some(receipt) = receipt {
                return Ok(Attempt::Replay(receipt));
            }
            let item = item.ok_or(ApiError::ItemNotFound(id))?;
            if seen.is_some_and(|version| version != item.version) {
                return Err(stale(&item));
            }
            let after = item.changed(change).ok_or_else(stock_full)?;
            let body = json!({ "item": after.admin_view() }).to_string();
            let record = NewRecord {
                pk,
                request: request_ref,
                status: 200,
                body: &body,
                version: Some(after.version),
                now,
            };
            Ok(match store.commit_item(&item, &after, &record).await? {
                ItemUpdate::Updated(item) => {
                    Attempt::Answer(with_etag(json_text(200, body)?, item.version))
                }
                ItemUpdate::KeyTaken(receipt) => Attempt::Replay(receipt),
                // A sale (or another change) moved the item on since it was read.
                ItemUpdate::Stale(_) => Attempt::Again,
                other => Attempt::Answer(answer(id, other)),
            })
        })
        .await
    }
}

fn answer(id: ItemId, update: ItemUpdate) -> HandlerResult {
    match update {
        ItemUpdate::Updated(item) => {
            versioned(200, &json!({ "item": item.admin_view() }), item.version)
        }
        ItemUpdate::NotFound => Err(ApiError::ItemNotFound(id)),
        ItemUpdate::StockFull => Err(stock_full()),
        ItemUpdate::Stale(item) => Err(stale(&item)),
        ItemUpdate::KeyTaken(_) => Err(ApiError::Internal("a key outside a keyed update".into())),
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
