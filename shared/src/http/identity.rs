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
use crate::config::{AdminPrincipals, AuthMode};
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

/// The caller of an admin route: an IAM principal (`require_iam`: `403` without one) that the
/// allow-list admits when one is configured (`ADMIN_PRINCIPALS`, [`admits`]; `403 forbidden`
/// otherwise, before anything is read or written). The principal is whose admin keys these are:
/// its `userArn`, else its caller id, else `local-admin` for an unsigned request, which
/// `require_iam` lets through only locally (and which an allow-list must then name).
pub fn admin_principal(state: &AppState, req: &Request) -> Result<String, ApiError> {
    require_iam(state, req)?;
    let iam = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.iam.clone())
        }
        _ => None,
    };
    let (user_arn, caller_id) = iam.map_or((None, None), |iam| (iam.user_arn, iam.caller_id));
    let principal =
        (user_arn.clone().or_else(|| caller_id.clone())).unwrap_or_else(|| LOCAL_ADMIN.to_owned());
    match &state.config.auth.admin_principals {
        None => Ok(principal),
        Some(list)
            if admits(
                list,
                user_arn.as_deref().unwrap_or(&principal),
                caller_id.as_deref(),
            ) =>
        {
            Ok(principal)
        }
        Some(_) => {
            tracing::warn!(
                principal,
                "an admin call from a principal ADMIN_PRINCIPALS does not name"
            );
            Err(ApiError::Forbidden)
        }
    }
}

/// Who an unsigned admin call is (local development only).
const LOCAL_ADMIN: &str = "local-admin";

/// Whether the allow-list names the caller: an entry equal to the request's IAM `userArn` or to
/// its caller id; or an IAM role's ARN (`arn:P:iam::A:role/[path/]N`), which admits every session
/// of that role (`userArn` `arn:P:sts::A:assumed-role/N/<session>`: a backend on Lambda, ECS or
/// EC2 calls with a new session name each time). Exact, case-sensitive text otherwise: no
/// wildcards (`AdminPrincipals::parse` refuses them).
pub fn admits(list: &AdminPrincipals, user_arn: &str, caller_id: Option<&str>) -> bool {
    list.entries().iter().any(|entry| {
        entry == user_arn
            || Some(entry.as_str()) == caller_id
            || role_session_of(entry).is_some_and(|prefix| {
                user_arn
                    .strip_prefix(&prefix)
                    .is_some_and(|session| !session.is_empty() && !session.contains('/'))
            })
    })
}

/// `arn:P:iam::A:role/[path/]N` -> `arn:P:sts::A:assumed-role/N/`: the start of the `userArn`
/// of that role's sessions.
fn role_session_of(entry: &str) -> Option<String> {
    let mut parts = entry.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "iam" || !region.is_empty() || account.is_empty() {
        return None;
    }
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (!name.is_empty()).then(|| format!("arn:{partition}:sts::{account}:assumed-role/{name}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &str) -> AdminPrincipals {
        AdminPrincipals::parse(entries).unwrap().unwrap()
    }

    const ROLE_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/catalog-admin/ops-laptop";

    #[test]
    fn an_entry_admits_the_exact_user_arn_or_caller_id() {
        let user = "arn:aws:iam::123456789012:user/ops";
        let allowed = list(&format!("{user},AROAEXAMPLE:backend"));

        assert!(admits(&allowed, user, Some("AIDAOPS")));
        assert!(admits(&allowed, ROLE_SESSION, Some("AROAEXAMPLE:backend")));
        assert!(!admits(
            &allowed,
            "arn:aws:iam::123456789012:user/dev",
            Some("AIDADEV")
        ));
        assert!(
            !admits(&allowed, "arn:aws:iam::123456789012:user/OPS", None),
            "case matters"
        );
        assert!(!admits(
            &allowed,
            "arn:aws:iam::123456789012:user/ops2",
            None
        ));
    }

    #[test]
    fn a_role_arn_admits_every_session_of_that_role_and_no_other_role() {
        for role in [
            "arn:aws:iam::123456789012:role/catalog-admin",
            "arn:aws:iam::123456789012:role/team/ops/catalog-admin",
        ] {
            let allowed = list(role);

            assert!(admits(&allowed, ROLE_SESSION, None), "{role}");
            for other in [
                "arn:aws:sts::123456789012:assumed-role/catalog-admin-2/s",
                "arn:aws:sts::210987654321:assumed-role/catalog-admin/s",
                "arn:aws-cn:sts::123456789012:assumed-role/catalog-admin/s",
                "arn:aws:sts::123456789012:assumed-role/catalog-admin/",
                "arn:aws:sts::123456789012:assumed-role/shop-backend/catalog-admin",
                "arn:aws:iam::123456789012:user/catalog-admin",
            ] {
                assert!(!admits(&allowed, other, None), "{role} admits {other}");
            }
        }
    }

    #[test]
    fn only_an_iam_role_arn_stands_for_its_sessions() {
        for entry in [
            "arn:aws:iam::123456789012:user/catalog-admin",
            "arn:aws:iam::123456789012:group/catalog-admin",
            "arn:aws:iam:us-east-1:123456789012:role/catalog-admin",
            "arn:aws:sts::123456789012:role/catalog-admin",
            "AROAEXAMPLE",
        ] {
            assert_eq!(role_session_of(entry), None, "{entry}");
        }
    }
}
