//! Section 4: a flash sale on one item. `buyers` buyers race for `units` units of one hot item,
//! `concurrency` at a time, through the real handlers in this process against DynamoDB Local,
//! every request passing the test kit's proxy. Each scenario runs with the proxy only forwarding,
//! and again with the proxy applying DynamoDB's rule under contention (`testkit::contention`):
//! a transaction holds its items for a log-normal window, another naming one of them is
//! cancelled, each item takes at most its write units a second. DynamoDB Local itself never
//! refuses anything for contention, so without the rule no run here meets the ceiling a flash
//! sale meets on AWS.
//!
//! Scenarios: a 1-line purchase (the hot item), a 3-line purchase (the hot item and two of 200
//! ordinary items), and `hold` adds (each buyer adds one unit to an empty cart). Designs: the
//! item as it is today (one catalog row), and sharded (`stock_shards`), when `shards` > 1.
//! Afterwards the tool checks what is stored: nothing oversold, every unit sold or still there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::json;
use shared::domain::{now_unix, CheckoutPolicy, Item, Quantity, Stock, UserId};
use shared::store::CartCommit;
use testkit::contention::ContentionRule;
use testkit::{item, TestApp};

use crate::stats::Summary;

/// What a flash sale is made of; every figure from the command line (`main.rs`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Options {
    pub buyers: usize,
    pub units: u64,
    pub concurrency: usize,
    /// The sharded design's `stock_shards`; 1 runs today's design only.
    pub shards: u32,
    #[serde(skip)]
    pub rule: ContentionRule,
}

impl Options {
    pub fn new(quick: bool) -> Self {
        let (buyers, units) = if quick { (1_000, 200) } else { (5_000, 1_000) };
        Self {
            buyers,
            units,
            concurrency: 64,
            shards: 32,
            rule: ContentionRule::default(),
        }
    }
}

/// Ordinary items a 3-line cart draws its two other lines from.
const ORDINARY: u64 = 200;
/// The hot item's id and price.
const HOT: u64 = 1;
const PRICE: u64 = 49_900;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    OneLine,
    ThreeLines,
    HoldAdds,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::OneLine => "1-line purchase",
            Self::ThreeLines => "3-line purchase",
            Self::HoldAdds => "hold adds",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub scenario: &'static str,
    /// `today` (one row) or `sharded`.
    pub design: &'static str,
    pub shards: u32,
    /// `forwarding` or `rule`.
    pub mode: &'static str,
    pub wall_ms: f64,
    /// From the start to the last successful answer.
    pub sale_ms: f64,
    pub sold: u64,
    /// Units sold per second of the sale (`sold / sale_ms`): how fast the hot item sells.
    pub sold_per_s: f64,
    /// Calls answered per second, successes and refusals.
    pub answers_per_s: f64,
    pub latency: Summary,
    pub outcomes: BTreeMap<String, usize>,
    /// Transactions the proxy received, and what the rule refused of them.
    pub transactions: u64,
    pub conflicts: u64,
    pub throttles: u64,
    /// Transactions beyond one per call: retries after a conflict, a short shard, a changed cart.
    pub retries: u64,
    /// Refusals DynamoDB Local itself answered (not the rule), by kind (a transaction's by its
    /// reasons): DynamoDB Local cancels some overlapping transactions on one item too.
    pub local_refusals: BTreeMap<String, usize>,
    pub dynamodb_requests_per_call: f64,
    /// Units sold beyond the stock: must be 0.
    pub oversold: u64,
    /// Units still in stock afterwards (all rows), and whether stock + sold is the initial stock.
    pub stock_after: u64,
    pub units_accounted: bool,
    pub orders: usize,
    pub server_errors: usize,
    /// This run's `sold_per_s` over the forwarding run's of the same scenario and design.
    pub ratio: Option<f64>,
    /// This run's `sold_per_s` over today's design's forwarding run of the same scenario.
    pub ratio_to_today: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub options: Options,
    pub window_median_ms: f64,
    pub window_sigma: f64,
    pub write_units_per_second: f64,
    /// The mean of the log-normal window, in ms: `median * exp(sigma^2 / 2)`.
    pub window_mean_ms: f64,
    pub runs: Vec<Run>,
    /// Nothing oversold, every unit sold or still in stock, one order or held unit per success.
    pub invariants_hold: bool,
    /// The goal, for every scenario: the sharded design under the rule sells at 0.8 times
    /// today's forwarding run or more, with no 5xx and p99 under 1 s (`None`: no sharded run).
    pub goal_met: Option<bool>,
    /// What the rule's figures make of one hot item on AWS, in purchases a second: one row
    /// completes a transaction per mean window (today), `shards` rows side by side.
    pub ceiling_today_per_s: f64,
    pub ceiling_sharded_per_s: f64,
}

