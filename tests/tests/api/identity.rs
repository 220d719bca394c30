//! Identity: every cart, purchase and order call acts for one authenticated user, and nobody
//! reaches another's cart. In `jwt` mode (the default) the user is a verified token's subject;
//! in `iam` mode, the shop's IAM-signed backend names the user, as the original API's clients do.
//! The admin routes take IAM principals only, and only those of `ADMIN_PRINCIPALS` when it is
//! set.

use serde_json::{json, Value};
use shared::config::AdminPrincipals;
use testkit::tokens::refused_tokens;
use testkit::{ApiRequest, TestApp, TestResponse, BACKEND_ARN, BACKEND_CALLER_ID};

/// One call of each cart, purchase and order route, on `cart` and `order`, with `credential`
/// applied to it.
fn every_user_route(cart: &str, order: &str) -> Vec<ApiRequest> {
    vec![
        ApiRequest::create_cart(),
        ApiRequest::new("POST", "/api/v1/cart", "/api/v1/cart"),
        ApiRequest::get_cart(cart),
        ApiRequest::add_cart_item(cart).json(json!({"item_id": 1, "quantity": 1})),
        ApiRequest::remove_cart_item(cart, 1),
        ApiRequest::purchase_cart(cart).header("Idempotency-Key", "intruder"),
        ApiRequest::get_order(order),
    ]
}

/// Alice with a cart holding item 1 and an order, and everything stored, to compare with later.
struct World {
    app: TestApp,
    cart: String,
    order: String,
}

async fn world(app: TestApp) -> World {
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let cart = app.cart_with("alice", &[(2, 1)]).await;
    let bought = app.purchase(&cart, "alice", "first").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    let order = bought.body["order"]["id"].as_str().unwrap().to_owned();
    app.added(&cart, "alice", 1, 2).await;
    World { app, cart, order }
}

impl World {
    /// Everything stored: the four tables.
    async fn stored(&self) -> Vec<Value> {
        let tables = self.app.direct().tables().clone();
        let mut all = Vec::new();
        for table in [
            &tables.catalog,
            &tables.carts,
            &tables.orders,
            &tables.idempotency,
        ] {
            let mut items = self.app.scan(table).await;
            items.sort_by_key(Value::to_string);
            all.extend(items);
        }
        all
    }

    async fn send(&self, request: ApiRequest) -> TestResponse {
        self.app.send(request).await
    }
}

#[tokio::test]
async fn every_user_route_refuses_a_missing_or_bad_token_with_401_and_changes_nothing() {
    // Arrange: jwt mode, the functions verifying tokens themselves (as locally).
    let world = world(TestApp::spawn().await).await;
    let before = world.stored().await;
    let mut refusals = vec![("no token", None)];
    refusals.extend(
        refused_tokens("alice")
            .into_iter()
            .map(|(what, token)| (what, Some(token))),
    );

    for request in every_user_route(&world.cart, &world.order) {
        for (what, token) in &refusals {
            // Act
            let request = match token {
                Some(token) => request.clone().bearer(token),
                None => request.clone().unauthenticated(),
            };
            let route = format!("{} {}", request.method, request.route);
            let response = world.send(request).await;

            // Assert
            response.assert_problem(401, "unauthenticated");
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer "),
                "{route} {what}: {challenge}"
            );
            assert_eq!(
                challenge.contains(r#"error="invalid_token""#),
                token.is_some(),
                "{route} {what}: an error code only when a token was sent"
            );
        }
    }
    assert_eq!(world.stored().await, before, "nothing changed");
}

