//! add-cart-item: quantities summed, the stock and the fifty-line bound held under racing adds,
//! and owner checks.

use futures::future::join_all;
use serde_json::json;
use shared::domain::CartId;
use testkit::TestApp;

use super::{forged, line_of, seed_catalog, stored, user, MAX_SAFE_INTEGER};

#[tokio::test]
async fn adding_an_item_already_in_the_cart_sums_quantities_and_refreshes_its_unit_price() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50), ("Mussels - Frozen", 1470, 3)])
        .await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 2).await;
    app.added(&id, 7, 2, 1).await;
    app.set_price(1, 900).await;
    if app.holds() {
        // The line's live hold keeps its price: more units at another are refused (`holds`).
        let response = app.add(&id, 7, 1, 3).await;
        return response.assert_problem(409, "held_at_another_price");
    }

    // Act
    let body = app.added(&id, 7, 1, 3).await;

    // Assert
    assert_eq!(
        *line_of(&body, 1),
        json!({"item_id": 1, "name": "Wine - Port", "quantity": 5, "unit_price": 900})
    );
    assert_eq!(body["cart"]["items"], json!([1, 2]));
    assert_eq!(body["cart"]["total"], 5 * 900 + 1470);
    assert_eq!(app.view_cart(&id).await.body, body);
}

#[tokio::test]
async fn adding_more_than_the_stock_is_refused_with_the_stock_available_and_exactly_the_stock_is_accepted(
) {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 0)])
        .await;
    let id = app.new_cart(7).await;

    // Act and assert: more than the stock in one request, on an empty line.
    let response = app.add(&id, 7, 1, 6).await;
    response.assert_problem(409, "insufficient_stock");
    assert_eq!(response.body["available"], 5);
    assert_eq!(response.body["item_id"], 1);
    assert_eq!(response.body["requested"], 6);
    app.add(&id, 7, 2, 1)
        .await
        .assert_problem(409, "insufficient_stock");

    // Act and assert: what is in the cart counts.
    app.added(&id, 7, 1, 3).await;
    let before = stored(&app, &id).await;
    for quantity in [3, 10] {
        let response = app.add(&id, 7, 1, quantity).await;
        response.assert_problem(409, "insufficient_stock");
        assert_eq!(response.body["available"], 5);
        assert_eq!(response.body["requested"], 3 + quantity);
    }
    assert_eq!(
        stored(&app, &id).await,
        before,
        "a refused add changes nothing"
    );

    // Act and assert: exactly the stock.
    let body = app.added(&id, 7, 1, 2).await;
    assert_eq!(line_of(&body, 1)["quantity"], 5);
    let response = app.add(&id, 7, 1, 1).await;
    response.assert_problem(409, "insufficient_stock");
    assert_eq!(response.body["available"], 5);
    // `latest` takes nothing from the stock at add; `hold` all the cart holds.
    let left = if app.holds() { 0 } else { 5 };
    assert_eq!(app.item(1).await.stock.get(), left);
}

#[tokio::test]
async fn adding_an_unknown_item_is_item_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;

    for item in [2, 99, MAX_SAFE_INTEGER] {
        // Act
        let response = app.add(&id, 7, item, 1).await;

        // Assert
        response.assert_problem(404, "item_not_found");
        assert_eq!(response.body["item_id"], item);
    }
    assert_eq!(app.view_cart(&id).await.body["cart"]["lines"], json!([]));
}

