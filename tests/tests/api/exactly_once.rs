//! Exactly once, for every write: the price the user saw is the price they pay (`ETag`,
//! `If-Match`), every write is safe to retry (an `Idempotency-Key` on each, a request token on
//! every single-item write so the SDK's own resends never apply twice), and one deadline per
//! request. Each rule is shown with the fault on the wire (a lost response, a 500, a stall) or
//! with a race.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use testkit::{ApiRequest, DynamoDbProxy, Fault, TestApp, TestResponse, Times};

fn version_of(r: &TestResponse) -> u64 {
    r.body["cart"]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("a version in {}", r.text))
}

fn assert_etag(r: &TestResponse, version: u64) {
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{version}\"").as_str()),
        "{}",
        r.text
    );
}

fn assert_replayed(r: &TestResponse, first: &TestResponse) {
    assert_eq!(
        (r.status, &r.text),
        (first.status, &first.text),
        "the same answer, byte for byte"
    );
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.header("etag"), first.header("etag"));
}

fn fresh(r: &TestResponse) {
    assert!(r.status < 300, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None, "{}", r.text);
}

fn purchase(cart: &str, key: &str, if_match: Option<u64>) -> ApiRequest {
    let request = ApiRequest::purchase(cart, 7, key);
    match if_match {
        Some(version) => request.header("If-Match", format!("\"{version}\"")),
        None => request,
    }
}

fn keyed(request: ApiRequest, key: &str) -> ApiRequest {
    request.header("Idempotency-Key", key)
}

async fn proxied() -> (TestApp, DynamoDbProxy) {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.seed(&[("Wine - Port", 869, 50), ("Mussels - Frozen", 1470, 50)])
        .await;
    (app, proxy)
}

// --- 1. The price the user saw is the price they pay -----------------------------------------

#[tokio::test]
async fn every_cart_answer_carries_its_version_as_an_etag_and_a_view_of_a_held_version_is_304() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;

    let created = app.create_cart(7).await;
    let cart = created.body["cart"]["id"].as_str().unwrap().to_owned();
    let added = app.add(&cart, 7, 1, 2).await;
    let removed = app.remove(&cart, 7, 1).await;
    let viewed = app.view_cart(&cart).await;

    for (r, version) in [(&created, 0), (&added, 1), (&removed, 2), (&viewed, 2)] {
        assert_eq!(version_of(r), version, "{}", r.text);
        assert_etag(r, version);
    }
    for held in ["\"2\"", "W/\"2\"", "\"1\", \"2\"", "*"] {
        let view = ApiRequest::get_cart(&cart).header("If-None-Match", held);
        let r = app.send(view).await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (304, ""),
            "If-None-Match: {held}"
        );
        assert_etag(&r, 2);
    }
    let stale = app
        .send(ApiRequest::get_cart(&cart).header("If-None-Match", "\"1\""))
        .await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn a_purchase_with_if_match_buys_only_the_version_of_the_cart_the_client_saw() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.new_cart(7).await;
    let seen = version_of(&app.add(&cart, 7, 1, 1).await);
    app.add(&cart, 7, 1, 1).await; // another tab adds one more

    let stale = app.send(purchase(&cart, "k", Some(seen))).await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(
        stale.body["cart"]["version"],
        seen + 1,
        "the cart as it is now"
    );
    assert_eq!(stale.body["cart"]["lines"][0]["quantity"], 2);
    // (Under `hold` the units sit in the cart, out of the stock.)
    let units = app.stock_of(1).await + app.held_in(&cart, 1).await;
    assert_eq!((units, app.order_count().await), (5, 0), "nothing bought");

    let current = app.send(purchase(&cart, "k", Some(seen + 1))).await;
    fresh(&current);
    assert_eq!(current.body["order"]["lines"][0]["quantity"], 2);
    for bad in ["W/\"2\"", "\"x\"", "\"1\", \"2\"", "\"\""] {
        let r = app
            .send(ApiRequest::purchase(&cart, 7, "k2").header("If-Match", bad))
            .await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], "If-Match", "{bad}");
    }
}

