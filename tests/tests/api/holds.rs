//! The `hold` checkout policy (adding takes the units from the stock and holds them in the cart,
//! at that moment's price, for a while; the default, `latest`, holds nothing), setting a line's
//! quantity, idle carts, and the order history. Each rule shown with real time passing (holds of
//! a second or two) against DynamoDB Local, and the stock invariant checked after racing adds,
//! changes, removals, purchases, expiries, sweeps and restocks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use shared::domain::{now_unix, CheckoutPolicy};
use testkit::{ApiRequest, TestApp, TestResponse};

const USER: u64 = 7;

async fn held_app(seconds: i64, max_per_item: u64) -> TestApp {
    TestApp::spawn().await.holding(seconds, max_per_item)
}

/// The listing's `quantity` of `item`.
async fn listed(app: &TestApp, item: u64) -> u64 {
    let page = app.list(&[("limit", "200")]).await;
    let items = page.body["items"].as_array().expect("a page").clone();
    let found = items.into_iter().find(|i| i["id"] == item);
    found.expect("the item is listed")["quantity"]
        .as_u64()
        .unwrap()
}

fn line(body: &Value, item: u64) -> Value {
    let lines = body["cart"]["lines"].as_array().expect("a cart").clone();
    lines
        .into_iter()
        .find(|l| l["item_id"] == item)
        .unwrap_or(Value::Null)
}

/// A line's `held_until`, in Unix seconds.
fn held_until(body: &Value, item: u64) -> i64 {
    let text = line(body, item)["held_until"].as_str().unwrap().to_owned();
    let at = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339);
    at.expect("RFC 3339").unix_timestamp()
}

fn ok(r: &TestResponse) {
    assert!(r.status < 300, "{}", r.text);
}

async fn until(unix: i64) {
    let wait = (unix - now_unix()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait * 1000 + 50)).await;
}

// --- Holding ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_hold_takes_its_units_from_the_stock_at_once_and_a_purchase_within_it_buys_at_the_held_price(
) {
    let app = held_app(900, 10).await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let cart = app.new_cart(USER).await;
    let added_at = now_unix();

    let added = app.add(&cart, USER, 1, 3).await;

    ok(&added);
    let until = held_until(&added.body, 1);
    assert!(
        (added_at + 900..=now_unix() + 900).contains(&until),
        "{until}"
    );
    assert_eq!(
        listed(&app, 1).await,
        7,
        "the listing shows the available stock"
    );
    assert_eq!(app.view_cart(&cart).await.body, added.body);

    // The price rises and the stock is sold out meanwhile: the hold still buys.
    app.set_price(1, 999).await;
    app.set_stock(1, 0).await;
    let bought = app.purchase(&cart, USER, "k").await;
    ok(&bought);
    assert_eq!(bought.body["order"]["lines"][0]["unit_price"], 869);
    assert_eq!(bought.body["order"]["total"], 3 * 869);
    assert_eq!(app.stock_of(1).await, 0, "the held units were out already");
    assert_eq!(app.held_units(1).await, 0);
}

#[tokio::test]
async fn a_line_whose_hold_ended_needs_the_stock_and_the_current_price_again() {
    let app = held_app(1, 10).await;
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let cart = app.new_cart(USER).await;
    let added = app.add(&cart, USER, 1, 2).await;
    app.added(&cart, USER, 2, 1).await;
    until(held_until(&added.body, 1)).await;

    // Ended, not swept yet: the units are still out of the stock, the price is today's.
    app.set_price(1, 900).await;
    let r = app.purchase(&cart, USER, "k").await;
    r.assert_problem(409, "price_changed");
    assert_eq!(
        r.body["items"],
        json!([{"item_id": 1, "cart_price": 869, "current_price": 900, "hold_expired": true}])
    );

    // Swept: the units are back, and then sold to someone else.
    let swept = app.sweep().await;
    assert_eq!(swept.units, 3);
    assert_eq!((app.stock_of(1).await, app.stock_of(2).await), (10, 10));
    app.set_stock(1, 1).await;
    let r = app.purchase(&cart, USER, "k").await;
    r.assert_problem(409, "insufficient_stock");
    assert_eq!(
        r.body["items"],
        json!([{"item_id": 1, "requested": 2, "available": 1, "hold_expired": true}])
    );

    // With the stock back, the ended lines buy at today's price, like `latest`.
    app.set_stock(1, 5).await;
    let bought = app.purchase(&cart, USER, "k").await;
    ok(&bought);
    assert_eq!(bought.body["order"]["total"], 2 * 900 + 1470);
    assert_eq!((app.stock_of(1).await, app.stock_of(2).await), (3, 9));
}

