//! The local stand-in for EventBridge: an HTTP server answering `PutEvents` (awsJson1_1,
//! `X-Amz-Target: AWSEvents.PutEvents`) as EventBridge does, which appends each entry it accepts,
//! as the event a rule's target would receive (`version`, `id`, `detail-type`, `source`,
//! `account`, `time`, `region`, `resources`, `detail`), as one JSON line to its file. The
//! publisher's real client reaches it through `AWS_ENDPOINT_URL_EVENTBRIDGE`, so only this last
//! hop is local.
//!
//! It checks what EventBridge checks of an entry (a source, a detail-type, a detail that is a JSON
//! object; at most 10 entries and 256 KiB a request), keeps every request it got (bus, entries,
//! fault), and injects the faults the tests need, a given number of times: an answer lost after
//! the entries were appended, a request failing as a whole (`500`, which the SDK retries), an
//! entry refused (`InternalFailure`) while the others of its request are appended.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::Times;

/// The `X-Amz-Target` of `PutEvents`.
pub const PUT_EVENTS: &str = "AWSEvents.PutEvents";
/// The account the local bus says it is (EventBridge's events carry the account id).
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// What the bus does instead of an honest answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusFault {
    /// The entries are appended, then the connection is closed without an answer.
    LoseAnswer,
    /// `500 InternalException`: nothing appended (the SDK retries it, 3 attempts in all).
    InternalError,
    /// Entry `n` (from 0) of the request is refused with `InternalFailure`; the others are
    /// appended.
    RefuseEntry(usize),
}

/// One `PutEvents` request as the bus got it.
#[derive(Clone, Debug)]
pub struct PutRequest {
    /// Each entry's `EventBusName`.
    pub buses: Vec<String>,
    /// Each entry's `DetailType`.
    pub detail_types: Vec<String>,
    /// Each entry's `detail.order.id`, when it has one.
    pub orders: Vec<Option<String>>,
    pub fault: Option<BusFault>,
}

#[derive(Debug)]
struct Rule {
    fault: BusFault,
    left: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    requests: Vec<PutRequest>,
}

struct Shared {
    file: PathBuf,
    region: String,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The local bus; it stops when dropped.
pub struct LocalEventBus {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stopped: watch::Sender<bool>,
}

impl LocalEventBus {
    /// A bus on `127.0.0.1:<random port>` appending to `file` (its folder is created).
    pub async fn start(file: impl Into<PathBuf>) -> Self {
        Self::start_on("127.0.0.1:0", file).await
    }

    /// A bus on `addr` appending to `file`.
    pub async fn start_on(addr: &str, file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("the local event bus cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().expect("the bus's address");
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        let shared = Arc::new(Shared {
            file,
            region,
            state: Mutex::new(State::default()),
        });
        let (stopped, _) = watch::channel(false);
        tokio::spawn(accept(listener, shared.clone(), stopped.subscribe()));
        Self {
            addr,
            shared,
            stopped,
        }
    }

    /// The endpoint for `AWS_ENDPOINT_URL_EVENTBRIDGE`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where the events go, one JSON line each.
    pub fn file(&self) -> &Path {
        &self.shared.file
    }

    /// From now on, `fault` answers the next `times` requests (rules added earlier first).
    pub fn inject(&self, fault: BusFault, times: Times) {
        let left = match times {
            Times::Once => Some(1),
            Times::N(n) => Some(n),
            Times::Always => None,
        };
        self.shared.state().rules.push(Rule { fault, left });
    }

    /// Every `PutEvents` request received, in order.
    pub fn requests(&self) -> Vec<PutRequest> {
        self.shared.state().requests.clone()
    }

    /// The events appended so far, in order.
    pub fn events(&self) -> Vec<Value> {
        read_events(self.file())
    }
}

impl Drop for LocalEventBus {
    fn drop(&mut self) {
        self.stopped.send_replace(true);
    }
}

/// The events of a bus's file (none if there is no file yet).
pub fn read_events(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", file.display())))
        .collect()
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (shared, mut stopped) = (shared.clone(), stopped.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        });
    }
}

/// Makes hyper close the connection without an answer.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the local event bus closes this connection")
    }
}

impl std::error::Error for CloseConnection {}

