//! Answers about a cart: its JSON with the `ETag` of its version, and the keyed write of a new
//! state of it (add, remove, set a quantity), answered and recorded in one transaction.

use serde_json::json;

use super::keys::Attempt;
use super::{json_text, with_etag, AppState, HandlerResult};
use crate::domain::{Cart, Fingerprint};
use crate::store::{CartCommit, NewRecord};
use crate::ApiError;

/// `{"cart": ...}` with the cart's `ETag`.
pub fn cart_answer(status: u16, cart: &Cart) -> HandlerResult {
    with_etag(json_text(status, cart_body(cart))?, cart.version)
}

fn cart_body(cart: &Cart) -> String {
    json!({ "cart": cart }).to_string()
}

/// `before` becomes `after`, with the key's record (`pk`, bound to `request`) holding the answer,
/// in one transaction: the answer, or a replay of whoever took the key, or `Again` when the
/// cart changed since it was read.
pub async fn commit_keyed(
    state: &AppState,
    before: &Cart,
    after: &Cart,
    pk: &str,
    request: &Fingerprint,
    now: i64,
) -> Result<Attempt, ApiError> {
    let body = cart_body(after);
    let record = NewRecord {
        pk,
        request,
        status: 200,
        body: &body,
        version: Some(after.version),
        now,
    };
    Ok(
        match state
            .store
            .commit_cart(before, after, Some(&record))
            .await?
        {
            CartCommit::Done => Attempt::Answer(with_etag(json_text(200, body)?, after.version)),
            CartCommit::KeyTaken(receipt) => Attempt::Replay(receipt),
            CartCommit::CartChanged => Attempt::Again,
            CartCommit::CartNotFound => Attempt::Answer(Err(ApiError::CartNotFound)),
        },
    )
}
