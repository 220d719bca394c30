//! Issue 3: carts (create, view, add, remove) against DynamoDB Local, every rule of the issue:
//! one cart per user even under racing creates, owner checks, stock and line bounds held by
//! condition expressions under racing adds, the input rules, and the DynamoDB requests per call.

use add_cart_item::AddCartItem;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use create_cart::CreateCart;
use futures::future::join_all;
use remove_cart_item::RemoveCartItem;
use serde_json::{json, Value};
use shared::domain::{Cart, CartId, UserId};
use testkit::{ApiRequest, TestApp};

const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;
const BODY_LIMIT: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Requests

fn create_event(route: &str) -> ApiRequest {
    ApiRequest::new("POST", route, route)
}

// ---------------------------------------------------------------------------------------------
// What is stored

/// The cart as stored now, version included.
async fn stored(app: &TestApp, cart_id: &str) -> Option<Cart> {
    app.store()
        .get_cart(&CartId::parse(cart_id).unwrap(), shared::domain::now_unix())
        .await
        .unwrap()
}

/// The line of `item` in a `{"cart": ...}` body.
fn line_of(body: &Value, item: u64) -> &Value {
    body["cart"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["item_id"] == item)
        .unwrap_or_else(|| panic!("item {item} in {body}"))
}

/// Items with a generous stock, named after their id.
fn catalog(n: usize, stock: u64) -> Vec<(String, u64, u64)> {
    (1..=n)
        .map(|i| (format!("Item {i}"), 100 + i as u64, stock))
        .collect()
}

async fn seed_catalog(app: &TestApp, n: usize, stock: u64) {
    let items = catalog(n, stock);
    let items: Vec<(&str, u64, u64)> = items
        .iter()
        .map(|(name, price, stock)| (name.as_str(), *price, *stock))
        .collect();
    app.seed(&items).await;
}

/// A cart id spelled from raw parts (for ids that are well formed but refused).
fn raw_cart_id(token: [u8; 16], owner: &str) -> String {
    URL_SAFE_NO_PAD.encode([&token[..], owner.as_bytes()].concat())
}

/// Another id for `cart_id`'s owner: right format and owner, wrong token.
fn forged(cart_id: &str) -> String {
    let owner = CartId::parse(cart_id).unwrap().owner().clone();
    CartId::generate(owner).to_string()
}

fn user(n: u64) -> UserId {
    UserId::parse(&n.to_string()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// create-cart

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
            json!({"id": id, "user_id": user.to_string(), "items": [], "lines": [], "total": 0, "version": 0})
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

// ---------------------------------------------------------------------------------------------
// get-cart

#[tokio::test]
async fn a_cart_is_shown_with_its_items_in_the_order_first_added_its_lines_and_total() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[
        ("Wine - Port", 869, 5),
        ("Mussels - Frozen", 1470, 3),
        ("Bread - Rye", 250, 40),
    ])
    .await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 3, 4).await;
    app.added(&id, 7, 1, 2).await;
    app.added(&id, 7, 3, 1).await;

    // Act
    let response = app.view_cart(&id).await;

    // Assert
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        app.unheld(response.body),
        json!({"cart": {
            "id": id,
            "user_id": "7",
            "items": [3, 1],
            "lines": [
                {"item_id": 3, "name": "Bread - Rye", "quantity": 5, "unit_price": 250},
                {"item_id": 1, "name": "Wine - Port", "quantity": 2, "unit_price": 869},
            ],
            "total": 5 * 250 + 2 * 869,
            "version": 3,
        }})
    );
}

#[tokio::test]
async fn an_unknown_cart_id_is_not_found() {
    // Arrange: user 7 has a cart; user 8 has none.
    let app = TestApp::spawn().await;
    let id = app.new_cart(7).await;
    let unknown = [
        CartId::generate(user(8)).to_string(),
        CartId::generate(user(MAX_SAFE_INTEGER)).to_string(),
        // User 7's cart exists, but this is not its id: the token is the capability.
        forged(&id),
    ];

    for cart_id in unknown {
        // Act
        let response = app.view_cart(&cart_id).await;

        // Assert
        response.assert_problem(404, "cart_not_found");
        assert!(!response.text.contains(&id), "{}", response.text);
    }
}

