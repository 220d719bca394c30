//! The faults DynamoDB Local never produces, injected on the wire by `testkit::DynamoDbProxy`:
//! transaction conflicts, 500s, an outage, and responses lost after the commit.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use testkit::{Fault, Times};

use super::{
    assert_fresh_success, assert_replayed, lines_of, order_count, order_id_of, proxied, stock_of,
    tokens, world,
};

#[tokio::test]
async fn a_transaction_conflict_is_retried_with_the_same_token_and_the_purchase_succeeds() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    proxy.reset_counts();
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Once,
    );

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let tokens = tokens(&proxy);
    assert_eq!(tokens.len(), 2, "one conflict, one retry");
    assert!(
        !tokens[0].is_empty() && tokens[0] == tokens[1],
        "{tokens:?}"
    );
    let after = world(&store, &cart, &[1, 2]).await;
    assert_eq!(after.stocks, [3, 4]);
    assert_eq!(after.orders, 1);
    assert!(lines_of(&after.cart).is_empty());
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_answers_503_and_changes_nothing() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    let before = world(&store, &cart, &[1, 2]).await;
    proxy.reset_counts();
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Always,
    );

    // Act
    let started = std::time::Instant::now();
    let r = app.purchase(&cart, 7, "k").await;
    let took = started.elapsed();

    // Assert: retried with jittered backoff for a few seconds (a flash sale's buyers wait their
    // turn on a hot row), then 503, well inside a request's deadline.
    r.assert_problem(503, "service_unavailable");
    r.assert_retry_after();
    let tokens = tokens(&proxy);
    eprintln!(
        "a conflicting transaction was tried {} times in {took:?}",
        tokens.len()
    );
    assert!(
        (2..=200).contains(&tokens.len()),
        "retried, a bounded number of times: {}",
        tokens.len()
    );
    assert!(
        took < Duration::from_secs(8),
        "answered within the deadline: {took:?}"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
    assert_eq!(world(&store, &cart, &[1, 2]).await, before);

    // Once the conflicts stop, the same key buys.
    proxy.clear();
    let again = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&again);
    assert_eq!(world(&store, &cart, &[1, 2]).await.stocks, [3, 4]);
}

/// How DynamoDB fails in one case of the table below.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Rule(&'static str, Fault),
    Outage,
}

#[tokio::test]
async fn dynamodb_failing_during_a_purchase_answers_503_and_leaves_nothing_half_done() {
    let cases = [
        (
            "500 on the transaction",
            Failure::Rule("TransactWriteItems", Fault::InternalError),
        ),
        (
            "throttled transaction",
            Failure::Rule("TransactWriteItems", Fault::Throttling),
        ),
        (
            "connection closed on the transaction",
            Failure::Rule("TransactWriteItems", Fault::Disconnect),
        ),
        (
            "500 on the read",
            Failure::Rule("BatchGetItem", Fault::InternalError),
        ),
        (
            "throttled read",
            Failure::Rule("BatchGetItem", Fault::Throttling),
        ),
        ("DynamoDB unreachable", Failure::Outage),
    ];

    join_all(cases.into_iter().map(|(what, failure)| async move {
        // Arrange
        let (proxy, app, store) = proxied().await;
        app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
        let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
        let before = world(&store, &cart, &[1, 2]).await;
        match failure {
            Failure::Rule(target, fault) => proxy.inject(target, fault, Times::Always),
            Failure::Outage => proxy.go_down(),
        }

        // Act
        let r = app.purchase(&cart, 7, "k").await;

        // Assert
        assert_eq!(r.status, 503, "{what}: {}", r.text);
        r.assert_problem(503, "service_unavailable");
        r.assert_retry_after();
        assert_eq!(world(&store, &cart, &[1, 2]).await, before, "{what}");

        // DynamoDB is back: the same key buys, once.
        proxy.clear();
        proxy.come_back().await;
        let again = app.purchase(&cart, 7, "k").await;
        assert_fresh_success(&again);
        let after = world(&store, &cart, &[1, 2]).await;
        assert_eq!(after.stocks, [3, 4], "{what}");
        assert_eq!(after.orders, 1, "{what}");
    }))
    .await;
}

#[tokio::test]
async fn one_dynamodb_500_is_absorbed_by_the_sdk_retry() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    proxy.reset_counts();
    proxy.inject("TransactWriteItems", Fault::InternalError, Times::Once);

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let tokens = tokens(&proxy);
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0], tokens[1]);
    assert_eq!(stock_of(&store, 1).await, 3);
}