#[tokio::test]
async fn a_lost_price_changed_answer_retried_with_if_match_is_a_412_never_a_purchase_at_the_new_price(
) {
    // Arrange: the user saw their cart at `seen`; the price then went up.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.new_cart(7).await;
    app.add(&cart, 7, 1, 2).await;
    app.end_holds().await;
    let seen = version_of(&app.view_cart(&cart).await);
    app.set_price(1, 999).await;

    // Act: the answer to the purchase is lost; the client retries it as it was.
    let lost = app.send(purchase(&cart, "k", Some(seen))).await;
    lost.assert_problem(409, "price_changed");
    let retried = app.send(purchase(&cart, "k", Some(seen))).await;

    // Assert: the retry shows the new price instead of charging it.
    retried.assert_problem(412, "precondition_failed");
    assert_eq!(retried.body["cart"]["lines"][0]["unit_price"], 999);
    assert_eq!((app.stock_of(1).await, app.order_count().await), (5, 0));

    // The user agrees to the version they now saw; the key then binds that request.
    let agreed = retried.body["cart"]["version"].as_u64().unwrap();
    let bought = app.send(purchase(&cart, "k", Some(agreed))).await;
    fresh(&bought);
    assert_eq!(bought.body["order"]["total"], 2 * 999);
    assert_replayed(&app.send(purchase(&cart, "k", Some(agreed))).await, &bought);
    for other in [purchase(&cart, "k", Some(seen)), purchase(&cart, "k", None)] {
        app.send(other)
            .await
            .assert_problem(422, "idempotency_key_reused");
    }
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn the_sdk_resending_the_repricing_after_a_lost_response_still_answers_price_changed() {
    let (app, proxy) = proxied().await;
    let cart = app.new_cart(7).await;
    app.add(&cart, 7, 1, 2).await;
    app.end_holds().await;
    let before = version_of(&app.view_cart(&cart).await);
    app.set_price(1, 999).await;
    proxy.inject("UpdateItem", Fault::LoseResponse, Times::Once);

    let r = app.purchase(&cart, 7, "k").await;

    r.assert_problem(409, "price_changed");
    assert!(
        proxy.requests("UpdateItem") >= 2,
        "the SDK resent the repricing"
    );
    let now = app.view_cart(&cart).await;
    assert_eq!(now.body["cart"]["lines"][0]["unit_price"], 999);
    assert_eq!(version_of(&now), before + 1, "repriced once");
    assert_eq!(
        app.order_count().await,
        0,
        "nothing bought without the user seeing the price"
    );
}

// --- 2. Every write is safe to retry ----------------------------------------------------------

#[tokio::test]
async fn a_keyed_add_applies_once_through_a_lost_response_a_500_and_a_client_retry() {
    let (app, proxy) = proxied().await;
    let cart = app.new_cart(7).await;
    let add = |key: &str, item: u64| keyed(ApiRequest::add(&cart, 7, item, 2), key);

    // The transaction's answer is lost once, then a 500: the SDK resends with the same token.
    // (DynamoDB recognises the token, or the transaction finds the key it wrote itself: either
    // way one add, answered.)
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Once);
    let first = app.send(add("a", 1)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    proxy.inject("TransactWriteItems", Fault::InternalError, Times::Once);
    let second = app.send(add("b", 2)).await;
    fresh(&second);
    // The client did not see the answers either, and sends both again.
    let again = app.send(add("a", 1)).await;
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_replayed(&app.send(add("b", 2)).await, &second);

    let now = app.view_cart(&cart).await;
    let lines: Vec<(u64, u64)> = (now.body["cart"]["lines"].as_array().unwrap().iter())
        .map(|l| {
            (
                l["item_id"].as_u64().unwrap(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [(1, 2), (2, 2)], "each add applied once");
    assert_eq!(version_of(&now), 2);
    // The key binds the request as sent; a refusal binds nothing.
    app.send(add("a", 2))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let refused = app.send(keyed(ApiRequest::add(&cart, 7, 1, 99), "c")).await;
    refused.assert_problem(409, "insufficient_stock");
    app.update_item(1, json!({"restock": 100})).await;
    fresh(&app.send(keyed(ApiRequest::add(&cart, 7, 1, 99), "c")).await);
}

#[tokio::test]
async fn sixteen_concurrent_sends_of_one_keyed_add_apply_it_once() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50)]).await;
    let cart = app.new_cart(7).await;

    let answers =
        join_all((0..16).map(|_| app.send(keyed(ApiRequest::add(&cart, 7, 1, 3), "once")))).await;

    let done: Vec<&TestResponse> = answers.iter().filter(|r| r.status == 200).collect();
    assert!(!done.is_empty());
    for r in &answers {
        assert!(
            r.status == 200 || r.body["code"] == "request_in_progress",
            "{}",
            r.text
        );
    }
    assert!(done.iter().all(|r| r.text == done[0].text), "one result");
    let now = app.view_cart(&cart).await;
    assert_eq!(now.body["cart"]["lines"][0]["quantity"], 3);
    assert_eq!(version_of(&now), 1);
}

