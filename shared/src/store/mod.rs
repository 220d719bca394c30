//! Every DynamoDB call and every item shape. Nothing outside this module sees an
//! `AttributeValue`.

mod carts;
mod catalog;
mod error;
mod metrics;
mod orders;
mod purchase;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub use carts::{AddLine, CartChange};
pub use catalog::{CatalogWrite, ItemUpdate, ADMIN_ID_FLOOR};
pub use error::StoreError;
pub use metrics::{CountRequests, DbMetrics, MetricsSnapshot};
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

/// Jittered exponential backoff: about 25 ms, 50 ms, 100 ms, ... capped at 1 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = 25u64.saturating_mul(1 << attempt.min(6)).min(1_000);
    Duration::from_millis(ceiling / 2 + fastrand::u64(0..=ceiling / 2))
}
