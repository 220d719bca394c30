//! DynamoDB calls in the X-Ray trace, without an X-Ray SDK: an SDK interceptor that sends one
//! subsegment per operation (its attempts, retries and answer) to the X-Ray daemon Lambda runs
//! beside a traced function, as the X-Ray SDKs of other languages do.
//!
//! Lambda, when the function's tracing is `Active`, sets `AWS_XRAY_DAEMON_ADDRESS` (the daemon's
//! UDP address) for the process and `_X_AMZN_TRACE_ID` (`Root=...;Parent=...;Sampled=1`) for
//! each invocation; `lambda_runtime` sets the latter before the handler runs. A subsegment is
//! sent only for a sampled invocation, as a UDP datagram (`{"format":"json","version":1}`, a
//! newline, the document) named `DynamoDB` in the `aws` namespace under the invocation's
//! `Parent`: X-Ray draws it in the trace and as the DynamoDB node of the service map. Without
//! the daemon's address (locally, `Tracing: PassThrough`) the interceptor is not even added.

use std::net::UdpSocket;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::{Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{json, Value};

/// Where the trace of the current call comes from.
#[derive(Clone, Debug)]
enum TraceHeader {
    /// `_X_AMZN_TRACE_ID`, read at each call (Lambda changes it at each invocation).
    FromEnv,
    /// This one (tests).
    Fixed(String),
}

/// The interceptor: sends a subsegment per DynamoDB operation of a sampled invocation.
#[derive(Debug)]
pub struct TraceDynamoDb {
    daemon: String,
    header: TraceHeader,
    region: Option<String>,
}

impl TraceDynamoDb {
    /// In Lambda with active tracing: the daemon of `AWS_XRAY_DAEMON_ADDRESS`
    /// (`169.254.79.129:2000`, or `tcp:... udp:...`), the trace of `_X_AMZN_TRACE_ID`. `None`
    /// without a daemon.
    pub fn from_env() -> Option<Self> {
        let address = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
        let daemon = daemon_udp_address(&address)?.to_owned();
        Some(Self {
            daemon,
            header: TraceHeader::FromEnv,
            region: std::env::var("AWS_REGION").ok(),
        })
    }

    /// Sends to `daemon` the subsegments of calls made under `header` (tests).
    pub fn to(daemon: &str, header: &str) -> Self {
        Self {
            daemon: daemon.to_owned(),
            header: TraceHeader::Fixed(header.to_owned()),
            region: None,
        }
    }

    /// The current trace, if it is sampled: `(root, parent)`.
    fn sampled_trace(&self) -> Option<(String, String)> {
        let header = match &self.header {
            TraceHeader::FromEnv => std::env::var("_X_AMZN_TRACE_ID").ok()?,
            TraceHeader::Fixed(header) => header.clone(),
        };
        let field = |name: &str| {
            (header.split(';'))
                .find_map(|part| part.trim().strip_prefix(name))
                .map(str::to_owned)
        };
        if field("Sampled=").as_deref() != Some("1") {
            return None;
        }
        Some((field("Root=")?, field("Parent=")?))
    }
}

/// The UDP address of `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the `udp:` part of
/// `tcp:host:port udp:host:port`.
fn daemon_udp_address(address: &str) -> Option<&str> {
    let parts: Vec<&str> = address.split_whitespace().collect();
    let udp = parts.iter().find_map(|p| p.strip_prefix("udp:"));
    udp.or(match parts.as_slice() {
        [one] if !one.starts_with("tcp:") => Some(*one),
        _ => None,
    })
}

/// When the operation began, and the tables its request names.
#[derive(Clone, Debug)]
struct Call {
    start: SystemTime,
    tables: Vec<String>,
}

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TraceDynamoDb {
    fn name(&self) -> &'static str {
        "TraceDynamoDb"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let call = Call {
            start: SystemTime::now(),
            tables: Vec::new(),
        };
        cfg.interceptor_state().store_put(call);
        Ok(())
    }

    /// The first attempt's body names the tables.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<Call>() else {
            return Ok(());
        };
        if call.tables.is_empty() {
            let body = context.request().body().bytes().unwrap_or_default();
            let tables = tables_named(&serde_json::from_slice(body).unwrap_or(Value::Null));
            let call = Call {
                start: call.start,
                tables,
            };
            cfg.interceptor_state().store_put(call);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some((root, parent)), Some(call)) = (self.sampled_trace(), cfg.load::<Call>()) else {
            return Ok(());
        };
        let response = context.response();
        let answer = response.map(|r| {
            let status = r.status().as_u16();
            let request_id = r.headers().get("x-amzn-requestid").map(str::to_owned);
            let body: Value = (r.body().bytes())
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let error_type = body["__type"].as_str().map(|t| {
                let short = t.rsplit('#').next().unwrap_or(t);
                short.to_owned()
            });
            (status, request_id, error_type)
        });
        let attempts = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned());
        let document = subsegment(Subsegment {
            root: &root,
            parent: &parent,
            start: call.start,
            end: SystemTime::now(),
            operation: operation.as_deref().unwrap_or("unknown"),
            region: self.region.as_deref(),
            tables: &call.tables,
            retries: attempts.saturating_sub(1),
            answer: answer
                .as_ref()
                .map(|(s, id, e)| (*s, id.as_deref(), e.as_deref())),
        });
        send(&self.daemon, &document);
        Ok(())
    }
}

