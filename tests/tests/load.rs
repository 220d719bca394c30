//! A bounded load test: many users, every endpoint, a small catalog with scarce stock, admin
//! price changes and restocks, all at once; then a check of everything stored.
//!
//! Runs for `LOAD_TEST_SECONDS` (default 60) at concurrency 32, in process, against DynamoDB
//! Local. The invariants: for every item, initial stock + restocks = stock now + units in orders;
//! every order's total is the sum of its lines, at prices the item really had; every successful
//! purchase answer is exactly one stored order; no 5xx.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use add_cart_item::AddCartItem;
use admin_update_item::AdminUpdateItem;
use create_cart::CreateCart;
use get_cart::GetCart;
use get_order::GetOrder;
use integration_tests::{Event, TestApp, TestResponse};
use list_items::ListItems;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde_json::{json, Value};

const CONCURRENCY: usize = 32;
const USERS: u64 = 120;
const ITEMS: u64 = 8;

#[derive(Default)]
struct Ledger {
    statuses: HashMap<u16, u64>,
    restocked: HashMap<u64, u64>,
    prices: HashMap<u64, HashSet<u64>>,
    /// Order ids answered by purchases that made them (not replays).
    purchased: Vec<String>,
    /// Order ids answered by replays.
    replayed: Vec<String>,
    /// Each user's cart id, once created.
    carts: HashMap<u64, String>,
    /// Keys that bought something, per user, for replays.
    keys: HashMap<u64, Vec<String>>,
    calls: u64,
}

