//! Discount codes whose limits hold under any race: a code's `max_uses`, a customer's
//! `max_uses_per_customer` and its window are conditions of the purchase's one transaction, so
//! racing checkouts never use a code more than it allows; a cancelled order gives its use back.
//! Against DynamoDB Local, through the real handlers.

use futures::future::join_all;
use serde_json::{json, Value};
use shared::domain::{now_unix, rfc3339, unix_of, CheckoutPolicy};
use testkit::contention::ContentionRule;
use testkit::{ApiRequest, Fault, TestApp, TestResponse, Times};

const HOLD: CheckoutPolicy = CheckoutPolicy::Hold {
    seconds: 900,
    max_per_item: 10,
    max_seconds: 1800,
};

/// A cart of `user` holding 2 units of item 1, with `code` on it (expected to apply).
async fn cart_with_code(app: &TestApp, user: u64, code: &str) -> String {
    let cart = app.cart_with(user, &[(1, 2)]).await;
    let applied = app.apply_code(&cart, user, code).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    cart
}

async fn uses(app: &TestApp, code: &str) -> u64 {
    let r = app.get_discount(code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["discount"]["uses"].as_u64().unwrap()
}

fn discounted(r: &TestResponse) -> bool {
    r.status == 200 && r.body["order"]["discount"].is_object()
}

// --- Applying a code ---------------------------------------------------------------------------

#[tokio::test]
async fn a_code_takes_its_amount_off_the_cart_and_the_order_and_counts_one_use() {
    // Arrange: 10% off, a cart of 2 x 999.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 10)]).await;
    app.discount(json!({ "code": "spring10", "percent_off": 10 }))
        .await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let plain = app.cart_with(8, &[(1, 2)]).await;

    // Act
    let applied = app.apply_code(&cart, 7, "Spring10").await;
    let (bought, used) = app.used_during(app.purchase(&cart, 7, "k1")).await;
    let (_, without) = app.used_during(app.purchase(&plain, 8, "k2")).await;

    // Assert: 10% of 1998 rounded down is 199.
    assert_eq!(applied.status, 200, "{}", applied.text);
    let shown = &applied.body["cart"];
    assert_eq!(shown["subtotal"], 1998);
    assert_eq!(
        shown["discount"],
        json!({ "code": "SPRING10", "amount": 199, "min_subtotal": null })
    );
    assert_eq!(shown["total"], 1799);
    assert_eq!(bought.status, 200, "{}", bought.text);
    let order = &bought.body["order"];
    assert_eq!(order["subtotal"], 1998);
    assert_eq!(
        order["discount"],
        json!({ "code": "SPRING10", "amount": 199 })
    );
    assert_eq!(order["total"], 1799);
    assert_eq!(uses(&app, "SPRING10").await, 1);
    // Still 2 requests; the code's counter is one more action of the transaction.
    assert_eq!((used.requests, without.requests), (2, 2), "{used:?}");
    println!("purchase with a code: {used:?}; without: {without:?}");
    // The code's counter: one transactional write of an item under 1 KB, 2 write units.
    assert_eq!(used.write_milli_units - without.write_milli_units, 2000);
    assert_eq!(used.read_milli_units, without.read_milli_units);
    // The emptied cart has no code any more.
    assert!(app.view_cart(&cart).await.body["cart"]["discount"].is_null());
}

#[tokio::test]
async fn an_amount_off_never_takes_the_total_below_zero_and_a_code_comes_off_the_cart() {
    let app = TestApp::spawn().await;
    app.seed(&[("Mussels", 300, 10)]).await;
    app.discount(json!({ "code": "FIVER", "amount_off": 5000 }))
        .await;
    let cart = app.cart_with(7, &[(1, 1)]).await;

    let applied = app.apply_code(&cart, 7, "fiver").await;
    assert_eq!(applied.body["cart"]["total"], 0, "{}", applied.text);
    assert_eq!(applied.body["cart"]["discount"]["amount"], 300);
    let removed = app.remove_code(&cart, 7).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert!(removed.body["cart"]["discount"].is_null());
    assert_eq!(removed.body["cart"]["total"], 300);
    // Taking off a code the cart does not have is the cart as it is.
    assert_eq!(app.remove_code(&cart, 7).await.status, 200);
    let bought = app.purchase(&cart, 7, "k1").await;
    assert_eq!(bought.body["order"]["total"], 300);
    assert!(bought.body["order"]["discount"].is_null());
    assert_eq!(uses(&app, "FIVER").await, 0);
}

#[tokio::test]
async fn every_reason_a_code_is_refused_when_applied() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 10)]).await;
    let now = now_unix();
    let codes = [
        (
            "LATER",
            json!({ "starts_at": rfc3339(now + 3600) }),
            "not_started",
        ),
        ("OVER", json!({ "ends_at": rfc3339(now - 1) }), "ended"),
        ("OFF", json!({ "active": false }), "inactive"),
        (
            "BIGSPEND",
            json!({ "min_subtotal": 5000 }),
            "below_min_subtotal",
        ),
        (
            "ONCE",
            json!({ "max_uses_per_customer": 1 }),
            "customer_limit_reached",
        ),
        ("ONE", json!({ "max_uses": 1 }), "exhausted"),
    ];
    for (code, mut terms, _) in codes.clone() {
        terms["code"] = json!(code);
        terms["percent_off"] = json!(5);
        app.discount(terms).await;
    }
    // The customer used ONCE, and someone used ONE.
    let used = cart_with_code(&app, 7, "ONCE").await;
    assert_eq!(app.purchase(&used, 7, "k1").await.status, 200);
    let other = cart_with_code(&app, 8, "ONE").await;
    assert_eq!(app.purchase(&other, 8, "k2").await.status, 200);
    let cart = app.cart_with(7, &[(1, 1)]).await;

    // Act / Assert
    for (code, _, reason) in codes {
        let r = app.apply_code(&cart, 7, code).await;
        r.assert_problem(409, "discount_not_applicable");
        assert_eq!(r.body["reason"], reason, "{code}: {}", r.text);
    }
    let unknown = app.apply_code(&cart, 7, "NOSUCH").await;
    unknown.assert_problem(404, "discount_not_found");
    assert_eq!(unknown.body["discount_code"], "NOSUCH");
    // Someone else's cart is not found, as one that does not exist.
    app.apply_code(&cart, 8, "LATER")
        .await
        .assert_problem(404, "cart_not_found");
}

