//! The checkout policy of a deployment (`CHECKOUT_POLICY`): the original design's two options,
//! named by what they do.

/// How a cart's stock and price are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutPolicy {
    /// The default: a cart takes nothing; the purchase finds the latest stock and price, and
    /// answers `insufficient_stock` or `price_changed` when they moved.
    Latest,
    /// Adding takes the units from the available stock at once and holds them, at the price of
    /// that moment, for `seconds`; a user holds at most `max_per_item` units of an item, and
    /// holds an item for at most `max_seconds` from the first hold of its window (then the
    /// window cools down as long again before the item can be held anew). A purchase within the
    /// hold buys at the held price and cannot fail for stock; a line whose hold ended falls back
    /// to `latest`.
    Hold {
        seconds: i64,
        max_per_item: u64,
        max_seconds: i64,
    },
}

impl CheckoutPolicy {
    pub const DEFAULT_HOLD_SECONDS: i64 = 900;
    pub const DEFAULT_MAX_HELD_PER_ITEM: u64 = 10;

    /// `latest` or `hold` (with its hold time, its cap per item, and its cap on a user's hold
    /// time on one item: `max_seconds`, twice `seconds` when `None`).
    pub fn parse(
        name: &str,
        seconds: i64,
        max_per_item: u64,
        max_seconds: Option<i64>,
    ) -> Result<Self, String> {
        let max_seconds = max_seconds.unwrap_or(seconds.saturating_mul(2));
        match name {
            "latest" => Ok(Self::Latest),
            "hold" if seconds > 0 && max_per_item > 0 && max_seconds >= seconds => Ok(Self::Hold {
                seconds,
                max_per_item,
                max_seconds,
            }),
            "hold" => Err(
                "HOLD_SECONDS and MAX_HELD_PER_ITEM must be positive, and MAX_HOLD_SECONDS at \
                 least HOLD_SECONDS"
                    .to_owned(),
            ),
            other => Err(format!(
                "CHECKOUT_POLICY must be latest or hold, not {other:?}"
            )),
        }
    }

    pub fn holds(&self) -> bool {
        matches!(self, Self::Hold { .. })
    }
}

/// Whether a purchase waits for a payment (`PAYMENT_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMode {
    /// The default: an order is `placed` at once (the shop takes payment some other way).
    None,
    /// An order is `pending_payment` until the shop's payment service confirms it, for at most
    /// `window_seconds` (`PAYMENT_WINDOW_SECONDS`); then it expires and its units go back.
    External { window_seconds: i64 },
}

impl PaymentMode {
    pub const DEFAULT_WINDOW_SECONDS: i64 = 900;

    /// `none` or `external` (with its window).
    pub fn parse(name: &str, window_seconds: i64) -> Result<Self, String> {
        match name {
            "none" => Ok(Self::None),
            "external" if window_seconds > 0 => Ok(Self::External { window_seconds }),
            "external" => Err("PAYMENT_WINDOW_SECONDS must be positive".to_owned()),
            other => Err(format!(
                "PAYMENT_MODE must be none or external, not {other:?}"
            )),
        }
    }

    /// When an order bought at `now` must be paid by, if it waits for a payment.
    pub fn due_by(&self, now: i64) -> Option<i64> {
        match self {
            Self::None => None,
            Self::External { window_seconds } => Some(now + window_seconds),
        }
    }
}
