//! Limits that bots cannot talk their way around: a hold ends (a user holds an item for at most
//! `MAX_HOLD_SECONDS` from the first hold, and a hold renewed after it ended takes its units as a
//! new buyer would), a customer never holds and buys more of an item than its
//! `max_per_customer` across purchases and racing requests, and the sweep carries on past a
//! cart that fails and stops before its time is up. Real time passes (holds of a second or two)
//! against DynamoDB Local.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use shared::domain::{now_unix, CheckoutPolicy};
use testkit::{ApiRequest, Fault, TestApp, TestResponse, Times};

/// Holds of `seconds`, at most `max_seconds` of holding per user and item, 10 units a user.
fn capped(seconds: i64, max_seconds: i64) -> CheckoutPolicy {
    CheckoutPolicy::Hold {
        seconds,
        max_per_item: 10,
        max_seconds,
    }
}

/// Sleeps until 50 ms into the second `unix` (from the clock's milliseconds: counting from
/// the current whole second overshot by up to a second, past a window's end).
async fn until(unix: i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let now_ms = now.expect("after 1970").as_millis() as i64;
    let wait = (unix * 1000 + 50 - now_ms).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
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

fn held_until(r: &TestResponse, item: u64) -> i64 {
    let lines = r.body["cart"]["lines"].as_array().expect("a cart").clone();
    let line = lines.into_iter().find(|l| l["item_id"] == item).unwrap();
    let text = line["held_until"].as_str().unwrap().to_owned();
    let at = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339);
    at.unwrap().unix_timestamp()
}

// --- Holds end ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_hold_renewed_after_it_ended_takes_its_units_as_a_new_buyer_would() {
    // Arrange: user 7 holds all 3 units for a second.
    let app = TestApp::spawn().await.with_policy(capped(1, 60));
    app.seed(&[("Wine - Port", 869, 3)]).await;
    let bot = app.new_cart(7).await;
    let held = app.add(&bot, 7, 1, 3).await;
    assert_eq!(held.status, 200, "{}", held.text);
    until(held_until(&held, 1)).await;

    // Act: the same quantity again after the hold ended, before any sweep.
    let renewal = app.set(&bot, 7, 1, 3).await;

    // Assert: the ended hold's units are nobody's, so the renewal finds none available.
    renewal.assert_problem(409, "insufficient_stock");
    assert_eq!(renewal.body["available"], 0);
    // The sweep gives them back; whoever asks first gets them.
    assert_eq!(app.sweep().await.units, 3);
    assert_eq!(listed(&app, 1).await, 3);
    let buyer = app.new_cart(8).await;
    assert_eq!(app.add(&buyer, 8, 1, 2).await.status, 200);
    let late = app.set(&bot, 7, 1, 3).await;
    late.assert_problem(409, "insufficient_stock");
    assert_eq!(late.body["available"], 1);
}

#[tokio::test]
async fn no_call_renews_a_hold_past_the_cap_and_its_units_are_listed_again_within_a_sweep() {
    // Arrange: holds of 2 s, at most 4 s of holding an item (4 s of cool-down after it: room
    // for a slow machine between the steps).
    let app = TestApp::spawn().await.with_policy(capped(2, 4));
    app.seed(&[("Wine - Port", 869, 5), ("Mussels", 1470, 5)])
        .await;
    let cart = app.new_cart(7).await;
    let first = app.add(&cart, 7, 1, 2).await;
    let began = held_until(&first, 1) - 2;

    // Act: renew after the first hold ended (the renewal never outlives the window), then past
    // the window, every way.
    until(began + 2).await;
    let within = app.add(&cart, 7, 1, 1).await;
    assert_eq!(within.status, 200, "{}", within.text);
    assert_eq!(
        held_until(&within, 1),
        began + 4,
        "capped at the first hold + 4 s"
    );
    until(began + 4).await;
    let add = app.add(&cart, 7, 1, 1).await;
    let set = app.set(&cart, 7, 1, 3).await;
    let lower = app.set(&cart, 7, 1, 1).await;
    let removed = app.remove(&cart, 7, 1).await;
    let again = app.add(&cart, 7, 1, 1).await;
    let other_item = app.add(&cart, 7, 2, 1).await;

    // Assert
    for refused in [&add, &set, &lower, &again] {
        refused.assert_problem(409, "hold_time_limit");
        assert_eq!(refused.body["item_id"], 1);
        assert!(refused.body["hold_again_at"].is_string());
    }
    assert_eq!(removed.status, 200, "removing is always allowed");
    assert_eq!(other_item.status, 200, "the cap is per item");
    assert_eq!(listed(&app, 1).await, 5, "the removal gave the units back");
    // After the window has cooled down as long again, a new one begins.
    until(began + 8).await;
    assert_eq!(app.add(&cart, 7, 1, 1).await.status, 200);
}

