//! Bearer tokens that must never pass: what a broken client or an attacker sends. Each is a
//! real token, or something shaped like one, signed or not as its name says.

use std::sync::OnceLock;

use crate::issuer::{unix_now, LocalIssuer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::app::issuer;

/// An issuer nobody trusts: a key pair of its own (made once per test process).
pub fn foreign_issuer() -> &'static LocalIssuer {
    static FOREIGN: OnceLock<LocalIssuer> = OnceLock::new();
    FOREIGN.get_or_init(LocalIssuer::generate)
}

/// `(what, token)` for every way a token for `user` can be wrong. The kit's issuer (the one the
/// test apps trust) signs those whose fault is a claim.
pub fn refused_tokens(user: &str) -> Vec<(&'static str, String)> {
    let trusted = issuer();
    let now = unix_now();
    let claims = |changes: Value| {
        let mut claims = json!({
            "sub": user, "iss": trusted.issuer, "aud": trusted.audience,
            "iat": now, "nbf": now, "exp": now + 600,
        });
        for (k, v) in changes.as_object().expect("an object") {
            claims[k] = v.clone();
        }
        claims
    };
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims(json!({})))
    );
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(trusted.public_pem().as_bytes()),
    )
    .expect("an HS256 token");
    let mut tampered = trusted.token(user, 600);
    let payload = b64(claims(json!({"sub": "someone-else"})));
    let parts: Vec<&str> = tampered.split('.').collect();
    tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    vec![
        ("garbage", "not-a-token".to_owned()),
        ("three dots of nothing", "..".to_owned()),
        (
            "expired",
            trusted.sign(claims(json!({"exp": now - 3600, "nbf": now - 7200}))),
        ),
        (
            "not yet valid",
            trusted.sign(claims(json!({"nbf": now + 3600}))),
        ),
        (
            "from another issuer",
            trusted.sign(claims(json!({"iss": "https://evil.example"}))),
        ),
        (
            "for another audience",
            trusted.sign(claims(json!({"aud": "another-api"}))),
        ),
        (
            "without an expiry",
            trusted.sign(claims(json!({"exp": null}))),
        ),
        (
            "without a subject",
            trusted.sign(claims(json!({"sub": null}))),
        ),
        (
            "with a subject that is no user id",
            trusted.sign(claims(json!({"sub": "a b"}))),
        ),
        ("alg none", unsigned),
        ("HS256 signed with the public key", hs256),
        ("signed by another key", foreign_issuer().token(user, 600)),
        ("a claim changed after signing", tampered),
    ]
}
