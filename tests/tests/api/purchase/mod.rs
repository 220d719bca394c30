//! The purchase and the orders, against DynamoDB Local, every rule of the checkout: the answer
//! and what is stored, the idempotency key (where it is read, its rules, its scope, the replay,
//! its expiry, that only a success consumes it), price and stock checks, the DynamoDB requests
//! each outcome costs; the races (flash sale, one key submitted concurrently, a purchase racing an
//! add or a price change), and the faults DynamoDB Local never produces, injected on the wire by
//! `testkit::DynamoDbProxy`. A module per section; the helpers they share are here.

mod dynamodb_requests;
mod faults;
mod idempotency_key;
mod races;
mod rejections;
mod success;

use aws_sdk_dynamodb::types::Select;
use purchase_cart::PurchaseCart;
use serde_json::{json, Value};
use shared::domain::{CartId, ItemId, UserId};
use shared::Store;
use testkit::DynamoDbProxy;
use testkit::{ApiRequest, TestApp, TestResponse};

// ---------------------------------------------------------------------------------------------
// Requests

/// A purchase with the key in the body.
async fn purchase_with_body_key(
    app: &TestApp,
    cart_id: &str,
    user: u64,
    key: &str,
) -> TestResponse {
    app.call::<PurchaseCart>(
        ApiRequest::purchase_cart(cart_id).json(json!({ "user_id": user, "idempotency_key": key })),
    )
    .await
}

fn assert_replayed(r: &TestResponse, first: &TestResponse) {
    assert_eq!(r.status, first.status, "{}", r.text);
    assert_eq!(r.text, first.text, "a replay answers the same bytes");
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.header("content-type"), first.header("content-type"));
}

fn assert_fresh_success(r: &TestResponse) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None, "{}", r.text);
}

fn order_id_of(r: &TestResponse) -> String {
    r.body["order"]["id"].as_str().unwrap().to_owned()
}

fn user(n: u64) -> UserId {
    UserId::parse(&n.to_string()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// What is stored, read straight from DynamoDB Local (never through a fault proxy)

async fn count(store: &Store, table: &str) -> usize {
    count_having(store, table, None).await
}

/// The orders stored (the orders table also holds users' keys' records of cart writes).
async fn order_count(store: &Store) -> usize {
    count_having(store, &store.tables().orders, Some("lines")).await
}

/// How many items `table` holds (with the attribute `having`, if named), read consistently.
async fn count_having(store: &Store, table: &str, having: Option<&str>) -> usize {
    let mut scan = store.client().scan().table_name(table);
    if let Some(attribute) = having {
        scan = scan
            .filter_expression("attribute_exists(#a)")
            .expression_attribute_names("#a", attribute);
    }
    let out = scan.select(Select::Count).consistent_read(true).send();
    out.await.unwrap().count() as usize
}

async fn stock_of(store: &Store, item: u64) -> u64 {
    store
        .get_item(ItemId::new(item).unwrap())
        .await
        .unwrap()
        .expect("the item exists")
        .stock
        .get()
}

/// The stored cart as the API shows it.
async fn stored_cart(store: &Store, cart_id: &str) -> Value {
    let cart = store
        .get_cart(&CartId::parse(cart_id).unwrap(), shared::domain::now_unix())
        .await
        .unwrap()
        .expect("the cart exists");
    serde_json::to_value(cart).unwrap()
}

/// Everything a purchase may change.
#[derive(Debug, PartialEq)]
struct World {
    stocks: Vec<u64>,
    orders: usize,
    cart: Value,
}

async fn world(store: &Store, cart_id: &str, items: &[u64]) -> World {
    let mut stocks = Vec::new();
    for &item in items {
        stocks.push(stock_of(store, item).await);
    }
    World {
        stocks,
        orders: order_count(store).await,
        cart: stored_cart(store, cart_id).await,
    }
}

fn lines_of(cart: &Value) -> Vec<(u64, u64, u64)> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item_id"].as_u64().unwrap(),
                l["quantity"].as_u64().unwrap(),
                l["unit_price"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A proxied application: the functions talk to DynamoDB Local through a fault proxy; the
/// returned store does not.
async fn proxied() -> (DynamoDbProxy, TestApp, Store) {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let store = app.direct().clone();
    (proxy, app, store)
}

fn tokens(proxy: &DynamoDbProxy) -> Vec<String> {
    proxy
        .seen("TransactWriteItems")
        .iter()
        .map(|s| {
            s.body["ClientRequestToken"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}
