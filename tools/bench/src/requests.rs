//! Section 1: DynamoDB requests and consumed capacity per API call, per endpoint and outcome.
//!
//! The real handlers run in this process against DynamoDB Local, their store talking through
//! the test kit's proxy, which counts. Each row is one call, alone on the store: the SDK
//! interceptor's count, the operations the proxy saw, and the capacity DynamoDB Local reported
//! (`ReturnConsumedCapacity`).

use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};
use shared::domain::{now_unix, CartId, Item, Stock};
use shared::store::MetricsSnapshot;
use testkit::{item, ApiRequest, DynamoDbProxy, Seen, TestApp, TestResponse};

use crate::latency::key;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub endpoint: &'static str,
    pub call: String,
    pub outcome: String,
    /// Requests the SDK interceptor counted.
    pub requests: u64,
    /// Operations the proxy saw, in order.
    pub operations: Vec<String>,
    /// Capacity DynamoDB Local reported.
    pub read_units: f64,
    pub write_units: f64,
    /// What the same call consumes on DynamoDB (see `aws_units`).
    pub aws_read_units: f64,
    pub aws_write_units: f64,
    /// The most DynamoDB requests the call should take, where a goal is set.
    pub goal: Option<u64>,
    /// Time in the handler, in this process (dev profile), against DynamoDB Local.
    pub handler_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Did the interceptor and the proxy always agree?
    pub counts_agree: bool,
    /// What the order events' publisher adds per order change.
    pub order_events: Vec<crate::order_events::Row>,
}

struct Run {
    app: TestApp,
    proxy: DynamoDbProxy,
    rows: Vec<Row>,
}

impl Run {
    /// Calls `function` alone on the store and keeps a row of what it cost.
    async fn measure(
        &mut self,
        call: impl Into<String>,
        request: ApiRequest,
        expected: &str,
        goal: Option<u64>,
    ) -> TestResponse {
        let endpoint = request.function();
        let started = self.start();
        let answer = self.app.send(request).await;
        let call = call.into();
        if answer.outcome() != expected {
            eprintln!("bench: {call}: expected {expected}, got {}", answer.text);
        }
        self.row(endpoint, call, answer.outcome(), started, goal);
        answer
    }

    /// The start of a measured call: the proxy emptied, the counters read, the clock started.
    fn start(&mut self) -> (MetricsSnapshot, Instant) {
        self.proxy.take();
        (self.app.store().metrics().snapshot(), Instant::now())
    }

    /// Keeps a row of what the call since `started` cost.
    fn row(
        &mut self,
        endpoint: &'static str,
        call: String,
        outcome: String,
        (before, started): (MetricsSnapshot, Instant),
        goal: Option<u64>,
    ) {
        let took = started.elapsed();
        let used = self.app.store().metrics().snapshot().since(&before);
        let seen = self.proxy.take();
        let (aws_read_units, aws_write_units) = aws_units(&seen);
        self.rows.push(Row {
            endpoint,
            call,
            outcome,
            requests: used.requests,
            operations: seen.iter().map(|s| s.operation().to_owned()).collect(),
            read_units: used.read_units(),
            write_units: used.write_units(),
            aws_read_units,
            aws_write_units,
            goal,
            handler_ms: took.as_secs_f64() * 1000.0,
        });
    }
}

