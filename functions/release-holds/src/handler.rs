//! `release-holds` (EventBridge, every minute; `make dev` runs it every `HOLD_SWEEP_SECONDS`):
//! gives the units of every expired hold back to the items' available stock (`hold` policy).
//!
//! Expiry is decided by each hold's time in the condition expressions, never by TTL: the sweep
//! finds the carts whose first hold ended in the sparse `by-expiry` index (one Query a page of
//! 100), reads each again strongly consistent, and releases only holds that have ended, in one
//! transaction of the cart and the items, conditioned on the version it read (a change of the
//! cart meanwhile wins; the next sweep sees the cart again). A live hold is never released.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::domain::now_unix;
use shared::scheduled::Scheduled;
use shared::Store;

/// Carts asked of the index at a time.
const PAGE: i32 = 100;
/// Pages one run sweeps at most (the next run carries on).
const MAX_PAGES: usize = 50;

/// What a run did; also the function's result.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SweepSummary {
    /// Carts found with an ended hold.
    pub carts: usize,
    /// Carts whose ended holds this run released.
    pub released_carts: usize,
    /// Units given back to the available stock.
    pub units: u64,
    pub elapsed_ms: u64,
}

/// Releases every hold ended by `now`.
pub async fn sweep(store: &Store, now: i64) -> Result<SweepSummary, lambda_runtime::Error> {
    let started = Instant::now();
    let before = store.metrics().snapshot();
    let mut summary = SweepSummary::default();
    for _ in 0..MAX_PAGES {
        let users = store.carts_to_sweep(now, PAGE).await?;
        let mut released = 0;
        for user in &users {
            let given = store.release_holds(user, now).await?;
            released += usize::from(!given.is_empty());
            summary.units += given.iter().map(|(_, units)| units).sum::<u64>();
        }
        summary.carts += users.len();
        summary.released_carts += released;
        // A short page, or one whose carts all changed meanwhile: the index has nothing more
        // for this run.
        if users.len() < PAGE as usize || released == 0 {
            break;
        }
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    let used = store.metrics().snapshot().since(&before);
    tracing::info!(
        function = "release-holds",
        carts = summary.carts,
        released_carts = summary.released_carts,
        units = summary.units,
        dynamodb_requests = used.requests,
        write_capacity_units = used.write_units(),
        elapsed_ms = summary.elapsed_ms,
        "holds released"
    );
    Ok(summary)
}

/// The function: the scheduled event's content does not matter, every run sweeps up to now.
pub struct ReleaseHolds;

impl Scheduled for ReleaseHolds {
    const NAME: &'static str = "release-holds";
    type Summary = SweepSummary;

    async fn run(
        store: &Store,
        _: LambdaEvent<Value>,
    ) -> Result<SweepSummary, lambda_runtime::Error> {
        sweep(store, now_unix()).await
    }
}
