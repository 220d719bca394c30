//! What every handler reads first, said once: who calls (authenticated), the resource the path
//! names, the body, and the `Idempotency-Key`. A handler starts from one of these and reads as
//! its rule.

use lambda_http::Request;

use super::identity::{admin_principal, authenticate, require_iam};
use super::request::{cart_in_path, json_object, key_header, named_user, Fields};
use crate::app::AppState;
use crate::config::AuthMode;
use crate::domain::{CartId, GuestToken, IdempotencyKey, UserId};
use crate::ApiError;

/// A call on a cart: the caller authenticated (`401`/`403` otherwise), the cart the path names
/// (a segment that cannot be a cart id is `404`), the body as a JSON object, the user the call
/// acts for (the token's; in `iam` mode the one the request names), and the key header.
#[derive(Debug)]
pub struct CartCall {
    pub cart: CartId,
    pub user: UserId,
    pub body: Fields,
    pub key: Option<IdempotencyKey>,
}

impl CartCall {
    /// A change of the caller's own cart (add, set, remove): someone else's cart is `404`,
    /// exactly as one that does not exist.
    pub fn change(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        Self::parse(state, req, false)?.owned()
    }

    /// A view of the caller's own cart: as [`CartCall::change`], except that in `iam` mode the
    /// backend may leave the user out and then acts for the cart's owner (the original API's
    /// view of a cart names no user).
    pub fn view(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        Self::parse(state, req, true)?.owned()
    }

    /// A purchase: the owner is checked by the purchase itself, after its key (a used key
    /// answers, or is `422`, whatever cart it is sent with).
    pub fn purchase(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        Self::parse(state, req, false)
    }

    fn parse(state: &AppState, req: &Request, owner_by_default: bool) -> Result<Self, ApiError> {
        let caller = authenticate(state, req)?;
        let cart = cart_in_path(req)?;
        let body = json_object(req)?;
        let named = named_user(req, &body)?;
        let user = match owner_by_default {
            true => caller.user_or(named, cart.owner())?,
            false => caller.user(named)?,
        };
        let key = key_header(req)?;
        Ok(Self {
            cart,
            user,
            body,
            key,
        })
    }

    fn owned(self) -> Result<Self, ApiError> {
        match self.cart.owner() == &self.user {
            true => Ok(self),
            // Someone else's cart, or none: the same answer either way.
            false => Err(ApiError::CartNotFound),
        }
    }
}

/// A call on a guest's cart (no sign-in): the cart the path names, the `Guest-Token` header (a
/// missing one is `401`; one that is not this cart's guest's is `404`, exactly as a cart that
/// does not exist, or another guest's), the body and the key header. In `iam` mode the shop's
/// backend calls, holding its visitor's token: the request must carry an IAM identity too.
#[derive(Debug)]
pub struct GuestCall {
    pub cart: CartId,
    pub body: Fields,
    pub key: Option<IdempotencyKey>,
}

impl GuestCall {
    pub fn parse(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        if state.config.auth.mode == AuthMode::Iam {
            require_iam(state, req)?;
        }
        let token = guest_token(req)?;
        let cart = cart_in_path(req)?;
        let body = json_object(req)?;
        let key = key_header(req)?;
        match token.is_some_and(|token| token.guest() == *cart.owner()) {
            true => Ok(Self { cart, body, key }),
            false => Err(ApiError::CartNotFound),
        }
    }
}

/// The `Guest-Token` header: `401` without one; `None` for one that cannot be a guest token
/// (no cart is that guest's: `404` follows).
fn guest_token(req: &Request) -> Result<Option<GuestToken>, ApiError> {
    let header = req
        .headers()
        .get("guest-token")
        .ok_or(ApiError::Unauthenticated {
            why: "no guest token was sent",
            token_sent: false,
        })?;
    Ok(header
        .to_str()
        .ok()
        .and_then(|t| GuestToken::parse(t.trim()).ok()))
}

/// A call that acts for a user (their cart's creation, their orders): the caller authenticated,
/// the body, and the user (the token's; in `iam` mode the one the request names).
#[derive(Debug)]
pub struct UserCall {
    pub user: UserId,
    pub body: Fields,
}

impl UserCall {
    pub fn parse(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        let caller = authenticate(state, req)?;
        let body = json_object(req)?;
        let user = caller.user(named_user(req, &body)?)?;
        Ok(Self { user, body })
    }
}

/// A catalog admin's call (IAM only, and from a principal of `ADMIN_PRINCIPALS` when that is
/// set; `403` otherwise): the principal that signed it (whose keys these are), the body and the
/// key header.
#[derive(Debug)]
pub struct AdminCall {
    pub principal: String,
    pub body: Fields,
    pub key: Option<IdempotencyKey>,
}

impl AdminCall {
    pub fn parse(state: &AppState, req: &Request) -> Result<Self, ApiError> {
        Ok(Self {
            principal: admin_principal(state, req)?,
            body: json_object(req)?,
            key: key_header(req)?,
        })
    }
}