#[tokio::test]
async fn a_cart_endpoint_answers_503_with_retry_after_while_dynamodb_fails() {
    for failure in [
        Failure::Rule("GetItem", Fault::InternalError),
        Failure::Rule("GetItem", Fault::Throttling),
        Failure::Rule("GetItem", Fault::Disconnect),
        Failure::Outage,
    ] {
        // Arrange
        let (proxy, app, _) = proxied().await;
        let cart = app.new_cart(7).await;
        match failure {
            Failure::Rule(target, fault) => proxy.inject(target, fault, Times::Always),
            Failure::Outage => proxy.go_down(),
        }

        // Act
        let r = app.view_cart(&cart).await;

        // Assert
        assert_eq!(r.status, 503, "{failure:?}: {}", r.text);
        r.assert_problem(503, "service_unavailable");
        r.assert_retry_after();
        proxy.clear();
        proxy.come_back().await;
        assert_eq!(app.view_cart(&cart).await.status, 200, "{failure:?}");
    }
}

#[tokio::test]
async fn a_response_lost_after_the_commit_is_recovered_by_retrying_with_the_same_key() {
    // Arrange: every answer to the transaction is lost, after DynamoDB applied it.
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Always);

    // Act
    let lost = app.purchase(&cart, 7, "k").await;

    // Assert: the client could not know; the purchase was made once.
    lost.assert_problem(503, "service_unavailable");
    lost.assert_retry_after();
    let committed = world(&store, &cart, &[1, 2]).await;
    assert_eq!(committed.stocks, [3, 4]);
    assert_eq!(committed.orders, 1);
    assert!(lines_of(&committed.cart).is_empty());

    // The client retries with the same key: the original order.
    proxy.clear();
    let retried = app.purchase(&cart, 7, "k").await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    let order = app.get_order(&order_id_of(&retried), Some("7")).await;
    assert_eq!(order.status, 200, "the replay names the stored order");
    assert_eq!(order.body["order"], retried.body["order"]);
    assert_eq!(
        retried.body["order"]["lines"],
        json!([
            { "item_id": 1, "name": "A", "quantity": 2, "unit_price": 100 },
            { "item_id": 2, "name": "B", "quantity": 1, "unit_price": 200 },
        ])
    );
    assert_eq!(world(&store, &cart, &[1, 2]).await, committed);
}

#[tokio::test]
async fn a_response_lost_once_is_recovered_inside_the_same_request() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    proxy.reset_counts();
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Once);

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert: the SDK's retry carries the same token; either DynamoDB recognises it, or the
    // purchase finds its own order. The answer is the order stored, made once.
    assert_eq!(r.status, 200, "{}", r.text);
    eprintln!(
        "after a lost response the purchase answered with Idempotent-Replayed {:?}",
        r.header("idempotent-replayed")
    );
    let tokens = tokens(&proxy);
    assert!(
        tokens.len() >= 2 && tokens.iter().all(|t| t == &tokens[0]),
        "{tokens:?}"
    );
    assert_eq!(stock_of(&store, 1).await, 3);
    assert_eq!(order_count(&store).await, 1);
    let order = app.get_order(&order_id_of(&r), Some("7")).await;
    assert_eq!(order.body["order"], r.body["order"]);
    assert_replayed(&app.purchase(&cart, 7, "k").await, &r);
}

/// What a `BatchGetItem` of the key's order and the cart answers when it reads the order just
/// before a purchase with that key commits and the cart just after: DynamoDB reads the items of
/// a batch one by one, not as one snapshot.
fn hide_the_keys_order(answer: &mut Value) {
    if let Some(responses) = answer["Responses"].as_object_mut() {
        for (table, items) in responses.iter_mut() {
            if table.ends_with("-orders") {
                *items = json!([]);
            }
        }
    }
}

#[tokio::test]
async fn a_submit_whose_read_straddles_the_commit_of_its_key_replays_the_purchase() {
    // Arrange: a purchase with the key is made; the next read misses its order but sees the
    // cart it emptied (the interleaving the concurrent-submits race hits now and then).
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let first = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&first);
    proxy.inject(
        "BatchGetItem",
        Fault::RewriteResponse(hide_the_keys_order),
        Times::Once,
    );

    // Act
    let straddling = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_replayed(&straddling, &first);
    assert_eq!(stock_of(&store, 1).await, 3);
    assert_eq!(order_count(&store).await, 1);
}