// --- Races -------------------------------------------------------------------------------------

/// `customers` customers, each with a cart and the code limited to `max` on it, buy at once:
/// how many orders were discounted, and how many were refused as `exhausted`.
async fn race_for_a_limited_code(policy: CheckoutPolicy, customers: u64, max: u64) -> (u64, u64) {
    let app = TestApp::spawn().await.with_policy(policy);
    app.seed(&[("Wine - Port", 999, 1000)]).await;
    app.discount(json!({ "code": "FIVE", "percent_off": 20, "max_uses": max }))
        .await;
    let carts = join_all((1..=customers).map(|user| {
        let app = &app;
        async move { (user, cart_with_code(app, user, "FIVE").await) }
    }))
    .await;
    let answers = join_all(carts.iter().map(|(user, cart)| {
        let app = &app;
        async move { app.purchase(cart, user, &format!("k{user}")).await }
    }))
    .await;
    let won = answers.iter().filter(|r| discounted(r)).count() as u64;
    let refused = answers
        .iter()
        .filter(|r| r.status == 409 && r.body["reason"] == "exhausted")
        .count() as u64;
    for r in &answers {
        assert!(
            discounted(r) || r.body["reason"] == "exhausted",
            "{}",
            r.text
        );
    }
    assert_eq!(
        uses(&app, "FIVE").await,
        won,
        "the counter counts every discounted order"
    );
    (won, refused)
}

