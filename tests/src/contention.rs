//! What DynamoDB does under contention and DynamoDB Local does not, as a rule the kit's proxy can
//! apply in front of DynamoDB Local ([`crate::DynamoDbProxy::apply_contention`]). DynamoDB Local
//! itself still does every read and write; this only decides, before a request is forwarded,
//! whether DynamoDB would have refused it:
//!
//! - **One transaction at a time per item.** "Each item can only be acted upon by a single
//!   transaction at a time" (USENIX ATC 2023, *Distributed Transactions at Scale in Amazon
//!   DynamoDB*). A `TransactWriteItems` holds every item it names, condition checks included,
//!   for a window drawn from a log-normal distribution (median [`ContentionRule::window_median`],
//!   20 ms by default: the paper measures a write transaction at about 4 times a `PutItem`;
//!   from Lambda a 5-item transaction's p50 is about 25 ms). Another transaction naming a held
//!   item is cancelled with `TransactionConflict` at that item's position (developer guide,
//!   *Transaction conflict handling in DynamoDB*), and a plain write to a held item answers
//!   `TransactionConflictException`.
//! - **A resent transaction.** The same `ClientRequestToken` while its transaction is still in
//!   flight answers `TransactionInProgressException` (API reference, `TransactWriteItems`).
//! - **Write capacity per item.** A partition takes at most 1,000 write units a second
//!   (developer guide, *Burst and adaptive capacity*; "partitions ... 1,000 WCUs"); a
//!   transactional write of an item up to 1 KB costs 2 units, a plain write 1 (developer guide,
//!   *Capacity unit consumption for transactions*). One bucket per item (a hot item is one
//!   partition's worth at best) with [`ContentionRule::write_units_per_second`], charged by the
//!   size of the action as sent, in KB rounded up. Past it: `ThrottlingError` in a transaction's
//!   reasons, `ThrottlingException` for a plain write.
//!
//! The rule is pure ([`Contention::judge`] takes the time); the proxy calls it for each request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The figures of the rule, with their defaults from the sources above.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContentionRule {
    /// The median time a transaction holds its items.
    pub window_median: Duration,
    /// The spread of that time: the standard deviation of its logarithm.
    pub window_sigma: f64,
    /// Write units one item takes a second.
    pub write_units_per_second: f64,
}

impl Default for ContentionRule {
    fn default() -> Self {
        Self {
            window_median: Duration::from_millis(20),
            window_sigma: 0.5,
            write_units_per_second: 1_000.0,
        }
    }
}

/// What the rule saw, for the bench and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentionStats {
    pub transactions: u64,
    /// Transactions cancelled for a conflict.
    pub conflicts: u64,
    /// Plain writes refused for a conflict.
    pub write_conflicts: u64,
    /// Transactions and writes refused for throughput.
    pub throttles: u64,
    pub in_progress: u64,
}

/// The rule's decision on one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Judgement {
    Forward,
    /// DynamoDB's `400` with this body.
    Refuse(Value),
}

/// The rule's memory: which items are held until when, which tokens are in flight, each item's
/// write bucket.
#[derive(Debug)]
pub struct Contention {
    rule: ContentionRule,
    held: HashMap<String, Instant>,
    tokens: HashMap<String, Instant>,
    buckets: HashMap<String, (f64, Instant)>,
    pub stats: ContentionStats,
}

impl Contention {
    pub fn new(rule: ContentionRule) -> Self {
        Self {
            rule,
            held: HashMap::new(),
            tokens: HashMap::new(),
            buckets: HashMap::new(),
            stats: ContentionStats::default(),
        }
    }

    /// Decides on a request (`target` without its prefix: `TransactWriteItems`) arriving at
    /// `now`; a forwarded transaction holds its items from `now` on.
    pub fn judge(&mut self, operation: &str, body: &Value, now: Instant) -> Judgement {
        match operation {
            "TransactWriteItems" => self.transaction(body, now),
            "PutItem" | "UpdateItem" | "DeleteItem" => self.write(body, now),
            _ => Judgement::Forward,
        }
    }

