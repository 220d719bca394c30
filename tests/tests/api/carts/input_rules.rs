//! The input rules: ids, quantities and bodies refused (naming the field) or accepted at their
//! limits; the 64 KiB body limit.

use add_cart_item::AddCartItem;
use create_cart::CreateCart;
use remove_cart_item::RemoveCartItem;
use serde_json::json;
use testkit::{ApiRequest, TestApp};

use super::{create_event, line_of, stored, BODY_LIMIT, MAX_SAFE_INTEGER};

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
