//! What an operator follows: API Gateway's request id from a 5xx problem to every log line the
//! function wrote for it, and the X-Ray trace header from Lambda's environment to DynamoDB.

use get_cart::GetCart;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt as _;
use serde_json::Value;
use testkit::{ApiRequest, Fault, LogCapture, TestApp, Times};
use tracing::instrument::WithSubscriber as _;

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

    let response = app
        .call::<GetCart>(request)
        .with_subscriber(logs.subscriber())
        .await;

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
