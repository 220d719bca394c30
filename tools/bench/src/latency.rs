//! Section 2: latency through the local API (`cargo lambda watch`), per endpoint, at
//! concurrency 1 and 32, with the functions' own log lines (`latency_us`, `dynamodb_us`) read
//! back from the watch log so that the time inside DynamoDB calls and the function's own
//! overhead can be told apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use purchase_cart::PurchaseCart;
use serde::Serialize;
use serde_json::{json, Value};
use shared::domain::{Item, Stock};
use shared::Tables;

use crate::app::{cart_id, concurrently, item, App};
use crate::event::Call;
use crate::requests::{add, admin_create, admin_update, order, purchase, remove};
use crate::stats::Summary;

pub struct Settings {
    pub api_url: String,
    pub watch_log: PathBuf,
    pub warmup: usize,
    pub sequential: usize,
    pub concurrent: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub endpoint: &'static str,
    pub concurrency: usize,
    pub requests: usize,
    /// The status every call should get.
    pub expected: u16,
    /// Answers with another status than expected (none expected).
    pub unexpected: usize,
    /// Answers by status and problem code (`200`, `409 price_changed`).
    pub statuses: BTreeMap<String, usize>,
    /// Log lines of this function during the phase that are not from these calls (another
    /// client of the same local API; their status differs from the expected one).
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
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub api_url: String,
    pub rows: Vec<Row>,
}

/// An endpoint's requests for every phase, and the status each should get.
struct Plan {
    endpoint: &'static str,
    expected: u16,
    calls: Vec<Call>,
}

const BENCH_ITEMS: u64 = 64;
const BENCH_ITEM_FLOOR: u64 = 900_000;

pub async fn run(settings: &Settings) -> Report {
    // The functions behind the local API use the tables named in this environment.
    let app = App::fresh(Tables::from_env(), None).await;
    let per_endpoint = settings.warmup + settings.sequential + settings.concurrent;
    let bench_items = seed(&app).await;
    eprintln!("bench: latency: preparing carts and orders for {per_endpoint} calls per endpoint");
    let plans = prepare(&app, &bench_items, per_endpoint).await;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("an HTTP client");
    let mut rows = Vec::new();
    for plan in plans {
        let (warm, rest) = plan.calls.split_at(settings.warmup);
        let (seq, conc) = rest.split_at(settings.sequential);
        eprintln!("bench: latency: {}", plan.endpoint);
        // The first call may build and start the function.
        fire(&client, &settings.api_url, warm, 1).await;
        for (concurrency, calls) in [(1, seq), (32, conc)] {
            let offset = file_len(&settings.watch_log);
            let started = Instant::now();
            let answers = fire(&client, &settings.api_url, calls, concurrency).await;
            let wall = started.elapsed();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let logged = read_log(&settings.watch_log, offset, plan.endpoint);
            rows.push(row(&plan, concurrency, &answers, wall, &logged));
        }
    }
    app.drop_tables().await;
    Report {
        api_url: settings.api_url.clone(),
        rows,
    }
}

/// The bundled dataset plus items with stock enough for every add and purchase.
async fn seed(app: &App) -> Vec<Item> {
    let mut items = seed_catalog::parse_dataset(seed_catalog::DATASET).expect("dataset parses");
    let bench: Vec<Item> = (1..=BENCH_ITEMS)
        .map(|i| {
            item(
                BENCH_ITEM_FLOOR + i,
                &format!("Bench Stock Item {i}"),
                500,
                Stock::MAX,
            )
        })
        .collect();
    items.extend(bench.iter().cloned());
    app.store().put_items(&items).await.expect("catalog seeded");
    bench
}

async fn prepare(app: &App, items: &[Item], n: usize) -> Vec<Plan> {
    let pick = |k: usize| &items[k % items.len()];
    let users = |base: u64| {
        (0..n)
            .map(move |k| (k, base + k as u64))
            .collect::<Vec<_>>()
    };

    // Carts: empty ones for adds, one-line ones for removes and purchases, a few to view.
    let empty = concurrently(users(12_000_000), 16, |(_, user)| async move {
        cart_id(&app.cart_with(user, &[], 1).await)
    })
    .await;
    let for_remove = concurrently(users(13_000_000), 16, |(k, user)| async move {
        cart_id(&app.cart_with(user, std::slice::from_ref(pick(k)), 1).await)
    })
    .await;
    let for_purchase = concurrently(users(14_000_000), 16, |(k, user)| async move {
        cart_id(&app.cart_with(user, std::slice::from_ref(pick(k)), 1).await)
    })
    .await;
    let to_view = concurrently((0..32u64).collect(), 16, |j| async move {
        cart_id(&app.cart_with(11_000_000 + j, &items[..3], 1).await)
    })
    .await;
    let orders = concurrently((0..32u64).collect(), 16, |j| async move {
        let user = 15_000_000 + j;
        let cart = cart_id(&app.cart_with(user, &items[..2], 1).await);
        let key = uuid::Uuid::new_v4().to_string();
        let answer = app.call::<PurchaseCart>(&purchase(&cart, user, &key)).await;
        let id = answer.body["order"]["id"]
            .as_str()
            .expect("an order for get-order")
            .to_owned();
        (id, user)
    })
    .await;

    let each = |f: &dyn Fn(usize) -> Call| (0..n).map(f).collect::<Vec<_>>();
    vec![
        Plan {
            endpoint: "list-items",
            expected: 200,
            calls: each(&|_| Call::new("GET", "/api/v1/items", "/api/v1/items")),
        },
        Plan {
            endpoint: "get-cart",
            expected: 200,
            calls: each(&|k| {
                let cart = &to_view[k % to_view.len()];
                Call::new(
                    "GET",
                    "/api/v1/cart/{cart_id}",
                    format!("/api/v1/cart/{cart}"),
                )
                .path_param("cart_id", cart)
            }),
        },
        Plan {
            endpoint: "create-cart",
            expected: 201,
            calls: each(&|k| {
                Call::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                    .json(json!({ "user_id": 10_000_000 + k as u64 }))
            }),
        },
        Plan {
            endpoint: "add-cart-item",
            expected: 200,
            calls: each(&|k| add(&empty[k], 12_000_000 + k as u64, pick(k).id.get(), 1)),
        },
        Plan {
            endpoint: "remove-cart-item",
            expected: 200,
            calls: each(&|k| remove(&for_remove[k], 13_000_000 + k as u64, pick(k).id.get())),
        },
        Plan {
            endpoint: "purchase-cart",
            expected: 200,
            calls: each(&|k| {
                purchase(
                    &for_purchase[k],
                    14_000_000 + k as u64,
                    &uuid::Uuid::new_v4().to_string(),
                )
            }),
        },
        Plan {
            endpoint: "get-order",
            expected: 200,
            calls: each(&|k| {
                let (id, user) = &orders[k % orders.len()];
                order(id, *user)
            }),
        },
        Plan {
            endpoint: "admin-create-item",
            expected: 201,
            calls: each(&|k| admin_create(&format!("Bench Created Item {k}"))),
        },
        Plan {
            endpoint: "admin-update-item",
            expected: 200,
            calls: each(&|k| admin_update(pick(k).id.get(), json!({ "price": 500 }))),
        },
    ]
}

