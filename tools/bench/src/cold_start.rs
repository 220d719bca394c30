//! Section 3: cold start of each function's release binary against a minimal Lambda Runtime
//! API served here: the time from spawning the process to its first `next` request (init) and
//! to the response of its first event, the time of its first and second events, the binary's
//! size and the process's peak memory; with DynamoDB Local reached over plain HTTP and over TLS
//! (`tls`), as on AWS.

use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use shared::Tables;
use testkit::{DynamoDbProxy, TestApp};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::stats::Summary;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub function: &'static str,
    pub binary_bytes: u64,
    /// DynamoDB Local over plain HTTP.
    pub plain: Timings,
    /// DynamoDB Local behind `DynamoDbProxy::start_tls`: name resolution, TCP, TLS handshake.
    pub tls: Timings,
    /// The first event's answer: the HTTP status in the response, or "ok" / "error: ...".
    pub answer: String,
    /// Peak resident memory (VmHWM) after the first event.
    pub max_rss_mb: f64,
    pub failures: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Timings {
    /// Spawn to the first `GET .../invocation/next`: the runtime's init.
    pub init: Summary,
    /// Spawn to the first response posted: init plus the first event, DynamoDB included.
    pub first_response: Summary,
    /// The first event alone, from its `next` to its response: the new connection included.
    pub first_event: Summary,
    /// The second event alone: the connection reused.
    pub second_event: Summary,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Processes per function and transport.
    pub runs: usize,
    pub rows: Vec<Row>,
}

pub async fn run(release_dir: &Path, runs: usize, memory_mb: u64) -> Report {
    let app = TestApp::spawn().await;
    let items = crate::latency::seed(&app).await;
    // Each run's event: the latency section's request, or what the schedule sends seed-catalog.
    // Two events per process, a plain and a TLS process per run.
    let plans = crate::latency::prepare(&app, &items, 4 * runs).await;
    let to_event = |r: &testkit::ApiRequest| serde_json::to_string(&r.to_event()).expect("event");
    let mut functions: Vec<(&str, Vec<String>)> = (plans.into_iter())
        .map(|plan| (plan.endpoint, plan.calls.iter().map(to_event).collect()))
        .collect();
    for function in ["seed-catalog", "release-holds"] {
        let path = format!("events/{function}.json");
        let scheduled = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path} (bench runs at the repository root): {e}"));
        functions.push((function, vec![scheduled; 4 * runs]));
    }
    functions.sort();
    let (front, roots) = DynamoDbProxy::start_tls(&std::env::temp_dir()).await;
    let mut rows = Vec::new();
    for (function, events) in functions {
        let binary = release_dir.join(function);
        let binary_bytes = std::fs::metadata(&binary).map_or(0, |m| m.len());
        if binary_bytes == 0 {
            eprintln!("bench: cold start: {} not found; skipped", binary.display());
            continue;
        }
        eprintln!("bench: cold start: {function}");
        let (mut plain, mut tls) = (Vec::new(), Vec::new());
        for (k, pair) in events.chunks_exact(2).enumerate() {
            let over_tls = k % 2 == 1;
            let endpoint = over_tls.then_some((front.url(), roots.as_path()));
            let tables = app.store().tables();
            match once(&binary, function, tables, memory_mb, pair, endpoint).await {
                Ok(run) if over_tls => tls.push(run),
                Ok(run) => plain.push(run),
                Err(why) => eprintln!("bench: cold start of {function}: {why}"),
            }
        }
        let done: Vec<&Run> = plain.iter().chain(&tls).collect();
        rows.push(Row {
            function,
            binary_bytes,
            plain: timings(&plain),
            tls: timings(&tls),
            answer: done.last().map(|r| r.answer.clone()).unwrap_or_default(),
            max_rss_mb: done.iter().map(|r| r.max_rss_mb).fold(0.0, f64::max),
            failures: 2 * runs - done.len(),
        });
    }
    app.drop_tables().await;
    Report { runs, rows }
}

struct Run {
    init_ms: f64,
    first_response_ms: f64,
    first_event_ms: f64,
    second_event_ms: f64,
    answer: String,
    max_rss_mb: f64,
}

