//! The local API as a client sees it: real HTTP through `cargo lambda watch` and its router, to
//! the real function binaries, backed by DynamoDB Local, in `jwt` mode with tokens of the local
//! issuer (`.local/jwt/`, as `make token` mints them).
//!
//! These tests need the stack of `make dev` (or of `make test`, which starts it for this file):
//! they are `#[ignore]`d in the plain `cargo test` run and run with `-- --ignored`. `API_URL`
//! says where the API answers (default http://127.0.0.1:9000), `JWT_KEY_DIR` where the local
//! issuer's key is (default `.local/jwt` at the repository's root).

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use testkit::LocalIssuer;

fn api(path: &str) -> String {
    let base = std::env::var("API_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
    format!("{}{path}", base.trim_end_matches('/'))
}

/// An HTTP client of the local API, holding the local issuer to sign its users' tokens.
struct Local {
    client: Client,
    issuer: LocalIssuer,
}

type Answer = (StatusCode, reqwest::header::HeaderMap, Value);

impl Local {
    fn new() -> Self {
        let dir = std::env::var("JWT_KEY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| testkit::repo::root().join(".local/jwt"));
        Self {
            client: Client::new(),
            issuer: LocalIssuer::load_or_create(&dir).expect("the local issuer's key"),
        }
    }

    /// `method path` with a JSON body, as `user` (a bearer token) or as nobody.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        user: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, api(path));
        if let Some(user) = user {
            request = request.bearer_auth(self.issuer.token(user, 600));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn purchase(&self, cart_id: &str, user: &str, key: &str) -> (StatusCode, bool, String) {
        let response = self
            .client
            .post(api(&format!("/api/v1/cart/{cart_id}/purchase")))
            .bearer_auth(self.issuer.token(user, 600))
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        (status, replayed, response.text().await.unwrap())
    }
}

/// A user no earlier run used (the local tables persist while DynamoDB Local runs).
fn fresh_user(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
#[ignore = "needs the local API (make dev, or make test)"]
async fn a_shopper_lists_fills_a_cart_and_buys_it_over_http() {
    let local = Local::new();
    let (get, post, delete) = (Method::GET, Method::POST, Method::DELETE);

    // The admin adds an item (local development lets unsigned admin calls through).
    let name = format!("Tea - Local Blend {}", uuid::Uuid::new_v4().simple());
    let body = json!({"name": name, "price": 1250, "quantity": 5});
    let (status, _, created) = local
        .send(post.clone(), "/api/v1/admin/items", Some(body), None)
        .await;
    assert_eq!(status, 201, "{created}");
    let item_id = created["item"]["id"].as_u64().unwrap();

    // The listing is public.
    let path = format!("/api/v1/items?name={}&limit=5", name.replace(' ', "%20"));
    let (status, _, page) = local.send(get.clone(), &path, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], item_id);
    let path = "/api/v1/items?min_value=1000&max_value=2000&limit=3";
    let (status, _, price_page) = local.send(get.clone(), path, None, None).await;
    assert_eq!(status, 200);
    assert!(price_page["items"].as_array().unwrap().len() <= 3);

    // The token names the user: no user_id needed, one given must be the token's.
    let user = fresh_user("alice");
    let me = Some(user.as_str());
    let (status, _, cart) = local.send(post.clone(), "/api/v1/cart/", None, me).await;
    assert_eq!(status, 201, "{cart}");
    assert_eq!(cart["cart"]["user_id"], user);
    let cart_id = cart["cart"]["id"].as_str().unwrap().to_owned();
    let same_user = Some(json!({"user_id": user}));
    let (status, _, again) = local
        .send(post.clone(), "/api/v1/cart", same_user, me)
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["cart"]["id"], cart_id.as_str());

    let items = format!("/api/v1/cart/{cart_id}/items");
    let line = json!({"item_id": item_id, "quantity": 2});
    let (status, _, added) = local
        .send(post.clone(), &items, Some(line.clone()), me)
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["cart"]["total"], 2500);
    let cart_path = format!("/api/v1/cart/{cart_id}");
    let (status, _, viewed) = local.send(get.clone(), &cart_path, None, me).await;
    assert_eq!(status, 200);
    assert_eq!(viewed["cart"]["items"], json!([item_id]));
    let line_path = format!("{items}/{item_id}");
    let (status, _, removed) = local.send(delete, &line_path, None, me).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["cart"]["items"], json!([]));
    local.send(post.clone(), &items, Some(line), me).await;

    let key = format!("local-{user}");
    let (status, replayed, first) = local.purchase(&cart_id, &user, &key).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    let (status, replayed, second) = local.purchase(&cart_id, &user, &key).await;
    assert_eq!(status, 200);
    assert!(replayed);
    assert_eq!(first, second, "a replay is byte-identical");

    let order: Value = serde_json::from_str(&first).unwrap();
    let order_path = format!("/api/v1/orders/{}", order["order"]["id"].as_str().unwrap());
    let (status, _, fetched) = local.send(get.clone(), &order_path, None, me).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["order"], order["order"]);

    let patch = Some(json!({"quantity": 9}));
    let path = format!("/api/v1/admin/items/{item_id}");
    let (status, _, item) = local.send(Method::PATCH, &path, patch, None).await;
    assert_eq!(status, 200);
    assert_eq!(item["item"]["quantity"], 9);
}

