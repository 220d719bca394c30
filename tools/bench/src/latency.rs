//! Section 2: latency through the local API (`cargo lambda watch`), per endpoint, at
//! concurrency 1 and 32, with the functions' own log lines (`latency_us`, `dynamodb_us`) read
//! back from the watch log to tell the time inside DynamoDB from the function's own.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use shared::domain::{Item, Stock};
use shared::Tables;
use testkit::{dynamodb_endpoint, item, ApiRequest, TestApp};

use crate::stats::Summary;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub endpoint: &'static str,
    pub concurrency: usize,
    pub requests: usize,
    /// Answers by status and problem code (`200`, `409 price_changed`).
    pub statuses: BTreeMap<String, usize>,
    /// Log lines of this function during the phase with another status than these calls got:
    /// another client's of the same local API.
    pub foreign_log_lines: usize,
    /// As the client saw it: through the local API, the emulator and the function.
    pub http: Summary,
    pub throughput_rps: f64,
    /// As the function logged it (`latency_us`): from the event to the response.
    pub function: Summary,
    /// Inside DynamoDB calls (`dynamodb_us`), per request.
    pub dynamodb: Summary,
    /// `latency_us - dynamodb_us` per request: the function's own work.
    pub overhead: Summary,
    pub dynamodb_requests_per_call: f64,
    /// Log lines found for this phase (should equal `requests`).
    pub logged: usize,
    /// Answers other than the expected one, and log lines missing (`0` when none).
    pub other_answers: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub api_url: String,
    pub rows: Vec<Row>,
}

/// One endpoint's requests, and the status each should get.
pub struct Plan {
    pub endpoint: &'static str,
    pub expected: u16,
    pub calls: Vec<ApiRequest>,
}

/// `warmup` calls per endpoint, then `sequential` one at a time and `concurrent` 32 at a time.
pub async fn run(api_url: &str, log: &Path, warmup: usize, seq: usize, conc: usize) -> Report {
    // The functions behind the local API use the tables named in this environment.
    let app = TestApp::spawn_on(Tables::from_env(), &dynamodb_endpoint()).await;
    let n = warmup + seq + conc;
    let items = seed(&app).await;
    eprintln!("bench: latency: preparing carts and orders for {n} calls per endpoint");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("an HTTP client");
    let mut rows = Vec::new();
    for plan in prepare(&app, &items, n).await {
        eprintln!("bench: latency: {}", plan.endpoint);
        let (warm, rest) = plan.calls.split_at(warmup);
        // The first call may build and start the function.
        fire(&client, api_url, warm, 1).await;
        for (concurrency, calls) in [(1, &rest[..seq]), (32, &rest[seq..])] {
            let offset = std::fs::metadata(log).map_or(0, |m| m.len());
            let started = Instant::now();
            let answers = fire(&client, api_url, calls, concurrency).await;
            let wall = started.elapsed();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let logged = read_log(log, offset, plan.endpoint);
            rows.push(row(&plan, concurrency, &answers, wall, &logged));
        }
    }
    app.drop_tables().await;
    let api_url = api_url.to_owned();
    Report { api_url, rows }
}

/// The bundled dataset plus 64 items (ids 900001 on) with stock enough for every call.
pub async fn seed(app: &TestApp) -> Vec<Item> {
    let mut items = seed_catalog::parse_dataset(seed_catalog::DATASET).expect("dataset parses");
    let name = |i| format!("Bench Stock Item {i}");
    let bench: Vec<Item> = (1..=64)
        .map(|i| item(900_000 + i, &name(i), 500, Stock::MAX))
        .collect();
    items.extend(bench.iter().cloned());
    app.direct().put_items(&items).await.expect("seeded");
    bench
}

/// Runs `f` on `0..n`, 16 at a time; results in order.
async fn each<T, F: std::future::Future<Output = T>>(n: usize, f: impl Fn(usize) -> F) -> Vec<T> {
    stream::iter((0..n).map(f)).buffered(16).collect().await
}

