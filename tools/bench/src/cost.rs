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

/// Assumed time of one DynamoDB round trip from a Lambda function in the same region (not
/// measured here: DynamoDB Local is on this machine).
pub const AWS_MS_PER_REQUEST: f64 = 5.0;
/// Assumed time of one `TransactWriteItems` (a two-phase write across several items).
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
    /// Billed duration on AWS: own work plus the assumed DynamoDB round trips, rounded up to
    /// the millisecond.
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

/// What one call uses.
struct Usage {
    requests: u64,
    transactions: u64,
    read_units: f64,
    write_units: f64,
    overhead_ms: f64,
}

pub fn estimate(
    calls: &requests::Report,
    latency: Option<&latency::Report>,
    catalog: Option<&catalog_scale::Report>,
    memory_mb: u64,
    memory_source: String,
) -> Report {
    let overhead = |endpoint: &str| -> Option<f64> {
        latency?
            .rows
            .iter()
            .find(|r| r.endpoint == endpoint && r.concurrency == 1)
            .map(|r| r.overhead.p50_ms)
    };
    let overhead_source = if latency.is_some() {
        "section 2, concurrency 1: p50 of (function latency - DynamoDB time)".to_owned()
    } else {
        "section 2 did not run: the in-process handler time of section 1 stands in".to_owned()
    };
    let scenarios = [
        (
            "1 M purchases, 1-line carts",
            "purchase, success (1 line)",
            "purchase-cart",
        ),
        (
            "1 M purchases, 10-line carts",
            "purchase, success (10 lines)",
            "purchase-cart",
        ),
        (
            "1 M purchases, 50-line carts",
            "purchase, success (50 lines)",
            "purchase-cart",
        ),
        (
            "1 M listings (50-item pages)",
            "list page (50 items, no filter)",
            "list-items",
        ),
    ];
    let mut rows: Vec<Row> = scenarios
        .iter()
        .filter_map(|(scenario, call, endpoint)| {
            let measured = calls.rows.iter().find(|r| r.call == *call)?;
            let transactions = measured
                .operations
                .iter()
                .filter(|o| *o == "TransactWriteItems")
                .count() as u64;
            let usage = Usage {
                requests: measured.requests,
                transactions,
                read_units: measured.aws_read_units,
                write_units: measured.aws_write_units,
                overhead_ms: overhead(endpoint).unwrap_or(measured.handler_ms),
            };
            Some(row(scenario, &usage, memory_mb))
        })
        .collect();
    // A name-filtered page on the largest catalog of section 5.
    let filtered = catalog.and_then(|c| {
        let size = c.sizes.last()?;
        let page = size.pages.iter().find(|p| p.page.starts_with("name"))?;
        Some((size.items, page.clone()))
    });
    if let Some((items, page)) = filtered {
        let list = calls.rows.iter().find(|r| r.endpoint == "list-items");
        let usage = Usage {
            requests: page.requests,
            transactions: 0,
            read_units: page.read_units,
            write_units: 0.0,
            overhead_ms: overhead("list-items")
                .or(list.map(|r| r.handler_ms))
                .unwrap_or(0.0),
        };
        rows.push(row(
            &format!("1 M name-filtered listings ({items}-item catalog)"),
            &usage,
            memory_mb,
        ));
    }
    Report {
        memory_mb,
        memory_source,
        prices: PRICES,
        ms_per_request: AWS_MS_PER_REQUEST,
        ms_per_transaction: AWS_MS_PER_TRANSACTION,
        overhead_source,
        rows,
    }
}

fn row(scenario: &str, usage: &Usage, memory_mb: u64) -> Row {
    let p = &PRICES;
    let plain = usage.requests.saturating_sub(usage.transactions);
    let billed_ms = (usage.overhead_ms
        + plain as f64 * AWS_MS_PER_REQUEST
        + usage.transactions as f64 * AWS_MS_PER_TRANSACTION)
        .ceil();
    // Per million calls: units per call x 1 M x price per million units = units x price.
    let dynamodb_usd = usage.read_units * p.dynamodb_per_million_read_units
        + usage.write_units * p.dynamodb_per_million_write_units;
    let gb_seconds = 1e6 * (billed_ms / 1000.0) * (memory_mb as f64 / 1024.0);
    let lambda_compute_usd = gb_seconds * p.lambda_arm64_per_gb_second;
    let lambda_requests_usd = p.lambda_per_million_requests;
    let http_api_usd = p.http_api_per_million_requests;
    Row {
        scenario: scenario.to_owned(),
        requests: usage.requests,
        transactions: usage.transactions,
        read_units: usage.read_units,
        write_units: usage.write_units,
        overhead_ms: usage.overhead_ms,
        billed_ms,
        dynamodb_usd,
        lambda_requests_usd,
        lambda_compute_usd,
        http_api_usd,
        total_usd: dynamodb_usd + lambda_requests_usd + lambda_compute_usd + http_api_usd,
    }
}

/// MemorySize from the template's Globals (the first `MemorySize:` line), else 256 MB.
pub fn memory_from_template(path: &std::path::Path) -> (u64, String) {
    let found = std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("MemorySize:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    match found {
        Some(mb) => (mb, format!("MemorySize in {}", path.display())),
        None => (
            256,
            "default (no MemorySize found in template.yaml)".to_owned(),
        ),
    }
}
