//! The wrapper the scheduled functions (`seed-catalog`, `release-holds`) run in: their whole
//! `main` is `serve_scheduled::<S>()`.

use std::future::Future;

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument as _;

use crate::{telemetry, Store, Tables};

/// A function EventBridge invokes: its name and what one run does.
pub trait Scheduled {
    const NAME: &'static str;
    /// What a run did; also the function's result.
    type Summary: Serialize + Send;

    fn run(
        store: &Store,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Self::Summary, lambda_runtime::Error>> + Send;
}

/// Logging, the DynamoDB client (once), then the Lambda event loop, each run in a span
/// carrying its request id (Lambda's: no API Gateway in front) and its X-Ray trace id, so every
/// line of a run has them.
pub async fn serve_scheduled<S: Scheduled>() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let store = Store::from_env(Tables::from_env());
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!(
            "run",
            request_id = %event.context.request_id,
            trace_id = tracing::field::Empty,
        );
        let trace = event.context.xray_trace_id.as_deref();
        if let Some(root) = trace.and_then(telemetry::trace_root) {
            span.record("trace_id", root);
        }
        span.in_scope(|| tracing::info!(function = S::NAME, "run started"));
        S::run(store, event).instrument(span)
    }))
    .await
}
