//! The loop of the order events' publisher (`publish-order-events`): a batch of changes of the
//! orders table, oldest first, becomes events (`domain::order_events::event_of`, each record's
//! items decoded by `store::order_in_image`), put on the bus in the same order, at most
//! [`MAX_ENTRIES_PER_PUT`] to a request; the first record not published, and every record after
//! it, is answered as failed, so that the stream delivers them again, in order.
//!
//! Delivery is at least once: a change is published again whenever its answer was lost, its
//! request or an entry after it failed, or the batch was cut short; its `event_id` says it is the
//! same change. Per order, changes are put in the order they were written: a request never
//! carries two changes of one order (EventBridge does not order the entries of one request), and
//! a request goes only once the one before it was accepted whole.
//!
//! Knows no EventBridge type: the bus is a [`Bus`] (the publisher's is EventBridge's
//! `PutEvents`; the tests' a fake).

use std::future::Future;
use std::time::Instant;

use serde::Serialize;

use crate::domain::order_events::event_of;
use crate::domain::OrderId;
use crate::store::order_in_image;
use crate::stream::{BatchResponse, StreamRecord};
use crate::telemetry;

/// The most entries EventBridge takes in one `PutEvents`.
pub const MAX_ENTRIES_PER_PUT: usize = 10;
/// The most bytes of entries one `PutEvents` takes (256 KiB, counted as EventBridge does: the
/// detail-type, the detail and 14 for the time; the source is added by the bus).
pub const MAX_BYTES_PER_PUT: usize = 256 * 1024;

/// One entry to put: an event of one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub order: OrderId,
    /// `detail-type`: the event's name.
    pub detail_type: &'static str,
    /// `detail`: the event, JSON.
    pub detail: String,
    /// When the change happened (Unix seconds): the entry's `Time`.
    pub time: i64,
    /// The sequence number of the record it comes from.
    sequence_number: String,
}

impl Entry {
    /// Its size as EventBridge counts it, without the source.
    fn size(&self) -> usize {
        self.detail_type.len() + self.detail.len() + 14
    }
}

/// What became of one entry of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Put {
    Accepted,
    /// `ErrorCode` and `ErrorMessage` of an entry the bus refused.
    Refused {
        code: String,
        message: String,
    },
}

/// Where events go.
pub trait Bus: Sync {
    /// `entries` in one request: what became of each, in the same order, or why the request
    /// failed as a whole (after the client's own retries).
    fn put(&self, entries: &[Entry]) -> impl Future<Output = Result<Vec<Put>, String>> + Send;
}

/// What one batch came to: also the function's log line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Published {
    pub records: usize,
    /// Events put and accepted.
    pub events: usize,
    /// `PutEvents` requests sent.
    pub requests: usize,
    /// The first record not published (it and every one after it are delivered again).
    pub failed_at: Option<String>,
    /// Why, when one failed.
    pub reason: Option<String>,
}

impl Published {
    /// The partial batch response the stream reads.
    pub fn response(&self) -> BatchResponse {
        match &self.failed_at {
            Some(sequence_number) => BatchResponse::failed_from(sequence_number.clone()),
            None => BatchResponse::done(),
        }
    }
}

/// The entry of a record's change, if it is one, or why the record cannot be read.
pub fn entry_of(record: &StreamRecord) -> Result<Option<Entry>, String> {
    let change = &record.dynamodb;
    let decode = |image: Option<&crate::store::StreamImage>| {
        image
            .map(order_in_image)
            .transpose()
            .map(Option::flatten)
            .map_err(|e| telemetry::error_chain(&e))
    };
    let before = decode(change.old_image.as_ref())?;
    let after = decode(change.new_image.as_ref())?;
    if after.is_none() {
        return Ok(None);
    }
    let at = change
        .recorded_at()
        .ok_or("the record has no ApproximateCreationDateTime")?;
    let Some(event) = event_of(before.as_ref(), after.as_ref(), at) else {
        return Ok(None);
    };
    let detail = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    Ok(Some(Entry {
        order: event.order_id(),
        detail_type: event.kind.name(),
        detail,
        // The event's own time (never before its order was created), as its detail says.
        time: crate::domain::unix_of(&event.occurred_at).unwrap_or(at),
        sequence_number: change.sequence_number.clone(),
    }))
}