#[tokio::test]
async fn another_users_valid_token_finds_no_cart_and_no_order_and_changes_nothing() {
    let world = world(TestApp::spawn().await).await;
    let before = world.stored().await;
    let routes = every_user_route(&world.cart, &world.order);

    // Bob's token on each of Alice's cart and order routes (creating a cart makes Bob's own).
    let mut answers = Vec::new();
    for request in routes.into_iter().skip(2) {
        let route = format!("{} {}", request.method, request.route);
        answers.push((route, world.send(request.as_user("bob")).await));
    }

    for (route, response) in &answers {
        let code = if route.contains("orders") {
            "order_not_found"
        } else {
            "cart_not_found"
        };
        response.assert_problem(404, code);
        assert!(
            !response.text.contains(&world.cart),
            "{route}: {}",
            response.text
        );
    }
    assert_eq!(world.stored().await, before, "nothing changed");
    // Bob's 404s look exactly like those of carts and orders that do not exist.
    let nobody = ApiRequest::get_cart(&world.cart.replace(&world.cart[..4], "AAAA"));
    let unknown = world.send(nobody.as_user("bob")).await;
    assert_eq!(unknown.text, answers[0].1.text);
}

#[tokio::test]
async fn creating_a_cart_with_another_users_token_never_answers_the_first_users_cart() {
    let app = TestApp::spawn().await;
    let alices = app.new_cart("alice").await;

    // Bob, with his own token, naming nobody and naming Alice.
    let bobs = app.send(ApiRequest::create_cart().as_user("bob")).await;
    let naming_alice = ApiRequest::create_cart_for("alice").as_user("bob");
    let naming_alice = app.send(naming_alice).await;
    let naming_alice_by_integer = ApiRequest::create_cart().json(json!({"user_id": 42}));
    let naming_42 = app.send(naming_alice_by_integer.as_user("bob")).await;

    assert_eq!(bobs.status, 201, "{}", bobs.text);
    assert_eq!(bobs.body["cart"]["user_id"], "bob");
    assert_ne!(bobs.body["cart"]["id"], alices.as_str());
    naming_alice.assert_problem(403, "user_mismatch");
    naming_42.assert_problem(403, "user_mismatch");
    assert!(!naming_alice.text.contains(&alices));
    assert_eq!(app.cart_count().await, 2);
}

#[tokio::test]
async fn a_user_id_in_a_body_or_query_that_is_not_the_tokens_user_is_403_user_mismatch() {
    let world = world(TestApp::spawn().await).await;
    let before = world.stored().await;
    let (cart, order) = (&world.cart, &world.order);
    let attempts = [
        ApiRequest::get_cart(cart).query("user_id", "bob"),
        ApiRequest::add(cart, "bob", 1, 1),
        ApiRequest::remove(cart, "bob", 1),
        ApiRequest::remove_cart_item(cart, 1).json(json!({"user_id": "bob"})),
        ApiRequest::purchase(cart, "bob", "k"),
        ApiRequest::order(order, "bob"),
    ];

    for request in attempts {
        let route = format!("{} {}", request.method, request.route);
        let response = world.send(request.as_user("alice")).await;
        assert_eq!(response.status, 403, "{route}: {}", response.text);
        response.assert_problem(403, "user_mismatch");
    }
    assert_eq!(world.stored().await, before, "nothing changed");
}

#[tokio::test]
async fn in_jwt_mode_the_token_alone_names_the_user_through_the_whole_flow() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let as_carol = |request: ApiRequest| request.as_user("f81d4fae-7dec-41d0-a765-00a0c91e6bf6");

    let created = app.send(as_carol(ApiRequest::create_cart())).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cart = created.body["cart"]["id"].as_str().unwrap().to_owned();
    let line = json!({"item_id": 1, "quantity": 3});
    let added = app
        .send(as_carol(ApiRequest::add_cart_item(&cart).json(line)))
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let removed = app
        .send(as_carol(ApiRequest::remove_cart_item(&cart, 1)))
        .await;
    assert_eq!(removed.body["cart"]["lines"], json!([]));
    let line = json!({"item_id": 1, "quantity": 2});
    app.send(as_carol(ApiRequest::add_cart_item(&cart).json(line)))
        .await;
    let viewed = app.send(as_carol(ApiRequest::get_cart(&cart))).await;
    assert_eq!(viewed.body["cart"]["total"], 2 * 869);
    let purchase = ApiRequest::purchase_cart(&cart).header("Idempotency-Key", "k");
    let bought = app.send(as_carol(purchase)).await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    let order = bought.body["order"]["id"].as_str().unwrap();
    let fetched = app.send(as_carol(ApiRequest::get_order(order))).await;
    assert_eq!(fetched.body["order"], bought.body["order"]);
    assert_eq!(
        fetched.body["order"]["user_id"],
        "f81d4fae-7dec-41d0-a765-00a0c91e6bf6"
    );
    assert_eq!(app.stock_of(1).await, 8);
}

