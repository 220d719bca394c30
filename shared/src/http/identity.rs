//! Who a request acts for. One place decides it, for every cart, purchase and order route.
//!
//! - `AUTH_MODE=jwt` (the default): API Gateway's JWT authorizer has verified the bearer token,
//!   and the function trusts only the claims it passes on (`requestContext.authorizer.jwt`). The
//!   acting user is the token's `sub`. Locally no authorizer runs, so a function configured with
//!   a local JWKS (`LOCAL_JWKS_FILE`, never set in the template) verifies the token itself:
//!   RS256 only, signature, `iss`, `aud`, `exp` and `nbf`.
//! - `AUTH_MODE=iam`: the routes are IAM-authorized for the shop's own backend, which names the
//!   user with `user_id`, as the original API's clients do.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::app::AppState;
use crate::config::AuthMode;
use crate::domain::UserId;
use crate::jwt::{refused, subject};
use crate::ApiError;

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// `jwt` mode: the verified token's subject.
    User(UserId),
    /// `iam` mode: a principal allowed to invoke the API, which names the user itself.
    Backend,
}

impl Caller {
    /// The user the request acts for, given the `user_id` it names (if any). A token's subject
    /// must be the named user (`403 user_mismatch`); the backend must name one.
    pub fn user(self, named: Option<UserId>) -> Result<UserId, ApiError> {
        match (self, named) {
            (Self::User(me), Some(named)) if named != me => Err(ApiError::UserMismatch),
            (Self::User(me), _) => Ok(me),
            (Self::Backend, Some(named)) => Ok(named),
            (Self::Backend, None) => Err(ApiError::invalid("user_id", "is required")),
        }
    }

    /// As [`Caller::user`], for a read of something whose id names its owner (a cart): the
    /// backend may leave the user out, and then acts for the owner (the original API's view of
    /// a cart names no user).
    pub fn user_or(self, named: Option<UserId>, owner: &UserId) -> Result<UserId, ApiError> {
        match (self, named) {
            (Self::Backend, None) => Ok(owner.clone()),
            (caller, named) => caller.user(named),
        }
    }
}

/// The caller of a cart, purchase or order route, or `401` / `403`.
pub fn authenticate(state: &AppState, req: &Request) -> Result<Caller, ApiError> {
    let auth = &state.config.auth;
    match (&auth.mode, &auth.local_jwks) {
        (AuthMode::Iam, _) => require_iam(state, req).map(|()| Caller::Backend),
        (AuthMode::Jwt, Some(keys)) => keys.verify(bearer_token(req)?).map(Caller::User),
        (AuthMode::Jwt, None) => authorizer_subject(req).map(Caller::User),
    }
}

/// IAM-authorized routes (admin, and the cart routes in `iam` mode): API Gateway checks the
/// signature; the function checks again that the request carries an IAM identity, unless the
/// configuration allows unsigned requests (local development only).
pub fn require_iam(state: &AppState, req: &Request) -> Result<(), ApiError> {
    if state.config.auth.allow_unsigned_requests {
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

/// The subject API Gateway's JWT authorizer verified. A request without it never went through
/// the authorizer: refused.
fn authorizer_subject(req: &Request) -> Result<UserId, ApiError> {
    let sub = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub")),
        _ => None,
    };
    let sub = sub.ok_or(refused("no verified token reached the function", false))?;
    subject(sub)
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or(refused("no bearer token was sent", false))?;
    let not_bearer = || refused("the Authorization header is not a bearer token", true);
    let text = header.to_str().map_err(|_| not_bearer())?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(not_bearer()),
    }
}

/// Whose admin keys: the IAM principal that signed the request (`local-admin` for an unsigned
/// one, which `require_iam` lets through only locally).
pub fn admin_principal(req: &Request) -> String {
    let iam = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.iam.clone())
        }
        _ => None,
    };
    iam.and_then(|iam| iam.user_arn.or(iam.caller_id))
        .unwrap_or_else(|| "local-admin".to_owned())
}
