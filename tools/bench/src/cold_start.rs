//! Section 3: cold start of each function's release binary against a minimal Lambda Runtime
//! API served here: the time from spawning the process to its first `next` request (init) and
//! to the response of its first event, the binary's size and the process's peak memory.

use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{json, Value};
use shared::Tables;
use testkit::{ApiRequest, TestApp};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::stats::Summary;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub function: String,
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

pub async fn run(release_dir: &Path, runs: usize, memory_mb: u64) -> Report {
    let app = TestApp::spawn().await;
    let stocked = &crate::latency::seed(&app).await[..1]; // item 900001, stock enough
                                                          // One viewable cart and one order, shared by every run.
    let view_cart = app.fill_cart(30_000_000, stocked, 1).await;
    let order_cart = app.fill_cart(30_000_001, stocked, 1).await;
    let bought = app
        .purchase(&order_cart, 30_000_001, "cold-start-order")
        .await;
    let order = bought.body["order"]["id"].as_str().unwrap_or("").to_owned();
    let scheduled = std::fs::read_to_string("events/seed-catalog.json")
        .expect("events/seed-catalog.json (bench runs at the repository root)");

    // Every function crate, in name order.
    let mut functions: Vec<String> = std::fs::read_dir("functions")
        .expect("functions/ (bench runs at the repository root)")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    functions.sort();
    let mut rows = Vec::new();
    for function in functions {
        let function = function.as_str();
        let binary = release_dir.join(function);
        let binary_bytes = std::fs::metadata(&binary).map_or(0, |m| m.len());
        if binary_bytes == 0 {
            eprintln!("bench: cold start: {} not found; skipped", binary.display());
            continue;
        }
        eprintln!("bench: cold start: {function}");
        let (mut done, mut failures) = (Vec::new(), 0);
        for run in 0..runs {
            // A user of its own per function and run.
            let user = 31_000_000 + run as u64 * 10 + rows.len() as u64 * 1_000;
            let request = match function {
                "list-items" => ApiRequest::list_items(),
                "admin-create-item" => ApiRequest::admin_create_item().json(
                    json!({ "name": format!("Cold Start {run}"), "price": 1299, "quantity": 10 }),
                ),
                "admin-update-item" => ApiRequest::admin_update(1, json!({ "price": 1234 })),
                "create-cart" => ApiRequest::create_cart_for(user),
                "get-cart" => ApiRequest::get_cart(&view_cart),
                "add-cart-item" => {
                    let cart = app.fill_cart(user, &[], 1).await;
                    ApiRequest::add(&cart, user, 900_001, 1)
                }
                "remove-cart-item" => {
                    let cart = app.fill_cart(user, stocked, 1).await;
                    ApiRequest::remove(&cart, user, 900_001)
                }
                "purchase-cart" => {
                    let cart = app.fill_cart(user, stocked, 1).await;
                    let key = uuid::Uuid::new_v4().to_string();
                    ApiRequest::purchase(&cart, user, &key)
                }
                "get-order" => ApiRequest::order(&order, 30_000_001),
                _ => ApiRequest::list_items(), // unused: seed-catalog gets the scheduled event
            };
            let event = match function {
                // What the EventBridge schedule sends seed-catalog.
                "seed-catalog" => scheduled.clone(),
                _ => serde_json::to_string(&request.to_event()).expect("an event"),
            };
            match once(&binary, function, app.store().tables(), memory_mb, event).await {
                Ok(run) => done.push(run),
                Err(why) => {
                    eprintln!("bench: cold start of {function}: {why}");
                    failures += 1;
                }
            }
        }
        let init: Vec<f64> = done.iter().map(|r| r.init_ms).collect();
        let first: Vec<f64> = done.iter().map(|r| r.first_response_ms).collect();
        let (init, first) = (Summary::of_ms(&init), Summary::of_ms(&first));
        rows.push(Row {
            function: function.to_owned(),
            binary_bytes,
            runs: done.len(),
            init_ms_median: init.p50_ms,
            init_ms_min: init.min_ms,
            first_response_ms_median: first.p50_ms,
            first_response_ms_min: first.min_ms,
            answer: done.last().map(|r| r.answer.clone()).unwrap_or_default(),
            max_rss_mb: done.iter().map(|r| r.max_rss_mb).fold(0.0, f64::max),
            failures,
        });
    }
    app.drop_tables().await;
    let release_dir = release_dir.display().to_string();
    Report { release_dir, rows }
}