#[tokio::test]
async fn racing_purchases_from_many_customers_use_a_code_limited_to_5_exactly_5_times() {
    for (policy, name) in [(CheckoutPolicy::Latest, "latest"), (HOLD, "hold")] {
        for run in 1..=3 {
            let (won, refused) = race_for_a_limited_code(policy, 20, 5).await;
            println!("{name}, run {run}: 20 customers, {won} discounted, {refused} exhausted");
            assert_eq!((won, refused), (5, 15), "{name}, run {run}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_dynamodbs_contention_rule_a_hot_code_limited_to_5_is_still_used_exactly_5_times() {
    // Arrange: every purchase names the code's one item, which the rule lets one transaction
    // hold at a time (`testkit::contention`, from DynamoDB's documentation).
    let _heavy = testkit::heavy().await;
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.seed(&[("Wine - Port", 999, 1000)]).await;
    app.discount(json!({ "code": "HOT", "percent_off": 20, "max_uses": 5 }))
        .await;
    let carts = join_all((1..=30u64).map(|user| {
        let app = &app;
        async move { (user, cart_with_code(app, user, "HOT").await) }
    }))
    .await;
    proxy.apply_contention(ContentionRule::default());

    // Act
    let answers = join_all(carts.iter().map(|(user, cart)| {
        let app = &app;
        async move { app.purchase(cart, user, &format!("k{user}")).await }
    }))
    .await;

    // Assert: 5 discounted; everyone else refused as exhausted or asked to retry, none bought.
    let won = answers.iter().filter(|r| discounted(r)).count();
    for r in answers.iter().filter(|r| !discounted(r)) {
        let retry = r.status == 503 || r.body["code"] == "request_in_progress";
        assert!(r.body["reason"] == "exhausted" || retry, "{}", r.text);
    }
    let stats = proxy.contention();
    println!("30 buyers of a code limited to 5, under the rule: {won} discounted; {stats:?}");
    assert_eq!(won, 5);
    assert_eq!(uses(&app, "HOT").await, 5);
}

#[tokio::test]
async fn one_customer_racing_with_a_per_customer_limit_of_1_gets_one_discounted_order() {
    // Arrange: the customer fills, codes and buys their cart from 8 sessions at once, again and
    // again: only the cart's version serialises them.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 1000)]).await;
    app.discount(json!({ "code": "WELCOME", "amount_off": 500, "max_uses_per_customer": 1 }))
        .await;
    let cart = app.new_cart(7).await;

    // Act
    let sessions = join_all((0..8).map(|session| {
        let (app, cart) = (&app, &cart);
        async move {
            let mut orders = vec![];
            for round in 0..3 {
                app.add(cart, 7, 1, 1).await;
                app.apply_code(cart, 7, "WELCOME").await;
                let r = app.purchase(cart, 7, &format!("s{session}r{round}")).await;
                orders.push(r);
            }
            orders
        }
    }))
    .await;

    // Assert
    let answers: Vec<&TestResponse> = sessions.iter().flatten().collect();
    let discounted = answers.iter().filter(|r| discounted(r)).count();
    let bought = answers.iter().filter(|r| r.status == 200).count();
    println!("one customer, 8 sessions x 3: {bought} orders, {discounted} discounted");
    assert_eq!(discounted, 1, "one discounted order, whatever raced");
    assert!(bought >= 1);
    assert_eq!(uses(&app, "WELCOME").await, 1);
}

#[tokio::test]
async fn a_code_ending_while_purchases_race_discounts_no_order_after_it_ends() {
    // Arrange: the code ends 2 s from now; 12 customers keep buying until after that.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 10_000)]).await;
    let ends_at = now_unix() + 2;
    app.discount(json!({ "code": "FLASH", "percent_off": 50, "ends_at": rfc3339(ends_at) }))
        .await;

    // Act
    let customers = join_all((1..=12u64).map(|user| {
        let app = &app;
        async move {
            let mut answers = vec![];
            let mut round = 0;
            while now_unix() <= ends_at + 1 {
                let cart = app.cart_with(user, &[(1, 1)]).await;
                app.apply_code(&cart, user, "FLASH").await;
                answers.push(app.purchase(&cart, user, &format!("u{user}r{round}")).await);
                round += 1;
            }
            answers
        }
    }))
    .await;

    // Assert: every discounted order was made before the second the code ended.
    let answers: Vec<&TestResponse> = customers.iter().flatten().collect();
    let discounted: Vec<i64> = (answers.iter().filter(|r| discounted(r)))
        .map(|r| unix_of(r.body["order"]["created_at"].as_str().unwrap()).unwrap())
        .collect();
    let refused = (answers.iter())
        .filter(|r| r.status == 409 && r.body["reason"] == "ended")
        .count();
    println!(
        "code ending mid-race: {} purchases, {} discounted, {refused} refused as ended",
        answers.len(),
        discounted.len()
    );
    assert!(!discounted.is_empty());
    assert!(
        discounted.iter().all(|at| *at < ends_at),
        "{discounted:?} vs {ends_at}"
    );
    assert_eq!(uses(&app, "FLASH").await, discounted.len() as u64);
}

// --- After the purchase ------------------------------------------------------------------------

#[tokio::test]
async fn a_cancelled_order_gives_its_use_back_to_the_code_and_to_the_customer() {
    // Arrange: one use in all, one per customer.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 10)]).await;
    app.discount(json!({
        "code": "SOLO", "percent_off": 10, "max_uses": 1, "max_uses_per_customer": 1
    }))
    .await;
    let cart = cart_with_code(&app, 7, "SOLO").await;
    let plain = app.cart_with(8, &[(1, 2)]).await;
    let (bought, used) = app.used_during(app.purchase(&cart, 7, "k1")).await;
    let (_, without) = app.used_during(app.purchase(&plain, 8, "k9")).await;
    let order = bought.body["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(uses(&app, "SOLO").await, 1);
    // The code's counter and the customer's: 2 transactional writes under 1 KB, 4 write units
    // on AWS; DynamoDB Local reports one item per table of a transaction (BENCHMARKS.md,
    // section 1), so 2 here, both items being in the discounts table.
    println!("purchase with a per-customer code: {used:?}; without: {without:?}");
    assert_eq!(used.write_milli_units - without.write_milli_units, 2000);
    assert_eq!(used.requests, 2);

    // Act
    let cancelled = app.cancel_order(&order, 7).await;
    let again = app.cancel_order(&order, 7).await;

    // Assert: one use back, once; the customer may use it again.
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(again.status, 200);
    assert_eq!(uses(&app, "SOLO").await, 0);
    let cart = cart_with_code(&app, 7, "SOLO").await;
    assert!(discounted(&app.purchase(&cart, 7, "k2").await));
    assert_eq!(uses(&app, "SOLO").await, 1);
}

#[tokio::test]
async fn a_change_of_terms_after_the_code_was_applied_is_told_at_the_purchase() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 1000, 10)]).await;
    app.discount(json!({ "code": "TEN", "percent_off": 10 }))
        .await;
    let cart = cart_with_code(&app, 7, "TEN").await;
    let changed = app
        .update_discount("ten", json!({ "percent_off": 5 }))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["discount"]["version"], 1);

    let first = app.purchase(&cart, 7, "k1").await;
    let shown = app.view_cart(&cart).await;
    let second = app.purchase(&cart, 7, "k2").await;

    first.assert_problem(409, "discount_not_applicable");
    assert_eq!(first.body["reason"], "changed");
    assert_eq!(shown.body["cart"]["discount"]["amount"], 100, "5% of 2000");
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["order"]["total"], 1900);
    // A deactivated code stops a cart that holds it.
    app.update_discount("TEN", json!({ "active": false })).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    app.apply_code(&cart, 7, "TEN")
        .await
        .assert_problem(409, "discount_not_applicable");
}

