//! Section 4: a flash sale. 1,000 buyers, each with one unit of the same item in their cart,
//! race to buy 100 units, 64 at a time, through the purchase handler in this process against
//! DynamoDB Local. Afterwards the invariants are checked against what is stored.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use purchase_cart::PurchaseCart;
use serde::Serialize;

use crate::app::{cart_id, concurrently, item, unique_tables, App};
use crate::requests::purchase;
use crate::stats::Summary;

pub const BUYERS: usize = 1_000;
pub const UNITS: u64 = 100;
pub const CONCURRENCY: usize = 64;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub buyers: usize,
    pub units: u64,
    pub concurrency: usize,
    pub wall_ms: f64,
    /// Purchase requests answered per second (successes and refusals).
    pub requests_per_s: f64,
    /// Successful purchases per second of the sale.
    pub purchases_per_s: f64,
    pub latency: Summary,
    pub outcomes: BTreeMap<String, usize>,
    pub dynamodb_requests: u64,
    pub sold: usize,
    pub stock_after: u64,
    pub orders: usize,
    pub server_errors: usize,
    pub invariants_hold: bool,
}

pub async fn run() -> Report {
    let app = App::fresh(unique_tables("flash"), None).await;
    let hot = item(1, "Flash Sale Console", 49_900, UNITS);
    app.store()
        .put_items(std::slice::from_ref(&hot))
        .await
        .expect("item seeded");
    eprintln!("bench: flash sale: filling {BUYERS} carts");
    let carts = concurrently((1..=BUYERS as u64).collect(), 16, |user| {
        let app = &app;
        let hot = hot.clone();
        async move { (user, cart_id(&app.cart_with(user, &[hot], 1).await)) }
    })
    .await;

    eprintln!("bench: flash sale: {BUYERS} purchases, {CONCURRENCY} at a time");
    let before = app.store().metrics().snapshot();
    let started = Instant::now();
    let results: Vec<(String, u16, u64)> = stream::iter(carts)
        .map(|(user, cart)| {
            let app = &app;
            async move {
                let call = purchase(&cart, user, &uuid::Uuid::new_v4().to_string());
                let t = Instant::now();
                let answer = app.call::<PurchaseCart>(&call).await;
                (
                    answer.outcome(),
                    answer.status,
                    t.elapsed().as_micros() as u64,
                )
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let wall = started.elapsed();
    let used = app.store().metrics().snapshot().since(&before);

    let mut outcomes = BTreeMap::new();
    for (outcome, _, _) in &results {
        *outcomes.entry(outcome.clone()).or_insert(0) += 1;
    }
    let sold = results
        .iter()
        .filter(|(_, status, _)| *status == 200)
        .count();
    let server_errors = results
        .iter()
        .filter(|(_, status, _)| *status >= 500)
        .count();
    let latencies: Vec<u64> = results.iter().map(|(_, _, us)| *us).collect();
    let stock_after = app.item(1).await.stock.get();
    let orders = app.order_count().await;
    app.drop_tables().await;
    Report {
        buyers: BUYERS,
        units: UNITS,
        concurrency: CONCURRENCY,
        wall_ms: wall.as_secs_f64() * 1000.0,
        requests_per_s: BUYERS as f64 / wall.as_secs_f64(),
        purchases_per_s: sold as f64 / wall.as_secs_f64(),
        latency: Summary::of_micros(&latencies),
        outcomes,
        dynamodb_requests: used.requests,
        sold,
        stock_after,
        orders,
        server_errors,
        invariants_hold: sold == UNITS as usize
            && stock_after == 0
            && orders == UNITS as usize
            && server_errors == 0,
    }
}
