//! `PUT /api/v1/cart/{cart_id}/discount` with `{"code"}`: puts a discount code on the caller's
//! cart, checked as it is now (`404 discount_not_found`; `409 discount_not_applicable` with the
//! `reason`: `not_started`, `ended`, `inactive`, `exhausted`, `below_min_subtotal`,
//! `customer_limit_reached`). `DELETE` takes it off. Both answer the cart, which shows
//! `subtotal`, `discount` (`code`, `amount`) and `total`.
//!
//! PUT: one `BatchGetItem` (the cart, the code, the customer's uses of it), then one conditional
//! update of the cart. DELETE: one read, one conditional update. Both are idempotent by what
//! they are (the same code again is the same cart). The loops: `shared::app::discounts`.

use lambda_http::Request;
use shared::app::{discounts, AppState};
use shared::domain::DiscountCode;
use shared::http::{reply, required_field, CartCall, Endpoint, HandlerResult};
use shared::ApiError;

pub struct CartDiscount;

impl Endpoint for CartDiscount {
    const NAME: &'static str = "cart-discount";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = CartCall::change(state, &req)?;
        match req.method().as_str() {
            "PUT" => {
                let code = required_field(&call.body, "code", DiscountCode::from_json)?;
                reply(discounts::put_on_cart(state, &call.cart, &code).await?)
            }
            "DELETE" => reply(discounts::take_off_cart(state, &call.cart).await?),
            _ => Err(ApiError::RouteNotFound),
        }
    }
}