#[tokio::test]
async fn a_lost_purchase_response_counts_the_code_once() {
    // Arrange: the transaction is applied, its answer lost; the SDK sends it again.
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.seed(&[("Wine - Port", 999, 10)]).await;
    app.discount(json!({ "code": "ONCE", "percent_off": 10, "max_uses": 3 }))
        .await;
    let cart = cart_with_code(&app, 7, "ONCE").await;
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Once);

    // Act
    let bought = app.purchase(&cart, 7, "k1").await;
    let replay = app.purchase(&cart, 7, "k1").await;

    // Assert
    assert!(discounted(&bought), "{}", bought.text);
    assert_eq!(replay.body, bought.body);
    assert_eq!(uses(&app, "ONCE").await, 1);
}

// --- The admin's routes ------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_creates_changes_and_reads_a_code_exactly_once_per_key() {
    let app = TestApp::spawn().await;
    let body = json!({
        "code": "summer-25", "amount_off": 250, "min_subtotal": 1000,
        "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-09-01T00:00:00Z",
        "max_uses": 100, "max_uses_per_customer": 2
    });
    let keyed = |body: &Value| {
        ApiRequest::admin_create_discount()
            .header("Idempotency-Key", "create-1")
            .json(body.clone())
    };

    let created = app.send(keyed(&body)).await;
    let replayed = app.send(keyed(&body)).await;
    let taken = app
        .create_discount(json!({ "code": "SUMMER-25", "percent_off": 5 }))
        .await;
    let patch = ApiRequest::admin_discount("PATCH", "SUMMER-25")
        .header("If-Match", "\"0\"")
        .json(json!({ "percent_off": 15, "ends_at": null, "max_uses": null }));
    let changed = app.send(patch.clone()).await;
    let stale = app.send(patch).await;
    let read = app.get_discount("summer-25").await;

    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body["discount"],
        json!({
            "code": "SUMMER-25", "percent_off": null, "amount_off": 250, "min_subtotal": 1000,
            "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-09-01T00:00:00Z",
            "max_uses": 100, "max_uses_per_customer": 2, "active": true, "uses": 0,
            "version": 0
        })
    );
    assert_eq!(replayed.body, created.body);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    taken.assert_problem(409, "discount_exists");
    assert_eq!(changed.status, 200, "{}", changed.text);
    stale.assert_problem(412, "precondition_failed");
    let shown = &read.body["discount"];
    assert_eq!(
        (shown["percent_off"].as_u64(), shown["amount_off"].is_null()),
        (Some(15), true)
    );
    assert!(shown["ends_at"].is_null() && shown["max_uses"].is_null());
    assert_eq!(shown["min_subtotal"], 1000, "untouched terms stay");
    assert_eq!(read.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn hostile_input_on_every_field_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 999, 10)]).await;
    app.discount(json!({ "code": "REAL", "percent_off": 10 }))
        .await;
    let good = json!({ "code": "NEW1", "percent_off": 10 });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let creates = [
        (json!({ "percent_off": 10 }), "code"),
        (with("code", json!("ab")), "code"),
        (with("code", json!("A".repeat(33))), "code"),
        (with("code", json!("NO SPACE")), "code"),
        (with("code", json!("ÉTÉ10")), "code"),
        (with("code", json!(12345)), "code"),
        (with("code", json!("A#B")), "code"),
        (json!({ "code": "NEW1" }), "percent_off"),
        (with("percent_off", json!(0)), "percent_off"),
        (with("percent_off", json!(101)), "percent_off"),
        (with("percent_off", json!(10.5)), "percent_off"),
        (with("percent_off", json!("10")), "percent_off"),
        (with("amount_off", json!(100)), "amount_off"),
        (json!({ "code": "NEW1", "amount_off": -1 }), "amount_off"),
        (json!({ "code": "NEW1", "amount_off": 0 }), "amount_off"),
        (
            json!({ "code": "NEW1", "amount_off": 9_007_199_254_740_992u64 }),
            "amount_off",
        ),
        (with("min_subtotal", json!(-5)), "min_subtotal"),
        (with("min_subtotal", json!("1")), "min_subtotal"),
        (with("starts_at", json!("yesterday")), "starts_at"),
        (with("starts_at", json!(1700000000)), "starts_at"),
        (with("ends_at", json!("2026-13-01T00:00:00Z")), "ends_at"),
        (
            json!({ "code": "NEW1", "percent_off": 1, "starts_at": "2026-02-01T00:00:00Z",
                    "ends_at": "2026-01-01T00:00:00Z" }),
            "ends_at",
        ),
        (with("max_uses", json!(0)), "max_uses"),
        (with("max_uses", json!(1e300)), "max_uses"),
        (
            with("max_uses_per_customer", json!(-1)),
            "max_uses_per_customer",
        ),
        (with("active", json!("yes")), "active"),
    ];
    for (body, field) in creates {
        let r = app.create_discount(body.clone()).await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let patches = [
        (json!({}), "body"),
        (json!({ "percent_off": 10, "amount_off": 5 }), "amount_off"),
        (json!({ "max_uses": "many" }), "max_uses"),
        (
            json!({ "ends_at": "1999-01-01T00:00:00Z", "starts_at": "2000-01-01T00:00:00Z" }),
            "ends_at",
        ),
    ];
    for (body, field) in patches {
        let r = app.update_discount("REAL", body.clone()).await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    app.update_discount("NOSUCH", json!({ "active": false }))
        .await
        .assert_problem(404, "discount_not_found");
    app.get_discount("x")
        .await
        .assert_problem(400, "invalid_request");
    app.get_discount("NOSUCH")
        .await
        .assert_problem(404, "discount_not_found");
    // The cart's route.
    let cart = app.cart_with(7, &[(1, 1)]).await;
    for body in [
        json!({ "user_id": "7" }),
        json!({ "user_id": "7", "code": ["REAL"] }),
        json!({ "user_id": "7", "code": "R" }),
    ] {
        let r = app
            .call_function(
                "cart-discount",
                ApiRequest::cart_discount("PUT", &cart).json(body),
            )
            .await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], "code");
    }
    let not_json = ApiRequest::cart_discount("PUT", &cart).text("{code");
    assert_eq!(
        app.call_function("cart-discount", not_json).await.status,
        400
    );
    // Nothing was created by any of it.
    app.get_discount("NEW1")
        .await
        .assert_problem(404, "discount_not_found");
}
