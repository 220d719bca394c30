//! Idempotency keys: one effect per key. A key belongs to its caller (a user, or an admin
//! principal: the same key from two callers is two keys), binds the request as the client sent
//! it (its [`Fingerprint`]), lives [`KEY_LIFETIME_SECS`], and answers a repeat with the first
//! answer, byte for byte. A rejection binds nothing. The record of a key is written in the same
//! transaction as the change it answers for (`store::idempotency`), so neither exists without
//! the other. A purchase's key has no record of its own: the order it bought is named by it
//! (`OrderId::of_key`) and is its record (`store::orders`), for as long as the order exists. A
//! user's key keeps the record of a cart write in that same place, so it binds one request
//! whatever the kind of write.

use std::fmt::Display;

use super::{IdempotencyKey, OrderId, UserId};

/// How long a key stays bound to its request, in seconds (a purchase key: while its order is).
pub const KEY_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// Whose key: a user's (the cart and purchase routes) or an admin principal's (the catalog
/// admin routes, by IAM user ARN or caller id).
#[derive(Clone, Copy, Debug)]
pub enum KeyScope<'a> {
    User(&'a UserId),
    Admin(&'a str),
}

impl KeyScope<'_> {
    /// The record's key: the scope, then the key. User ids and IAM principals never hold a
    /// `#`, so two scopes never share a record.
    pub fn record_key(&self, key: &IdempotencyKey) -> String {
        match self {
            Self::User(user) => format!("{USER_SCOPE}{user}#{}", key.as_str()),
            Self::Admin(principal) => format!("admin#{principal}#{}", key.as_str()),
        }
    }
}

const USER_SCOPE: &str = "user#";

/// The order a key may buy, by the key's record key: a user's key names one
/// (`OrderId::of_key`), and keeps its record in that order's place whatever it is used for, so
/// that one key binds one request across purchases and cart writes; an admin principal's key
/// buys nothing.
pub fn order_of_key(record_key: &str) -> Option<OrderId> {
    record_key
        .starts_with(USER_SCOPE)
        .then(|| OrderId::of_key(record_key))
}

/// A request as the client sent it: the operation and every parameter that decides its
/// effect. The same key with another fingerprint is `422 idempotency_key_reused`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(operation: &str, parts: &[&dyn Display]) -> Self {
        let mut text = operation.to_owned();
        for part in parts {
            text.push(' ');
            text.push_str(&part.to_string());
        }
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key answered, as a replay needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The request the key is bound to.
    pub request: String,
    pub status: u16,
    /// The answer's body, byte for byte.
    pub body: String,
    /// The version its `ETag` named, if it had one.
    pub version: Option<u64>,
}

impl Receipt {
    /// A key replays only the request it is bound to.
    pub fn answers(&self, request: &Fingerprint) -> bool {
        self.request == request.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_its_callers_and_answers_only_the_request_it_bound() {
        let key = IdempotencyKey::parse("k").unwrap();
        let alice = UserId::parse("alice").unwrap();
        let records = [
            KeyScope::User(&alice).record_key(&key),
            KeyScope::Admin("alice").record_key(&key),
        ];
        assert_ne!(records[0], records[1]);
        assert!(order_of_key(&records[0]).is_some(), "a user's key may buy");
        assert_eq!(order_of_key(&records[1]), None, "an admin's never does");

        let request = Fingerprint::of("purchase", &[&"cart-1", &"if-match=3"]);
        let receipt = Receipt {
            request: request.as_str().to_owned(),
            status: 200,
            body: "{}".to_owned(),
            version: None,
        };
        assert!(receipt.answers(&request));
        for other in [
            Fingerprint::of("purchase", &[&"cart-2", &"if-match=3"]),
            Fingerprint::of("purchase", &[&"cart-1", &"if-match=4"]),
            Fingerprint::of("add", &[&"cart-1", &"if-match=3"]),
        ] {
            assert!(!receipt.answers(&other), "{other:?}");
        }
    }
}
