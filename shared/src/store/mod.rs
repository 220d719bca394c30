//! Every DynamoDB call and every item shape. Nothing outside this module sees an
//! `AttributeValue`.

mod carts;
mod catalog;
mod error;
mod idempotency;
mod orders;
mod purchase;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, ReturnValue,
    ReturnValuesOnConditionCheckFailure,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::http::Response as HttpResponse;

pub use crate::telemetry::{CountRequests, DbMetrics, MetricsSnapshot};
pub use carts::{AddLine, CartChange, CartCommit, CartRead};
pub use catalog::{CatalogWrite, ItemCreate, ItemUpdate, ADMIN_ID_FLOOR};
pub use error::StoreError;
pub use idempotency::NewRecord;
pub use purchase::{PurchasePlan, PurchaseSnapshot};

use crate::Tables;

/// The tables and the one client every call goes through.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
    metrics: Arc<DbMetrics>,
}

impl Store {
    /// The client for a Lambda function: region, credentials and endpoint from the environment
    /// (`AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local), short timeouts and a few quick
    /// retries, so that an unreachable DynamoDB becomes a 503 in about a second, not a timeout.
    pub async fn from_env(tables: Tables) -> Self {
        Self::from_sdk_config(&sdk_config().await, tables)
    }

    pub fn from_sdk_config(sdk: &SdkConfig, tables: Tables) -> Self {
        let metrics = Arc::new(DbMetrics::default());
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(CountRequests::new(metrics.clone()))
            .build();
        Self {
            client: Client::from_conf(config),
            tables,
            metrics,
        }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Requests sent and capacity consumed by this store's client since it was built.
    pub fn metrics(&self) -> &DbMetrics {
        &self.metrics
    }

    /// The raw client, for tools that create tables or inspect what is stored.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One item, read strongly consistent.
    pub(crate) async fn get_raw(&self, table: &str, key: Raw) -> Result<Option<Raw>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.metrics.reads(out.consumed_capacity());
        Ok(out.item)
    }

    /// Puts `item` unless an item with its key (attribute `key`) exists: done, or the item
    /// that holds the key. Exactly once, even when the SDK resends it (see [`LAST_REQUEST`]).
    pub(crate) async fn put_new(
        &self,
        table: &str,
        mut item: Raw,
        key: &str,
    ) -> Result<Written, StoreError> {
        let token = RequestToken::new();
        item.insert(LAST_REQUEST.to_owned(), s(&token.0));
        let sent = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", key)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        Ok(token.recognise(self.written(sent)?))
    }

    /// Sends an `UpdateItem` (whose condition, if any, is its whole rule; its update expression
    /// ends with a `SET` clause): the item as it is after the update, or, when the condition
    /// failed, as the condition saw it. Exactly once, even when the SDK resends it after a lost
    /// response (see [`LAST_REQUEST`]).
    pub(crate) async fn update(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> Result<Written, StoreError> {
        let token = RequestToken::new();
        let expression = request.get_update_expression().clone().unwrap_or_default();
        debug_assert!(
            expression.rfind("SET") > expression.rfind("REMOVE"),
            "{expression}"
        );
        let condition = match request.get_condition_expression() {
            Some(rule) => format!("({rule}) AND {NOT_RESENT}"),
            None => NOT_RESENT.to_owned(),
        };
        let sent = request
            .update_expression(format!("{expression}, #{LAST_REQUEST} = :request_token"))
            .condition_expression(condition)
            .expression_attribute_names(format!("#{LAST_REQUEST}"), LAST_REQUEST)
            .expression_attribute_values(":request_token", s(&token.0))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        Ok(token.recognise(self.written(sent)?))
    }

    fn written<O, E>(
        &self,
        sent: Result<O, SdkError<E, HttpResponse>>,
    ) -> Result<Written, StoreError>
    where
        O: WriteOutput,
        E: WriteError + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match sent {
            Ok(out) => {
                self.metrics.writes(out.consumed());
                Ok(Written::Done(out.into_item()))
            }
            Err(err) => match err.as_service_error().and_then(WriteError::old_item) {
                Some(old) => Ok(Written::Refused(old)),
                None => Err(StoreError::from_sdk(err)),
            },
        }
    }
}

