//! API Gateway glue: reading requests, writing responses, the error mapping, and the wrapper
//! every HTTP function runs in.

mod carts;
mod endpoint;
mod identity;
mod keys;
mod problem;
mod request;
mod response;
mod versions;

pub use carts::{cart_answer, change_cart, refused, Key};
pub use endpoint::{dispatch, serve, AppState, Endpoint};
pub use identity::{authenticate, require_iam, Caller, LocalJwks};
pub use keys::{admin_principal, exactly_once, key_header, replay, Attempt};
pub use problem::problem;
pub use request::{
    cart_in_path, json_object, named_user, optional_field, order_in_path, path_param, query_param,
    required_field, Fields, MAX_BODY_BYTES,
};
pub use response::{json, json_text};
pub use versions::{etag, if_match, not_modified, not_modified_response, versioned, with_etag};

/// What a handler returns: a response, or the one error type.
pub type HandlerResult = Result<lambda_http::Response<lambda_http::Body>, crate::ApiError>;
