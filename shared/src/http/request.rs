//! Reading what a client sent. Every failure is a 4xx `ApiError` naming the field.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::AppState;
use crate::domain::ids::Refusal;
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

/// A path parameter, percent-decoded, parsed by `parse`. A value that cannot be what the path
/// names is a 400, not a 404.
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

/// Admin routes are IAM-authorized by API Gateway; the function checks again that the request
/// carries an IAM identity, unless the configuration opens admin for local development.
pub fn require_admin(state: &AppState, req: &Request) -> Result<(), ApiError> {
    if state.config.allow_unauthenticated_admin {
        return Ok(());
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx))
            if ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .is_some_and(|iam| iam.user_arn.is_some() || iam.caller_id.is_some()) =>
        {
            Ok(())
        }
        _ => Err(ApiError::Forbidden),
    }
}