/// Sends `calls` with at most `concurrency` in flight: (status, milliseconds) of each.
async fn fire(
    client: &reqwest::Client,
    base: &str,
    calls: &[Call],
    concurrency: usize,
) -> Vec<(u16, String, f64)> {
    let base = Arc::new(base.trim_end_matches('/').to_owned());
    stream::iter(calls.iter().cloned())
        .map(|call| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("method");
                let mut request =
                    client.request(method, format!("{base}{}", call.path_and_query()));
                for (name, value) in &call.headers {
                    request = request.header(name, value);
                }
                if let Some(body) = &call.body {
                    request = request.body(body.to_string());
                }
                let started = Instant::now();
                let (status, outcome) = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.bytes().await.unwrap_or_default();
                        let took = started.elapsed();
                        let code = serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v["code"].as_str().map(str::to_owned));
                        let outcome = match code {
                            Some(code) => format!("{status} {code}"),
                            None => status.to_string(),
                        };
                        return (status, outcome, took.as_secs_f64() * 1000.0);
                    }
                    Err(e) => {
                        eprintln!("bench: {} {}: {e}", call.method, call.path);
                        (0, format!("error: {e}"))
                    }
                };
                (status, outcome, started.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn row(
    plan: &Plan,
    concurrency: usize,
    answers: &[(u16, String, f64)],
    wall: Duration,
    logged: &[Logged],
) -> Row {
    let mut statuses = BTreeMap::new();
    for (_, outcome, _) in answers {
        *statuses.entry(outcome.clone()).or_insert(0) += 1;
    }
    // Lines with the status these calls got are theirs; others come from another client.
    let ours: Vec<&Logged> = logged
        .iter()
        .filter(|l| answers.iter().any(|(status, _, _)| *status == l.status))
        .collect();
    let foreign_log_lines = logged.len() - ours.len();
    let logged = ours;
    let http: Vec<f64> = answers.iter().map(|(_, _, ms)| *ms).collect();
    let function: Vec<u64> = logged.iter().map(|l| l.latency_us).collect();
    let dynamodb: Vec<u64> = logged.iter().map(|l| l.dynamodb_us).collect();
    let overhead: Vec<u64> = logged
        .iter()
        .map(|l| l.latency_us.saturating_sub(l.dynamodb_us))
        .collect();
    let requests: u64 = logged.iter().map(|l| l.dynamodb_requests).sum();
    Row {
        endpoint: plan.endpoint,
        concurrency,
        requests: answers.len(),
        expected: plan.expected,
        unexpected: answers
            .iter()
            .filter(|(status, _, _)| *status != plan.expected)
            .count(),
        statuses,
        foreign_log_lines,
        http: Summary::of_ms(&http),
        throughput_rps: answers.len() as f64 / wall.as_secs_f64(),
        function: Summary::of_micros(&function),
        dynamodb: Summary::of_micros(&dynamodb),
        overhead: Summary::of_micros(&overhead),
        dynamodb_requests_per_call: requests as f64 / logged.len().max(1) as f64,
        logged: logged.len(),
    }
}

struct Logged {
    status: u16,
    latency_us: u64,
    dynamodb_us: u64,
    dynamodb_requests: u64,
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The functions' "request handled" lines for `function` written after `offset`.
fn read_log(path: &Path, offset: u64, function: &str) -> Vec<Logged> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes[(offset as usize).min(bytes.len())..]).into_owned();
    text.lines()
        .filter_map(|line| {
            let start = line.find('{')?;
            let value: Value = serde_json::from_str(line[start..].trim_end()).ok()?;
            (value["message"] == "request handled" && value["function"] == function).then(|| {
                Logged {
                    status: value["status"].as_u64().unwrap_or(0) as u16,
                    latency_us: value["latency_us"].as_u64().unwrap_or(0),
                    dynamodb_us: value["dynamodb_us"].as_u64().unwrap_or(0),
                    dynamodb_requests: value["dynamodb_requests"].as_u64().unwrap_or(0),
                }
            })
        })
        .collect()
}