#[tokio::test]
async fn behind_api_gateway_the_functions_trust_only_the_authorizers_claims() {
    // Arrange: jwt mode as deployed (no local keys), Alice's cart made through her claims.
    let app = TestApp::spawn().await.behind_jwt_authorizer();
    let cart = app.new_cart("alice").await;
    let token = testkit::issuer().token("alice", 600);

    // Act + Assert: a token alone, even a good one, is not the authorizer's word.
    let token_only = app.send(ApiRequest::get_cart(&cart).bearer(&token)).await;
    token_only.assert_problem(401, "unauthenticated");
    let nothing = app
        .send(ApiRequest::get_cart(&cart).unauthenticated())
        .await;
    nothing.assert_problem(401, "unauthenticated");
    // The claims name the user; another user's claims find nothing.
    let claims = ApiRequest::get_cart(&cart)
        .unauthenticated()
        .with_claims("alice");
    assert_eq!(app.send(claims).await.status, 200);
    let bobs_claims = ApiRequest::get_cart(&cart)
        .unauthenticated()
        .with_claims("bob");
    app.send(bobs_claims)
        .await
        .assert_problem(404, "cart_not_found");
    // Claims whose subject is no user id are refused, not trusted.
    let odd = ApiRequest::get_cart(&cart)
        .unauthenticated()
        .with_claims("a b");
    app.send(odd).await.assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn in_iam_mode_the_backend_names_the_user_exactly_as_the_original_clients_do() {
    // Arrange: iam mode, requests IAM-signed by the kit, users named in bodies and queries.
    let app = TestApp::spawn().await.in_iam_mode();
    app.seed(&[("Wine - Port", 869, 10)]).await;

    // Act + Assert: the original API's calls, integer user ids included.
    let created = app
        .send(ApiRequest::create_cart().json(json!({"user_id": 42})))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["cart"]["user_id"], "42");
    let cart = created.body["cart"]["id"].as_str().unwrap().to_owned();
    let again = app
        .send(ApiRequest::create_cart().json(json!({"user_id": "42"})))
        .await;
    assert_eq!(
        (again.status, &again.body["cart"]["id"]),
        (200, &json!(cart))
    );
    app.added(&cart, 42, 1, 3).await;
    assert_eq!(app.remove(&cart, 42, 1).await.status, 200);
    app.added(&cart, 42, 1, 2).await;
    let viewed = app.send(ApiRequest::get_cart(&cart)).await;
    assert_eq!(
        viewed.body["cart"]["total"],
        2 * 869,
        "the view names no user"
    );
    let bought = app.purchase(&cart, 42, "k").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    let order = bought.body["order"]["id"].as_str().unwrap();
    let fetched = app.send(ApiRequest::order(order, 42)).await;
    assert_eq!(fetched.body["order"], bought.body["order"]);

    // Another user named by the backend finds nothing; no user at all is a 400; no IAM
    // identity is a 403 (API Gateway refuses those before the function, in AWS).
    app.send(ApiRequest::order(order, 43))
        .await
        .assert_problem(404, "order_not_found");
    app.send(ApiRequest::get_cart(&cart).query("user_id", 43))
        .await
        .assert_problem(404, "cart_not_found");
    let unnamed =
        app.send(ApiRequest::add_cart_item(&cart).json(json!({"item_id": 1, "quantity": 1})));
    let unnamed = unnamed.await;
    unnamed.assert_problem(400, "invalid_request");
    assert_eq!(unnamed.body["field"], "user_id");
    let unsigned = ApiRequest::create_cart_for(42).unauthenticated();
    app.send(unsigned).await.assert_problem(403, "forbidden");
    // A bearer token means nothing here.
    let token = testkit::issuer().token("42", 600);
    let with_token = ApiRequest::get_cart(&cart).bearer(&token);
    app.send(with_token).await.assert_problem(403, "forbidden");
    assert_eq!(app.stock_of(1).await, 8);
}

