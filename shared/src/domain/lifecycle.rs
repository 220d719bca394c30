//! An order's life after its purchase: which transition may happen from which status, who may
//! ask for it, and what it does. One table, pure; `app::orders` reads, decides with [`decide`],
//! and writes the change conditioned on the status and version it read (with the units going
//! back to the stock in the same transaction), so a transition happens once, whatever races.
//!
//! | from | to | who |
//! | --- | --- | --- |
//! | `pending_payment` | `paid` | the payment service, before `payment_due_by` |
//! | `pending_payment` | `cancelled` | a failed payment; the owner; an admin (units back) |
//! | `pending_payment` | `expired` | the sweep, from `payment_due_by` on (units back) |
//! | `placed`, `paid` | `cancelled` | the owner or an admin (units back; `refund_due` if paid) |
//! | `placed`, `paid` | `fulfilled` | an admin |
//!
//! Expiry is decided by the time, never by when the sweep runs: from `payment_due_by` on, a
//! pending order takes no payment (`order_expired`, with the payment to refund) and cannot be
//! cancelled (it is expired: the sweep gives its units back), even before the sweep expires it.
//! Asking again for a transition that already happened answers the order unchanged.

use super::{Order, OrderStatus};

/// A change asked of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The payment service captured the payment `reference`.
    Pay { reference: String },
    /// The payment `reference` failed: the order is cancelled.
    PaymentFailed { reference: String },
    /// The owner or an admin cancels the order.
    Cancel,
    /// The sweep expires an order nobody paid.
    Expire,
    /// An admin marks the order fulfilled.
    Fulfil,
}

impl Change {
    /// The change as a key binds it: its name and its reference (never `Debug`'s text, which
    /// could change with the code while keys' records keep it).
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Pay { reference } => format!("pay {reference}"),
            Self::PaymentFailed { reference } => format!("payment-failed {reference}"),
            Self::Cancel => "cancel".to_owned(),
            Self::Expire => "expire".to_owned(),
            Self::Fulfil => "fulfil".to_owned(),
        }
    }
}

/// What a change comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write this: the order one version on, and whether its units go back to the stock.
    Write {
        after: Box<Order>,
        returns_stock: bool,
    },
    /// It happened already: answer the order as it is, write nothing.
    Already,
}

/// Why a change is refused (nothing is written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Fulfilled or expired orders are not cancelled.
    NotCancellable(OrderStatus),
    /// The payment window closed before the payment came: the shop refunds it.
    Expired,
    /// The order does not wait for a payment (placed, cancelled, or paid with another
    /// reference); `refund_due` when the payment was captured.
    NotPayable {
        status: OrderStatus,
        refund_due: bool,
    },
    /// Only placed or paid orders are fulfilled.
    NotFulfillable(OrderStatus),
}

/// The status an order has at `now`: a pending order whose window has closed is expired, whether
/// or not the sweep has written it yet.
pub fn status_at(order: &Order, now: i64) -> OrderStatus {
    match (order.status, order.payment_due_by) {
        (OrderStatus::PendingPayment, Some(due)) if now >= due => OrderStatus::Expired,
        (status, _) => status,
    }
}

/// The order as it stands at `now` (what `GET` shows): its status by the time.
pub fn as_of(order: &Order, now: i64) -> Order {
    Order {
        status: status_at(order, now),
        ..order.clone()
    }
}

