//! Section 5: the listing on catalogs of growing size. One table grows from 1,000 to 10,000 to
//! 100,000 generated items (`tools/gen-catalog`); at each size three kinds of page are read
//! through `Store::list_items` (what the list-items handler calls), with what each read.

use std::time::Instant;

use serde::Serialize;
use shared::config::DEFAULT_LIST_READ_BUDGET;
use shared::domain::{Item, ListQuery, Price};

use testkit::{item, TestApp};

use crate::stats::Summary;

/// The name filter: about 5% of generated names contain it.
pub const NAME_FILTER: &str = "organic";
/// The price range: 10.00 to 20.00, about 12% of generated prices.
pub const PRICE_RANGE: (u64, u64) = (1_000, 2_000);

#[derive(Clone, Debug, Serialize)]
pub struct Size {
    pub items: usize,
    /// Time to add this size's new items (BatchWriteItem, 4 streams).
    pub seed_ms: f64,
    pub seed_items_per_s: f64,
    pub pages: Vec<PageRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageRow {
    pub page: String,
    pub latency: Summary,
    pub items_returned: usize,
    /// Index entries read (`ScannedCount`), per page.
    pub items_read: u32,
    pub requests: u64,
    pub read_units: f64,
    pub has_next: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub sizes: Vec<Size>,
    pub page_limit: u32,
    pub read_budget: u32,
    pub name_filter: String,
    pub name_match_share: f64,
    pub repeats: usize,
}

pub async fn run(sizes: &[usize], repeats: usize) -> Report {
    let app = TestApp::spawn().await;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let catalog: Vec<Item> = gen_catalog::generate(largest, 20_261_123)
        .into_iter()
        .map(|c| item(c.id, &c.name, c.price, c.quantity))
        .collect();
    let matching = catalog
        .iter()
        .filter(|i| i.name.to_lowercase().contains(NAME_FILTER))
        .count();

    let mut out = Vec::new();
    let mut seeded = 0;
    for &size in sizes {
        eprintln!("bench: catalog scale: seeding up to {size} items");
        // Four BatchWriteItem streams at once.
        let started = Instant::now();
        let new = &catalog[seeded..size];
        let streams = new
            .chunks(new.len().div_ceil(4).max(1))
            .map(|c| app.direct().put_items(c));
        for written in futures::future::join_all(streams).await {
            written.expect("catalog items written");
        }
        let took = started.elapsed().as_secs_f64();
        let added = size - seeded;
        seeded = size;
        let name = format!("name contains \"{NAME_FILTER}\"");
        let mut pages = Vec::new();
        for (label, range, name) in [
            ("first page, no filter", (0, Price::MAX), None),
            ("price range 10.00-20.00", PRICE_RANGE, None),
            (name.as_str(), (0, Price::MAX), Some(NAME_FILTER)),
        ] {
            let query = ListQuery {
                min_price: Price::new(range.0).expect("valid"),
                max_price: Price::new(range.1).expect("valid"),
                name: name.map(str::to_owned),
                limit: ListQuery::DEFAULT_LIMIT,
                after: None,
            };
            pages.push(page(&app, label, query, repeats).await);
        }
        out.push(Size {
            items: size,
            seed_ms: took * 1000.0,
            seed_items_per_s: added as f64 / took.max(1e-9),
            pages,
        });
    }
    app.drop_tables().await;
    Report {
        sizes: out,
        page_limit: ListQuery::DEFAULT_LIMIT,
        read_budget: DEFAULT_LIST_READ_BUDGET,
        name_filter: NAME_FILTER.to_owned(),
        name_match_share: matching as f64 / largest.max(1) as f64,
        repeats,
    }
}

async fn page(app: &TestApp, label: &str, query: ListQuery, repeats: usize) -> PageRow {
    let store = app.store();
    let mut latencies = Vec::with_capacity(repeats);
    let (mut last, before) = (None, store.metrics().snapshot());
    for _ in 0..repeats {
        let started = Instant::now();
        last = Some(store.list_items(&query, DEFAULT_LIST_READ_BUDGET).await);
        latencies.push(started.elapsed().as_micros() as u64);
    }
    let used = store.metrics().snapshot().since(&before);
    let page = last.expect("at least one repeat").expect("page read");
    PageRow {
        page: label.to_owned(),
        latency: Summary::of_micros(&latencies),
        items_returned: page.items.len(),
        items_read: page.scanned,
        requests: used.requests / repeats as u64,
        read_units: used.read_units() / repeats as f64,
        has_next: page.next.is_some(),
    }
}
