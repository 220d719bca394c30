//! API Gateway glue: reading requests (the extractors every handler starts from), writing
//! answers, the error mapping, and the wrapper every HTTP function runs in.

mod endpoint;
mod extract;
mod identity;
mod problem;
mod request;
mod response;
pub mod stripe;
mod versions;

pub use endpoint::{cold_start, dispatch, serve, Endpoint};
pub use extract::{AdminCall, CartCall, GuestCall, UserCall};
pub use identity::{admin_principal, admits, authenticate, require_iam, Caller};
pub use problem::{problem, problem_for_request};
pub use request::{
    cart_in_path, json_object, key_header, named_user, optional_field, order_in_path, path_param,
    query_param, required_field, Fields, MAX_BODY_BYTES,
};
pub use response::{json, json_text, reply};
pub use versions::{etag, if_match, not_modified, not_modified_response, versioned, with_etag};

/// What a handler returns: a response, or the one error type.
pub type HandlerResult = Result<lambda_http::Response<lambda_http::Body>, crate::ApiError>;
