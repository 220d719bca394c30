//! Every DynamoDB call and every item shape. Nothing outside this module sees an
//! `AttributeValue`.

mod carts;
mod catalog;
mod discounts;
mod error;
mod keys;
mod orders;
mod purchase;
pub mod schema;
mod shards;
mod transact;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Builder as ClientConfig, Credentials, Region, SharedHttpClient,
};
use aws_smithy_http_client::tls;
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
pub use carts::{AddLine, CartChange, CartCommit, CartRead, MergeRead, SweepCursor, SweepPage};
pub use catalog::{CatalogWrite, ItemCreate, ItemUpdate, ADMIN_ID_FLOOR};
pub use discounts::{CartCodeRead, DiscountCommit, DiscountRead};
pub use error::StoreError;
pub use keys::NewRecord;
pub use orders::{order_in_image, DueCursor, OrderCommit, StreamImage};
pub use purchase::{PurchasePlan, PurchaseSnapshot};
pub use shards::{ItemRows, RowsCommit};

use crate::config::{process_env, Vars};
use crate::domain::UserId;
use crate::Tables;

/// The tables and the one client every call goes through.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
    metrics: Arc<DbMetrics>,
    /// What this process last saw of split items' shard rows (`shards::ShardHints`).
    hints: Arc<shards::ShardHints>,
    /// How long a cart may idle before it expires (`Config::cart_idle_secs`).
    cart_idle_secs: i64,
    /// How long a guest's cart may idle (`Config::guest_cart_idle_secs`).
    guest_idle_secs: i64,
}

impl Store {
    /// The client for a Lambda function: region, credentials and endpoint from the environment
    /// (`client_config_from_env`), short timeouts and a few quick retries, so that an unreachable
    /// DynamoDB becomes a 503 in about a second, not a timeout.
    pub fn from_env(tables: Tables) -> Self {
        Self::with_client_config(client_config_from_env(), tables)
    }

    /// [`Store::from_env`] from any source of variables.
    pub fn from_vars(vars: Vars<'_>, tables: Tables) -> Self {
        Self::with_client_config(client_config_from_vars(vars), tables)
    }

    /// A store whose client is `config` (a `client_config()` with its region, credentials and
    /// endpoint set), counting its requests.
    pub fn with_client_config(config: ClientConfig, tables: Tables) -> Self {
        let metrics = Arc::new(DbMetrics::default());
        let config = config
            .interceptor(CountRequests::new(metrics.clone()))
            .build();
        Self {
            client: Client::from_conf(config),
            tables,
            metrics,
            hints: Arc::default(),
            cart_idle_secs: 30 * 24 * 60 * 60,
            guest_idle_secs: 72 * 60 * 60,
        }
    }

    /// The same store, its carts idling out after `secs` (`CART_IDLE_DAYS`).
    pub fn with_cart_idle(mut self, secs: i64) -> Self {
        self.cart_idle_secs = secs;
        self
    }

    /// The same store, its guests' carts idling out after `secs` (`GUEST_CART_IDLE_HOURS`).
    pub fn with_guest_cart_idle(mut self, secs: i64) -> Self {
        self.guest_idle_secs = secs;
        self
    }

    /// How long `owner`'s cart may idle: a guest's for `GUEST_CART_IDLE_HOURS`, a user's for
    /// `CART_IDLE_DAYS`.
    pub(crate) fn cart_idle_secs(&self, owner: &UserId) -> i64 {
        match owner.is_guest() {
            true => self.guest_idle_secs,
            false => self.cart_idle_secs,
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

    /// Puts `item` unless an item with its key (attribute `key`) exists (and does not meet
    /// `or_if`, a condition with its names and values under which it may be replaced): done, or
    /// the item that holds the key. Exactly once, even when the SDK resends it (see
    /// [`LAST_REQUEST`]).
    pub(crate) async fn put_new(
        &self,
        table: &str,
        mut item: Raw,
        key: &str,
        or_if: Option<Condition<'_>>,
    ) -> Result<Written, StoreError> {
        let token = RequestToken::new();
        item.insert(LAST_REQUEST.to_owned(), s(&token.0));
        let mut condition = "attribute_not_exists(#key)".to_owned();
        let (mut names, mut values) = (HashMap::new(), HashMap::new());
        if let Some((rule, more_names, more_values)) = or_if {
            condition = format!("{condition} OR ({rule})");
            (names, values) = (more_names, more_values);
        }
        names.insert("#key".to_owned(), key.to_owned());
        let sent = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
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

/// A condition expression with its `#name` and `:value` placeholders.
pub(crate) type Condition<'a> = (&'a str, HashMap<String, String>, Raw);

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
            Written::Refused(Some(old)) if self.written(Some(&old)) => Written::Done(old),
            other => other,
        }
    }

