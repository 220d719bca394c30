//! The wrapper every HTTP function runs in: one place for state, logging and the error mapping.

use std::future::Future;
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use super::{problem, HandlerResult};
use crate::app::AppState;
use crate::config::{process_env, Vars};
use crate::{telemetry, ApiError};

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
/// request id, route, status, latency, DynamoDB requests, the time spent waiting for them and
/// consumed capacity.
pub async fn dispatch<E: Endpoint>(state: &AppState, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let route = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let deadline = req.lambda_context_ref().map_or(0, |c| c.deadline);
    let time_left = state.config.time_left(deadline);
    let before = state.store.metrics().snapshot();
    let answer = tokio::time::timeout(time_left, E::handle(state, req)).await;
    let answer = answer.unwrap_or_else(|_| {
        Err(ApiError::ServiceUnavailable(
            format!("the request's deadline passed after {time_left:?}").into(),
        ))
    });
    let response = match answer {
        Ok(response) => response,
        Err(err) => {
            if err.status() >= 500 {
                tracing::error!(
                    function = E::NAME,
                    code = err.code(),
                    cause = %telemetry::error_chain(&err),
                    "request failed"
                );
            }
            problem(&err)
        }
    };
    let used = state.store.metrics().snapshot().since(&before);
    tracing::info!(
        function = E::NAME,
        request_id,
        route,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        dynamodb_requests = used.requests,
        dynamodb_us = used.dynamodb_micros,
        read_capacity_units = used.read_units(),
        write_capacity_units = used.write_units(),
        "request handled"
    );
    response
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
