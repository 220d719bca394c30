//! Structured JSON logs through `tracing`, and what each invocation costs in DynamoDB
//! requests, time and capacity (`metrics`).

mod metrics;

pub use metrics::{CountRequests, DbMetrics, MetricsSnapshot};

use std::error::Error;

use aws_smithy_types::error::display::DisplayErrorContext;
use tracing_subscriber::EnvFilter;

/// JSON lines on stdout (what Lambda's JSON log format and CloudWatch expect), level from
/// `RUST_LOG` (default `info`). Safe to call more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .try_init();
}

/// An error and all its causes on one line, for the logs (never for a response).
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}
