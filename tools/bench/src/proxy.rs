//! A counting proxy in front of DynamoDB Local: it records the operation of every request that
//! crosses it (`X-Amz-Target: DynamoDB_20120810.<Operation>`), so the counts in section 1 are
//! what went over the wire, independently of the SDK interceptor that also counts them.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::server::{reply, serve, Server};

/// One request that crossed the proxy and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct Exchange {
    pub operation: String,
    pub status: u16,
    /// The error's `__type` without its namespace (`ConditionalCheckFailedException`).
    pub error: Option<String>,
    /// The response's `ConsumedCapacity`, as DynamoDB Local returned it.
    pub consumed: Option<Value>,
    /// The request's body.
    #[serde(skip)]
    pub request: Value,
}

pub struct CountingProxy {
    server: Server,
    operations: Arc<Mutex<Vec<Exchange>>>,
}

impl CountingProxy {
    pub async fn start(upstream: String) -> Self {
        let operations = Arc::new(Mutex::new(Vec::new()));
        let seen = operations.clone();
        let client = reqwest::Client::new();
        let server = serve(move |parts: http::request::Parts, body| {
            let seen = seen.clone();
            let client = client.clone();
            let upstream = upstream.clone();
            async move {
                let operation = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
                    .unwrap_or_else(|| "?".to_owned());
                let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut request = client.request(parts.method, format!("{upstream}{path}"));
                for (name, value) in &parts.headers {
                    if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                        request = request.header(name, value);
                    }
                }
                match request.body(body).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let headers = response.headers().clone();
                        let bytes = response.bytes().await.unwrap_or_default();
                        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        seen.lock().expect("not poisoned").push(Exchange {
                            operation,
                            status,
                            error: parsed["__type"]
                                .as_str()
                                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned()),
                            consumed: parsed.get("ConsumedCapacity").cloned(),
                            request: sent,
                        });
                        let mut out = reply(status, bytes);
                        for (name, value) in &headers {
                            if name != http::header::CONTENT_LENGTH
                                && name != http::header::TRANSFER_ENCODING
                                && name != http::header::CONNECTION
                            {
                                out.headers_mut().insert(name, value.clone());
                            }
                        }
                        out
                    }
                    Err(e) => {
                        seen.lock().expect("not poisoned").push(Exchange {
                            operation,
                            status: 502,
                            error: Some(e.to_string()),
                            consumed: None,
                            request: sent,
                        });
                        reply(502, format!("proxy: {e}"))
                    }
                }
            }
        })
        .await;
        Self { server, operations }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The exchanges seen since the last call.
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.operations.lock().expect("not poisoned"))
    }
}
