//! The idempotency key and the user: where the key is read, its rules, its scope, the replay of
//! the first answer, and what a key stays bound to.

use purchase_cart::PurchaseCart;
use serde_json::{json, Value};
use shared::domain::CartId;
use testkit::{ApiRequest, TestApp};

use super::{
    assert_fresh_success, assert_replayed, lines_of, order_count, order_id_of,
    purchase_with_body_key, stock_of, user, world,
};

#[tokio::test]
async fn the_key_is_read_from_the_header_or_the_body_and_both_given_must_agree() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 50)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let both = |header: &str, body: Value| {
        ApiRequest::purchase_cart(&cart)
            .header("Idempotency-Key", header)
            .json(json!({ "user_id": 7, "idempotency_key": body }))
    };

    // Act + Assert: a key in the body alone is read.
    let from_body = purchase_with_body_key(&app, &cart, 7, "key-a").await;
    assert_fresh_success(&from_body);

    // The header and the body name the same keys.
    let same_key_in_header = app.purchase(&cart, 7, "key-a").await;
    assert_replayed(&same_key_in_header, &from_body);
    let same_key_in_both = app
        .call::<PurchaseCart>(both("key-a", json!("key-a")))
        .await;
    assert_replayed(&same_key_in_both, &from_body);

    // Two different keys, or a body key that is no key beside a header, are refused, and
    // nothing is bought.
    app.added(&cart, 7, 1, 2).await;
    for (header, body) in [
        ("key-b", json!("key-a")),
        ("key-a", json!("key-b")),
        ("key-c", json!(42)),
    ] {
        let refused = app.call::<PurchaseCart>(both(header, body.clone())).await;
        refused.assert_problem(400, "invalid_request");
        assert_eq!(refused.body["field"], "idempotency_key", "{header} {body}");
    }
    // Under `hold` the two added units left the stock at once.
    let held = if app.holds() { 2 } else { 0 };
    assert_eq!(stock_of(app.store(), 1).await, 50 - 1 - held);
    assert_fresh_success(&app.purchase(&cart, 7, "key-b").await);
    assert_eq!(stock_of(app.store(), 1).await, 50 - 1 - 2);
}

#[tokio::test]
async fn a_missing_empty_overlong_or_non_printable_key_is_refused_with_400() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let store = app.direct().clone();
    let before = world(&store, &cart, &[1]).await;
    let header = |key: &str| {
        ApiRequest::purchase_cart(&cart)
            .header("Idempotency-Key", key)
            .json(json!({ "user_id": 7 }))
    };
    let body = |key: Value| {
        ApiRequest::purchase_cart(&cart).json(json!({ "user_id": 7, "idempotency_key": key }))
    };
    let long = "k".repeat(256);
    let cases: Vec<(&str, ApiRequest, &str)> = vec![
        (
            "no key at all",
            ApiRequest::purchase_cart(&cart).json(json!({ "user_id": 7 })),
            "idempotency_key",
        ),
        (
            "no key and no body (the token names the user)",
            ApiRequest::purchase_cart(&cart).as_user(7),
            "idempotency_key",
        ),
        ("an empty header", header(""), "Idempotency-Key"),
        ("an empty body key", body(json!("")), "idempotency_key"),
        (
            "256 characters in the header",
            header(&long),
            "Idempotency-Key",
        ),
        (
            "256 characters in the body",
            body(json!(long)),
            "idempotency_key",
        ),
        ("a tab in the header", header("a\tb"), "Idempotency-Key"),
        ("a non-ASCII header", header("caf\u{e9}"), "Idempotency-Key"),
        (
            "a control character in the body",
            body(json!("a\u{1}b")),
            "idempotency_key",
        ),
        ("DEL in the body", body(json!("a\u{7f}")), "idempotency_key"),
        (
            "a newline in the body",
            body(json!("a\nb")),
            "idempotency_key",
        ),
        (
            "non-ASCII in the body",
            body(json!("cl\u{e9}")),
            "idempotency_key",
        ),
        (
            "a number as the body key",
            body(json!(42)),
            "idempotency_key",
        ),
        ("null as the body key", body(Value::Null), "idempotency_key"),
        (
            "an object as the body key",
            body(json!({ "k": 1 })),
            "idempotency_key",
        ),
        (
            "an empty header beside a good body key",
            ApiRequest::purchase_cart(&cart)
                .header("Idempotency-Key", "")
                .json(json!({ "user_id": 7, "idempotency_key": "good" })),
            "Idempotency-Key",
        ),
    ];

    for (what, event, field) in cases {
        // Act
        let (r, requests) = app.requests_during(app.call::<PurchaseCart>(event)).await;

        // Assert
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], field, "{what}: {}", r.text);
        assert_eq!(requests, 0, "{what} is refused before DynamoDB is asked");
    }
    assert_eq!(world(&store, &cart, &[1]).await, before);

    // The bounds themselves are keys: 255 printable characters, spaces and symbols included.
    let longest = "~".repeat(255);
    assert_fresh_success(&app.purchase(&cart, 7, &longest).await);
    app.added(&cart, 7, 1, 1).await;
    assert_fresh_success(&purchase_with_body_key(&app, &cart, 7, " !\"#$%&'()*+,-./ ~").await);
}