/// The tables a DynamoDB request body names: `TableName`, or the keys of `RequestItems`, or
/// those of each `TransactItems` entry.
fn tables_named(body: &Value) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    if let Some(name) = body["TableName"].as_str() {
        tables.push(name.to_owned());
    }
    if let Some(items) = body["RequestItems"].as_object() {
        tables.extend(items.keys().cloned());
    }
    for item in body["TransactItems"].as_array().into_iter().flatten() {
        let names = item.as_object().into_iter().flat_map(|i| i.values());
        tables.extend(names.filter_map(|v| v["TableName"].as_str().map(str::to_owned)));
    }
    tables.sort();
    tables.dedup();
    tables
}

struct Subsegment<'a> {
    root: &'a str,
    parent: &'a str,
    start: SystemTime,
    end: SystemTime,
    operation: &'a str,
    region: Option<&'a str>,
    tables: &'a [String],
    retries: u32,
    /// Status, `x-amzn-requestid`, error `__type`; `None` when no answer came.
    answer: Option<(u16, Option<&'a str>, Option<&'a str>)>,
}

/// The X-Ray segment document of one DynamoDB operation.
fn subsegment(s: Subsegment<'_>) -> Value {
    let seconds = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let mut aws = json!({ "operation": s.operation, "retries": s.retries });
    if let Some(region) = s.region {
        aws["region"] = json!(region);
    }
    match s.tables {
        [] => {}
        [one] => aws["table_name"] = json!(one),
        many => aws["table_names"] = json!(many),
    }
    let mut document = json!({
        "name": "DynamoDB",
        "namespace": "aws",
        "type": "subsegment",
        "id": format!("{:016x}", fastrand::u64(..)),
        "trace_id": s.root,
        "parent_id": s.parent,
        "start_time": seconds(s.start),
        "end_time": seconds(s.end),
        "aws": aws,
    });
    match s.answer {
        None => document["fault"] = json!(true),
        Some((status, request_id, error_type)) => {
            document["http"] = json!({ "response": { "status": status } });
            if let Some(id) = request_id {
                document["aws"]["request_id"] = json!(id);
            }
            let throttled = error_type.is_some_and(|t| {
                t == "ThrottlingException" || t == "ProvisionedThroughputExceededException"
            });
            if status >= 500 {
                document["fault"] = json!(true);
            } else if status >= 400 {
                document["error"] = json!(true);
            }
            if throttled || status == 429 {
                document["throttle"] = json!(true);
            }
        }
    }
    document
}

