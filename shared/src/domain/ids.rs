//! Identifiers and small values parsed at the edge: once built, they are valid.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::MAX_SAFE_INTEGER;

/// Why a value was refused; the caller adds the field's name.
pub type Refusal = String;

/// Reads a positive integer id up to 2^53-1 from a JSON integer or a string of ASCII digits
/// (the original API's clients send `"42"`). Floats, booleans, signs and zero are refused.
fn positive_id(value: &Value) -> Result<u64, Refusal> {
    const RULE: &str = "must be a positive integer up to 9007199254740991";
    let n = match value {
        Value::Number(n) => n.as_u64().ok_or_else(|| RULE.to_owned())?,
        Value::String(s) => parse_digits(s).ok_or_else(|| RULE.to_owned())?,
        _ => return Err(RULE.to_owned()),
    };
    if (1..=MAX_SAFE_INTEGER).contains(&n) {
        Ok(n)
    } else {
        Err(RULE.to_owned())
    }
}

/// ASCII digits only, at most 16 of them (no sign, no spaces, no exponent).
pub(crate) fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            pub fn from_json(value: &Value) -> Result<Self, Refusal> {
                positive_id(value).map(Self)
            }

            /// Parses a path or query segment: digits only.
            pub fn parse(s: &str) -> Result<Self, Refusal> {
                Self::from_json(&Value::String(s.to_owned()))
            }

            /// For values that come from storage, already valid when written.
            pub fn new(n: u64) -> Option<Self> {
                (1..=MAX_SAFE_INTEGER).contains(&n).then_some(Self(n))
            }

            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u64(self.0)
            }
        }
    };
}

integer_id!(
    /// A catalog entry.
    ItemId
);

