//! `POST /api/v1/admin/items` (IAM only): adds an item to the catalog with a new id.
//!
//! Without a key, two requests: the id counter's increment, then a put that never overwrites
//! (each exactly once even when the SDK resends it). With an `Idempotency-Key` (scoped to the
//! admin principal), two as well: one `BatchGetItem` (the key's record, the counter), then one
//! transaction moving the counter on, putting the item and the key's record.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{now_unix, Fingerprint, ItemId, ItemName, KeyScope, NewItem, Price, Stock};
use shared::http::{
    admin_principal, exactly_once, json_object, json_text, key_header, require_iam, required_field,
    versioned, with_etag, AppState, Attempt, Endpoint, HandlerResult,
};
use shared::store::{ItemCreate, NewRecord};
use shared::ApiError;

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
        let store = &state.store;
        let Some(key) = key_header(&req)? else {
            let item = store.create_item(&new).await?;
            return versioned(201, &json!({ "item": item.admin_view() }), item.version);
        };
        let name = format!("{:?}", new.name.as_str());
        let request = Fingerprint::of("create-item", &[&name, &new.price.get(), &new.stock.get()]);
        let principal = admin_principal(&req);
        let pk = KeyScope::Admin(&principal).record_key(&key);
        let (pk, request_ref, new) = (pk.as_str(), &request, &new);
        exactly_once(&request, || async move {
            let now = now_unix();
            let (receipt, _, last_id) = store.read_item(pk, None, now).await?;
            if let Some(receipt) = receipt {
                return Ok(Attempt::Replay(receipt));
            }
            let id = ItemId::new(last_id + 1)
                .ok_or_else(|| ApiError::Internal("the item ids ran out".into()))?;
            let item = new.with_id(id);
            let body = json!({ "item": item.admin_view() }).to_string();
            let record = NewRecord {
                pk,
                request: request_ref,
                status: 201,
                body: &body,
                version: Some(item.version),
                now,
            };
            Ok(
                match store.commit_new_item(&item, last_id, &record).await? {
                    ItemCreate::Created(item) => {
                        Attempt::Answer(with_etag(json_text(201, body)?, item.version))
                    }
                    ItemCreate::KeyTaken(receipt) => Attempt::Replay(receipt),
                    ItemCreate::IdTaken => Attempt::Again,
                },
            )
        })
        .await
    }
}
