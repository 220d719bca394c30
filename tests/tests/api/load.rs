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

use admin_update_item::AdminUpdateItem;
use get_order::GetOrder;
use list_items::ListItems;
use serde_json::json;
use testkit::{ApiRequest, TestApp, TestResponse};

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
            let mut request = ApiRequest::list_items().query("limit", rng.u32(1..=5));
            if rng.bool() {
                request = request.query("max_value", 600);
            }
            app.call::<ListItems>(request).await
        }
        (10..=19, _) | (_, None) => {
            let response = app.create_cart(user).await;
            if let Some(id) = response.body["cart"]["id"].as_str() {
                ledger.lock().unwrap().carts.insert(user, id.to_owned());
            }
            response
        }
        (20..=27, Some(cart)) => app.view_cart(&cart).await,
        (28..=54, Some(cart)) => app.add(&cart, user, item, rng.u64(1..=3)).await,
        (55..=62, Some(cart)) => app.remove(&cart, user, item).await,
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
            let response = app.purchase(&cart, user, &key).await;
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
        (90..=96, _) => {
            // A price change or a restock.
            let (change, price, units) = if roll <= 93 {
                let price = rng.u64(100..=900);
                (json!({"price": price}), Some(price), 0)
            } else {
                let units = rng.u64(1..=4);
                (json!({"restock": units}), None, units)
            };
            let response = app
                .call::<AdminUpdateItem>(ApiRequest::admin_update(item, change))
                .await;
            if response.status == 200 {
                let mut ledger = ledger.lock().unwrap();
                match price {
                    Some(price) => {
                        ledger.prices.entry(item).or_default().insert(price);
                    }
                    None => *ledger.restocked.entry(item).or_default() += units,
                }
            }
            response
        }
        (_, Some(_)) => {
            let order = {
                let ledger = ledger.lock().unwrap();
                ledger.purchased.last().cloned()
            };
            let order = order.unwrap_or_else(|| "00000000-0000-4000-8000-000000000000".to_owned());
            app.call::<GetOrder>(ApiRequest::order(&order, user)).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_minute_of_mixed_load_nothing_is_lost_oversold_or_charged_wrongly() {
    let _heavy = testkit::heavy().await;
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
                        testkit::assert_no_internals(&response.text);
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
    let orders = app.stored_orders().await;
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
        let held = app.held_units(id).await;
        let restocked = ledger.restocked.get(&id).copied().unwrap_or(0);
        let units_sold = sold.get(&id).copied().unwrap_or(0);
        assert_eq!(
            item.stock.get() + restocked,
            now + held + units_sold,
            "stock of item {id}: initial + restocks = available + held + sold"
        );
    }
}
