//! The one error type of the API. `http::problem` turns it into a status and an RFC 9457 body.

use crate::domain::{
    DiscountCode, ItemId, LimitReached, NotApplicable, OrderStatus, PriceChange, Shortfall,
};
use crate::store::StoreError;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {message}")]
    InvalidRequest { field: String, message: String },
    #[error("the request body is not a JSON object: {0}")]
    MalformedBody(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No bearer token (`token_sent` false), or one that does not verify.
    #[error("a valid bearer token is required: {why}")]
    Unauthenticated { why: &'static str, token_sent: bool },
    #[error("user_id is not the authenticated user")]
    UserMismatch,
    #[error("this route needs an IAM-signed request")]
    Forbidden,
    #[error("no such route")]
    RouteNotFound,
    #[error("item {0} was not found")]
    ItemNotFound(ItemId),
    #[error("cart not found")]
    CartNotFound,
    #[error("item {0} is not in the cart")]
    ItemNotInCart(ItemId),
    #[error("order not found")]
    OrderNotFound,
    #[error("discount code {0} was not found")]
    DiscountNotFound(DiscountCode),
    #[error("discount code {0} exists already")]
    DiscountExists(DiscountCode),
    /// The code cannot be used on this cart now; the cart keeps it (the storefront asks).
    #[error("{}", .0.message())]
    DiscountNotApplicable(NotApplicable),
    #[error("not enough stock")]
    InsufficientStock(Vec<Shortfall>),
    #[error("a cart holds at most {limit} distinct items")]
    CartFull { limit: usize },
    #[error("a user holds at most {limit} units of an item")]
    HoldLimit { limit: u64 },
    #[error(
        "the line is held at {held} until its hold ends, and the price is now {now}: remove the \
         line, or wait for its hold to end, to hold more at today's price"
    )]
    HeldAtAnotherPrice {
        item_id: ItemId,
        held: u64,
        now: u64,
    },
    #[error("a customer may hold and buy at most {} units of this item", limit_of(.0))]
    CustomerLimit(Vec<LimitReached>),
    /// `hold`: the item was held for the longest a hold may last (`ended`, Unix seconds); it
    /// can be held again from `again`.
    #[error(
        "this item was held for the longest a hold may last: buy the line or remove it; it can \
         be held again later"
    )]
    HoldTimeLimit {
        item_id: ItemId,
        ended: i64,
        again: i64,
    },
    #[error("the cart is empty")]
    CartEmpty,
    #[error("the order is {} and cannot be cancelled", .status.as_str())]
    OrderNotCancellable { status: OrderStatus },
    /// A payment came after the order's payment window closed: the shop refunds it.
    #[error("the order's payment window closed before the payment came; refund it")]
    OrderExpired,
    #[error("the order is {} and does not wait for this payment", .status.as_str())]
    OrderNotPayable {
        status: OrderStatus,
        /// The payment was captured and the order will not take it: the shop refunds it.
        refund_due: bool,
    },
    #[error("the order is {} and cannot be fulfilled", .status.as_str())]
    OrderNotFulfillable { status: OrderStatus },
    #[error("the webhook's signature does not verify")]
    InvalidSignature,
    #[error("prices changed since the items were added; the cart now holds the current prices")]
    PriceChanged(Vec<PriceChange>),
    #[error("a request with this idempotency key is still being processed; retry shortly")]
    RequestInProgress,
    #[error("this idempotency key was already used for another request")]
    IdempotencyKeyReused,
    /// `If-Match` named another version than the resource's: `current` is it now, shown under
    /// `member` (`cart`, `item`).
    #[error("the {member} is no longer the version named in If-Match; this is it now")]
    PreconditionFailed {
        member: &'static str,
        current: serde_json::Value,
    },
    #[error("the service is temporarily unavailable; retry shortly")]
    ServiceUnavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable, machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        self.facts().code
    }

    pub fn status(&self) -> u16 {
        self.facts().status
    }

    pub fn title(&self) -> &'static str {
        self.facts().title
    }

    /// Seconds a client should wait before retrying, for the errors where retrying helps.
    pub fn retry_after(&self) -> Option<u32> {
        self.facts().retry_after
    }

    /// Every variant's facts in one table: its code, status, title and retry hint.
    fn facts(&self) -> Facts {
        let (code, status, title) = match self {
            Self::InvalidRequest { .. } | Self::MalformedBody(_) => {
                ("invalid_request", 400, "Invalid request")
            }
            Self::PayloadTooLarge { .. } => ("payload_too_large", 413, "Request body too large"),
            Self::Unauthenticated { .. } => ("unauthenticated", 401, "Unauthenticated"),
            Self::UserMismatch => ("user_mismatch", 403, "User mismatch"),
            Self::Forbidden => ("forbidden", 403, "Forbidden"),
            Self::RouteNotFound => ("route_not_found", 404, "Route not found"),
            Self::ItemNotFound(_) => ("item_not_found", 404, "Item not found"),
            Self::CartNotFound => ("cart_not_found", 404, "Cart not found"),
            Self::ItemNotInCart(_) => ("item_not_in_cart", 404, "Item not in cart"),
            Self::OrderNotFound => ("order_not_found", 404, "Order not found"),
            Self::DiscountNotFound(_) => ("discount_not_found", 404, "Discount not found"),
            Self::DiscountExists(_) => ("discount_exists", 409, "Discount exists"),
            Self::DiscountNotApplicable(_) => {
                ("discount_not_applicable", 409, "Discount not applicable")
            }
            Self::InsufficientStock(_) => ("insufficient_stock", 409, "Insufficient stock"),
            Self::CartFull { .. } => ("cart_full", 409, "Cart full"),
            Self::HoldLimit { .. } => ("hold_limit", 409, "Hold limit"),
            Self::HeldAtAnotherPrice { .. } => {
                ("held_at_another_price", 409, "Held at another price")
            }
            Self::CustomerLimit(_) => ("customer_limit", 409, "Customer limit"),
            Self::HoldTimeLimit { .. } => ("hold_time_limit", 409, "Hold time limit"),
            Self::CartEmpty => ("cart_empty", 409, "Cart empty"),
            Self::OrderNotCancellable { .. } => {
                ("order_not_cancellable", 409, "Order not cancellable")
            }
            Self::OrderExpired => ("order_expired", 409, "Order expired"),
            Self::OrderNotPayable { .. } => ("order_not_payable", 409, "Order not payable"),
            Self::OrderNotFulfillable { .. } => {
                ("order_not_fulfillable", 409, "Order not fulfillable")
            }
            Self::InvalidSignature => ("invalid_signature", 400, "Invalid signature"),
            Self::PriceChanged(_) => ("price_changed", 409, "Price changed"),
            Self::RequestInProgress => ("request_in_progress", 409, "Request in progress"),
            Self::IdempotencyKeyReused => ("idempotency_key_reused", 422, "Idempotency key reused"),
            Self::PreconditionFailed { .. } => ("precondition_failed", 412, "Precondition failed"),
            Self::ServiceUnavailable(_) => ("service_unavailable", 503, "Service unavailable"),
            Self::Internal(_) => ("internal_error", 500, "Internal error"),
        };
        let retry_after =
            matches!(self, Self::ServiceUnavailable(_) | Self::RequestInProgress).then_some(1);
        Facts {
            code,
            status,
            title,
            retry_after,
        }
    }
}

/// The limit of the first line named (what a one-line refusal shows).
fn limit_of(lines: &[LimitReached]) -> u64 {
    lines.first().map_or(0, |l| l.limit)
}

struct Facts {
    code: &'static str,
    status: u16,
    title: &'static str,
    retry_after: Option<u32>,
}

/// Storage knows nothing of the API: "try again later" becomes a 503, anything else a 500.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::ServiceUnavailable(Box::new(err)),
            StoreError::Unexpected(_) => ApiError::Internal(Box::new(err)),
        }
    }
}
