//! Versions on the wire: the `ETag` of a cart or an item is its version, quoted; `If-Match`
//! makes a write conditional on it, `If-None-Match` a read.

use http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use http::HeaderValue;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{json, HandlerResult};
use crate::ApiError;

/// `"<version>"`.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A JSON answer about a resource at `version`, with its `ETag`.
pub fn versioned(status: u16, body: &impl Serialize, version: u64) -> HandlerResult {
    with_etag(json(status, body)?, version)
}

pub fn with_etag(mut response: Response<Body>, version: u64) -> HandlerResult {
    let value = HeaderValue::from_str(&etag(version)).map_err(|e| ApiError::Internal(e.into()))?;
    response.headers_mut().insert(ETAG, value);
    Ok(response)
}

/// The version `If-Match` names: `None` without the header or with `*` (any version). One
/// version, quoted (or bare); a weak tag, a list, or anything else is a `400`.
pub fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get(IF_MATCH) else {
        return Ok(None);
    };
    let refuse = || ApiError::invalid("If-Match", "must be one ETag, as \"<version>\", or *");
    let text = value.to_str().map_err(|_| refuse())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let quoted = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    let digits = quoted.or(Some(text));
    let digits =
        digits.filter(|d| !d.is_empty() && d.len() <= 16 && d.bytes().all(|b| b.is_ascii_digit()));
    digits
        .and_then(|d| d.parse().ok())
        .map(Some)
        .ok_or_else(refuse)
}

/// Whether `If-None-Match` names `version` (or is `*`): the client holds it already (`304`).
pub fn not_modified(req: &Request, version: u64) -> bool {
    let Some(text) = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let current = etag(version);
    text.split(',')
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

/// `304 Not Modified`: no body, the `ETag` again.
pub fn not_modified_response(version: u64) -> HandlerResult {
    let response = Response::builder()
        .status(304)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    with_etag(response, version)
}