/// The requests that put `entries` in order: at most [`MAX_ENTRIES_PER_PUT`] entries and
/// [`MAX_BYTES_PER_PUT`] bytes each, never two of one order in one request.
pub fn requests_for(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut requests: Vec<Vec<Entry>> = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let full = current.len() == MAX_ENTRIES_PER_PUT
            || bytes + entry.size() > MAX_BYTES_PER_PUT
            || current.iter().any(|e| e.order == entry.order);
        if full && !current.is_empty() {
            requests.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += entry.size();
        current.push(entry);
    }
    if !current.is_empty() {
        requests.push(current);
    }
    requests
}

/// Publishes the changes of `records` (one shard's, oldest first) on `bus`, starting no request
/// after `deadline`.
pub async fn publish(records: &[StreamRecord], bus: &impl Bus, deadline: Instant) -> Published {
    let mut published = Published {
        records: records.len(),
        ..Published::default()
    };
    let mut entries = Vec::new();
    // A record that cannot be read stops the batch there: what comes before it is put first.
    let mut unreadable = None;
    for record in records {
        match entry_of(record) {
            Ok(entry) => entries.extend(entry),
            Err(reason) => {
                unreadable = Some((record.dynamodb.sequence_number.clone(), reason));
                break;
            }
        }
    }
    for request in requests_for(entries) {
        let first = request[0].sequence_number.clone();
        if Instant::now() >= deadline {
            published.failed_at = Some(first);
            published.reason = Some("out of time before the request".to_owned());
            return published;
        }
        published.requests += 1;
        let results = match bus.put(&request).await {
            Ok(results) if results.len() == request.len() => results,
            Ok(results) => {
                published.failed_at = Some(first);
                published.reason = Some(format!(
                    "the bus answered {} results for {} entries",
                    results.len(),
                    request.len()
                ));
                return published;
            }
            Err(reason) => {
                published.failed_at = Some(first);
                published.reason = Some(reason);
                return published;
            }
        };
        let refused = results
            .iter()
            .position(|r| matches!(r, Put::Refused { .. }));
        if let Some(i) = refused {
            // Entries after it in the request may have been accepted: they are put again with
            // it, the same events.
            published.events += i;
            published.failed_at = Some(request[i].sequence_number.clone());
            if let Put::Refused { code, message } = &results[i] {
                published.reason = Some(format!("entry refused: {code}: {message}"));
            }
            return published;
        }
        published.events += request.len();
    }
    if let Some((sequence_number, reason)) = unreadable {
        published.failed_at = Some(sequence_number);
        published.reason = Some(format!("unreadable record: {reason}"));
    }
    published
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::domain::{CartId, ItemId, Order, OrderLine, OrderStatus, Price, UserId};
    use crate::stream::StreamEvent;

    /// A bus that records each request and answers from a script: per request, `None` accepts
    /// all, `Some(Err)` fails the request, `Some(Ok(i))` refuses entry `i`.
    #[derive(Default)]
    struct FakeBus {
        script: Mutex<Vec<Option<Result<usize, String>>>>,
        requests: Mutex<Vec<Vec<(String, &'static str)>>>,
    }

    impl FakeBus {
        fn answering(script: Vec<Option<Result<usize, String>>>) -> Self {
            Self {
                script: Mutex::new(script.into_iter().rev().collect()),
                ..Self::default()
            }
        }

        /// Each request's entries: (order id, detail-type).
        fn requests(&self) -> Vec<Vec<(String, &'static str)>> {
            self.requests.lock().unwrap().clone()
        }
    }

    impl Bus for FakeBus {
        async fn put(&self, entries: &[Entry]) -> Result<Vec<Put>, String> {
            let seen = entries.iter().map(|e| (e.order.to_string(), e.detail_type));
            self.requests.lock().unwrap().push(seen.collect());
            let answer = self.script.lock().unwrap().pop().flatten();
            match answer {
                None => Ok(vec![Put::Accepted; entries.len()]),
                Some(Err(reason)) => Err(reason),
                Some(Ok(refused)) => Ok((0..entries.len())
                    .map(|i| match i == refused {
                        true => Put::Refused {
                            code: "InternalFailure".to_owned(),
                            message: "injected".to_owned(),
                        },
                        false => Put::Accepted,
                    })
                    .collect()),
            }
        }
    }

    fn order(key: &str, status: OrderStatus, version: u64) -> Order {
        let user = UserId::parse("7").unwrap();
        Order {
            id: OrderId::of_key(key),
            cart_id: CartId::generate(user.clone()),
            user_id: user,
            lines: vec![OrderLine {
                item_id: ItemId::new(1).unwrap(),
                name: "Wine".to_owned(),
                quantity: 1,
                unit_price: Price::new(100).unwrap(),
            }],
            subtotal: 100,
            discount: None,
            total: 100,
            created_at: "2026-12-05T12:59:00Z".to_owned(),
            status,
            version,
            payment_due_by: None,
            refund_due: false,
            payment_reference: None,
        }
    }

    /// An order's item as the stream carries it.
    fn image(order: &Order) -> Value {
        let line = &order.lines[0];
        json!({
            "order_id": {"S": order.id.to_string()},
            "user_id": {"S": order.user_id.to_string()},
            "cart_id": {"S": order.cart_id.to_string()},
            "lines": {"L": [{"M": {
                "item_id": {"N": line.item_id.get().to_string()},
                "name": {"S": line.name},
                "quantity": {"N": line.quantity.to_string()},
                "unit_price": {"N": line.unit_price.get().to_string()},
            }}]},
            "total": {"N": order.total.to_string()},
            "created_at": {"S": order.created_at},
            "created_key": {"S": order.position()},
            "request": {"S": "purchase"},
            "status": {"S": order.status.as_str()},
            "version": {"N": order.version.to_string()},
            "refund_due": {"BOOL": order.refund_due},
        })
    }

    /// A record of a change from `before` to `after` (JSON items), numbered `n`.
    fn record(n: u64, before: Option<Value>, after: Option<Value>) -> Value {
        let name = match (&before, &after) {
            (None, _) => "INSERT",
            (_, None) => "REMOVE",
            _ => "MODIFY",
        };
        let mut change = json!({
            "ApproximateCreationDateTime": 1_796_475_540.0,
            "Keys": {"order_id": {"S": "k"}},
            "SequenceNumber": format!("{:021}", 100 + n),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(before) = before {
            change["OldImage"] = before;
        }
        if let Some(after) = after {
            change["NewImage"] = after;
        }
        json!({"eventID": format!("e{n}"), "eventName": name, "dynamodb": change})
    }

    fn records(values: Vec<Value>) -> Vec<StreamRecord> {
        let event: StreamEvent = serde_json::from_value(json!({ "Records": values })).unwrap();
        event.records
    }

    fn seq(n: u64) -> Option<String> {
        Some(format!("{:021}", 100 + n))
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// A purchase, a payment and a fulfilment of order `key`, records `from`, `from + 1`, ...
    fn life_of(key: &str, from: u64) -> Vec<Value> {
        let placed = order(key, OrderStatus::PendingPayment, 0);
        let paid = order(key, OrderStatus::Paid, 1);
        let fulfilled = order(key, OrderStatus::Fulfilled, 2);
        vec![
            record(from, None, Some(image(&placed))),
            record(from + 1, Some(image(&placed)), Some(image(&paid))),
            record(from + 2, Some(image(&paid)), Some(image(&fulfilled))),
        ]
    }

    #[tokio::test]
    async fn changes_of_one_order_go_one_request_each_in_the_order_they_were_written() {
        let bus = FakeBus::default();
        let batch = records(life_of("a", 0));

        let published = publish(&batch, &bus, later()).await;

        assert_eq!(published.failed_at, None);
        assert_eq!((published.events, published.requests), (3, 3));
        let kinds: Vec<Vec<&str>> = bus
            .requests()
            .iter()
            .map(|r| r.iter().map(|(_, k)| *k).collect())
            .collect();
        assert_eq!(kinds, [["OrderPlaced"], ["OrderPaid"], ["OrderFulfilled"]]);
    }

    #[tokio::test]
    async fn changes_of_many_orders_go_ten_to_a_request_and_key_records_publish_nothing() {
        let bus = FakeBus::default();
        let mut values = Vec::new();
        for n in 0..25 {
            values.push(record(
                2 * n,
                None,
                Some(image(&order(&format!("k{n}"), OrderStatus::Placed, 0))),
            ));
            // A user's key's record of a cart write: no lines, no event.
            let key_record = json!({"order_id": {"S": format!("r{n}")}, "status": {"N": "200"}});
            values.push(record(2 * n + 1, None, Some(key_record)));
        }

        let published = publish(&records(values), &bus, later()).await;

        assert_eq!((published.records, published.events), (50, 25));
        let sizes: Vec<usize> = bus.requests().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(published.response(), BatchResponse::done());
    }

    #[tokio::test]
    async fn an_order_written_over_an_expired_keys_record_is_placed_and_the_records_end_is_nothing()
    {
        let record =
            json!({"order_id": {"S": "k"}, "status": {"N": "200"}, "expires_at": {"N": "1"}});
        let placed = image(&order("k", OrderStatus::Placed, 0));
        let batch = records(vec![
            // The purchase's put over a key's record of a cart write that had expired.
            self::record(0, Some(record.clone()), Some(placed)),
            // TTL deleting another expired record.
            self::record(1, Some(record), None),
        ]);
        let bus = FakeBus::default();

        let published = publish(&batch, &bus, later()).await;

        assert_eq!(published.events, 1);
        assert_eq!(
            bus.requests(),
            [vec![(OrderId::of_key("k").to_string(), "OrderPlaced")]]
        );
    }

    #[tokio::test]
    async fn a_refused_entry_fails_the_batch_from_its_record_on() {
        // Orders a, b, c placed (records 0, 1, 2), then a paid (3): two requests.
        let mut values: Vec<Value> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(n, k)| {
                record(
                    n as u64,
                    None,
                    Some(image(&order(k, OrderStatus::PendingPayment, 0))),
                )
            })
            .collect();
        let (placed, paid) = (
            order("a", OrderStatus::PendingPayment, 0),
            order("a", OrderStatus::Paid, 1),
        );
        values.push(record(3, Some(image(&placed)), Some(image(&paid))));
        let bus = FakeBus::answering(vec![Some(Ok(1))]);

        let published = publish(&records(values), &bus, later()).await;

        // b (record 1) was refused: the stream retries from it; a's payment was never sent.
        assert_eq!(published.failed_at, seq(1));
        assert_eq!(
            published.response(),
            BatchResponse::failed_from(seq(1).unwrap())
        );
        assert_eq!((published.events, published.requests), (1, 1));
        assert!(published.reason.unwrap().contains("InternalFailure"));
    }

    #[tokio::test]
    async fn a_failed_request_fails_the_batch_from_its_first_record() {
        let bus = FakeBus::answering(vec![None, Some(Err("throttled".to_owned()))]);
        let batch = records(life_of("a", 0));

        let published = publish(&batch, &bus, later()).await;

        assert_eq!(published.failed_at, seq(1), "placed went; paid failed");
        assert_eq!(published.reason.as_deref(), Some("throttled"));
        assert_eq!(published.events, 1);
    }

    #[tokio::test]
    async fn an_unreadable_order_is_failed_after_what_comes_before_it_is_published() {
        let mut values = life_of("a", 0);
        values.truncate(2);
        let broken = json!({"order_id": {"S": "x"}, "lines": {"S": "not a list"}});
        values.push(record(2, None, Some(broken)));
        values.push(record(
            3,
            None,
            Some(image(&order("b", OrderStatus::Placed, 0))),
        ));
        let bus = FakeBus::default();

        let published = publish(&records(values), &bus, later()).await;

        assert_eq!(published.events, 2);
        assert_eq!(published.failed_at, seq(2));
        assert!(published.reason.unwrap().starts_with("unreadable record"));
    }

    #[tokio::test]
    async fn a_batch_out_of_time_stops_before_a_request_and_fails_from_it() {
        let bus = FakeBus::default();
        let batch = records(life_of("a", 0));

        let published = publish(&batch, &bus, Instant::now()).await;

        assert_eq!(published.failed_at, seq(0));
        assert!(bus.requests().is_empty());
    }

    #[test]
    fn the_same_record_is_the_same_entry_every_time() {
        let batch = records(life_of("a", 0));
        let first = entry_of(&batch[1]).unwrap().unwrap();
        let again = entry_of(&batch[1]).unwrap().unwrap();
        assert_eq!(first, again);
        let detail: Value = serde_json::from_str(&first.detail).unwrap();
        assert_eq!(detail["previous_status"], "pending_payment");
        assert_eq!(detail["order"]["status"], "paid");
        assert_eq!(detail["occurred_at"], "2026-12-05T12:59:00Z");
        assert_eq!(first.time, 1_796_475_540);
    }
}
