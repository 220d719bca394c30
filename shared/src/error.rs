//! The one error type of the API. `http::problem` turns it into a status and an RFC 9457 body.

use serde::Serialize;

use crate::domain::ItemId;

/// A line that cannot be bought in the quantity asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub item_id: ItemId,
    pub requested: u64,
    pub available: u64,
}

/// A line whose price changed since it was added to the cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    pub item_id: ItemId,
    pub cart_price: u64,
    pub current_price: u64,
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {message}")]
    InvalidRequest { field: String, message: String },
    #[error("the request body is not a JSON object: {0}")]
    MalformedBody(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
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
    #[error("not enough stock")]
    InsufficientStock(Vec<Shortfall>),
    #[error("a cart holds at most {limit} distinct items")]
    CartFull { limit: usize },
    #[error("the cart is empty")]
    CartEmpty,
    #[error("prices changed since the items were added; the cart now holds the current prices")]
    PriceChanged(Vec<PriceChange>),
    #[error("a request with this idempotency key is still being processed; retry shortly")]
    RequestInProgress,
    #[error("this idempotency key was already used for another cart")]
    IdempotencyKeyReused,
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
        match self {
            Self::InvalidRequest { .. } | Self::MalformedBody(_) => "invalid_request",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Forbidden => "forbidden",
            Self::RouteNotFound => "route_not_found",
            Self::ItemNotFound(_) => "item_not_found",
            Self::CartNotFound => "cart_not_found",
            Self::ItemNotInCart(_) => "item_not_in_cart",
            Self::OrderNotFound => "order_not_found",
            Self::InsufficientStock(_) => "insufficient_stock",
            Self::CartFull { .. } => "cart_full",
            Self::CartEmpty => "cart_empty",
            Self::PriceChanged(_) => "price_changed",
            Self::RequestInProgress => "request_in_progress",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } | Self::MalformedBody(_) => 400,
            Self::Forbidden => 403,
            Self::RouteNotFound
            | Self::ItemNotFound(_)
            | Self::CartNotFound
            | Self::ItemNotInCart(_)
            | Self::OrderNotFound => 404,
            Self::PayloadTooLarge { .. } => 413,
            Self::InsufficientStock(_)
            | Self::CartFull { .. }
            | Self::CartEmpty
            | Self::PriceChanged(_)
            | Self::RequestInProgress => 409,
            Self::IdempotencyKeyReused => 422,
            Self::ServiceUnavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } | Self::MalformedBody(_) => "Invalid request",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::Forbidden => "Forbidden",
            Self::RouteNotFound => "Route not found",
            Self::ItemNotFound(_) => "Item not found",
            Self::CartNotFound => "Cart not found",
            Self::ItemNotInCart(_) => "Item not in cart",
            Self::OrderNotFound => "Order not found",
            Self::InsufficientStock(_) => "Insufficient stock",
            Self::CartFull { .. } => "Cart full",
            Self::CartEmpty => "Cart empty",
            Self::PriceChanged(_) => "Price changed",
            Self::RequestInProgress => "Request in progress",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::ServiceUnavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal error",
        }
    }

    /// Seconds a client should wait before retrying, for the errors where retrying helps.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::ServiceUnavailable(_) | Self::RequestInProgress => Some(1),
            _ => None,
        }
    }
}