#[tokio::test]
async fn a_line_past_the_cap_can_still_be_bought_at_the_latest_stock_and_price() {
    // Holds of a second, capped at 3: refused from 3 s after the first hold to 6 s after (the
    // cool-down), a window whole seconds cannot miss.
    let app = TestApp::spawn().await.with_policy(capped(1, 3));
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.new_cart(7).await;
    let held = app.add(&cart, 7, 1, 2).await;
    until(held_until(&held, 1) + 2).await;
    app.add(&cart, 7, 1, 1)
        .await
        .assert_problem(409, "hold_time_limit");
    // The sweep gives the units back within one run...
    assert_eq!(app.sweep().await.units, 2);
    assert_eq!(listed(&app, 1).await, 5);
    // ...and the line buys like any ended line.
    let bought = app.purchase(&cart, 7, "after-the-cap").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    assert_eq!(app.stock_of(1).await, 3);
}

/// A bot renews its hold of the whole stock as fast as it can, while a buyer keeps trying and
/// the sweep runs: the bot's hold ends at the cap, the sweep gives the units back, the buyer
/// gets them, and the stock is never oversold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewals_racing_a_waiting_buyer_lose_the_item_within_the_cap_and_one_sweep() {
    let _heavy = testkit::heavy().await;
    let app = TestApp::spawn().await.with_policy(capped(1, 2));
    app.seed(&[("Flash - Sale", 100, 3)]).await;
    let (bot, buyer) = (app.new_cart(7).await, app.new_cart(8).await);
    assert_eq!(app.add(&bot, 7, 1, 3).await.status, 200);
    let started = now_unix();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let renew = async {
        while tokio::time::Instant::now() < deadline {
            let r = app.set(&bot, 7, 1, 3).await;
            assert!(r.status < 500, "{}", r.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let buy = async {
        while tokio::time::Instant::now() < deadline {
            if app.add(&buyer, 8, 1, 1).await.status == 200 {
                return Some(now_unix() - started);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    };
    let sweep = async {
        while tokio::time::Instant::now() < deadline {
            app.sweep().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let ((), waited, ()) = tokio::join!(renew, buy, sweep);
    let waited = waited.expect("the waiting buyer got a unit before the end");
    // The bot's hold ends at the cap (2 s), and a sweep (every 0.5 s) gives its units back.
    assert!(
        waited <= 2 + 2,
        "got it {waited} s after the bot's first hold"
    );
    // Never oversold: what is listed and what the carts hold is the stock.
    app.sweep_at(now_unix() + 10).await;
    assert_eq!(app.stock_of(1).await + app.held_units(1).await, 3);
}

// --- Limits per customer -------------------------------------------------------------------------

async fn limited_app(policy: CheckoutPolicy, max: u64) -> TestApp {
    let app = TestApp::spawn().await.with_policy(policy);
    app.seed(&[("Console - Limited", 49_900, 100), ("Cable", 900, 100)])
        .await;
    app.update_item(1, json!({ "max_per_customer": max })).await;
    app
}

fn policies() -> [CheckoutPolicy; 2] {
    [CheckoutPolicy::Latest, capped(900, 1800)]
}

#[tokio::test]
async fn a_customers_limit_counts_what_they_hold_and_every_purchase_before() {
    for policy in policies() {
        // Arrange: at most 3 per customer.
        let app = limited_app(policy, 3).await;
        let cart = app.new_cart(7).await;

        // Act and assert: 2, bought; then 2 more is one too many, 1 fits; then nothing more.
        assert_eq!(app.add(&cart, 7, 1, 2).await.status, 200);
        assert_eq!(app.purchase(&cart, 7, "first").await.status, 200);
        let over = app.add(&cart, 7, 1, 2).await;
        over.assert_problem(409, "customer_limit");
        assert_eq!(
            (
                &over.body["limit"],
                &over.body["bought"],
                &over.body["requested"]
            ),
            (&json!(3), &json!(2), &json!(2)),
            "{policy:?}"
        );
        assert_eq!(app.add(&cart, 7, 1, 1).await.status, 200);
        assert_eq!(app.purchase(&cart, 7, "second").await.status, 200);
        app.add(&cart, 7, 1, 1)
            .await
            .assert_problem(409, "customer_limit");
        app.set(&cart, 7, 1, 1)
            .await
            .assert_problem(409, "customer_limit");
        // Another customer, and an item without a limit, are not touched by it.
        let other = app.new_cart(8).await;
        assert_eq!(app.add(&other, 8, 1, 3).await.status, 200);
        assert_eq!(app.add(&cart, 7, 2, 5).await.status, 200);
        assert_eq!(app.stock_of(1).await + app.held_units(1).await, 97);
    }
}

#[tokio::test]
async fn a_limit_set_after_the_line_was_added_binds_its_purchase() {
    for policy in policies() {
        let app = TestApp::spawn().await.with_policy(policy);
        app.seed(&[("Console - Limited", 49_900, 100)]).await;
        let cart = app.new_cart(7).await;
        assert_eq!(app.add(&cart, 7, 1, 3).await.status, 200);
        // The shop limits the item, and the hold (if any) ends.
        app.update_item(1, json!({ "max_per_customer": 2 })).await;
        app.end_holds().await;

        let refused = app.purchase(&cart, 7, "k").await;

        refused.assert_problem(409, "customer_limit");
        assert_eq!(refused.body["limit"], 2, "{policy:?}");
        assert_eq!(app.stock_of(1).await + app.held_units(1).await, 100);
        app.end_holds().await;
        assert_eq!(app.set(&cart, 7, 1, 2).await.status, 200);
        assert_eq!(app.purchase(&cart, 7, "k2").await.status, 200);
        app.end_holds().await;
        app.add(&cart, 7, 1, 1)
            .await
            .assert_problem(409, "customer_limit");
    }
}

/// One customer sends many holds and purchases at once (each purchase with its own key): the
/// units they hold and bought never pass the limit, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_customers_racing_holds_and_purchases_never_pass_max_per_customer() {
    let _heavy = testkit::heavy().await;
    for policy in policies() {
        for round in 0..3 {
            let app = limited_app(policy, 3).await;
            let cart = app.new_cart(7).await;
            let calls = (0..12).map(|i| {
                let (app, cart) = (&app, &cart);
                async move {
                    match i % 3 {
                        0 => app.purchase(cart, 7, &format!("buy-{i}")).await,
                        1 => app.add(cart, 7, 1, 1).await,
                        _ => app.set(cart, 7, 1, 2).await,
                    }
                }
            });
            let answers = join_all(calls).await;
            for r in &answers {
                assert!(r.status < 500, "{}", r.text);
            }
            let bought: u64 = app
                .stored_orders()
                .await
                .iter()
                .flat_map(|o| o["lines"].as_array().cloned().unwrap_or_default())
                .map(|l| l["quantity"].as_u64().unwrap())
                .sum();
            let in_cart = app.view_cart(&cart).await.body["cart"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["quantity"].as_u64().unwrap())
                .sum::<u64>();
            assert!(
                bought + in_cart <= 3,
                "{policy:?} round {round}: bought {bought}, in the cart {in_cart}"
            );
            assert_eq!(
                app.stock_of(1).await + app.held_units(1).await + bought,
                100,
                "never oversold, units returned once"
            );
        }
    }
}

#[tokio::test]
async fn the_admin_sets_and_removes_a_limit_and_refuses_any_other_value() {
    let app = TestApp::spawn().await;
    let created = app
        .call_function(
            "admin-create-item",
            ApiRequest::admin_create_item().json(json!({
                "name": "Console", "price": 49_900, "quantity": 10, "max_per_customer": 2
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["item"]["max_per_customer"], 2);
    let id = created.body["item"]["id"].as_u64().unwrap();
    let update = |change: Value| {
        let app = &app;
        async move {
            app.call_function("admin-update-item", ApiRequest::admin_update(id, change))
                .await
        }
    };
    let removed = update(json!({ "max_per_customer": null })).await;
    assert_eq!(removed.body["item"]["max_per_customer"], Value::Null);
    assert_eq!(app.item(id).await.max_per_customer, None);
    for bad in [
        json!(0),
        json!(10_001),
        json!(-1),
        json!(1.5),
        json!("2"),
        json!([2]),
    ] {
        let before = app.item(id).await;
        let refused = update(json!({ "max_per_customer": bad })).await;
        refused.assert_problem(400, "invalid_request");
        assert_eq!(refused.body["field"], "max_per_customer", "{bad}");
        let create = app
            .call_function(
                "admin-create-item",
                ApiRequest::admin_create_item().json(json!({
                    "name": "X", "price": 1, "quantity": 1, "max_per_customer": bad
                })),
            )
            .await;
        create.assert_problem(400, "invalid_request");
        assert_eq!(app.item(id).await, before, "nothing changed");
    }
}

// --- The sweep ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_sweep_skips_a_cart_that_fails_and_releases_the_others() {
    // Arrange: three carts with ended holds; the first transaction of the sweep fails every
    // attempt (a DynamoDB 500 each time).
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.with_policy(capped(1, 60));
    app.seed(&[("Wine - Port", 869, 9)]).await;
    for user in [7, 8, 9] {
        let cart = app.new_cart(user).await;
        assert_eq!(app.add(&cart, user, 1, 2).await.status, 200);
    }
    let later = now_unix() + 5;
    proxy.inject(
        "DynamoDB_20120810.TransactWriteItems",
        Fault::InternalError,
        Times::N(3),
    );

    // Act
    let summary = app.sweep_at(later).await;

    // Assert: one cart skipped, the others released; the next run releases the last.
    assert_eq!((summary.carts, summary.failed_carts), (3, 1), "{summary:?}");
    assert_eq!((summary.released_carts, summary.units), (2, 4));
    assert_eq!(app.sweep_at(later).await.units, 2);
    assert_eq!(app.stock_of(1).await, 9);
}

#[tokio::test]
async fn the_sweep_pages_past_the_first_page_and_stops_before_its_time_is_up() {
    let app = TestApp::spawn().await.with_policy(capped(1, 60));
    let items: Vec<_> = (1..=3).map(|i| (format!("Item {i}"), 100, 1_000)).collect();
    let items: Vec<_> = items.iter().map(|(n, p, s)| (n.as_str(), *p, *s)).collect();
    let items = app.seed(&items).await;
    // 130 carts holding units: more than one page of the index (100).
    let fills = (0..130).map(|user| app.fill_cart(1_000 + user, &items[..1], 1));
    join_all(fills).await;
    let later = now_unix() + 5;

    // No time at all: it stops at once and says so.
    let none = app.sweep_within(later, Duration::ZERO).await;
    assert!(none.stopped_early, "{none:?}");
    assert_eq!(none.released_carts, 0);
    // Time enough: every cart, across two pages.
    let all = app.sweep_at(later).await;
    assert_eq!((all.released_carts, all.units), (130, 130), "{all:?}");
    assert!(!all.stopped_early);
    assert_eq!(app.stock_of(1).await, 1_000);
}
