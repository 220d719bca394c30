//! `seed-catalog`: wiring only; the handler is in `handler.rs`.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let store = Store::from_env(shared::Tables::from_env());
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        seed_catalog::handle(store, event).await
    }))
    .await
}
