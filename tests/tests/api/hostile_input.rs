//! Hostile and malformed input, over every endpoint: each answers a 4xx problem without
//! internals, and changes nothing. And every cart and order endpoint refuses another user.

use add_cart_item::AddCartItem;
use admin_update_item::AdminUpdateItem;
use get_cart::GetCart;
use get_order::GetOrder;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde_json::{json, Value};
use shared::http::Endpoint;
use testkit::{ApiRequest, TestApp, TestResponse};

/// A world to attack: two users with a cart each, one order, a small catalog.
struct World {
    app: TestApp,
    cart: String,
    other_cart: String,
    order: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let other_cart = app.cart_with(8, &[(1, 1)]).await;
    let bought = app.purchase(&other_cart, 8, "first").await;
    let order = bought.body["order"]["id"].as_str().unwrap().to_owned();
    app.added(&other_cart, 8, 2, 2).await;
    World {
        app,
        cart,
        other_cart,
        order,
    }
}

/// Everything a test can see of the stored state: both carts, both items, the order count.
async fn snapshot(world: &World) -> Value {
    let mut state = vec![];
    for cart in [&world.cart, &world.other_cart] {
        state.push(world.app.view_cart(cart).await.body);
    }
    for id in [1, 2] {
        state.push(json!(format!("{:?}", world.app.item(id).await)));
    }
    state.push(json!(world.app.order_count().await));
    Value::Array(state)
}

/// Bodies that are not what any endpoint accepts.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("malformed JSON", b"{\"user_id\": ".to_vec()),
        ("trailing garbage", b"{\"user_id\": 7} x".to_vec()),
        ("not UTF-8", vec![0x7b, 0xff, 0xfe, 0x7d]),
        ("a JSON array", b"[7]".to_vec()),
        ("a JSON string", b"\"7\"".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("a huge number", b"{\"user_id\": 1e400, \"item_id\": 1e400, \"quantity\": 1e400, \"name\": 1e400, \"price\": 1e400}".to_vec()),
        ("wrong types", b"{\"user_id\": {}, \"item_id\": [], \"quantity\": \"x\", \"name\": [], \"price\": {}, \"idempotency_key\": 5}".to_vec()),
        ("booleans", b"{\"user_id\": true, \"item_id\": false, \"quantity\": true, \"name\": true, \"price\": true}".to_vec()),
        ("floats", b"{\"user_id\": 7.0, \"item_id\": 1.5, \"quantity\": 1.0, \"name\": \"A\", \"price\": 1.25, \"quantity_\": 0}".to_vec()),
        ("negatives", b"{\"user_id\": -7, \"item_id\": -1, \"quantity\": -1, \"name\": \"A\", \"price\": -1}".to_vec()),
        ("zeros", b"{\"user_id\": 0, \"item_id\": 0, \"quantity\": 0, \"name\": \"\", \"price\": -0}".to_vec()),
        ("out of range", b"{\"user_id\": 9007199254740992, \"item_id\": 18446744073709551616, \"quantity\": 10001, \"name\": \"A\", \"price\": 100000001}".to_vec()),
        ("deep nesting", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("over 64 KiB", format!("{{\"user_id\": 7, \"pad\": \"{}\"}}", "x".repeat(70_000)).into_bytes()),
    ]
}

async fn call_with_body(world: &World, endpoint: &str, body: &[u8]) -> TestResponse {
    let request = match endpoint {
        "create-cart" => ApiRequest::create_cart(),
        "add-cart-item" => ApiRequest::add_cart_item(&world.cart),
        "remove-cart-item" => ApiRequest::remove_cart_item(&world.cart, "1"),
        "set-cart-item" => ApiRequest::set_cart_item(&world.cart, "1"),
        "purchase-cart" => {
            ApiRequest::purchase_cart(&world.cart).header("Idempotency-Key", "hostile")
        }
        "admin-create-item" => ApiRequest::admin_create_item(),
        "admin-update-item" => ApiRequest::admin_update_item("1"),
        other => unreachable!("{other}"),
    };
    world.app.call_function(endpoint, request.bytes(body)).await
}