#[tokio::test]
#[ignore = "needs the local API (make dev, or make test)"]
async fn a_second_user_can_neither_see_nor_touch_the_first_users_cart_over_http() {
    let local = Local::new();
    let (alice, bob) = (fresh_user("alice"), fresh_user("bob"));
    let (status, _, cart) = local
        .send(Method::POST, "/api/v1/cart/", None, Some(&alice))
        .await;
    assert_eq!(status, 201);
    let cart_id = cart["cart"]["id"].as_str().unwrap().to_owned();

    // Bob's token never answers Alice's cart, even naming her.
    let (status, _, bobs) = local
        .send(Method::POST, "/api/v1/cart/", None, Some(&bob))
        .await;
    assert_eq!(status, 201);
    assert_ne!(bobs["cart"]["id"], cart_id.as_str());
    let naming_alice = Some(json!({"user_id": alice}));
    let (status, _, problem) = local
        .send(Method::POST, "/api/v1/cart/", naming_alice, Some(&bob))
        .await;
    assert_eq!(
        (status.as_u16(), &problem["code"]),
        (403, &json!("user_mismatch"))
    );

    // Alice's cart id is not found for Bob, whatever he does with it.
    let path = format!("/api/v1/cart/{cart_id}");
    let (status, _, problem) = local.send(Method::GET, &path, None, Some(&bob)).await;
    assert_eq!(
        (status.as_u16(), &problem["code"]),
        (404, &json!("cart_not_found"))
    );
    let line = Some(json!({"item_id": 1, "quantity": 1}));
    let (status, _, _) = local
        .send(Method::POST, &format!("{path}/items"), line, Some(&bob))
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = local.purchase(&cart_id, &bob, "bob-takes-it").await;
    assert_eq!(status, 404);

    // No token, or a forged one: 401 with a Bearer challenge.
    let (status, headers, problem) = local.send(Method::GET, &path, None, None).await;
    assert_eq!(
        (status.as_u16(), &problem["code"]),
        (401, &json!("unauthenticated"))
    );
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let forged = LocalIssuer::generate().token(&alice, 600);
    let response = reqwest::Client::new()
        .get(api(&path))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let (status, _, own) = local.send(Method::GET, &path, None, Some(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(own["cart"]["lines"], json!([]));
}

#[tokio::test]
#[ignore = "needs the local API (make dev, or make test)"]
async fn bad_input_over_http_is_a_problem_document() {
    let local = Local::new();
    let user = fresh_user("carol");
    let invalid = "invalid_request";
    let cases: Vec<(Method, &str, Option<Value>, u16, &str)> = vec![
        (Method::GET, "/api/v1/items?limit=0", None, 400, invalid),
        (
            Method::GET,
            "/api/v1/items?cursor=forged",
            None,
            400,
            invalid,
        ),
        (
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"user_id": 1.5})),
            400,
            invalid,
        ),
        (
            Method::GET,
            "/api/v1/cart/not-a-cart-id",
            None,
            404,
            "cart_not_found",
        ),
        (
            Method::GET,
            "/api/v1/orders/not-an-order",
            None,
            404,
            "order_not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (answered, headers, body) = local.send(method, path, body, Some(&user)).await;
        assert_eq!(answered.as_u16(), status, "{path}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}"
        );
        assert_eq!(body["code"], code, "{path}");
    }

    let response = local
        .client
        .post(api("/api/v1/cart/"))
        .bearer_auth(local.issuer.token(&user, 600))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
