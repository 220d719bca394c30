//! Section 3: cold start of each function's release binary against a minimal Lambda Runtime
//! API served here: the time from spawning the process to its first `next` request (init) and
//! to the response of its first event, the binary's size and the process's peak memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use purchase_cart::PurchaseCart;
use serde::Serialize;
use serde_json::{json, Value};
use shared::domain::Stock;
use shared::Tables;
use tokio::sync::Notify;

use crate::app::{cart_id, item, unique_tables, App};
use crate::event::Call;
use crate::requests::{add, admin_create, admin_update, order, purchase, remove};
use crate::server::{reply, serve, Reply};
use crate::stats::median;

pub const FUNCTIONS: [&str; 10] = [
    "list-items",
    "admin-create-item",
    "admin-update-item",
    "create-cart",
    "get-cart",
    "add-cart-item",
    "remove-cart-item",
    "purchase-cart",
    "get-order",
    "seed-catalog",
];

pub struct Settings {
    pub release_dir: PathBuf,
    pub runs: usize,
    pub memory_mb: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub function: &'static str,
    pub binary_bytes: u64,
    pub runs: usize,
    /// Spawn to the first `GET .../invocation/next`: the runtime's init.
    pub init_ms_median: f64,
    pub init_ms_min: f64,
    /// Spawn to the first response posted: init plus the first event, DynamoDB included.
    pub first_response_ms_median: f64,
    pub first_response_ms_min: f64,
    /// The first event's answer: the HTTP status in the response, or "ok" / "error".
    pub answer: String,
    /// Peak resident memory (VmHWM) after the first event.
    pub max_rss_mb: f64,
    pub failures: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub release_dir: String,
    pub rows: Vec<Row>,
}

pub async fn run(settings: &Settings) -> Report {
    let app = App::fresh(unique_tables("cold"), None).await;
    let tables = app.store().tables().clone();
    let mut catalog = seed_catalog::parse_dataset(seed_catalog::DATASET).expect("dataset parses");
    catalog.push(item(900_001, "Bench Stock Item", 500, Stock::MAX));
    app.store()
        .put_items(&catalog)
        .await
        .expect("catalog seeded");
    let stocked = &catalog[catalog.len() - 1..];

    // One viewable cart and one order, shared by every run.
    let view_cart = cart_id(&app.cart_with(30_000_000, stocked, 1).await);
    let order_user = 30_000_001;
    let order_cart = cart_id(&app.cart_with(order_user, stocked, 1).await);
    let bought = app
        .call::<PurchaseCart>(&purchase(&order_cart, order_user, "cold-start-order"))
        .await;
    let order_id = bought.body["order"]["id"].as_str().unwrap_or("").to_owned();

    let mut rows = Vec::new();
    for function in FUNCTIONS {
        let binary = settings.release_dir.join(function);
        let binary_bytes = std::fs::metadata(&binary).map_or(0, |m| m.len());
        if binary_bytes == 0 {
            eprintln!("bench: cold start: {} not found; skipped", binary.display());
            continue;
        }
        eprintln!("bench: cold start: {function}");
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        let mut answer = String::new();
        let mut max_rss_mb: f64 = 0.0;
        let mut failures = 0;
        for run in 0..settings.runs {
            let user = 31_000_000 + run as u64 * 10;
            let event = match function {
                "list-items" => Call::new("GET", "/api/v1/items", "/api/v1/items").to_event(),
                "admin-create-item" => admin_create(&format!("Cold Start Item {run}")).to_event(),
                "admin-update-item" => admin_update(1, json!({ "price": 1234 })).to_event(),
                "create-cart" => Call::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                    .json(json!({ "user_id": user }))
                    .to_event(),
                "get-cart" => Call::new(
                    "GET",
                    "/api/v1/cart/{cart_id}",
                    format!("/api/v1/cart/{view_cart}"),
                )
                .path_param("cart_id", &view_cart)
                .to_event(),
                "add-cart-item" => {
                    let cart = cart_id(&app.cart_with(user + 1, &[], 1).await);
                    add(&cart, user + 1, 900_001, 1).to_event()
                }
                "remove-cart-item" => {
                    let cart = cart_id(&app.cart_with(user + 2, stocked, 1).await);
                    remove(&cart, user + 2, 900_001).to_event()
                }
                "purchase-cart" => {
                    let cart = cart_id(&app.cart_with(user + 3, stocked, 1).await);
                    purchase(&cart, user + 3, &uuid::Uuid::new_v4().to_string()).to_event()
                }
                "get-order" => order(&order_id, order_user).to_event(),
                _ => scheduled_event(),
            };
            match once(&binary, function, &tables, settings.memory_mb, event).await {
                Ok(run) => {
                    inits.push(run.init_ms);
                    firsts.push(run.first_response_ms);
                    answer = run.answer;
                    max_rss_mb = max_rss_mb.max(run.max_rss_mb);
                }
                Err(why) => {
                    eprintln!("bench: cold start of {function}: {why}");
                    failures += 1;
                }
            }
        }
        rows.push(Row {
            function,
            binary_bytes,
            runs: inits.len(),
            init_ms_median: median(&inits),
            init_ms_min: inits.iter().copied().fold(f64::INFINITY, f64::min),
            first_response_ms_median: median(&firsts),
            first_response_ms_min: firsts.iter().copied().fold(f64::INFINITY, f64::min),
            answer,
            max_rss_mb,
            failures,
        });
    }
    app.drop_tables().await;
    Report {
        release_dir: settings.release_dir.display().to_string(),
        rows,
    }
}

