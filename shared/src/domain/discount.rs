//! Discount codes: what a code takes off a subtotal, and when it may not be used. Without I/O:
//! the limits that race (the code's uses, a customer's) are conditions of the purchase's one
//! transaction (`store::discounts`); this module decides what a code gives and explains a
//! refusal.

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use super::ids::Refusal;
use super::MAX_SAFE_INTEGER;

/// A code as shoppers type it, case-insensitive: 3 to 32 of `A-Z 0-9 - _`, kept upper-case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiscountCode(String);

impl DiscountCode {
    pub const RULE: &'static str = "must be 3 to 32 characters of A-Z, 0-9, - and _";

    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        match (3..=32).contains(&s.len()) && s.bytes().all(ok) {
            true => Ok(Self(s.to_ascii_uppercase())),
            false => Err(Self::RULE.to_owned()),
        }
    }

    pub fn from_json(value: &Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) => Self::parse(s),
            _ => Err(Self::RULE.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DiscountCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for DiscountCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What a code takes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Off {
    /// 1 to 100 percent of the subtotal, rounded down.
    Percent(u8),
    /// Minor units, never more than the subtotal.
    Amount(u64),
}

impl Off {
    pub fn percent_from_json(value: &Value) -> Result<Self, Refusal> {
        let n = value.as_u64().filter(|n| (1..=100).contains(n));
        n.map(|n| Self::Percent(n as u8))
            .ok_or_else(|| "must be an integer from 1 to 100".to_owned())
    }

    pub fn amount_from_json(value: &Value) -> Result<Self, Refusal> {
        let n = value
            .as_u64()
            .filter(|n| (1..=MAX_SAFE_INTEGER).contains(n));
        n.map(Self::Amount)
            .ok_or_else(|| "must be a positive integer number of minor units".to_owned())
    }
}

/// Minor units, 0 to 2^53 - 1 (`min_subtotal`).
pub fn money_from_json(value: &Value) -> Result<u64, Refusal> {
    (value.as_u64().filter(|n| *n <= MAX_SAFE_INTEGER))
        .ok_or_else(|| "must be an integer number of minor units from 0".to_owned())
}

/// A count of uses, 1 to 2^53 - 1 (`max_uses`, `max_uses_per_customer`).
pub fn uses_from_json(value: &Value) -> Result<u64, Refusal> {
    (value
        .as_u64()
        .filter(|n| (1..=MAX_SAFE_INTEGER).contains(n)))
    .ok_or_else(|| "must be a positive integer".to_owned())
}

/// An RFC 3339 time, as Unix seconds.
pub fn time_from_json(value: &Value) -> Result<i64, Refusal> {
    let refuse = || "must be an RFC 3339 date-time, as 2026-12-24T18:00:00Z".to_owned();
    let text = value.as_str().ok_or_else(refuse)?;
    let at = super::unix_of(text).ok_or_else(refuse)?;
    // Years 0 to 9999 only, so that every time written back is RFC 3339 again.
    (0..=253_402_300_799)
        .contains(&at)
        .then_some(at)
        .ok_or_else(refuse)
}

/// A discount code and its terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discount {
    pub code: DiscountCode,
    pub off: Off,
    /// The subtotal an order needs for the code to apply (minor units).
    pub min_subtotal: Option<u64>,
    /// From when (Unix seconds) the code may be used...
    pub starts_at: Option<i64>,
    /// ... and until when (exclusive).
    pub ends_at: Option<i64>,
    /// Orders that may use it, all customers together.
    pub max_uses: Option<u64>,
    /// Orders one customer may use it on.
    pub max_uses_per_customer: Option<u64>,
    pub active: bool,
    /// Orders that used it (a cancelled or expired order gives its use back).
    pub uses: u64,
    /// Moved on by every change of its terms (not by its uses): what a cart's code is checked
    /// against at the purchase, and what `If-Match` names.
    pub version: u64,
}

/// Why a code does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotApplicable {
    NotStarted,
    Ended,
    Inactive,
    /// All of its `max_uses` are used.
    Exhausted,
    BelowMinSubtotal,
    /// The customer used it `max_uses_per_customer` times.
    CustomerLimitReached,
    /// Its terms changed since it was put on the cart and it now takes off another amount: the
    /// cart holds the new terms.
    Changed,
}

impl NotApplicable {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Ended => "ended",
            Self::Inactive => "inactive",
            Self::Exhausted => "exhausted",
            Self::BelowMinSubtotal => "below_min_subtotal",
            Self::CustomerLimitReached => "customer_limit_reached",
            Self::Changed => "changed",
        }
    }

    /// What the refusal tells a person.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotStarted => "the discount code cannot be used yet",
            Self::Ended => "the discount code has ended",
            Self::Inactive => "the discount code is not active",
            Self::Exhausted => "the discount code has been used as many times as it may be",
            Self::BelowMinSubtotal => "the cart's subtotal is below the code's minimum",
            Self::CustomerLimitReached => {
                "you have used this discount code as many times as a customer may"
            }
            Self::Changed => "the discount code's terms changed; the cart shows them now",
        }
    }
}