#[tokio::test]
async fn adding_to_another_users_cart_or_an_unknown_cart_is_cart_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    // (cart id, user sending)
    let attempts = [
        (id.clone(), 8),
        (id.clone(), MAX_SAFE_INTEGER),
        (forged(&id), 7),
        (CartId::generate(user(8)).to_string(), 8),
    ];

    for (cart_id, sender) in attempts {
        // Within the stock and beyond it: the same answer, so nothing tells whether the cart
        // exists. (An unknown item may be reported first: that says nothing about the cart.)
        for quantity in [1, 6] {
            // Act
            let response = app.add(&cart_id, sender, 1, quantity).await;

            // Assert
            response.assert_problem(404, "cart_not_found");
            assert!(!response.text.contains(&id), "{}", response.text);
        }
    }
    // Someone else's cart is refused before the item is even looked at.
    app.add(&id, 8, 99, 1)
        .await
        .assert_problem(404, "cart_not_found");
    assert_eq!(stored(&app, &id).await, before);
    assert_eq!(app.cart_count().await, 1, "no cart is created by an add");
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_distinct_items() {
    // Arrange
    let app = TestApp::spawn().await;
    seed_catalog(&app, 51, 10).await;
    let id = app.new_cart(7).await;
    for item in 1..=50 {
        app.added(&id, 7, item, 1).await;
    }
    let before = stored(&app, &id).await;

    // Act
    let response = app.add(&id, 7, 51, 1).await;

    // Assert
    response.assert_problem(409, "cart_full");
    assert_eq!(response.body["limit"], 50);
    assert_eq!(stored(&app, &id).await, before);
    // More of an item already in the full cart is still fine.
    let body = app.added(&id, 7, 50, 2).await;
    assert_eq!(body["cart"]["lines"].as_array().unwrap().len(), 50);
    assert_eq!(line_of(&body, 50)["quantity"], 3);
}

#[tokio::test]
async fn twenty_concurrent_adds_of_twenty_different_items_leave_twenty_lines() {
    // Arrange
    let app = TestApp::spawn().await;
    seed_catalog(&app, 20, 10).await;
    let id = app.new_cart(7).await;

    // Act
    let responses = join_all((1..=20).map(|item| app.add(&id, 7, item, 2))).await;

    // Assert
    for response in &responses {
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let body = app.view_cart(&id).await.body;
    let mut items: Vec<u64> = body["cart"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    items.sort_unstable();
    assert_eq!(items, (1..=20).collect::<Vec<_>>());
    for item in 1..=20 {
        assert_eq!(line_of(&body, item)["quantity"], 2);
    }
    assert_eq!(stored(&app, &id).await.unwrap().version, 20);
}

#[tokio::test]
async fn twenty_concurrent_adds_of_one_item_leave_quantity_twenty() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 25)]).await;
    let id = app.new_cart(7).await;

    // Act
    let responses = join_all((0..20).map(|_| app.add(&id, 7, 1, 1))).await;

    // Assert
    for response in &responses {
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let body = app.view_cart(&id).await.body;
    assert_eq!(body["cart"]["items"], json!([1]));
    assert_eq!(line_of(&body, 1)["quantity"], 20);
    assert_eq!(body["cart"]["total"], 20 * 869);
}

#[tokio::test]
async fn racing_adds_never_put_more_than_the_stock_into_one_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let id = app.new_cart(7).await;

    // Act
    let responses = join_all((0..30).map(|_| app.add(&id, 7, 1, 1))).await;

    // Assert
    let accepted = responses.iter().filter(|r| r.status == 200).count();
    assert_eq!(accepted, 10);
    for refused in responses.iter().filter(|r| r.status != 200) {
        refused.assert_problem(409, "insufficient_stock");
        assert_eq!(refused.body["available"], 10);
    }
    let body = app.view_cart(&id).await.body;
    assert_eq!(line_of(&body, 1)["quantity"], 10);
}

#[tokio::test]
async fn racing_adds_never_put_more_than_fifty_lines_into_one_cart() {
    // Arrange: 45 lines, then ten racing adds of ten new items.
    let app = TestApp::spawn().await;
    seed_catalog(&app, 55, 10).await;
    let items: Vec<_> = join_all((1..=45).map(|item| app.item(item))).await;
    let id = app.fill_cart(7, &items, 1).await;

    // Act
    let responses = join_all((46..=55).map(|item| app.add(&id, 7, item, 1))).await;

    // Assert
    let accepted = responses.iter().filter(|r| r.status == 200).count();
    assert_eq!(accepted, 5);
    for refused in responses.iter().filter(|r| r.status != 200) {
        refused.assert_problem(409, "cart_full");
    }
    let body = app.view_cart(&id).await.body;
    assert_eq!(body["cart"]["lines"].as_array().unwrap().len(), 50);
}
