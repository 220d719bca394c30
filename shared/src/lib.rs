//! Everything the cart API's functions share, in visible layers: `domain` (types and rules),
//! `app` (the loops around the rules: read, decide, write, retry), `store` (every DynamoDB call
//! and item mapping), `http` (parsing requests, rendering answers, the error mapping), the
//! configuration, `secrets` (the cursor key, read at cold start), and the wrappers of the
//! functions that no HTTP request invokes: `scheduled` (EventBridge schedules) and `stream` (a
//! DynamoDB stream).

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jwt;
pub mod scheduled;
pub mod secrets;
pub mod store;
pub mod stream;
pub mod telemetry;

pub use config::{Config, Tables};
pub use error::ApiError;
pub use store::Store;