/// What the EventBridge schedule sends seed-catalog.
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/seed-catalog"],
        "detail": {}
    })
}

struct Run {
    init_ms: f64,
    first_response_ms: f64,
    answer: String,
    max_rss_mb: f64,
}

/// What the Runtime API saw of one process.
#[derive(Default)]
struct Seen {
    served: bool,
    next_at: Option<Instant>,
    response_at: Option<Instant>,
    response: Option<(bool, Bytes)>,
}

const REQUEST_ID: &str = "8f5b6c3e-0000-4000-8000-000000000001";

/// Starts `binary` once against a fresh Runtime API and waits for its first response.
async fn once(
    binary: &Path,
    function: &str,
    tables: &Tables,
    memory_mb: u64,
    event: Value,
) -> Result<Run, String> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(Notify::new());
    let event = Bytes::from(event.to_string());
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    let server = {
        let seen = seen.clone();
        let done = done.clone();
        serve(move |parts: http::request::Parts, body: Bytes| {
            let seen = seen.clone();
            let done = done.clone();
            let event = event.clone();
            let arn = arn.clone();
            async move { runtime_api(parts, body, &seen, &done, event, &arn).await }
        })
        .await
    };

    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", server.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("CATALOG_TABLE", &tables.catalog)
        .env("CARTS_TABLE", &tables.carts)
        .env("ORDERS_TABLE", &tables.orders)
        .env("IDEMPOTENCY_TABLE", &tables.idempotency)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id();

    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let notified = done.notified();
            if seen.lock().expect("not poisoned").response_at.is_some() {
                return;
            }
            notified.await;
        }
    })
    .await;
    let max_rss_mb = pid.map_or(0.0, peak_rss_mb);
    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(server);
    if waited.is_err() {
        return Err("no response within 60 s".to_owned());
    }

    let seen = seen.lock().expect("not poisoned");
    let next_at = seen.next_at.ok_or("no next request")?;
    let response_at = seen.response_at.ok_or("no response")?;
    let (ok, body) = seen.response.clone().ok_or("no response body")?;
    let answer = if !ok {
        format!("error: {}", String::from_utf8_lossy(&body))
    } else {
        match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
        {
            Some(status) => status.to_string(),
            None => "ok".to_owned(),
        }
    };
    Ok(Run {
        init_ms: (next_at - started).as_secs_f64() * 1000.0,
        first_response_ms: (response_at - started).as_secs_f64() * 1000.0,
        answer,
        max_rss_mb,
    })
}

/// `GET /2018-06-01/runtime/invocation/next` hands out the one event (later calls wait
/// forever, like an idle Lambda sandbox); `POST .../invocation/{id}/response` and `/error`
/// record the answer; `POST .../init/error` records an init failure.
async fn runtime_api(
    parts: http::request::Parts,
    body: Bytes,
    seen: &Mutex<Seen>,
    done: &Notify,
    event: Bytes,
    arn: &str,
) -> Reply {
    let path = parts.uri.path();
    let now = Instant::now();
    if parts.method == http::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let first = {
            let mut seen = seen.lock().expect("not poisoned");
            let first = !seen.served;
            seen.served = true;
            if seen.next_at.is_none() {
                seen.next_at = Some(now);
            }
            first
        };
        if !first {
            std::future::pending::<()>().await;
        }
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            + 30_000;
        let mut response = reply(200, event);
        let headers = response.headers_mut();
        headers.insert("content-type", "application/json".parse().expect("header"));
        headers.insert(
            "lambda-runtime-aws-request-id",
            REQUEST_ID.parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.to_string().parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            arn.parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
                .parse()
                .expect("header"),
        );
        return response;
    }
    if parts.method == http::Method::POST {
        let outcome = if path.ends_with("/response") {
            Some(true)
        } else if path.ends_with("/error") {
            Some(false)
        } else {
            None
        };
        if let Some(ok) = outcome {
            let mut seen = seen.lock().expect("not poisoned");
            if seen.response_at.is_none() {
                seen.response_at = Some(now);
                seen.response = Some((ok, body));
            }
            drop(seen);
            done.notify_waiters();
            return reply(202, r#"{"status":"OK"}"#);
        }
    }
    reply(404, "not found")
}

/// Peak resident set size of a live process, from /proc (0 elsewhere).
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