    /// The item (as a refused write found it) was last written by this write.
    pub(crate) fn written(&self, item: Option<&Raw>) -> bool {
        let last = item.and_then(|item| item.get(LAST_REQUEST)?.as_s().ok());
        last == Some(&self.0)
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

/// The DynamoDB client settings every caller shares: one HTTP/TLS stack ([`https_client`]), a
/// few quick retries ([`retry_config`]), short timeouts ([`timeout_config`]). Region,
/// credentials and endpoint are the caller's (`client_config_from_env`, the tests).
pub fn client_config() -> ClientConfig {
    ClientConfig::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
}

/// The one HTTP/TLS stack of every AWS client (DynamoDB's, and Secrets Manager's in the two
/// functions that read the cursor key): hyper 1, rustls on ring, the system's trust store or
/// `SSL_CERT_FILE`.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A few quick retries: 3 attempts, 25 ms to 400 ms apart.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_millis(400))
}

/// 0.5 s to connect, 2 s an attempt, 5 s in all.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// `client_config()` with what Lambda puts in a function's environment, read under the SDK's
/// own names: `AWS_REGION` (else `AWS_DEFAULT_REGION`), the role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: the first link of the
/// SDK's default chain, the one that answers in Lambda), and `AWS_ENDPOINT_URL_DYNAMODB` (else
/// `AWS_ENDPOINT_URL`; neither when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), and with
/// `AWS_XRAY_DAEMON_ADDRESS` (active tracing) the X-Ray subsegment of every call. Not using
/// `aws-config`'s loader keeps its other providers (profiles, SSO, STS, IMDS) out of every
/// binary: about 0.7 MB each.
pub fn client_config_from_env() -> ClientConfig {
    client_config_from_vars(&process_env)
}

/// [`client_config_from_env`] from any source of variables.
pub fn client_config_from_vars(vars: Vars<'_>) -> ClientConfig {
    let from = AwsEnv::read(vars, "AWS_ENDPOINT_URL_DYNAMODB");
    let mut config = client_config();
    if let Some(region) = from.region {
        config = config.region(region);
    }
    if let Some(credentials) = from.credentials {
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = from.endpoint {
        config = config.endpoint_url(url);
    }
    // Under X-Ray active tracing (Lambda gives the daemon's address): each call a subsegment.
    if let Some(trace) = crate::telemetry::TraceDynamoDb::from_env() {
        config = config.interceptor(trace);
    }
    config
}

/// What an AWS client takes from a function's environment (see [`client_config_from_env`]),
/// for any service: its endpoint variable is `service_endpoint` (the SDK's convention,
/// `AWS_ENDPOINT_URL_<SERVICE ID>`), else `AWS_ENDPOINT_URL`.
#[derive(Clone, Debug, Default)]
pub struct AwsEnv {
    pub region: Option<Region>,
    pub credentials: Option<Credentials>,
    pub endpoint: Option<String>,
}

impl AwsEnv {
    pub fn read(vars: Vars<'_>, service_endpoint: &str) -> Self {
        let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                let session = var("AWS_SESSION_TOKEN");
                Some(Credentials::new(id, secret, session, None, "env"))
            }
            _ => None,
        };
        let ignore_endpoints = var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint = match ignore_endpoints {
            true => None,
            false => var(service_endpoint).or_else(|| var("AWS_ENDPOINT_URL")),
        };
        Self {
            region: region.map(Region::new),
            credentials,
            endpoint,
        }
    }
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
pub async fn pause(attempt: u32) {
    if attempt > 0 {
        let ceiling = 25u64.saturating_mul(1 << attempt.min(6)).min(1_000);
        let millis = ceiling / 2 + fastrand::u64(0..=ceiling / 2);
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}

/// Decodes `AttributeValue::N` (a helper for reading counters from raw items).
pub(crate) fn number(raw: &Raw, name: &str) -> Option<u64> {
    match raw.get(name)? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}