    fn transaction(&mut self, body: &Value, now: Instant) -> Judgement {
        self.stats.transactions += 1;
        let token = body["ClientRequestToken"].as_str().map(str::to_owned);
        if let Some(until) = token.as_ref().and_then(|t| self.tokens.get(t)) {
            if *until > now {
                self.stats.in_progress += 1;
                return Judgement::Refuse(error(
                    "TransactionInProgressException",
                    "the transaction with this client request token is in progress",
                ));
            }
        }
        let actions = body["TransactItems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let items: Vec<(String, u64)> = actions
            .iter()
            .map(|action| {
                let (_, op) = action
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .unwrap_or((&String::new(), &Value::Null));
                (item_key(op), 2 * kilobytes(op))
            })
            .collect();
        let held: Vec<bool> = items
            .iter()
            .map(|(key, _)| self.held.get(key).is_some_and(|until| *until > now))
            .collect();
        if held.iter().any(|h| *h) {
            self.stats.conflicts += 1;
            return Judgement::Refuse(cancelled(&held, "TransactionConflict"));
        }
        let short: Vec<bool> = items
            .iter()
            .map(|(key, units)| !self.can_take(key, *units, now))
            .collect();
        if short.iter().any(|s| *s) {
            self.stats.throttles += 1;
            return Judgement::Refuse(cancelled(&short, "ThrottlingError"));
        }
        let until = now + self.window();
        for (key, units) in &items {
            self.take(key, *units);
            self.held.insert(key.clone(), until);
        }
        if let Some(token) = token {
            self.tokens.insert(token, until);
        }
        if self.held.len() > 10_000 {
            self.held.retain(|_, until| *until > now);
            self.tokens.retain(|_, until| *until > now);
        }
        Judgement::Forward
    }

    fn write(&mut self, body: &Value, now: Instant) -> Judgement {
        let key = item_key(body);
        if self.held.get(&key).is_some_and(|until| *until > now) {
            self.stats.write_conflicts += 1;
            return Judgement::Refuse(error(
                "TransactionConflictException",
                "Transaction is ongoing for the item",
            ));
        }
        let units = kilobytes(body);
        if !self.can_take(&key, units, now) {
            self.stats.throttles += 1;
            return Judgement::Refuse(error(
                "ThrottlingException",
                "Throughput exceeds the current capacity for one or more global secondary indexes or the item's partition",
            ));
        }
        self.take(&key, units);
        Judgement::Forward
    }

    /// Refills `key`'s bucket to `now`; whether it holds `units`.
    fn can_take(&mut self, key: &str, units: u64, now: Instant) -> bool {
        let rate = self.rule.write_units_per_second;
        let (level, at) = self.buckets.entry(key.to_owned()).or_insert((rate, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *level = (*level + elapsed * rate).min(rate);
        *at = now;
        *level >= units as f64
    }

    fn take(&mut self, key: &str, units: u64) {
        if let Some((level, _)) = self.buckets.get_mut(key) {
            *level -= units as f64;
        }
    }

    /// A log-normal hold: `median * exp(sigma * z)`, `z` a standard normal (Box-Muller).
    /// A hold's length: drawn from the rule's distribution.
    pub fn window(&self) -> Duration {
        let (u1, u2): (f64, f64) = (fastrand::f64().max(f64::MIN_POSITIVE), fastrand::f64());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        self.rule
            .window_median
            .mul_f64((self.rule.window_sigma * z).exp())
    }
}

/// The item an action names: its table and its key. A `Put` names its item by the key
/// attributes it carries; which those are is the table's, read from its name's suffix (the
/// kit's tables are `<prefix>-catalog`, `-carts`, `-orders`, `-idempotency`).
fn item_key(op: &Value) -> String {
    let table = op["TableName"].as_str().unwrap_or_default();
    let key = match op.get("Key") {
        Some(key) => key.clone(),
        None => {
            let names: &[&str] = match table.rsplit('-').next() {
                Some("catalog") => &["id"],
                Some("carts") => &["user_id"],
                Some("orders") => &["order_id"],
                Some("idempotency") => &["pk"],
                _ => &[],
            };
            let item = &op["Item"];
            json!(names
                .iter()
                .map(|n| (n.to_string(), item[n].clone()))
                .collect::<serde_json::Map<_, _>>())
        }
    };
    // serde_json's map is ordered by key: the same key always prints the same.
    format!("{table}/{key}")
}

/// The action's size as sent, in KB rounded up (at least 1): what its write costs, roughly.
fn kilobytes(op: &Value) -> u64 {
    (op.to_string().len() as u64).div_ceil(1024).max(1)
}

fn error(kind: &str, message: &str) -> Value {
    json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    })
}

/// A `TransactionCanceledException` with `code` at each position marked, `None` elsewhere.
fn cancelled(at: &[bool], code: &str) -> Value {
    let reasons: Vec<Value> = at
        .iter()
        .map(|hit| match hit {
            true => json!({ "Code": code, "Message": "refused by the contention rule" }),
            false => json!({ "Code": "None" }),
        })
        .collect();
    let codes: Vec<&str> = at
        .iter()
        .map(|hit| if *hit { code } else { "None" })
        .collect();
    json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "CancellationReasons": reasons,
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    })
}
