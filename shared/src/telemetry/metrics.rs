//! Counting what each invocation costs: requests on the wire, time spent waiting for them and
//! capacity units consumed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::config::{Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Default)]
pub struct DbMetrics {
    /// Operations called (`send()`), each one or more requests on the wire.
    operations: AtomicU64,
    requests: AtomicU64,
    micros: AtomicU64,
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
}

/// The counters at one moment; subtract two to get what happened in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Requests put on the wire, the SDK's own retries included.
    pub requests: u64,
    /// Of those, the SDK's retries: requests beyond the first of each operation (a throttled,
    /// failed or timed-out attempt sent again).
    pub retries: u64,
    /// Time between sending a request and receiving its response, summed over requests.
    pub dynamodb_micros: u64,
    pub read_milli_units: u64,
    pub write_milli_units: u64,
}

impl MetricsSnapshot {
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            requests: self.requests - earlier.requests,
            // An operation counted but not yet sent makes `retries` one lower for a moment.
            retries: self.retries.saturating_sub(earlier.retries),
            dynamodb_micros: self.dynamodb_micros - earlier.dynamodb_micros,
            read_milli_units: self.read_milli_units - earlier.read_milli_units,
            write_milli_units: self.write_milli_units - earlier.write_milli_units,
        }
    }

    pub fn read_units(&self) -> f64 {
        self.read_milli_units as f64 / 1000.0
    }

    pub fn write_units(&self) -> f64 {
        self.write_milli_units as f64 / 1000.0
    }
}

impl DbMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let operations = self.operations.load(Relaxed);
        let requests = self.requests.load(Relaxed);
        MetricsSnapshot {
            requests,
            retries: requests.saturating_sub(operations),
            dynamodb_micros: self.micros.load(Relaxed),
            read_milli_units: self.read_milli_units.load(Relaxed),
            write_milli_units: self.write_milli_units.load(Relaxed),
        }
    }

    pub(crate) fn reads<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.read_milli_units.fetch_add(milli(consumed), Relaxed);
    }

    pub(crate) fn writes<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.write_milli_units.fetch_add(milli(consumed), Relaxed);
    }
}

fn milli<'a>(consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) -> u64 {
    consumed
        .into_iter()
        .filter_map(|c| c.capacity_units())
        .map(|units| (units * 1000.0).round() as u64)
        .sum()
}

/// An SDK interceptor that counts every operation, every request put on the wire (retries
/// included), and the time from handing each to the HTTP client to the end of its attempt.
#[derive(Debug)]
pub struct CountRequests(Arc<DbMetrics>);

/// When the current attempt's request was handed to the HTTP client.
#[derive(Clone, Debug)]
struct TransmitStarted(Instant);

impl Storable for TransmitStarted {
    type Storer = StoreReplace<Self>;
}

impl CountRequests {
    pub fn new(metrics: Arc<DbMetrics>) -> Self {
        Self(metrics)
    }

    /// Adds the current attempt's time on the wire, once.
    fn transmitted(&self, cfg: &mut ConfigBag) {
        if let Some(TransmitStarted(started)) = cfg.load::<TransmitStarted>() {
            let micros = started.elapsed().as_micros() as u64;
            self.0.micros.fetch_add(micros, Relaxed);
            cfg.interceptor_state().unset::<TransmitStarted>();
        }
    }
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    /// Once per operation, before its first attempt.
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.operations.fetch_add(1, Relaxed);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.requests.fetch_add(1, Relaxed);
        cfg.interceptor_state()
            .store_put(TransmitStarted(Instant::now()));
        Ok(())
    }

    /// Every attempt ends here, answered or failed on the wire (timeout, refused connection).
    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.transmitted(cfg);
        Ok(())
    }
}
