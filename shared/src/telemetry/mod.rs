//! Structured JSON logs through `tracing`, what each invocation costs in DynamoDB requests, time
//! and capacity (`metrics`), the CloudWatch metrics the per-request line declares (`emf`), and
//! the DynamoDB calls drawn in X-Ray traces (`xray`).
//!
//! One JSON object per line (what Lambda's JSON log format and CloudWatch expect): `timestamp`,
//! `level`, `message`, the event's fields, and the fields of every span the event is in (so the
//! `request_id` of `http::dispatch`'s span is on every line a request logs). A field named
//! `_aws` holding a JSON object is written as that object: the Embedded Metric Format's metadata.

pub mod emf;
mod metrics;
mod xray;

pub use metrics::{CountRequests, DbMetrics, MetricsSnapshot};
pub use xray::TraceDynamoDb;

use std::error::Error;
use std::fmt;

use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

/// JSON lines on stdout at the levels [`levels`] reads from the environment. Safe to call more
/// than once.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let _ = tracing_subscriber::registry()
        .with(json_lines(std::io::stdout))
        .with(levels(rust_log.as_deref(), lambda_level.as_deref()))
        .try_init();
}

/// The log format, writing to `writer` (stdout in a function; a buffer in a test).
pub fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines)
        .with_writer(writer)
}

/// The levels to log: `RUST_LOG` when set and readable (`info`, `info,shared=debug`: what
/// `scripts/env.sh` sets locally), else `AWS_LAMBDA_LOG_LEVEL` (what the template's
/// `ApplicationLogLevel` sets in AWS: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`),
/// else `INFO`. The template never sets `RUST_LOG`, so `ApplicationLogLevel` decides there.
pub fn levels(rust_log: Option<&str>, lambda_level: Option<&str>) -> Targets {
    let from_rust_log = rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok());
    let from_lambda = || {
        let level = match lambda_level?.trim().to_ascii_uppercase().as_str() {
            "TRACE" => LevelFilter::TRACE,
            "DEBUG" => LevelFilter::DEBUG,
            "INFO" => LevelFilter::INFO,
            "WARN" => LevelFilter::WARN,
            // `tracing` has no level above ERROR.
            "ERROR" | "FATAL" => LevelFilter::ERROR,
            _ => return None,
        };
        Some(Targets::new().with_default(level))
    };
    from_rust_log
        .or_else(from_lambda)
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The `Root` of an X-Ray trace header (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=...;
/// Sampled=1`, what Lambda gives an invocation): the trace id the X-Ray console finds.
pub(crate) fn trace_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
}

/// An error and all its causes on one line, for the logs (never for a response).
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}

/// Writes an event as one flat JSON object (see the module's head).
struct JsonLines;

/// Spans whose fields stay off the lines: the Lambda runtime's, whose `requestId` is Lambda's
/// id (the per-request span carries it as `lambda_request_id`, next to API Gateway's).
const UNFLATTENED_TARGETS: &[&str] = &["lambda_runtime", "lambda_http"];

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc();
        let timestamp = now.format(&time::format_description::well_known::Rfc3339);
        line.insert("timestamp".into(), timestamp.unwrap_or_default().into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let target = span.metadata().target();
                if UNFLATTENED_TARGETS.iter().any(|t| target.starts_with(t)) {
                    continue;
                }
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                // JsonFields wrote them as one JSON object.
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == emf::MEMBER {
            if let Ok(object @ Value::Object(_)) = serde_json::from_str(value) {
                self.0.insert(field.name().into(), object);
                return;
            }
        }
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%display` values and the message arrive here.
        self.record_str(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer, for the tests' subscribers.
    #[derive(Clone, Default)]
    pub(crate) struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Self;

        fn make_writer(&'w self) -> Self {
            self.clone()
        }
    }

    impl Buffer {
        /// A subscriber writing the log format into this buffer, at `INFO`.
        pub(crate) fn subscriber(&self) -> impl Subscriber + Send + Sync {
            tracing_subscriber::registry()
                .with(json_lines(self.clone()))
                .with(Targets::new().with_default(LevelFilter::INFO))
        }

        /// [`Buffer::subscriber`] as a scoped dispatcher every log statement asks, whichever
        /// thread reaches it first: `tracing` caches per statement whether anyone listens, and
        /// while one dispatcher is registered it asks only the current thread's, so a statement
        /// another test's thread reached first would stay unheard. A second dispatcher, kept
        /// for the whole process, makes it ask every registered one.
        pub(crate) fn dispatch(&self) -> tracing::Dispatch {
            static ANOTHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
            ANOTHER.get_or_init(|| {
                tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default())
            });
            tracing::Dispatch::new(self.subscriber())
        }

        /// Every line written, parsed.
        pub(crate) fn lines(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect()
        }
    }

    #[test]
    fn the_trace_id_is_the_root_of_the_trace_header() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            trace_root(header),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(trace_root("Parent=1"), None);
    }

    #[test]
    fn rust_log_wins_then_the_lambda_level_then_info() {
        use tracing::Level;
        let cases: &[(Option<&str>, Option<&str>, Level, bool)] = &[
            // (RUST_LOG, AWS_LAMBDA_LOG_LEVEL, level asked about, logged?)
            (None, None, Level::INFO, true),
            (None, None, Level::DEBUG, false),
            (None, Some("DEBUG"), Level::DEBUG, true),
            (None, Some("debug"), Level::TRACE, false),
            (None, Some("WARN"), Level::INFO, false),
            (None, Some("FATAL"), Level::ERROR, true),
            (None, Some("FATAL"), Level::WARN, false),
            (None, Some("nonsense"), Level::INFO, true),
            (Some("info"), Some("DEBUG"), Level::DEBUG, false),
            (Some("debug"), Some("ERROR"), Level::DEBUG, true),
            (Some(""), Some("DEBUG"), Level::DEBUG, true),
            (Some("=garbage=="), Some("ERROR"), Level::WARN, false),
        ];
        for &(rust_log, lambda, level, logged) in cases {
            let targets = levels(rust_log, lambda);
            assert_eq!(
                targets.would_enable("shared", &level),
                logged,
                "RUST_LOG={rust_log:?} AWS_LAMBDA_LOG_LEVEL={lambda:?}: {level}"
            );
        }
    }

    #[test]
    fn a_line_is_flat_json_with_its_spans_fields_and_an_aws_member_as_an_object() {
        let buffer = Buffer::default();
        tracing::dispatcher::with_default(&buffer.dispatch(), || {
            let span = tracing::info_span!("request", request_id = "abc-123");
            let _entered = span.enter();
            tracing::info!(
                count = 3u64,
                ratio = 0.5,
                name = %"display",
                _aws = r#"{"Timestamp":1}"#,
                "done"
            );
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "done");
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string());
        assert_eq!(line["request_id"], "abc-123");
        assert_eq!(line["count"], 3);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["name"], "display");
        assert_eq!(line["_aws"]["Timestamp"], 1);
    }
}