/// What DynamoDB bills for the requests: DynamoDB Local's figures, corrected where it is known
/// to differ from the pricing rules.
///
/// - A `TransactWriteItems` is reported with one item's units per table (whatever the number
///   of items in that table); DynamoDB bills every item, so each table's figure is multiplied by
///   its number of items in the request.
/// - A transaction's index writes are reported doubled (per index: the store asks `INDEXES`);
///   DynamoDB doubles only the table's (measured on AWS: nubo-db/dynoxide pull request 188).
/// - A strongly consistent read of a missing item is reported as 0; DynamoDB bills 1 read unit
///   (0.5 eventually consistent).
/// - A conditional write that fails is reported without capacity; DynamoDB bills it (1 write
///   unit for items up to 1 KB).
/// - A cancelled transaction is reported without capacity and is counted as 0 here.
pub fn aws_units(seen: &[Seen]) -> (f64, f64) {
    let (mut read, mut write) = (0.0, 0.0);
    for s in seen {
        let writes = matches!(
            s.operation(),
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
        );
        match s.error() {
            Some("ConditionalCheckFailedException") if writes => write += 1.0,
            Some(_) => {}
            None => {
                // `ConsumedCapacity` is one object or a list of them, one per table.
                let consumed = &s.response["ConsumedCapacity"];
                let tables = consumed
                    .as_array()
                    .map_or(std::slice::from_ref(consumed), |l| l);
                for c in tables.iter().filter(|c| c.is_object()) {
                    let table = &c["TableName"];
                    let indexes = c["GlobalSecondaryIndexes"]
                        .as_object()
                        .into_iter()
                        .flatten();
                    let units = c["CapacityUnits"].as_f64().unwrap_or(0.0)
                        - indexes
                            .filter_map(|(_, i)| i["CapacityUnits"].as_f64())
                            .sum::<f64>()
                            / 2.0;
                    let actions = s.body["TransactItems"].as_array().into_iter().flatten();
                    let in_table = |a: &&Value| {
                        a.as_object()
                            .is_some_and(|a| a.values().any(|x| &x["TableName"] == table))
                    };
                    let items = actions.filter(in_table).count().max(1);
                    if writes {
                        write += units * items as f64;
                    } else if units > 0.0 {
                        read += units;
                    } else {
                        let name = table.as_str().unwrap_or_default();
                        let consistent = s.body["ConsistentRead"] == true
                            || s.body["RequestItems"][name]["ConsistentRead"] == true;
                        read += if consistent { 1.0 } else { 0.5 };
                    }
                }
            }
        }
    }
    (read, write)
}