/// A conditional write's answer: its capacity, and the item it returned.
trait WriteOutput {
    fn consumed(&self) -> Option<&ConsumedCapacity>;
    fn into_item(self) -> Raw;
}

impl WriteOutput for PutItemOutput {
    fn consumed(&self) -> Option<&ConsumedCapacity> {
        self.consumed_capacity()
    }
    fn into_item(self) -> Raw {
        self.attributes.unwrap_or_default()
    }
}

impl WriteOutput for UpdateItemOutput {
    fn consumed(&self) -> Option<&ConsumedCapacity> {
        self.consumed_capacity()
    }
    fn into_item(self) -> Raw {
        self.attributes.unwrap_or_default()
    }
}

/// A conditional write's error: `Some(old item)` when its condition failed.
trait WriteError {
    fn old_item(&self) -> Option<Option<Raw>>;
}

impl WriteError for PutItemError {
    fn old_item(&self) -> Option<Option<Raw>> {
        match self {
            Self::ConditionalCheckFailedException(ccf) => Some(ccf.item().cloned()),
            _ => None,
        }
    }
}

impl WriteError for UpdateItemError {
    fn old_item(&self) -> Option<Option<Raw>> {
        match self {
            Self::ConditionalCheckFailedException(ccf) => Some(ccf.item().cloned()),
            _ => None,
        }
    }
}

/// An item as DynamoDB sends it.
pub(crate) type Raw = HashMap<String, AttributeValue>;

/// The attribute every single-item write sets to a token of its own. The SDK resends a request
/// whose response was lost (a timeout, a dropped connection, a 500) as it was; the resend then
/// fails [`NOT_RESENT`], and the item it returns still carries the token: the write was applied
/// once, and that item is what it left. Every write of a cart sets the attribute (the purchase's
/// too), so the cart returned is exactly the one the write made. (Another write of the same item
/// landing between the lost response and the resend, a few hundred milliseconds, would let a
/// resent increment apply twice; an idempotency key closes that gap too.)
pub(crate) const LAST_REQUEST: &str = "last_request";
const NOT_RESENT: &str = "(attribute_not_exists(#last_request) OR #last_request <> :request_token)";

/// One write's token (see [`LAST_REQUEST`]).
pub(crate) struct RequestToken(pub(crate) String);

impl RequestToken {
    pub(crate) fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// A refused resend whose item carries this token is the write, done.
    fn recognise(&self, written: Written) -> Written {
        match written {
            Written::Refused(Some(old))
                if old.get(LAST_REQUEST).and_then(|v| v.as_s().ok()) == Some(&self.0) =>
            {
                Written::Done(old)
            }
            other => other,
        }
    }
}

/// What a conditional write came to.
pub(crate) enum Written {
    /// Applied: the item after an update (nothing, after a put).
    Done(Raw),
    /// The condition failed: the item as it was, or `None` when there was none.
    Refused(Option<Raw>),
}

/// `#name` placeholders for attributes, each named after its attribute (`#qty` is `qty`).
pub(crate) fn names(attributes: &[&str]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|a| (format!("#{a}"), (*a).to_owned()))
        .collect()
}

/// The SDK configuration every function uses.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The SDK configuration's loader, for callers (tests, tools) that override a setting.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(25))
                .with_max_backoff(Duration::from_millis(400)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
}

pub(crate) use crate::domain::now_rfc3339;

/// A number attribute.
pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute.
pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A request builder's `build()`, whose only failure is a missing required field: a bug.
pub(crate) fn built<T, E: std::error::Error + Send + Sync + 'static>(
    r: Result<T, E>,
) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Unexpected(Box::new(e)))
}

/// Before a retry: a jittered exponential backoff of about 25 ms, 50 ms, 100 ms, ... capped at
/// 1 s. Attempt 0 goes at once.
pub(crate) async fn pause(attempt: u32) {
    if attempt > 0 {
        let ceiling = 25u64.saturating_mul(1 << attempt.min(6)).min(1_000);
        let millis = ceiling / 2 + fastrand::u64(0..=ceiling / 2);
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}