/// A shopper: 1 to 128 characters of `A-Z a-z 0-9 . _ : @ | + -` (a Cognito `sub` is a UUID).
/// The original API's integer ids are accepted as JSON integers and mean the same user as their
/// decimal string (`42` is `"42"`). No `#`, so `{user}#{key}` is unambiguous.
///
/// A guest is a shopper too, named by the hash of their guest token: `guest:` and 64 hex digits
/// ([`GuestToken::guest`]). No client names a guest: `guest:` is refused in what a request or a
/// token says ([`UserId::parse`]), and only ids read back from a cart id or from storage may be
/// one ([`UserId::parse_any`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;
    const RULE: &'static str =
        "must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ | + - (or a positive integer)";

    /// A path, query or token value: a user's id (never a guest's).
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let id = Self::parse_any(s)?;
        match id.is_guest() {
            true => Err(format!("must not begin with {GUEST_PREFIX} (guests' ids)")),
            false => Ok(id),
        }
    }

    /// A user's or a guest's id, as a cart id or the storage holds it.
    pub fn parse_any(s: &str) -> Result<Self, Refusal> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:@|+-".contains(&b);
        if (1..=Self::MAX_LEN).contains(&s.len()) && s.bytes().all(allowed) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Self::RULE.to_owned())
        }
    }

    /// A guest's id, not a signed-in user's.
    pub fn is_guest(&self) -> bool {
        self.0.starts_with(GUEST_PREFIX)
    }

    /// A body member: a string as `parse` takes it, or a positive JSON integer.
    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) => Self::parse(s),
            Value::Number(_) => positive_id(value)
                .map(|n| Self(n.to_string()))
                .map_err(|_| Self::RULE.to_owned()),
            _ => Err(Self::RULE.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The prefix of a guest's id.
const GUEST_PREFIX: &str = "guest:";

/// A guest's secret: 32 bytes (244 random bits), base64url (43 characters), shown to the guest
/// once at the creation of their cart and stored nowhere: the guest's id is its SHA-256
/// ([`GuestToken::guest`]), so the cart it names is found by the token, and the token cannot be
/// read back from the cart.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestToken(String);

impl GuestToken {
    /// A new token: two v4 UUIDs from the operating system's generator, 244 random bits.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client sends it; anything else is no token of ours.
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let ok = s.len() == 43 && URL_SAFE_NO_PAD.decode(s).is_ok_and(|b| b.len() == 32);
        ok.then(|| Self(s.to_owned()))
            .ok_or_else(|| "is not a guest token".to_owned())
    }

    /// The guest this token makes: `guest:` and the SHA-256 of the token, in hex.
    pub fn guest(&self) -> UserId {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        UserId(format!("{GUEST_PREFIX}{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GuestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestToken(..)")
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// How many units of an item a cart line asks for: 1..=10,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 10_000;
    const RULE: &'static str = "must be an integer from 1 to 10000";

    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        value
            .as_u64()
            .filter(|n| (1..=u64::from(Self::MAX)).contains(n))
            .map(|n| Self(n as u32))
            .ok_or_else(|| Self::RULE.to_owned())
    }

    pub fn new(n: u64) -> Option<Self> {
        (1..=u64::from(Self::MAX))
            .contains(&n)
            .then_some(Self(n as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A cart's public id: opaque, unguessable and stable for the user's one cart.
///
/// It carries a random v4 UUID (the cart's secret token) and the owner, encoded together in
/// URL-safe base64 (the 16 token bytes, then the owner's characters): 24 characters plus about
/// 4 per 3 characters of the owner. The owner part lets every cart operation address the cart by
/// its owner in one request; the token is what makes the id impossible to guess.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CartId {
    owner: UserId,
    token: Uuid,
}

impl CartId {
    pub const RULE: &'static str = "is not a cart id";
    /// The longest id: 16 token bytes and a 128-character owner, in base64url.
    pub const MAX_LEN: usize = (16 + UserId::MAX_LEN).div_ceil(3) * 4;

    pub fn new(owner: UserId, token: Uuid) -> Self {
        Self { owner, token }
    }

    /// A new cart id with a fresh random token.
    pub fn generate(owner: UserId) -> Self {
        Self::new(owner, Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let refuse = || Self::RULE.to_owned();
        if s.len() > Self::MAX_LEN {
            return Err(refuse());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| refuse())?;
        let (token, owner) = bytes.split_at_checked(16).ok_or_else(refuse)?;
        let owner = std::str::from_utf8(owner).map_err(|_| refuse())?;
        let owner = UserId::parse_any(owner).map_err(|_| refuse())?;
        let token = Uuid::from_slice(token).map_err(|_| refuse())?;
        if token.get_version_num() != 4 {
            return Err(refuse());
        }
        let id = Self { owner, token };
        // Only the canonical spelling is accepted, so one cart has exactly one id.
        (id.to_string() == s).then_some(id).ok_or_else(refuse)
    }

    pub fn owner(&self) -> &UserId {
        &self.owner
    }

    pub fn token(&self) -> Uuid {
        self.token
    }
}

impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(16 + self.owner.0.len());
        bytes.extend_from_slice(self.token.as_bytes());
        bytes.extend_from_slice(self.owner.0.as_bytes());
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl Serialize for CartId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An order's id: a UUID in its hyphenated form. A purchase's order is named by the key that
/// bought it (see [`OrderId::of_key`]), so the order doubles as the key's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderId(Uuid);

impl OrderId {
    /// The id of the order bought with the idempotency key whose record key is `record_key`
    /// (`KeyScope::record_key`): a v8 UUID of its SHA-256, the same on every try and on every
    /// instance, different for every caller and key. Knowing it gives nothing: an order is shown
    /// to its owner only.
    pub fn of_key(record_key: &str) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(b"order\0")
            .chain_update(record_key.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let refuse = || "is not an order id".to_owned();
        if s.len() != 36 {
            return Err(refuse());
        }
        let id = Uuid::try_parse(s).map_err(|_| refuse())?;
        (id.hyphenated().to_string() == s)
            .then_some(Self(id))
            .ok_or_else(refuse)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A client's idempotency key: 1..=255 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, Refusal> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err("must be 1 to 255 printable ASCII characters".to_owned());
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err("must contain only printable ASCII characters".to_owned());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A payment's reference at the shop's payment provider (a Stripe PaymentIntent id, say):
/// 1..=255 printable ASCII characters, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PaymentReference(String);

impl PaymentReference {
    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        let rule = || "must be 1 to 255 printable ASCII characters without spaces".to_owned();
        let text = value.as_str().ok_or_else(rule)?;
        let fits = (1..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        fits.then(|| Self(text.to_owned())).ok_or_else(rule)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_guest_is_named_by_its_tokens_hash_and_no_request_can_name_one() {
        let token = GuestToken::generate();
        let guest = token.guest();
        assert!(guest.is_guest());
        assert_eq!(guest.as_str().len(), 6 + 64);
        assert_eq!(GuestToken::parse(token.as_str()).unwrap().guest(), guest);
        assert_ne!(GuestToken::generate().guest(), guest, "tokens are random");
        assert!(
            UserId::parse(guest.as_str()).is_err(),
            "no request names a guest"
        );
        assert!(UserId::from_json(&json!(guest.as_str())).is_err());
        assert_eq!(UserId::parse_any(guest.as_str()), Ok(guest.clone()));
        // A guest's cart id reads back with its guest.
        let cart = CartId::generate(guest.clone());
        assert_eq!(CartId::parse(&cart.to_string()).unwrap().owner(), &guest);
        for bad in [
            "",
            "x",
            &"a".repeat(43),
            &"é".repeat(22),
            &format!("{}=", token.as_str()),
        ] {
            assert!(GuestToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn payment_references_are_printable_words() {
        assert!(PaymentReference::from_json(&json!("pi_3MtwBwLkdIwHu7ix28a3tqPa")).is_ok());
        for bad in [
            json!(""),
            json!("a b"),
            json!("é"),
            json!(7),
            json!("x".repeat(256)),
        ] {
            assert!(PaymentReference::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_are_opaque_strings_or_the_original_positive_integers() {
        let accepted = [
            (
                json!("f81d4fae-7dec-41d0-a765-00a0c91e6bf6"),
                "f81d4fae-7dec-41d0-a765-00a0c91e6bf6",
            ),
            (json!("alice@example.com"), "alice@example.com"),
            (
                json!("auth0|5f7c8ec7c33c6c004bbafe82"),
                "auth0|5f7c8ec7c33c6c004bbafe82",
            ),
            (json!("a.b_c:d+e-f"), "a.b_c:d+e-f"),
            (json!("42"), "42"),
            (json!(42), "42"),
            (json!(MAX_SAFE_INTEGER), "9007199254740991"),
            (json!("u".repeat(128)), &*"u".repeat(128)),
        ];
        for (value, text) in accepted {
            let user = UserId::from_json(&value);
            assert_eq!(user.as_ref().map(UserId::as_str), Ok(text), "{value}");
        }
        let refused = [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!(true),
            json!(null),
            json!(""),
            json!("4 2"),
            json!("a#b"),
            json!("caf\u{e9}"),
            json!("a/b"),
            json!("u".repeat(129)),
            json!(MAX_SAFE_INTEGER + 1),
            json!([1]),
            json!({"id": 1}),
        ];
        for value in refused {
            assert!(
                UserId::from_json(&value).is_err(),
                "{value} should be refused"
            );
        }
    }

    #[test]
    fn quantities_are_integers_from_one_to_ten_thousand() {
        assert!(Quantity::from_json(&json!(1)).is_ok());
        assert!(Quantity::from_json(&json!(10_000)).is_ok());
        for value in [json!(0), json!(10_001), json!(2.0), json!("3"), json!(-2)] {
            assert!(
                Quantity::from_json(&value).is_err(),
                "{value} should be refused"
            );
        }
    }

    #[test]
    fn a_cart_id_round_trips_through_its_text_form() {
        for owner in [
            "42",
            "f81d4fae-7dec-41d0-a765-00a0c91e6bf6",
            &"u".repeat(128),
        ] {
            let id = CartId::generate(UserId::parse(owner).unwrap());
            let text = id.to_string();
            assert!(text.len() <= CartId::MAX_LEN, "{text}");
            assert_eq!(CartId::parse(&text), Ok(id));
        }
    }

    #[test]
    fn cart_ids_that_cannot_be_ids_are_refused() {
        let token = *Uuid::new_v4().as_bytes();
        let with_owner = |owner: &[u8]| URL_SAFE_NO_PAD.encode([&token[..], owner].concat());
        let (no_owner, bad_owner) = (with_owner(b""), with_owner(b"a#b"));
        let long_owner = with_owner(&[b'u'; 129]);
        let nil_token = URL_SAFE_NO_PAD.encode([[0u8; 16].as_slice(), b"42"].concat());
        for text in [
            "",
            "abc",
            "not-a-cart-id-at-all-0000000000!",
            &no_owner,
            &bad_owner,
            &long_owner,
            &nil_token,
        ] {
            assert!(CartId::parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn a_keys_order_id_is_the_same_on_every_try_and_another_for_every_other_key() {
        let id = OrderId::of_key("user#7#k");
        assert_eq!(OrderId::of_key("user#7#k"), id);
        assert_eq!(OrderId::parse(&id.to_string()), Ok(id));
        assert_eq!(id.0.get_version_num(), 8);
        for other in ["user#8#k", "user#7#k2", "admin#7#k", ""] {
            assert_ne!(OrderId::of_key(other), id, "{other:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("tab\there").is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}").is_err());
    }
}
