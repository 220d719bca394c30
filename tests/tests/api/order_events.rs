//! The order events end to end, as `make dev` runs them: the app's orders table in DynamoDB
//! Local, its real stream read by the stand-in for Lambda's event source mapping
//! (`testkit::stream`), batches handed to the publisher's handler in this process, its real
//! EventBridge client putting the events on the local bus (`testkit::event_bus`), which appends
//! them to a file of the test's own. Every event a test sees is checked against asyncapi.yaml.
//!
//! What is proved: each committed change of an order is one event, once, in the order of the
//! changes, within about 2 s; nothing for what did not commit (a cancelled transaction, a refused
//! condition, a replayed key) or is no order (a key's record of a cart write); under faults (a
//! lost `PutEvents` answer, an entry refused, a request failing, the publisher killed between
//! its put and its checkpoint, a record it cannot read) an event may come twice, always with the
//! same `event_id`, and none is lost: what the publisher gives up on is in the dead-letter file.
//!
//! "Nothing else was published" is read after a last change whose event is waited for: DynamoDB
//! Local keeps a table's stream in one shard, in the order of the writes, so every change before
//! that one has been delivered by then.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use publish_order_events::PublishOrderEvents;
use serde_json::Value;
use shared::domain::now_unix;
use testkit::contract::Contract;
use testkit::event_bus::{BusFault, LocalEventBus};
use testkit::stream::{Checkpoints, Ended, InProcess, StreamMapping};
use testkit::{ApiRequest, Fault, TestApp, TestResponse, Times};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WINE: u64 = 1;
const BUS: &str = "cart-api-test-orders";

