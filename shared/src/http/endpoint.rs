//! The wrapper every HTTP function runs in: one place for state, logging and the error mapping.

use std::future::Future;
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use tracing::Instrument as _;

use super::problem::{problem, problem_for_request};
use super::HandlerResult;
use crate::app::AppState;
use crate::config::{process_env, Vars};
use crate::telemetry::{self, emf};
use crate::ApiError;

/// One HTTP function: its name (the binary's, the template's, the router's) and its handler.
pub trait Endpoint {
    const NAME: &'static str;
    /// Whether the function signs cursors (`list-items`, `list-orders`): then its cold start
    /// reads the cursor key ([`cold_start`]) and it refuses to start without one. A constant,
    /// so that every other binary's cold start has no branch that reads a secret, and links
    /// none of the Secrets Manager client.
    const USES_CURSORS: bool = false;

    fn handle(state: &AppState, req: Request) -> impl Future<Output = HandlerResult> + Send;
}

/// Runs one request through `E` within its deadline (see `Config::time_left`; past it, the
/// answer is `503` with `Retry-After`), maps an error to its problem response and logs one line:
/// route, status, latency, DynamoDB requests, retries, the time spent waiting for them and
/// consumed capacity, with the Embedded Metric Format member that makes CloudWatch metrics of
/// them (`telemetry::emf`).
///
/// Everything it logs is inside a span carrying `request_id`, API Gateway's id of the request
/// (the access log's `requestId`; Lambda's own id when there is none), `lambda_request_id` and,
/// under X-Ray, `trace_id`: so every line of the request has them, and a `5xx` problem carries
/// the same `request_id`.
pub async fn dispatch<E: Endpoint>(state: &AppState, req: Request) -> Response<Body> {
    let started = Instant::now();
    let lambda = req.lambda_context_ref();
    let lambda_request_id = lambda.map(|c| c.request_id.clone()).unwrap_or_default();
    let trace_id = lambda
        .and_then(|c| c.xray_trace_id.as_deref())
        .and_then(telemetry::trace_root)
        .map(str::to_owned);
    let (request_id, route) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.request_id.clone().filter(|id| !id.is_empty()),
            ctx.route_key.clone().unwrap_or_default(),
        ),
        _ => (None, String::new()),
    };
    let request_id = request_id.unwrap_or_else(|| lambda_request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        lambda_request_id = %lambda_request_id,
        trace_id = tracing::field::Empty,
    );
    if let Some(trace_id) = &trace_id {
        span.record("trace_id", trace_id.as_str());
    }
    let deadline = lambda.map_or(0, |c| c.deadline);
    let time_left = state.config.time_left(deadline);
    let before = state.store.metrics().snapshot();
    let handled = async {
        let answer = tokio::time::timeout(time_left, E::handle(state, req)).await;
        let answer = answer.unwrap_or_else(|_| {
            Err(ApiError::ServiceUnavailable(
                format!("the request's deadline passed after {time_left:?}").into(),
            ))
        });
        let response = match answer {
            Ok(response) => response,
            Err(err) if err.status() >= 500 => {
                tracing::error!(
                    function = E::NAME,
                    code = err.code(),
                    cause = %telemetry::error_chain(&err),
                    "request failed"
                );
                problem_for_request(&err, &request_id)
            }
            Err(err) => problem(&err),
        };
        let used = state.store.metrics().snapshot().since(&before);
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let route = if route.is_empty() { "unrouted" } else { &route };
        let metadata = emf::request_metadata(emf::namespace(), emf::now_ms());
        tracing::info!(
            function = E::NAME,
            route,
            route_group = emf::route_group(route),
            status,
            status_class = emf::status_class(status),
            latency_us = latency.as_micros() as u64,
            latency_ms = latency.as_micros() as f64 / 1000.0,
            dynamodb_requests = used.requests,
            dynamodb_retries = used.retries,
            dynamodb_us = used.dynamodb_micros,
            read_capacity_units = used.read_units(),
            write_capacity_units = used.write_units(),
            _aws = metadata.to_string().as_str(),
            "request handled"
        );
        response
    };
    handled.instrument(span).await
}

/// A function's whole `main`: logging, its state ([`cold_start`], once), then the Lambda event
/// loop. A configuration it cannot use stops it before its first request ("configuration
/// refused").
pub async fn serve<E: Endpoint>() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = cold_start::<E>(&process_env).await.inspect_err(|why| {
        tracing::error!(function = E::NAME, cause = %why, "configuration refused");
    })?;
    let state = &state;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(dispatch::<E>(state, req).await)
    }))
    .await
}