#[tokio::test]
async fn the_user_id_is_an_integer_or_a_digit_string() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;

    // Act + Assert: malformed user ids are refused, naming the field.
    for bad in [
        json!(0),
        json!(-7),
        json!(7.5),
        json!(7.0),
        json!("7 a"),
        json!(" 7"),
        json!("a#7"),
        json!(""),
        json!("u".repeat(129)),
        json!(true),
        json!(null),
        json!([7]),
    ] {
        let r = app
            .call::<PurchaseCart>(
                ApiRequest::purchase_cart(&cart)
                    .header("Idempotency-Key", "k")
                    .json(json!({ "user_id": bad })),
            )
            .await;
        r.assert_problem(400, "invalid_request");
        assert_eq!(r.body["field"], "user_id", "{bad}: {}", r.text);
    }

    // A digit string is the same user as the integer.
    let r = app
        .call::<PurchaseCart>(
            ApiRequest::purchase_cart(&cart)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": "7" })),
        )
        .await;
    assert_fresh_success(&r);
    assert_eq!(r.body["order"]["user_id"], "7");
    let replay = app.purchase(&cart, 7, "k").await;
    assert_replayed(&replay, &r);
}

#[tokio::test]
async fn a_purchase_of_a_cart_the_user_does_not_own_is_cart_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let _own_cart_of_8 = app.cart_with(8, &[(1, 1)]).await;
    let store = app.direct().clone();
    let before = world(&store, &cart, &[1]).await;
    let made_up = CartId::generate(user(7)).to_string();

    // Act + Assert
    let someone_else = app.purchase(&cart, 8, "k").await;
    someone_else.assert_problem(404, "cart_not_found");
    let unknown = app.purchase(&made_up, 7, "k").await;
    unknown.assert_problem(404, "cart_not_found");
    assert_eq!(someone_else.text, unknown.text);
    let malformed = app.purchase("not-a-cart", 7, "k").await;
    assert_eq!(
        malformed.text, unknown.text,
        "a path that names no cart is not found too"
    );

    assert_eq!(world(&store, &cart, &[1]).await, before);
    assert_fresh_success(&app.purchase(&cart, 7, "k").await);
}

