//! `PATCH /api/v1/admin/items/{item_id}` (IAM only): changes an item's price, name or stock
//! (`quantity` sets it; `restock` adds to it atomically, safe while purchases run).
//! A price change is what a cart's next purchase detects as `price_changed`.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{ItemChange, ItemId, ItemName, Price, Stock};
use shared::http::{
    json, json_object, optional_field, path_param, require_iam, AppState, Endpoint, HandlerResult,
};
use shared::store::ItemUpdate;
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
        match state.store.update_item(id, &change).await? {
            ItemUpdate::Updated(item) => json(200, &json!({ "item": item })),
            ItemUpdate::NotFound => Err(ApiError::ItemNotFound(id)),
            ItemUpdate::StockFull => Err(ApiError::invalid(
                "restock",
                "would take the stock past 1000000",
            )),
        }
    }
}