/// One datagram to the daemon; a lost one loses a box in a trace, nothing else.
fn send(daemon: &str, document: &Value) {
    static SOCKET: OnceLock<Option<UdpSocket>> = OnceLock::new();
    let socket = SOCKET.get_or_init(|| UdpSocket::bind("0.0.0.0:0").ok());
    if let Some(socket) = socket {
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{document}");
        let _ = socket.send_to(datagram.as_bytes(), daemon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subsegment_is_an_x_ray_document_under_the_invocation() {
        let start = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let end = start + std::time::Duration::from_millis(7);
        let tables = ["orders".to_owned(), "carts".to_owned()];
        let document = subsegment(Subsegment {
            root: "1-5759e988-bd862e3fe1be46a994272793",
            parent: "53995c3f42cd8ad8",
            start,
            end,
            operation: "TransactWriteItems",
            region: Some("eu-west-1"),
            tables: &tables,
            retries: 1,
            answer: Some((400, Some("REQ"), Some("ThrottlingException"))),
        });

        assert_eq!(document["name"], "DynamoDB");
        assert_eq!(document["namespace"], "aws");
        assert_eq!(document["type"], "subsegment");
        assert_eq!(document["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(document["parent_id"], "53995c3f42cd8ad8");
        let id = document["id"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(document["start_time"], 1_700_000_000.123);
        assert!(document["end_time"].as_f64().unwrap() > 1_700_000_000.129);
        assert_eq!(document["aws"]["operation"], "TransactWriteItems");
        assert_eq!(document["aws"]["table_names"], json!(["orders", "carts"]));
        assert_eq!(document["aws"]["retries"], 1);
        assert_eq!(document["aws"]["request_id"], "REQ");
        assert_eq!(document["aws"]["region"], "eu-west-1");
        assert_eq!(document["http"]["response"]["status"], 400);
        assert_eq!(
            (document["error"].clone(), document["throttle"].clone()),
            (json!(true), json!(true))
        );
        assert!(document.get("fault").is_none());
    }

    #[test]
    fn no_answer_is_a_fault_and_a_500_too() {
        let at = SystemTime::now();
        let call = |answer| {
            subsegment(Subsegment {
                root: "r",
                parent: "p",
                start: at,
                end: at,
                operation: "GetItem",
                region: None,
                tables: &["t".to_owned()],
                retries: 2,
                answer,
            })
        };
        assert_eq!(call(None)["fault"], true);
        assert_eq!(call(Some((500, None, None)))["fault"], true);
        assert_eq!(call(Some((200, None, None))).get("fault"), None);
        assert_eq!(call(Some((200, None, None)))["aws"]["table_name"], "t");
    }

    #[test]
    fn tables_are_read_from_every_request_shape() {
        for (body, tables) in [
            (json!({ "TableName": "a" }), vec!["a"]),
            (
                json!({ "RequestItems": { "b": {}, "a": {} } }),
                vec!["a", "b"],
            ),
            (
                json!({ "TransactItems": [
                    { "Put": { "TableName": "o" } },
                    { "Update": { "TableName": "c" } },
                    { "Update": { "TableName": "c" } },
                ] }),
                vec!["c", "o"],
            ),
            (json!(null), vec![]),
        ] {
            assert_eq!(tables_named(&body), tables, "{body}");
        }
    }

    #[test]
    fn the_daemon_is_reached_over_udp() {
        for (address, udp) in [
            ("169.254.79.129:2000", Some("169.254.79.129:2000")),
            (
                "tcp:127.0.0.1:2000 udp:127.0.0.2:2000",
                Some("127.0.0.2:2000"),
            ),
            ("tcp:127.0.0.1:2000", None),
            ("", None),
        ] {
            assert_eq!(daemon_udp_address(address), udp, "{address:?}");
        }
    }

    #[test]
    fn only_a_sampled_trace_is_sent() {
        let traced = |header: &str| TraceDynamoDb::to("127.0.0.1:2000", header).sampled_trace();
        assert_eq!(
            traced("Root=1-a-b;Parent=53995c3f42cd8ad8;Sampled=1"),
            Some(("1-a-b".to_owned(), "53995c3f42cd8ad8".to_owned()))
        );
        assert_eq!(traced("Root=1-a-b;Parent=53995c3f42cd8ad8;Sampled=0"), None);
        assert_eq!(traced("Root=1-a-b;Sampled=1"), None);
    }
}
