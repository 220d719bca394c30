//! `POST /api/v1/cart/{cart_id}/purchase`: buys everything in the cart at the latest stock and
//! price ("Option 1" of the original design), exactly once per idempotency key, and only at the
//! version of the cart the client saw when it says which (`If-Match`).
//!
//! Two DynamoDB requests on the happy path, whatever the cart's size: one `BatchGetItem` (the
//! key's order and the cart), one `TransactWriteItems` (stock decrements conditioned on stock
//! and price, the order, the emptied cart). The order is named by the key and is its record. A
//! replay is one request.

use lambda_http::Request;
use serde_json::json;
use shared::domain::purchase::{bought, first_look, order_for, verdict, FirstLook, Verdict};
use shared::domain::{
    now_rfc3339, now_unix, CartId, Fingerprint, IdempotencyKey, KeyScope, OrderId, UserId,
};
use shared::http::{
    authenticate, cart_in_path, exactly_once, if_match, json_object, json_text, named_user,
    optional_field, AppState, Attempt, Endpoint, Fields, HandlerResult,
};
use shared::store::{CartCommit, PurchasePlan};
use shared::ApiError;

pub struct PurchaseCart;

impl Endpoint for PurchaseCart {
    const NAME: &'static str = "purchase-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let key = idempotency_key(&req, &body)?;
        let seen = if_match(&req)?;
        // The key binds the request as sent: this cart, at this version or at any.
        let seen_text = seen.map_or_else(|| "*".to_owned(), |v| v.to_string());
        let request = Fingerprint::of("purchase", &[&cart_id, &seen_text]);
        purchase(state, &cart_id, &user, &key, &request, seen).await
    }
}

/// The key from the `Idempotency-Key` header or `idempotency_key` in the body; both given, they
/// must be the same key.
fn idempotency_key(req: &Request, body: &Fields) -> Result<IdempotencyKey, ApiError> {
    let in_body = optional_field(body, "idempotency_key", |v| match v.as_str() {
        Some(s) => IdempotencyKey::parse(s),
        None => Err("must be a string".to_owned()),
    })?;
    match (shared::http::key_header(req)?, in_body) {
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

/// Parse, loop, answer: the rule's steps are `first_look` and `verdict` (domain::purchase).
async fn purchase(
    state: &AppState,
    cart_id: &CartId,
    user: &UserId,
    key: &IdempotencyKey,
    request: &Fingerprint,
    seen: Option<u64>,
) -> HandlerResult {
    let store = &state.store;
    let pk = KeyScope::User(user).record_key(key);
    let (pk, order_id) = (pk.as_str(), OrderId::of_key(&pk));
    exactly_once(request, || async move {
        let now = now_unix();
        let snapshot = store.load_purchase(user, pk, now).await?;
        let cart = match first_look(snapshot.receipt, snapshot.cart, cart_id, user, seen) {
            FirstLook::Replay(receipt) => return Ok(Attempt::Replay(receipt)),
            FirstLook::CartNotFound => return Err(ApiError::CartNotFound),
            FirstLook::Stale(cart) => return Err(stale(&cart)),
            FirstLook::CartEmpty => {
                return match store.key_receipt(pk, now).await? {
                    Some(receipt) => Ok(Attempt::Replay(receipt)),
                    None => Err(ApiError::CartEmpty),
                }
            }
            FirstLook::Buy(cart) => cart,
        };
        let order = order_for(&cart, order_id, now_rfc3339());
        let plan = PurchasePlan {
            cart: &cart,
            order: &order,
            request,
            now,
        };
        let Some(rejection) = store.commit_purchase(&plan).await? else {
            return Ok(Attempt::Answer(json_text(200, bought(&order))));
        };
        Ok(match verdict(rejection) {
            Verdict::Replay(receipt) => Attempt::Replay(receipt),
            Verdict::ReadCartAgain => Attempt::Again,
            // Tell the user, and let the cart hold the prices they were told. If the cart
            // changed meanwhile, what it holds now decides the answer.
            Verdict::Reprice(changed) => {
                match store
                    .commit_cart(&cart, &cart.repriced(&changed), None, now)
                    .await?
                {
                    CartCommit::Done => Attempt::Answer(Err(ApiError::PriceChanged(changed))),
                    _ => Attempt::Again,
                }
            }
            Verdict::InsufficientStock(short) => {
                Attempt::Answer(Err(ApiError::InsufficientStock(short)))
            }
            Verdict::Unexplained => Attempt::Answer(Err(ApiError::Internal(
                "the purchase transaction was cancelled for no known reason".into(),
            ))),
        })
    })
    .await
}

/// `412`: the cart is not the version the client saw; here it is now.
fn stale(cart: &shared::domain::Cart) -> ApiError {
    ApiError::PreconditionFailed {
        member: "cart",
        current: json!(cart),
    }
}
