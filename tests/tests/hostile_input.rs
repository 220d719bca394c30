//! Hostile and malformed input, over every endpoint: each answers a 4xx problem without
//! internals, and changes nothing. And every cart and order endpoint refuses another user.

use add_cart_item::AddCartItem;
use admin_create_item::AdminCreateItem;
use admin_update_item::AdminUpdateItem;
use create_cart::CreateCart;
use get_cart::GetCart;
use get_order::GetOrder;
use integration_tests::{Event, TestApp, TestResponse};
use lambda_http::Request;
use list_items::ListItems;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde_json::{json, Value};
use shared::http::Endpoint;

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
    let create = |user: u64| {
        Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")
            .json(json!({"user_id": user}))
            .build()
    };
    let cart = app.call::<CreateCart>(create(7)).await.body["cart"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_cart = app.call::<CreateCart>(create(8)).await.body["cart"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (cart, user) in [(&cart, 7), (&other_cart, 8)] {
        let add = add_event(cart)
            .json(json!({"user_id": user, "item_id": 1, "quantity": 1}))
            .build();
        assert_eq!(app.call::<AddCartItem>(add).await.status, 200);
    }
    let bought = app
        .call::<PurchaseCart>(
            purchase_event(&other_cart)
                .header("Idempotency-Key", "first")
                .json(json!({"user_id": 8}))
                .build(),
        )
        .await;
    let order = bought.body["order"]["id"].as_str().unwrap().to_owned();
    let add = add_event(&other_cart)
        .json(json!({"user_id": 8, "item_id": 2, "quantity": 2}))
        .build();
    assert_eq!(app.call::<AddCartItem>(add).await.status, 200);
    World {
        app,
        cart,
        other_cart,
        order,
    }
}

fn add_event(cart: &str) -> Event {
    Event::new(
        "POST",
        "/api/v1/cart/{cart_id}/items",
        &format!("/api/v1/cart/{cart}/items"),
    )
    .path_param("cart_id", cart)
}

fn purchase_event(cart: &str) -> Event {
    Event::new(
        "POST",
        "/api/v1/cart/{cart_id}/purchase",
        &format!("/api/v1/cart/{cart}/purchase"),
    )
    .path_param("cart_id", cart)
}

fn remove_event(cart: &str, item: &str) -> Event {
    Event::new(
        "DELETE",
        "/api/v1/cart/{cart_id}/items/{item_id}",
        &format!("/api/v1/cart/{cart}/items/{item}"),
    )
    .path_param("cart_id", cart)
    .path_param("item_id", item)
}

fn get_cart_event(cart: &str) -> Event {
    Event::new(
        "GET",
        "/api/v1/cart/{cart_id}",
        &format!("/api/v1/cart/{cart}"),
    )
    .path_param("cart_id", cart)
}

fn get_order_event(order: &str) -> Event {
    Event::new(
        "GET",
        "/api/v1/orders/{order_id}",
        &format!("/api/v1/orders/{order}"),
    )
    .path_param("order_id", order)
}

fn update_event(item: &str) -> Event {
    Event::new(
        "PATCH",
        "/api/v1/admin/items/{item_id}",
        &format!("/api/v1/admin/items/{item}"),
    )
    .path_param("item_id", item)
    .with_iam()
}

/// Everything a test can see of the stored state: both carts, both items, the order count.
async fn snapshot(world: &World) -> Value {
    let mut state = vec![];
    for cart in [&world.cart, &world.other_cart] {
        state.push(
            world
                .app
                .call::<GetCart>(get_cart_event(cart).build())
                .await
                .body,
        );
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
    let app = &world.app;
    let with = |event: Event| event.bytes(body).build();
    match endpoint {
        "create-cart" => {
            app.call::<CreateCart>(with(Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")))
                .await
        }
        "add-cart-item" => app.call::<AddCartItem>(with(add_event(&world.cart))).await,
        "remove-cart-item" => {
            app.call::<RemoveCartItem>(with(remove_event(&world.cart, "1")))
                .await
        }
        "purchase-cart" => {
            app.call::<PurchaseCart>(with(
                purchase_event(&world.cart).header("Idempotency-Key", "hostile"),
            ))
            .await
        }
        "admin-create-item" => {
            app.call::<AdminCreateItem>(with(
                Event::new("POST", "/api/v1/admin/items", "/api/v1/admin/items").with_iam(),
            ))
            .await
        }
        "admin-update-item" => app.call::<AdminUpdateItem>(with(update_event("1"))).await,
        other => unreachable!("{other}"),
    }
}

#[tokio::test]
async fn hostile_bodies_are_4xx_problems_on_every_endpoint_that_reads_a_body_and_change_nothing() {
    let world = world().await;
    let before = snapshot(&world).await;

    for endpoint in [
        "create-cart",
        "add-cart-item",
        "remove-cart-item",
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
async fn hostile_path_and_query_values_are_400_problems_and_change_nothing() {
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
        let responses = [
            app.call::<GetCart>(get_cart_event(bad).build()).await,
            app.call::<AddCartItem>(
                add_event(bad)
                    .json(json!({"user_id": 7, "item_id": 1, "quantity": 1}))
                    .build(),
            )
            .await,
            app.call::<RemoveCartItem>(remove_event(bad, "1").query("user_id", 7).build())
                .await,
            app.call::<RemoveCartItem>(remove_event(&world.cart, bad).query("user_id", 7).build())
                .await,
            app.call::<PurchaseCart>(
                purchase_event(bad)
                    .header("Idempotency-Key", "k")
                    .json(json!({"user_id": 7}))
                    .build(),
            )
            .await,
            app.call::<GetOrder>(get_order_event(bad).query("user_id", 7).build())
                .await,
            app.call::<GetOrder>(get_order_event(&world.order).query("user_id", bad).build())
                .await,
            app.call::<AdminUpdateItem>(update_event(bad).json(json!({"price": 1})).build())
                .await,
        ];
        for response in responses {
            response.assert_problem(400, "invalid_request");
        }
    }
    let long_key = "k".repeat(256);
    for key in ["", long_key.as_str(), "tab\tkey", "new\nline"] {
        let response = app
            .call::<PurchaseCart>(
                purchase_event(&world.cart)
                    .json(json!({"user_id": 7, "idempotency_key": key}))
                    .build(),
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
        let mut event = Event::new("GET", "/api/v1/items", "/api/v1/items");
        for (k, v) in query {
            event = event.query(k, v);
        }
        app.call::<ListItems>(event.build())
            .await
            .assert_problem(400, "invalid_request");
    }

    assert_eq!(snapshot(&world).await, before, "nothing changed");
}

async fn as_user<E: Endpoint>(app: &TestApp, request: Request) -> TestResponse {
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
            add_event(theirs)
                .json(json!({"user_id": 7, "item_id": 1, "quantity": 1}))
                .build(),
        )
        .await,
        as_user::<RemoveCartItem>(app, remove_event(theirs, "2").query("user_id", 7).build()).await,
        as_user::<RemoveCartItem>(
            app,
            remove_event(theirs, "2")
                .json(json!({"user_id": "7"}))
                .build(),
        )
        .await,
        as_user::<PurchaseCart>(
            app,
            purchase_event(theirs)
                .header("Idempotency-Key", "steal")
                .json(json!({"user_id": 7}))
                .build(),
        )
        .await,
        as_user::<GetOrder>(
            app,
            get_order_event(&world.order).query("user_id", 7).build(),
        )
        .await,
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
            purchase_event(&world.cart)
                .header("Idempotency-Key", "first")
                .json(json!({"user_id": 7}))
                .build(),
        )
        .await;
    assert_ne!(replay_attempt.body["order"]["id"], json!(world.order));
    assert_eq!(
        replay_attempt.status, 200,
        "user 7's own purchase: {}",
        replay_attempt.text
    );

    let after = snapshot(&world).await;
    assert_eq!(after[1], before[1], "the other user's cart is untouched");
    assert_eq!(after[3], before[3], "item 2 is untouched");
}