#[tokio::test]
async fn with_an_admin_allow_list_only_its_principals_change_the_catalog_and_others_get_403() {
    // Arrange: as deployed (IAM identity required), ADMIN_PRINCIPALS naming the catalog-admin
    // role and one IAM user by caller id; the shop's backend, also IAM-signed, is not listed.
    let mut app = TestApp::spawn().await.behind_jwt_authorizer();
    app.state.config.auth.allow_unsigned_requests = false;
    let list = "arn:aws:iam::123456789012:role/ops/catalog-admin,AIDAOPSUSER";
    app.state.config.auth.admin_principals = AdminPrincipals::parse(list).unwrap();
    let world = world(app).await;
    let admin_session = (
        "arn:aws:sts::123456789012:assumed-role/catalog-admin/ops-laptop",
        "AROACATALOGADMIN:ops-laptop",
    );
    let ops_user = ("arn:aws:iam::123456789012:user/ops", "AIDAOPSUSER");
    let strangers = [
        (BACKEND_ARN, BACKEND_CALLER_ID),
        (
            "arn:aws:sts::123456789012:assumed-role/catalog-admin-2/x",
            "AROAOTHER:x",
        ),
        ("arn:aws:iam::123456789012:user/dev", "AIDADEVUSER"),
    ];
    let create = || {
        ApiRequest::admin_create_item()
            .json(json!({"name": "Tea - Sencha", "price": 1250, "quantity": 40}))
            .unauthenticated()
    };
    let update =
        || ApiRequest::admin_update(1, json!({"price": 1, "quantity": 0})).unauthenticated();
    let before = world.stored().await;

    // Act + Assert: everyone else is refused, keyed or not, signed or not; nothing changes.
    for (arn, caller) in strangers {
        for request in [create(), update(), create().header("Idempotency-Key", "k1")] {
            let route = format!("{} {} as {arn}", request.method, request.route);
            let response = world.send(request.with_iam_as(arn, caller)).await;
            assert_eq!(response.status, 403, "{route}: {}", response.text);
            response.assert_problem(403, "forbidden");
        }
    }
    world.send(create()).await.assert_problem(403, "forbidden");
    assert_eq!(world.stored().await, before, "nothing changed");

    // The listed role (any of its sessions) and the listed caller id pass.
    let (arn, caller) = admin_session;
    let created = world.send(create().with_iam_as(arn, caller)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (arn, caller) = ops_user;
    let updated = world
        .send(
            ApiRequest::admin_update(1, json!({"price": 999}))
                .unauthenticated()
                .with_iam_as(arn, caller),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["item"]["price"], 999);
}

#[tokio::test]
async fn without_an_admin_allow_list_any_iam_principal_may_call_the_admin_routes() {
    let mut app = TestApp::spawn().await.behind_jwt_authorizer();
    app.state.config.auth.allow_unsigned_requests = false;
    assert_eq!(app.state.config.auth.admin_principals, None);
    app.seed(&[("Wine - Port", 869, 10)]).await;

    let backend = app
        .send(ApiRequest::admin_update(1, json!({"price": 900})).unauthenticated())
        .await;
    let anyone = ApiRequest::admin_update(1, json!({"price": 901}))
        .unauthenticated()
        .with_iam_as("arn:aws:iam::123456789012:user/dev", "AIDADEVUSER");
    let anyone = app.send(anyone).await;

    assert_eq!(backend.status, 200, "{}", backend.text);
    assert_eq!(anyone.status, 200, "{}", anyone.text);
    assert_eq!(anyone.body["item"]["price"], 901);
}
