//! Everything the cart API's functions share, in visible layers:
//! `domain` (types and rules), `store` (every DynamoDB call and item mapping),
//! `http` (request parsing, responses, the error mapping) and `config`.

pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod store;
pub mod telemetry;

pub use config::{Config, Tables};
pub use error::ApiError;
pub use store::Store;