impl Discount {
    /// What the code takes off `subtotal`: a percentage rounded down, or an amount never past
    /// the subtotal (the total is never below zero). Not checked against its terms.
    pub fn amount(&self, subtotal: u64) -> u64 {
        match self.off {
            Off::Percent(p) => (u128::from(subtotal) * u128::from(p) / 100) as u64,
            Off::Amount(a) => a.min(subtotal),
        }
    }

    /// Whether the code applies to a cart of `subtotal` at `now`, for a customer who used it
    /// `customer_uses` times (the first reason that holds, in the order the list names them).
    pub fn check(&self, subtotal: u64, now: i64, customer_uses: u64) -> Result<(), NotApplicable> {
        if !self.active {
            return Err(NotApplicable::Inactive);
        }
        if self.starts_at.is_some_and(|at| now < at) {
            return Err(NotApplicable::NotStarted);
        }
        if self.ends_at.is_some_and(|at| now >= at) {
            return Err(NotApplicable::Ended);
        }
        if self.max_uses.is_some_and(|max| self.uses >= max) {
            return Err(NotApplicable::Exhausted);
        }
        if (self.max_uses_per_customer).is_some_and(|max| customer_uses >= max) {
            return Err(NotApplicable::CustomerLimitReached);
        }
        if self.min_subtotal.is_some_and(|min| subtotal < min) {
            return Err(NotApplicable::BelowMinSubtotal);
        }
        Ok(())
    }

    /// [`Discount::check`] of the terms alone, for a cart that keeps them: its uses (and the
    /// customer's) are conditions of the purchase's transaction, which counts them as they are.
    pub fn check_terms(&self, subtotal: u64, now: i64) -> Result<(), NotApplicable> {
        let terms = Discount {
            uses: 0,
            max_uses_per_customer: None,
            ..self.clone()
        };
        terms.check(subtotal, now, 0)
    }

    /// The code with `change` applied, one version on; `None` when the window would be empty
    /// (`starts_at` not before `ends_at`).
    pub fn changed(&self, change: &DiscountChange) -> Option<Discount> {
        let mut after = Discount {
            version: self.version + 1,
            ..self.clone()
        };
        if let Some(off) = change.off {
            after.off = off;
        }
        let set = |field: &Option<Option<u64>>, now: Option<u64>| field.unwrap_or(now);
        after.min_subtotal = set(&change.min_subtotal, self.min_subtotal);
        after.max_uses = set(&change.max_uses, self.max_uses);
        after.max_uses_per_customer =
            set(&change.max_uses_per_customer, self.max_uses_per_customer);
        after.starts_at = change.starts_at.unwrap_or(self.starts_at);
        after.ends_at = change.ends_at.unwrap_or(self.ends_at);
        after.active = change.active.unwrap_or(self.active);
        after.window_ok().then_some(after)
    }

    /// `starts_at` is before `ends_at` when both are set.
    pub fn window_ok(&self) -> bool {
        match (self.starts_at, self.ends_at) {
            (Some(start), Some(end)) => start < end,
            _ => true,
        }
    }

    /// The code as an admin sees it: every term (`null` when unset), its uses and version.
    pub fn admin_view(&self) -> Value {
        let (percent, amount) = match self.off {
            Off::Percent(p) => (Some(u64::from(p)), None),
            Off::Amount(a) => (None, Some(a)),
        };
        json!({
            "code": self.code,
            "percent_off": percent,
            "amount_off": amount,
            "min_subtotal": self.min_subtotal,
            "starts_at": self.starts_at.map(super::rfc3339),
            "ends_at": self.ends_at.map(super::rfc3339),
            "max_uses": self.max_uses,
            "max_uses_per_customer": self.max_uses_per_customer,
            "active": self.active,
            "uses": self.uses,
            "version": self.version,
        })
    }
}

/// An admin's change of a code's terms: each `Some` sets its term (`Some(None)` removes it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscountChange {
    pub off: Option<Off>,
    pub min_subtotal: Option<Option<u64>>,
    pub starts_at: Option<Option<i64>>,
    pub ends_at: Option<Option<i64>>,
    pub max_uses: Option<Option<u64>>,
    pub max_uses_per_customer: Option<Option<u64>>,
    pub active: Option<bool>,
}

