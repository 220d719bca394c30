//! Section 1: DynamoDB requests and consumed capacity per API call, per endpoint and outcome.
//!
//! The real handlers run in this process against DynamoDB Local, their store talking through a
//! counting proxy. Each row is one call, alone on the store: the SDK interceptor's count, the
//! operations the proxy saw, and the capacity DynamoDB Local reported (`ReturnConsumedCapacity`).

use std::collections::BTreeMap;

use add_cart_item::AddCartItem;
use admin_create_item::AdminCreateItem;
use admin_update_item::AdminUpdateItem;
use create_cart::CreateCart;
use get_cart::GetCart;
use get_order::GetOrder;
use list_items::ListItems;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde::Serialize;
use serde_json::{json, Value};
use shared::domain::{Item, Stock};
use shared::http::Endpoint;

use crate::app::{cart_id, dynamodb_endpoint, item, unique_tables, App};
use crate::event::{Answer, Call};
use crate::proxy::{CountingProxy, Exchange};

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub endpoint: &'static str,
    pub call: String,
    pub outcome: String,
    /// Requests the SDK interceptor counted.
    pub requests: u64,
    /// Operations the counting proxy saw, in order.
    pub operations: Vec<String>,
    /// Capacity DynamoDB Local reported.
    pub read_units: f64,
    pub write_units: f64,
    /// What the same call consumes on DynamoDB, from the items' sizes and the pricing rules
    /// (see `aws_units`).
    pub aws_read_units: f64,
    pub aws_write_units: f64,
    /// The goal, where it sets one.
    pub goal: Option<u64>,
    /// Time in the handler, in this process (dev profile), against DynamoDB Local.
    pub handler_ms: f64,
    /// Of which waiting for DynamoDB (the interceptor's `dynamodb_micros`).
    pub dynamodb_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Did the interceptor and the proxy always agree?
    pub counts_agree: bool,
}

struct Ctx {
    app: App,
    proxy: CountingProxy,
    rows: Vec<Row>,
}

impl Ctx {
    async fn measure<E: Endpoint>(
        &mut self,
        label: impl Into<String>,
        call: Call,
        expected: &str,
        goal: Option<u64>,
    ) -> Answer {
        self.proxy.take();
        let (answer, used, took) = self.app.measured::<E>(&call).await;
        let exchanges = self.proxy.take();
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!("{}", serde_json::to_string(&exchanges).unwrap_or_default());
        }
        let operations: Vec<String> = exchanges.iter().map(|e| e.operation.clone()).collect();
        let label = label.into();
        if answer.outcome() != expected {
            eprintln!(
                "bench: {label}: expected {expected}, got {} {}",
                answer.outcome(),
                answer.body
            );
        }
        let (aws_read_units, aws_write_units) = aws_units(&exchanges);
        self.rows.push(Row {
            endpoint: E::NAME,
            call: label,
            outcome: answer.outcome(),
            requests: used.requests,
            operations,
            read_units: used.read_units(),
            write_units: used.write_units(),
            aws_read_units,
            aws_write_units,
            goal,
            handler_ms: took.as_secs_f64() * 1000.0,
            dynamodb_ms: used.dynamodb_micros as f64 / 1000.0,
        });
        answer
    }
}

/// What DynamoDB bills for the exchanges: DynamoDB Local's figures, corrected where it is
/// known to differ from the pricing rules.
///
/// - A `TransactWriteItems` is reported with one item's units per table (whatever the number
///   of items in that table); DynamoDB bills every item, so each table's figure is multiplied by
///   its number of items in the request. (The per-item figure is Local's, which bills the
///   index write of a stock update at the transactional rate too: an upper bound.)
/// - A strongly consistent read of a missing item is reported as 0; DynamoDB bills 1 read unit
///   (0.5 eventually consistent).
/// - A conditional write that fails is reported without capacity; DynamoDB bills it (1 write
///   unit for items up to 1 KB).
/// - A cancelled transaction is reported without capacity and is counted as 0 here.
pub fn aws_units(exchanges: &[Exchange]) -> (f64, f64) {
    let mut read = 0.0;
    let mut write = 0.0;
    for e in exchanges {
        let writes = matches!(
            e.operation.as_str(),
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
        );
        match &e.error {
            None => {
                let items = transaction_items_per_table(&e.request);
                for (table, units) in per_table(e.consumed.as_ref()) {
                    if writes {
                        write += units * items.get(&table).copied().unwrap_or(1) as f64;
                    } else if units == 0.0 {
                        read += if consistent(&e.request, &table) {
                            1.0
                        } else {
                            0.5
                        };
                    } else {
                        read += units;
                    }
                }
            }
            Some(error) if error == "ConditionalCheckFailedException" && writes => write += 1.0,
            Some(_) => {}
        }
    }
    (read, write)
}

