//! remove-cart-item: where the owner is given, owner checks, an item not in the cart.

use remove_cart_item::RemoveCartItem;
use serde_json::json;
use shared::domain::CartId;
use testkit::{ApiRequest, TestApp};

use super::{forged, seed_catalog, stored, user};

#[tokio::test]
async fn removing_an_item_answers_the_cart_without_it() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 2).await;
    app.added(&id, 7, 2, 1).await;

    // Act
    let response = app.remove(&id, 7, 1).await;

    // Assert
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        app.unheld(response.body.clone()),
        json!({"cart": {
            "id": id,
            "user_id": "7",
            "items": [2],
            "lines": [{"item_id": 2, "name": "Mussels - Frozen", "quantity": 1, "unit_price": 1470}],
            "subtotal": 1470,
            "discount": null,
            "total": 1470,
            "version": 3,
        }})
    );
    assert_eq!(app.view_cart(&id).await.body, response.body);

    // Act and assert: the last line too.
    let response = app.remove(&id, 7, 2).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["cart"],
        json!({"id": id, "user_id": "7", "items": [], "lines": [], "subtotal": 0, "discount": null, "total": 0, "version": 4})
    );
}

#[tokio::test]
async fn the_owner_of_a_removal_may_be_given_in_the_body_or_the_query_string() {
    // Arrange
    let app = TestApp::spawn().await;
    seed_catalog(&app, 5, 10).await;
    let id = app.new_cart(7).await;
    for item in 1..=5 {
        app.added(&id, 7, item, 1).await;
    }
    let ways = [
        ApiRequest::remove_cart_item(&id, "1").json(json!({"user_id": 7})),
        ApiRequest::remove_cart_item(&id, "2").json(json!({"user_id": "7"})),
        // Many clients and proxies drop DELETE bodies.
        ApiRequest::remove_cart_item(&id, "3").query("user_id", 7),
        ApiRequest::remove_cart_item(&id, "4")
            .text("")
            .query("user_id", 7),
        ApiRequest::remove_cart_item(&id, "5")
            .json(json!({"user_id": 7}))
            .query("user_id", "7"),
    ];

    for (i, event) in ways.into_iter().enumerate() {
        // Act
        let response = app.call::<RemoveCartItem>(event).await;

        // Assert
        assert_eq!(response.status, 200, "way {i}: {}", response.text);
        assert_eq!(
            response.body["cart"]["lines"].as_array().unwrap().len(),
            4 - i
        );
    }
}

#[tokio::test]
async fn an_owner_missing_or_given_twice_differently_is_an_invalid_request() {
    // Arrange: iam mode, where the request names the user and must (the original contract).
    let app = TestApp::spawn().await.in_iam_mode();
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    let refused = [
        ApiRequest::remove_cart_item(&id, "1"),
        ApiRequest::remove_cart_item(&id, "1").json(json!({})),
        ApiRequest::remove_cart_item(&id, "1")
            .json(json!({"user_id": 7}))
            .query("user_id", 8),
        ApiRequest::remove_cart_item(&id, "1")
            .json(json!({"user_id": 8}))
            .query("user_id", 7),
        ApiRequest::remove_cart_item(&id, "1")
            .json(json!({"user_id": "7"}))
            .query("user_id", 8),
        ApiRequest::remove_cart_item(&id, "1")
            .query("user_id", 7)
            .query("user_id", 8),
        ApiRequest::remove_cart_item(&id, "1")
            .query("user_id", 7)
            .query("user_id", 7),
    ];

    for event in refused {
        // Act
        let response = app.call::<RemoveCartItem>(event).await;

        // Assert
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], "user_id", "{}", response.text);
    }
    assert_eq!(stored(&app, &id).await, before);
}

#[tokio::test]
async fn removing_from_another_users_cart_or_an_unknown_cart_is_cart_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    let other_user = CartId::generate(user(8)).to_string();
    let attempts = [
        ApiRequest::remove_cart_item(&id, "1").json(json!({"user_id": 8})),
        ApiRequest::remove_cart_item(&id, "1").query("user_id", 8),
        ApiRequest::remove_cart_item(&forged(&id), "1").query("user_id", 7),
        ApiRequest::remove_cart_item(&forged(&id), "2").query("user_id", 7),
        ApiRequest::remove_cart_item(&other_user, "1").query("user_id", 8),
    ];

    for event in attempts {
        // Act
        let response = app.call::<RemoveCartItem>(event).await;

        // Assert
        response.assert_problem(404, "cart_not_found");
        assert!(!response.text.contains(&id), "{}", response.text);
    }
    assert_eq!(stored(&app, &id).await, before);
    assert_eq!(app.cart_count().await, 1);
}

#[tokio::test]
async fn removing_an_item_not_in_the_cart_is_item_not_in_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    app.remove(&id, 7, 1).await;
    app.added(&id, 7, 2, 1).await;
    let before = stored(&app, &id).await;

    // Item 1 was removed already, 3 never was in the catalog.
    for item in [1, 3] {
        // Act
        let response = app.remove(&id, 7, item).await;

        // Assert
        response.assert_problem(404, "item_not_in_cart");
        assert_eq!(response.body["item_id"], item);
    }
    assert_eq!(stored(&app, &id).await, before);
}
