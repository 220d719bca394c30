//! `POST /api/v1/cart/{cart_id}/purchase`: buys everything in the cart, exactly once per
//! idempotency key (required: the `Idempotency-Key` header or `idempotency_key` in the body),
//! and only at the version of the cart the client saw when it says which (`If-Match`).
//!
//! Two DynamoDB requests on the happy path, whatever the cart's size: one `BatchGetItem`, one
//! `TransactWriteItems`; a replay is one. The loop: `shared::app::purchase`; its rule:
//! `shared::domain::purchase`.

use lambda_http::Request;
use shared::app::{purchase::purchase, AppState};
use shared::domain::IdempotencyKey;
use shared::http::{if_match, optional_field, reply, CartCall, Endpoint, HandlerResult};
use shared::ApiError;

pub struct PurchaseCart;

impl Endpoint for PurchaseCart {
    const NAME: &'static str = "purchase-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = CartCall::purchase(state, &req)?;
        let key = idempotency_key(&call)?;
        let seen = if_match(&req)?;
        reply(purchase(state, &call.cart, &call.user, &key, seen).await?)
    }
}

/// The key from the `Idempotency-Key` header or `idempotency_key` in the body; both given, they
/// must be the same key.
fn idempotency_key(call: &CartCall) -> Result<IdempotencyKey, ApiError> {
    let in_body = optional_field(&call.body, "idempotency_key", |v| match v.as_str() {
        Some(s) => IdempotencyKey::parse(s),
        None => Err("must be a string".to_owned()),
    })?;
    match (call.key.clone(), in_body) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "idempotency_key",
            "differs from the Idempotency-Key header",
        )),
        (Some(key), _) | (None, Some(key)) => Ok(key),
        (None, None) => Err(ApiError::invalid(
            "idempotency_key",
            "is required, as the Idempotency-Key header or in the body",
        )),
    }
}
