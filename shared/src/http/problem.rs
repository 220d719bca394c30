//! The one mapping from `ApiError` to an RFC 9457 `application/problem+json` response.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use crate::domain::rfc3339;
use crate::ApiError;

/// `type`, `title`, `status`, `detail`, a stable `code`, the human message again as `error`
/// (what clients of the original API read), and the members that explain the conflict.
/// Nothing internal: 5xx details are logged, never sent.
pub fn problem(err: &ApiError) -> Response<Body> {
    problem_for_request(err, "")
}

/// [`problem`], and on a `5xx` the `request_id` of the request (API Gateway's; `http::dispatch`
/// logs every line of the request with it), so that a customer's report leads to the log lines.
pub fn problem_for_request(err: &ApiError, request_id: &str) -> Response<Body> {
    let status = err.status();
    // The Display of every variant is written for clients; causes are only in `source()`.
    let detail = err.to_string();
    let mut body = json!({
        "type": format!("urn:cart-api:problem:{}", err.code()),
        "title": err.title(),
        "status": status,
        "detail": detail,
        "code": err.code(),
        "error": detail,
    });
    let extra: Option<(&str, Value)> = match err {
        ApiError::InvalidRequest { field, .. } => Some(("field", json!(field))),
        ApiError::PayloadTooLarge { limit } | ApiError::CartFull { limit } => {
            Some(("limit", json!(limit)))
        }
        ApiError::HoldLimit { limit } => Some(("limit", json!(limit))),
        ApiError::HeldAtAnotherPrice { item_id, held, now } => {
            body["held_price"] = json!(held);
            body["current_price"] = json!(now);
            Some(("item_id", json!(item_id)))
        }
        ApiError::ItemNotFound(id) | ApiError::ItemNotInCart(id) => Some(("item_id", json!(id))),
        ApiError::InsufficientStock(items) => {
            if let [only] = items.as_slice() {
                body["item_id"] = json!(only.item_id);
                body["requested"] = json!(only.requested);
                body["available"] = json!(only.available);
            }
            Some(("items", json!(items)))
        }
        ApiError::PriceChanged(items) => Some(("items", json!(items))),
        ApiError::DiscountNotFound(code) | ApiError::DiscountExists(code) => {
            Some(("discount_code", json!(code)))
        }
        ApiError::DiscountNotApplicable(why) => Some(("reason", json!(why.as_str()))),
        ApiError::CustomerLimit(items) => {
            if let [only] = items.as_slice() {
                body["item_id"] = json!(only.item_id);
                body["limit"] = json!(only.limit);
                body["bought"] = json!(only.bought);
                body["requested"] = json!(only.requested);
            }
            Some(("items", json!(items)))
        }
        ApiError::HoldTimeLimit {
            item_id,
            ended,
            again,
        } => {
            body["hold_ended_at"] = json!(rfc3339(*ended));
            body["hold_again_at"] = json!(rfc3339(*again));
            Some(("item_id", json!(item_id)))
        }
        ApiError::PreconditionFailed { member, current } => Some((member, current.clone())),
        ApiError::OrderNotCancellable { status } | ApiError::OrderNotFulfillable { status } => {
            Some(("order_status", json!(status)))
        }
        ApiError::OrderExpired => Some(("refund_due", json!(true))),
        ApiError::OrderNotPayable { status, refund_due } => {
            body["refund_due"] = json!(refund_due);
            Some(("order_status", json!(status)))
        }
        _ => None,
    };
    if let Some((name, value)) = extra {
        body[name] = value;
    }
    if status >= 500 && !request_id.is_empty() {
        body["request_id"] = json!(request_id);
    }
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/problem+json")
        .header(CACHE_CONTROL, "no-store");
    if let Some(seconds) = err.retry_after() {
        response = response.header(RETRY_AFTER, seconds.to_string());
    }
    if let ApiError::Unauthenticated { token_sent, .. } = err {
        // RFC 6750: the scheme to use; an error code only when a token was sent and refused.
        let challenge = match token_sent {
            true => r#"Bearer realm="cart-api", error="invalid_token""#,
            false => r#"Bearer realm="cart-api""#,
        };
        response = response.header(WWW_AUTHENTICATE, challenge);
    }
    response
        .body(Body::Text(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