/// What `change` does to `order` at `now`.
pub fn decide(order: &Order, change: &Change, now: i64) -> Result<Decision, Refusal> {
    use OrderStatus::*;
    let status = status_at(order, now);
    let to = |to: OrderStatus| -> Order {
        Order {
            status: to,
            version: order.version + 1,
            ..order.clone()
        }
    };
    let write = |after: Order, returns_stock: bool| {
        Ok(Decision::Write {
            after: Box::new(after),
            returns_stock,
        })
    };
    match (change, status) {
        (Change::Pay { reference }, PendingPayment) => write(
            Order {
                payment_reference: Some(reference.clone()),
                ..to(Paid)
            },
            false,
        ),
        (Change::Pay { reference }, Paid)
            if order.payment_reference.as_ref() == Some(reference) =>
        {
            Ok(Decision::Already)
        }
        (Change::Pay { .. }, Expired) => Err(Refusal::Expired),
        (Change::Pay { .. }, status) => Err(Refusal::NotPayable {
            status,
            refund_due: true,
        }),
        (Change::PaymentFailed { .. }, PendingPayment) => write(to(Cancelled), true),
        (Change::PaymentFailed { .. }, Cancelled | Expired) => Ok(Decision::Already),
        (Change::PaymentFailed { .. }, status) => Err(Refusal::NotPayable {
            status,
            refund_due: false,
        }),
        (Change::Cancel, Placed | PendingPayment) => write(to(Cancelled), true),
        (Change::Cancel, Paid) => write(
            Order {
                refund_due: true,
                ..to(Cancelled)
            },
            true,
        ),
        (Change::Cancel, Cancelled) => Ok(Decision::Already),
        (Change::Cancel, status) => Err(Refusal::NotCancellable(status)),
        // The stored status is still pending: the sweep writes what the time decided.
        (Change::Expire, Expired) if order.status == PendingPayment => write(to(Expired), true),
        (Change::Expire, _) => Ok(Decision::Already),
        (Change::Fulfil, Placed | Paid) => write(to(Fulfilled), false),
        (Change::Fulfil, Fulfilled) => Ok(Decision::Already),
        (Change::Fulfil, status) => Err(Refusal::NotFulfillable(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, OrderId, UserId};

    const DUE: i64 = 10_000;

    fn order(status: OrderStatus) -> Order {
        let user = UserId::parse("7").unwrap();
        Order {
            id: OrderId::of_key("user#7#k"),
            cart_id: CartId::generate(user.clone()),
            user_id: user,
            lines: vec![],
            subtotal: 0,
            discount: None,
            total: 0,
            created_at: "2026-12-05T12:00:00Z".to_owned(),
            status,
            version: 4,
            payment_due_by: (status == OrderStatus::PendingPayment).then_some(DUE),
            refund_due: false,
            payment_reference: None,
        }
    }

    /// The order after `decide`: its status, refund and reference; or the refusal; `None` for
    /// "already".
    fn outcome(
        from: OrderStatus,
        change: Change,
        now: i64,
    ) -> Result<Option<(OrderStatus, bool, bool)>, Refusal> {
        let before = Order {
            payment_reference: (from == OrderStatus::Paid).then(|| "pi_1".to_owned()),
            ..order(from)
        };
        Ok(match decide(&before, &change, now)? {
            Decision::Already => None,
            Decision::Write {
                after,
                returns_stock,
            } => {
                assert_eq!(after.version, 5, "{from:?} {change:?}");
                Some((after.status, after.refund_due, returns_stock))
            }
        })
    }

    #[test]
    fn every_transition_of_the_table_and_every_refusal_one_row_each() {
        use OrderStatus::*;
        let pay = |r: &str| Change::Pay {
            reference: r.to_owned(),
        };
        let failed = Change::PaymentFailed {
            reference: "pi_1".to_owned(),
        };
        let before_due = DUE - 1;
        type Row = (
            &'static str,
            OrderStatus,
            Change,
            i64,
            Result<Option<(OrderStatus, bool, bool)>, Refusal>,
        );
        let rows: Vec<Row> = vec![
            (
                "a payment in time",
                PendingPayment,
                pay("pi_1"),
                before_due,
                Ok(Some((Paid, false, false))),
            ),
            (
                "a payment one second late",
                PendingPayment,
                pay("pi_1"),
                DUE,
                Err(Refusal::Expired),
            ),
            (
                "a payment of an expired order",
                Expired,
                pay("pi_1"),
                DUE,
                Err(Refusal::Expired),
            ),
            (
                "the same payment again",
                Paid,
                pay("pi_1"),
                before_due,
                Ok(None),
            ),
            (
                "another payment of a paid order",
                Paid,
                pay("pi_2"),
                before_due,
                Err(Refusal::NotPayable {
                    status: Paid,
                    refund_due: true,
                }),
            ),
            (
                "a payment of a placed order",
                Placed,
                pay("pi_1"),
                0,
                Err(Refusal::NotPayable {
                    status: Placed,
                    refund_due: true,
                }),
            ),
            (
                "a payment of a cancelled order",
                Cancelled,
                pay("pi_1"),
                0,
                Err(Refusal::NotPayable {
                    status: Cancelled,
                    refund_due: true,
                }),
            ),
            (
                "a failed payment cancels",
                PendingPayment,
                failed.clone(),
                before_due,
                Ok(Some((Cancelled, false, true))),
            ),
            (
                "a failed payment again",
                Cancelled,
                failed.clone(),
                before_due,
                Ok(None),
            ),
            (
                "a failed payment after expiry",
                PendingPayment,
                failed.clone(),
                DUE,
                Ok(None),
            ),
            (
                "a failed payment of a paid order",
                Paid,
                failed,
                before_due,
                Err(Refusal::NotPayable {
                    status: Paid,
                    refund_due: false,
                }),
            ),
            (
                "cancelling a placed order",
                Placed,
                Change::Cancel,
                0,
                Ok(Some((Cancelled, false, true))),
            ),
            (
                "cancelling while waiting for payment",
                PendingPayment,
                Change::Cancel,
                before_due,
                Ok(Some((Cancelled, false, true))),
            ),
            (
                "cancelling a paid order: refund due",
                Paid,
                Change::Cancel,
                0,
                Ok(Some((Cancelled, true, true))),
            ),
            ("cancelling again", Cancelled, Change::Cancel, 0, Ok(None)),
            (
                "cancelling once the window closed",
                PendingPayment,
                Change::Cancel,
                DUE,
                Err(Refusal::NotCancellable(Expired)),
            ),
            (
                "cancelling a fulfilled order",
                Fulfilled,
                Change::Cancel,
                0,
                Err(Refusal::NotCancellable(Fulfilled)),
            ),
            (
                "the sweep expires an unpaid order",
                PendingPayment,
                Change::Expire,
                DUE,
                Ok(Some((Expired, false, true))),
            ),
            (
                "the sweep before the window closed",
                PendingPayment,
                Change::Expire,
                before_due,
                Ok(None),
            ),
            (
                "the sweep after a payment",
                Paid,
                Change::Expire,
                DUE,
                Ok(None),
            ),
            (
                "fulfilling a placed order",
                Placed,
                Change::Fulfil,
                0,
                Ok(Some((Fulfilled, false, false))),
            ),
            (
                "fulfilling a paid order",
                Paid,
                Change::Fulfil,
                0,
                Ok(Some((Fulfilled, false, false))),
            ),
            ("fulfilling again", Fulfilled, Change::Fulfil, 0, Ok(None)),
            (
                "fulfilling an unpaid order",
                PendingPayment,
                Change::Fulfil,
                before_due,
                Err(Refusal::NotFulfillable(PendingPayment)),
            ),
            (
                "fulfilling a cancelled order",
                Cancelled,
                Change::Fulfil,
                0,
                Err(Refusal::NotFulfillable(Cancelled)),
            ),
        ];
        for (case, from, change, now, expected) in rows {
            assert_eq!(outcome(from, change, now), expected, "{case}");
        }
    }

    #[test]
    fn a_pending_order_shows_expired_from_its_due_time_on() {
        let pending = order(OrderStatus::PendingPayment);
        assert_eq!(status_at(&pending, DUE - 1), OrderStatus::PendingPayment);
        assert_eq!(status_at(&pending, DUE), OrderStatus::Expired);
        assert_eq!(as_of(&pending, DUE).version, pending.version);
        assert_eq!(status_at(&order(OrderStatus::Paid), DUE), OrderStatus::Paid);
    }
}
