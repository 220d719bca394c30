//! `seed-catalog` (EventBridge schedule): inserts the items of the dataset in `data/catalog.json`,
//! built into the binary, that the catalog does not hold yet. It never changes an item that
//! exists (its stock, price or name: sales and admin changes stand), nor carts, orders or items
//! outside the dataset. An event `{"reset": true}` (by hand, for local use) writes the whole
//! dataset over what is there instead.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::{Item, ItemId, ItemName, Price, Stock};
use shared::scheduled::Scheduled;
use shared::store::ADMIN_ID_FLOOR;
use shared::Store;

/// The dataset, as `tools/gen-catalog` wrote it.
pub const DATASET: &str = include_str!("../../../data/catalog.json");

#[derive(Deserialize)]
struct Dataset {
    items: Vec<DatasetItem>,
}

#[derive(Deserialize)]
struct DatasetItem {
    id: u64,
    name: String,
    price: u64,
    quantity: u64,
}

/// What a run did; also the function's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedSummary {
    /// Items written: the missing ones, or every one on a reset.
    pub items: usize,
    pub batches: usize,
    pub retried_batches: usize,
    pub write_capacity_units: f64,
    pub elapsed_ms: u64,
}

/// Parses and checks a dataset: every entry must be a valid item with an id below the range
/// admin-created items use.
pub fn parse_dataset(text: &str) -> Result<Vec<Item>, String> {
    let dataset: Dataset =
        serde_json::from_str(text).map_err(|e| format!("dataset is not valid: {e}"))?;
    dataset
        .items
        .into_iter()
        .map(|raw| {
            let bad = |why: &str| format!("dataset item {}: {why}", raw.id);
            let id = ItemId::new(raw.id)
                .filter(|id| id.get() < ADMIN_ID_FLOOR)
                .ok_or_else(|| bad("id out of range"))?;
            let name = ItemName::parse(&raw.name).map_err(|why| bad(&format!("name {why}")))?;
            Ok(Item {
                id,
                name: name.as_str().to_owned(),
                price: Price::for_item(raw.price).ok_or_else(|| bad("price out of range"))?,
                stock: Stock::new(raw.quantity).ok_or_else(|| bad("quantity out of range"))?,
                version: 0,
                max_per_customer: None,
                shards: 1,
            })
        })
        .collect()
}

/// Writes the `items` the catalog does not hold (all of them on a `reset`) and logs a summary.
pub async fn seed(
    store: &Store,
    items: &[Item],
    reset: bool,
) -> Result<SeedSummary, lambda_runtime::Error> {
    let started = Instant::now();
    let before = store.metrics().snapshot();
    let missing;
    let items = if reset {
        items
    } else {
        missing = store.missing_items(items).await?;
        &missing[..]
    };
    let report = store.put_items(items).await?;
    let used = store.metrics().snapshot().since(&before);
    let summary = SeedSummary {
        items: report.written,
        batches: report.batches,
        retried_batches: report.retried_batches,
        write_capacity_units: used.write_units(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        function = "seed-catalog",
        items = summary.items,
        reset,
        batches = summary.batches,
        retried_batches = summary.retried_batches,
        dynamodb_requests = used.requests,
        write_capacity_units = summary.write_capacity_units,
        elapsed_ms = summary.elapsed_ms,
        "catalog seeded"
    );
    Ok(summary)
}

/// The function: the scheduled event inserts what is missing; `{"reset": true}` writes
/// everything.
pub struct SeedCatalog;

impl Scheduled for SeedCatalog {
    const NAME: &'static str = "seed-catalog";
    type Summary = SeedSummary;

    async fn run(
        store: &Store,
        event: LambdaEvent<Value>,
    ) -> Result<SeedSummary, lambda_runtime::Error> {
        let reset = event.payload.get("reset") == Some(&Value::Bool(true));
        let items = parse_dataset(DATASET)?;
        seed(store, &items, reset).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_dataset_has_at_least_a_thousand_valid_items() {
        let items = parse_dataset(DATASET).expect("dataset parses");
        assert!(items.len() >= 1_000);
        let mut ids: Vec<_> = items.iter().map(|i| i.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), items.len(), "ids are unique");
    }

    #[test]
    fn a_dataset_with_an_id_in_the_admin_range_is_refused() {
        let text = r#"{"items":[{"id":1000000,"name":"Tea - Green","price":100,"quantity":1}]}"#;
        assert!(parse_dataset(text).is_err());
    }
}
