//! `make dev`'s order events: the local stand-ins for the two hops that are AWS's own, around
//! the real publisher. Lambda's event source mapping (`testkit::stream`) reads the orders
//! table's stream in DynamoDB Local and calls `publish-order-events`'s handler in this process,
//! batch by batch; the publisher's EventBridge client puts the events on a local bus
//! (`testkit::event_bus`) that appends each one, as a rule's target would receive it, as a JSON
//! line to `$LOCAL_EVENTS_FILE`.
//!
//! Environment: `ORDERS_TABLE`, `AWS_ENDPOINT_URL_DYNAMODB` (the stream is read there),
//! `EVENT_BUS_NAME`, `EVENT_SOURCE`, `LOCAL_EVENTS_FILE` (default
//! `.local/events/order-events.jsonl`), `LOCAL_EVENTS_PORT` (the local bus's port; 0, the
//! default, picks a free one). With `AWS_ENDPOINT_URL_EVENTBRIDGE` set, events go there and no
//! local bus is started. Beside the events file: the shards' checkpoints
//! (`order-events.checkpoints.json`), so that a restart goes on where the last run stopped (a
//! batch put but not yet checkpointed when the process was killed is delivered again: the same
//! events, the same `event_id`s), and the batches given up on after their retries, as the
//! dead-letter queue would get them (`order-events.dead-letters.jsonl`).
//!
//! It prints `local EventBridge: <url>` once the bus listens (scripts/dev.sh waits for it and
//! gives the URL to `cargo lambda watch`), and runs until it is stopped.

use std::sync::Arc;

use publish_order_events::PublishOrderEvents;
use testkit::event_bus::LocalEventBus;
use testkit::stream::{Checkpoints, InProcess, StreamMapping};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::telemetry::init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let tables = shared::Tables::from_env();
    let file =
        var("LOCAL_EVENTS_FILE").unwrap_or_else(|| ".local/events/order-events.jsonl".to_owned());
    let file = std::path::PathBuf::from(file);

    let mut bus = None;
    let eventbridge = match var("AWS_ENDPOINT_URL_EVENTBRIDGE") {
        Some(url) => url,
        None => {
            let port = var("LOCAL_EVENTS_PORT").unwrap_or_else(|| "0".to_owned());
            let local = LocalEventBus::start_on(&format!("127.0.0.1:{port}"), &file).await;
            let url = local.url();
            bus = Some(local);
            url
        }
    };
    let vars = move |name: &str| match name {
        "AWS_ENDPOINT_URL_EVENTBRIDGE" => Some(eventbridge.clone()),
        other => std::env::var(other).ok(),
    };
    let publisher = match PublishOrderEvents::from_vars(&vars) {
        Ok(publisher) => publisher,
        Err(reason) => {
            eprintln!("stream-events: {reason}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(bus) = &bus {
        println!("local EventBridge: {}", bus.url());
    }
    println!(
        "reading the stream of {} at {}; events (bus {}, source {}) in {}",
        tables.orders,
        testkit::dynamodb_endpoint(),
        publisher.bus(),
        publisher.source(),
        file.display()
    );
    let checkpoints = Checkpoints::in_file(file.with_extension("checkpoints.json"));
    let mapping = StreamMapping::new(
        &testkit::dynamodb_endpoint(),
        &tables.orders,
        InProcess(publisher),
    )
    .with_checkpoints(Arc::new(checkpoints))
    .with_dead_letter_file(file.with_extension("dead-letters.jsonl"));
    // Until the process is stopped (make dev's SIGTERM, or its group's SIGINT or SIGHUP).
    let (_never, stop) = tokio::sync::watch::channel(false);
    mapping.run(stop).await;
    drop(bus);
    std::process::ExitCode::SUCCESS
}
