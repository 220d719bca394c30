//! Section 6: what a million calls cost on AWS (on demand, us-east-1, arm64), from the measured
//! request counts, capacity units and durations.

use serde::Serialize;

use crate::{catalog_scale, latency, requests};

/// Unit prices, us-east-1, in USD.
#[derive(Clone, Debug, Serialize)]
pub struct Prices {
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    pub lambda_arm64_per_gb_second: f64,
    pub lambda_per_million_requests: f64,
    pub http_api_per_million_requests: f64,
    pub source: &'static str,
}

pub const PRICES: Prices = Prices {
    dynamodb_per_million_write_units: 0.625,
    dynamodb_per_million_read_units: 0.125,
    lambda_arm64_per_gb_second: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    http_api_per_million_requests: 1.00,
    source: "AWS public price pages for us-east-1 (DynamoDB on-demand after the November 2024 \
             price cut; Lambda arm64; API Gateway HTTP API first 300 million requests), \
             checked when this tool was written (2026-11); free tiers ignored",
};

/// Assumed time of one DynamoDB round trip from a Lambda function in the same region, and of
/// one `TransactWriteItems` (not measured here: DynamoDB Local is on this machine).
pub const AWS_MS_PER_REQUEST: f64 = 5.0;
pub const AWS_MS_PER_TRANSACTION: f64 = 15.0;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub requests: u64,
    pub transactions: u64,
    pub read_units: f64,
    pub write_units: f64,
    /// The function's own work per call, measured (p50 of latency minus DynamoDB time).
    pub overhead_ms: f64,
    /// Own work plus the assumed DynamoDB round trips, rounded up to the millisecond.
    pub billed_ms: f64,
    /// Per million calls, USD.
    pub dynamodb_usd: f64,
    pub lambda_requests_usd: f64,
    pub lambda_compute_usd: f64,
    pub http_api_usd: f64,
    pub total_usd: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub memory_mb: u64,
    pub memory_source: String,
    pub prices: Prices,
    pub ms_per_request: f64,
    pub ms_per_transaction: f64,
    pub overhead_source: String,
    pub rows: Vec<Row>,
}

pub fn estimate(
    calls: &requests::Report,
    latency: Option<&latency::Report>,
    catalog: Option<&catalog_scale::Report>,
    (memory_mb, memory_source): (u64, String),
) -> Report {
    // The function's own time: section 2's where it ran, else the handler time of section 1.
    let overhead = |endpoint: &str, fallback: f64| {
        let rows = latency.map(|l| l.rows.iter()).into_iter().flatten();
        let mut sequential = rows.filter(|r| r.endpoint == endpoint && r.concurrency == 1);
        sequential.next().map_or(fallback, |r| r.overhead.p50_ms)
    };
    let row = |scenario: String, requests: u64, transactions: u64, units: (f64, f64), own: f64| {
        let plain = requests.saturating_sub(transactions) as f64;
        let dynamodb_ms = plain * AWS_MS_PER_REQUEST + transactions as f64 * AWS_MS_PER_TRANSACTION;
        let billed_ms = (own + dynamodb_ms).ceil();
        // Per million calls: units per call x 1 M x price per million units = units x price.
        let dynamodb_usd = units.0 * PRICES.dynamodb_per_million_read_units
            + units.1 * PRICES.dynamodb_per_million_write_units;
        let gb_seconds = 1e6 * (billed_ms / 1000.0) * (memory_mb as f64 / 1024.0);
        let lambda_compute_usd = gb_seconds * PRICES.lambda_arm64_per_gb_second;
        let lambda_requests_usd = PRICES.lambda_per_million_requests;
        let http_api_usd = PRICES.http_api_per_million_requests;
        Row {
            scenario,
            requests,
            transactions,
            read_units: units.0,
            write_units: units.1,
            overhead_ms: own,
            billed_ms,
            dynamodb_usd,
            lambda_requests_usd,
            lambda_compute_usd,
            http_api_usd,
            total_usd: dynamodb_usd + lambda_requests_usd + lambda_compute_usd + http_api_usd,
        }
    };
    let scenarios = [
        ("1 M purchases, 1-line carts", "purchase, success (1 line)"),
        (
            "1 M purchases, 10-line carts",
            "purchase, success (10 lines)",
        ),
        (
            "1 M purchases, 50-line carts",
            "purchase, success (50 lines)",
        ),
        (
            "1 M listings (50-item pages)",
            "list page (50 items, no filter)",
        ),
    ];
    let mut rows: Vec<Row> = scenarios
        .iter()
        .filter_map(|(scenario, call)| {
            let m = calls.rows.iter().find(|r| r.call == *call)?;
            let ops = m.operations.iter();
            let transactions = ops.filter(|o| *o == "TransactWriteItems").count() as u64;
            let units = (m.aws_read_units, m.aws_write_units);
            let own = overhead(m.endpoint, m.handler_ms);
            Some(row(
                scenario.to_string(),
                m.requests,
                transactions,
                units,
                own,
            ))
        })
        .collect();
    // A name-filtered page on the largest catalog of section 5.
    let largest = catalog.and_then(|c| c.sizes.last());
    let name_page = largest.and_then(|s| s.pages.iter().find(|p| p.page.starts_with("name")));
    if let (Some(size), Some(page)) = (largest, name_page) {
        let list = calls.rows.iter().find(|r| r.endpoint == "list-items");
        let own = overhead("list-items", list.map_or(0.0, |r| r.handler_ms));
        let scenario = format!("1 M name-filtered listings ({}-item catalog)", size.items);
        rows.push(row(scenario, page.requests, 0, (page.read_units, 0.0), own));
    }
    let overhead_source = match latency {
        Some(_) => "section 2, concurrency 1: p50 of (function latency - DynamoDB time)",
        None => "section 2 did not run: the in-process handler time of section 1 stands in",
    };
    Report {
        memory_mb,
        memory_source,
        prices: PRICES,
        ms_per_request: AWS_MS_PER_REQUEST,
        ms_per_transaction: AWS_MS_PER_TRANSACTION,
        overhead_source: overhead_source.to_owned(),
        rows,
    }
}

/// MemorySize from the template's Globals (the first `MemorySize:` line), else 256 MB.
pub fn memory_from_template(path: &std::path::Path) -> (u64, String) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mb = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("MemorySize:"));
    match mb.and_then(|mb| mb.trim().parse().ok()) {
        Some(mb) => (mb, format!("MemorySize in {}", path.display())),
        None => (256, "default (no MemorySize found in template.yaml)".into()),
    }
}