#[tokio::test]
async fn hostile_bodies_are_4xx_problems_on_every_endpoint_that_reads_a_body_and_change_nothing() {
    let world = world().await;
    let before = snapshot(&world).await;

    for endpoint in [
        "create-cart",
        "add-cart-item",
        "remove-cart-item",
        "set-cart-item",
        "purchase-cart",
        "admin-create-item",
        "admin-update-item",
    ] {
        for (what, body) in hostile_bodies() {
            let response = call_with_body(&world, endpoint, &body).await;
            let expected = if what == "over 64 KiB" { 413 } else { 400 };
            assert_eq!(
                response.status, expected,
                "{endpoint} with {what}: {}",
                response.text
            );
            response.assert_problem(
                expected,
                if expected == 413 {
                    "payload_too_large"
                } else {
                    "invalid_request"
                },
            );
        }
    }

    assert_eq!(snapshot(&world).await, before, "nothing changed");
}

fn overlong(n: usize) -> String {
    "9".repeat(n)
}

#[tokio::test]
async fn hostile_path_and_query_values_are_4xx_problems_and_change_nothing() {
    let world = world().await;
    let before = snapshot(&world).await;
    let app = &world.app;
    let long = overlong(300);
    let bad_ids = [
        "",
        "0",
        "-1",
        "1.5",
        "abc",
        "%00",
        "😀",
        "9007199254740992",
        long.as_str(),
        "../../etc/passwd",
        "AAAA' OR '1'='1",
    ];

    for bad in bad_ids {
        // A cart or order id that cannot be one names nothing: 404, as an unknown one.
        let not_found = [
            app.call::<GetCart>(ApiRequest::get_cart(bad)).await,
            app.call::<AddCartItem>(
                ApiRequest::add_cart_item(bad)
                    .json(json!({"user_id": 7, "item_id": 1, "quantity": 1})),
            )
            .await,
            app.call::<RemoveCartItem>(ApiRequest::remove_cart_item(bad, "1").query("user_id", 7))
                .await,
            app.send(
                ApiRequest::set_cart_item(bad, "1").json(json!({"user_id": 7, "quantity": 1})),
            )
            .await,
            app.call::<PurchaseCart>(
                ApiRequest::purchase_cart(bad)
                    .header("Idempotency-Key", "k")
                    .json(json!({"user_id": 7})),
            )
            .await,
            app.call::<GetOrder>(ApiRequest::get_order(bad).query("user_id", 7))
                .await,
        ];
        for response in not_found {
            let code = response.body["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                ["cart_not_found", "order_not_found"].contains(&&*code),
                "{bad}: {code}"
            );
            response.assert_problem(404, &code);
        }
        // An item id that cannot be one is a 400 naming it.
        let invalid = [
            app.call::<RemoveCartItem>(
                ApiRequest::remove_cart_item(&world.cart, bad).query("user_id", 7),
            )
            .await,
            app.call::<AdminUpdateItem>(
                ApiRequest::admin_update_item(bad).json(json!({"price": 1})),
            )
            .await,
            app.send(ApiRequest::set_cart_item(&world.cart, bad).json(json!({"quantity": 1})))
                .await,
        ];
        for response in invalid {
            response.assert_problem(400, "invalid_request");
        }
    }
    // A user id is 1 to 128 characters of `A-Z a-z 0-9 . _ : @ | + -`: anything else in the
    // query is refused, whoever asks.
    for bad in [
        "",
        "%00",
        "😀",
        &overlong(129),
        "../../etc/passwd",
        "AAAA' OR '1'='1",
    ] {
        let response = app
            .call::<GetOrder>(
                ApiRequest::get_order(&world.order)
                    .query("user_id", bad)
                    .as_user(8),
            )
            .await;
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], "user_id", "?user_id={bad}");
    }
    let long_key = "k".repeat(256);
    for key in ["", long_key.as_str(), "tab\tkey", "new\nline"] {
        let response = app
            .call::<PurchaseCart>(
                ApiRequest::purchase_cart(&world.cart)
                    .json(json!({"user_id": 7, "idempotency_key": key})),
            )
            .await;
        response.assert_problem(400, "invalid_request");
    }
    for query in [
        vec![("limit", "0")],
        vec![("cursor", "AAAA")],
        vec![("min_value", "x")],
        vec![("name", long.as_str())],
    ] {
        app.list(&query)
            .await
            .assert_problem(400, "invalid_request");
    }
    for query in [
        vec![("limit", "0")],
        vec![("limit", long.as_str())],
        vec![("cursor", "AAAA")],
        vec![("cursor", long.as_str())],
        vec![("cursor", "%00")],
        vec![("limit", "1"), ("limit", "2")],
    ] {
        app.orders(7, &query)
            .await
            .assert_problem(400, "invalid_request");
    }

    assert_eq!(snapshot(&world).await, before, "nothing changed");
}

