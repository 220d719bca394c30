//! What a change of an order tells the rest of the shop: one event, or none. Pure: the
//! publisher (`app::order_events`) decodes each change of the orders table (the item before and
//! after it) and asks [`event_of`].
//!
//! | before | after | event | `previous_status` |
//! | --- | --- | --- | --- |
//! | no order (nothing, or a key's record) | an order | `OrderPlaced` (whatever its first status) | `null` |
//! | an order | the order, another status | `OrderPaid`, `OrderCancelled`, `OrderExpired`, `OrderFulfilled` (by the new status) | the status before |
//! | an order | the order, the same status | none | |
//! | anything | no order (a key's record, a deletion) | none | |
//!
//! An event is the same whenever the same change is delivered again: its `event_id` is derived
//! from the order and the version the change wrote (every change of an order moves its version
//! on, so the pair names one change), its `occurred_at` is the change's time as DynamoDB
//! recorded it, and its order is the order as `GET` showed it at that time
//! (`lifecycle::as_of`).

use serde::Serialize;

use super::lifecycle::as_of;
use super::{rfc3339, unix_of, Order, OrderId, OrderStatus};

/// The events, by the name they carry as EventBridge's `detail-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderEventKind {
    /// An order was created (`placed`, or `pending_payment` when it waits for a payment).
    OrderPlaced,
    OrderPaid,
    /// By its owner, an admin, or a failed payment: its units went back to the stock.
    OrderCancelled,
    /// Nobody paid it by `payment_due_by`: its units went back to the stock.
    OrderExpired,
    OrderFulfilled,
}

impl OrderEventKind {
    pub const ALL: [Self; 5] = [
        Self::OrderPlaced,
        Self::OrderPaid,
        Self::OrderCancelled,
        Self::OrderExpired,
        Self::OrderFulfilled,
    ];

    /// Its `detail-type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::OrderPlaced => "OrderPlaced",
            Self::OrderPaid => "OrderPaid",
            Self::OrderCancelled => "OrderCancelled",
            Self::OrderExpired => "OrderExpired",
            Self::OrderFulfilled => "OrderFulfilled",
        }
    }

    /// The event of a transition into `status` (no transition leads back to a first status).
    fn into(status: OrderStatus) -> Option<Self> {
        match status {
            OrderStatus::Paid => Some(Self::OrderPaid),
            OrderStatus::Cancelled => Some(Self::OrderCancelled),
            OrderStatus::Expired => Some(Self::OrderExpired),
            OrderStatus::Fulfilled => Some(Self::OrderFulfilled),
            OrderStatus::Placed | OrderStatus::PendingPayment => None,
        }
    }
}

/// One event: its kind, and its `detail` as consumers read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderEvent {
    #[serde(skip)]
    pub kind: OrderEventKind,
    /// The same for every delivery of the same change: what consumers deduplicate on.
    pub event_id: String,
    /// When the change was written, as DynamoDB recorded it (RFC 3339, UTC, whole seconds).
    pub occurred_at: String,
    /// The status before the change; `null` for `OrderPlaced`.
    pub previous_status: Option<OrderStatus>,
    /// The order as `GET /api/v1/orders/{order_id}` showed it right after the change.
    pub order: Order,
}

impl OrderEvent {
    pub fn order_id(&self) -> OrderId {
        self.order.id
    }
}

/// The event of a change of an order from `before` to `after`, recorded at `at` (Unix
/// seconds). `None` stands for an item that is no order (none there, or a key's record).
pub fn event_of(before: Option<&Order>, after: Option<&Order>, at: i64) -> Option<OrderEvent> {
    let after = after?;
    // Never before the order was created: DynamoDB records a stream record's time rounded down
    // to the second (DynamoDB Local to the minute), and the purchase stamps the order itself.
    let at = unix_of(&after.created_at).map_or(at, |created| at.max(created));
    let (kind, previous_status) = match before {
        None => (OrderEventKind::OrderPlaced, None),
        Some(before) if before.status == after.status => return None,
        Some(before) => (OrderEventKind::into(after.status)?, Some(before.status)),
    };
    Some(OrderEvent {
        kind,
        event_id: event_id(after.id, after.version),
        occurred_at: rfc3339(at),
        previous_status,
        order: as_of(after, at),
    })
}