#[tokio::test]
async fn the_sweep_gives_back_only_ended_holds_and_never_a_live_one() {
    let app = held_app(2, 10).await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let early = app.new_cart(1).await;
    let ended = held_until(&app.added(&early, 1, 1, 3).await, 1);

    // Before the end, nothing is released.
    assert_eq!(app.sweep_at(ended - 1).await.units, 0);
    until(ended).await;
    let late = app.new_cart(2).await;
    app.added(&late, 2, 1, 4).await;
    assert_eq!(app.stock_of(1).await, 3);

    let swept = app.sweep().await;

    assert_eq!((swept.carts, swept.released_carts, swept.units), (1, 1, 3));
    assert_eq!(app.stock_of(1).await, 6);
    assert_eq!(app.held_in(&early, 1).await, 0);
    assert_eq!(app.held_in(&late, 1).await, 4, "the live hold is kept");
    let again = app.sweep().await;
    assert_eq!((again.carts, again.units), (0, 0), "nothing twice");
    // The ended line stays in the cart, showing when its hold ended.
    let view = app.view_cart(&early).await;
    assert_eq!(held_until(&view.body, 1), ended);
    assert_eq!(line(&view.body, 1)["quantity"], 3);
}

#[tokio::test]
async fn more_units_extend_the_whole_lines_hold_and_fewer_give_the_difference_back_at_once() {
    let app = held_app(900, 10).await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let cart = app.new_cart(USER).await;
    let first = held_until(&app.added(&cart, USER, 1, 2).await, 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let more = app.set(&cart, USER, 1, 5).await;
    ok(&more);
    let extended = held_until(&more.body, 1);
    assert!(extended > first, "{extended} > {first}");
    assert_eq!(app.stock_of(1).await, 5);

    let fewer = app.set(&cart, USER, 1, 1).await;
    ok(&fewer);
    assert_eq!(held_until(&fewer.body, 1), extended, "fewer keeps the time");
    assert_eq!(app.stock_of(1).await, 9);

    let removed = app.set(&cart, USER, 1, 0).await;
    ok(&removed);
    assert_eq!(removed.body["cart"]["lines"], json!([]));
    assert_eq!(app.stock_of(1).await, 10);
    app.set(&cart, USER, 1, 0)
        .await
        .assert_problem(404, "item_not_in_cart");

    // An add then a removal: the units come back at once too.
    app.added(&cart, USER, 1, 4).await;
    ok(&app.remove(&cart, USER, 1).await);
    assert_eq!(app.stock_of(1).await, 10);
}

#[tokio::test]
async fn a_user_holds_at_most_the_cap_of_one_item_and_another_user_holds_their_own() {
    let app = held_app(900, 10).await;
    app.seed(&[("Flash", 500, 100)]).await;
    let cart = app.new_cart(1).await;
    app.added(&cart, 1, 1, 10).await;

    for refused in [
        app.add(&cart, 1, 1, 1).await,
        app.set(&cart, 1, 1, 11).await,
    ] {
        refused.assert_problem(409, "hold_limit");
        assert_eq!(refused.body["limit"], 10);
    }
    assert_eq!(app.stock_of(1).await, 90, "a refusal takes nothing");
    let other = app.new_cart(2).await;
    app.added(&other, 2, 1, 10).await;
    assert_eq!(app.stock_of(1).await, 80);
}

#[tokio::test]
async fn more_units_of_a_line_held_at_another_price_are_refused_and_fewer_keep_the_held_price() {
    let app = held_app(900, 10).await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let cart = app.new_cart(USER).await;
    app.added(&cart, USER, 1, 2).await;
    app.set_price(1, 900).await;

    let refused = app.add(&cart, USER, 1, 1).await;
    refused.assert_problem(409, "held_at_another_price");
    assert_eq!(
        (
            &refused.body["item_id"],
            &refused.body["held_price"],
            &refused.body["current_price"]
        ),
        (&json!(1), &json!(869), &json!(900))
    );
    let fewer = app.set(&cart, USER, 1, 1).await;
    assert_eq!(line(&fewer.body, 1)["unit_price"], 869);

    // Removed and added again: held anew, at today's price.
    ok(&app.remove(&cart, USER, 1).await);
    let again = app.added(&cart, USER, 1, 3).await;
    assert_eq!(line(&again, 1)["unit_price"], 900);
    assert_eq!(app.stock_of(1).await, 7);
}

#[tokio::test]
async fn a_switch_from_hold_to_latest_keeps_every_held_unit_accounted_for() {
    let app = held_app(900, 10).await;
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let cart = app.new_cart(USER).await;
    app.added(&cart, USER, 1, 2).await;
    app.added(&cart, USER, 2, 3).await;

    // The stack switches to `latest` while the holds are live.
    let app = app.with_policy(CheckoutPolicy::Latest);
    app.added(&cart, USER, 1, 1).await;
    ok(&app.remove(&cart, USER, 2).await);
    assert_eq!(
        app.stock_of(2).await,
        10,
        "the removed line's units are back"
    );
    let bought = app.purchase(&cart, USER, "k").await;

    ok(&bought);
    assert_eq!(bought.body["order"]["lines"][0]["quantity"], 3);
    assert_eq!(
        app.stock_of(1).await,
        7,
        "2 held, then 1 taken by the purchase"
    );
    assert_eq!(app.held_units(1).await + app.held_units(2).await, 0);
}

// --- Setting a quantity (both policies) --------------------------------------------------------

#[tokio::test]
async fn setting_a_quantity_checks_the_stock_as_an_add_does_and_zero_removes_the_line() {
    for policy in [
        CheckoutPolicy::Latest,
        CheckoutPolicy::Hold {
            seconds: 900,
            max_per_item: 10,
            max_seconds: 1800,
        },
    ] {
        let app = TestApp::spawn().await.with_policy(policy);
        app.seed(&[("Wine - Port", 869, 3)]).await;
        let cart = app.new_cart(USER).await;

        let short = app.set(&cart, USER, 1, 4).await;
        short.assert_problem(409, "insufficient_stock");
        assert_eq!(
            (
                short.body["requested"].clone(),
                short.body["available"].clone()
            ),
            (json!(4), json!(3))
        );
        let set = app.set(&cart, USER, 1, 3).await;
        ok(&set);
        assert_eq!(line(&set.body, 1)["quantity"], 3, "{policy:?}");
        assert_eq!(set.body["cart"]["total"], 3 * 869);
        let removed = app.set(&cart, USER, 1, 0).await;
        assert_eq!(removed.body["cart"]["items"], json!([]), "{policy:?}");
        app.set(&cart, USER, 99, 1)
            .await
            .assert_problem(404, "item_not_found");

        for (body, field) in [
            (json!({"quantity": -1}), "quantity"),
            (json!({"quantity": 10_001}), "quantity"),
            (json!({"quantity": "3"}), "quantity"),
            (json!({"quantity": 1.5}), "quantity"),
            (json!({}), "quantity"),
            (json!({"quantity": 1, "user_id": "a b"}), "user_id"),
        ] {
            let r = app
                .call::<set_cart_item::SetCartItem>(
                    ApiRequest::set_cart_item(&cart, 1).json(body.clone()),
                )
                .await;
            r.assert_problem(400, "invalid_request");
            assert_eq!(r.body["field"], field, "{body}");
        }
    }
}

// --- Idle carts --------------------------------------------------------------------------------

#[tokio::test]
async fn an_idle_cart_expires_answers_404_and_a_new_cart_replaces_it() {
    let app = held_app(1, 10).await.idling(2);
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let cart = app.new_cart(USER).await;
    app.added(&cart, USER, 1, 2).await;
    let idle_from = now_unix();
    until(idle_from + 2).await;

    app.view_cart(&cart)
        .await
        .assert_problem(404, "cart_not_found");
    app.add(&cart, USER, 1, 1)
        .await
        .assert_problem(404, "cart_not_found");
    app.purchase(&cart, USER, "k")
        .await
        .assert_problem(404, "cart_not_found");
    // Its holds are given back (they ended before the cart did), and a new cart is made.
    assert_eq!(app.sweep().await.units, 2);
    assert_eq!(app.stock_of(1).await, 10);
    let created = app.create_cart(USER).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_ne!(created.body["cart"]["id"], json!(cart));
    assert_eq!(created.body["cart"]["lines"], json!([]));
}

// --- Orders history ----------------------------------------------------------------------------

#[tokio::test]
async fn a_users_orders_are_listed_newest_first_a_page_at_a_time_one_query_a_page() {
    let app = TestApp::spawn().await;
    let items = app.seed(&[("A", 100, 50)]).await;
    let mut bought = Vec::new();
    for n in 0..5 {
        let cart = app.fill_cart(USER, &items, n + 1).await;
        let r = app.purchase(&cart, USER, &format!("k{n}")).await;
        ok(&r);
        bought.push(r.body["order"].clone());
        // Whole seconds apart, so that newest first is one order.
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    let someone_else = app.fill_cart(8, &items, 1).await;
    ok(&app.purchase(&someone_else, 8, "k").await);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2".to_owned())];
        query.extend(cursor.clone().map(|c| ("cursor", c)));
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (page, requests) = app.requests_during(app.orders(USER, &query)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(requests, 1, "one Query a page");
        seen.extend(page.body["orders"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    bought.reverse();
    assert_eq!(seen, bought, "all of the user's orders, newest first");

    // A cursor is the user's own; garbage and bad limits are refused.
    let first = app.orders(USER, &[("limit", "1")]).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    for (user, query, field) in [
        (8, vec![("cursor", cursor)], "cursor"),
        (USER, vec![("cursor", "garbage")], "cursor"),
        (USER, vec![("limit", "0")], "limit"),
        (USER, vec![("limit", "101")], "limit"),
    ] {
        let r = app.orders(user, &query).await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], field, "{query:?}");
    }
    let theirs = app.orders(8, &[]).await;
    assert_eq!(theirs.body["orders"].as_array().unwrap().len(), 1);
}

// --- What a hold costs -------------------------------------------------------------------------

#[tokio::test]
async fn each_hold_call_costs_a_known_number_of_dynamodb_requests() {
    let app = held_app(1, 10).await;
    app.seed(&[("Wine - Port", 869, 100), ("Mussels - Frozen", 1470, 100)])
        .await;
    let cart = app.new_cart(USER).await;

    let mut figures = Vec::new();
    let mut measure = |what: &str, requests: u64, used: &shared::store::MetricsSnapshot| {
        figures.push(format!(
            "{what}: {} requests, {:.1} RCU, {:.1} WCU",
            used.requests,
            used.read_units(),
            used.write_units()
        ));
        assert_eq!(used.requests, requests, "{what}");
    };
    let (r, used) = app.used_during(app.add(&cart, USER, 1, 2)).await;
    ok(&r);
    measure("add (new line)", 2, &used);
    let (r, used) = app.used_during(app.add(&cart, USER, 2, 1)).await;
    ok(&r);
    measure("add (second line)", 2, &used);
    let (r, used) = app.used_during(app.set(&cart, USER, 1, 3)).await;
    ok(&r);
    measure("set quantity", 2, &used);
    let (r, used) = app.used_during(app.remove(&cart, USER, 2)).await;
    ok(&r);
    measure("remove", 2, &used);
    let (r, used) = app.used_during(app.purchase(&cart, USER, "k")).await;
    ok(&r);
    measure("purchase (1 held line)", 2, &used);

    let ended = held_until(&app.added(&cart, USER, 1, 2).await, 1);
    until(ended).await;
    let (swept, used) = app.used_during(app.sweep()).await;
    assert_eq!(swept.units, 2);
    measure(
        "sweep of one cart (Query, GetItem, transaction; the orders' Query; the split items' registry)",
        5,
        &used,
    );
    let (_, used) = app.used_during(app.sweep()).await;
    measure(
        "sweep with nothing ended (the carts' Query, the orders', the split items' registry)",
        3,
        &used,
    );
    eprintln!("hold policy, per call:\n  {}", figures.join("\n  "));
}

// --- The invariant -------------------------------------------------------------------------------

/// What the racing calls did, for the accounting at the end.
#[derive(Default)]
struct Ledger {
    restocked: HashMap<u64, u64>,
    orders: Vec<String>,
    statuses: HashMap<u16, u64>,
}

async fn one_racing_call(app: &TestApp, ledger: &Mutex<Ledger>, rng: &mut fastrand::Rng) {
    let user = rng.u64(1..=12);
    let item = rng.u64(1..=4);
    let cart = app.create_cart(user).await.body["cart"]["id"]
        .as_str()
        .map(str::to_owned);
    let Some(cart) = cart else { return };
    let response = match rng.u32(0..100) {
        0..=39 => app.add(&cart, user, item, rng.u64(1..=3)).await,
        40..=54 => app.set(&cart, user, item, rng.u64(0..=4)).await,
        55..=64 => app.remove(&cart, user, item).await,
        65..=89 => {
            let r = app
                .purchase(&cart, user, &format!("k{}", rng.u64(..)))
                .await;
            if r.status == 200 {
                let id = r.body["order"]["id"].as_str().unwrap().to_owned();
                ledger.lock().unwrap().orders.push(id);
            }
            r
        }
        90..=94 => {
            app.sweep().await;
            return;
        }
        _ => {
            let units = rng.u64(1..=3);
            let r = app
                .call::<admin_update_item::AdminUpdateItem>(ApiRequest::admin_update(
                    item,
                    json!({ "restock": units }),
                ))
                .await;
            if r.status == 200 {
                *ledger.lock().unwrap().restocked.entry(item).or_default() += units;
            }
            r
        }
    };
    assert!(response.status < 500, "{}", response.text);
    *ledger
        .lock()
        .unwrap()
        .statuses
        .entry(response.status)
        .or_default() += 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_holds_changes_purchases_expiries_sweeps_and_restocks_never_lose_or_oversell_a_unit()
{
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 4;
    const WORKERS: u64 = 12;
    const SECONDS: u64 = 4;
    let mut figures = Vec::new();
    for round in 0..ROUNDS {
        // Holds of a second: they end, and are swept, while the race goes on.
        let app = Arc::new(held_app(1, 6).await);
        let initial = app
            .seed(&[("A", 100, 8), ("B", 200, 5), ("C", 300, 12), ("D", 400, 3)])
            .await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let stop = Instant::now() + Duration::from_secs(SECONDS);
        let workers = (0..WORKERS).map(|w| {
            let (app, ledger) = (app.clone(), ledger.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(round * 100 + w);
                while Instant::now() < stop {
                    one_racing_call(&app, &ledger, &mut rng).await;
                }
            })
        });
        for worker in join_all(workers).await {
            worker.expect("no worker panicked");
        }

        // Every order stored once; every unit of every item accounted for.
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        let orders = app.stored_orders().await;
        let mut ids: Vec<&str> = orders
            .iter()
            .map(|o| o["order_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let mut answered: Vec<&str> = ledger.orders.iter().map(String::as_str).collect();
        answered.sort_unstable();
        assert_eq!(ids, answered, "round {round}: every purchase is one order");
        let mut sold: HashMap<u64, u64> = HashMap::new();
        for order in &orders {
            for line in order["lines"].as_array().unwrap() {
                let item = line["item_id"].as_u64().unwrap();
                *sold.entry(item).or_default() += line["quantity"].as_u64().unwrap();
            }
        }
        let mut checks = Vec::new();
        for item in &initial {
            let id = item.id.get();
            let (available, held) = (app.stock_of(id).await, app.held_units(id).await);
            let sold = sold.get(&id).copied().unwrap_or(0);
            let restocked = ledger.restocked.get(&id).copied().unwrap_or(0);
            assert_eq!(
                available + held + sold,
                item.stock.get() + restocked,
                "round {round}, item {id}: available {available} + held {held} + sold {sold} \
                 = initial {} + restocked {restocked}",
                item.stock.get()
            );
            checks.push(format!("{id}: {available}+{held}+{sold}"));
        }
        // Then everything ends and is swept: nothing stays held.
        app.sweep_at(now_unix() + 2).await;
        for item in &initial {
            assert_eq!(app.held_units(item.id.get()).await, 0, "round {round}");
        }
        figures.push(format!(
            "round {round}: {} orders, statuses {:?}, available+held+sold {}",
            orders.len(),
            ledger.statuses,
            checks.join(", ")
        ));
    }
    eprintln!("{}", figures.join("\n"));
}
