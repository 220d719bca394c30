//! Types and rules of the shop. Nothing here knows about DynamoDB or HTTP.

pub mod cart;
pub mod catalog;
pub mod discount;
pub mod idempotency;
pub mod ids;
pub mod lifecycle;
pub mod listing;
pub mod merge;
pub mod order;
pub mod order_events;
pub mod policy;
pub mod purchase;
pub mod shards;

pub use cart::{AddRefusal, Cart, CartHistory, CartLine, StockMove, MAX_CART_LINES};
pub use catalog::{Item, ItemChange, ItemName, NewItem, Price, Stock};
pub use discount::{Discount, DiscountChange, DiscountCode, NotApplicable, Off, OrderDiscount};
pub use idempotency::{Fingerprint, KeyScope, Receipt};
pub use ids::{
    CartId, GuestToken, IdempotencyKey, ItemId, OrderId, PaymentReference, Quantity, UserId,
};
pub use listing::{Cursor, ListQuery, Page};
pub use order::{Order, OrderLine, OrderStatus, OrdersPage, OrdersQuery};
pub use policy::{CheckoutPolicy, PaymentMode};
pub use purchase::{LimitReached, PriceChange, Shortfall};
pub use shards::{StockRow, Stocking, Take, Takes, MAX_SHARDS};

/// The largest integer a JSON client can hold exactly (2^53 - 1): the upper bound of every id,
/// price and filter value, so no client ever rounds one.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Now, in Unix seconds: what key lifetimes are counted in.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, in RFC 3339 (UTC, whole seconds): how every timestamp the API shows is written.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 time as Unix seconds; `None` if it is not one.
pub fn unix_of(rfc3339: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(at.unix_timestamp())
}

/// Unix seconds in RFC 3339 (UTC), as the API shows times; empty if out of range.
pub fn rfc3339(unix: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).ok();
    let text = at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    text.unwrap_or_default()
}
