//! Flash sales: an item whose stock is split over shard rows (`stock_shards`, design.md "Flash
//! sales"). Racing buyers under DynamoDB's rule under contention (`testkit::contention`, applied
//! by the proxy) never get more than the stock, purchases stay all or nothing and once per key,
//! a line is short only when all the item's rows together are, the admin's changes write every
//! row at the item's version, the sweep moves the pool into the shards and refreshes what the
//! listing shows, and units given back are bought again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use shared::domain::{CheckoutPolicy, Stocking};
use testkit::contention::ContentionRule;
use testkit::{ApiRequest, DynamoDbProxy, Fault, TestApp, TestResponse, Times};

/// An app behind a proxy, its catalog `items` (name, price, stock; ids 1, 2, ...), item 1 split
/// over `shards` rows by the admin route.
async fn split_app(items: &[(&str, u64, u64)], shards: u32) -> (TestApp, DynamoDbProxy) {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.with_policy(CheckoutPolicy::Latest);
    app.seed(items).await;
    app.update_item(1, json!({ "stock_shards": shards })).await;
    (app, proxy)
}

fn stocking(pool: u64, shards: &[u64]) -> Stocking {
    Stocking {
        pool,
        shards: shards.to_vec(),
    }
}

/// The catalog's shard rows, by item and shard: (stock, price).
async fn shard_rows(app: &TestApp) -> BTreeMap<(u64, u64), (u64, u64)> {
    let rows = app.scan(&app.direct().tables().catalog).await;
    let shards = rows.iter().filter(|row| row.get("shard").is_some());
    let field = |row: &Value, name: &str| row[name].as_u64().unwrap();
    shards
        .map(|row| {
            let key = (field(row, "item_id"), field(row, "shard"));
            (key, (field(row, "stock"), field(row, "price")))
        })
        .collect()
}

async fn admin_update(app: &TestApp, item: u64, change: Value, seen: Option<u64>) -> TestResponse {
    let mut request = ApiRequest::admin_update(item, change);
    if let Some(version) = seen {
        request = request.header("If-Match", format!("\"{version}\""));
    }
    app.send(request).await
}

fn version_of(r: &TestResponse) -> u64 {
    r.body["item"]["version"].as_u64().unwrap()
}

/// The listing's quantity of `item`.
async fn listed(app: &TestApp, item: u64) -> u64 {
    let page = app.list(&[("limit", "100")]).await;
    let items = page.body["items"].as_array().unwrap();
    let found = items.iter().find(|i| i["id"] == item).unwrap();
    found["quantity"].as_u64().unwrap()
}

/// `buyers` purchases of `carts` (user, cart), `at_once` at a time: the answers.
async fn buy_all(app: &TestApp, carts: &[(u64, String)], at_once: usize) -> Vec<TestResponse> {
    let purchases = stream::iter(carts).map(|(user, cart)| app.purchase(cart, user, "flash"));
    purchases.buffer_unordered(at_once).collect().await
}