/// Path segments that cannot be cart ids, and the cart id they are refused as.
fn impossible_cart_ids() -> Vec<String> {
    let valid = CartId::generate(user(7)).to_string();
    let mut v4 = [0x11u8; 16];
    v4[6] = 0x41;
    v4[8] = 0x81;
    let mut v1 = v4;
    v1[6] = 0x11;
    vec![
        "abc".to_owned(),
        "not-a-cart-id".to_owned(),
        "1".to_owned(),
        uuid::Uuid::new_v4().to_string(),
        valid[..valid.len() - 1].to_owned(),
        format!("{valid}A"),
        "+".repeat(32),
        "%FF%FE".to_owned(),
        // Well formed, but the owner cannot be a user id, or the token is not a v4 UUID.
        raw_cart_id(v4, ""),
        raw_cart_id(v4, "a#b"),
        raw_cart_id(v4, "caf\u{e9}"),
        raw_cart_id(v4, &"u".repeat(129)),
        raw_cart_id(v1, "7"),
    ]
}

#[tokio::test]
async fn path_cart_ids_that_cannot_be_ids_are_404s_like_unknown_carts_and_item_ids_are_400s() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;

    for bad in impossible_cart_ids() {
        // Act
        let viewed = app.view_cart(&bad).await;
        let added = app
            .call::<AddCartItem>(
                ApiRequest::add_cart_item(&bad)
                    .json(json!({"user_id": 7, "item_id": 1, "quantity": 1})),
            )
            .await;
        let removed = app
            .call::<RemoveCartItem>(ApiRequest::remove_cart_item(&bad, "1").query("user_id", 7))
            .await;

        // Assert: the path names no cart, exactly as an unknown id does.
        let unknown = app.view_cart(&forged(&id)).await;
        for response in [viewed, added, removed] {
            response.assert_problem(404, "cart_not_found");
            assert_eq!(response.text, unknown.text, "{bad}");
        }
    }
    for bad in [
        "abc",
        "0",
        "-1",
        "1.5",
        "1e3",
        "%201",
        "9007199254740992",
        "99999999999999999999",
        "%FF",
    ] {
        // Act
        let response = app
            .call::<RemoveCartItem>(ApiRequest::remove_cart_item(&id, bad).query("user_id", 7))
            .await;

        // Assert
        response.assert_problem(400, "invalid_request");
        assert_eq!(
            response.body["field"], "item_id",
            "{bad}: {}",
            response.text
        );
    }
    assert_eq!(stored(&app, &id).await, before);
}

// ---------------------------------------------------------------------------------------------
// add-cart-item

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

// ---------------------------------------------------------------------------------------------
// remove-cart-item

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
        json!({"id": id, "user_id": "7", "items": [], "lines": [], "total": 0, "version": 4})
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

// ---------------------------------------------------------------------------------------------
// Input rules

/// JSON literals that are not item ids.
const BAD_ITEM_IDS: [&str; 26] = [
    "1.5",
    "1.0",
    "1e3",
    "-0",
    "true",
    "false",
    "null",
    "-1",
    "0",
    "9007199254740992",
    "18446744073709551615",
    "18446744073709551616",
    r#""9007199254740992""#,
    r#""99999999999999999999""#,
    r#""-4""#,
    r#""+4""#,
    r#""0""#,
    r#""4 2""#,
    r#"" 7""#,
    r#""7abc""#,
    r#""abc""#,
    r#""""#,
    r#""1e3""#,
    r#""٧""#,
    "[7]",
    r#"{"id": 7}"#,
];

/// JSON literals that are not user ids: user ids are 1 to 128 characters of
/// `A-Z a-z 0-9 . _ : @ | + -`, or the original API's positive integers.
const BAD_USER_IDS: [&str; 17] = [
    "1.5",
    "1.0",
    "1e3",
    "-0",
    "true",
    "null",
    "-1",
    "0",
    "9007199254740992",
    "18446744073709551616",
    r#""""#,
    r#""4 2""#,
    r#"" 7""#,
    r#""a#b""#,
    r#""٧""#,
    "[7]",
    r#"{"id": 7}"#,
];

/// JSON literals that are not quantities.
const BAD_QUANTITIES: [&str; 11] = [
    "0",
    "10001",
    "1.5",
    "2.0",
    r#""3""#,
    "-1",
    "true",
    "null",
    "[1]",
    "18446744073709551616",
    "1e2",
];

