//! The discount codes' admin routes (IAM only), one function for the three:
//!
//! - `POST /api/v1/admin/discounts`: a new code (`code`, case-insensitive, 3 to 32 of
//!   `A-Z 0-9 - _`), with exactly one of `percent_off` (1 to 100) or `amount_off` (minor
//!   units), and optionally `min_subtotal`, `starts_at`, `ends_at`, `max_uses`,
//!   `max_uses_per_customer` and `active` (default `true`). `409 discount_exists` if taken.
//! - `PATCH /api/v1/admin/discounts/{code}`: changes its terms (`null` removes an optional one;
//!   `percent_off` or `amount_off` replaces the other; `"active": false` deactivates it), never
//!   its uses. With `If-Match`, only at that version.
//! - `GET /api/v1/admin/discounts/{code}`: the code, with its `uses`.
//!
//! Writes are keyed like the item writes (an `Idempotency-Key` scoped to the admin principal):
//! one `BatchGetItem` (the key's record, the code), then one transaction of the code and the
//! record (`shared::app::discounts`). Without a key, a create is one transaction, a change two
//! requests.

use lambda_http::Request;
use serde_json::Value;
use shared::app::{discounts, AppState};
use shared::domain::discount::{money_from_json, time_from_json, uses_from_json};
use shared::domain::{Discount, DiscountChange, DiscountCode, Off};
use shared::http::Fields;
use shared::http::{
    if_match, optional_field, path_param, reply, required_field, AdminCall, Endpoint, HandlerResult,
};
use shared::ApiError;

pub struct AdminDiscounts;

impl Endpoint for AdminDiscounts {
    const NAME: &'static str = "admin-discounts";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = AdminCall::parse(state, &req)?;
        let key = call.key.as_ref();
        let principal = &call.principal;
        match req.method().as_str() {
            "POST" => {
                reply(discounts::create(state, principal, &new_code(&call.body)?, key).await?)
            }
            "PATCH" => {
                let code = path_param(&req, "code", DiscountCode::parse)?;
                let change = change(&call.body)?;
                let seen = if_match(&req)?;
                reply(discounts::update(state, principal, &code, &change, seen, key).await?)
            }
            "GET" => {
                let code = path_param(&req, "code", DiscountCode::parse)?;
                reply(discounts::get(state, &code).await?)
            }
            _ => Err(ApiError::RouteNotFound),
        }
    }
}

/// A member that may be absent or `null` (both: unset).
fn nullable<T>(
    body: &Fields,
    name: &str,
    parse: impl FnOnce(&Value) -> Result<T, String>,
) -> Result<Option<Option<T>>, ApiError> {
    optional_field(body, name, |v| match v {
        Value::Null => Ok(None),
        v => parse(v).map(Some),
    })
}

/// `percent_off` or `amount_off`: at most one (`None`: neither sent).
fn off(body: &Fields) -> Result<Option<Off>, ApiError> {
    let percent = optional_field(body, "percent_off", Off::percent_from_json)?;
    let amount = optional_field(body, "amount_off", Off::amount_from_json)?;
    match (percent, amount) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "amount_off",
            "cannot be combined with percent_off",
        )),
        (percent, amount) => Ok(percent.or(amount)),
    }
}

fn active(body: &Fields) -> Result<Option<bool>, ApiError> {
    optional_field(body, "active", |v| {
        v.as_bool()
            .ok_or_else(|| "must be true or false".to_owned())
    })
}

fn new_code(body: &Fields) -> Result<Discount, ApiError> {
    let code = required_field(body, "code", DiscountCode::from_json)?;
    let off =
        off(body)?.ok_or_else(|| ApiError::invalid("percent_off", "or amount_off is required"))?;
    let discount = Discount {
        code,
        off,
        min_subtotal: nullable(body, "min_subtotal", money_from_json)?.flatten(),
        starts_at: nullable(body, "starts_at", time_from_json)?.flatten(),
        ends_at: nullable(body, "ends_at", time_from_json)?.flatten(),
        max_uses: nullable(body, "max_uses", uses_from_json)?.flatten(),
        max_uses_per_customer: nullable(body, "max_uses_per_customer", uses_from_json)?.flatten(),
        active: active(body)?.unwrap_or(true),
        uses: 0,
        version: 0,
    };
    match discount.window_ok() {
        true => Ok(discount),
        false => Err(ApiError::invalid("ends_at", "must be after starts_at")),
    }
}

fn change(body: &Fields) -> Result<DiscountChange, ApiError> {
    let change = DiscountChange {
        off: off(body)?,
        min_subtotal: nullable(body, "min_subtotal", money_from_json)?,
        starts_at: nullable(body, "starts_at", time_from_json)?,
        ends_at: nullable(body, "ends_at", time_from_json)?,
        max_uses: nullable(body, "max_uses", uses_from_json)?,
        max_uses_per_customer: nullable(body, "max_uses_per_customer", uses_from_json)?,
        active: active(body)?,
    };
    match change.is_empty() {
        true => Err(ApiError::invalid(
            "body",
            "must set at least one of percent_off, amount_off, min_subtotal, starts_at, \
             ends_at, max_uses, max_uses_per_customer and active",
        )),
        false => Ok(change),
    }
}