pub async fn run(options: Options) -> Report {
    let designs: Vec<u32> = match options.shards {
        0 | 1 => vec![1],
        n => vec![1, n],
    };
    let mut runs: Vec<Run> = Vec::new();
    for scenario in [Scenario::OneLine, Scenario::ThreeLines, Scenario::HoldAdds] {
        for &shards in &designs {
            for rule in [None, Some(options.rule)] {
                let run = sale(options, scenario, shards, rule).await;
                eprintln!(
                    "bench: flash sale: {} ({}, {}): {} sold, {:.0}/s, p99 {:.0} ms, {:?}",
                    run.scenario,
                    run.design,
                    run.mode,
                    run.sold,
                    run.sold_per_s,
                    run.latency.p99_ms,
                    run.outcomes
                );
                runs.push(run);
            }
        }
    }
    for i in 0..runs.len() {
        let base = runs.iter().find(|r| {
            r.mode == "forwarding" && r.scenario == runs[i].scenario && r.shards == runs[i].shards
        });
        runs[i].ratio = base
            .filter(|b| b.sold_per_s > 0.0)
            .map(|b| runs[i].sold_per_s / b.sold_per_s);
        let today = runs
            .iter()
            .find(|r| r.mode == "forwarding" && r.scenario == runs[i].scenario && r.shards == 1);
        runs[i].ratio_to_today = today
            .filter(|b| b.sold_per_s > 0.0)
            .map(|b| runs[i].sold_per_s / b.sold_per_s);
    }
    let sharded_ruled: Vec<&Run> = (runs.iter())
        .filter(|r| r.shards > 1 && r.mode == "rule")
        .collect();
    let goal_met = (!sharded_ruled.is_empty()).then(|| {
        sharded_ruled.iter().all(|r| {
            r.ratio_to_today.is_some_and(|x| x >= 0.8)
                && r.server_errors == 0
                && r.latency.p99_ms < 1000.0
        })
    });
    let rule = options.rule;
    let median_ms = rule.window_median.as_secs_f64() * 1000.0;
    let window_mean_ms = median_ms * (rule.window_sigma.powi(2) / 2.0).exp();
    Report {
        options,
        window_median_ms: median_ms,
        window_sigma: rule.window_sigma,
        write_units_per_second: rule.write_units_per_second,
        window_mean_ms,
        invariants_hold: runs.iter().all(|r| r.oversold == 0 && r.units_accounted),
        goal_met,
        ceiling_today_per_s: 1000.0 / window_mean_ms,
        ceiling_sharded_per_s: f64::from(options.shards.max(1)) * 1000.0 / window_mean_ms,
        runs,
    }
}

/// One buyer's answer: its outcome, status, how long it took, and when it came (since the start).
type Answer = (String, u16, Duration, Duration);

