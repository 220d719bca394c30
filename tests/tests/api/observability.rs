//! What an operator follows: API Gateway's request id from a 5xx problem to every log line the
//! function wrote for it, and the X-Ray trace header from Lambda's environment to DynamoDB.

use get_cart::GetCart;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt as _;
use serde_json::Value;
use testkit::{ApiRequest, Fault, LogCapture, TestApp, Times};

#[tokio::test]
async fn a_5xx_problem_and_every_line_the_function_logged_carry_api_gateways_request_id() {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let cart = app.new_cart(7).await;
    let request = app.authenticate(ApiRequest::get_cart(&cart)).build();
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        panic!("an HTTP API request")
    };
    let request_id = context.request_id.clone().expect("API Gateway's requestId");
    proxy.inject("*", Fault::InternalError, Times::Always);
    let logs = LogCapture::default();

    let response = logs.during(app.call::<GetCart>(request)).await;

    response.assert_problem(503, "service_unavailable");
    assert_eq!(response.body["request_id"], request_id.as_str());
    let lines = logs.lines();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(
        messages.contains(&"request failed") && messages.contains(&"request handled"),
        "{messages:?}"
    );
    for line in &lines {
        assert_eq!(line["request_id"], request_id.as_str(), "{line}");
    }
    let handled = lines.iter().find(|l| l["message"] == "request handled");
    let handled = handled.expect("the per-request line");
    assert_eq!(handled["status_class"], "5xx");
    assert_eq!(handled["route_group"], "cart");
    assert!(
        handled["dynamodb_retries"].as_u64().is_some_and(|r| r >= 1),
        "the SDK's retries of the 500s are counted: {handled}"
    );
}

#[tokio::test]
async fn a_4xx_problem_carries_no_request_id() {
    let app = TestApp::spawn().await;

    let response = app.view_cart("not-a-cart-id").await;

    assert_eq!(response.status / 100, 4, "{}", response.text);
    assert_eq!(response.body.get("request_id"), None::<&Value>);
}

/// What Lambda sets for an invocation under X-Ray (`lambda_runtime` sets `_X_AMZN_TRACE_ID`
/// before each event), for the child process below.
const TRACE_HEADER: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// The AWS SDK's recursion-detection interceptor, part of every client, sends
/// `X-Amzn-Trace-Id` from `_X_AMZN_TRACE_ID` when `AWS_LAMBDA_FUNCTION_NAME` is set too: the
/// trace goes on to DynamoDB. Environment variables are the whole process's, so the traced run
/// is this test binary again, in a child process with them set.
#[tokio::test]
async fn a_request_within_a_traced_invocation_sends_its_trace_header_to_dynamodb() {
    // Here, outside Lambda: no header.
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.view_cart(&app.new_cart(7).await).await;
    let untraced = proxy.seen("GetItem");
    assert!(!untraced.is_empty());
    assert!(untraced
        .iter()
        .all(|s| !s.headers.contains_key("x-amzn-trace-id")));

    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["observability::traced_invocation", "--exact", "--ignored"])
        .env("_X_AMZN_TRACE_ID", TRACE_HEADER)
        .env("AWS_LAMBDA_FUNCTION_NAME", "get-cart")
        .output()
        .expect("the test binary runs again");

    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the traced run ran: {stdout}");
}

/// The traced half of the test above; on its own (no `_X_AMZN_TRACE_ID`), it does nothing.
#[tokio::test]
#[ignore = "run by a_request_within_a_traced_invocation_sends_its_trace_header_to_dynamodb"]
async fn traced_invocation() {
    if std::env::var("_X_AMZN_TRACE_ID").as_deref() != Ok(TRACE_HEADER) {
        return;
    }
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.view_cart(&app.new_cart(7).await).await;

    let seen = proxy.seen("*");
    assert!(!seen.is_empty());
    for request in seen {
        let header = request.headers.get("x-amzn-trace-id");
        assert_eq!(
            header.and_then(|h| h.to_str().ok()),
            Some(TRACE_HEADER),
            "{}",
            request.operation()
        );
    }
}

/// A function under X-Ray active tracing draws each DynamoDB call in the trace: a subsegment
/// per operation, sent to the daemon Lambda runs beside it (here a UDP socket of the test).
#[tokio::test]
async fn each_dynamodb_call_of_a_sampled_invocation_is_a_subsegment_of_its_trace() {
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    let (mut app, proxy) = TestApp::spawn_behind_proxy().await;
    let cart = app.new_cart(7).await;
    let tables = app.store().tables().clone();
    let traced = |header: &str| {
        let config = shared::store::client_config()
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .endpoint_url(proxy.url())
            .interceptor(shared::telemetry::TraceDynamoDb::to(&address, header));
        shared::Store::with_client_config(config, tables.clone())
    };
    app.state.store = traced(TRACE_HEADER);
    proxy.inject("GetItem", Fault::Throttling, Times::Once);

    let response = app.view_cart(&cart).await;

    assert_eq!(response.status, 200, "{}", response.text);
    let mut datagram = [0u8; 65_536];
    let length = daemon.recv(&mut datagram).expect("a subsegment");
    let text = std::str::from_utf8(&datagram[..length]).unwrap();
    let (header, document) = text
        .split_once('\n')
        .expect("a header line, then the document");
    assert_eq!(header, r#"{"format":"json","version":1}"#);
    let document: Value = serde_json::from_str(document).unwrap();
    assert_eq!(document["name"], "DynamoDB");
    assert_eq!(document["namespace"], "aws");
    assert_eq!(document["type"], "subsegment");
    assert_eq!(document["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(document["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(document["aws"]["operation"], "GetItem");
    assert_eq!(
        document["aws"]["table_name"],
        app.store().tables().carts.as_str()
    );
    assert_eq!(
        document["aws"]["retries"], 1,
        "the throttled attempt, retried"
    );
    assert_eq!(document["http"]["response"]["status"], 200);
    assert!(document["aws"]["request_id"].is_string());
    let (start, end) = (
        document["start_time"].as_f64(),
        document["end_time"].as_f64(),
    );
    assert!(start.unwrap() <= end.unwrap());

    // An invocation X-Ray did not sample sends nothing.
    app.state.store = traced(&TRACE_HEADER.replace("Sampled=1", "Sampled=0"));
    app.view_cart(&cart).await;
    daemon
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    assert!(daemon.recv(&mut datagram).is_err(), "nothing sent");
}
