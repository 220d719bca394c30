//! Section 4: a flash sale. 1,000 buyers, each with one unit of the same item in their cart,
//! race to buy 100 units, 64 at a time, through the purchase handler in this process against
//! DynamoDB Local. Afterwards the invariants are checked against what is stored.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use testkit::{item, TestApp};

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
    let app = TestApp::spawn().await;
    let hot = [item(1, "Flash Sale Console", 49_900, UNITS)];
    app.direct().put_items(&hot).await.expect("item seeded");
    eprintln!("bench: flash sale: filling {BUYERS} carts");
    let carts: Vec<(u64, String)> = stream::iter(1..=BUYERS as u64)
        .map(|user| {
            let app = &app;
            let hot = &hot;
            async move { (user, app.fill_cart(user, hot, 1).await) }
        })
        .buffered(16)
        .collect()
        .await;

    eprintln!("bench: flash sale: {BUYERS} purchases, {CONCURRENCY} at a time");
    let before = app.store().metrics().snapshot();
    let started = Instant::now();
    let results: Vec<(String, u16, u64)> = stream::iter(carts)
        .map(|(user, cart)| {
            let app = &app;
            async move {
                let t = Instant::now();
                let key = uuid::Uuid::new_v4().to_string();
                let answer = app.purchase(&cart, user, &key).await;
                let micros = t.elapsed().as_micros() as u64;
                (answer.outcome(), answer.status, micros)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let used = app.store().metrics().snapshot().since(&before);

    let mut outcomes = BTreeMap::new();
    for (outcome, _, _) in &results {
        *outcomes.entry(outcome.clone()).or_insert(0) += 1;
    }
    let count = |f: fn(u16) -> bool| results.iter().filter(|r| f(r.1)).count();
    let sold = count(|status| status == 200);
    let server_errors = count(|status| status >= 500);
    let latencies: Vec<u64> = results.iter().map(|r| r.2).collect();
    let stock_after = app.stock_of(1).await;
    let orders = app.order_count().await;
    app.drop_tables().await;
    Report {
        buyers: BUYERS,
        units: UNITS,
        concurrency: CONCURRENCY,
        wall_ms: wall * 1000.0,
        requests_per_s: BUYERS as f64 / wall,
        purchases_per_s: sold as f64 / wall,
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