/// `n` calls of each HTTP endpoint, each with a cart or order of its own where it changes one.
pub async fn prepare(app: &TestApp, items: &[Item], n: usize) -> Vec<Plan> {
    let pick = |k: usize| std::slice::from_ref(&items[k % items.len()]);
    let id = |k: usize| items[k % items.len()].id.get();
    let user = |base: u64, k: usize| base + k as u64;
    let few = n.min(32);
    let empty = each(n, |k| app.fill_cart(user(12_000_000, k), &[], 1)).await;
    let for_remove = each(n, |k| app.fill_cart(user(13_000_000, k), pick(k), 1)).await;
    let for_purchase = each(n, |k| app.fill_cart(user(14_000_000, k), pick(k), 1)).await;
    let for_set = each(n, |k| app.fill_cart(user(16_000_000, k), pick(k), 1)).await;
    let to_view = each(few, |k| app.fill_cart(user(11_000_000, k), &items[..3], 1)).await;
    let orders = each(few, |k| async move {
        let user = user(15_000_000, k);
        let cart = app.fill_cart(user, &items[..2], 1).await;
        let answer = app.purchase(&cart, user, &key()).await;
        let order = answer.body["order"]["id"].as_str().expect("an order");
        (order.to_owned(), user)
    })
    .await;

    let created =
        |k| json!({ "name": format!("Bench Created Item {k}"), "price": 1299, "quantity": 10 });
    let request = |endpoint: &str, k: usize| match endpoint {
        "list-items" => ApiRequest::list_items(),
        "get-cart" => ApiRequest::get_cart(&to_view[k % few]),
        "create-cart" => ApiRequest::create_cart_for(user(10_000_000, k)),
        "add-cart-item" => ApiRequest::add(&empty[k], user(12_000_000, k), id(k), 1),
        "remove-cart-item" => ApiRequest::remove(&for_remove[k], user(13_000_000, k), id(k)),
        "purchase-cart" => ApiRequest::purchase(&for_purchase[k], user(14_000_000, k), &key()),
        "set-cart-item" => ApiRequest::set(&for_set[k], user(16_000_000, k), id(k), 2),
        "get-order" => ApiRequest::order(&orders[k % few].0, orders[k % few].1),
        "list-orders" => {
            let user = orders[k % few].1;
            ApiRequest::list_orders()
                .query("user_id", user)
                .as_user(user)
        }
        "admin-create-item" => ApiRequest::admin_create_item().json(created(k)),
        _ => ApiRequest::admin_update(id(k), json!({ "price": 500 })),
    };
    let endpoints = [
        ("list-items", 200),
        ("get-cart", 200),
        ("create-cart", 201),
        ("add-cart-item", 200),
        ("set-cart-item", 200),
        ("remove-cart-item", 200),
        ("purchase-cart", 200),
        ("get-order", 200),
        ("list-orders", 200),
        ("admin-create-item", 201),
        ("admin-update-item", 200),
    ];
    let plan = |(endpoint, expected)| {
        let calls = (0..n).map(|k| request(endpoint, k)).collect();
        Plan {
            endpoint,
            expected,
            calls,
        }
    };
    endpoints.into_iter().map(plan).collect()
}

pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Sends `calls` with at most `concurrency` in flight: (status, outcome, milliseconds) of each.
async fn fire(
    client: &reqwest::Client,
    base: &str,
    calls: &[ApiRequest],
    concurrency: usize,
) -> Vec<(u16, String, f64)> {
    let answers = stream::iter(calls).map(|call| async move {
        let started = Instant::now();
        let (status, body) = match call.to_http(client, base).send().await {
            Ok(response) => (response.status().as_u16(), response.bytes().await.ok()),
            Err(e) => {
                eprintln!("bench: {} {}: {e}", call.method, call.path);
                (0, None)
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let body: Option<Value> = body.and_then(|b| serde_json::from_slice(&b).ok());
        let outcome = match body.as_ref().and_then(|b| b["code"].as_str()) {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        };
        (status, outcome, ms)
    });
    answers.buffer_unordered(concurrency).collect().await
}

fn row(
    plan: &Plan,
    concurrency: usize,
    answers: &[(u16, String, f64)],
    wall: Duration,
    logged: &[Value],
) -> Row {
    let mut statuses = BTreeMap::new();
    for (_, outcome, _) in answers {
        *statuses.entry(outcome.clone()).or_insert(0) += 1;
    }
    // Lines with the status these calls got are theirs; others come from another client.
    let (ours, foreign): (Vec<&Value>, Vec<_>) = logged
        .iter()
        .partition(|l| answers.iter().any(|a| l["status"] == a.0));
    let field = |name| -> Vec<u64> { ours.iter().map(|l| l[name].as_u64().unwrap_or(0)).collect() };
    let (function, dynamodb) = (field("latency_us"), field("dynamodb_us"));
    let overhead: Vec<u64> = function
        .iter()
        .zip(&dynamodb)
        .map(|(f, d)| f.saturating_sub(*d))
        .collect();
    let expected = plan.expected.to_string();
    let mut other: Vec<String> = statuses
        .iter()
        .filter(|(outcome, _)| !outcome.starts_with(&expected))
        .map(|(outcome, n)| format!("{n} × {outcome}"))
        .collect();
    if ours.len() < answers.len() {
        other.push(format!("{} not logged", answers.len() - ours.len()));
    }
    let http: Vec<f64> = answers.iter().map(|a| a.2).collect();
    let requests: u64 = field("dynamodb_requests").iter().sum();
    Row {
        endpoint: plan.endpoint,
        concurrency,
        requests: answers.len(),
        statuses,
        foreign_log_lines: foreign.len(),
        http: Summary::of_ms(&http),
        throughput_rps: answers.len() as f64 / wall.as_secs_f64(),
        function: Summary::of_micros(&function),
        dynamodb: Summary::of_micros(&dynamodb),
        overhead: Summary::of_micros(&overhead),
        dynamodb_requests_per_call: requests as f64 / ours.len().max(1) as f64,
        logged: ours.len(),
        other_answers: if other.is_empty() {
            "0".into()
        } else {
            other.join(", ")
        },
    }
}

/// The functions' "request handled" lines for `function` written after `offset`.
fn read_log(path: &Path, offset: u64, function: &str) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[(offset as usize).min(bytes.len())..]).into_owned();
    let lines = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(&line[line.find('{')?..]).ok());
    lines
        .filter(|v| v["message"] == "request handled" && v["function"] == function)
        .collect()
}