fn answer(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    let id = uuid::Uuid::new_v4().to_string();
    let id = HeaderValue::from_str(&id).expect("a uuid is a header");
    response.headers_mut().insert("x-amzn-requestid", id);
    response
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    answer(status, json!({ "__type": kind, "message": message }))
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| CloseConnection)?
        .to_bytes();
    if target != PUT_EVENTS {
        let message = format!("the local event bus answers only {PUT_EVENTS}, not {target:?}");
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &message,
        ));
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &e.to_string(),
            ))
        }
    };
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 {
        let message = "Entries: between 1 and 10 entries";
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            message,
        ));
    }
    if body.len() > 256 * 1024 {
        let message = "Total size of the entries in the request is over the limit.";
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            message,
        ));
    }

    let fault = {
        let mut state = shared.state();
        let fault = state
            .rules
            .iter_mut()
            .find(|r| r.left.is_none_or(|n| n > 0))
            .map(|rule| {
                if let Some(n) = rule.left.as_mut() {
                    *n -= 1;
                }
                rule.fault
            });
        state.requests.push(PutRequest {
            buses: strings(&entries, "EventBusName"),
            detail_types: strings(&entries, "DetailType"),
            orders: entries.iter().map(order_of).collect(),
            fault,
        });
        fault
    };
    if fault == Some(BusFault::InternalError) {
        let message = "injected: the request failed";
        return Ok(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalException",
            message,
        ));
    }

    let mut results = Vec::new();
    let mut lines = String::new();
    for (i, entry) in entries.iter().enumerate() {
        if fault == Some(BusFault::RefuseEntry(i)) {
            results.push(json!({
                "ErrorCode": "InternalFailure",
                "ErrorMessage": "injected: this entry was not put",
            }));
            continue;
        }
        match event_of(entry, &shared.region) {
            Ok(event) => {
                results.push(json!({ "EventId": event["id"] }));
                lines.push_str(&event.to_string());
                lines.push('\n');
            }
            Err((code, message)) => {
                results.push(json!({ "ErrorCode": code, "ErrorMessage": message }));
            }
        }
    }
    append(&shared, &lines);
    if fault == Some(BusFault::LoseAnswer) {
        return Err(CloseConnection);
    }
    let failed = results
        .iter()
        .filter(|r| r.get("ErrorCode").is_some())
        .count();
    Ok(answer(
        StatusCode::OK,
        json!({ "FailedEntryCount": failed, "Entries": results }),
    ))
}

fn strings(entries: &[Value], member: &str) -> Vec<String> {
    entries
        .iter()
        .map(|e| e[member].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn order_of(entry: &Value) -> Option<String> {
    let detail: Value = serde_json::from_str(entry["Detail"].as_str()?).ok()?;
    detail["order"]["id"].as_str().map(str::to_owned)
}

/// The event EventBridge makes of an entry, or the entry's error code and message.
fn event_of(entry: &Value, region: &str) -> Result<Value, (&'static str, String)> {
    let text = |member: &str| {
        let value = entry[member].as_str().filter(|v| !v.is_empty());
        value.ok_or((
            "InvalidArgument",
            format!("Parameter {member} is not valid."),
        ))
    };
    let (source, detail_type) = (text("Source")?, text("DetailType")?);
    let detail: Value = serde_json::from_str(text("Detail")?)
        .ok()
        .filter(Value::is_object)
        .ok_or(("MalformedDetail", "Detail is malformed.".to_owned()))?;
    let time = match entry["Time"].as_f64() {
        Some(seconds) => shared::domain::rfc3339(seconds.floor() as i64),
        None => shared::domain::now_rfc3339(),
    };
    let resources = entry["Resources"].as_array().cloned().unwrap_or_default();
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": LOCAL_ACCOUNT,
        "time": time,
        "region": region,
        "resources": resources,
        "detail": detail,
    }))
}

fn append(shared: &Shared, lines: &str) {
    use std::io::Write as _;
    if lines.is_empty() {
        return;
    }
    // One writer at a time, so that lines never interleave.
    let _state = shared.state();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&shared.file)
        .unwrap_or_else(|e| panic!("{}: {e}", shared.file.display()));
    file.write_all(lines.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", shared.file.display()));
}
