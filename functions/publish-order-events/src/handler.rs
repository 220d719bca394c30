//! `publish-order-events` (the orders table's DynamoDB stream, through Lambda's event source
//! mapping): every change of an order's status becomes one event on the shop's EventBridge bus
//! (`OrderPlaced`, `OrderPaid`, `OrderCancelled`, `OrderExpired`, `OrderFulfilled`; asyncapi.yaml
//! describes them). The loop is `shared::app::order_events::publish`; this crate is its bus,
//! EventBridge's `PutEvents`, and its configuration:
//!
//! - `EVENT_BUS_NAME`: the bus (the stack's `OrderEventsBus`, or the one the `EventBusName`
//!   parameter names); required, so that no event lands on the account's default bus by mistake.
//! - `EVENT_SOURCE`: every entry's `source` (`EventSource`, default `cart-api`).
//! - The client: DynamoDB's HTTP/TLS stack, retries and timeouts (`shared::store`), region and
//!   credentials from Lambda's environment, the endpoint from `AWS_ENDPOINT_URL_EVENTBRIDGE`
//!   (else `AWS_ENDPOINT_URL`): locally, the test kit's stand-in for EventBridge.
//!
//! A batch is answered with a partial batch response: the first record not published, from
//! which the stream delivers again (at least once, in order; `event_id` names the change).

use std::time::Instant;

use aws_sdk_eventbridge::config::{BehaviorVersion, Config};
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use shared::app::order_events::{publish, Bus, Entry, Put};
use shared::config::{process_env, Vars};
use shared::store::{https_client, retry_config, timeout_config, AwsEnv};
use shared::stream::{BatchResponse, StreamEvent, StreamFunction};

/// The `source` of every entry unless `EVENT_SOURCE` says otherwise (the template's default).
pub const DEFAULT_SOURCE: &str = "cart-api";

/// The publisher: EventBridge's client, the bus and the source.
#[derive(Clone, Debug)]
pub struct PublishOrderEvents {
    client: Client,
    bus: String,
    source: String,
}

impl PublishOrderEvents {
    /// From any source of variables (the tests point `AWS_ENDPOINT_URL_EVENTBRIDGE` at their
    /// stand-in).
    pub fn from_vars(vars: Vars<'_>) -> Result<Self, String> {
        let given = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let bus = given("EVENT_BUS_NAME")
            .ok_or("EVENT_BUS_NAME is not set: no bus to put the order events on")?;
        let source = given("EVENT_SOURCE").unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
        if source.starts_with("aws.") || source.len() > 256 {
            return Err(format!(
                "EVENT_SOURCE {source:?}: a source has at most 256 characters and cannot start \
                 with aws. (EventBridge keeps those for AWS)"
            ));
        }
        Ok(Self {
            client: Client::from_conf(client_config(vars)),
            bus,
            source,
        })
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// One batch: published, logged, answered.
    pub async fn publish_batch(&self, event: &StreamEvent, deadline: Instant) -> BatchResponse {
        let started = Instant::now();
        let published = publish(&event.records, self, deadline).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &published.failed_at {
            None => tracing::info!(
                function = "publish-order-events",
                records = published.records,
                events = published.events,
                put_events_requests = published.requests,
                elapsed_ms,
                "batch published"
            ),
            // Retried from there by the stream; after its retries the batch's place in the
            // stream goes to the dead-letter queue.
            Some(failed_at) => tracing::warn!(
                function = "publish-order-events",
                records = published.records,
                events = published.events,
                put_events_requests = published.requests,
                failed_at,
                reason = published.reason.as_deref().unwrap_or_default(),
                elapsed_ms,
                "batch published in part"
            ),
        }
        published.response()
    }
}

/// EventBridge's client settings: DynamoDB's HTTP stack, retries and timeouts; region,
/// credentials and endpoint from `vars` (`AWS_ENDPOINT_URL_EVENTBRIDGE`, else
/// `AWS_ENDPOINT_URL`).
pub fn client_config(vars: Vars<'_>) -> Config {
    let from = AwsEnv::read(vars, "AWS_ENDPOINT_URL_EVENTBRIDGE");
    let mut config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = from.region {
        config = config.region(region);
    }
    if let Some(credentials) = from.credentials {
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = from.endpoint {
        config = config.endpoint_url(url);
    }
    config.build()
}

impl Bus for PublishOrderEvents {
    async fn put(&self, entries: &[Entry]) -> Result<Vec<Put>, String> {
        let request = entries.iter().map(|entry| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(&self.source)
                .detail_type(entry.detail_type)
                .detail(&entry.detail)
                .time(DateTime::from_secs(entry.time))
                .build()
        });
        let out = self
            .client
            .put_events()
            .set_entries(Some(request.collect()))
            .send()
            .await
            .map_err(|e| format!("PutEvents failed: {}", DisplayErrorContext(&e)))?;
        let results = out
            .entries()
            .iter()
            .map(|result| match result.error_code() {
                None => Put::Accepted,
                Some(code) => Put::Refused {
                    code: code.to_owned(),
                    message: result.error_message().unwrap_or_default().to_owned(),
                },
            });
        let results: Vec<Put> = results.collect();
        let refused = results.iter().filter(|r| **r != Put::Accepted).count();
        if refused != out.failed_entry_count().max(0) as usize {
            return Err(format!(
                "PutEvents counted {} failed entries and listed {refused}",
                out.failed_entry_count()
            ));
        }
        Ok(results)
    }
}

impl StreamFunction for PublishOrderEvents {
    const NAME: &'static str = "publish-order-events";

    fn from_env() -> Result<Self, String> {
        Self::from_vars(&process_env)
    }

    async fn handle(&self, event: StreamEvent, deadline: Instant) -> BatchResponse {
        self.publish_batch(&event, deadline).await
    }
}
