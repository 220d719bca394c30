//! Structured JSON logs through `tracing`, and what each invocation costs in DynamoDB
//! requests, time and capacity (`metrics`).

mod metrics;

pub use metrics::{CountRequests, DbMetrics, MetricsSnapshot};

use std::error::Error;

use aws_smithy_types::error::display::DisplayErrorContext;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// JSON lines on stdout (what Lambda's JSON log format and CloudWatch expect), levels from
/// `RUST_LOG` (`info` by default or when unreadable; `info,shared=debug` style directives).
/// Safe to call more than once.
pub fn init() {
    let levels = std::env::var("RUST_LOG").ok().and_then(|v| v.parse().ok());
    let levels: Targets = levels.unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(levels)
        .try_init();
}

/// An error and all its causes on one line, for the logs (never for a response).
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}
