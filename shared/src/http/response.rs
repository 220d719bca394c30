//! Writing answers.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::{with_etag, HandlerResult};
use crate::app::Reply;
use crate::ApiError;

/// A JSON response. Serializing our own types cannot fail; if it ever did, it is a 500.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(Box::new(e)))?;
    json_text(status, text)
}

/// A response from JSON text already written (an idempotent replay sends stored bytes).
pub fn json_text(status: u16, text: String) -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(Body::Text(text))
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The application's answer: its JSON, the `ETag` of the version it names, and
/// `Idempotent-Replayed: true` when it is a key's first answer sent again.
pub fn reply(reply: Reply) -> HandlerResult {
    let mut response = json_text(reply.status, reply.body)?;
    if reply.replayed {
        let replayed = HeaderValue::from_static("true");
        response
            .headers_mut()
            .insert("idempotent-replayed", replayed);
    }
    match reply.version {
        Some(version) => with_etag(response, version),
        None => Ok(response),
    }
}