/// `(table, units)` of a `ConsumedCapacity` (one object or a list of them).
fn per_table(consumed: Option<&Value>) -> Vec<(String, f64)> {
    let entry = |c: &Value| {
        (
            c["TableName"].as_str().unwrap_or_default().to_owned(),
            c["CapacityUnits"].as_f64().unwrap_or(0.0),
        )
    };
    match consumed {
        Some(Value::Array(list)) => list.iter().map(entry).collect(),
        Some(c @ Value::Object(_)) => vec![entry(c)],
        _ => Vec::new(),
    }
}

/// Items per table in a `TransactWriteItems` request (empty for other requests).
fn transaction_items_per_table(request: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in request["TransactItems"].as_array().into_iter().flatten() {
        if let Some(action) = item.as_object().and_then(|o| o.values().next()) {
            if let Some(table) = action["TableName"].as_str() {
                *counts.entry(table.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Whether a read of `table` in this request is strongly consistent.
fn consistent(request: &Value, table: &str) -> bool {
    request["ConsistentRead"].as_bool().unwrap_or(false)
        || request["RequestItems"][table]["ConsistentRead"]
            .as_bool()
            .unwrap_or(false)
}

fn list() -> Call {
    Call::new("GET", "/api/v1/items", "/api/v1/items")
}

fn create(user: u64) -> Call {
    Call::new("POST", "/api/v1/cart/", "/api/v1/cart/").json(json!({ "user_id": user }))
}

fn view(cart: &str) -> Call {
    Call::new(
        "GET",
        "/api/v1/cart/{cart_id}",
        format!("/api/v1/cart/{cart}"),
    )
    .path_param("cart_id", cart)
}

pub fn add(cart: &str, user: u64, item: u64, quantity: u64) -> Call {
    Call::new(
        "POST",
        "/api/v1/cart/{cart_id}/items",
        format!("/api/v1/cart/{cart}/items"),
    )
    .path_param("cart_id", cart)
    .json(json!({ "user_id": user, "item_id": item, "quantity": quantity }))
}

pub fn remove(cart: &str, user: u64, item: u64) -> Call {
    Call::new(
        "DELETE",
        "/api/v1/cart/{cart_id}/items/{item_id}",
        format!("/api/v1/cart/{cart}/items/{item}"),
    )
    .path_param("cart_id", cart)
    .path_param("item_id", item)
    .query("user_id", user)
}

pub fn purchase(cart: &str, user: u64, key: &str) -> Call {
    Call::new(
        "POST",
        "/api/v1/cart/{cart_id}/purchase",
        format!("/api/v1/cart/{cart}/purchase"),
    )
    .path_param("cart_id", cart)
    .header("Idempotency-Key", key)
    .json(json!({ "user_id": user }))
}

pub fn order(order: &str, user: u64) -> Call {
    Call::new(
        "GET",
        "/api/v1/orders/{order_id}",
        format!("/api/v1/orders/{order}"),
    )
    .path_param("order_id", order)
    .query("user_id", user)
}

pub fn admin_create(name: &str) -> Call {
    Call::new("POST", "/api/v1/admin/items", "/api/v1/admin/items")
        .json(json!({ "name": name, "price": 1299, "quantity": 10 }))
        .with_iam()
}

pub fn admin_update(id: u64, change: serde_json::Value) -> Call {
    Call::new(
        "PATCH",
        "/api/v1/admin/items/{item_id}",
        format!("/api/v1/admin/items/{id}"),
    )
    .path_param("item_id", id)
    .json(change)
    .with_iam()
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Items 1..=60 with plenty of stock, 61 with one unit.
fn catalog() -> Vec<Item> {
    let mut items: Vec<Item> = (1..=60)
        .map(|i| item(i, &format!("Bench Item {i}"), 1000 + i, Stock::MAX))
        .collect();
    items.push(item(61, "Bench Scarce Item", 4999, 1));
    items
}

pub async fn run() -> Report {
    let proxy = CountingProxy::start(dynamodb_endpoint()).await;
    let app = App::fresh(unique_tables("requests"), Some(&proxy.url())).await;
    let items = catalog();
    app.store().put_items(&items).await.expect("catalog seeded");
    proxy.take();
    let mut ctx = Ctx {
        app,
        proxy,
        rows: Vec::new(),
    };

    // One unmeasured call first: the client's first connection is not a call's cost.
    ctx.app.call::<ListItems>(&list()).await;

    // Listing.
    let first = ctx
        .measure::<ListItems>("list page (50 items, no filter)", list(), "200", Some(1))
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.measure::<ListItems>(
        "list next page (cursor)",
        list().query("cursor", &cursor),
        "200",
        Some(1),
    )
    .await;
    ctx.measure::<ListItems>(
        "list page, price range (20 of 61 items)",
        list().query("min_value", 1011).query("max_value", 1030),
        "200",
        Some(1),
    )
    .await;
    ctx.measure::<ListItems>(
        "list page, name filter (11 of 61 match)",
        list().query("name", "item 5"),
        "200",
        Some(1),
    )
    .await;

    // Carts.
    let user = 1;
    let created = ctx
        .measure::<CreateCart>("create cart (new)", create(user), "201", Some(1))
        .await;
    let cart = created.body["cart"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.measure::<CreateCart>("create cart (existing)", create(user), "200", Some(1))
        .await;
    ctx.measure::<AddCartItem>(
        "add item (new line)",
        add(&cart, user, 1, 1),
        "200",
        Some(2),
    )
    .await;
    ctx.measure::<AddCartItem>(
        "add item (existing line)",
        add(&cart, user, 1, 2),
        "200",
        Some(2),
    )
    .await;
    ctx.measure::<AddCartItem>(
        "add item (more than the stock)",
        add(&cart, user, 61, 5),
        "409 insufficient_stock",
        Some(2),
    )
    .await;
    ctx.measure::<GetCart>("view cart (1 line)", view(&cart), "200", Some(1))
        .await;
    ctx.measure::<RemoveCartItem>("remove item", remove(&cart, user, 1), "200", Some(1))
        .await;

    // Purchases of carts of 1, 10 and 50 lines, then their replays.
    let mut orders = BTreeMap::new();
    for lines in [1usize, 10, 50] {
        let user = 100 + lines as u64;
        let cart = ctx.app.cart_with(user, &items[..lines], 1).await;
        let cart = cart_id(&cart);
        if lines == 50 {
            ctx.measure::<GetCart>("view cart (50 lines)", view(&cart), "200", Some(1))
                .await;
        }
        let key = key();
        let bought = ctx
            .measure::<PurchaseCart>(
                format!("purchase, success ({lines} line{})", plural(lines)),
                purchase(&cart, user, &key),
                "200",
                Some(2),
            )
            .await;
        if let Some(id) = bought.body["order"]["id"].as_str() {
            orders.insert(lines, (id.to_owned(), user));
        }
        ctx.measure::<PurchaseCart>(
            format!("purchase, replay ({lines} line{})", plural(lines)),
            purchase(&cart, user, &key),
            "200",
            Some(2),
        )
        .await;
    }

    // Refusals.
    let user = 200;
    let cart = cart_id(&ctx.app.cart_with(user, &items[60..61], 1).await);
    set(&ctx.app, 61, None, Some(0)).await;
    ctx.measure::<PurchaseCart>(
        "purchase, insufficient_stock (1 line)",
        purchase(&cart, user, &key()),
        "409 insufficient_stock",
        None,
    )
    .await;
    let user = 201;
    let mut lines = items[..9].to_vec();
    set(&ctx.app, 61, None, Some(1)).await;
    lines.push(items[60].clone());
    let cart = cart_id(&ctx.app.cart_with(user, &lines, 1).await);
    set(&ctx.app, 61, None, Some(0)).await;
    ctx.measure::<PurchaseCart>(
        "purchase, insufficient_stock (10 lines, 1 short)",
        purchase(&cart, user, &key()),
        "409 insufficient_stock",
        None,
    )
    .await;
    let user = 300;
    let cart = cart_id(&ctx.app.cart_with(user, &items[1..2], 1).await);
    set(&ctx.app, 2, Some(5000), None).await;
    ctx.measure::<PurchaseCart>(
        "purchase, price_changed (1 line)",
        purchase(&cart, user, &key()),
        "409 price_changed",
        None,
    )
    .await;

    // Orders and the admin.
    if let Some((id, user)) = orders.get(&1) {
        ctx.measure::<GetOrder>("view order", order(id, *user), "200", Some(1))
            .await;
    }
    ctx.measure::<AdminCreateItem>(
        "admin: create item",
        admin_create("Bench Created Item"),
        "201",
        None,
    )
    .await;
    ctx.measure::<AdminUpdateItem>(
        "admin: update item",
        admin_update(3, json!({ "price": 1234 })),
        "200",
        None,
    )
    .await;

    ctx.app.drop_tables().await;
    let counts_agree = ctx
        .rows
        .iter()
        .all(|r| r.requests == r.operations.len() as u64);
    Report {
        rows: ctx.rows,
        counts_agree,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Changes an item through the admin handler (not measured).
async fn set(app: &App, id: u64, price: Option<u64>, stock: Option<u64>) {
    let mut change = serde_json::Map::new();
    if let Some(price) = price {
        change.insert("price".to_owned(), json!(price));
    }
    if let Some(stock) = stock {
        change.insert("quantity".to_owned(), json!(stock));
    }
    let answer = app
        .call::<AdminUpdateItem>(&admin_update(id, Value::Object(change)))
        .await;
    assert_eq!(answer.status, 200, "updating item {id}: {}", answer.body);
}