impl DiscountChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a code took off an order: its code, the amount, and whether the customer's use was
/// counted (the code had a `max_uses_per_customer` then), so that a cancellation gives back
/// exactly what the purchase took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderDiscount {
    pub code: DiscountCode,
    pub amount: u64,
    #[serde(skip)]
    pub per_customer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(off: Off) -> Discount {
        Discount {
            code: DiscountCode::parse("spring-10").unwrap(),
            off,
            min_subtotal: None,
            starts_at: None,
            ends_at: None,
            max_uses: None,
            max_uses_per_customer: None,
            active: true,
            uses: 0,
            version: 0,
        }
    }

    #[test]
    fn a_code_is_case_insensitive_and_only_of_letters_digits_dashes_and_underscores() {
        assert_eq!(
            DiscountCode::parse("spring-10").unwrap().as_str(),
            "SPRING-10"
        );
        assert_eq!(DiscountCode::parse("A_B").unwrap().as_str(), "A_B");
        for bad in [
            "ab",
            "",
            &"A".repeat(33),
            "SPRING 10",
            "ÉTÉ10",
            "A#B",
            "A/B",
            "a.b",
        ] {
            assert!(DiscountCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DiscountCode::from_json(&json!(123)).is_err());
    }

    #[test]
    fn a_percentage_is_rounded_down_and_an_amount_never_passes_the_subtotal() {
        let rows = [
            (Off::Percent(10), 999, 99),
            (Off::Percent(100), 999, 999),
            (Off::Percent(33), 1, 0),
            (Off::Percent(50), u64::MAX, u64::MAX / 2),
            (Off::Amount(500), 1200, 500),
            (Off::Amount(500), 300, 300),
            (Off::Amount(500), 0, 0),
        ];
        for (off, subtotal, amount) in rows {
            assert_eq!(code(off).amount(subtotal), amount, "{off:?} of {subtotal}");
        }
    }

    /// A case: its name, the code, the subtotal, the second, the customer's uses, the verdict.
    type Case = (
        &'static str,
        Discount,
        u64,
        i64,
        u64,
        Result<(), NotApplicable>,
    );

    #[test]
    fn every_reason_a_code_does_not_apply() {
        let base = code(Off::Percent(10));
        let rows: Vec<Case> = vec![
            ("applies", base.clone(), 100, 50, 0, Ok(())),
            (
                "inactive",
                Discount {
                    active: false,
                    ..base.clone()
                },
                100,
                50,
                0,
                Err(NotApplicable::Inactive),
            ),
            (
                "before it starts",
                Discount {
                    starts_at: Some(51),
                    ..base.clone()
                },
                100,
                50,
                0,
                Err(NotApplicable::NotStarted),
            ),
            (
                "from the second it starts",
                Discount {
                    starts_at: Some(50),
                    ..base.clone()
                },
                100,
                50,
                0,
                Ok(()),
            ),
            (
                "at the second it ends",
                Discount {
                    ends_at: Some(50),
                    ..base.clone()
                },
                100,
                50,
                0,
                Err(NotApplicable::Ended),
            ),
            (
                "all its uses used",
                Discount {
                    max_uses: Some(5),
                    uses: 5,
                    ..base.clone()
                },
                100,
                50,
                0,
                Err(NotApplicable::Exhausted),
            ),
            (
                "the customer's uses used",
                Discount {
                    max_uses_per_customer: Some(1),
                    ..base.clone()
                },
                100,
                50,
                1,
                Err(NotApplicable::CustomerLimitReached),
            ),
            (
                "below its minimum",
                Discount {
                    min_subtotal: Some(101),
                    ..base.clone()
                },
                100,
                50,
                0,
                Err(NotApplicable::BelowMinSubtotal),
            ),
            (
                "at its minimum",
                Discount {
                    min_subtotal: Some(100),
                    ..base.clone()
                },
                100,
                50,
                0,
                Ok(()),
            ),
        ];
        for (name, discount, subtotal, now, mine, expected) in rows {
            assert_eq!(discount.check(subtotal, now, mine), expected, "{name}");
        }
    }

    #[test]
    fn a_change_moves_the_version_on_keeps_the_uses_and_refuses_an_empty_window() {
        let before = Discount {
            uses: 3,
            starts_at: Some(100),
            ..code(Off::Percent(10))
        };
        let change = DiscountChange {
            off: Some(Off::Amount(250)),
            max_uses: Some(Some(10)),
            starts_at: Some(None),
            active: Some(false),
            ..Default::default()
        };
        let after = before.changed(&change).unwrap();
        assert_eq!(
            (after.off, after.max_uses, after.starts_at),
            (Off::Amount(250), Some(10), None)
        );
        assert_eq!((after.uses, after.version, after.active), (3, 1, false));
        let empty = DiscountChange {
            ends_at: Some(Some(100)),
            ..Default::default()
        };
        assert_eq!(before.changed(&empty), None);
    }
}
