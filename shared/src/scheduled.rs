//! The wrapper the scheduled functions (`seed-catalog`, `release-holds`) run in: their whole
//! `main` is `serve_scheduled::<S>()`.

use std::future::Future;

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

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

/// Logging, the DynamoDB client (once), then the Lambda event loop, each run logged with its
/// request id.
pub async fn serve_scheduled<S: Scheduled>() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let store = Store::from_env(Tables::from_env());
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request_id = event.context.request_id.clone();
        tracing::info!(function = S::NAME, request_id, "run started");
        S::run(store, event).await
    }))
    .await
}
