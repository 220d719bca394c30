//! The application in this process: a store on tables of the benchmark's own, the real
//! handlers, and helpers to fill carts quickly.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use futures::stream::{self, StreamExt};
use shared::domain::{Cart, Item, ItemId, Price, Quantity, Stock, UserId};
use shared::http::{dispatch, AppState, Endpoint};
use shared::store::{AddLine, MetricsSnapshot};
use shared::{Config, Store, Tables};

use crate::event::{Answer, Call};

/// Where DynamoDB Local answers.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        let port = std::env::var("DYNAMODB_LOCAL_PORT").unwrap_or_else(|_| "8000".to_owned());
        format!("http://127.0.0.1:{port}")
    })
}

/// A store reached through `endpoint`, with the functions' retry and timeout settings.
pub async fn store_at(endpoint: &str, tables: Tables) -> Store {
    let sdk = shared::store::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
        .endpoint_url(endpoint)
        .load()
        .await;
    Store::from_sdk_config(&sdk, tables)
}

/// Four table names no other run uses.
pub fn unique_tables(section: &str) -> Tables {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Tables::with_prefix(&format!("bench-{section}-{}", &id[..8]))
}

/// The handlers and their state, on tables created for the benchmark.
pub struct App {
    pub state: AppState,
}

impl App {
    /// Empty tables (dropped first if they exist), the functions' store talking to DynamoDB
    /// through `via` (a counting proxy) or directly.
    pub async fn fresh(tables: Tables, via: Option<&str>) -> Self {
        let direct = store_at(&dynamodb_endpoint(), tables.clone()).await;
        direct
            .delete_tables()
            .await
            .expect("DynamoDB Local answers (scripts/bench.sh starts it)");
        direct.create_tables().await.expect("tables are created");
        let store = match via {
            Some(endpoint) => store_at(endpoint, tables.clone()).await,
            None => direct,
        };
        Self {
            state: AppState {
                config: Config::for_tables(tables),
                store,
            },
        }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Calls endpoint `E` as Lambda would.
    pub async fn call<E: Endpoint>(&self, call: &Call) -> Answer {
        Answer::from(dispatch::<E>(&self.state, call.to_request()).await)
    }

    /// Calls `E` and measures what it cost: DynamoDB metrics and time in the handler.
    pub async fn measured<E: Endpoint>(&self, call: &Call) -> (Answer, MetricsSnapshot, Duration) {
        let request = call.to_request();
        let before = self.store().metrics().snapshot();
        let started = Instant::now();
        let answer = Answer::from(dispatch::<E>(&self.state, request).await);
        let took = started.elapsed();
        (
            answer,
            self.store().metrics().snapshot().since(&before),
            took,
        )
    }

    pub async fn drop_tables(&self) {
        let direct = store_at(&dynamodb_endpoint(), self.store().tables().clone()).await;
        if let Err(e) = direct.delete_tables().await {
            eprintln!("bench: could not delete the benchmark's tables: {e}");
        }
    }

    /// A cart for `user` holding `quantity` of each item, written straight to the store.
    pub async fn cart_with(&self, user: u64, items: &[Item], quantity: u32) -> Cart {
        let user = UserId::new(user).expect("a valid user id");
        let (mut cart, _) = self
            .store()
            .create_or_get_cart(user)
            .await
            .expect("cart created");
        let quantity = Quantity::new(u64::from(quantity)).expect("a valid quantity");
        for item in items {
            match self.store().add_cart_line(&cart.id, item, quantity).await {
                Ok(AddLine::Added(updated)) => cart = updated,
                other => panic!("adding item {} to a bench cart: {other:?}", item.id.get()),
            }
        }
        cart
    }

    /// The item as stored now.
    pub async fn item(&self, id: u64) -> Item {
        self.store()
            .get_item(ItemId::new(id).expect("a valid id"))
            .await
            .expect("item read")
            .expect("item exists")
    }

    /// Orders stored (a strongly consistent count).
    pub async fn order_count(&self) -> usize {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .store()
                .client()
                .scan()
                .table_name(&self.store().tables().orders)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("orders counted");
            count += out.count() as usize;
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return count,
            }
        }
    }
}

/// An item for the benchmark's own catalogs.
pub fn item(id: u64, name: &str, price: u64, stock: u64) -> Item {
    Item {
        id: ItemId::new(id).expect("a valid id"),
        name: name.to_owned(),
        price: Price::new(price).expect("a valid price"),
        stock: Stock::new(stock).expect("a valid stock"),
    }
}

/// Runs `f` over `inputs` with at most `concurrency` at a time; results in input order.
pub async fn concurrently<I, T, F, Fut>(inputs: Vec<I>, concurrency: usize, f: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T>,
{
    stream::iter(inputs.into_iter().map(f))
        .buffered(concurrency)
        .collect()
        .await
}

/// Puts items with several `BatchWriteItem` streams at once; returns the time it took.
pub async fn put_items_in_parallel(store: &Store, items: &[Item], streams: usize) -> Duration {
    let started = Instant::now();
    let chunk = items.len().div_ceil(streams.max(1)).max(1);
    let results = futures::future::join_all(items.chunks(chunk).map(|c| store.put_items(c))).await;
    for result in results {
        result.expect("catalog items written");
    }
    started.elapsed()
}

/// A cart id as text.
pub fn cart_id(cart: &Cart) -> String {
    cart.id.to_string()
}
