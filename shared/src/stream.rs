//! The wrapper the functions fed by a DynamoDB stream run in (`publish-order-events`): their
//! whole `main` is `serve_stream::<F>()`. And the event Lambda's event source mapping invokes
//! them with: a batch of stream records of one shard, in order ([`StreamEvent`]), answered with a
//! partial batch response ([`BatchResponse`]: `FunctionResponseTypes: [ReportBatchItemFailures]`
//! in template.yaml), whose first failed record is where the mapping retries from.
//!
//! The types are Lambda's JSON as documented (the fields a function reads, the rest ignored);
//! the items in a record are [`StreamImage`]s, which only `store` decodes.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::{Deserialize, Serialize};

use crate::store::StreamImage;
use crate::telemetry;

/// What Lambda's event source mapping sends: records of one shard, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One change of one item.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    /// Unique per stream record.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    #[serde(
        rename = "eventSourceARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    pub dynamodb: StreamChange,
}

/// The change itself (`dynamodb` in a record).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamChange {
    /// When DynamoDB recorded the change, in Unix seconds (whole seconds on AWS; DynamoDB
    /// Local rounds to the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_creation_date_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<StreamImage>,
    /// The item after the change (none for `REMOVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<StreamImage>,
    /// The item before it (none for `INSERT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_image: Option<StreamImage>,
    /// Its position in the shard: what a batch item failure names.
    pub sequence_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
}

impl StreamChange {
    /// When the change was recorded, in whole Unix seconds.
    pub fn recorded_at(&self) -> Option<i64> {
        self.approximate_creation_date_time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| t.floor() as i64)
    }
}

/// The answer of a function fed by a stream: the records it failed (only the first matters to
/// a stream: the mapping retries from it, and every record before it counts as done).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    /// The failed record's `SequenceNumber`.
    pub item_identifier: String,
}

impl BatchResponse {
    /// Every record done.
    pub fn done() -> Self {
        Self::default()
    }

    /// Done up to the record with this sequence number, which is retried with all after it.
    pub fn failed_from(sequence_number: impl Into<String>) -> Self {
        Self {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: sequence_number.into(),
            }],
        }
    }
}

/// A function a DynamoDB stream feeds: built once per cold start, then one batch a call.
pub trait StreamFunction: Sized + Send + Sync {
    const NAME: &'static str;

    /// The cold start: configuration and clients, from the process environment.
    fn from_env() -> Result<Self, String>;

    /// One batch, to be done by `deadline` (or as much of it as fits: the rest is answered as
    /// failed, and retried).
    fn handle(
        &self,
        event: StreamEvent,
        deadline: Instant,
    ) -> impl Future<Output = BatchResponse> + Send;
}

/// How long before Lambda's deadline a batch stops starting new work.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(6);
/// A batch's time where Lambda gives no deadline (a test, `cargo lambda invoke`).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(24);

/// When a batch must stop, from Lambda's deadline (milliseconds since the epoch).
pub fn deadline_of(deadline_ms: u64) -> Instant {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(SystemTime::now()).ok();
    let budget = left
        .filter(|left| *left <= Duration::from_secs(15 * 60) && !left.is_zero())
        .map_or(DEFAULT_BUDGET, |left| left.saturating_sub(DEADLINE_MARGIN));
    Instant::now() + budget
}

/// Logging, the function built (once), then the Lambda event loop.
pub async fn serve_stream<F: StreamFunction>() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let function = F::from_env().map_err(|reason| {
        tracing::error!(function = F::NAME, reason, "cold start failed");
        lambda_runtime::Error::from(reason)
    })?;
    let function = &function;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            let deadline = deadline_of(event.context.deadline);
            let request_id = event.context.request_id.clone();
            tracing::debug!(function = F::NAME, request_id, "batch received");
            Ok::<_, lambda_runtime::Error>(function.handle(event.payload, deadline).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch as Lambda documents it ("Using AWS Lambda with Amazon DynamoDB"), with a key's
    /// record of a cart write (no `lines`).
    const LAMBDA_EVENT: &str = r#"{"Records":[{"eventID":"c4ca4238a0b923820dcc509a6f75849b",
        "eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
        "dynamodb":{"Keys":{"order_id":{"S":"k"}},"NewImage":{"order_id":{"S":"k"},"status":{"N":"200"}},
        "ApproximateCreationDateTime":1428537600,"SequenceNumber":"4421584500000000017450439091",
        "SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"},
        "eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2015-06-27T00:48:05.899"}]}"#;

    #[test]
    fn lambdas_stream_event_reads_as_a_batch_of_records() {
        let event: StreamEvent = serde_json::from_str(LAMBDA_EVENT).unwrap();
        let record = &event.records[0];
        assert_eq!(record.event_name, "INSERT");
        assert_eq!(
            record.dynamodb.sequence_number,
            "4421584500000000017450439091"
        );
        assert_eq!(record.dynamodb.recorded_at(), Some(1_428_537_600));
        assert!(record.dynamodb.new_image.is_some());
        assert!(record.dynamodb.old_image.is_none());
        let again: StreamEvent =
            serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn a_partial_batch_response_names_the_first_failed_record_as_lambda_reads_it() {
        assert_eq!(
            serde_json::to_value(BatchResponse::failed_from("17")).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "17"}]})
        );
        assert_eq!(
            serde_json::to_value(BatchResponse::done()).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }
}
