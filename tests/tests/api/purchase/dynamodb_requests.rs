//! The DynamoDB requests each outcome of a purchase costs.

use purchase_cart::PurchaseCart;
use serde_json::json;
use shared::domain::CartId;
use testkit::{ApiRequest, TestApp};

use super::{assert_fresh_success, assert_replayed, proxied, user};

#[tokio::test]
async fn a_purchase_takes_two_dynamodb_requests_whatever_the_size_of_the_cart() {
    // Arrange
    let (proxy, app, _) = proxied().await;
    let catalog: Vec<(String, u64, u64)> = (1..=50)
        .map(|i| (format!("Item {i}"), 100 + i, 1_000))
        .collect();
    let catalog: Vec<(&str, u64, u64)> = catalog
        .iter()
        .map(|(n, p, s)| (n.as_str(), *p, *s))
        .collect();
    app.seed(&catalog).await;

    for (user, size) in [(1u64, 1u64), (2, 10), (3, 50)] {
        let lines: Vec<(u64, u64)> = (1..=size).map(|i| (i, 2)).collect();
        let cart = app.cart_with(user, &lines).await;

        // Act
        proxy.reset_counts();
        let (bought, purchase_requests) = app.requests_during(app.purchase(&cart, user, "k")).await;
        let purchase_targets = proxy.counts();
        proxy.reset_counts();
        let (replay, replay_requests) = app.requests_during(app.purchase(&cart, user, "k")).await;
        let replay_targets = proxy.counts();

        // Assert
        assert_fresh_success(&bought);
        assert_eq!(
            bought.body["order"]["lines"].as_array().unwrap().len() as u64,
            size
        );
        assert_replayed(&replay, &bought);
        eprintln!(
            "a purchase of {size} lines: {purchase_requests} requests {purchase_targets:?}; \
             its replay: {replay_requests} {replay_targets:?}"
        );
        assert_eq!(purchase_requests, 2, "a purchase of {size} lines");
        assert_eq!(
            purchase_targets.get("DynamoDB_20120810.BatchGetItem"),
            Some(&1)
        );
        assert_eq!(
            purchase_targets.get("DynamoDB_20120810.TransactWriteItems"),
            Some(&1)
        );
        assert!(
            (1..=2).contains(&replay_requests),
            "a replay of {size} lines took {replay_requests}"
        );
        assert_eq!(
            replay_targets.get("DynamoDB_20120810.TransactWriteItems"),
            None,
            "a replay writes nothing"
        );
    }
}

#[tokio::test]
async fn each_rejection_costs_a_known_number_of_dynamodb_requests() {
    // Arrange: one situation per rejection.
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart_of_7 = app.cart_with(7, &[(1, 1)]).await;
    let used = app.purchase(&cart_of_7, 7, "used").await;
    assert_fresh_success(&used);
    let empty = cart_of_7.clone();
    let cart_of_8 = app.cart_with(8, &[(1, 1)]).await;
    let short = app.cart_with(9, &[(2, 5)]).await;
    let repriced = app.cart_with(10, &[(1, 1)]).await;
    app.end_holds().await;
    app.set_stock(2, 4).await;
    app.set_price(1, 101).await;
    let made_up = CartId::generate(user(8)).to_string();

    let cases: Vec<(&str, ApiRequest, u16, &str, u64)> = vec![
        (
            "a malformed key",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "")
                .json(json!({ "user_id": 8 })),
            400,
            "invalid_request",
            0,
        ),
        (
            "a malformed user",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": "x y" })),
            400,
            "invalid_request",
            0,
        ),
        (
            "someone else's cart",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 7 })),
            404,
            "cart_not_found",
            1,
        ),
        (
            "an unknown cart",
            ApiRequest::purchase_cart(&made_up)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 8 })),
            404,
            "cart_not_found",
            1,
        ),
        (
            "a key used for another cart",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "used")
                .json(json!({ "user_id": 7 })),
            422,
            "idempotency_key_reused",
            1,
        ),
        (
            "an empty cart",
            ApiRequest::purchase_cart(&empty)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 7 })),
            409,
            "cart_empty",
            2,
        ),
        (
            "insufficient stock",
            ApiRequest::purchase_cart(&short)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 9 })),
            409,
            "insufficient_stock",
            2,
        ),
        (
            "a changed price",
            ApiRequest::purchase_cart(&repriced)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 10 })),
            409,
            "price_changed",
            3,
        ),
    ];

    let mut measured = Vec::new();
    for (what, event, status, code, budget) in cases {
        // Act
        let (r, requests) = app.requests_during(app.call::<PurchaseCart>(event)).await;

        // Assert
        r.assert_problem(status, code);
        measured.push(format!("{what} ({status} {code}): {requests}"));
        assert_eq!(requests, budget, "{what}");
    }
    eprintln!(
        "DynamoDB requests per rejection:\n  {}",
        measured.join("\n  ")
    );
}
