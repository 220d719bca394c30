//! `POST /api/v1/cart/merge` (signed in) `{"guest_cart_id", "guest_token", "mode"}`: the guest's
//! cart met with the user's at sign-in, never silently: `merge` (the default: the guest's lines
//! added, quantities summed), `replace` (the guest's lines become the user's cart), `keep` (the
//! guest's cart discarded). One transaction: the guest's cart gone, the user's written, held
//! units moved without passing through the stock, what does not fit given back and reported
//! (`merged`, `capped`, `dropped`, with why). A guest cart that is not the token's guest's is
//! `404`, as for any cart. The rule: `shared::domain::merge`; the loop:
//! `shared::app::carts::merge`.

use lambda_http::Request;
use shared::app::{carts, AppState};
use shared::domain::merge::MergeMode;
use shared::domain::{CartId, GuestToken};
use shared::http::{key_header, optional_field, reply, Endpoint, HandlerResult, UserCall};
use shared::ApiError;

pub struct MergeCart;

impl Endpoint for MergeCart {
    const NAME: &'static str = "merge-cart";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = UserCall::parse(state, &req)?;
        let body = &call.body;
        let text = |v: &serde_json::Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or("must be a string".to_owned())
        };
        let guest_cart = optional_field(body, "guest_cart_id", text)?
            .ok_or_else(|| ApiError::invalid("guest_cart_id", "is required"))?;
        let token = optional_field(body, "guest_token", text)?
            .ok_or_else(|| ApiError::invalid("guest_token", "is required"))?;
        let mode = optional_field(body, "mode", |v| match v.as_str() {
            Some(name) => MergeMode::parse(name),
            None => Err("must be merge, replace or keep".to_owned()),
        })?
        .unwrap_or(MergeMode::Merge);
        let key = key_header(&req)?;
        // A cart id or a token that cannot be a guest's names no guest's cart: `404`, as any.
        let guest_cart = CartId::parse(&guest_cart).map_err(|_| ApiError::CartNotFound)?;
        let token = GuestToken::parse(&token).map_err(|_| ApiError::CartNotFound)?;
        if token.guest() != *guest_cart.owner() {
            return Err(ApiError::CartNotFound);
        }
        reply(carts::merge(state, &call.user, &guest_cart, mode, key.as_ref()).await?)
    }
}
