//! Reading what a client sent. Every failure is a 4xx `ApiError` naming the field.

use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::domain::ids::Refusal;
use crate::domain::{CartId, IdempotencyKey, OrderId, UserId};
use crate::ApiError;

/// Bodies larger than this are refused with `413` before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request body's members.
pub type Fields = Map<String, Value>;

/// The body as a JSON object; an empty body is an empty object (so a missing member is reported
/// by name). Non-UTF-8, malformed JSON and JSON that is not an object are refused.
pub fn json_object(req: &Request) -> Result<Fields, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::MalformedBody("it is not valid UTF-8".to_owned()))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::MalformedBody(
            "it is JSON, but not an object".to_owned(),
        )),
        Err(e) => Err(ApiError::MalformedBody(format!(
            "it is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// A member that must be present, parsed by `parse`.
pub fn required_field<T>(
    fields: &Fields,
    name: &str,
    parse: impl FnOnce(&Value) -> Result<T, Refusal>,
) -> Result<T, ApiError> {
    match fields.get(name) {
        None => Err(ApiError::invalid(name, "is required")),
        Some(value) => parse(value).map_err(|why| ApiError::invalid(name, why)),
    }
}

/// A member that may be absent; when present it must parse.
pub fn optional_field<T>(
    fields: &Fields,
    name: &str,
    parse: impl FnOnce(&Value) -> Result<T, Refusal>,
) -> Result<Option<T>, ApiError> {
    fields
        .get(name)
        .map(|value| parse(value).map_err(|why| ApiError::invalid(name, why)))
        .transpose()
}

/// A path parameter, percent-decoded, parsed by `parse`; a value that cannot be parsed is a
/// `400` naming it (see `cart_in_path` and `order_in_path` for ids whose absence is a `404`).
pub fn path_param<T>(
    req: &Request,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, Refusal>,
) -> Result<T, ApiError> {
    let params = req.path_parameters_ref();
    let raw = params
        .and_then(|p| p.first(name))
        .ok_or_else(|| ApiError::invalid(name, "is required in the path"))?;
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::invalid(name, "is not valid UTF-8"))?;
    parse(&decoded).map_err(|why| ApiError::invalid(name, why))
}

/// The cart a path names. A segment that cannot be a cart id names no cart: `404`, exactly as
/// an unknown cart (the path names no resource; nothing tells the two apart).
pub fn cart_in_path(req: &Request) -> Result<CartId, ApiError> {
    path_param(req, "cart_id", CartId::parse).map_err(|_| ApiError::CartNotFound)
}

/// The order a path names; as [`cart_in_path`], a segment that cannot be an order id is `404`.
pub fn order_in_path(req: &Request) -> Result<OrderId, ApiError> {
    path_param(req, "order_id", OrderId::parse).map_err(|_| ApiError::OrderNotFound)
}

/// A query parameter given at most once.
pub fn query_param<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, ApiError> {
    let Some(params) = req.query_string_parameters_ref() else {
        return Ok(None);
    };
    match params.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(Some(values[0])),
        Some(_) => Err(ApiError::invalid(name, "must be given at most once")),
    }
}

/// The `user_id` a request names, in its body or its query string (many clients drop DELETE
/// bodies): at most one value, and the same in both places if given twice.
pub fn named_user(req: &Request, body: &Fields) -> Result<Option<UserId>, ApiError> {
    let in_body = optional_field(body, "user_id", UserId::from_json)?;
    let in_query = query_param(req, "user_id")?
        .map(|v| UserId::parse(v).map_err(|why| ApiError::invalid("user_id", why)))
        .transpose()?;
    match (in_body, in_query) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "user_id",
            "differs between the body and the query string",
        )),
        (Some(user), _) | (None, Some(user)) => Ok(Some(user)),
        (None, None) => Ok(None),
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 printable ASCII characters.
pub fn key_header(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(header) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let refuse = |why| ApiError::invalid("Idempotency-Key", why);
    let text = header
        .to_str()
        .map_err(|_| refuse("must be printable ASCII".to_owned()))?;
    IdempotencyKey::parse(text).map(Some).map_err(refuse)
}
