//! Bearer tokens verified by the functions themselves, against the local issuer's published keys
//! (`LOCAL_JWKS_FILE`). Only where no API Gateway authorizer runs (`make dev`, the tests): the
//! template never sets the file, so in AWS the functions trust only the authorizer's claims
//! (`http::identity`).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::domain::UserId;
use crate::ApiError;

/// The local issuer's public keys, and what its tokens must say.
pub struct LocalJwks {
    keys: Vec<(Option<String>, DecodingKey)>,
    validation: Validation,
}

impl std::fmt::Debug for LocalJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|(kid, _)| kid).collect();
        f.debug_struct("LocalJwks").field("kids", &kids).finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl LocalJwks {
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub const LEEWAY_SECS: u64 = 5;

    /// The RSA keys of a JWKS document; tokens must come from `issuer` for `audience`.
    pub fn parse(jwks: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys = set
            .keys
            .iter()
            .map(|jwk| Ok((jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)?)))
            .collect::<Result<Vec<_>, jsonwebtoken::errors::Error>>()
            .map_err(|e| format!("a key of the JWKS is not usable: {e}"))?;
        if keys.is_empty() {
            return Err("the JWKS holds no key".to_owned());
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = Self::LEEWAY_SECS;
        Ok(Self { keys, validation })
    }

    /// The subject of a token this issuer signed, still valid, for this audience.
    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let invalid = |why| refused(why, true);
        let header = decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("the token is not signed with RS256"));
        }
        let key = match &header.kid {
            Some(kid) => self.keys.iter().find(|(k, _)| k.as_ref() == Some(kid)),
            None => self.keys.first().filter(|_| self.keys.len() == 1),
        };
        let (_, key) = key.ok_or(invalid("the token was signed by an unknown key"))?;
        let claims = decode::<Claims>(token, key, &self.validation).map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::InvalidAudience => "the token is for another audience",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            })
        })?;
        subject(&claims.claims.sub)
    }
}

/// The user a verified token's `sub` names (a `401` if it cannot be one).
pub(crate) fn subject(sub: &str) -> Result<UserId, ApiError> {
    UserId::parse(sub).map_err(|_| refused("the token's subject is not a valid user id", true))
}

/// A `401`: why, and whether a token was sent at all (RFC 6750's challenge differs).
pub(crate) fn refused(why: &'static str, token_sent: bool) -> ApiError {
    ApiError::Unauthenticated { why, token_sent }
}
