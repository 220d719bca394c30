//! create-cart: one cart per user, answered on both routes, even under racing creates.

use create_cart::CreateCart;
use futures::future::join_all;
use serde_json::json;
use shared::domain::CartId;
use testkit::TestApp;

use super::create_event;

#[tokio::test]
async fn creating_a_cart_answers_201_then_200_with_the_same_cart_on_both_routes() {
    // Arrange
    let app = TestApp::spawn().await;
    // (route, user_id as sent, the user)
    let calls = [
        ("/api/v1/cart/", json!(7), 7, 201),
        ("/api/v1/cart", json!(7), 7, 200),
        ("/api/v1/cart/", json!("7"), 7, 200),
        ("/api/v1/cart", json!("8"), 8, 201),
        ("/api/v1/cart/", json!(8), 8, 200),
        ("/api/v1/cart", json!("8"), 8, 200),
        ("/api/v1/cart", json!(9), 9, 201),
        ("/api/v1/cart/", json!("9"), 9, 200),
    ];
    let mut ids = std::collections::HashMap::new();

    for (route, user_id, user, status) in calls {
        // Act
        let response = app
            .call::<CreateCart>(create_event(route).json(json!({ "user_id": user_id })))
            .await;

        // Assert
        assert_eq!(
            response.status, status,
            "{route} {user_id}: {}",
            response.text
        );
        assert_eq!(response.header("content-type"), Some("application/json"));
        let cart = &response.body["cart"];
        let id = cart["id"].as_str().unwrap().to_owned();
        assert_eq!(
            CartId::parse(&id).unwrap().owner().as_str(),
            user.to_string()
        );
        assert_eq!(
            *cart,
            json!({"id": id, "user_id": user.to_string(), "items": [], "lines": [], "subtotal": 0, "discount": null, "total": 0, "version": 0})
        );
        let first = ids.entry(user).or_insert_with(|| id.clone());
        assert_eq!(*first, id, "user {user} always gets the same cart");
    }
    assert_eq!(ids.len(), 3);
    assert_eq!(app.cart_count().await, 3);
}

#[tokio::test]
async fn an_existing_cart_is_answered_with_its_lines() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 2).await;

    // Act
    let response = app.create_cart(json!("7")).await;

    // Assert
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["cart"]["id"], id);
    assert_eq!(response.body["cart"]["items"], json!([1]));
    assert_eq!(response.body["cart"]["total"], 2 * 869);
}

#[tokio::test]
async fn fifty_concurrent_creates_for_one_user_answer_the_same_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    let requests = (0..50).map(|i| {
        let route = if i % 2 == 0 {
            "/api/v1/cart/"
        } else {
            "/api/v1/cart"
        };
        let user_id = if i % 3 == 0 { json!("42") } else { json!(42) };
        app.call::<CreateCart>(create_event(route).json(json!({ "user_id": user_id })))
    });

    // Act
    let responses = join_all(requests).await;

    // Assert
    let created = responses.iter().filter(|r| r.status == 201).count();
    let existing = responses.iter().filter(|r| r.status == 200).count();
    assert_eq!((created, existing), (1, 49), "statuses {responses:?}");
    let first = &responses[0].body["cart"]["id"];
    assert!(first.is_string());
    for response in &responses {
        assert_eq!(response.body["cart"]["id"], *first, "{}", response.text);
    }
    assert_eq!(app.cart_count().await, 1);
}