/// A folder of the test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cart-api-events-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The publisher as deployed, its EventBridge client pointed at `bus`.
fn publisher(bus: &LocalEventBus) -> PublishOrderEvents {
    let url = bus.url();
    let vars = move |name: &str| match name {
        "EVENT_BUS_NAME" => Some(BUS.to_owned()),
        "EVENT_SOURCE" => Some("cart-api".to_owned()),
        "AWS_ENDPOINT_URL_EVENTBRIDGE" => Some(url.clone()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("local".to_owned()),
        _ => None,
    };
    PublishOrderEvents::from_vars(&vars).expect("the publisher's configuration")
}

/// The path of `app`'s order events: the local bus, and the stream mapping into the publisher.
struct Events {
    bus: LocalEventBus,
    table: String,
    checkpoints: Arc<Checkpoints>,
    mapping: Option<Arc<StreamMapping<InProcess>>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Ended>>,
    contract: Contract,
    scratch: Scratch,
}

impl Events {
    /// The bus, and the mapping not started yet.
    async fn ready(app: &TestApp) -> Self {
        let scratch = Scratch::new();
        let bus = LocalEventBus::start(scratch.0.join("order-events.jsonl")).await;
        let checkpoints = Arc::new(Checkpoints::in_file(scratch.0.join("checkpoints.json")));
        Self {
            bus,
            table: app.direct().tables().orders.clone(),
            checkpoints,
            mapping: None,
            stop: watch::channel(false).0,
            task: None,
            contract: Contract::load(),
            scratch,
        }
    }

    /// The bus and the mapping, running.
    async fn start(app: &TestApp) -> Self {
        let mut events = Self::ready(app).await;
        events.run(|mapping| mapping);
        events
    }

    /// A mapping (made as `configure` says) on the table's stream, running in the background,
    /// with the checkpoints of any mapping before it.
    fn run(
        &mut self,
        configure: impl FnOnce(StreamMapping<InProcess>) -> StreamMapping<InProcess>,
    ) -> Arc<StreamMapping<InProcess>> {
        let mapping = StreamMapping::new(
            &testkit::dynamodb_endpoint(),
            &self.table,
            InProcess(publisher(&self.bus)),
        )
        .with_checkpoints(self.checkpoints.clone())
        .with_dead_letter_file(self.scratch.0.join("dead-letters.jsonl"))
        .with_poll_interval(Duration::from_millis(50));
        let mapping = Arc::new(configure(mapping));
        let (stop, receiver) = watch::channel(false);
        let running = mapping.clone();
        self.task = Some(tokio::spawn(async move { running.run(receiver).await }));
        self.stop = stop;
        self.mapping = Some(mapping.clone());
        mapping
    }

    /// How the running mapping's run ended.
    async fn ended(&mut self) -> Ended {
        let task = self.task.take().expect("a mapping runs");
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("the mapping's run ends")
            .unwrap()
    }

    /// The events appended so far, each checked against asyncapi.yaml.
    fn seen(&self) -> Vec<Value> {
        let events = self.bus.events();
        for event in &events {
            self.contract.assert_valid(event);
        }
        events
    }

    /// Waits until `n` events are appended (20 s at most): them, and how long it took.
    async fn wait_for(&self, n: usize) -> (Vec<Value>, Duration) {
        let started = Instant::now();
        loop {
            let events = self.bus.events();
            if events.len() >= n {
                return (self.seen(), started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{n} events expected, {} appended: {events:#?}",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` events are appended, and a little longer to see that no more come.
    async fn exactly(&self, n: usize) -> Vec<Value> {
        self.wait_for(n).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let events = self.seen();
        assert_eq!(events.len(), n, "{events:#?}");
        events
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// `(detail-type, previous_status)` of each event.
fn kinds(events: &[Value]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            let kind = e["detail-type"].as_str().unwrap().to_owned();
            (kind, e["detail"]["previous_status"].clone())
        })
        .collect()
}

fn kind(name: &str, previous: Option<&str>) -> (String, Value) {
    (name.to_owned(), previous.map_or(Value::Null, Value::from))
}

fn event_id(event: &Value) -> &str {
    event["detail"]["event_id"].as_str().unwrap()
}

/// The events once each (the first of every `event_id`), checking that every copy of an event is
/// the same event.
fn deduplicated(events: &[Value]) -> Vec<Value> {
    let mut first: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut once = Vec::new();
    for event in events {
        match first.get(event_id(event)) {
            Some(seen) => assert_eq!(
                seen["detail"], event["detail"],
                "the same event_id, another event"
            ),
            None => {
                first.insert(event_id(event), event);
                once.push(event.clone());
            }
        }
    }
    once
}

/// Asserts that each order's events come in the order of its versions, one version apart.
fn assert_in_order_per_order(events: &[Value]) {
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for event in deduplicated(events) {
        let order = &event["detail"]["order"];
        let id = order["id"].as_str().unwrap().to_owned();
        versions
            .entry(id)
            .or_default()
            .push(order["version"].as_u64().unwrap());
    }
    for (order, versions) in versions {
        let expected: Vec<u64> = (0..versions.len() as u64).collect();
        assert_eq!(versions, expected, "the events of order {order} in order");
    }
}

/// `user` buys `quantity` wines: the purchase's answer and the order's id.
async fn buy(app: &TestApp, user: u64, quantity: u64) -> (TestResponse, String) {
    let cart = app.cart_with(user, &[(WINE, quantity)]).await;
    let key = format!("buy-{user}-{}", uuid::Uuid::new_v4());
    let r = app.purchase(&cart, user, &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["order"]["id"].as_str().unwrap().to_owned();
    (r, id)
}

async fn pay(app: &TestApp, order: &str) -> TestResponse {
    let r = app
        .report_payment(order, "captured", &format!("pi_{order}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// An app taking payments (orders wait `pending_payment`), with 1,000 wines.
async fn shop() -> TestApp {
    let app = TestApp::spawn_streaming().await.taking_payments(900);
    app.seed(&[("Wine - Port", 869, 1000)]).await;
    app
}

// --- the happy path ------------------------------------------------------------------------------

#[tokio::test]
async fn a_purchase_a_payment_and_a_cancellation_are_each_published_once_in_order_within_two_seconds(
) {
    let app = shop().await;
    let events = Events::start(&app).await;

    let (bought, order) = buy(&app, 7, 2).await;
    let (_, placed_after) = events.wait_for(1).await;
    pay(&app, &order).await;
    let (_, paid_after) = events.wait_for(2).await;
    let cancelled = app.cancel_order(&order, 7).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let (_, cancelled_after) = events.wait_for(3).await;

    let seen = events.exactly(3).await;
    assert_eq!(
        kinds(&seen),
        [
            kind("OrderPlaced", None),
            kind("OrderPaid", Some("pending_payment")),
            kind("OrderCancelled", Some("paid")),
        ]
    );
    for latency in [placed_after, paid_after, cancelled_after] {
        assert!(
            latency < Duration::from_secs(2),
            "published after {latency:?}"
        );
    }
    // The order as the purchase answered it, then as GET shows it now.
    assert_eq!(seen[0]["detail"]["order"], bought.body["order"]);
    let now = app.get_order(&order, Some("7")).await;
    assert_eq!(seen[2]["detail"]["order"], now.body["order"]);
    assert_eq!(seen[2]["detail"]["order"]["refund_due"], true);
    let ids: BTreeSet<&str> = seen.iter().map(event_id).collect();
    assert_eq!(ids.len(), 3, "three changes, three ids");
    for event in &seen {
        assert_eq!(event["source"], "cart-api");
        assert_eq!(event["time"], event["detail"]["occurred_at"]);
    }
    let requests = events.bus.requests();
    assert!(requests.iter().all(|r| r.buses.iter().all(|b| b == BUS)));
    app.drop_tables().await;
}

#[tokio::test]
async fn every_transition_of_an_order_is_one_event_that_names_the_status_it_left() {
    let app = shop().await;
    let events = Events::start(&app).await;

    // Paid, then fulfilled.
    let (_, paid) = buy(&app, 7, 1).await;
    pay(&app, &paid).await;
    assert_eq!(app.fulfil_order(&paid).await.status, 200);
    // The payment failed: cancelled.
    let (_, failed) = buy(&app, 8, 1).await;
    let r = app.report_payment(&failed, "failed", "pi_declined").await;
    assert_eq!(r.body["order"]["status"], "cancelled", "{}", r.text);
    // Nobody paid: the sweep expires it once its window has closed.
    let (_, unpaid) = buy(&app, 9, 1).await;
    assert_eq!(app.sweep_at(now_unix() + 901).await.expired_orders, 1);
    // Without payments: placed, cancelled by an admin; placed, fulfilled.
    let placing = {
        let mut app = app;
        app.state.config.payment = shared::domain::PaymentMode::None;
        app
    };
    let (_, cancelled) = buy(&placing, 10, 1).await;
    assert_eq!(placing.admin_cancel_order(&cancelled).await.status, 200);
    let (_, fulfilled) = buy(&placing, 11, 1).await;
    assert_eq!(placing.fulfil_order(&fulfilled).await.status, 200);

    let seen = events.exactly(11).await;
    let of = |order: &str| -> Vec<(String, Value)> {
        let mine: Vec<Value> = seen
            .iter()
            .filter(|e| e["detail"]["order"]["id"] == order)
            .cloned()
            .collect();
        kinds(&mine)
    };
    let placed = kind("OrderPlaced", None);
    assert_eq!(
        of(&paid),
        [
            placed.clone(),
            kind("OrderPaid", Some("pending_payment")),
            kind("OrderFulfilled", Some("paid"))
        ]
    );
    assert_eq!(
        of(&failed),
        [
            placed.clone(),
            kind("OrderCancelled", Some("pending_payment"))
        ]
    );
    assert_eq!(
        of(&unpaid),
        [
            placed.clone(),
            kind("OrderExpired", Some("pending_payment"))
        ]
    );
    assert_eq!(
        of(&cancelled),
        [placed.clone(), kind("OrderCancelled", Some("placed"))]
    );
    assert_eq!(
        of(&fulfilled),
        [placed, kind("OrderFulfilled", Some("placed"))]
    );
    assert_in_order_per_order(&seen);
    let first_statuses: BTreeSet<&str> = seen
        .iter()
        .filter(|e| e["detail-type"] == "OrderPlaced")
        .map(|e| e["detail"]["order"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        first_statuses,
        BTreeSet::from(["pending_payment", "placed"])
    );
    placing.drop_tables().await;
}

// --- nothing for what did not commit ------------------------------------------------------------

#[tokio::test]
async fn changes_that_did_not_commit_and_key_records_of_cart_writes_publish_nothing() {
    let (app, proxy) = TestApp::spawn_streaming_behind_proxy().await;
    let app = app.taking_payments(900);
    app.seed(&[("Wine - Port", 869, 3)]).await;
    let events = Events::start(&app).await;

    // A keyed cart write: its key's record is an item of the orders table, no order.
    let cart = app.new_cart(7).await;
    let keyed = ApiRequest::add(&cart, 7, WINE, 2).header("Idempotency-Key", "add-two");
    assert_eq!(app.send(keyed).await.status, 200);
    // A purchase, and the same key again: replayed, nothing written.
    let (bought, order) = {
        let r = app.purchase(&cart, 7, "the-purchase").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.body["order"]["id"].as_str().unwrap().to_owned();
        (r, id)
    };
    let replayed = app.purchase(&cart, 7, "the-purchase").await;
    assert_eq!(replayed.text, bought.text);
    // A cancelled transaction: more than the stock left.
    let greedy = app.cart_with(8, &[(WINE, 1)]).await;
    app.set_stock(WINE, 0).await;
    app.purchase(&greedy, 8, "too-many")
        .await
        .assert_problem(409, "insufficient_stock");
    app.set_stock(WINE, 3).await;
    // A payment whose answer was lost after it was written: the SDK's resend is refused by its
    // condition, nothing written twice.
    proxy.inject("UpdateItem", Fault::LoseResponse, Times::Once);
    pay(&app, &order).await;
    // A cancellation whose transaction conflicts once, then commits.
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Once,
    );
    assert_eq!(app.cancel_order(&order, 7).await.status, 200);
    // Cancelled again: already so, nothing written. Fulfilled: refused by the rule.
    assert_eq!(app.cancel_order(&order, 7).await.status, 200);
    app.fulfil_order(&order)
        .await
        .assert_problem(409, "order_not_fulfillable");
    // A payment of a cancelled order: refused.
    let late = app.report_payment(&order, "captured", "pi_other").await;
    assert_eq!(late.status, 409, "{}", late.text);
    // Last, a change whose event closes the list.
    let (_, last) = buy(&app, 9, 1).await;

    let seen = events.exactly(4).await;
    assert_eq!(
        kinds(&seen),
        [
            kind("OrderPlaced", None),
            kind("OrderPaid", Some("pending_payment")),
            kind("OrderCancelled", Some("paid")),
            kind("OrderPlaced", None),
        ]
    );
    assert_eq!(seen[3]["detail"]["order"]["id"], last);
    assert!(seen[..3]
        .iter()
        .all(|e| e["detail"]["order"]["id"] == order));
    app.drop_tables().await;
}

// --- faults ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_lost_put_events_answer_delivers_the_event_again_with_the_same_event_id() {
    let app = shop().await;
    let events = Events::start(&app).await;
    events.bus.inject(BusFault::LoseAnswer, Times::Once);

    let (_, order) = buy(&app, 7, 1).await;
    let (twice, _) = events.wait_for(2).await;
    pay(&app, &order).await;

    let seen = events.exactly(3).await;
    assert_eq!(
        event_id(&twice[0]),
        event_id(&twice[1]),
        "delivered again, the same event"
    );
    assert_ne!(
        twice[0]["id"], twice[1]["id"],
        "EventBridge's own id is the delivery's"
    );
    let once = deduplicated(&seen);
    assert_eq!(
        kinds(&once),
        [
            kind("OrderPlaced", None),
            kind("OrderPaid", Some("pending_payment"))
        ]
    );
    app.drop_tables().await;
}

#[tokio::test]
async fn a_refused_entry_is_put_again_with_those_after_it_and_each_orders_events_stay_in_order() {
    let app = shop().await;
    // Five changes in one batch: orders a, b and c placed, then a and b paid.
    let (_, a) = buy(&app, 7, 1).await;
    let (_, b) = buy(&app, 8, 1).await;
    let (_, c) = buy(&app, 9, 1).await;
    pay(&app, &a).await;
    pay(&app, &b).await;
    let mut events = Events::ready(&app).await;
    // The first request's second entry (b placed) is refused; a and c placed are appended.
    events.bus.inject(BusFault::RefuseEntry(1), Times::Once);
    let mapping = events.run(|m| m);

    let (seen, _) = events.wait_for(6).await;
    let seen = events.exactly(seen.len()).await;

    let once = deduplicated(&seen);
    assert_eq!(once.len(), 5, "every change once at least: {seen:#?}");
    assert_in_order_per_order(&seen);
    let orders = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["detail"]["order"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // a placed, c placed; then from b placed on again: b placed, c placed (again), a paid; b paid.
    assert_eq!(orders(&seen), [&a, &c, &b, &c, &a, &b].map(String::as_str));
    let log = mapping.log();
    assert_eq!(
        log.batches.len(),
        2,
        "the batch, then the rest of it from b placed"
    );
    assert_eq!(log.batches[1][..], log.batches[0][1..]);
    app.drop_tables().await;
}

#[tokio::test]
async fn a_failed_put_events_request_is_sent_again_from_its_first_record() {
    let app = shop().await;
    let events = Events::start(&app).await;
    // Three failures: the SDK's three attempts, then the stream delivers the batch again.
    events.bus.inject(BusFault::InternalError, Times::N(3));

    let (_, order) = buy(&app, 7, 1).await;
    events.wait_for(1).await;
    pay(&app, &order).await;

    let seen = events.exactly(2).await;
    assert_eq!(
        kinds(&seen),
        [
            kind("OrderPlaced", None),
            kind("OrderPaid", Some("pending_payment"))
        ]
    );
    let requests = events.bus.requests();
    assert_eq!(
        requests.len(),
        5,
        "3 failed, then the placement and the payment: {requests:?}"
    );
    let log = events.mapping.as_ref().unwrap().log();
    assert_eq!(log.batches[0], log.batches[1], "the batch delivered again");
    let failed = log.answers[0].as_ref().unwrap();
    assert_eq!(
        failed["batchItemFailures"][0]["itemIdentifier"],
        log.batches[0][0].as_str()
    );
    app.drop_tables().await;
}

#[tokio::test]
async fn the_publisher_killed_between_its_put_and_its_checkpoint_delivers_again_with_the_same_event_id(
) {
    let app = shop().await;
    let mut events = Events::ready(&app).await;
    let first = events.run(|m| m);
    first.die_before_checkpoint(1);

    let (_, order) = buy(&app, 7, 1).await;
    assert_eq!(events.ended().await, Ended::Killed);
    assert_eq!(events.seen().len(), 1, "put before the kill");
    // Started again on the same checkpoints: the batch comes again.
    events.run(|m| m);
    events.wait_for(2).await;
    pay(&app, &order).await;

    let seen = events.exactly(3).await;
    assert_eq!(event_id(&seen[0]), event_id(&seen[1]));
    assert_eq!(seen[0]["detail"], seen[1]["detail"]);
    assert_eq!(
        kinds(&deduplicated(&seen)),
        [
            kind("OrderPlaced", None),
            kind("OrderPaid", Some("pending_payment"))
        ]
    );
    app.drop_tables().await;
}

#[tokio::test]
async fn changes_of_one_order_in_one_batch_are_put_one_request_each_in_the_order_they_were_written()
{
    let app = shop().await;
    let (_, a) = buy(&app, 7, 1).await;
    pay(&app, &a).await;
    assert_eq!(app.fulfil_order(&a).await.status, 200);
    let (_, b) = buy(&app, 8, 1).await;
    let mut events = Events::ready(&app).await;
    let mapping = events.run(|m| m);

    let seen = events.exactly(4).await;

    assert_eq!(
        mapping.log().batches.len(),
        1,
        "one batch of the four changes"
    );
    let requests = events.bus.requests();
    let per_request: Vec<Vec<String>> = requests.iter().map(|r| r.detail_types.clone()).collect();
    assert_eq!(
        per_request,
        [
            vec!["OrderPlaced"],
            vec!["OrderPaid"],
            vec!["OrderFulfilled", "OrderPlaced"]
        ]
    );
    for request in &requests {
        let orders: BTreeSet<_> = request.orders.iter().collect();
        assert_eq!(
            orders.len(),
            request.orders.len(),
            "one change of an order per request"
        );
    }
    assert_in_order_per_order(&seen);
    assert_eq!(seen[3]["detail"]["order"]["id"], b);
    app.drop_tables().await;
}

#[tokio::test]
async fn a_record_the_publisher_cannot_read_goes_to_the_dead_letter_queue_after_its_retries_and_the_rest_flows(
) {
    let app = shop().await;
    let mut events = Events::ready(&app).await;
    let mapping = events.run(|m| m.with_max_retries(2));
    // An order's item no code writes: its lines are not a list.
    app.direct()
        .client()
        .put_item()
        .table_name(&app.direct().tables().orders)
        .item(
            "order_id",
            aws_sdk_dynamodb::types::AttributeValue::S("broken".to_owned()),
        )
        .item(
            "lines",
            aws_sdk_dynamodb::types::AttributeValue::S("not a list".to_owned()),
        )
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    while mapping.log().dead_letters.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            mapping.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    buy(&app, 7, 1).await;

    let seen = events.exactly(1).await;
    assert_eq!(kinds(&seen), [kind("OrderPlaced", None)]);
    let log = mapping.log();
    let broken = &log.batches[0][0];
    assert_eq!(
        log.batches[..3],
        [
            vec![broken.clone()],
            vec![broken.clone()],
            vec![broken.clone()]
        ]
    );
    let letter = &log.dead_letters[0];
    assert_eq!(
        letter["DDBStreamBatchInfo"]["startSequenceNumber"],
        broken.as_str()
    );
    assert_eq!(
        letter["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    let file = testkit::event_bus::read_events(&events.scratch.0.join("dead-letters.jsonl"));
    assert_eq!(file, std::slice::from_ref(letter));
    app.drop_tables().await;
}
