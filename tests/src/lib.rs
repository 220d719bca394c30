//! The test kit, shared by the integration tests (`tests/tests/api/`) and `tools/bench`: an
//! application on its own tables in DynamoDB Local calling the real handlers
//! ([`TestApp`], with the API's calls as methods), one request type that reaches a handler as
//! an API Gateway HTTP API (payload v2) request or the local API over HTTP ([`ApiRequest`]),
//! and one proxy in front of DynamoDB Local that counts requests and injects faults
//! ([`DynamoDbProxy`]).
//!
//! DynamoDB Local must be running (`make test` starts it); its address comes from
//! `AWS_ENDPOINT_URL_DYNAMODB`, else `http://127.0.0.1:$DYNAMODB_LOCAL_PORT` (default 8000).

mod app;
pub mod proxy;
mod request;
pub mod tokens;

pub use app::{
    assert_no_internals, dynamodb_endpoint, event_file, issuer, item, plain_json, store_at,
    unique_tables, IntoCall, TestApp, TestResponse, ANYONE,
};
pub use dev_tools::LocalIssuer;
pub use proxy::{DynamoDbProxy, Fault, Seen, Times};
pub use request::{ApiRequest, Credential};