/// What `E` builds once per cold start from its environment `vars`: the configuration and the
/// DynamoDB client; and, when it signs cursors, the cursor key (`secrets::cursor_secret`:
/// `CURSOR_SECRET_ARN`'s secret, read through Secrets Manager, or `CURSOR_SECRET` locally;
/// neither is refused). Or why `E` must not start.
pub async fn cold_start<E: Endpoint>(vars: Vars<'_>) -> Result<AppState, String> {
    let mut state = AppState::from_vars(vars)?;
    if E::USES_CURSORS {
        state.config.cursor_secret = Some(crate::secrets::cursor_secret(vars).await?);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::emf::specification_problems;
    use crate::telemetry::tests::Buffer;
    use crate::{Config, Store, Tables};
    use aws_sdk_dynamodb::config::{Credentials, Region};
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    };
    use lambda_http::request::LambdaRequest;
    use serde_json::Value;
    use tracing::instrument::WithSubscriber as _;

    /// Answers 200, or fails with a cause that must stay in the logs, logging a line of its own
    /// either way.
    struct Fake<const FAIL: bool>;

    impl<const FAIL: bool> Endpoint for Fake<FAIL> {
        const NAME: &'static str = "fake";

        async fn handle(_: &AppState, _: Request) -> HandlerResult {
            tracing::info!("inside the handler");
            if FAIL {
                return Err(ApiError::Internal("the disk is on fire".into()));
            }
            Ok(Response::new(Body::Text("{}".into())))
        }
    }

    fn state() -> AppState {
        let tables = Tables::with_prefix("unit");
        let client = crate::store::client_config()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("k", "s", None, None, "unit"))
            .endpoint_url("http://127.0.0.1:9");
        AppState {
            config: Config::for_tables(tables.clone()),
            store: Store::with_client_config(client, tables),
        }
    }

    /// A purchase as API Gateway sends it, with its request id.
    fn request(request_id: &str) -> Request {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some("POST /api/v1/cart/{cart_id}/purchase".into());
        context.request_id = Some(request_id.into());
        let mut event = ApiGatewayV2httpRequest::default();
        event.route_key = context.route_key.clone();
        event.raw_path = Some("/api/v1/cart/c/purchase".into());
        event.request_context = context;
        LambdaRequest::ApiGatewayV2(event).into()
    }

    /// The lines `E` logs for one request, and its answer.
    async fn logged<E: Endpoint>(request_id: &str) -> (Vec<Value>, Response<Body>) {
        let buffer = Buffer::default();
        let state = state();
        let response = dispatch::<E>(&state, request(request_id))
            .with_subscriber(buffer.dispatch())
            .await;
        (buffer.lines(), response)
    }

    #[tokio::test]
    async fn the_request_line_is_an_embedded_metric_format_document() {
        let (lines, _) = logged::<Fake<false>>("apigw-1").await;
        let line = lines
            .iter()
            .find(|l| l["message"] == "request handled")
            .unwrap_or_else(|| panic!("no per-request line in {lines:?}"));

        assert_eq!(specification_problems(line), Vec::<String>::new(), "{line}");
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert!(directives
            .iter()
            .all(|d| d["Namespace"] == emf::namespace()));
        assert_eq!(line["route"], "POST /api/v1/cart/{cart_id}/purchase");
        assert_eq!(line["route_group"], "purchase");
        assert_eq!(line["status_class"], "2xx");
        assert_eq!(line["dynamodb_requests"], 0);
        assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    }

    #[tokio::test]
    async fn every_line_of_a_request_and_its_5xx_problem_carry_api_gateways_request_id() {
        let (lines, response) = logged::<Fake<true>>("apigw-2").await;

        assert_eq!(response.status(), 500);
        let Body::Text(body) = response.body() else {
            panic!("a text body")
        };
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["request_id"], "apigw-2");
        assert!(
            !body.to_string().contains("fire"),
            "the cause stays in the logs"
        );
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        assert_eq!(
            messages,
            ["inside the handler", "request failed", "request handled"]
        );
        for line in &lines {
            assert_eq!(line["request_id"], "apigw-2", "{line}");
        }
        assert_eq!(lines[2]["status_class"], "5xx");
    }
}
