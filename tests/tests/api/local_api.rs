//! The local API as a client sees it: real HTTP through `cargo lambda watch` and its router, to
//! the real function binaries, backed by DynamoDB Local.
//!
//! These tests need the stack of `make dev` (or of `make test`, which starts it for this file):
//! they are `#[ignore]`d in the plain `cargo test` run and run with `-- --ignored`. `API_URL`
//! says where the API answers (default http://127.0.0.1:9000).

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

fn api(path: &str) -> String {
    let base = std::env::var("API_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
    format!("{}{path}", base.trim_end_matches('/'))
}

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client.request(method, api(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the local API answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A user id no earlier run used (the local tables persist while DynamoDB Local runs).
fn fresh_user() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos % 1_000_000_000_000) as u64 + 1
}

#[tokio::test]
#[ignore = "needs the local API (make dev, or make test)"]
async fn a_shopper_lists_fills_a_cart_and_buys_it_over_http() {
    let client = Client::new();

    // The admin adds an item (local development allows admin without IAM).
    let name = format!("Tea - Local Blend {}", fresh_user());
    let (status, _, created) = send(
        &client,
        Method::POST,
        "/api/v1/admin/items",
        Some(json!({"name": name, "price": 1250, "quantity": 5})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let item_id = created["item"]["id"].as_u64().unwrap();

    let (status, _, page) = send(
        &client,
        Method::GET,
        &format!("/api/v1/items?name={}&limit=5", name.replace(' ', "%20")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], item_id);

    let (status, _, price_page) = send(
        &client,
        Method::GET,
        "/api/v1/items?min_value=1000&max_value=2000&limit=3",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(price_page["items"].as_array().unwrap().len() <= 3);

    let user = fresh_user();
    let (status, _, cart) = send(
        &client,
        Method::POST,
        "/api/v1/cart/",
        Some(json!({"user_id": user})),
    )
    .await;
    assert_eq!(status, 201, "{cart}");
    let cart_id = cart["cart"]["id"].as_str().unwrap().to_owned();
    let (status, _, again) = send(
        &client,
        Method::POST,
        "/api/v1/cart",
        Some(json!({"user_id": user.to_string()})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["cart"]["id"], cart_id.as_str());

    let (status, _, added) = send(
        &client,
        Method::POST,
        &format!("/api/v1/cart/{cart_id}/items"),
        Some(json!({"user_id": user, "item_id": item_id, "quantity": 2})),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["cart"]["total"], 2500);

    let (status, _, viewed) = send(
        &client,
        Method::GET,
        &format!("/api/v1/cart/{cart_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(viewed["cart"]["items"], json!([item_id]));

    let (status, _, removed) = send(
        &client,
        Method::DELETE,
        &format!("/api/v1/cart/{cart_id}/items/{item_id}?user_id={user}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["cart"]["items"], json!([]));
    send(
        &client,
        Method::POST,
        &format!("/api/v1/cart/{cart_id}/items"),
        Some(json!({"user_id": user, "item_id": item_id, "quantity": 2})),
    )
    .await;

    let key = format!("local-{user}");
    let purchase = |key: String| {
        let client = client.clone();
        let cart_id = cart_id.clone();
        async move {
            let response = client
                .post(api(&format!("/api/v1/cart/{cart_id}/purchase")))
                .header("Idempotency-Key", key)
                .json(&json!({"user_id": user}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (status, replayed, response.text().await.unwrap())
        }
    };
    let (status, replayed, first) = purchase(key.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    let (status, replayed, second) = purchase(key.clone()).await;
    assert_eq!(status, 200);
    assert!(replayed);
    assert_eq!(first, second, "a replay is byte-identical");

    let order: Value = serde_json::from_str(&first).unwrap();
    let order_id = order["order"]["id"].as_str().unwrap();
    let (status, _, fetched) = send(
        &client,
        Method::GET,
        &format!("/api/v1/orders/{order_id}?user_id={user}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["order"], order["order"]);
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("/api/v1/orders/{order_id}?user_id={}", user + 1),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, _, item) = send(
        &client,
        Method::PATCH,
        &format!("/api/v1/admin/items/{item_id}"),
        Some(json!({"quantity": 9})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(item["item"]["quantity"], 9);
}

#[tokio::test]
#[ignore = "needs the local API (make dev, or make test)"]
async fn bad_input_over_http_is_a_problem_document() {
    let client = Client::new();
    let cases: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::GET, "/api/v1/items?limit=0", None, 400),
        (Method::GET, "/api/v1/items?cursor=forged", None, 400),
        (
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"user_id": 1.5})),
            400,
        ),
        (Method::GET, "/api/v1/cart/not-a-cart-id", None, 400),
        (
            Method::GET,
            "/api/v1/orders/not-an-order?user_id=1",
            None,
            400,
        ),
    ];
    for (method, path, body, status) in cases {
        let mut request = client.request(method, api(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_request", "{path}");
    }

    let response = client
        .post(api("/api/v1/cart/"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