// --- Racing buyers, under the rule ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_buyers_of_a_split_item_under_the_contention_rule_get_exactly_the_stock() {
    let _heavy = testkit::heavy().await;
    // Arrange: 30 units over 8 shards, 90 buyers with one unit in their carts.
    let (app, proxy) = split_app(&[("Console", 49_900, 30)], 8).await;
    let hot = app.item(1).await;
    assert_eq!(hot.shards, 8);
    let carts: Vec<(u64, String)> = stream::iter(1..=90u64)
        .map(|user| {
            let hot = hot.clone();
            let app = &app;
            async move { (user, app.fill_cart(user, &[hot], 1).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    proxy.apply_contention(ContentionRule::default());

    // Act
    let answers = buy_all(&app, &carts, 32).await;

    // Assert: 30 sold, everyone else refused for stock with nothing available, no 5xx.
    let sold = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(sold, 30, "{:?}", outcomes(&answers));
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(409, "insufficient_stock");
        assert_eq!(r.body["items"][0]["available"], 0, "{}", r.text);
    }
    assert_eq!(app.stocking(1).await, stocking(0, &[0; 8]));
    assert_eq!(app.order_count().await, 30);
    let stats = proxy.contention();
    eprintln!("90 buyers of 30 units over 8 shards, under the rule: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_holds_of_a_split_item_under_the_contention_rule_hold_exactly_the_stock() {
    let _heavy = testkit::heavy().await;
    // Arrange: 25 units over 4 shards; 80 users with empty carts, under `hold`.
    let (app, proxy) = split_app(&[("Console", 49_900, 25)], 4).await;
    let app = app.holding(900, 10);
    let carts: Vec<(u64, String)> = stream::iter(1..=80u64)
        .map(|user| {
            let app = &app;
            async move { (user, app.fill_cart(user, &[], 1).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    proxy.apply_contention(ContentionRule::default());

    // Act: every user adds one unit at once.
    let adds = stream::iter(&carts).map(|(user, cart)| app.add(cart, user, 1, 1));
    let answers: Vec<TestResponse> = adds.buffer_unordered(32).collect().await;

    // Assert: exactly the stock held, the others refused once all the rows were read.
    let held = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(held, 25, "{:?}", outcomes(&answers));
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(409, "insufficient_stock");
        assert_eq!(r.body["items"][0]["available"], 0, "{}", r.text);
    }
    assert_eq!(app.available(1).await, 0);
    assert_eq!(app.held_units(1).await, 25);

    // The held lines are bought, asking nothing of the item.
    proxy.take();
    let holding: Vec<(u64, String)> = stream::iter(carts)
        .filter(|(_, cart)| {
            let app = &app;
            let cart = cart.clone();
            async move { app.held_in(&cart, 1).await == 1 }
        })
        .collect()
        .await;
    let bought = buy_all(&app, &holding, 16).await;
    assert!(
        bought.iter().all(|r| r.status == 200),
        "{:?}",
        outcomes(&bought)
    );
    assert_eq!((app.order_count().await, app.available(1).await), (25, 0));
}

fn outcomes(answers: &[TestResponse]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in answers {
        *counts.entry(r.outcome()).or_insert(0) += 1;
    }
    counts
}

// --- One purchase --------------------------------------------------------------------------------

#[tokio::test]
async fn a_split_items_purchase_takes_two_requests_until_its_shard_runs_short() {
    // Arrange: 8 units over 4 shards (2 each).
    let (app, _proxy) = split_app(&[("Console", 49_900, 8)], 4).await;
    assert_eq!(app.stocking(1).await, stocking(0, &[2, 2, 2, 2]));
    let one = app.cart_with(7, &[(1, 1)]).await;
    let five = app.cart_with(8, &[(1, 5)]).await;

    // Act: one unit (every shard has it), then five (no shard has them: the rows are read, and
    // the line takes from three).
    let (first, requests) = app.requests_during(app.purchase(&one, 7, "k1")).await;
    let (second, more) = app.requests_during(app.purchase(&five, 8, "k2")).await;

    // Assert
    assert_eq!((first.status, requests), (200, 2), "{}", first.text);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(more, 4, "read, take, read the rows, take from several");
    assert_eq!(app.available(1).await, 2);
    let left = app.stocking(1).await;
    assert_eq!(
        (left.pool, left.shards.iter().sum::<u64>()),
        (0, 2),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_split_line_is_short_only_when_all_the_items_rows_together_are() {
    // Arrange: 3 units over 4 shards ([1, 1, 1, 0]), a cart of 4, then one of 3.
    let (app, _proxy) = split_app(&[("Console", 49_900, 3)], 4).await;
    let four = app.cart_with(7, &[(1, 3)]).await;
    app.update_item(1, json!({ "restock": 1 })).await;
    app.set(&four, 7, 1, 4).await;
    app.update_item(1, json!({ "quantity": 3 })).await;
    let three = app.cart_with(8, &[(1, 3)]).await;

    // Act
    let short = app.purchase(&four, 7, "k1").await;
    let bought = app.purchase(&three, 8, "k2").await;

    // Assert: refused with the sum as what is available; then 3 of 3, from three shards.
    short.assert_problem(409, "insufficient_stock");
    assert_eq!(
        short.body["items"],
        json!([{ "item_id": 1, "requested": 4, "available": 3 }])
    );
    assert_eq!(bought.status, 200, "{}", bought.text);
    assert_eq!(app.available(1).await, 0);
}

#[tokio::test]
async fn a_three_line_cart_with_a_split_line_is_bought_all_or_nothing() {
    // Arrange: item 1 split over 4 rows; item 3 has one unit.
    let (app, _proxy) = split_app(
        &[
            ("Console", 49_900, 8),
            ("Cable", 990, 10),
            ("Stand", 2_990, 1),
        ],
        4,
    )
    .await;
    let first = app.cart_with(7, &[(1, 1), (2, 1), (3, 1)]).await;
    let second = app.cart_with(8, &[(1, 3), (2, 2), (3, 1)]).await;

    // Act
    let bought = app.purchase(&first, 7, "k1").await;
    let refused = app.purchase(&second, 8, "k2").await;

    // Assert: the first took one of each; the second nothing at all, its short line named.
    assert_eq!(bought.status, 200, "{}", bought.text);
    refused.assert_problem(409, "insufficient_stock");
    assert_eq!(
        refused.body["items"],
        json!([{ "item_id": 3, "requested": 1, "available": 0 }])
    );
    assert_eq!(app.available(1).await, 7);
    assert_eq!((app.stock_of(2).await, app.stock_of(3).await), (9, 0));
    assert_eq!(app.order_count().await, 1);
    assert_eq!(
        app.view_cart(&second).await.body["cart"]["lines"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_items_purchase_submitted_sixteen_times_at_once_buys_once() {
    // Arrange
    let (app, proxy) = split_app(&[("Console", 49_900, 4)], 4).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    proxy.apply_contention(ContentionRule::default());

    // Act
    let sends = (0..16).map(|_| app.purchase(&cart, 7, "the-key"));
    let answers = futures::future::join_all(sends).await;

    // Assert: one order, every answer the same bytes.
    let first = answers.iter().find(|r| r.status == 200).expect("one buys");
    for r in &answers {
        assert_eq!((r.status, &r.body), (200, &first.body), "{}", r.text);
    }
    assert_eq!(app.order_count().await, 1);
    assert_eq!(app.available(1).await, 2);
}

#[tokio::test]
async fn a_buyer_who_loses_every_retry_is_answered_503_with_retry_after_within_the_deadline() {
    // Arrange: every transaction conflicts.
    let (app, proxy) = split_app(&[("Console", 49_900, 8)], 4).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    proxy.take();
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Always,
    );

    // Act
    let started = Instant::now();
    let r = app.purchase(&cart, 7, "k").await;
    let took = started.elapsed();

    // Assert: 503 with Retry-After, inside the request's budget; the take moved from shard to
    // shard (a new client request token each time it did); nothing written.
    r.assert_problem(503, "service_unavailable");
    r.assert_retry_after();
    let budget = app.state.config.request_budget;
    assert!(took < budget, "{took:?} (budget {budget:?})");
    let tried = proxy.seen("TransactWriteItems");
    let tokens: std::collections::BTreeSet<&str> = (tried.iter())
        .filter_map(|s| s.body["ClientRequestToken"].as_str())
        .collect();
    assert!(tried.len() > 4 && tokens.len() > 1, "{} tries", tried.len());
    assert_eq!(app.available(1).await, 8);
    assert_eq!(app.order_count().await, 0);

    // The conflicts over, the same key buys.
    proxy.clear();
    assert_eq!(app.purchase(&cart, 7, "k").await.status, 200);
}

// --- The admin, the sweep, units given back --------------------------------------------------

#[tokio::test]
async fn an_admin_reshards_reprices_and_sets_the_stock_of_a_split_item_at_its_version() {
    // Arrange
    let (app, _proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.with_policy(CheckoutPolicy::Latest);
    app.seed(&[("Console", 100, 10)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;

    // Split over 4 rows: the stock spread, the answer the whole item.
    let split = admin_update(&app, 1, json!({ "stock_shards": 4 }), None).await;
    assert_eq!(split.status, 200, "{}", split.text);
    assert_eq!(
        (
            &split.body["item"]["quantity"],
            &split.body["item"]["stock_shards"]
        ),
        (&json!(10), &json!(4))
    );
    assert_eq!(app.stocking(1).await, stocking(0, &[3, 3, 2, 2]));

    // A price change at the item's version reaches every shard: the old cart's price is stale.
    let v = version_of(&split);
    let repriced = admin_update(&app, 1, json!({ "price": 120 }), Some(v)).await;
    assert_eq!(repriced.status, 200, "{}", repriced.text);
    assert!(shard_rows(&app)
        .await
        .values()
        .all(|(_, price)| *price == 120));
    app.purchase(&cart, 7, "k1")
        .await
        .assert_problem(409, "price_changed");
    let bought = app.purchase(&cart, 7, "k2").await;
    assert_eq!(bought.status, 200, "{}", bought.text);

    // A sale moved the version on: setting the stock at the old one is 412, at the new one it
    // spreads the new stock.
    let stale = admin_update(
        &app,
        1,
        json!({ "quantity": 20 }),
        Some(version_of(&repriced)),
    )
    .await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["item"]["quantity"], 9);
    let current = stale.body["item"]["version"].as_u64().unwrap();
    let set = admin_update(&app, 1, json!({ "quantity": 20 }), Some(current)).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert!(version_of(&set) > current);
    assert_eq!(app.stocking(1).await, stocking(0, &[5, 5, 5, 5]));

    // A price or limit change without `If-Match` reaches every shard too.
    let repriced = admin_update(
        &app,
        1,
        json!({ "price": 125, "max_per_customer": 5 }),
        None,
    )
    .await;
    assert_eq!(repriced.status, 200, "{}", repriced.text);
    assert!(shard_rows(&app)
        .await
        .values()
        .all(|(_, price)| *price == 125));

    // A restock goes to the pool; fewer shards take all of it; one makes the item whole.
    let restocked = admin_update(&app, 1, json!({ "restock": 3 }), None).await;
    assert_eq!(restocked.body["item"]["quantity"], 23);
    assert_eq!(app.stocking(1).await, stocking(3, &[5, 5, 5, 5]));
    admin_update(&app, 1, json!({ "stock_shards": 2 }), None).await;
    assert_eq!(app.stocking(1).await, stocking(0, &[12, 11]));
    assert_eq!(
        shard_rows(&app).await.len(),
        2,
        "the shards no longer needed are deleted"
    );
    let whole = admin_update(&app, 1, json!({ "stock_shards": 1 }), None).await;
    assert!(
        whole.body["item"].get("stock_shards").is_none(),
        "{}",
        whole.text
    );
    assert_eq!(app.stocking(1).await, stocking(23, &[]));
    assert!(shard_rows(&app).await.is_empty());
    assert_eq!((app.stock_of(1).await, listed(&app, 1).await), (23, 23));

    // Out of range.
    for bad in [json!(0), json!(65), json!("4"), json!(2.5)] {
        let r = admin_update(&app, 1, json!({ "stock_shards": bad }), None).await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], "stock_shards");
    }
}

#[tokio::test]
async fn the_sweep_moves_the_pool_into_the_shards_and_refreshes_the_listed_quantity() {
    // Arrange: 8 units over 4 shards; two sold.
    let (app, _proxy) = split_app(&[("Console", 49_900, 8)], 4).await;
    for user in [7, 8] {
        let cart = app.cart_with(user, &[(1, 1)]).await;
        assert_eq!(app.purchase(&cart, user, "k").await.status, 200);
    }

    // The listing shows the shards as the last sweep (or admin change) left them: the two units
    // sold since are still listed (the bound design.md states), until the sweep.
    assert_eq!((app.available(1).await, listed(&app, 1).await), (6, 8));
    let swept = app.sweep().await;
    assert_eq!((swept.split_items, swept.failed_items), (1, 0), "{swept:?}");
    assert_eq!(listed(&app, 1).await, 6);

    // Six restocked go to the pool (listed at once: the admin's change lists the rows it read).
    app.update_item(1, json!({ "restock": 6 })).await;
    assert_eq!(app.stocking(1).await.pool, 6);
    assert_eq!(listed(&app, 1).await, 12);

    // Act
    let swept = app.sweep().await;

    // Assert: the pool in the shards, evened out.
    assert_eq!(swept.moved_units, 6, "{swept:?}");
    let after = app.stocking(1).await;
    assert_eq!(after, stocking(0, &[3, 3, 3, 3]));
    assert_eq!(listed(&app, 1).await, 12);

    // A starving shard is fed from the others; nothing to do moves nothing.
    let cart = app.cart_with(9, &[(1, 5)]).await;
    assert_eq!(app.purchase(&cart, 9, "k").await.status, 200);
    app.sweep().await;
    let evened = app.stocking(1).await;
    assert_eq!(
        (evened.available(), evened.shards.iter().max()),
        (7, Some(&2)),
        "{evened:?}"
    );
    assert_eq!(listed(&app, 1).await, 7);
    let idle = app.sweep().await;
    assert_eq!(idle.moved_units, 0, "{idle:?}");
}

#[tokio::test]
async fn units_given_back_go_to_the_pool_and_are_bought_again_before_any_sweep() {
    // Arrange: 2 units over 2 shards, both bought; a second buyer refused.
    let (app, _proxy) = split_app(&[("Console", 49_900, 2)], 2).await;
    let first = app.cart_with(7, &[(1, 2)]).await;
    let bought = app.purchase(&first, 7, "k").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    let second = app.cart_with(8, &[(1, 2)]).await;
    app.purchase(&second, 8, "k1")
        .await
        .assert_problem(409, "insufficient_stock");

    // Act: the first order is cancelled; its units go back to the item's pool.
    let order = bought.body["order"]["id"].as_str().unwrap();
    let cancelled = app.cancel_order(order, 7).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(app.stocking(1).await, stocking(2, &[0, 0]));

    // Assert: the second buyer gets them, from the pool, before any sweep.
    let again = app.purchase(&second, 8, "k2").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(app.stocking(1).await, stocking(0, &[0, 0]));
}

#[tokio::test]
async fn a_line_that_did_not_know_its_item_was_split_takes_from_the_pool_or_learns_it() {
    // Arrange: the cart's line read item 1 whole; then it is split over 4 rows.
    let (app, _proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.with_policy(CheckoutPolicy::Latest);
    app.seed(&[("Console", 49_900, 8)]).await;
    let cart = app.cart_with(7, &[(1, 3)]).await;
    app.update_item(1, json!({ "stock_shards": 4 })).await;

    // Act: its take from the item's row finds the pool empty; the rows are read.
    let started = Instant::now();
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.available(1).await, 5);
}
