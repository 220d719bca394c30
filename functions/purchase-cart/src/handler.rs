//! `POST /api/v1/cart/{cart_id}/purchase`: buys everything in the cart at the latest stock and
//! price ("Option 1" of the original design), exactly once per idempotency key.
//!
//! Two DynamoDB requests on the happy path, whatever the cart's size: one `BatchGetItem` (the
//! key's record and the cart), one `TransactWriteItems` (stock decrements conditioned on stock
//! and price, the idempotency record, the order, the emptied cart). A replay is one request.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::{
    now_rfc3339, Cart, CartId, IdempotencyKey, ItemId, Order, OrderId, OrderLine, Price, UserId,
};
use shared::error::{PriceChange, Shortfall};
use shared::http::{
    json_object, json_text, optional_field, path_param, required_field, AppState, Endpoint, Fields,
    HandlerResult,
};
use shared::store::{IdempotencyRecord, PurchasePlan, PurchaseRejection, PurchaseResult};
use shared::ApiError;

pub struct PurchaseCart;

/// How long a key stays bound to its purchase.
pub const KEY_LIFETIME_SECS: i64 = 24 * 60 * 60;
/// Reads of the cart when it keeps changing between the read and the transaction.
const CART_ATTEMPTS: u32 = 3;

impl Endpoint for PurchaseCart {
    const NAME: &'static str = "purchase-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let cart_id = path_param(&req, "cart_id", CartId::parse)?;
        let body = json_object(&req)?;
        let user = required_field(&body, "user_id", UserId::from_json)?;
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

async fn purchase(
    state: &AppState,
    cart_id: CartId,
    user: UserId,
    key: &IdempotencyKey,
) -> HandlerResult {
    for _ in 0..CART_ATTEMPTS {
        let now = unix_now();
        let snapshot = state.store.load_purchase(user, key, now).await?;
        // The user's key is resolved first: it may answer a purchase already made.
        if let Some(record) = snapshot.record {
            return replay(&record, &cart_id);
        }
        if cart_id.owner() != user {
            return Err(ApiError::CartNotFound);
        }
        let cart = snapshot
            .cart
            .filter(|cart| cart.id == cart_id)
            .ok_or(ApiError::CartNotFound)?;
        if cart.is_empty() {
            // Emptied by a purchase with this very key that committed between the two reads?
            return match state.store.get_idempotency_record(user, key, now).await? {
                Some(record) => replay(&record, &cart_id),
                None => Err(ApiError::CartEmpty),
            };
        }

        let order = order_for(&cart);
        let body = json!({
            "response": order.lines.iter()
                .map(|l| json!({ "item": l.item_id, "quantity": l.quantity }))
                .collect::<Vec<_>>(),
            "order": order,
        })
        .to_string();
        let record =
            IdempotencyRecord::new(user, key, &order, body.clone(), now + KEY_LIFETIME_SECS);
        let plan = PurchasePlan {
            cart: &cart,
            order: &order,
            record: &record,
            now,
        };
        match state.store.commit_purchase(&plan).await? {
            PurchaseResult::Committed => return json_text(200, body),
            PurchaseResult::Rejected(rejection) => {
                if let Some(answer) = explain(state, &cart, &cart_id, rejection).await? {
                    return answer;
                }
                // The cart changed between the read and the transaction: read it again.
            }
        }
    }
    Err(ApiError::RequestInProgress)
}

/// Turns a cancelled transaction into the answer it calls for, or `None` to try again.
async fn explain(
    state: &AppState,
    cart: &Cart,
    cart_id: &CartId,
    rejection: PurchaseRejection,
) -> Result<Option<HandlerResult>, ApiError> {
    if let Some(record) = rejection.taken_by {
        // A concurrent submit with this key won: answer what it answered.
        return Ok(Some(replay(&record, cart_id)));
    }
    if rejection.cart_changed {
        return Ok(None);
    }
    let changed: Vec<PriceChange> = rejection
        .lines
        .iter()
        .filter_map(|line| {
            let (price, _) = line.current?;
            (price != line.cart_price).then_some(PriceChange {
                item_id: line.item_id,
                cart_price: line.cart_price,
                current_price: price,
            })
        })
        .collect();
    if !changed.is_empty() {
        // Tell the user, and let the cart hold the prices they were told.
        let prices: Vec<(ItemId, Price)> = changed
            .iter()
            .filter_map(|c| Some((c.item_id, Price::new(c.current_price)?)))
            .collect();
        if !state.store.refresh_cart_prices(cart, &prices).await? {
            // The cart changed meanwhile: what it holds now decides the answer.
            return Ok(None);
        }
        return Ok(Some(Err(ApiError::PriceChanged(changed))));
    }
    let short: Vec<Shortfall> = rejection
        .lines
        .iter()
        .map(|line| Shortfall {
            item_id: line.item_id,
            requested: line.requested,
            available: line.current.map_or(0, |(_, stock)| stock),
        })
        .collect();
    if !short.is_empty() {
        return Ok(Some(Err(ApiError::InsufficientStock(short))));
    }
    Err(ApiError::Internal(
        "the purchase transaction was cancelled for no known reason".into(),
    ))
}

/// The first success again, byte for byte, or `422` when the key bought another cart.
fn replay(record: &IdempotencyRecord, cart_id: &CartId) -> HandlerResult {
    if record.cart_id != cart_id.to_string() {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let mut response: Response<Body> = json_text(record.status, record.body.clone())?;
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn order_for(cart: &Cart) -> Order {
    Order {
        id: OrderId::generate(),
        cart_id: cart.id,
        user_id: cart.user_id(),
        lines: cart
            .lines
            .iter()
            .map(|l| OrderLine {
                item_id: l.item_id,
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
        total: cart.total(),
        created_at: now_rfc3339(),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