fn timings(runs: &[Run]) -> Timings {
    let ms = |f: fn(&Run) -> f64| Summary::of_ms(&runs.iter().map(f).collect::<Vec<_>>());
    Timings {
        init: ms(|r| r.init_ms),
        first_response: ms(|r| r.first_response_ms),
        first_event: ms(|r| r.first_event_ms),
        second_event: ms(|r| r.second_event_ms),
    }
}

/// The Runtime API of one process: the events it hands out, and what it saw.
#[derive(Default)]
struct RuntimeApi {
    events: Vec<Bytes>,
    arn: String,
    /// When each event was handed out.
    nexts: Mutex<Vec<Instant>>,
    /// When each answer came, whether it was a success, and its body.
    answers: Mutex<Vec<(Instant, bool, Bytes)>>,
    answered: Notify,
}

/// Starts `binary` once against a fresh Runtime API (and DynamoDB behind `tls`, if given), and
/// waits for its answers to both `events`.
async fn once(
    binary: &Path,
    function: &str,
    tables: &Tables,
    memory_mb: u64,
    events: &[String],
    tls: Option<(String, &Path)>,
) -> Result<Run, String> {
    let api = Arc::new(RuntimeApi {
        events: events.iter().map(|e| Bytes::from(e.clone())).collect(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        ..RuntimeApi::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("an address").to_string();
    let server = tokio::spawn(serve(listener, api.clone()));

    let started = Instant::now();
    let memory = memory_mb.to_string();
    let mut command = tokio::process::Command::new(binary);
    if let Some((url, roots)) = tls {
        command.env("AWS_ENDPOINT_URL_DYNAMODB", url);
        command.env("SSL_CERT_FILE", roots);
    }
    let mut child = command
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

    let nexts = api.nexts.lock().expect("nexts").clone();
    let answers = api.answers.lock().expect("answers").clone();
    let [next_1, next_2, ..] = nexts[..] else {
        return Err(format!("{} of 2 events handed out", nexts.len()));
    };
    let [(answered_1, _, _), (answered_2, ok, ref body), ..] = answers[..] else {
        return Err(format!("{} of 2 answers", answers.len()));
    };
    let status = serde_json::from_slice::<Value>(body).ok();
    let answer = match (ok, status.and_then(|v| v["statusCode"].as_u64())) {
        (false, _) => format!("error: {}", String::from_utf8_lossy(body)),
        (true, Some(status)) => status.to_string(),
        (true, None) => "ok".to_owned(),
    };
    let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
    Ok(Run {
        init_ms: ms(started, next_1),
        first_response_ms: ms(started, answered_1),
        first_event_ms: ms(next_1, answered_1),
        second_event_ms: ms(next_2, answered_2),
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
    /// `GET .../invocation/next` hands out the events in turn (then waits forever, like an idle
    /// Lambda sandbox); `POST .../invocation/{id}/response` and `/error` record the answers.
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let now = Instant::now();
        let (parts, body) = req.into_parts();
        let (path, response) = (parts.uri.path(), Response::builder());
        if parts.method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            let (n, event) = {
                let mut nexts = self.nexts.lock().expect("nexts");
                nexts.push(now);
                (nexts.len(), self.events.get(nexts.len() - 1).cloned())
            };
            let Some(event) = event else {
                return std::future::pending().await;
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let id = format!("8f5b6c3e-0000-4000-8000-{n:012}");
            let response = (response.header("content-type", "application/json"))
                .header("lambda-runtime-aws-request-id", id)
                .header(
                    "lambda-runtime-deadline-ms",
                    (now.as_millis() + 30_000).to_string(),
                )
                .header("lambda-runtime-invoked-function-arn", &self.arn);
            return response.body(Full::new(event)).expect("a response");
        }
        let ok = path.ends_with("/response");
        let status = if parts.method == Method::POST && (ok || path.ends_with("/error")) {
            let body = body.collect().await.map(|b| b.to_bytes());
            let body = body.unwrap_or_default();
            let mut answers = self.answers.lock().expect("answers");
            answers.push((now, ok, body));
            if answers.len() == self.events.len() {
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
