//! The functions' log lines, captured: the format `shared::telemetry` writes on Lambda, written
//! into a buffer for a test to read.
//!
//! ```ignore
//! let logs = LogCapture::default();
//! let answer = logs.during(app.call::<GetCart>(request)).await;
//! let lines = logs.lines();
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::instrument::WithSubscriber as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

/// A buffer the captured lines go to.
#[derive(Clone, Debug, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for LogCapture {
    type Writer = Self;

    fn make_writer(&'w self) -> Self {
        self.clone()
    }
}

impl LogCapture {
    /// Runs `future` with what it logs at `INFO` and above written into this buffer, in the
    /// functions' format.
    pub async fn during<F: Future>(&self, future: F) -> F::Output {
        let subscriber = tracing_subscriber::registry()
            .with(shared::telemetry::json_lines(self.clone()))
            .with(shared::telemetry::levels(Some("info"), None));
        future.with_subscriber(scoped(subscriber)).await
    }

    /// Every line written so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

/// `subscriber` as a scoped dispatcher that every log statement asks, whichever thread reaches
/// it first. `tracing` caches per statement whether anyone listens; while a single dispatcher is
/// registered it asks only the current thread's, so a statement first reached by another test's
/// thread (which has none) would be cached as unheard for good. A second dispatcher, kept for
/// the whole process, makes `tracing` ask every registered one.
fn scoped(subscriber: impl tracing::Subscriber + Send + Sync) -> tracing::Dispatch {
    static ANOTHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ANOTHER.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    tracing::Dispatch::new(subscriber)
}
