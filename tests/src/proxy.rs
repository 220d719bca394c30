//! The one HTTP proxy in front of DynamoDB Local. It counts: every request is kept with its
//! target, its headers, its body and the answer it got (status and body, `ConsumedCapacity` included),
//! whether a fault answered it or DynamoDB Local did; the tests assert request counts from it
//! and the benchmark reads operations and capacity from it. And it injects the faults DynamoDB
//! Local never produces: a transaction conflict, a 500, throttling, a dropped connection, a
//! response lost after the write was applied, a stall, a whole outage, and answers DynamoDB may
//! give but DynamoDB Local rarely does (rewritten on their way back).
//!
//! Requests pass unchanged unless a rule matches their `X-Amz-Target`. Rules are switched at
//! run time and apply a given number of times, or always; the first matching rule with uses
//! left wins.
//!
//! ```ignore
//! let (app, proxy) = TestApp::spawn_behind_proxy().await;
//! proxy.inject("TransactWriteItems", Fault::TransactionConflict, Times::Once);
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::app::dynamodb_endpoint;

/// The prefix of every DynamoDB `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// What the proxy does instead of an honest forward.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// `500 InternalServerError`, without forwarding.
    InternalError,
    /// `400 TransactionCanceledException` whose first reason is `TransactionConflict` (one
    /// reason per item of the transaction, the others `None`), without forwarding.
    TransactionConflict,
    /// `400 ThrottlingException`, without forwarding.
    Throttling,
    /// The connection is closed without an answer; nothing is forwarded.
    Disconnect,
    /// Forwarded, and DynamoDB Local's whole answer read (so a write is applied), then the
    /// connection is closed without an answer.
    LoseResponse,
    /// Held this long, then forwarded: a slow DynamoDB.
    Stall(Duration),
    /// Forwarded, and DynamoDB Local's JSON answer changed by the function before it is
    /// passed on: for answers DynamoDB may legally give but DynamoDB Local rarely does (a
    /// `BatchGetItem` that read one item before a transaction and the other after it, say).
    RewriteResponse(fn(&mut Value)),
}

/// How many times a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    Once,
    N(u32),
    Always,
}

#[derive(Debug)]
struct Rule {
    /// A full `X-Amz-Target`, or `None` for every request.
    target: Option<String>,
    fault: Fault,
    /// Uses left; `None` is "always".
    left: Option<u32>,
}

/// One request as it reached the proxy.
#[derive(Clone, Debug)]
pub struct Seen {
    pub target: String,
    /// As sent: `x-amzn-trace-id`, `authorization`, `amz-sdk-request`, ...
    pub headers: hyper::HeaderMap,
    pub body: Value,
    /// The fault that answered it, or `None` when it was forwarded honestly.
    pub fault: Option<Fault>,
    /// The status of the answer the client got; `None` while pending or when the connection
    /// was closed instead.
    pub status: Option<u16>,
    /// The answer's body (`Null` if none): `__type` of an error, `ConsumedCapacity`, ...
    pub response: Value,
}

impl Seen {
    /// The operation: `TransactWriteItems`.
    pub fn operation(&self) -> &str {
        self.target.trim_start_matches(TARGET_PREFIX)
    }

    /// The error's `__type` without its namespace (`ConditionalCheckFailedException`).
    pub fn error(&self) -> Option<&str> {
        let kind = self.response["__type"].as_str()?;
        Some(kind.rsplit('#').next().unwrap_or(kind))
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    /// Requests forgotten by `reset_counts`: `seen[i]` is request number `forgotten + i`.
    forgotten: usize,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    /// Serving HTTPS for `localhost` (`start_tls`).
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take every other assertion down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The proxy; it stops when dropped.
pub struct DynamoDbProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// `true` while the proxy is down: nothing listens on its port and every open connection
    /// is closed.
    down: watch::Sender<bool>,
    /// `true` once the proxy is dropped.
    stopped: watch::Sender<bool>,
    /// `start_tls`'s roots file, removed with the proxy.
    roots: Option<std::path::PathBuf>,
}

impl DynamoDbProxy {
    /// A proxy on `127.0.0.1:<random port>` in front of DynamoDB Local.
    pub async fn start() -> Self {
        Self::start_in_front_of(&dynamodb_endpoint()).await
    }

    /// A proxy in front of `endpoint` (`http://host:port`).
    pub async fn start_in_front_of(endpoint: &str) -> Self {
        Self::start_serving(endpoint, None).await
    }

    /// A proxy in front of DynamoDB Local that speaks HTTPS, as DynamoDB does on AWS, at
    /// `https://localhost:<port>`, and the roots file that trusts it (for `SSL_CERT_FILE`),
    /// written into `dir` (see `tls.rs`) and removed when the proxy is dropped.
    pub async fn start_tls(dir: &std::path::Path) -> (Self, std::path::PathBuf) {
        let (acceptor, roots) = crate::tls::localhost_acceptor(dir).expect("a TLS set-up");
        let mut proxy = Self::start_serving(&dynamodb_endpoint(), Some(acceptor)).await;
        proxy.roots = Some(roots.clone());
        (proxy, roots)
    }