#[tokio::test]
async fn a_key_binds_one_request_whatever_the_kind_of_write() {
    // Arrange: a key that bought a cart, and a key that added to one.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50), ("Mussels - Frozen", 1470, 50)])
        .await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    fresh(&app.send(purchase(&cart, "bought", None)).await);
    fresh(
        &app.send(keyed(ApiRequest::add(&cart, 7, 2, 1), "added"))
            .await,
    );

    // Act + Assert: each is refused for the other kind of write, and nothing changes.
    for other in [
        keyed(ApiRequest::add(&cart, 7, 1, 1), "bought"),
        keyed(ApiRequest::set(&cart, 7, 2, 3), "bought"),
        keyed(ApiRequest::remove(&cart, 7, 2), "bought"),
        purchase(&cart, "added", None),
    ] {
        app.send(other)
            .await
            .assert_problem(422, "idempotency_key_reused");
    }
    let now = app.view_cart(&cart).await;
    assert_eq!(now.body["cart"]["lines"][0]["quantity"], 1);
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn a_purchase_and_a_cart_write_sent_at_once_with_one_key_make_one_change() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 500), ("Mussels - Frozen", 1470, 500)])
        .await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let mut winners = std::collections::BTreeSet::new();
    for round in 0..8 {
        // Arrange: the cart holds item 1 alone.
        let key = format!("round-{round}");
        if round > 0 {
            app.added(&cart, 7, 1, 1).await;
            app.send(ApiRequest::remove(&cart, 7, 2)).await;
        }
        let orders = app.order_count().await;

        // Act: four purchases and four adds of item 2, all with the one key.
        let sends = (0..8).map(|i| match i % 2 {
            0 => app.send(purchase(&cart, &key, None)),
            _ => app.send(keyed(ApiRequest::add(&cart, 7, 2, 1), &key)),
        });
        let answers = join_all(sends).await;

        // Assert: one kind of write won; the other was refused or is still trying.
        let won: Vec<&str> = (answers.iter().enumerate())
            .filter(|(_, r)| r.status == 200)
            .map(|(i, _)| if i % 2 == 0 { "purchase" } else { "add" })
            .collect();
        assert!(!won.is_empty(), "round {round}: nobody won");
        assert!(won.iter().all(|w| *w == won[0]), "round {round}: {won:?}");
        for r in answers.iter().filter(|r| r.status != 200) {
            let code = r.body["code"].as_str().unwrap_or_default();
            assert!(
                ["idempotency_key_reused", "request_in_progress"].contains(&code),
                "round {round}: {}",
                r.text
            );
        }
        let lines = app.view_cart(&cart).await.body["cart"]["lines"].clone();
        if won[0] == "purchase" {
            assert_eq!(app.order_count().await, orders + 1, "round {round}");
            assert_eq!(lines, json!([]), "round {round}");
        } else {
            assert_eq!(app.order_count().await, orders, "round {round}");
            assert_eq!(lines.as_array().unwrap().len(), 2, "round {round}");
        }
        winners.insert(won[0]);
    }
    eprintln!("the kinds of write that won a round: {winners:?}");
}

