//! Carts (create, view, add, remove) against DynamoDB Local, every rule of their contract: one
//! cart per user even under racing creates, owner checks, stock and line bounds held by condition
//! expressions under racing adds, the input rules, and the DynamoDB requests per call. A module
//! per function, then the input rules and what is stored; the helpers they share are here.

mod add;
mod create;
mod get;
mod input_rules;
mod remove;
mod storage;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use shared::domain::{Cart, CartId, UserId};
use testkit::{ApiRequest, TestApp};

const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;
const BODY_LIMIT: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Requests

fn create_event(route: &str) -> ApiRequest {
    ApiRequest::new("POST", route, route)
}

// ---------------------------------------------------------------------------------------------
// What is stored

/// The cart as stored now, version included.
async fn stored(app: &TestApp, cart_id: &str) -> Option<Cart> {
    app.store()
        .get_cart(&CartId::parse(cart_id).unwrap(), shared::domain::now_unix())
        .await
        .unwrap()
}

/// The line of `item` in a `{"cart": ...}` body.
fn line_of(body: &Value, item: u64) -> &Value {
    body["cart"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["item_id"] == item)
        .unwrap_or_else(|| panic!("item {item} in {body}"))
}

/// Items with a generous stock, named after their id.
fn catalog(n: usize, stock: u64) -> Vec<(String, u64, u64)> {
    (1..=n)
        .map(|i| (format!("Item {i}"), 100 + i as u64, stock))
        .collect()
}

async fn seed_catalog(app: &TestApp, n: usize, stock: u64) {
    let items = catalog(n, stock);
    let items: Vec<(&str, u64, u64)> = items
        .iter()
        .map(|(name, price, stock)| (name.as_str(), *price, *stock))
        .collect();
    app.seed(&items).await;
}

/// A cart id spelled from raw parts (for ids that are well formed but refused).
fn raw_cart_id(token: [u8; 16], owner: &str) -> String {
    URL_SAFE_NO_PAD.encode([&token[..], owner.as_bytes()].concat())
}

/// Another id for `cart_id`'s owner: right format and owner, wrong token.
fn forged(cart_id: &str) -> String {
    let owner = CartId::parse(cart_id).unwrap().owner().clone();
    CartId::generate(owner).to_string()
}

fn user(n: u64) -> UserId {
    UserId::parse(&n.to_string()).unwrap()
}
