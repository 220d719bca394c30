//! API Gateway HTTP API (payload v2) events, built the way the integration-test harness builds
//! them, and the same request as plain HTTP for the local API.

use std::collections::BTreeMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// One API call: enough to build a Lambda event or an HTTP request.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: &'static str,
    /// The template's route (`/api/v1/cart/{cart_id}`).
    pub route: &'static str,
    /// The concrete path.
    pub path: String,
    pub path_params: BTreeMap<&'static str, String>,
    pub query: Vec<(&'static str, String)>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// Signed by an IAM principal (what the admin routes require in AWS).
    pub iam: bool,
}

impl Call {
    pub fn new(method: &'static str, route: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            route,
            path: path.into(),
            path_params: BTreeMap::new(),
            query: Vec::new(),
            headers: BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
            body: None,
            iam: false,
        }
    }

    pub fn path_param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.path_params.insert(name, value.to_string());
        self
    }

    pub fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.insert(name.to_lowercase(), value.to_string());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_iam(mut self) -> Self {
        self.iam = true;
        self
    }

    /// `path?query`, percent-encoded.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query())
        }
    }

    fn raw_query(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The payload v2 event API Gateway would send.
    pub fn to_event(&self) -> Value {
        let route_key = format!("{} {}", self.method, self.route);
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.raw_query(),
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
                    "userAgent": "bench"
                },
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": route_key,
                "stage": "$default",
                "time": "23/Nov/2026:12:00:00 +0000",
                "timeEpoch": 1_795_435_200_000u64
            },
            "isBase64Encoded": false
        });
        if !self.query.is_empty() {
            let mut params: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (k, v) in &self.query {
                params.entry(k).or_default().push(v);
            }
            let params: BTreeMap<&str, String> =
                params.into_iter().map(|(k, v)| (k, v.join(","))).collect();
            event["queryStringParameters"] = json!(params);
        }
        if !self.path_params.is_empty() {
            event["pathParameters"] = json!(self.path_params);
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body.to_string());
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

    /// The event as `lambda_http` parses it for a handler.
    pub fn to_request(&self) -> Request {
        lambda_http::request::from_str(&self.to_event().to_string()).expect("a valid v2 event")
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A handler's answer: status, problem code (if any) and parsed body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }

    /// `200`, or `409 insufficient_stock`.
    pub fn outcome(&self) -> String {
        match self.code() {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }
}

impl From<Response<Body>> for Answer {
    fn from(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let text = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        Self {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}
