//! `release-holds` (EventBridge, every minute; `make dev` runs it every `HOLD_SWEEP_SECONDS`):
//! gives the units of every expired hold back to the items' available stock (`hold` policy),
//! and expires the orders nobody paid by their `payment_due_by` (`PAYMENT_MODE=external`), their
//! units back in the stock (`shared::app::orders::expire`; the sparse `by-due` index of the
//! orders table finds them, one Query a page).
//!
//! Expiry is decided by each hold's time in the condition expressions, never by TTL: the sweep
//! finds the carts whose first hold ended in the sparse `by-expiry` index (one Query a page of
//! 100, each page starting where the last ended), reads each again strongly consistent, and
//! releases only holds that have ended, in one transaction of the cart and the items,
//! conditioned on the version it read (a change of the cart meanwhile wins; the next sweep sees
//! the cart again). A live hold is never released. A cart that fails is logged and skipped (the
//! next run tries it again); a run stops before its time is up and says what it left.
//!
//! Last, the items whose stock is split over shards (a registry row lists them): each one's pool
//! moved into its shards, and the quantity the listing shows of it refreshed.

use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::app::{orders, shards};
use shared::domain::now_unix;
use shared::scheduled::Scheduled;
use shared::{telemetry, Store};

/// Carts asked of the index at a time.
const PAGE: i32 = 100;
/// How long before the invocation's deadline a run stops (the next run carries on): room for
/// the cart in flight and the summary.
const MARGIN: Duration = Duration::from_secs(5);
/// A run's time where Lambda gives no deadline (a test, `cargo lambda invoke`).
const DEFAULT_BUDGET: Duration = Duration::from_secs(55);

/// What a run did; also the function's result.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SweepSummary {
    /// Carts found with an ended hold.
    pub carts: usize,
    /// Carts whose ended holds this run released.
    pub released_carts: usize,
    /// Units given back to the available stock.
    pub units: u64,
    /// Carts whose release failed (logged with their cause; the next run tries them again).
    pub failed_carts: usize,
    /// Orders expired (nobody paid them in time), and the units they gave back.
    pub expired_orders: usize,
    pub order_units: u64,
    /// Orders whose expiry failed (logged; the next run tries them again).
    pub failed_orders: usize,
    /// Items split over shards looked after (`shared::app::shards`), the units moved into or
    /// between their shards, and the items whose care failed (logged; the next run tries again).
    pub split_items: usize,
    pub moved_units: u64,
    pub failed_items: usize,
    /// The run stopped for time with carts or pages left (the next run carries on).
    pub stopped_early: bool,
    pub elapsed_ms: u64,
}

/// Releases every hold ended by `now`, then expires every order due by `now`, within `budget`.
pub async fn sweep(
    store: &Store,
    now: i64,
    budget: Duration,
) -> Result<SweepSummary, lambda_runtime::Error> {
    let started = Instant::now();
    let before = store.metrics().snapshot();
    let mut summary = SweepSummary::default();
    let mut from = None;
    'pages: loop {
        let page = store.carts_to_sweep(now, PAGE, from.take()).await?;
        summary.carts += page.users.len();
        for user in &page.users {
            if started.elapsed() >= budget {
                summary.stopped_early = true;
                break 'pages;
            }
            match store.release_holds(user, now).await {
                Ok(given) => {
                    summary.released_carts += usize::from(!given.is_empty());
                    summary.units += given.iter().map(|(_, units)| units).sum::<u64>();
                }
                Err(err) => {
                    summary.failed_carts += 1;
                    tracing::warn!(cause = %telemetry::error_chain(&err), "cart skipped");
                }
            }
        }
        match page.next {
            Some(next) if started.elapsed() < budget => from = Some(next),
            Some(_) => {
                summary.stopped_early = true;
                break;
            }
            None => break,
        }
    }
    let mut from = None;
    while !summary.stopped_early {
        let (due, next) = match store.orders_due(now, PAGE, from.take()).await {
            Ok(page) => page,
            // The holds were released; the orders wait for the next run (an index still
            // building after a deploy, say). Logged as an error: the alarm on it sees it.
            Err(err) => {
                summary.failed_orders += 1;
                tracing::error!(cause = %telemetry::error_chain(&err), "orders due unread");
                break;
            }
        };
        for id in due {
            if started.elapsed() >= budget {
                summary.stopped_early = true;
                break;
            }
            match orders::expire(store, id, now).await {
                Ok(0) => {}
                Ok(units) => {
                    summary.expired_orders += 1;
                    summary.order_units += units;
                }
                Err(err) => {
                    summary.failed_orders += 1;
                    tracing::warn!(cause = %telemetry::error_chain(&err), "order skipped");
                }
            }
        }
        match next {
            Some(next) if started.elapsed() < budget => from = Some(next),
            Some(_) => summary.stopped_early = true,
            None => break,
        }
    }
    if !summary.stopped_early {
        look_after_split_items(store, started, budget, &mut summary).await;
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    let used = store.metrics().snapshot().since(&before);
    tracing::info!(
        function = "release-holds",
        carts = summary.carts,
        released_carts = summary.released_carts,
        units = summary.units,
        failed_carts = summary.failed_carts,
        expired_orders = summary.expired_orders,
        order_units = summary.order_units,
        failed_orders = summary.failed_orders,
        split_items = summary.split_items,
        moved_units = summary.moved_units,
        failed_items = summary.failed_items,
        stopped_early = summary.stopped_early,
        dynamodb_requests = used.requests,
        write_capacity_units = used.write_units(),
        elapsed_ms = summary.elapsed_ms,
        "holds released"
    );
    Ok(summary)
}

/// The items split over shards (the registry, one read): for each, the units of its pool moved
/// into its shards, its shards evened out when one starves, the listing's figure refreshed
/// (`shared::app::shards::rebalance_item`). So a split item's listed quantity is at most one
/// sweep old, and units given back are in its shards within a minute.
async fn look_after_split_items(
    store: &Store,
    started: Instant,
    budget: Duration,
    summary: &mut SweepSummary,
) {
    let items = match store.split_items().await {
        Ok(items) => items,
        Err(err) => {
            summary.failed_items += 1;
            tracing::error!(cause = %telemetry::error_chain(&err), "split items unread");
            return;
        }
    };
    for item in items {
        if started.elapsed() >= budget {
            summary.stopped_early = true;
            return;
        }
        match shards::rebalance_item(store, item, 1).await {
            Ok(done) => {
                summary.split_items += 1;
                summary.moved_units += done.units;
            }
            Err(err) => {
                summary.failed_items += 1;
                tracing::warn!(cause = %telemetry::error_chain(&err), "split item skipped");
            }
        }
    }
}

/// The function: the scheduled event's content does not matter, every run sweeps up to now,
/// until `MARGIN` before its deadline.
pub struct ReleaseHolds;

impl Scheduled for ReleaseHolds {
    const NAME: &'static str = "release-holds";
    type Summary = SweepSummary;

    async fn run(
        store: &Store,
        event: LambdaEvent<Value>,
    ) -> Result<SweepSummary, lambda_runtime::Error> {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let left = deadline.duration_since(std::time::SystemTime::now()).ok();
        let budget = left
            .filter(|left| *left <= Duration::from_secs(15 * 60))
            .map_or(DEFAULT_BUDGET, |left| left.saturating_sub(MARGIN));
        sweep(store, now_unix(), budget).await
    }
}
