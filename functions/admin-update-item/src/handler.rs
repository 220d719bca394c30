//! `PATCH /api/v1/admin/items/{item_id}` (IAM only): changes an item's price, name, stock
//! (`quantity` sets it; `restock` adds to it atomically, safe while purchases run), limit
//! per customer (`max_per_customer`; `null` removes it) or the rows its stock is split over for
//! a flash sale (`stock_shards`, 1 to 64; 1 makes it whole again). With
//! `If-Match`, only if the item is still at that version (so a stock set outright never
//! overwrites sales made since the admin read it): else `412` with the item as it is now.
//! A price change is what a cart's next purchase detects as `price_changed`.
//!
//! Without a key, one conditional update (exactly once even when the SDK resends it). With an
//! `Idempotency-Key` (scoped to the admin principal): one `BatchGetItem` (the key's record, the
//! item), then one transaction writing the item's new version with the key's record
//! (`shared::app::items::update`). An item split over shards is read whole (all its rows, one
//! `BatchGetItem`) and written in one transaction of its rows, with or without a key.

use lambda_http::Request;
use serde_json::Value;
use shared::app::{items, AppState};
use shared::domain::{ItemChange, ItemId, ItemName, Price, Quantity, Stock, MAX_SHARDS};
use shared::http::{
    if_match, optional_field, path_param, reply, AdminCall, Endpoint, HandlerResult,
};
use shared::ApiError;

pub struct AdminUpdateItem;

impl Endpoint for AdminUpdateItem {
    const NAME: &'static str = "admin-update-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let id = path_param(&req, "item_id", ItemId::parse)?;
        let body = &call.body;
        let change = ItemChange {
            name: optional_field(body, "name", ItemName::from_json)?,
            price: optional_field(body, "price", Price::from_json)?,
            stock: optional_field(body, "quantity", Stock::from_json)?,
            restock: optional_field(body, "restock", |v| match Stock::from_json(v) {
                Ok(units) if units.get() > 0 => Ok(units),
                _ => Err("must be an integer from 1 to 1000000".to_owned()),
            })?,
            max_per_customer: optional_field(body, "max_per_customer", |v| match v {
                Value::Null => Ok(None),
                _ => Quantity::from_json(v).map(Some),
            })?,
            shards: optional_field(body, "stock_shards", |v| {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=u64::from(MAX_SHARDS)).contains(n));
                n.map(|n| n as u32)
                    .ok_or_else(|| format!("must be an integer from 1 to {MAX_SHARDS}"))
            })?,
        };
        if change.is_empty() {
            return Err(ApiError::invalid(
                "body",
                "must set at least one of price, quantity, restock, name, max_per_customer and \
                 stock_shards",
            ));
        }
        if change.stock.is_some() && change.restock.is_some() {
            return Err(ApiError::invalid(
                "restock",
                "cannot be combined with quantity",
            ));
        }
        let seen = if_match(&req)?;
        let key = call.key.as_ref();
        reply(items::update(state, &call.principal, id, &change, seen, key).await?)
    }
}