#[tokio::test]
async fn a_repeated_key_replays_the_first_answer_byte_for_byte_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let first = app.purchase(&cart, 7, "once").await;
    assert_fresh_success(&first);
    // The cart holds something new: a replay must not buy it.
    app.added(&cart, 7, 2, 1).await;
    let store = app.direct().clone();
    let before = world(&store, &cart, &[1, 2]).await;

    // Act
    let in_header = app.purchase(&cart, 7, "once").await;
    let in_body = purchase_with_body_key(&app, &cart, 7, "once").await;
    let with_string_user = app
        .call::<PurchaseCart>(
            ApiRequest::purchase_cart(&cart)
                .header("Idempotency-Key", "once")
                .json(json!({ "user_id": "7" })),
        )
        .await;

    // Assert
    for r in [&in_header, &in_body, &with_string_user] {
        assert_replayed(r, &first);
    }
    assert_eq!(world(&store, &cart, &[1, 2]).await, before);
    assert_eq!(lines_of(&before.cart), [(2, 1, 1470)]);
}

#[tokio::test]
async fn the_same_key_from_another_user_is_another_key() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart_of_7 = app.cart_with(7, &[(1, 2)]).await;
    let cart_of_8 = app.cart_with(8, &[(1, 1)]).await;
    let first = app.purchase(&cart_of_7, 7, "shared-key").await;
    assert_fresh_success(&first);

    // Act + Assert: user 8's key does not open user 7's purchase...
    let prying = app.purchase(&cart_of_7, 8, "shared-key").await;
    prying.assert_problem(404, "cart_not_found");
    assert!(!prying.text.contains(&order_id_of(&first)));

    // ...and buys user 8's own cart.
    let own = app.purchase(&cart_of_8, 8, "shared-key").await;
    assert_fresh_success(&own);
    assert_ne!(order_id_of(&own), order_id_of(&first));
    assert_eq!(own.body["order"]["user_id"], "8");
    assert_eq!(own.body["order"]["cart_id"], cart_of_8);
    assert_eq!(stock_of(app.store(), 1).await, 2);
}

#[tokio::test]
async fn a_key_that_bought_one_cart_is_refused_for_another_with_422() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart_of_7 = app.cart_with(7, &[(1, 1)]).await;
    let cart_of_8 = app.cart_with(8, &[(1, 2)]).await;
    let first = app.purchase(&cart_of_7, 7, "used").await;
    assert_fresh_success(&first);
    let store = app.direct().clone();
    let before = world(&store, &cart_of_8, &[1]).await;

    // Act: user 7's used key, for user 8's cart and for a cart id user 7 never had. The key is
    // resolved before the owner is checked, so both are 422, not 404.
    let for_other_users_cart = app.purchase(&cart_of_8, 7, "used").await;
    let made_up = CartId::generate(user(7)).to_string();
    let for_made_up_cart = app.purchase(&made_up, 7, "used").await;

    // Assert
    for_other_users_cart.assert_problem(422, "idempotency_key_reused");
    for_made_up_cart.assert_problem(422, "idempotency_key_reused");
    assert!(!for_other_users_cart.text.contains(&order_id_of(&first)));
    assert_eq!(world(&store, &cart_of_8, &[1]).await, before);
    // The key still replays for the cart it bought.
    assert_replayed(&app.purchase(&cart_of_7, 7, "used").await, &first);
}

#[tokio::test]
async fn a_purchase_key_stays_bound_to_its_order_when_the_cart_is_filled_again() {
    // Arrange: a purchase; its order is the key's record, and it does not expire.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let first = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&first);
    let store = app.direct().clone();
    let orders = app.stored_orders().await;
    assert_eq!(orders.len(), 1);
    assert!(orders[0].get("expires_at").is_none());
    app.added(&cart, 7, 1, 2).await;
    let before = world(&store, &cart, &[1]).await;

    // Act
    let again = app.purchase(&cart, 7, "k").await;

    // Assert: the first purchase again; the refilled cart is untouched, and a new key buys it.
    assert_replayed(&again, &first);
    assert_eq!(world(&store, &cart, &[1]).await, before);
    let second = app.purchase(&cart, 7, "k2").await;
    assert_fresh_success(&second);
    assert_ne!(order_id_of(&second), order_id_of(&first));
    assert_eq!(second.body["order"]["lines"][0]["quantity"], 2);
    assert_eq!(order_count(&store).await, 2);
}
