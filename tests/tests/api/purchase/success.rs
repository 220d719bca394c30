//! A purchase that succeeds: its answer, what it stores (the order, the stock, the emptied cart),
//! and who may read the order.

use serde_json::json;
use shared::domain::OrderId;
use testkit::TestApp;

use super::{assert_fresh_success, count, order_id_of, world};

#[tokio::test]
async fn a_purchase_answers_the_bought_lines_and_the_order() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;

    // Act
    let r = app.purchase(&cart, 7, "first-purchase").await;

    // Assert
    assert_fresh_success(&r);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body["response"],
        json!([{ "item": 1, "quantity": 2 }, { "item": 2, "quantity": 1 }])
    );
    let order = &r.body["order"];
    let members: Vec<&str> = order
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = members.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "cart_id",
            "created_at",
            "discount",
            "id",
            "lines",
            "payment_due_by",
            "refund_due",
            "status",
            "subtotal",
            "total",
            "user_id",
            "version"
        ]
    );
    assert!(OrderId::parse(order["id"].as_str().unwrap()).is_ok());
    assert_eq!(order["cart_id"], cart);
    assert_eq!(order["user_id"], "7");
    assert_eq!(
        order["lines"],
        json!([
            { "item_id": 1, "name": "Wine - Port", "quantity": 2, "unit_price": 869 },
            { "item_id": 2, "name": "Mussels - Frozen", "quantity": 1, "unit_price": 1470 },
        ])
    );
    assert_eq!(order["total"], 2 * 869 + 1470);
    let created_at = time::OffsetDateTime::parse(
        order["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created_at is RFC 3339");
    let age = time::OffsetDateTime::now_utc() - created_at;
    assert!(
        age.whole_seconds().abs() < 60,
        "created_at {created_at} is now"
    );
}

#[tokio::test]
async fn a_purchase_decrements_the_stock_stores_the_order_and_empties_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[
        ("Wine - Port", 869, 5),
        ("Mussels - Frozen", 1470, 3),
        ("Untouched", 100, 9),
    ])
    .await;
    let cart = app.cart_with(7, &[(1, 2), (2, 3)]).await;
    let store = app.direct().clone();

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let after = world(&store, &cart, &[1, 2, 3]).await;
    assert_eq!(after.stocks, [3, 0, 9]);
    assert_eq!(after.orders, 1);
    assert_eq!(
        count(&store, &store.tables().idempotency).await,
        0,
        "the order is the key's record"
    );
    let shown = app.view_cart(&cart).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["cart"]["id"], cart, "the cart keeps its id");
    assert_eq!(shown.body["cart"]["lines"], json!([]));
    assert_eq!(shown.body["cart"]["items"], json!([]));
    assert_eq!(shown.body["cart"]["total"], 0);
    let stored = app.get_order(&order_id_of(&r), Some("7")).await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body, json!({ "order": r.body["order"] }));
}

#[tokio::test]
async fn an_order_is_shown_to_its_owner_only() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let bought = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&bought);
    let id = order_id_of(&bought);

    // Act + Assert
    let owner = app.get_order(&id, Some("7")).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    assert_eq!(owner.body["order"], bought.body["order"]);

    let other = app.get_order(&id, Some("8")).await;
    other.assert_problem(404, "order_not_found");
    assert!(!other.text.contains(&cart), "nothing of the order leaks");

    let unknown = app
        .get_order(&uuid::Uuid::new_v4().to_string(), Some("7"))
        .await;
    unknown.assert_problem(404, "order_not_found");
    assert_eq!(
        other.text, unknown.text,
        "someone else's order and no order look alike"
    );

    for (what, order_id) in [
        ("a malformed order id", "not-an-order"),
        ("an order id in upper case", &*id.to_uppercase()),
    ] {
        let r = app.get_order(order_id, Some("7")).await;
        assert_eq!(r.text, unknown.text, "{what}: the path names no order");
    }
    for (what, order_id, user) in [
        ("a user that is not a user id", &*id, Some("se ven")),
        ("a user id with a '#'", &*id, Some("7#1")),
    ] {
        let r = app.get_order(order_id, user).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        r.assert_problem(400, "invalid_request");
    }
}