    async fn start_serving(endpoint: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let upstream = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port for the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            tls,
        });
        let (down, _) = watch::channel(false);
        let (stopped, _) = watch::channel(false);
        tokio::spawn(accept_loop(
            listener,
            addr,
            shared.clone(),
            down.subscribe(),
            stopped.subscribe(),
        ));
        Self {
            addr,
            shared,
            down,
            stopped,
            roots: None,
        }
    }

    /// The endpoint to give the SDK: `http://127.0.0.1:<port>` (`https://localhost:<port>`).
    pub fn url(&self) -> String {
        match self.shared.tls {
            None => format!("http://{}", self.addr),
            Some(_) => format!("https://localhost:{}", self.addr.port()),
        }
    }

    /// Adds a rule: requests whose target is `target` (`"TransactWriteItems"` or the full
    /// `"DynamoDB_20120810.TransactWriteItems"`; `"*"` for every request) get `fault`, `times`
    /// times. Rules added earlier are tried first.
    pub fn inject(&self, target: &str, fault: Fault, times: Times) {
        let target = (target != "*").then(|| full_target(target));
        let left = match times {
            Times::Once => Some(1),
            Times::N(n) => Some(n),
            Times::Always => None,
        };
        self.shared.state().rules.push(Rule {
            target,
            fault,
            left,
        });
    }

    /// Removes every rule: from now on every request is forwarded honestly.
    pub fn clear(&self) {
        self.shared.state().rules.clear();
    }

    /// An outage: stops listening (new connections are refused) and closes every open
    /// connection, in-flight requests included, until [`DynamoDbProxy::come_back`].
    pub fn go_down(&self) {
        self.down.send_replace(true);
    }

    /// Listens again, on the same port.
    pub async fn come_back(&self) {
        self.down.send_replace(false);
        // Wait until the port answers again, so the next request does not race the re-bind.
        for _ in 0..200 {
            if TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the fault proxy could not listen on {} again", self.addr);
    }

    /// Requests received with this target (short or full name; `"*"` for all), faulted or not.
    pub fn requests(&self, target: &str) -> u64 {
        self.seen(target).len() as u64
    }

    /// Requests received per full target.
    pub fn counts(&self) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        for seen in &self.shared.state().seen {
            *counts.entry(seen.target.clone()).or_default() += 1;
        }
        counts
    }

    /// The requests received with this target, in order, with their bodies.
    pub fn seen(&self, target: &str) -> Vec<Seen> {
        let wanted = (target != "*").then(|| full_target(target));
        self.shared
            .state()
            .seen
            .iter()
            .filter(|s| wanted.as_ref().is_none_or(|t| &s.target == t))
            .cloned()
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn reset_counts(&self) {
        let mut state = self.shared.state();
        state.forgotten += state.seen.len();
        state.seen.clear();
    }

    /// The requests received since the last call (or `reset_counts`), and forgets them.
    pub fn take(&self) -> Vec<Seen> {
        let mut state = self.shared.state();
        state.forgotten += state.seen.len();
        std::mem::take(&mut state.seen)
    }
}

impl Drop for DynamoDbProxy {
    fn drop(&mut self) {
        self.stopped.send_replace(true);
        if let Some(roots) = &self.roots {
            let _ = std::fs::remove_file(roots);
        }
    }
}

fn full_target(target: &str) -> String {
    if target.contains('.') {
        target.to_owned()
    } else {
        format!("{TARGET_PREFIX}{target}")
    }
}

/// Accepts connections while up; while down, holds no listener at all.
async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut down: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    enum Next {
        Accepted(std::io::Result<(TcpStream, SocketAddr)>),
        Down,
        Stop,
    }
    let mut listener = Some(listener);
    loop {
        let current = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => panic!("the fault proxy cannot listen on {addr} again: {e}"),
            },
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => Next::Stop,
                r = down.wait_for(|d| *d) => if r.is_ok() { Next::Down } else { Next::Stop },
                accepted = current.accept() => Next::Accepted(accepted),
            };
            match next {
                Next::Accepted(Ok((stream, _))) => {
                    let _ = stream.set_nodelay(true);
                    let (shared, down, stopped) = (shared.clone(), down.clone(), stopped.clone());
                    tokio::spawn(async move {
                        match shared.tls.clone() {
                            None => serve_connection(stream, shared, down, stopped).await,
                            Some(tls) => {
                                let Ok(stream) = tls.accept(stream).await else {
                                    return;
                                };
                                serve_connection(stream, shared, down, stopped).await
                            }
                        }
                    });
                }
                Next::Accepted(Err(_)) => {}
                Next::Down => break,
                Next::Stop => return,
            }
        }
        drop(current);
        let up_again = tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => false,
            r = down.wait_for(|d| !*d) => r.is_ok(),
        };
        if !up_again {
            return;
        }
    }
}