#[tokio::test]
async fn unkeyed_adds_removes_and_restocks_resent_by_the_sdk_after_a_lost_response_apply_once() {
    let (app, proxy) = proxied().await;
    let cart = app.new_cart(7).await;
    // Under `hold` a cart change moves stock too: one transaction, resent with its token.
    let cart_write = if app.holds() {
        "TransactWriteItems"
    } else {
        "UpdateItem"
    };

    proxy.inject(cart_write, Fault::LoseResponse, Times::Once);
    let added = app.add(&cart, 7, 1, 2).await;
    proxy.inject(cart_write, Fault::LoseResponse, Times::Once);
    let added_another = app.add(&cart, 7, 2, 1).await;
    proxy.inject(cart_write, Fault::LoseResponse, Times::Once);
    let removed = app.remove(&cart, 7, 2).await;
    proxy.inject("UpdateItem", Fault::LoseResponse, Times::Once);
    let restocked = app.call::<admin_update_item::AdminUpdateItem>(ApiRequest::admin_update(
        1,
        json!({"restock": 5}),
    ));
    let restocked = restocked.await;

    for r in [&added, &added_another, &removed, &restocked] {
        fresh(r);
    }
    assert_eq!(
        added.body["cart"]["lines"][0]["quantity"], 2,
        "the answer is the cart it made"
    );
    assert_eq!(removed.body["cart"]["items"], json!([1]));
    let writes = proxy.requests("UpdateItem") + proxy.requests("TransactWriteItems");
    assert!(writes >= 8, "every write was resent");
    let now = app.view_cart(&cart).await;
    assert_eq!(now.body["cart"]["lines"][0]["quantity"], 2);
    assert_eq!(version_of(&now), 3, "three writes, each once");
    let held = if app.holds() { 2 } else { 0 };
    assert_eq!(app.stock_of(1).await, 55 - held);
    assert_eq!(app.stock_of(2).await, 50, "item 2's unit went back once");
}

#[tokio::test]
async fn a_keyed_remove_replays_and_an_unkeyed_one_sent_twice_says_the_line_is_gone() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let remove = || keyed(ApiRequest::remove(&cart, 7, 1), "rm");

    let first = app.send(remove()).await;
    fresh(&first);
    assert_replayed(&app.send(remove()).await, &first);
    app.remove(&cart, 7, 1)
        .await
        .assert_problem(404, "item_not_in_cart");
    assert_eq!(version_of(&app.view_cart(&cart).await), 2);
}

#[tokio::test]
async fn admin_creates_and_updates_apply_once_with_a_key_and_through_the_sdks_resends() {
    let (app, proxy) = proxied().await;
    let tea = json!({"name": "Tea - Green", "price": 300, "quantity": 5});
    let create = |key: &str| keyed(ApiRequest::admin_create_item().json(tea.clone()), key);

    // A keyed create whose answer is lost, sent again: one item.
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Once);
    let first = app.send(create("new-tea")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.send(create("new-tea")).await;
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other_body = keyed(
        ApiRequest::admin_create_item().json(json!({"name": "Tea", "price": 1, "quantity": 1})),
        "new-tea",
    );
    app.send(other_body)
        .await
        .assert_problem(422, "idempotency_key_reused");
    // Unkeyed creates whose counter or put answer is lost: one item each, ids in sequence.
    proxy.inject("UpdateItem", Fault::LoseResponse, Times::Once);
    let second = app
        .send(ApiRequest::admin_create_item().json(tea.clone()))
        .await;
    proxy.inject("PutItem", Fault::LoseResponse, Times::Once);
    let third = app
        .send(ApiRequest::admin_create_item().json(tea.clone()))
        .await;
    let ids: Vec<u64> = [&first, &second, &third]
        .iter()
        .map(|r| {
            r.body["item"]["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{}", r.text))
        })
        .collect();
    assert_eq!(ids, [1_000_000, 1_000_001, 1_000_002]);
    assert_eq!(
        app.count_items(&app.direct().tables().catalog).await,
        2 + 1 + 3
    );

    // A keyed restock, lost and sent again: once.
    let restock = || {
        keyed(
            ApiRequest::admin_update(1, json!({"restock": 10})),
            "more-wine",
        )
    };
    proxy.inject("TransactWriteItems", Fault::InternalError, Times::Once);
    let restocked = app.send(restock()).await;
    assert_eq!(restocked.body["item"]["quantity"], 60, "{}", restocked.text);
    assert_replayed(&app.send(restock()).await, &restocked);
    assert_eq!(app.stock_of(1).await, 60);
}