struct Run {
    init_ms: f64,
    first_response_ms: f64,
    answer: String,
    max_rss_mb: f64,
}

/// The Runtime API of one process: the one event it hands out, and what it saw.
struct RuntimeApi {
    event: Bytes,
    arn: String,
    served: AtomicBool,
    next_at: OnceLock<Instant>,
    /// When the answer came, whether it was a success, and its body.
    answer: OnceLock<(Instant, bool, Bytes)>,
    answered: Notify,
}

/// Starts `binary` once against a fresh Runtime API and waits for its first response.
async fn once(
    binary: &Path,
    function: &str,
    tables: &Tables,
    memory_mb: u64,
    event: String,
) -> Result<Run, String> {
    let api = Arc::new(RuntimeApi {
        event: Bytes::from(event),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        served: AtomicBool::new(false),
        next_at: OnceLock::new(),
        answer: OnceLock::new(),
        answered: Notify::new(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("an address").to_string();
    let server = tokio::spawn(serve(listener, api.clone()));

    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr)
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
    let waited = tokio::time::timeout(Duration::from_secs(60), api.answered.notified()).await;
    let max_rss_mb = child.id().map_or(0.0, peak_rss_mb);
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    waited.map_err(|_| "no response within 60 s")?;

    let next_at = *api.next_at.get().ok_or("no next request")?;
    let (answered_at, ok, body) = api.answer.get().ok_or("no response")?;
    let status = serde_json::from_slice::<Value>(body).ok();
    let answer = match (ok, status.and_then(|v| v["statusCode"].as_u64())) {
        (false, _) => format!("error: {}", String::from_utf8_lossy(body)),
        (true, Some(status)) => status.to_string(),
        (true, None) => "ok".to_owned(),
    };
    let ms = |at: Instant| (at - started).as_secs_f64() * 1000.0;
    Ok(Run {
        init_ms: ms(next_at),
        first_response_ms: ms(*answered_at),
        answer,
        max_rss_mb,
    })
}

/// Serves the Runtime API until aborted (which drops every connection too).
async fn serve(listener: TcpListener, api: Arc<RuntimeApi>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let api = api.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.answer(req).await) }
        });
        let http = hyper::server::conn::http1::Builder::new();
        connections.spawn(http.serve_connection(TokioIo::new(stream), service));
    }
}

impl RuntimeApi {
    /// `GET /2018-06-01/runtime/invocation/next` hands out the one event (later calls wait
    /// forever, like an idle Lambda sandbox); `POST .../invocation/{id}/response` and `/error`
    /// record the answer.
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let now = Instant::now();
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts.uri.path();
        let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)));
        if parts.method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            self.next_at.get_or_init(|| now);
            if self.served.swap(true, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                + 30_000;
            let trace =
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
            for (name, value) in [
                ("content-type", "application/json".to_owned()),
                (
                    "lambda-runtime-aws-request-id",
                    "8f5b6c3e-0000-4000-8000-000000000001".to_owned(),
                ),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                ("lambda-runtime-invoked-function-arn", self.arn.clone()),
                ("lambda-runtime-trace-id", trace.to_owned()),
            ] {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("a header value"));
            }
            *response.body_mut() = Full::new(self.event.clone());
            return response;
        }
        let ok = path.ends_with("/response");
        if parts.method == Method::POST && (ok || path.ends_with("/error")) {
            if self.answer.set((now, ok, body)).is_ok() {
                self.answered.notify_one();
            }
            *response.status_mut() = hyper::StatusCode::ACCEPTED;
        } else {
            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        }
        response
    }
}

/// Peak resident set size of a live process, from /proc (0 elsewhere).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kb = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.map_or(0.0, |kb| kb / 1024.0)
}
