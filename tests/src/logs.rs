//! The functions' log lines, captured: the format `shared::telemetry` writes on Lambda, written
//! into a buffer for a test to read.
//!
//! ```ignore
//! let logs = LogCapture::default();
//! let answer = app.call::<GetCart>(request).with_subscriber(logs.subscriber()).await;
//! let lines = logs.lines();
//! ```

use std::sync::{Arc, Mutex};

use serde_json::Value;
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
    /// A subscriber writing the functions' log format at `INFO` into this buffer: give it to a
    /// future with `tracing::instrument::WithSubscriber::with_subscriber`.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::registry()
            .with(shared::telemetry::json_lines(self.clone()))
            .with(shared::telemetry::levels(Some("info"), None))
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
