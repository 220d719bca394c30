//! Section 3: cold start of each function's release binary against a minimal Lambda Runtime
//! API served here: the time from spawning the process to its first `next` request (init) and
//! to the response of its first event, the binary's size and the process's peak memory.

use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use shared::Tables;
use testkit::TestApp;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::stats::Summary;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub function: &'static str,
    pub binary_bytes: u64,
    /// Spawn to the first `GET .../invocation/next`: the runtime's init.
    pub init: Summary,
    /// Spawn to the first response posted: init plus the first event, DynamoDB included.
    pub first_response: Summary,
    /// The first event's answer: the HTTP status in the response, or "ok" / "error: ...".
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
    let items = crate::latency::seed(&app).await;
    // Each run's event: the latency section's request, or what the schedule sends seed-catalog.
    let plans = crate::latency::prepare(&app, &items, runs).await;
    let to_event = |r: &testkit::ApiRequest| serde_json::to_string(&r.to_event()).expect("event");
    let mut functions: Vec<(&str, Vec<String>)> = (plans.into_iter())
        .map(|plan| (plan.endpoint, plan.calls.iter().map(to_event).collect()))
        .collect();
    for function in ["seed-catalog", "release-holds"] {
        let path = format!("events/{function}.json");
        let scheduled = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path} (bench runs at the repository root): {e}"));
        functions.push((function, vec![scheduled; runs]));
    }
    functions.sort();
    let mut rows = Vec::new();
    for (function, events) in functions {
        let binary = release_dir.join(function);
        let binary_bytes = std::fs::metadata(&binary).map_or(0, |m| m.len());
        if binary_bytes == 0 {
            eprintln!("bench: cold start: {} not found; skipped", binary.display());
            continue;
        }
        eprintln!("bench: cold start: {function}");
        let mut done = Vec::new();
        for event in events {
            match once(&binary, function, app.store().tables(), memory_mb, event).await {
                Ok(run) => done.push(run),
                Err(why) => eprintln!("bench: cold start of {function}: {why}"),
            }
        }
        let ms = |f: fn(&Run) -> f64| Summary::of_ms(&done.iter().map(f).collect::<Vec<_>>());
        rows.push(Row {
            function,
            binary_bytes,
            init: ms(|r| r.init_ms),
            first_response: ms(|r| r.first_response_ms),
            answer: done.last().map(|r| r.answer.clone()).unwrap_or_default(),
            max_rss_mb: done.iter().map(|r| r.max_rss_mb).fold(0.0, f64::max),
            failures: runs - done.len(),
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
        next_at: OnceLock::new(),
        answer: OnceLock::new(),
        answered: Notify::new(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("an address").to_string();
    let server = tokio::spawn(serve(listener, api.clone()));

    let started = Instant::now();
    let memory = memory_mb.to_string();
    let mut child = tokio::process::Command::new(binary)
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", addr.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("CATALOG_TABLE", &tables.catalog),
            ("CARTS_TABLE", &tables.carts),
            ("ORDERS_TABLE", &tables.orders),
            ("IDEMPOTENCY_TABLE", &tables.idempotency),
            ("RUST_LOG", "info"),
        ])
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
    /// `GET .../invocation/next` hands out the one event (later calls wait forever, like an idle
    /// Lambda sandbox); `POST .../invocation/{id}/response` and `/error` record the answer.
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let now = Instant::now();
        let (parts, body) = req.into_parts();
        let (path, response) = (parts.uri.path(), Response::builder());
        if parts.method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            if self.next_at.set(now).is_err() {
                std::future::pending::<()>().await;
            }
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let response = response
                .header("content-type", "application/json")
                .header(
                    "lambda-runtime-aws-request-id",
                    "8f5b6c3e-0000-4000-8000-000000000001",
                )
                .header(
                    "lambda-runtime-deadline-ms",
                    (deadline.as_millis() + 30_000).to_string(),
                )
                .header("lambda-runtime-invoked-function-arn", &self.arn);
            return response
                .body(Full::new(self.event.clone()))
                .expect("a response");
        }
        let ok = path.ends_with("/response");
        let status = if parts.method == Method::POST && (ok || path.ends_with("/error")) {
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if self.answer.set((now, ok, body)).is_ok() {
                self.answered.notify_one();
            }
            StatusCode::ACCEPTED
        } else {
            StatusCode::NOT_FOUND
        };
        let body = Full::new(Bytes::from_static(br#"{"status":"OK"}"#));
        response.status(status).body(body).expect("a response")
    }
}

/// Peak resident set size of a live process, from /proc (0 elsewhere).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kb = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.map_or(0.0, |kb| kb / 1024.0)
}
