//! `POST /api/v1/admin/items` (IAM only): adds an item to the catalog with a new id.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{ItemName, NewItem, Price, Stock};
use shared::http::{
    json, json_object, require_iam, required_field, AppState, Endpoint, HandlerResult,
};

pub struct AdminCreateItem;

impl Endpoint for AdminCreateItem {
    const NAME: &'static str = "admin-create-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        require_iam(state, &req)?;
        let body = json_object(&req)?;
        let new = NewItem {
            name: required_field(&body, "name", ItemName::from_json)?,
            price: required_field(&body, "price", Price::from_json)?,
            stock: required_field(&body, "quantity", Stock::from_json)?,
        };
        let item = state.store.create_item(&new).await?;
        json(201, &json!({ "item": item }))
    }
}