fn seconds() -> u64 {
    std::env::var("LOAD_TEST_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

async fn one_call(app: &TestApp, ledger: &Mutex<Ledger>, rng: &mut fastrand::Rng) -> TestResponse {
    let user = rng.u64(1..=USERS);
    let item = rng.u64(1..=ITEMS);
    let cart = ledger.lock().unwrap().carts.get(&user).cloned();
    let roll = rng.u32(0..100);
    match (roll, cart) {
        (0..=9, _) => {
            let mut event =
                Event::new("GET", "/api/v1/items", "/api/v1/items").query("limit", rng.u32(1..=5));
            if rng.bool() {
                event = event.query("max_value", 600);
            }
            app.call::<ListItems>(event.build()).await
        }
        (10..=19, _) | (_, None) => {
            let response = app
                .call::<CreateCart>(
                    Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                        .json(json!({"user_id": user}))
                        .build(),
                )
                .await;
            if let Some(id) = response.body["cart"]["id"].as_str() {
                ledger.lock().unwrap().carts.insert(user, id.to_owned());
            }
            response
        }
        (20..=27, Some(cart)) => {
            app.call::<GetCart>(
                Event::new(
                    "GET",
                    "/api/v1/cart/{cart_id}",
                    &format!("/api/v1/cart/{cart}"),
                )
                .path_param("cart_id", &cart)
                .build(),
            )
            .await
        }
        (28..=54, Some(cart)) => {
            app.call::<AddCartItem>(
                Event::new(
                    "POST",
                    "/api/v1/cart/{cart_id}/items",
                    &format!("/api/v1/cart/{cart}/items"),
                )
                .path_param("cart_id", &cart)
                .json(json!({"user_id": user, "item_id": item, "quantity": rng.u64(1..=3)}))
                .build(),
            )
            .await
        }
        (55..=62, Some(cart)) => {
            app.call::<RemoveCartItem>(
                Event::new(
                    "DELETE",
                    "/api/v1/cart/{cart_id}/items/{item_id}",
                    &format!("/api/v1/cart/{cart}/items/{item}"),
                )
                .path_param("cart_id", &cart)
                .path_param("item_id", item)
                .query("user_id", user)
                .build(),
            )
            .await
        }
        (63..=89, Some(cart)) => {
            let old_keys = ledger
                .lock()
                .unwrap()
                .keys
                .get(&user)
                .cloned()
                .unwrap_or_default();
            let key = if !old_keys.is_empty() && rng.u32(0..4) == 0 {
                old_keys[rng.usize(0..old_keys.len())].clone()
            } else {
                format!("load-{user}-{}", rng.u64(..))
            };
            let response = app
                .call::<PurchaseCart>(
                    Event::new(
                        "POST",
                        "/api/v1/cart/{cart_id}/purchase",
                        &format!("/api/v1/cart/{cart}/purchase"),
                    )
                    .path_param("cart_id", &cart)
                    .header("Idempotency-Key", &key)
                    .json(json!({"user_id": user}))
                    .build(),
                )
                .await;
            if response.status == 200 {
                let order = response.body["order"]["id"].as_str().unwrap().to_owned();
                let mut ledger = ledger.lock().unwrap();
                if response.header("idempotent-replayed") == Some("true") {
                    ledger.replayed.push(order);
                } else {
                    ledger.purchased.push(order);
                    ledger.keys.entry(user).or_default().push(key);
                }
            }
            response
        }
        (90..=93, _) => {
            let price = rng.u64(100..=900);
            let response = app
                .call::<AdminUpdateItem>(
                    Event::new(
                        "PATCH",
                        "/api/v1/admin/items/{item_id}",
                        &format!("/api/v1/admin/items/{item}"),
                    )
                    .path_param("item_id", item)
                    .with_iam()
                    .json(json!({"price": price}))
                    .build(),
                )
                .await;
            if response.status == 200 {
                ledger
                    .lock()
                    .unwrap()
                    .prices
                    .entry(item)
                    .or_default()
                    .insert(price);
            }
            response
        }
        (94..=96, _) => {
            let units = rng.u64(1..=4);
            let response = app
                .call::<AdminUpdateItem>(
                    Event::new(
                        "PATCH",
                        "/api/v1/admin/items/{item_id}",
                        &format!("/api/v1/admin/items/{item}"),
                    )
                    .path_param("item_id", item)
                    .with_iam()
                    .json(json!({"restock": units}))
                    .build(),
                )
                .await;
            if response.status == 200 {
                *ledger.lock().unwrap().restocked.entry(item).or_default() += units;
            }
            response
        }
        (_, Some(_)) => {
            let order = {
                let ledger = ledger.lock().unwrap();
                ledger.purchased.last().cloned()
            };
            let order = order.unwrap_or_else(|| "00000000-0000-4000-8000-000000000000".to_owned());
            app.call::<GetOrder>(
                Event::new(
                    "GET",
                    "/api/v1/orders/{order_id}",
                    &format!("/api/v1/orders/{order}"),
                )
                .path_param("order_id", &order)
                .query("user_id", user)
                .build(),
            )
            .await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_minute_of_mixed_load_nothing_is_lost_oversold_or_charged_wrongly() {
    let app = Arc::new(TestApp::spawn().await);
    let catalog: Vec<(String, u64, u64)> = (1..=ITEMS)
        .map(|i| (format!("Scarce - Item {i}"), 100 + i * 50, 5 + i))
        .collect();
    let borrowed: Vec<(&str, u64, u64)> = catalog
        .iter()
        .map(|(n, p, s)| (n.as_str(), *p, *s))
        .collect();
    let initial = app.seed(&borrowed).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    {
        let mut ledger = ledger.lock().unwrap();
        for item in &initial {
            ledger
                .prices
                .entry(item.id.get())
                .or_default()
                .insert(item.price.get());
        }
    }

    let deadline = Instant::now() + Duration::from_secs(seconds());
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let app = app.clone();
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(worker as u64);
                while Instant::now() < deadline {
                    let response = one_call(&app, &ledger, &mut rng).await;
                    assert!(response.status < 500, "a 5xx under load: {}", response.text);
                    if response.status >= 400 {
                        integration_tests::assert_no_internals(&response.text);
                    }
                    let mut ledger = ledger.lock().unwrap();
                    *ledger.statuses.entry(response.status).or_default() += 1;
                    ledger.calls += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("no worker panicked");
    }

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    println!(
        "{} calls; statuses {:?}; {} purchases; {} replays",
        ledger.calls,
        ledger.statuses,
        ledger.purchased.len(),
        ledger.replayed.len()
    );
    assert!(!ledger.purchased.is_empty(), "the load bought something");

    // What is stored.
    let orders = stored_orders(&app).await;
    let stored_ids: HashSet<&str> = orders
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    let answered: HashSet<&str> = ledger.purchased.iter().map(String::as_str).collect();
    assert_eq!(
        answered.len(),
        ledger.purchased.len(),
        "no order id answered to two purchases"
    );
    assert_eq!(
        stored_ids, answered,
        "every success is exactly one stored order"
    );
    for replay in &ledger.replayed {
        assert!(
            stored_ids.contains(replay.as_str()),
            "a replay answers a stored order"
        );
    }

    let mut sold: HashMap<u64, u64> = HashMap::new();
    for order in &orders {
        let lines = order["lines"].as_array().unwrap();
        let mut total = 0;
        for line in lines {
            let item = line["item_id"].as_u64().unwrap();
            let quantity = line["quantity"].as_u64().unwrap();
            let price = line["unit_price"].as_u64().unwrap();
            assert!(
                ledger.prices[&item].contains(&price),
                "order charged {price} for item {item}, a price it never had"
            );
            *sold.entry(item).or_default() += quantity;
            total += quantity * price;
        }
        assert_eq!(
            order["total"].as_u64().unwrap(),
            total,
            "order total is the sum of its lines"
        );
    }
    for item in &initial {
        let id = item.id.get();
        let now = app.item(id).await.stock.get();
        let restocked = ledger.restocked.get(&id).copied().unwrap_or(0);
        let units_sold = sold.get(&id).copied().unwrap_or(0);
        assert_eq!(
            item.stock.get() + restocked,
            now + units_sold,
            "stock of item {id}: initial + restocks = now + sold"
        );
    }
}

/// Every stored order, as plain JSON (read straight from the table).
async fn stored_orders(app: &TestApp) -> Vec<Value> {
    let mut orders = Vec::new();
    let mut start = None;
    loop {
        let out = app
            .store()
            .client()
            .scan()
            .table_name(&app.store().tables().orders)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            orders.push(attribute_json(&aws_sdk_dynamodb::types::AttributeValue::M(
                item.clone(),
            )));
        }
        match out.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return orders,
        }
    }
}

fn attribute_json(value: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match value {
        A::S(s) => json!(s),
        A::N(n) => json!(n.parse::<u64>().expect("a non-negative integer")),
        A::L(list) => Value::Array(list.iter().map(attribute_json).collect()),
        A::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), attribute_json(v)))
                .collect(),
        ),
        A::Bool(b) => json!(b),
        _ => Value::Null,
    }
}