#[tokio::test]
async fn setting_the_stock_with_if_match_never_overwrites_a_sale_made_since_the_admin_read_it() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50)]).await;
    let read = app
        .send(ApiRequest::admin_update(1, json!({"name": "Wine - Port"})))
        .await;
    let seen = read.body["item"]["version"].as_u64().unwrap();
    assert_eq!(read.header("etag"), Some(format!("\"{seen}\"").as_str()));
    let cart = app.cart_with(8, &[(1, 3)]).await;
    assert_eq!(app.purchase(&cart, 8, "sale").await.status, 200);

    let set = |version: u64| {
        ApiRequest::admin_update(1, json!({"quantity": 100}))
            .header("If-Match", format!("\"{version}\""))
    };
    let stale = app.send(set(seen)).await;

    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["item"]["quantity"], 47, "the item as it is now");
    assert_eq!(app.stock_of(1).await, 47, "the sale stands");
    let current = stale.body["item"]["version"].as_u64().unwrap();
    let applied = app.send(set(current)).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(app.stock_of(1).await, 100);
}

// --- 3. One deadline per request --------------------------------------------------------------

#[tokio::test]
async fn a_stalled_dynamodb_gets_a_503_problem_before_the_deadline() {
    let (mut app, proxy) = proxied().await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    app.state.config.request_budget = Duration::from_millis(1500);
    proxy.inject("*", Fault::Stall(Duration::from_secs(30)), Times::Always);

    for request in [
        ApiRequest::purchase(&cart, 7, "k"),
        ApiRequest::add(&cart, 7, 1, 1),
        ApiRequest::get_cart(&cart),
        ApiRequest::list_items(),
    ] {
        let started = Instant::now();
        let route = request.route.clone();
        let r = app.send(request).await;
        let took = started.elapsed();
        r.assert_problem(503, "service_unavailable");
        r.assert_retry_after();
        assert!(
            took < Duration::from_millis(2500),
            "{route}: answered after {took:?}"
        );
    }
    proxy.clear();
    assert_eq!(app.view_cart(&cart).await.status, 200, "and it recovers");
}

// --- The cost of a key ------------------------------------------------------------------------

#[tokio::test]
async fn a_keyed_write_costs_two_dynamodb_requests_and_its_replay_one() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let tea = json!({"name": "Tea", "price": 1, "quantity": 1});
    let writes = [
        ("add", keyed(ApiRequest::add(&cart, 7, 1, 1), "a"), 2),
        ("remove", keyed(ApiRequest::remove(&cart, 7, 1), "r"), 2),
        (
            "create item",
            keyed(ApiRequest::admin_create_item().json(tea), "c"),
            2,
        ),
        (
            "update item",
            keyed(ApiRequest::admin_update(1, json!({"restock": 1})), "u"),
            2,
        ),
        ("add, unkeyed", ApiRequest::add(&cart, 7, 1, 1), 2),
        // Under `hold`, its units go back to the item: a read, then a transaction.
        (
            "remove, unkeyed",
            ApiRequest::remove(&cart, 7, 1),
            if app.holds() { 2 } else { 1 },
        ),
        (
            "update item, unkeyed",
            ApiRequest::admin_update(1, json!({"price": 2})),
            1,
        ),
    ];
    for (what, request, expected) in writes {
        let (first, requests) = app.requests_during(app.send(request.clone())).await;
        assert!(first.status < 300, "{what}: {}", first.text);
        assert_eq!(requests, expected, "{what}");
        if what.ends_with("unkeyed") {
            continue;
        }
        let (replay, requests) = app.requests_during(app.send(request)).await;
        assert_replayed(&replay, &first);
        assert_eq!(requests, 1, "{what}, replayed");
    }
}