/// Serves one client connection (HTTP/1.1, keep-alive) until it ends, the proxy goes down or
/// a fault closes it.
async fn serve_connection(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    shared: Arc<Shared>,
    mut down: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = down.wait_for(|d| *d) => {}
        _ = stopped.wait_for(|s| *s) => {}
    }
}

/// The error a service returns to make hyper close the connection without answering.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fault proxy closes this connection")
    }
}

impl std::error::Error for CloseConnection {}

type Answer = Result<Response<Bytes>, CloseConnection>;

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| CloseConnection)?
        .to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);

    let (fault, number) = {
        let mut state = shared.state();
        let fault = state
            .rules
            .iter_mut()
            .find(|r| {
                r.target.as_ref().is_none_or(|t| *t == target) && r.left.is_none_or(|n| n > 0)
            })
            .map(|rule| {
                if let Some(n) = rule.left.as_mut() {
                    *n -= 1;
                }
                rule.fault
            });
        state.seen.push(Seen {
            target: target.clone(),
            headers: parts.headers.clone(),
            body: json_body.clone(),
            fault,
            status: None,
            response: Value::Null,
        });
        (fault, state.forgotten + state.seen.len() - 1)
    };
    let answer = answer(&shared, fault, parts, body, &json_body).await;
    if let Ok(response) = &answer {
        let mut state = shared.state();
        if let Some(i) = number.checked_sub(state.forgotten) {
            if let Some(seen) = state.seen.get_mut(i) {
                seen.status = Some(response.status().as_u16());
                seen.response = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
            }
        }
    }
    answer.map(|response| response.map(Full::new))
}

async fn answer(
    shared: &Shared,
    fault: Option<Fault>,
    parts: hyper::http::request::Parts,
    body: Bytes,
    json_body: &Value,
) -> Answer {
    match fault {
        None => forward(&shared.upstream, Request::from_parts(parts, body)).await,
        Some(Fault::InternalError) => Ok(dynamodb_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "injected",
            }),
        )),
        Some(Fault::Throttling) => Ok(dynamodb_error(
            StatusCode::BAD_REQUEST,
            json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput.",
            }),
        )),
        Some(Fault::TransactionConflict) => {
            let items = json_body["TransactItems"]
                .as_array()
                .map_or(1, |a| a.len().max(1));
            Ok(dynamodb_error(
                StatusCode::BAD_REQUEST,
                transaction_conflict(items),
            ))
        }
        Some(Fault::Disconnect) => Err(CloseConnection),
        Some(Fault::Stall(duration)) => {
            tokio::time::sleep(duration).await;
            forward(&shared.upstream, Request::from_parts(parts, body)).await
        }
        Some(Fault::RewriteResponse(rewrite)) => {
            let response = forward(&shared.upstream, Request::from_parts(parts, body)).await?;
            let (mut parts, bytes) = response.into_parts();
            let mut answer: Value = serde_json::from_slice(&bytes).map_err(|_| CloseConnection)?;
            rewrite(&mut answer);
            // The checksum DynamoDB sends is of the original body.
            parts.headers.remove("x-amz-crc32");
            Ok(Response::from_parts(parts, Bytes::from(answer.to_string())))
        }
        Some(Fault::LoseResponse) => {
            // The whole answer is read, so DynamoDB Local has applied the request; then lost.
            let _ = forward(&shared.upstream, Request::from_parts(parts, body)).await;
            Err(CloseConnection)
        }
    }
}

/// The body DynamoDB sends when a transaction is cancelled because another transaction was
/// touching one of its items: one reason per item, in the items' order.
pub fn transaction_conflict(items: usize) -> Value {
    let mut reasons = vec![json!({
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    })];
    reasons.extend((1..items).map(|_| json!({ "Code": "None" })));
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "CancellationReasons": reasons,
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    })
}

fn dynamodb_error(status: StatusCode, body: Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response.headers_mut().insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("a uuid is a header"),
    );
    response
}

/// Sends the request to DynamoDB Local on a connection of its own and reads the whole answer.
async fn forward(upstream: &str, req: Request<Bytes>) -> Answer {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|_| CloseConnection)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| CloseConnection)?;
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(CONNECTION);
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|_| CloseConnection)?;
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| CloseConnection)?
        .to_bytes();
    // The body is whole now: let hyper frame it again.
    for hop in [CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH] {
        parts.headers.remove(hop);
    }
    Ok(Response::from_parts(parts, body))
}
