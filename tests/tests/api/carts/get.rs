//! get-cart: a cart with its lines and total; unknown cart ids, and path ids that cannot be ids.

use add_cart_item::AddCartItem;
use remove_cart_item::RemoveCartItem;
use serde_json::json;
use shared::domain::CartId;
use testkit::{ApiRequest, TestApp};

use super::{forged, raw_cart_id, stored, user, MAX_SAFE_INTEGER};

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
            "subtotal": 5 * 250 + 2 * 869,
            "discount": null,
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
