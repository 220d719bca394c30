//! The test harness: every test gets its own four tables in DynamoDB Local and calls the real
//! handlers with real API Gateway HTTP API (payload v2) events.
//!
//! DynamoDB Local must be running (`make test` starts it); its address comes from
//! `AWS_ENDPOINT_URL_DYNAMODB`, else `http://127.0.0.1:$DYNAMODB_LOCAL_PORT` (default 8000).

pub mod fault_proxy;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::{Credentials, Region};
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use shared::domain::{Item, ItemId, Price, Stock};
use shared::http::{dispatch, AppState, Endpoint};
use shared::{Config, Store, Tables};

/// Where DynamoDB Local answers.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        let port = std::env::var("DYNAMODB_LOCAL_PORT").unwrap_or_else(|_| "8000".to_owned());
        format!("http://127.0.0.1:{port}")
    })
}

/// A store on fresh, uniquely named tables, reached through `endpoint`.
pub async fn store_at(endpoint: &str, tables: Tables) -> Store {
    let sdk = shared::store::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await;
    Store::from_sdk_config(&sdk, tables)
}

pub fn unique_tables() -> Tables {
    Tables::with_prefix(&format!("t{}", uuid::Uuid::new_v4().simple()))
}

/// One test's application: its own tables, the real handlers.
pub struct TestApp {
    pub state: AppState,
}

impl TestApp {
    /// Fresh tables in DynamoDB Local.
    pub async fn spawn() -> Self {
        Self::spawn_at(&dynamodb_endpoint()).await
    }

    /// Fresh tables, with the functions talking to DynamoDB through `endpoint` (a fault
    /// injecting proxy, say). The tables are created directly in DynamoDB Local.
    pub async fn spawn_at(endpoint: &str) -> Self {
        let tables = unique_tables();
        store_at(&dynamodb_endpoint(), tables.clone())
            .await
            .create_tables()
            .await
            .expect("DynamoDB Local is running (make test starts it)");
        let store = store_at(endpoint, tables.clone()).await;
        Self {
            state: AppState {
                config: Config::for_tables(tables),
                store,
            },
        }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Calls endpoint `E` with `req`, as Lambda would.
    pub async fn call<E: Endpoint>(&self, req: Request) -> TestResponse {
        TestResponse::from(dispatch::<E>(&self.state, req).await)
    }

    /// Puts items straight into the catalog; ids are 1, 2, ... in the order given.
    pub async fn seed(&self, items: &[(&str, u64, u64)]) -> Vec<Item> {
        let items: Vec<Item> = items
            .iter()
            .enumerate()
            .map(|(i, (name, price, stock))| Item {
                id: ItemId::new(i as u64 + 1).unwrap(),
                name: (*name).to_owned(),
                price: Price::new(*price).unwrap(),
                stock: Stock::new(*stock).unwrap(),
            })
            .collect();
        self.store().put_items(&items).await.expect("seeding works");
        items
    }

    /// The item as stored now.
    pub async fn item(&self, id: u64) -> Item {
        self.store()
            .get_item(ItemId::new(id).unwrap())
            .await
            .unwrap()
            .expect("item exists")
    }

    /// How many items `table` holds, read strongly consistent.
    pub async fn count_items(&self, table: &str) -> usize {
        let out = self
            .store()
            .client()
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        out.count() as usize
    }

    /// How many orders are stored.
    pub async fn order_count(&self) -> usize {
        self.count_items(&self.store().tables().orders).await
    }

    /// DynamoDB requests sent while `f` ran (the state must not be shared by other tasks then).
    pub async fn requests_during<F: std::future::Future>(&self, f: F) -> (F::Output, u64) {
        let before = self.store().metrics().snapshot();
        let out = f.await;
        let used = self.store().metrics().snapshot().since(&before);
        (out, used.requests)
    }
}

/// A handler's answer, with its body parsed.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem response with this status and code, and no internals in it.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        for member in ["type", "title", "detail", "error"] {
            assert!(self.body[member].is_string(), "{member} in {}", self.text);
        }
        assert_no_internals(&self.text);
    }
}