async fn as_user<E: Endpoint>(app: &TestApp, request: ApiRequest) -> TestResponse {
    app.call::<E>(request).await
}

#[tokio::test]
async fn every_cart_and_order_endpoint_refuses_another_user_with_a_404_and_changes_nothing() {
    let world = world().await;
    let before = snapshot(&world).await;
    let app = &world.app;
    let theirs = &world.other_cart;

    let attempts = [
        as_user::<AddCartItem>(
            app,
            ApiRequest::add_cart_item(theirs)
                .json(json!({"user_id": 7, "item_id": 1, "quantity": 1})),
        )
        .await,
        as_user::<RemoveCartItem>(
            app,
            ApiRequest::remove_cart_item(theirs, "2").query("user_id", 7),
        )
        .await,
        as_user::<RemoveCartItem>(
            app,
            ApiRequest::remove_cart_item(theirs, "2").json(json!({"user_id": "7"})),
        )
        .await,
        app.send(ApiRequest::set(theirs, 7, 2, 1)).await,
        as_user::<PurchaseCart>(
            app,
            ApiRequest::purchase_cart(theirs)
                .header("Idempotency-Key", "steal")
                .json(json!({"user_id": 7})),
        )
        .await,
        as_user::<GetOrder>(app, ApiRequest::get_order(&world.order).query("user_id", 7)).await,
    ];
    let codes: Vec<&str> = attempts
        .iter()
        .map(|r| r.body["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "cart_not_found",
            "cart_not_found",
            "cart_not_found",
            "cart_not_found",
            "cart_not_found",
            "order_not_found"
        ]
    );
    for response in &attempts {
        assert_eq!(response.status, 404);
        response.assert_problem(404, response.body["code"].as_str().unwrap());
    }

    // The same idempotency key string from another user never replays the first user's order.
    let replay_attempt = app
        .call::<PurchaseCart>(
            ApiRequest::purchase_cart(&world.cart)
                .header("Idempotency-Key", "first")
                .json(json!({"user_id": 7})),
        )
        .await;
    assert_ne!(replay_attempt.body["order"]["id"], json!(world.order));
    assert_eq!(
        replay_attempt.status, 200,
        "user 7's own purchase: {}",
        replay_attempt.text
    );

    // Orders are listed for their owner alone.
    let history = app.orders(7, &[]).await;
    let listed: Vec<&Value> = history.body["orders"].as_array().unwrap().iter().collect();
    assert!(
        listed.iter().all(|o| o["user_id"] == "7"),
        "{}",
        history.text
    );
    assert!(!listed.iter().any(|o| o["id"] == json!(world.order)));

    let after = snapshot(&world).await;
    assert_eq!(after[1], before[1], "the other user's cart is untouched");
    assert_eq!(after[3], before[3], "item 2 is untouched");
}
