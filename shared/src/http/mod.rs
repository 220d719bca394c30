//! API Gateway glue: reading requests, writing responses, the error mapping, and the wrapper
//! every HTTP function runs in.

mod endpoint;
mod problem;
mod request;
mod response;

pub use endpoint::{dispatch, serve, AppState, Endpoint};
pub use problem::problem;
pub use request::{
    json_object, optional_field, path_param, query_param, require_admin, required_field, Fields,
    MAX_BODY_BYTES,
};
pub use response::{json, json_text};

/// What a handler returns: a response, or the one error type.
pub type HandlerResult = Result<lambda_http::Response<lambda_http::Body>, crate::ApiError>;