#[tokio::test]
async fn ids_and_quantities_that_break_the_input_rules_are_refused_naming_the_field() {
    // Arrange: iam mode, where the body names the user and must (the original contract).
    let app = TestApp::spawn().await.in_iam_mode();
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    // (endpoint, field, body)
    let mut cases: Vec<(&str, &str, String)> = Vec::new();
    for bad in BAD_USER_IDS {
        cases.push(("create", "user_id", format!(r#"{{"user_id": {bad}}}"#)));
        cases.push((
            "add",
            "user_id",
            format!(r#"{{"user_id": {bad}, "item_id": 1, "quantity": 1}}"#),
        ));
        cases.push(("remove", "user_id", format!(r#"{{"user_id": {bad}}}"#)));
    }
    for bad in BAD_ITEM_IDS {
        cases.push((
            "add",
            "item_id",
            format!(r#"{{"user_id": 7, "item_id": {bad}, "quantity": 1}}"#),
        ));
    }
    for bad in BAD_QUANTITIES {
        cases.push((
            "add",
            "quantity",
            format!(r#"{{"user_id": 7, "item_id": 1, "quantity": {bad}}}"#),
        ));
    }
    cases.push(("create", "user_id", "{}".to_owned()));
    cases.push((
        "add",
        "user_id",
        r#"{"item_id": 1, "quantity": 1}"#.to_owned(),
    ));
    cases.push((
        "add",
        "item_id",
        r#"{"user_id": 7, "quantity": 1}"#.to_owned(),
    ));
    cases.push((
        "add",
        "quantity",
        r#"{"user_id": 7, "item_id": 1}"#.to_owned(),
    ));

    for (endpoint, field, body) in &cases {
        // Act
        let response = match *endpoint {
            "create" => {
                app.call::<CreateCart>(create_event("/api/v1/cart/").text(body))
                    .await
            }
            "add" => {
                app.call::<AddCartItem>(ApiRequest::add_cart_item(&id).text(body))
                    .await
            }
            _ => {
                app.call::<RemoveCartItem>(ApiRequest::remove_cart_item(&id, "1").text(body))
                    .await
            }
        };

        // Assert
        response.assert_problem(400, "invalid_request");
        assert_eq!(
            response.body["field"], *field,
            "{endpoint} {body}: {}",
            response.text
        );
    }
    // The same rules for `?user_id=`.
    let too_long = "u".repeat(129);
    for bad in ["", " 7", "a#b", "a/b", "caf\u{e9}", "%", too_long.as_str()] {
        let response = app
            .call::<RemoveCartItem>(ApiRequest::remove_cart_item(&id, "1").query("user_id", bad))
            .await;
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], "user_id", "?user_id={bad:?}");
    }
    assert_eq!(stored(&app, &id).await, before, "nothing changed");
    assert_eq!(app.cart_count().await, 1, "no cart was created");
}

#[tokio::test]
async fn ids_and_quantities_at_the_limits_of_the_rules_are_accepted() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 20_000), ("Mussels - Frozen", 1470, 3)])
        .await;

    // Act and assert: the largest integer user id, as a number and as digits, which mean the
    // same user.
    let response = app.create_cart(json!(MAX_SAFE_INTEGER)).await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(
        response.body["cart"]["user_id"],
        MAX_SAFE_INTEGER.to_string()
    );
    let big = response.body["cart"]["id"].as_str().unwrap().to_owned();
    let response = app.create_cart(json!(MAX_SAFE_INTEGER.to_string())).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["cart"]["id"], big);
    // The longest opaque user id.
    let longest = "u".repeat(128);
    let response = app.create_cart(json!(longest)).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let long_id = response.body["cart"]["id"].as_str().unwrap();
    assert_eq!(
        app.view_cart(long_id).await.body["cart"]["user_id"],
        longest
    );

    // Act and assert: digit strings for ids, and both ends of the quantity range.
    let id = app.new_cart(7).await;
    for (item_id, quantity) in [(json!("1"), 10_000), (json!(2), 1), (json!("2"), 1)] {
        let response = app
            .call::<AddCartItem>(
                ApiRequest::add_cart_item(&id)
                    .json(json!({"user_id": "7", "item_id": item_id, "quantity": quantity})),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let body = app.view_cart(&id).await.body;
    assert_eq!(line_of(&body, 1)["quantity"], 10_000);
    assert_eq!(line_of(&body, 2)["quantity"], 2);
    assert_eq!(body["cart"]["total"], 10_000 * 869 + 2 * 1470);
}

/// A request body as sent: text, or bytes API Gateway passes base64-encoded.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_invalid_requests() {
    // Arrange: iam mode, where the body names the user and must (the original contract).
    let app = TestApp::spawn().await.in_iam_mode();
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    let bodies = [
        ("malformed", Raw::Text(r#"{"user_id": 7"#)),
        ("trailing", Raw::Text(r#"{"user_id": 7} x"#)),
        ("single quotes", Raw::Text("{'user_id': 7}")),
        ("huge number", Raw::Text(r#"{"user_id": 1e400}"#)),
        ("array", Raw::Text(r#"[{"user_id": 7}]"#)),
        ("string", Raw::Text(r#""user_id""#)),
        ("number", Raw::Text("7")),
        ("null", Raw::Text("null")),
        ("not UTF-8", Raw::Bytes(b"{\"user_id\": \"\xff\xfe\"}")),
        ("binary", Raw::Bytes(&[0xff, 0xfe, 0x00, 0x81])),
    ];

    for (what, raw) in bodies {
        let with_body = |event: ApiRequest| match raw {
            Raw::Text(text) => event.text(text),
            Raw::Bytes(bytes) => event.bytes(bytes),
        };

        // Act
        let responses = [
            app.call::<CreateCart>(with_body(create_event("/api/v1/cart/")))
                .await,
            app.call::<CreateCart>(with_body(create_event("/api/v1/cart")))
                .await,
            app.call::<AddCartItem>(with_body(ApiRequest::add_cart_item(&id)))
                .await,
            app.call::<RemoveCartItem>(
                with_body(ApiRequest::remove_cart_item(&id, "1")).query("user_id", 7),
            )
            .await,
        ];

        // Assert
        for response in responses {
            response.assert_problem(400, "invalid_request");
            assert!(
                response.body["field"].is_null(),
                "{what}: {}",
                response.text
            );
        }
    }
    // An empty body is an empty object: the missing member is named.
    for empty in ["", "  \n"] {
        let response = app
            .call::<CreateCart>(create_event("/api/v1/cart/").text(empty))
            .await;
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], "user_id");
        let response = app
            .call::<AddCartItem>(ApiRequest::add_cart_item(&id).text(empty))
            .await;
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], "user_id");
    }
    assert_eq!(stored(&app, &id).await, before, "nothing changed");
    assert_eq!(app.cart_count().await, 1, "no cart was created");
}

/// A JSON object of exactly `size` bytes with these members and a padding member.
fn padded(members: &str, size: usize) -> String {
    let head = format!(r#"{{{members}, "padding": ""#);
    let tail = r#""}"#;
    let body = format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()));
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413_and_one_of_64_kib_is_read() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let id = app.new_cart(7).await;
    app.added(&id, 7, 1, 1).await;
    let before = stored(&app, &id).await;
    let user = r#""user_id": 7"#;
    let line = r#""user_id": 7, "item_id": 1, "quantity": 1"#;

    // Act
    let too_large = [
        app.call::<CreateCart>(
            create_event("/api/v1/cart/").text(&padded(r#""user_id": 9"#, BODY_LIMIT + 1)),
        )
        .await,
        app.call::<AddCartItem>(ApiRequest::add_cart_item(&id).text(&padded(line, BODY_LIMIT + 1)))
            .await,
        app.call::<AddCartItem>(ApiRequest::add_cart_item(&id).bytes(&[0xff; BODY_LIMIT + 1]))
            .await,
        app.call::<RemoveCartItem>(
            ApiRequest::remove_cart_item(&id, "1").text(&padded(user, 4 * BODY_LIMIT)),
        )
        .await,
    ];

    // Assert
    for response in too_large {
        response.assert_problem(413, "payload_too_large");
        assert_eq!(response.body["limit"], BODY_LIMIT);
    }
    assert_eq!(stored(&app, &id).await, before, "nothing changed");
    assert_eq!(app.cart_count().await, 1, "no cart was created");

    // Act and assert: exactly the limit is read.
    let response = app
        .call::<CreateCart>(create_event("/api/v1/cart/").text(&padded(user, BODY_LIMIT)))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let response = app
        .call::<AddCartItem>(ApiRequest::add_cart_item(&id).text(&padded(line, BODY_LIMIT)))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let response = app
        .call::<RemoveCartItem>(
            ApiRequest::remove_cart_item(&id, "1").text(&padded(user, BODY_LIMIT)),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn unknown_json_members_are_ignored() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;

    // Act
    let created = app
        .call::<CreateCart>(
            create_event("/api/v1/cart/")
                .json(json!({"user_id": 7, "id": "mine", "items": [1, 2], "extra": {"a": [null]}})),
        )
        .await;
    let id = created.body["cart"]["id"].as_str().unwrap().to_owned();
    // A client cannot set its own price, name, or cart.
    let added = app
        .call::<AddCartItem>(ApiRequest::add_cart_item(&id).json(json!({
            "user_id": 7, "item_id": 1, "quantity": 2,
            "unit_price": 1, "price": 1, "name": "Free wine", "cart_id": "x", "total": 0
        })))
        .await;
    let removed = app
        .call::<RemoveCartItem>(
            ApiRequest::remove_cart_item(&id, "1").json(
                json!({"user_id": 7, "item_id": 99, "quantity": 1, "why": "changed my mind"}),
            ),
        )
        .await;

    // Assert
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["cart"]["items"], json!([]));
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(
        *line_of(&app.unheld(added.body.clone()), 1),
        json!({"item_id": 1, "name": "Wine - Port", "quantity": 2, "unit_price": 869})
    );
    assert_eq!(added.body["cart"]["total"], 2 * 869);
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["cart"]["items"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Storage

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