pub async fn run() -> Report {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    // Items 1..=60 with plenty of stock, 61 with one unit.
    let name = |i| format!("Bench Item {i}");
    let mut items: Vec<Item> = (1..=60)
        .map(|i| item(i, &name(i), 1000 + i, Stock::MAX))
        .collect();
    items.push(item(61, "Bench Scarce Item", 4999, 1));
    app.direct().put_items(&items).await.expect("seeded");
    let rows = Vec::new();
    let mut run = Run { app, proxy, rows };
    // One unmeasured call first: the client's first connection is not a call's cost.
    run.app.list(&[]).await;

    // Listing.
    let list = ApiRequest::list_items;
    let first = run.measure("list page (50 items, no filter)", list(), "200", Some(1));
    let first = first.await;
    let cursor = first.body["next_cursor"].as_str().unwrap_or_default();
    let range = list().queries(&[("min_value", "1011"), ("max_value", "1030")]);
    let name = list().query("name", "item 5");
    for (call, request) in [
        ("list next page (cursor)", list().query("cursor", cursor)),
        ("list page, price range (20 of 61 items)", range),
        ("list page, name filter (11 of 61 match)", name),
    ] {
        run.measure(call, request, "200", Some(1)).await;
    }

    // Carts.
    let create = || ApiRequest::create_cart_for(1);
    let created = run.measure("create cart (new)", create(), "201", Some(1));
    let created = created.await;
    let cart = created.body["cart"]["id"].as_str();
    let cart = cart.unwrap_or_default().to_owned();
    let add = |item, quantity| ApiRequest::add(&cart, 1, item, quantity);
    let short = "409 insufficient_stock";
    for (call, request, expected, goal) in [
        ("create cart (existing)", create(), "200", 1),
        ("add item (new line)", add(1, 1), "200", 2),
        ("add item (existing line)", add(1, 2), "200", 2),
        ("add item (more than the stock)", add(61, 5), short, 2),
        ("set quantity", ApiRequest::set(&cart, 1, 1, 2), "200", 2),
        ("view cart (1 line)", ApiRequest::get_cart(&cart), "200", 1),
        ("remove item", ApiRequest::remove(&cart, 1, 1), "200", 1),
    ] {
        run.measure(call, request, expected, Some(goal)).await;
    }

    // Purchases of carts of 1, 10 and 50 lines, then their replays.
    let mut first_order = None;
    for lines in [1usize, 10, 50] {
        let user = 100 + lines as u64;
        let cart = run.app.fill_cart(user, &items[..lines], 1).await;
        if lines == 50 {
            let view = ApiRequest::get_cart(&cart);
            run.measure("view cart (50 lines)", view, "200", Some(1))
                .await;
        }
        let key = key();
        for what in ["success", "replay"] {
            let s = if lines == 1 { "" } else { "s" };
            let call = format!("purchase, {what} ({lines} line{s})");
            let request = ApiRequest::purchase(&cart, user, &key);
            let bought = run.measure(call, request, "200", Some(2)).await;
            let order = bought.body["order"]["id"].as_str().map(str::to_owned);
            first_order = first_order.or(order.map(|id| (id, user)));
        }
    }

    // Refusals: item 61 sold out under a cart of one line and one of ten, item 2 repriced.
    let ten: Vec<Item> = items[..9].iter().chain(&items[60..]).cloned().collect();
    let short_of_ten = "purchase, insufficient_stock (10 lines, 1 short)";
    for (user, lines, call) in [
        (200, &items[60..], "purchase, insufficient_stock (1 line)"),
        (201, &ten[..], short_of_ten),
    ] {
        run.app.set_stock(61, 1).await;
        let cart = run.app.fill_cart(user, lines, 1).await;
        run.app.set_stock(61, 0).await;
        let request = ApiRequest::purchase(&cart, user, &key());
        run.measure(call, request, short, None).await;
    }
    let cart = run.app.fill_cart(300, &items[1..2], 1).await;
    run.app.set_price(2, 5000).await;
    let request = ApiRequest::purchase(&cart, 300, &key());
    let call = "purchase, price_changed (1 line)";
    run.measure(call, request, "409 price_changed", None).await;

    // An item limited per customer: the purchase also keeps what the user bought of it.
    // A line added before the limit was set learns it on the way (the cart's line updated,
    // read again, bought): the rare path.
    let early = run.app.fill_cart(302, &items[3..4], 1).await;
    let limit = ApiRequest::admin_update(4, json!({ "max_per_customer": 5 }));
    assert_eq!(run.app.send(limit).await.status, 200);
    let cart = run.app.new_cart(301).await;
    assert_eq!(run.app.add(&cart, 301, 4, 1).await.status, 200);
    let request = ApiRequest::purchase(&cart, 301, &key());
    let call = "purchase, success (1 line, limited per customer)";
    run.measure(call, request, "200", Some(2)).await;
    let request = ApiRequest::purchase(&early, 302, &key());
    let call = "purchase, limit set after the line was added (1 line)";
    run.measure(call, request, "200", None).await;

    // Discount codes: one more action in the purchase's transaction (two with a per-customer
    // limit), no request more: the code's terms are read with the cart.
    let code = json!({ "code": "BENCH10", "percent_off": 10 });
    let create = ApiRequest::admin_create_discount().json(code);
    run.measure("admin: create discount code", create, "201", Some(1))
        .await;
    let once = json!({ "code": "BENCH-ONCE", "percent_off": 10, "max_uses_per_customer": 1 });
    assert_eq!(run.app.create_discount(once).await.status, 201);
    for (user, code, what) in [
        (303, "BENCH10", "a discount code"),
        (304, "BENCH-ONCE", "a code limited per customer"),
    ] {
        let cart = run.app.fill_cart(user, &items[4..5], 1).await;
        let put = ApiRequest::cart_discount("PUT", &cart)
            .json(json!({ "user_id": user.to_string(), "code": code }));
        if user == 303 {
            run.measure("put a discount code on a cart", put, "200", Some(2))
                .await;
        } else {
            assert_eq!(run.app.send(put).await.status, 200);
        }
        let request = ApiRequest::purchase(&cart, user, &key());
        let call = format!("purchase, success (1 line, {what})");
        run.measure(&call, request, "200", Some(2)).await;
    }

    // Orders and the admin.
    if let Some((id, user)) = &first_order {
        let view = ApiRequest::order(id, *user);
        run.measure("view order", view, "200", Some(1)).await;
        let history = ApiRequest::list_orders().as_user(user);
        run.measure("list orders (1 page)", history, "200", Some(1))
            .await;
    }
    let item = json!({ "name": "Bench Created Item", "price": 1299, "quantity": 10 });
    let create = ApiRequest::admin_create_item().json(item);
    run.measure("admin: create item", create, "201", None).await;
    let update = ApiRequest::admin_update(3, json!({ "price": 1234 }));
    run.measure("admin: update item", update, "200", None).await;

    // Guests and the merge at sign-in, of guest carts of 1, 10 and 50 lines into a user's cart.
    let guest = run.measure(
        "guest: create cart",
        ApiRequest::guest_create_cart(),
        "201",
        Some(1),
    );
    let guest = guest.await;
    let (guest_cart, token) = (
        guest.body["cart"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        guest.body["guest_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let guest_add = ApiRequest::guest_add_cart_item(&guest_cart, Some(&token))
        .json(json!({ "item_id": 1, "quantity": 1 }));
    run.measure("guest: add item (new line)", guest_add, "200", Some(2))
        .await;
    for lines in [1usize, 10, 50] {
        let user = 400 + lines as u64;
        run.app.fill_cart(user, &items[..1], 1).await;
        let (guest_cart, token) = run.app.guest_cart().await;
        for item in &items[..lines] {
            run.app
                .guest_add(&guest_cart, &token, item.id.get(), 1)
                .await;
        }
        let s = if lines == 1 { "" } else { "s" };
        let body = json!({ "guest_cart_id": guest_cart, "guest_token": token, "mode": "merge" });
        let merge = ApiRequest::merge_cart().json(body).as_user(user);
        let call = format!("merge a guest's cart ({lines} line{s})");
        run.measure(call, merge, "200", Some(2)).await;
    }

    // An item split over 8 shards for a flash sale: the split, a purchase of one of its units
    // (from one shard), a price change (every row, at their versions).
    let split = ApiRequest::admin_update(4, json!({ "stock_shards": 8 }));
    run.measure("admin: split item (stock_shards 8)", split, "200", None)
        .await;
    let hot = run.app.item(4).await;
    let cart = run.app.fill_cart(310, &[hot], 1).await;
    let request = ApiRequest::purchase(&cart, 310, &key());
    let call = "purchase, success (1 line of an item split over 8 shards)";
    run.measure(call, request, "200", Some(2)).await;
    let repriced = ApiRequest::admin_update(4, json!({ "price": 1005 }));
    let call = "admin: update item split over 8 shards (price)";
    run.measure(call, repriced, "200", None).await;

    run.app.drop_tables().await;
    let mut rows = run.rows;
    rows.extend(order_rows(&items).await);
    rows.extend(hold_rows(&items).await);
    let counts_agree = rows.iter().all(|r| r.requests == r.operations.len() as u64);
    let order_events = crate::order_events::run(20).await;
    Report {
        rows,
        counts_agree,
        order_events,
    }
}

/// An order's transitions, with payments (`PAYMENT_MODE=external`): each is one read of the
/// order and one write (a transaction when the units go back); the sweep's expiry of one.
const PAYMENT_WINDOW: i64 = 60;

async fn order_rows(items: &[Item]) -> Vec<Row> {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    // A window no slow run outlives before the payments (the sweep's row then looks past it).
    let app = app.taking_payments(PAYMENT_WINDOW);
    app.direct().put_items(items).await.expect("seeded");
    let mut run = Run {
        app,
        proxy,
        rows: Vec::new(),
    };
    run.app.list(&[]).await;
    let mut orders = Vec::new();
    for user in 500..504u64 {
        let cart = run.app.fill_cart(user, &items[..1], 1).await;
        let bought = run.app.purchase(&cart, user, &key()).await;
        orders.push((
            bought.body["order"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            user,
        ));
    }
    let payment = |order: &str, status: &str| {
        ApiRequest::admin_order_payment(order)
            .json(json!({ "status": status, "reference": format!("pi_{status}") }))
    };
    let (paid, failed, cancelled) = (&orders[0].0, &orders[1].0, &orders[2]);
    for (call, request, goal) in [
        ("order: payment captured", payment(paid, "captured"), 2),
        (
            "order: the same payment again (unchanged)",
            payment(paid, "captured"),
            1,
        ),
        ("order: fulfil", ApiRequest::admin_fulfil_order(paid), 2),
        (
            "order: payment failed (cancels, 1 line back)",
            payment(failed, "failed"),
            2,
        ),
        (
            "order: cancel by its owner (1 line back)",
            ApiRequest::cancel_order(&cancelled.0).as_user(cancelled.1),
            2,
        ),
    ] {
        run.measure(call, request, "200", Some(goal)).await;
    }
    let started = run.start();
    let swept = run.app.sweep_at(now_unix() + PAYMENT_WINDOW + 1).await;
    let outcome = format!("{} orders expired", swept.expired_orders);
    let call = "sweep, 1 order expired (1 line back)".to_owned();
    run.row("release-holds", call, outcome, started, None);
    run.app.drop_tables().await;
    run.rows
}

/// How long the holds of the `hold` rows last: long enough that every purchase row buys lines
/// whose holds are live however slow the machine (checked before each, `assert_held`), and the
/// sweep row sweeps past it.
const HOLD_SECONDS: i64 = 120;

/// The same calls under `CHECKOUT_POLICY=hold` (holds of `HOLD_SECONDS`), and the sweep.
async fn hold_rows(items: &[Item]) -> Vec<Row> {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.holding(HOLD_SECONDS, 10);
    app.direct().put_items(items).await.expect("seeded");
    let rows = Vec::new();
    let mut run = Run { app, proxy, rows };
    run.app.list(&[]).await;
    let cart = run.app.new_cart(1).await;
    let add = |item, quantity| ApiRequest::add(&cart, 1, item, quantity);
    for (call, request) in [
        ("hold: add item (new line)", add(1, 2)),
        ("hold: add item (second line)", add(2, 1)),
        ("hold: set quantity", ApiRequest::set(&cart, 1, 1, 3)),
        ("hold: remove item", ApiRequest::remove(&cart, 1, 2)),
    ] {
        run.measure(call, request, "200", Some(2)).await;
    }
    assert_held(&run.app, &cart, 1).await;
    let purchase = ApiRequest::purchase(&cart, 1, &key());
    run.measure("hold: purchase (1 held line)", purchase, "200", Some(2))
        .await;
    let cart = run.app.fill_cart(2, &items[..10], 1).await;
    assert_held(&run.app, &cart, 10).await;
    let purchase = ApiRequest::purchase(&cart, 2, &key());
    run.measure("hold: purchase (10 held lines)", purchase, "200", Some(2))
        .await;
    run.app.fill_cart(3, &items[..1], 1).await;
    for (call, at) in [
        ("sweep, nothing ended (1 cart held)", now_unix()),
        (
            "sweep, 1 cart with 1 ended hold",
            now_unix() + HOLD_SECONDS + 1,
        ),
    ] {
        let started = run.start();
        let swept = run.app.sweep_at(at).await;
        let outcome = format!("{} units back", swept.units);
        run.row("release-holds", call.to_owned(), outcome, started, None);
    }
    run.app.drop_tables().await;
    run.rows
}

/// The row measures what it names: the cart's `lines` lines all held, their holds live.
async fn assert_held(app: &TestApp, cart: &str, lines: usize) {
    let id = CartId::parse(cart).expect("a cart id");
    let cart = app.direct().get_cart(&id, now_unix()).await;
    let cart = cart.expect("the cart is read").expect("the cart exists");
    let live = cart
        .lines
        .iter()
        .filter(|l| l.hold_live(now_unix()))
        .count();
    assert_eq!(
        live, lines,
        "the purchase row's lines must be held, their holds live"
    );
}

#[cfg(test)]
#[test]
fn a_transaction_bills_each_item_twice_and_each_index_entry_once() {
    // Local's figures: one item per table, 2 units for it and 2 for its index entry.
    let i = json!({ "i": { "CapacityUnits": 2.0 } });
    let c = |t| json!({ "TableName": t, "CapacityUnits": 4.0, "GlobalSecondaryIndexes": i });
    let put = |t| json!({ "Put": { "TableName": t } });
    let (target, status) = (
        format!("{}TransactWriteItems", testkit::proxy::TARGET_PREFIX),
        200,
    );
    let body = json!({ "TransactItems": [put("a"), put("a"), put("b")] });
    let response = json!({ "ConsumedCapacity": [c("a"), c("b")] });
    let seen = Seen {
        target,
        headers: Default::default(),
        body,
        fault: None,
        status: Some(status),
        response,
    };
    assert_eq!(aws_units(&[seen]), (0.0, 9.0), "three items at 2 + 1");
}
