//! Storage: the DynamoDB requests each cart call costs, and the version every change moves.

use serde_json::json;
use shared::domain::Cart;
use testkit::TestApp;

use super::stored;

#[tokio::test]
async fn each_cart_call_costs_its_budget_of_dynamodb_requests() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;

    // Act
    let (created, create_new) = app.requests_during(app.create_cart(json!(7))).await;
    let id = created.body["cart"]["id"].as_str().unwrap().to_owned();
    let (existing, create_existing) = app.requests_during(app.create_cart(json!(7))).await;
    let (_, add_new_line) = app.requests_during(app.added(&id, 7, 1, 2)).await;
    let (_, add_to_line) = app.requests_during(app.added(&id, 7, 1, 1)).await;
    let (_, add_other) = app.requests_during(app.added(&id, 7, 2, 1)).await;
    let (viewed, view_cart) = app.requests_during(app.view_cart(&id)).await;
    let (removed, remove_line) = app.requests_during(app.remove(&id, 7, 1)).await;

    // Assert
    assert_eq!((created.status, existing.status), (201, 200));
    assert_eq!((viewed.status, removed.status), (200, 200));
    println!(
        "DynamoDB requests: create (new) {create_new}, create (existing) {create_existing}, \
         view {view_cart}, add (new line) {add_new_line}, add (existing line) {add_to_line}, \
         remove {remove_line}"
    );
    assert_eq!(create_new, 1, "create, new cart");
    assert_eq!(create_existing, 1, "create, existing cart");
    assert_eq!(view_cart, 1, "view");
    assert_eq!(add_new_line, 2, "add, new line");
    assert_eq!(add_to_line, 2, "add, existing line");
    assert_eq!(add_other, 2, "add, second line");
    // Under `hold` the units go back to the item: a read, then a transaction.
    let remove = if app.holds() { 2 } else { 1 };
    assert_eq!(remove_line, remove, "remove");
}

#[tokio::test]
async fn every_change_to_a_cart_moves_its_version_and_a_refusal_does_not() {
    // Arrange: a purchase commits only against the version it read, so every change must move it.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let id = app.new_cart(7).await;
    let version = |cart: Option<Cart>| cart.unwrap().version;
    let mut seen = vec![version(stored(&app, &id).await)];

    // Act
    app.added(&id, 7, 1, 1).await;
    seen.push(version(stored(&app, &id).await));
    if !app.holds() {
        // A new price on an add (a live hold keeps its price instead).
        app.set_price(1, 900).await;
    }
    app.added(&id, 7, 1, 1).await;
    seen.push(version(stored(&app, &id).await));
    app.added(&id, 7, 2, 1).await;
    seen.push(version(stored(&app, &id).await));
    app.add(&id, 7, 2, 3)
        .await
        .assert_problem(409, "insufficient_stock");
    app.remove(&id, 7, 3)
        .await
        .assert_problem(404, "item_not_in_cart");
    seen.push(version(stored(&app, &id).await));
    app.remove(&id, 7, 1).await;
    seen.push(version(stored(&app, &id).await));

    // Assert
    assert_eq!(seen, [0, 1, 2, 3, 3, 4]);
}