async fn sale(
    options: Options,
    scenario: Scenario,
    shards: u32,
    rule: Option<ContentionRule>,
) -> Run {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let app = match scenario {
        Scenario::HoldAdds => app.with_policy(CheckoutPolicy::Hold {
            seconds: 900,
            max_per_item: 10,
            max_seconds: 1800,
        }),
        _ => app,
    };
    let app = &app;
    let mut items = vec![item(HOT, "Flash Sale Console", PRICE, options.units)];
    if scenario == Scenario::ThreeLines {
        let ordinary = (2..ORDINARY + 2).map(|i| item(i, &format!("Accessory {i}"), 990 + i, 0));
        items.extend(ordinary.map(|i| Item {
            stock: Stock::new(Stock::MAX).expect("the most stock"),
            ..i
        }));
    }
    app.direct().put_items(&items).await.expect("items seeded");
    if shards > 1 {
        app.update_item(HOT, json!({ "stock_shards": shards }))
            .await;
    }
    let hot = app.item(HOT).await;
    let buyers = options.buyers as u64;
    let carts: Vec<(u64, String)> = stream::iter(1..=buyers)
        .map(|user| {
            let lines = match scenario {
                Scenario::OneLine => vec![hot.clone()],
                Scenario::ThreeLines => {
                    // Two distinct ordinary items (ids 2..=ORDINARY + 1; `items[id - 1]`).
                    let first = fastrand::u64(0..ORDINARY);
                    let second = (first + 1 + fastrand::u64(0..ORDINARY - 1)) % ORDINARY;
                    let pick = |n: u64| items[n as usize + 1].clone();
                    vec![hot.clone(), pick(first), pick(second)]
                }
                Scenario::HoldAdds => vec![],
            };
            async move { (user, fill_cart(app, user, &lines).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    proxy.take();
    if let Some(rule) = rule {
        proxy.apply_contention(rule);
    }
    let started = Instant::now();
    let calls = stream::iter(carts).map(|(user, cart)| async move {
        let t = Instant::now();
        let answer = match scenario {
            Scenario::HoldAdds => app.add(&cart, user, HOT, 1).await,
            _ => app.purchase(&cart, user, &crate::latency::key()).await,
        };
        (
            answer.outcome(),
            answer.status,
            t.elapsed(),
            started.elapsed(),
        )
    });
    let answers: Vec<Answer> = calls.buffer_unordered(options.concurrency).collect().await;
    let wall = started.elapsed();
    let seen = proxy.take();
    let stats = proxy.contention();
    let (stock_after, orders) = match scenario {
        Scenario::HoldAdds => (available(app).await, app.held_units(HOT).await as usize),
        _ => (available(app).await, app.order_count().await),
    };
    app.drop_tables().await;
    summarise(
        options,
        scenario,
        shards,
        rule.is_some(),
        wall,
        &answers,
        &seen,
        stats,
        (stock_after, orders),
    )
}

/// The units of the hot item still in stock, all its rows together.
async fn available(app: &TestApp) -> u64 {
    app.available(HOT).await
}

/// `user`'s cart holding one unit of each of `lines` (none: an empty cart), written straight to
/// the store, each step tried again if the loaded machine lets a request time out.
async fn fill_cart(app: &TestApp, user: u64, lines: &[Item]) -> String {
    let user = UserId::parse(&user.to_string()).expect("a user id");
    let (store, policy) = (app.direct(), app.state.config.checkout);
    let one = Quantity::new(1).expect("one");
    let mut cart = loop {
        match store.create_or_get_cart(&user, now_unix()).await {
            Ok((cart, _)) => break cart,
            Err(e) => eprintln!("bench: flash sale: a cart, again: {e}"),
        }
    };
    for item in lines {
        let after = cart.with_added(item, one, policy, now_unix());
        let after = after.unwrap_or_else(|e| panic!("adding item {}: {e:?}", item.id.get()));
        loop {
            match store.commit_cart(&cart, &after, None, now_unix()).await {
                Ok(CartCommit::Done) => break,
                Ok(other) => panic!("filling a cart: {other:?}"),
                Err(e) => eprintln!("bench: flash sale: a line, again: {e}"),
            }
        }
        cart = after;
    }
    cart.id.to_string()
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    options: Options,
    scenario: Scenario,
    shards: u32,
    ruled: bool,
    wall: Duration,
    answers: &[Answer],
    seen: &[testkit::Seen],
    stats: testkit::contention::ContentionStats,
    (stock_after, orders): (u64, usize),
) -> Run {
    let mut outcomes = BTreeMap::new();
    for (outcome, _, _, _) in answers {
        *outcomes.entry(outcome.clone()).or_insert(0) += 1;
    }
    let sold = answers.iter().filter(|a| a.1 == 200).count() as u64;
    let sale = (answers.iter().filter(|a| a.1 == 200))
        .map(|a| a.3)
        .max()
        .unwrap_or_default();
    let latencies: Vec<u64> = answers.iter().map(|a| a.2.as_micros() as u64).collect();
    let transactions = seen
        .iter()
        .filter(|s| s.operation() == "TransactWriteItems")
        .count() as u64;
    let calls = answers.len() as u64;
    let mut local_refusals = BTreeMap::new();
    for refused in seen.iter().filter(|s| s.status == Some(400)) {
        let reasons = refused.response["CancellationReasons"].as_array();
        let by_rule = (reasons.into_iter().flatten())
            .any(|r| r["Message"] == "refused by the contention rule");
        let kind = match reasons {
            Some(reasons) => (reasons.iter())
                .filter_map(|r| r["Code"].as_str().filter(|c| *c != "None"))
                .collect::<Vec<_>>()
                .join("+"),
            None => refused.error().unwrap_or("?").to_owned(),
        };
        if !by_rule
            && !refused.response["message"]
                .as_str()
                .is_some_and(|m| m.contains("contention rule"))
        {
            *local_refusals.entry(kind).or_insert(0) += 1;
        }
    }
    Run {
        scenario: scenario.name(),
        design: if shards > 1 { "sharded" } else { "today" },
        shards,
        mode: if ruled { "rule" } else { "forwarding" },
        wall_ms: wall.as_secs_f64() * 1000.0,
        sale_ms: sale.as_secs_f64() * 1000.0,
        sold,
        sold_per_s: match sale.as_secs_f64() {
            s if s > 0.0 => sold as f64 / s,
            _ => 0.0,
        },
        answers_per_s: calls as f64 / wall.as_secs_f64(),
        latency: Summary::of_micros(&latencies),
        outcomes,
        transactions,
        conflicts: stats.conflicts + stats.write_conflicts,
        throttles: stats.throttles,
        retries: transactions.saturating_sub(calls),
        local_refusals,
        dynamodb_requests_per_call: seen.len() as f64 / calls.max(1) as f64,
        oversold: sold.saturating_sub(options.units),
        stock_after,
        units_accounted: stock_after + sold == options.units && orders as u64 == sold,
        orders,
        server_errors: answers.iter().filter(|a| a.1 >= 500).count(),
        ratio: None,
        ratio_to_today: None,
    }
}