/// The id of the change that made `version` of the order `order`: a v8 UUID of their SHA-256,
/// the same on every delivery and every instance.
pub fn event_id(order: OrderId, version: u64) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"order-event\0")
        .chain_update(order.to_string().as_bytes())
        .chain_update(b"\0")
        .chain_update(version.to_string().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, ItemId, OrderLine, Price, UserId};
    use OrderEventKind::*;
    use OrderStatus::*;

    const AT: i64 = 1_796_475_540; // 2026-12-05T12:59:00Z
    const DUE: i64 = AT + 900;

    fn order(status: OrderStatus, version: u64) -> Order {
        static CART: std::sync::OnceLock<CartId> = std::sync::OnceLock::new();
        let user = UserId::parse("7").unwrap();
        Order {
            id: OrderId::of_key("user#7#k"),
            cart_id: CART.get_or_init(|| CartId::generate(user.clone())).clone(),
            user_id: user,
            lines: vec![OrderLine {
                item_id: ItemId::new(1).unwrap(),
                name: "Wine".to_owned(),
                quantity: 2,
                unit_price: Price::new(1299).unwrap(),
            }],
            subtotal: 2598,
            discount: None,
            total: 2598,
            created_at: "2026-12-05T12:58:30Z".to_owned(),
            status,
            version,
            payment_due_by: Some(DUE),
            refund_due: false,
            payment_reference: None,
        }
    }

    /// The event's kind and previous status, or `None`.
    fn kind(
        before: Option<&Order>,
        after: Option<&Order>,
    ) -> Option<(&'static str, Option<OrderStatus>)> {
        event_of(before, after, AT).map(|e| (e.kind.name(), e.previous_status))
    }

    /// The status before (none: no order), the status after, the event and previous status.
    type Row = (
        Option<OrderStatus>,
        OrderStatus,
        Option<(OrderEventKind, Option<OrderStatus>)>,
    );

    #[test]
    fn each_change_of_an_orders_status_is_one_event_named_by_where_it_went() {
        let rows: &[Row] = &[
            // A new order, whatever its first status.
            (None, Placed, Some((OrderPlaced, None))),
            (None, PendingPayment, Some((OrderPlaced, None))),
            // Every transition of the lifecycle.
            (
                Some(PendingPayment),
                Paid,
                Some((OrderPaid, Some(PendingPayment))),
            ),
            (
                Some(PendingPayment),
                Cancelled,
                Some((OrderCancelled, Some(PendingPayment))),
            ),
            (
                Some(PendingPayment),
                Expired,
                Some((OrderExpired, Some(PendingPayment))),
            ),
            (
                Some(Placed),
                Cancelled,
                Some((OrderCancelled, Some(Placed))),
            ),
            (Some(Paid), Cancelled, Some((OrderCancelled, Some(Paid)))),
            (
                Some(Placed),
                Fulfilled,
                Some((OrderFulfilled, Some(Placed))),
            ),
            (Some(Paid), Fulfilled, Some((OrderFulfilled, Some(Paid)))),
            // The status did not change: nothing to tell.
            (Some(Paid), Paid, None),
            (Some(Cancelled), Cancelled, None),
            // No transition leads back to a first status.
            (Some(Paid), Placed, None),
            (Some(Placed), PendingPayment, None),
        ];
        for (before, after, expected) in rows {
            let before = before.map(|s| order(s, 3));
            let after = order(*after, if before.is_some() { 4 } else { 0 });
            let expected = expected.map(|(k, p)| (k.name(), p));
            assert_eq!(
                kind(before.as_ref(), Some(&after)),
                expected,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn a_change_that_leaves_no_order_is_no_event() {
        // A key's record deleted by TTL, or written where no order is: no order after.
        assert_eq!(kind(None, None), None);
        assert_eq!(kind(Some(&order(Placed, 0)), None), None);
    }

    #[test]
    fn the_same_change_has_the_same_event_id_and_every_other_change_another() {
        let placed = event_of(None, Some(&order(PendingPayment, 0)), AT).unwrap();
        let again = event_of(None, Some(&order(PendingPayment, 0)), AT + 60).unwrap();
        assert_eq!(placed.event_id, again.event_id);
        let paid = event_of(Some(&order(PendingPayment, 0)), Some(&order(Paid, 1)), AT).unwrap();
        assert_ne!(paid.event_id, placed.event_id);
        let other = Order {
            id: OrderId::of_key("user#7#other"),
            ..order(PendingPayment, 0)
        };
        assert_ne!(
            event_of(None, Some(&other), AT).unwrap().event_id,
            placed.event_id
        );
        let uuid = uuid::Uuid::parse_str(&placed.event_id).unwrap();
        assert_eq!(uuid.get_version_num(), 8);
    }

    #[test]
    fn an_event_never_occurs_before_its_order_was_created() {
        // A stream record's time is rounded down (DynamoDB Local: to the minute).
        let rounded = AT - 60;
        let event = event_of(None, Some(&order(PendingPayment, 0)), rounded).unwrap();
        assert_eq!(event.occurred_at, "2026-12-05T12:58:30Z");
        let event = event_of(None, Some(&order(PendingPayment, 0)), AT).unwrap();
        assert_eq!(event.occurred_at, "2026-12-05T12:59:00Z");
    }

    #[test]
    fn the_event_carries_the_order_as_get_showed_it_when_the_change_was_written() {
        let event = event_of(None, Some(&order(PendingPayment, 0)), AT).unwrap();
        assert_eq!(event.occurred_at, "2026-12-05T12:59:00Z");
        assert_eq!(event.order, order(PendingPayment, 0));
        // The sweep writes an expiry after the window closed; GET showed it expired already.
        let late = event_of(
            Some(&order(PendingPayment, 0)),
            Some(&order(Expired, 1)),
            DUE + 30,
        );
        assert_eq!(late.unwrap().order.status, Expired);
        let json = serde_json::to_value(&event).unwrap();
        let members: std::collections::BTreeSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            members,
            ["event_id", "occurred_at", "order", "previous_status"].into()
        );
        assert_eq!(json["previous_status"], serde_json::Value::Null);
        assert_eq!(json["order"]["status"], "pending_payment");
        assert_eq!(json["order"]["payment_due_by"], "2026-12-05T13:14:00Z");
    }
}
