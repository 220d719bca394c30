//! API Gateway glue: reading requests, writing responses, the error mapping, and the wrapper
//! every HTTP function runs in.

mod endpoint;
mod identity;
mod problem;
mod request;
mod response;

pub use endpoint::{dispatch, serve, AppState, Endpoint};
pub use identity::{authenticate, require_iam, Caller, LocalJwks};
pub use problem::problem;
pub use request::{
    cart_in_path, json_object, named_user, optional_field, order_in_path, path_param, query_param,
    required_field, Fields, MAX_BODY_BYTES,
};
pub use response::{json, json_text};

/// What a handler returns: a response, or the one error type.
pub type HandlerResult = Result<lambda_http::Response<lambda_http::Body>, crate::ApiError>;
