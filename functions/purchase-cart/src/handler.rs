//! `POST /api/v1/cart/{cart_id}/purchase`: buys everything in the cart at the latest stock and
//! price ("Option 1" of the original design), exactly once per idempotency key.
//!
//! Two DynamoDB requests on the happy path, whatever the cart's size: one `BatchGetItem` (the
//! key's record and the cart), one `TransactWriteItems` (stock decrements conditioned on stock
//! and price, the idempotency record, the order, the emptied cart). A replay is one request.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::purchase::{
    first_look, order_for, verdict, FirstLook, Verdict, KEY_LIFETIME_SECS,
};
use shared::domain::{now_rfc3339, CartId, IdempotencyKey, OrderId, Receipt, UserId};
use shared::http::{
    authenticate, cart_in_path, json_object, json_text, named_user, optional_field, AppState,
    Endpoint, Fields, HandlerResult,
};
use shared::store::PurchasePlan;
use shared::ApiError;

pub struct PurchaseCart;

/// Reads of the cart when it keeps changing between the read and the transaction.
const CART_ATTEMPTS: u32 = 3;

impl Endpoint for PurchaseCart {
    const NAME: &'static str = "purchase-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let key = idempotency_key(&req, &body)?;
        purchase(state, cart_id, user, &key).await
    }
}

/// The key from the `Idempotency-Key` header or, failing that, `idempotency_key` in the body.
fn idempotency_key(req: &Request, body: &Fields) -> Result<IdempotencyKey, ApiError> {
    if let Some(header) = req.headers().get("idempotency-key") {
        let text = header
            .to_str()
            .map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))?;
        return IdempotencyKey::parse(text)
            .map_err(|why| ApiError::invalid("Idempotency-Key", why));
    }
    optional_field(body, "idempotency_key", |v| match v.as_str() {
        Some(s) => IdempotencyKey::parse(s),
        None => Err("must be a string".to_owned()),
    })?
    .ok_or_else(|| {
        ApiError::invalid(
            "idempotency_key",
            "is required, as the Idempotency-Key header or in the body",
        )
    })
}

/// Parse, loop, answer: the rule's steps are `first_look` and `verdict` (domain::purchase).
async fn purchase(
    state: &AppState,
    cart_id: CartId,
    user: UserId,
    key: &IdempotencyKey,
) -> HandlerResult {
    let store = &state.store;
    for _ in 0..CART_ATTEMPTS {
        let now = unix_now();
        let snapshot = store.load_purchase(&user, key, now).await?;
        let cart = match first_look(snapshot.receipt, snapshot.cart, &cart_id, &user) {
            FirstLook::Replay(receipt) => return replay(&receipt, &cart_id),
            FirstLook::CartNotFound => return Err(ApiError::CartNotFound),
            FirstLook::CartEmpty => {
                return match store.get_receipt(&user, key, now).await? {
                    Some(receipt) => replay(&receipt, &cart_id),
                    None => Err(ApiError::CartEmpty),
                }
            }
            FirstLook::Buy(cart) => cart,
        };
        let order = order_for(&cart, OrderId::generate(), now_rfc3339());
        let body = json!({
            "response": order.lines.iter()
                .map(|l| json!({ "item": l.item_id, "quantity": l.quantity }))
                .collect::<Vec<_>>(),
            "order": order,
        })
        .to_string();
        let plan = PurchasePlan {
            user: &user,
            key,
            cart: &cart,
            order: &order,
            body: &body,
            now,
            expires_at: now + KEY_LIFETIME_SECS,
        };
        let Some(rejection) = store.commit_purchase(&plan).await? else {
            return json_text(200, body);
        };
        match verdict(rejection) {
            Verdict::Replay(receipt) => return replay(&receipt, &cart_id),
            Verdict::ReadCartAgain => {}
            Verdict::Reprice(changed) => {
                // Tell the user, and let the cart hold the prices they were told. If the cart
                // changed meanwhile, what it holds now decides the answer.
                if store.refresh_cart_prices(&cart, &changed).await? {
                    return Err(ApiError::PriceChanged(changed));
                }
            }
            Verdict::InsufficientStock(short) => return Err(ApiError::InsufficientStock(short)),
            Verdict::Unexplained => {
                return Err(ApiError::Internal(
                    "the purchase transaction was cancelled for no known reason".into(),
                ))
            }
        }
    }
    Err(ApiError::RequestInProgress)
}

/// The first success again, byte for byte, or `422` when the key bought another cart.
fn replay(receipt: &Receipt, cart_id: &CartId) -> HandlerResult {
    if !receipt.is_for(cart_id) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let mut response: Response<Body> = json_text(receipt.status, receipt.body.clone())?;
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
