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
    let app = &TestApp::spawn().await;
    let hot = &[item(1, "Flash Sale Console", 49_900, UNITS)];
    app.direct().put_items(hot).await.expect("item seeded");
    eprintln!("bench: flash sale: filling {BUYERS} carts");
    let buyers = stream::iter(1..=BUYERS as u64);
    let carts = buyers.map(|user| async move { (user, app.fill_cart(user, hot, 1).await) });
    let carts: Vec<(u64, String)> = carts.buffered(16).collect().await;

    eprintln!("bench: flash sale: {BUYERS} purchases, {CONCURRENCY} at a time");
    let started = Instant::now();
    let purchases = stream::iter(carts).map(|(user, cart)| async move {
        let t = Instant::now();
        let answer = app.purchase(&cart, user, &crate::latency::key()).await;
        let took = t.elapsed().as_micros() as u64;
        (answer.outcome(), answer.status, took)
    });
    let sale = purchases.buffer_unordered(CONCURRENCY).collect::<Vec<_>>();
    let (results, dynamodb_requests) = app.requests_during(sale).await;
    let wall = started.elapsed().as_secs_f64();

    let mut outcomes = BTreeMap::new();
    for (outcome, _, _) in &results {
        *outcomes.entry(outcome.clone()).or_insert(0) += 1;
    }
    let count = |f: fn(u16) -> bool| results.iter().filter(|r| f(r.1)).count();
    let (sold, server_errors) = (count(|s| s == 200), count(|s| s >= 500));
    let latencies: Vec<u64> = results.iter().map(|r| r.2).collect();
    let (stock_after, orders) = (app.stock_of(1).await, app.order_count().await);
    app.drop_tables().await;
    let units = UNITS as usize;
    Report {
        buyers: BUYERS,
        units: UNITS,
        concurrency: CONCURRENCY,
        wall_ms: wall * 1000.0,
        requests_per_s: BUYERS as f64 / wall,
        purchases_per_s: sold as f64 / wall,
        latency: Summary::of_micros(&latencies),
        outcomes,
        dynamodb_requests,
        sold,
        stock_after,
        orders,
        server_errors,
        invariants_hold: sold == units && stock_after == 0 && orders == units && server_errors == 0,
    }
}
