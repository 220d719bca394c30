//! A purchase's order, and the life it has after it (`domain::lifecycle`).

use serde::{Serialize, Serializer};

use super::{CartId, ItemId, OrderDiscount, OrderId, Price, UserId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub item_id: ItemId,
    pub name: String,
    pub quantity: u64,
    pub unit_price: Price,
}

/// Where an order is in its life. Only the transitions of `domain::lifecycle` change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Bought, nothing to wait for (`PAYMENT_MODE=none`).
    Placed,
    /// Bought, waiting for the shop's payment service until `payment_due_by`
    /// (`PAYMENT_MODE=external`).
    PendingPayment,
    Paid,
    /// By its owner, an admin, or a failed payment: its units went back to the stock.
    Cancelled,
    /// Nobody paid by `payment_due_by`: its units went back to the stock.
    Expired,
    Fulfilled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        Self::Placed,
        Self::PendingPayment,
        Self::Paid,
        Self::Cancelled,
        Self::Expired,
        Self::Fulfilled,
    ];

    /// The name the API and the table use (`pending_payment`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Fulfilled => "fulfilled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub cart_id: CartId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    /// The lines' prices times their quantities, all together (minor units).
    pub subtotal: u64,
    /// What a discount code took off the subtotal, if the cart had one.
    pub discount: Option<OrderDiscount>,
    /// What the customer pays: the subtotal less the discount, never below zero.
    pub total: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub status: OrderStatus,
    /// Moved on by every transition: what `If-Match` names (the order's `ETag`).
    pub version: u64,
    /// `pending_payment`: when the payment window closes (Unix seconds; RFC 3339 on the wire).
    #[serde(serialize_with = "rfc3339_or_null")]
    pub payment_due_by: Option<i64>,
    /// The order was paid, then cancelled: the shop owes the payment back.
    pub refund_due: bool,
    /// The payment's reference, once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
}

fn rfc3339_or_null<S: Serializer>(at: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&super::rfc3339(*at)),
        None => s.serialize_none(),
    }
}

impl Order {
    /// Where the order sits in its user's history: by creation time, then id.
    pub fn position(&self) -> String {
        format!("{}#{}", self.created_at, self.id)
    }

    /// The order as its purchase made it (what the purchase answered, and answers again to its
    /// key): its first status, version 0, nothing paid or owed. The first status follows from
    /// the payment window: only an order that waits for a payment has one.
    pub fn as_placed(&self) -> Order {
        let status = match self.payment_due_by {
            Some(_) => OrderStatus::PendingPayment,
            None => OrderStatus::Placed,
        };
        Order {
            status,
            version: 0,
            refund_due: false,
            payment_reference: None,
            ..self.clone()
        }
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
