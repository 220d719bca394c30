//! A completed purchase.

use serde::Serialize;

use super::{CartId, ItemId, OrderId, Price, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub item_id: ItemId,
    pub name: String,
    pub quantity: u64,
    pub unit_price: Price,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub cart_id: CartId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl Order {
    /// Where the order sits in its user's history: by creation time, then id.
    pub fn position(&self) -> String {
        format!("{}#{}", self.created_at, self.id)
    }
}

/// One page of a user's orders, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdersPage {
    pub orders: Vec<Order>,
    /// The last order's position, when more follow.
    pub next: Option<String>,
}

/// A validated request for a page of the caller's orders (`limit`, `cursor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdersQuery {
    pub limit: u32,
    /// The position of the last order the previous page showed.
    pub after: Option<String>,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;
const ORDERS_CURSOR_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

impl OrdersQuery {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// Parses `limit` and `cursor`; a cursor must be one this user's history issued.
    pub fn parse<'a>(
        param: impl Fn(&str) -> Option<&'a str>,
        user: &UserId,
        secret: &[u8],
    ) -> Result<Self, (&'static str, super::ids::Refusal)> {
        let limit = match param("limit") {
            None => Self::DEFAULT_LIMIT,
            Some(s) => super::ids::parse_digits(s)
                .filter(|n| (1..=u64::from(Self::MAX_LIMIT)).contains(n))
                .map(|n| n as u32)
                .ok_or(("limit", "must be an integer from 1 to 100".to_owned()))?,
        };
        let after = match param("cursor") {
            None => None,
            Some(text) => Some(
                open(text, user, secret)
                    .ok_or(("cursor", "is not a cursor of this user's orders".to_owned()))?,
            ),
        };
        Ok(Self { limit, after })
    }

    /// The cursor's text: the position, sealed with an HMAC over it and the user.
    pub fn cursor(position: &str, user: &UserId, secret: &[u8]) -> String {
        use base64::Engine as _;
        use hmac::Mac as _;
        let mut bytes = vec![ORDERS_CURSOR_VERSION];
        bytes.extend_from_slice(position.as_bytes());
        let tag = mac(&bytes, user, secret).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

fn mac(payload: &[u8], user: &UserId, secret: &[u8]) -> HmacSha256 {
    use hmac::Mac as _;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"orders\0");
    mac.update(user.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(payload);
    mac
}

fn open(text: &str, user: &UserId, secret: &[u8]) -> Option<String> {
    use base64::Engine as _;
    use hmac::Mac as _;
    if text.len() > 200 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let (payload, tag) = bytes.split_at_checked(bytes.len().checked_sub(TAG_LEN)?)?;
    if payload.first() != Some(&ORDERS_CURSOR_VERSION) {
        return None;
    }
    mac(payload, user, secret).verify_truncated_left(tag).ok()?;
    String::from_utf8(payload[1..].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orders_cursor_opens_only_for_the_user_and_key_that_sealed_it() {
        let (alice, bob) = (
            UserId::parse("alice").unwrap(),
            UserId::parse("bob").unwrap(),
        );
        let position = "2026-11-26T02:00:00Z#e359e036-b886-48c7-83aa-640a06cd8252";
        let text = OrdersQuery::cursor(position, &alice, b"key");
        let query = |text: &str, user: &UserId, key: &[u8]| {
            OrdersQuery::parse(|n| (n == "cursor").then_some(text), user, key).map(|q| q.after)
        };
        assert_eq!(query(&text, &alice, b"key"), Ok(Some(position.to_owned())));
        for (user, key) in [(&bob, &b"key"[..]), (&alice, &b"other"[..])] {
            assert_eq!(query(&text, user, key).unwrap_err().0, "cursor");
        }
        let mut tampered = text.clone();
        tampered.replace_range(4..5, if &text[4..5] == "A" { "B" } else { "A" });
        assert!(query(&tampered, &alice, b"key").is_err());
        assert!(query("", &alice, b"key").is_err());
    }
}