/// Nothing of the implementation leaks: no Rust debug output, SDK errors or table names.
pub fn assert_no_internals(text: &str) {
    for marker in [
        "panicked",
        "SdkError",
        "ServiceError",
        "DispatchFailure",
        "AttributeValue",
        "Some(",
        "ValidationException",
        "-catalog",
        "-carts",
        "-orders",
        "-idempotency",
        "backtrace",
    ] {
        assert!(!text.contains(marker), "{marker:?} leaked in {text}");
    }
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.body() {
            Body::Empty => String::new(),
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }
}

/// An API Gateway HTTP API (payload v2) event, built up and then parsed by `lambda_http` exactly
/// as a real invocation is.
#[derive(Clone, Debug)]
pub struct Event {
    method: String,
    route: String,
    path: String,
    path_params: HashMap<String, String>,
    query: Vec<(String, String)>,
    headers: HashMap<String, String>,
    body: Option<(String, bool)>,
    iam: bool,
}

impl Event {
    /// `route` is the template's route (`/api/v1/cart/{cart_id}`); `path` the concrete path.
    pub fn new(method: &str, route: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            route: route.to_owned(),
            path: path.to_owned(),
            path_params: HashMap::new(),
            query: Vec::new(),
            headers: HashMap::from([("content-type".to_owned(), "application/json".to_owned())]),
            body: None,
            iam: false,
        }
    }

    pub fn path_param(mut self, name: &str, value: impl ToString) -> Self {
        self.path_params.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_lowercase(), value.to_owned());
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.text(&body.to_string())
    }

    pub fn text(mut self, body: &str) -> Self {
        self.body = Some((body.to_owned(), false));
        self
    }

    /// A body API Gateway passes base64-encoded (any bytes, valid UTF-8 or not).
    pub fn bytes(mut self, body: &[u8]) -> Self {
        use base64::Engine as _;
        self.body = Some((base64::engine::general_purpose::STANDARD.encode(body), true));
        self
    }

    /// Signed with SigV4 by an IAM principal (what the admin routes require in AWS).
    pub fn with_iam(mut self) -> Self {
        self.iam = true;
        self
    }

    pub fn to_json(&self) -> Value {
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut query_params: HashMap<&str, Vec<&str>> = HashMap::new();
        for (k, v) in &self.query {
            query_params.entry(k).or_default().push(v);
        }
        let query_params: HashMap<&str, String> = query_params
            .into_iter()
            .map(|(k, v)| (k, v.join(",")))
            .collect();
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, self.route),
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api1234567",
                "domainName": "api1234567.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "api1234567",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "integration-tests"
                },
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": format!("{} {}", self.method, self.route),
                "stage": "$default",
                "time": "23/Nov/2026:12:00:00 +0000",
                "timeEpoch": 1_795_435_200_000u64
            },
            "isBase64Encoded": false
        });
        if !query_params.is_empty() {
            event["queryStringParameters"] = json!(query_params);
        }
        if !self.path_params.is_empty() {
            event["pathParameters"] = json!(self.path_params);
        }
        if let Some((body, base64)) = &self.body {
            event["body"] = json!(body);
            event["isBase64Encoded"] = json!(base64);
        }
        if self.iam {
            event["requestContext"]["authorizer"] = json!({
                "iam": {
                    "accessKey": "ASIAEXAMPLE",
                    "accountId": "123456789012",
                    "callerId": "AROAEXAMPLE:admin",
                    "principalOrgId": null,
                    "userArn": "arn:aws:sts::123456789012:assumed-role/catalog-admin/admin",
                    "userId": "AROAEXAMPLE:admin"
                }
            });
        }
        event
    }

    pub fn build(&self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string()).expect("a valid v2 event")
    }
}

/// Percent-encodes a query component.
fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads an event file from `events/`, as a request.
pub fn event_file(name: &str) -> Request {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
