//! The test kit, shared by the integration tests (`tests/tests/api/`, `tests/tests/repo/`) and
//! `tools/bench`: an application on its own tables in DynamoDB Local calling the real handlers
//! ([`TestApp`], with the API's calls as methods), one request type that reaches a handler as
//! an API Gateway HTTP API (payload v2) request or the local API over HTTP ([`ApiRequest`]),
//! one proxy in front of DynamoDB Local that counts requests and injects faults
//! ([`DynamoDbProxy`]), a stand-in for Secrets Manager ([`secrets`]), the functions' log lines
//! captured ([`LogCapture`]), the repository's files ([`repo`]), `template.yaml` rendered for
//! `sam local` ([`sam`]), and the order events' local path: a stand-in for Lambda's mapping of the
//! orders table's stream ([`stream`]), one for EventBridge ([`event_bus`]), and their contract,
//! asyncapi.yaml ([`contract`]).
//!
//! DynamoDB Local must be running (`make test` starts it); its address comes from
//! `AWS_ENDPOINT_URL_DYNAMODB`, else `http://127.0.0.1:$DYNAMODB_LOCAL_PORT` (default 8000).

mod app;
pub mod contention;
pub mod contract;
pub mod event_bus;
mod issuer;
mod logs;
pub mod proxy;
pub mod repo;
mod request;
pub mod sam;
pub mod secrets;
pub mod stream;
mod tls;
pub mod tokens;

pub use app::{
    assert_no_internals, dynamodb_endpoint, event_file, issuer, item, plain_json, store_at,
    unique_tables, IntoCall, TestApp, TestResponse, ANYONE,
};
pub use issuer::{unix_now, LocalIssuer};
pub use logs::LogCapture;
pub use proxy::{DynamoDbProxy, Fault, Seen, Times};
pub use request::{ApiRequest, Credential, BACKEND_ARN, BACKEND_CALLER_ID};

/// Taken by a test that loads DynamoDB Local on purpose (the load test, flash sales, races),
/// for as long as it runs: such tests run one at a time, so that the load of one does not
/// starve another's requests past their timeouts (two cores run the whole suite). Every other
/// test keeps running beside them.
pub async fn heavy() -> tokio::sync::SemaphorePermit<'static> {
    static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    HEAVY.acquire().await.expect("never closed")
}

/// An order id no order has.
pub fn unknown_order() -> String {
    shared::domain::OrderId::of_key("user#nobody#no-key").to_string()
}

/// The `hold` policy with its defaults (900 s holds, 10 units a user, 1800 s a window).
pub fn hold_policy() -> shared::domain::CheckoutPolicy {
    shared::domain::CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10,
        max_seconds: 1800,
    }
}
