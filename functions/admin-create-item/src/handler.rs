//! `POST /api/v1/admin/items` (IAM only): adds an item to the catalog with a new id, and
//! optionally the most units one customer may hold and buy of it (`max_per_customer`).
//!
//! Without a key, two requests: the id counter's increment, then a put that never overwrites
//! (each exactly once even when the SDK resends it). With an `Idempotency-Key` (scoped to the
//! admin principal), two as well: one `BatchGetItem` (the key's record, the counter), then one
//! transaction moving the counter on, putting the item and the key's record
//! (`shared::app::items::create`).

use lambda_http::Request;
use shared::app::{items, AppState};
use shared::domain::{ItemName, NewItem, Price, Quantity, Stock};
use shared::http::{optional_field, reply, required_field, AdminCall, Endpoint, HandlerResult};

pub struct AdminCreateItem;

impl Endpoint for AdminCreateItem {
    const NAME: &'static str = "admin-create-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let new = NewItem {
            name: required_field(&call.body, "name", ItemName::from_json)?,
            price: required_field(&call.body, "price", Price::from_json)?,
            stock: required_field(&call.body, "quantity", Stock::from_json)?,
            max_per_customer: optional_field(&call.body, "max_per_customer", Quantity::from_json)?,
        };
        reply(items::create(state, &call.principal, &new, call.key.as_ref()).await?)
    }
}
