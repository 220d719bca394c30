//! Section 1, the order events: what `publish-order-events` adds per order change. Orders are
//! bought, paid and cancelled through the real handlers (payments taken); the test kit's stand-in
//! for Lambda's stream mapping reads the orders table's stream through the counting proxy and
//! hands the batches to the publisher in this process, whose `PutEvents` go to the local bus.
//! Twice: changes published as they come (a batch a change, as at low traffic), and a backlog
//! of them published at once (full batches, as under load or after an outage).

use std::sync::Arc;
use std::time::{Duration, Instant};

use publish_order_events::PublishOrderEvents;
use serde::Serialize;
use testkit::event_bus::LocalEventBus;
use testkit::stream::{InProcess, StreamMapping, STREAMS_TARGET_PREFIX};
use testkit::{ApiRequest, DynamoDbProxy, TestApp};

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: &'static str,
    /// Order changes made (purchases, payments, cancellations): one event each.
    pub changes: usize,
    pub events: usize,
    /// Invocations of the publisher (Lambda's, one per batch).
    pub invocations: usize,
    pub put_events_requests: usize,
    /// DynamoDB requests the publisher itself sent: none (its mapping reads the stream).
    pub dynamodb_requests: u64,
    /// Stream reads the mapping made (`GetRecords`; free for a Lambda trigger), while it ran.
    pub stream_reads: u64,
    /// From a change's commit to its event on the bus, p50 / max, as they come.
    pub latency_p50_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
}

fn publisher(bus: &LocalEventBus) -> PublishOrderEvents {
    let url = bus.url();
    let vars = move |name: &str| match name {
        "EVENT_BUS_NAME" => Some("cart-api-bench-orders".to_owned()),
        "AWS_ENDPOINT_URL_EVENTBRIDGE" => Some(url.clone()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("local".to_owned()),
        _ => None,
    };
    PublishOrderEvents::from_vars(&vars).expect("the publisher's configuration")
}

/// The changes of one order of `user`: bought, paid, and cancelled when `user` is even. After
/// each, `after` runs (and returns when its event is published, or at once).
async fn order_changes(app: &TestApp, user: u64, mut after: impl AsyncFnMut()) -> usize {
    let cart = app.cart_with(user, &[(1, 1)]).await;
    let key = crate::latency::key();
    let bought = app.send(ApiRequest::purchase(&cart, user, &key)).await;
    after().await;
    let order = bought.body["order"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::json!({ "status": "captured", "reference": format!("pi_{user}") });
    app.send(ApiRequest::admin_order_payment(&order).json(body))
        .await;
    after().await;
    if user % 2 == 1 {
        return 2;
    }
    app.cancel_order(&order, user).await;
    after().await;
    3
}

fn stream_reads(proxy: &DynamoDbProxy) -> u64 {
    let reads = format!("{STREAMS_TARGET_PREFIX}GetRecords");
    proxy.seen("*").iter().filter(|s| s.target == reads).count() as u64
}

pub async fn run(orders: u64) -> Vec<Row> {
    let (app, proxy) = TestApp::spawn_streaming_behind_proxy().await;
    let app = app.taking_payments(900);
    app.seed(&[("Bench Item", 1000, 1_000_000)]).await;
    let dir = std::env::temp_dir().join(format!("cart-api-bench-events-{}", uuid::Uuid::new_v4()));
    let mut rows = Vec::new();

    // As they come: the mapping runs while the changes are made, one at a time.
    let bus = LocalEventBus::start(dir.join("live.jsonl")).await;
    let table = app.direct().tables().orders.clone();
    let mapping = StreamMapping::new(&proxy.url(), &table, InProcess(publisher(&bus)))
        .with_poll_interval(Duration::from_millis(50));
    let mapping = Arc::new(mapping);
    let (stop, receiver) = tokio::sync::watch::channel(false);
    let running = mapping.clone();
    let task = tokio::spawn(async move { running.run(receiver).await });
    let before = app.store().metrics().snapshot();
    let mut latencies = Vec::new();
    let mut made = 0;
    for user in 1_000..1_000 + orders {
        // Each change's event before the next change: a batch a change.
        let bus = &bus;
        let published = move |made: usize| async move {
            let started = Instant::now();
            while bus.events().len() < made && started.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            started.elapsed().as_secs_f64() * 1000.0
        };
        let mut count = made;
        made += order_changes(&app, user, async || {
            count += 1;
            latencies.push(published(count).await);
        })
        .await;
    }
    stop.send_replace(true);
    let _ = task.await;
    let handlers = app.store().metrics().snapshot().since(&before).requests;
    let non_stream = proxy
        .seen("*")
        .iter()
        .filter(|s| !s.target.starts_with(STREAMS_TARGET_PREFIX))
        .count() as u64;
    latencies.sort_by(f64::total_cmp);
    rows.push(Row {
        scenario: "as they come (a batch a change)",
        changes: made,
        events: bus.events().len(),
        invocations: mapping.log().batches.len(),
        put_events_requests: bus.requests().len(),
        dynamodb_requests: non_stream.saturating_sub(handlers),
        stream_reads: stream_reads(&proxy),
        latency_p50_ms: latencies.get(latencies.len() / 2).copied(),
        latency_max_ms: latencies.last().copied(),
    });

    // A backlog: the changes first, then the stream read to its end.
    let mut backlog = 0;
    for user in 2_000..2_000 + orders {
        backlog += order_changes(&app, user, async || {}).await;
    }
    let bus = LocalEventBus::start(dir.join("backlog.jsonl")).await;
    let mapping = StreamMapping::new(&proxy.url(), &table, InProcess(publisher(&bus)));
    proxy.reset_counts();
    mapping.drain().await.expect("the stream runs dry");
    let backlog_events = bus.events().len();
    rows.push(Row {
        scenario: "a backlog, read at once (full batches)",
        // The live run's changes are in the stream too: published again, the same events.
        changes: backlog + made,
        events: backlog_events,
        invocations: mapping.log().batches.len(),
        put_events_requests: bus.requests().len(),
        dynamodb_requests: proxy
            .seen("*")
            .iter()
            .filter(|s| !s.target.starts_with(STREAMS_TARGET_PREFIX))
            .count() as u64,
        stream_reads: stream_reads(&proxy),
        latency_p50_ms: None,
        latency_max_ms: None,
    });
    app.drop_tables().await;
    let _ = std::fs::remove_dir_all(&dir);
    rows
}
