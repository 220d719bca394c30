//! Issue 4: the purchase and the orders, against DynamoDB Local. Every rule of the issue: the
//! answer and what is stored, the idempotency key (where it is read, its rules, its scope, the
//! replay, its expiry, that only a success consumes it), price and stock checks, the DynamoDB
//! requests each outcome costs; the races (flash sale, one key submitted concurrently, a
//! purchase racing an add or a price change), and the faults DynamoDB Local never produces,
//! injected on the wire by `testkit::DynamoDbProxy`.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::Select;
use futures::future::join_all;
use purchase_cart::PurchaseCart;
use serde_json::{json, Value};
use shared::domain::{CartId, ItemId, OrderId, UserId};
use shared::Store;
use testkit::{ApiRequest, TestApp, TestResponse};
use testkit::{DynamoDbProxy, Fault, Times};

// ---------------------------------------------------------------------------------------------
// Requests

/// A purchase with the key in the body.
async fn purchase_with_body_key(
    app: &TestApp,
    cart_id: &str,
    user: u64,
    key: &str,
) -> TestResponse {
    app.call::<PurchaseCart>(
        ApiRequest::purchase_cart(cart_id).json(json!({ "user_id": user, "idempotency_key": key })),
    )
    .await
}

fn assert_replayed(r: &TestResponse, first: &TestResponse) {
    assert_eq!(r.status, first.status, "{}", r.text);
    assert_eq!(r.text, first.text, "a replay answers the same bytes");
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.header("content-type"), first.header("content-type"));
}

fn assert_fresh_success(r: &TestResponse) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None, "{}", r.text);
}

fn order_id_of(r: &TestResponse) -> String {
    r.body["order"]["id"].as_str().unwrap().to_owned()
}

fn user(n: u64) -> UserId {
    UserId::parse(&n.to_string()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// What is stored, read straight from DynamoDB Local (never through a fault proxy)

async fn count(store: &Store, table: &str) -> usize {
    count_having(store, table, None).await
}

/// The orders stored (the orders table also holds users' keys' records of cart writes).
async fn order_count(store: &Store) -> usize {
    count_having(store, &store.tables().orders, Some("lines")).await
}

/// How many items `table` holds (with the attribute `having`, if named), read consistently.
async fn count_having(store: &Store, table: &str, having: Option<&str>) -> usize {
    let mut scan = store.client().scan().table_name(table);
    if let Some(attribute) = having {
        scan = scan
            .filter_expression("attribute_exists(#a)")
            .expression_attribute_names("#a", attribute);
    }
    let out = scan.select(Select::Count).consistent_read(true).send();
    out.await.unwrap().count() as usize
}

async fn stock_of(store: &Store, item: u64) -> u64 {
    store
        .get_item(ItemId::new(item).unwrap())
        .await
        .unwrap()
        .expect("the item exists")
        .stock
        .get()
}

/// The stored cart as the API shows it.
async fn stored_cart(store: &Store, cart_id: &str) -> Value {
    let cart = store
        .get_cart(&CartId::parse(cart_id).unwrap(), shared::domain::now_unix())
        .await
        .unwrap()
        .expect("the cart exists");
    serde_json::to_value(cart).unwrap()
}

/// Everything a purchase may change.
#[derive(Debug, PartialEq)]
struct World {
    stocks: Vec<u64>,
    orders: usize,
    cart: Value,
}

async fn world(store: &Store, cart_id: &str, items: &[u64]) -> World {
    let mut stocks = Vec::new();
    for &item in items {
        stocks.push(stock_of(store, item).await);
    }
    World {
        stocks,
        orders: order_count(store).await,
        cart: stored_cart(store, cart_id).await,
    }
}

fn lines_of(cart: &Value) -> Vec<(u64, u64, u64)> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item_id"].as_u64().unwrap(),
                l["quantity"].as_u64().unwrap(),
                l["unit_price"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A proxied application: the functions talk to DynamoDB Local through a fault proxy; the
/// returned store does not.
async fn proxied() -> (DynamoDbProxy, TestApp, Store) {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let store = app.direct().clone();
    (proxy, app, store)
}

fn tokens(proxy: &DynamoDbProxy) -> Vec<String> {
    proxy
        .seen("TransactWriteItems")
        .iter()
        .map(|s| {
            s.body["ClientRequestToken"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Success

#[tokio::test]
async fn a_purchase_answers_the_bought_lines_and_the_order() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;

    // Act
    let r = app.purchase(&cart, 7, "first-purchase").await;

    // Assert
    assert_fresh_success(&r);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body["response"],
        json!([{ "item": 1, "quantity": 2 }, { "item": 2, "quantity": 1 }])
    );
    let order = &r.body["order"];
    let members: Vec<&str> = order
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = members.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["cart_id", "created_at", "id", "lines", "total", "user_id"]
    );
    assert!(OrderId::parse(order["id"].as_str().unwrap()).is_ok());
    assert_eq!(order["cart_id"], cart);
    assert_eq!(order["user_id"], "7");
    assert_eq!(
        order["lines"],
        json!([
            { "item_id": 1, "name": "Wine - Port", "quantity": 2, "unit_price": 869 },
            { "item_id": 2, "name": "Mussels - Frozen", "quantity": 1, "unit_price": 1470 },
        ])
    );
    assert_eq!(order["total"], 2 * 869 + 1470);
    let created_at = time::OffsetDateTime::parse(
        order["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created_at is RFC 3339");
    let age = time::OffsetDateTime::now_utc() - created_at;
    assert!(
        age.whole_seconds().abs() < 60,
        "created_at {created_at} is now"
    );
}

#[tokio::test]
async fn a_purchase_decrements_the_stock_stores_the_order_and_empties_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[
        ("Wine - Port", 869, 5),
        ("Mussels - Frozen", 1470, 3),
        ("Untouched", 100, 9),
    ])
    .await;
    let cart = app.cart_with(7, &[(1, 2), (2, 3)]).await;
    let store = app.direct().clone();

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let after = world(&store, &cart, &[1, 2, 3]).await;
    assert_eq!(after.stocks, [3, 0, 9]);
    assert_eq!(after.orders, 1);
    assert_eq!(
        count(&store, &store.tables().idempotency).await,
        0,
        "the order is the key's record"
    );
    let shown = app.view_cart(&cart).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["cart"]["id"], cart, "the cart keeps its id");
    assert_eq!(shown.body["cart"]["lines"], json!([]));
    assert_eq!(shown.body["cart"]["items"], json!([]));
    assert_eq!(shown.body["cart"]["total"], 0);
    let stored = app.get_order(&order_id_of(&r), Some("7")).await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body, json!({ "order": r.body["order"] }));
}

#[tokio::test]
async fn an_order_is_shown_to_its_owner_only() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(1, 1)]).await;
    let bought = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&bought);
    let id = order_id_of(&bought);

    // Act + Assert
    let owner = app.get_order(&id, Some("7")).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    assert_eq!(owner.body["order"], bought.body["order"]);

    let other = app.get_order(&id, Some("8")).await;
    other.assert_problem(404, "order_not_found");
    assert!(!other.text.contains(&cart), "nothing of the order leaks");

    let unknown = app
        .get_order(&uuid::Uuid::new_v4().to_string(), Some("7"))
        .await;
    unknown.assert_problem(404, "order_not_found");
    assert_eq!(
        other.text, unknown.text,
        "someone else's order and no order look alike"
    );

    for (what, order_id) in [
        ("a malformed order id", "not-an-order"),
        ("an order id in upper case", &*id.to_uppercase()),
    ] {
        let r = app.get_order(order_id, Some("7")).await;
        assert_eq!(r.text, unknown.text, "{what}: the path names no order");
    }
    for (what, order_id, user) in [
        ("a user that is not a user id", &*id, Some("se ven")),
        ("a user id with a '#'", &*id, Some("7#1")),
    ] {
        let r = app.get_order(order_id, user).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        r.assert_problem(400, "invalid_request");
    }
}

// ---------------------------------------------------------------------------------------------
// The idempotency key and the user

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

// ---------------------------------------------------------------------------------------------
// Rejections

#[tokio::test]
async fn a_changed_price_is_answered_with_price_changed_and_the_cart_then_holds_the_current_price()
{
    // Arrange: two users with the same cart; one retries with the same key, one with a new key.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let store = app.direct().clone();
    let same_key = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    let new_key = app.cart_with(8, &[(1, 2), (2, 1)]).await;
    app.end_holds().await;
    app.set_price(1, 999).await;

    for (user, cart, retry_key) in [(7, &same_key, "first-7"), (8, &new_key, "second-8")] {
        let before = world(&store, cart, &[1, 2]).await;

        // Act
        let r = app.purchase(cart, user, &format!("first-{user}")).await;

        // Assert
        r.assert_problem(409, "price_changed");
        assert_eq!(
            r.body["items"],
            app.refused_lines(json!([{ "item_id": 1, "cart_price": 869, "current_price": 999 }]))
        );
        let after = world(&store, cart, &[1, 2]).await;
        assert_eq!(after.stocks, before.stocks, "nothing was bought");
        assert_eq!(after.orders, before.orders);
        assert_eq!(
            lines_of(&after.cart),
            [(1, 2, 999), (2, 1, 1470)],
            "the cart holds the current price"
        );

        let again = app.purchase(cart, user, retry_key).await;
        assert_fresh_success(&again);
        assert_eq!(again.body["order"]["lines"][0]["unit_price"], 999);
        assert_eq!(again.body["order"]["total"], 2 * 999 + 1470);
    }
    assert_eq!(stock_of(&store, 1).await, 6);
}

#[tokio::test]
async fn insufficient_stock_names_every_short_line_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 3), ("C", 300, 10)])
        .await;
    let cart = app.cart_with(7, &[(1, 4), (2, 3), (3, 2)]).await;
    app.end_holds().await;
    app.set_stock(1, 2).await;
    app.set_stock(2, 0).await;
    let store = app.direct().clone();
    let before = world(&store, &cart, &[1, 2, 3]).await;

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    r.assert_problem(409, "insufficient_stock");
    assert_eq!(
        r.body["items"],
        app.refused_lines(json!([
            { "item_id": 1, "requested": 4, "available": 2 },
            { "item_id": 2, "requested": 3, "available": 0 },
        ]))
    );
    assert_eq!(world(&store, &cart, &[1, 2, 3]).await, before);

    // One short line is also named at the top level (the original API's members).
    app.set_stock(2, 3).await;
    let one = app.purchase(&cart, 7, "k").await;
    one.assert_problem(409, "insufficient_stock");
    assert_eq!(
        one.body["items"],
        app.refused_lines(json!([{ "item_id": 1, "requested": 4, "available": 2 }]))
    );
    assert_eq!(one.body["item_id"], 1);
    assert_eq!(one.body["requested"], 4);
    assert_eq!(one.body["available"], 2);

    // Restocked, the same key buys.
    app.set_stock(1, 4).await;
    assert_fresh_success(&app.purchase(&cart, 7, "k").await);
    assert_eq!(world(&store, &cart, &[1, 2, 3]).await.stocks, [0, 0, 8]);
}

#[tokio::test]
async fn price_changed_is_answered_before_insufficient_stock() {
    // Arrange: item 1's price changed, item 2 is short.
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 3)]).await;
    let cart = app.cart_with(7, &[(1, 1), (2, 3)]).await;
    app.end_holds().await;
    app.set_price(1, 150).await;
    app.set_stock(2, 1).await;
    let store = app.direct().clone();
    let stocks = world(&store, &cart, &[1, 2]).await.stocks;

    // Act
    let first = app.purchase(&cart, 7, "k").await;
    let second = app.purchase(&cart, 7, "k").await;

    // Assert
    first.assert_problem(409, "price_changed");
    assert_eq!(
        first.body["items"],
        app.refused_lines(json!([{ "item_id": 1, "cart_price": 100, "current_price": 150 }]))
    );
    second.assert_problem(409, "insufficient_stock");
    assert_eq!(
        second.body["items"],
        app.refused_lines(json!([{ "item_id": 2, "requested": 3, "available": 1 }]))
    );
    let after = world(&store, &cart, &[1, 2]).await;
    assert_eq!(after.stocks, stocks);
    assert_eq!(after.orders, 0);
}

#[tokio::test]
async fn an_empty_cart_cannot_be_purchased() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.new_cart(7).await;

    // Act + Assert: a new cart, and a cart just bought, are empty.
    app.purchase(&cart, 7, "k1")
        .await
        .assert_problem(409, "cart_empty");
    app.added(&cart, 7, 1, 1).await;
    assert_fresh_success(&app.purchase(&cart, 7, "k1").await);
    app.purchase(&cart, 7, "k2")
        .await
        .assert_problem(409, "cart_empty");
    let store = app.direct().clone();
    assert_eq!(order_count(&store).await, 1);
}

#[tokio::test]
async fn a_rejection_binds_nothing_to_the_key() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.new_cart(7).await;
    let store = app.direct().clone();
    // Orders and users' keys' records of cart writes share the orders table.
    let records = || count(&store, &store.tables().orders);

    // Act + Assert: every rejection leaves the key free.
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "cart_empty");
    assert_eq!(records().await, 0);

    app.added(&cart, 7, 1, 3).await;
    app.end_holds().await;
    app.set_stock(1, 2).await;
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "insufficient_stock");
    assert_eq!(records().await, 0);

    app.set_stock(1, 5).await;
    app.set_price(1, 120).await;
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "price_changed");
    assert_eq!(records().await, 0);

    app.purchase(&CartId::generate(user(7)).to_string(), 7, "one-key")
        .await
        .assert_problem(404, "cart_not_found");
    assert_eq!(records().await, 0);

    let bought = app.purchase(&cart, 7, "one-key").await;
    assert_fresh_success(&bought);
    assert_eq!(bought.body["order"]["total"], 3 * 120);
    assert_eq!(records().await, 1);
    assert_replayed(&app.purchase(&cart, 7, "one-key").await, &bought);
}

// ---------------------------------------------------------------------------------------------
// DynamoDB requests

#[tokio::test]
async fn a_purchase_takes_two_dynamodb_requests_whatever_the_size_of_the_cart() {
    // Arrange
    let (proxy, app, _) = proxied().await;
    let catalog: Vec<(String, u64, u64)> = (1..=50)
        .map(|i| (format!("Item {i}"), 100 + i, 1_000))
        .collect();
    let catalog: Vec<(&str, u64, u64)> = catalog
        .iter()
        .map(|(n, p, s)| (n.as_str(), *p, *s))
        .collect();
    app.seed(&catalog).await;

    for (user, size) in [(1u64, 1u64), (2, 10), (3, 50)] {
        let lines: Vec<(u64, u64)> = (1..=size).map(|i| (i, 2)).collect();
        let cart = app.cart_with(user, &lines).await;

        // Act
        proxy.reset_counts();
        let (bought, purchase_requests) = app.requests_during(app.purchase(&cart, user, "k")).await;
        let purchase_targets = proxy.counts();
        proxy.reset_counts();
        let (replay, replay_requests) = app.requests_during(app.purchase(&cart, user, "k")).await;
        let replay_targets = proxy.counts();

        // Assert
        assert_fresh_success(&bought);
        assert_eq!(
            bought.body["order"]["lines"].as_array().unwrap().len() as u64,
            size
        );
        assert_replayed(&replay, &bought);
        eprintln!(
            "a purchase of {size} lines: {purchase_requests} requests {purchase_targets:?}; \
             its replay: {replay_requests} {replay_targets:?}"
        );
        assert_eq!(purchase_requests, 2, "a purchase of {size} lines");
        assert_eq!(
            purchase_targets.get("DynamoDB_20120810.BatchGetItem"),
            Some(&1)
        );
        assert_eq!(
            purchase_targets.get("DynamoDB_20120810.TransactWriteItems"),
            Some(&1)
        );
        assert!(
            (1..=2).contains(&replay_requests),
            "a replay of {size} lines took {replay_requests}"
        );
        assert_eq!(
            replay_targets.get("DynamoDB_20120810.TransactWriteItems"),
            None,
            "a replay writes nothing"
        );
    }
}

#[tokio::test]
async fn each_rejection_costs_a_known_number_of_dynamodb_requests() {
    // Arrange: one situation per rejection.
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart_of_7 = app.cart_with(7, &[(1, 1)]).await;
    let used = app.purchase(&cart_of_7, 7, "used").await;
    assert_fresh_success(&used);
    let empty = cart_of_7.clone();
    let cart_of_8 = app.cart_with(8, &[(1, 1)]).await;
    let short = app.cart_with(9, &[(2, 5)]).await;
    let repriced = app.cart_with(10, &[(1, 1)]).await;
    app.end_holds().await;
    app.set_stock(2, 4).await;
    app.set_price(1, 101).await;
    let made_up = CartId::generate(user(8)).to_string();

    let cases: Vec<(&str, ApiRequest, u16, &str, u64)> = vec![
        (
            "a malformed key",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "")
                .json(json!({ "user_id": 8 })),
            400,
            "invalid_request",
            0,
        ),
        (
            "a malformed user",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": "x y" })),
            400,
            "invalid_request",
            0,
        ),
        (
            "someone else's cart",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 7 })),
            404,
            "cart_not_found",
            1,
        ),
        (
            "an unknown cart",
            ApiRequest::purchase_cart(&made_up)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 8 })),
            404,
            "cart_not_found",
            1,
        ),
        (
            "a key used for another cart",
            ApiRequest::purchase_cart(&cart_of_8)
                .header("Idempotency-Key", "used")
                .json(json!({ "user_id": 7 })),
            422,
            "idempotency_key_reused",
            1,
        ),
        (
            "an empty cart",
            ApiRequest::purchase_cart(&empty)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 7 })),
            409,
            "cart_empty",
            2,
        ),
        (
            "insufficient stock",
            ApiRequest::purchase_cart(&short)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 9 })),
            409,
            "insufficient_stock",
            2,
        ),
        (
            "a changed price",
            ApiRequest::purchase_cart(&repriced)
                .header("Idempotency-Key", "k")
                .json(json!({ "user_id": 10 })),
            409,
            "price_changed",
            3,
        ),
    ];

    let mut measured = Vec::new();
    for (what, event, status, code, budget) in cases {
        // Act
        let (r, requests) = app.requests_during(app.call::<PurchaseCart>(event)).await;

        // Assert
        r.assert_problem(status, code);
        measured.push(format!("{what} ({status} {code}): {requests}"));
        assert_eq!(requests, budget, "{what}");
    }
    eprintln!(
        "DynamoDB requests per rejection:\n  {}",
        measured.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Races

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_sale_sells_exactly_the_stock_and_refuses_everyone_else() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 3;
    const BUYERS: u64 = 120;
    const STOCK: u64 = 20;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("Flash", 500, STOCK)]).await;

    for round in 0..ROUNDS {
        // Arrange: 120 buyers, each adding one unit to a cart of their own, all at once. Under
        // `hold` the sale happens here: exactly the stock is held, everyone else refused.
        let buyers: Vec<u64> = (1..=BUYERS).map(|i| 1_000 * (round + 1) + i).collect();
        let added: Vec<(u64, String, TestResponse)> = join_all(buyers.iter().map(|&buyer| {
            let app = app.clone();
            tokio::spawn(async move {
                let cart = app.new_cart(buyer).await;
                let added = app.add(&cart, buyer, 1, 1).await;
                (buyer, cart, added)
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let mut carts = Vec::new();
        for (buyer, cart, added) in added {
            if added.status == 200 {
                carts.push((buyer, cart));
            } else {
                assert!(
                    app.holds(),
                    "under latest an add takes nothing: {}",
                    added.text
                );
                added.assert_problem(409, "insufficient_stock");
                assert_eq!(added.body["available"], 0);
            }
        }
        let expected_carts = if app.holds() { STOCK } else { BUYERS };
        assert_eq!(carts.len() as u64, expected_carts, "round {round}");

        // Act: every buyer with a unit in their cart buys, all at once.
        let answers: Vec<TestResponse> = join_all(carts.iter().map(|(buyer, cart)| {
            let (app, buyer, cart) = (app.clone(), *buyer, cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "flash").await })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let carts: Vec<String> = carts.into_iter().map(|(_, cart)| cart).collect();

        // Assert
        let mut sold = 0;
        for (r, cart) in answers.iter().zip(&carts) {
            let left_in_cart = lines_of(&stored_cart(app.store(), cart).await);
            if r.status == 200 {
                sold += 1;
                assert_eq!(r.body["response"], json!([{ "item": 1, "quantity": 1 }]));
                assert!(left_in_cart.is_empty());
            } else {
                r.assert_problem(409, "insufficient_stock");
                assert_eq!(
                    r.body["items"],
                    json!([{ "item_id": 1, "requested": 1, "available": 0 }])
                );
                assert_eq!(
                    left_in_cart,
                    [(1, 1, 500)],
                    "a refusal leaves the cart as it was"
                );
            }
        }
        assert_eq!(sold, STOCK, "round {round}: exactly the stock is sold");
        assert_eq!(stock_of(app.store(), 1).await, 0);
        assert_eq!(app.order_count().await as u64, STOCK * (round + 1));
        app.set_stock(1, STOCK).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_submits_of_one_key_purchase_once() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 80;
    const SUBMITS: u64 = 16;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 10_000), ("B", 250, 10_000)]).await;
    let mut in_progress = 0;
    let mut wrong: Vec<String> = Vec::new();

    for round in 0..ROUNDS {
        // Arrange
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 2), (2, 1)]).await;

        // Act: sixteen submits spread over 6 ms, so that some of them arrive while the first
        // one commits.
        let answers: Vec<TestResponse> = join_all((0..SUBMITS).map(|i| {
            let app = app.clone();
            let cart = cart.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(400 * i)).await;
                app.purchase(&cart, buyer, "double-click").await
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

        // Assert: one purchase, and every answer is it (replayed) or "in progress".
        let made: Vec<&TestResponse> = answers
            .iter()
            .filter(|r| r.status == 200 && r.header("idempotent-replayed").is_none())
            .collect();
        assert_eq!(
            made.len(),
            1,
            "round {round}: one submit makes the purchase"
        );
        let made = made[0];
        for r in &answers {
            match r.status {
                200 => {
                    assert_eq!(r.text, made.text, "every success is the same purchase");
                    if !std::ptr::eq(r, made) {
                        assert_eq!(r.header("idempotent-replayed"), Some("true"));
                    }
                }
                409 if r.body["code"] == "request_in_progress" => {
                    r.assert_problem(409, "request_in_progress");
                    r.assert_retry_after();
                    in_progress += 1;
                }
                _ => wrong.push(format!("round {round}: {} {}", r.status, r.body["code"])),
            }
        }
        let stored = app
            .get_order(&order_id_of(made), Some(&buyer.to_string()))
            .await;
        assert_eq!(stored.body["order"], made.body["order"]);
    }
    assert_eq!(stock_of(app.store(), 1).await, 10_000 - 2 * ROUNDS);
    assert_eq!(stock_of(app.store(), 2).await, 10_000 - ROUNDS);
    assert_eq!(app.order_count().await as u64, ROUNDS);
    eprintln!(
        "{in_progress} of {} submits answered request_in_progress",
        ROUNDS * SUBMITS
    );
    assert!(
        wrong.is_empty(),
        "{} of {} submits of a key that made a purchase answered neither the purchase nor \
         request_in_progress:\n{}",
        wrong.len(),
        ROUNDS * SUBMITS,
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_of_one_cart_with_different_keys_buy_it_once() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 10;
    const SUBMITS: u64 = 8;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 10_000)]).await;

    for round in 0..ROUNDS {
        // Arrange
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 3)]).await;

        // Act: a client that makes a new key for every click.
        let answers: Vec<TestResponse> = join_all((0..SUBMITS).map(|i| {
            let app = app.clone();
            let cart = cart.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(250 * i)).await;
                app.purchase(&cart, buyer, &format!("click-{i}")).await
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

        // Assert
        let bought = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(bought, 1, "round {round}: the cart is bought once");
        for r in answers.iter().filter(|r| r.status != 200) {
            assert_eq!(r.status, 409, "{}", r.text);
            let code = r.body["code"].as_str().unwrap();
            assert!(
                code == "cart_empty" || code == "request_in_progress",
                "round {round}: {}",
                r.text
            );
        }
    }
    let store = app.direct().clone();
    assert_eq!(stock_of(&store, 1).await, 10_000 - 3 * ROUNDS);
    assert_eq!(
        order_count(&store).await as u64,
        ROUNDS,
        "only the purchases bound their keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_racing_an_add_to_the_same_cart_never_loses_the_added_units() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 24;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 1_000), ("B", 250, 1_000)]).await;
    let (mut bought_with_it, mut left_in_cart) = (0, 0);

    for round in 0..ROUNDS {
        // Arrange: a cart with one unit of item 1; the add is of a new item (2) in even
        // rounds, of one more unit of item 1 in odd rounds.
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 1)]).await;
        let item = if round % 2 == 0 { 2 } else { 1 };
        let in_cart_before = if item == 1 { 1 } else { 0 };
        // The item's units in the stock and held by the cart (under `hold`; none under
        // `latest`): what was ordered leaves them, nothing else.
        let units_of =
            || async { stock_of(app.store(), item).await + app.held_in(&cart, item).await };
        let units_before = units_of().await;

        // Act: the purchase and the add, at once (the add a little later each round).
        let buying = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "k").await })
        };
        let adding = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(round / 2 % 6)).await;
                app.add(&cart, buyer, item, 1).await
            })
        };
        let (bought, add_answer) = (buying.await.unwrap(), adding.await.unwrap());

        // Assert: every unit of the item is in the order or in the cart, none in both.
        assert_fresh_success(&bought);
        assert_eq!(add_answer.status, 200, "{}", add_answer.text);
        let units = |lines: &[(u64, u64, u64)]| -> u64 {
            lines
                .iter()
                .filter(|(id, _, _)| *id == item)
                .map(|(_, q, _)| q)
                .sum()
        };
        let ordered = lines_of(&bought.body["order"]);
        let cart_now = lines_of(&stored_cart(app.store(), &cart).await);
        assert_eq!(
            units(&ordered) + units(&cart_now),
            in_cart_before + 1,
            "round {round}: order {ordered:?}, cart {cart_now:?}"
        );
        assert!(ordered.iter().any(|(id, _, _)| *id == 1));
        assert_eq!(
            units_of().await,
            units_before - units(&ordered),
            "round {round}: the stock pays for what was ordered"
        );
        if units(&cart_now) == 0 {
            bought_with_it += 1;
            assert!(cart_now.is_empty());
        } else {
            left_in_cart += 1;
        }
    }
    eprintln!("the added unit was bought {bought_with_it} times, left in the cart {left_in_cart}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_racing_a_price_change_never_charges_a_price_the_item_did_not_have() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 24;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 1_000, 1_000)]).await;
    let (mut at_old_price, mut refused) = (0u64, 0u64);

    for round in 0..ROUNDS {
        // Arrange
        let old = 1_000 + round;
        let new = old + 1;
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 1)]).await;
        let stock = stock_of(app.store(), 1).await;

        // Act
        let buying = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "k").await })
        };
        let repricing = {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(round % 5)).await;
                app.set_price(1, new).await;
            })
        };
        let bought = buying.await.unwrap();
        repricing.await.unwrap();

        // Assert
        let cart_now = lines_of(&stored_cart(app.store(), &cart).await);
        match bought.status {
            200 => {
                at_old_price += 1;
                assert_eq!(bought.body["order"]["lines"][0]["unit_price"], old);
                assert_eq!(bought.body["order"]["total"], old);
                // Under `hold` the unit left the stock when it was added.
                let from_stock = if app.holds() { 0 } else { 1 };
                assert_eq!(stock_of(app.store(), 1).await, stock - from_stock);
                assert!(cart_now.is_empty());
            }
            _ => {
                refused += 1;
                bought.assert_problem(409, "price_changed");
                assert_eq!(
                    bought.body["items"],
                    json!([{ "item_id": 1, "cart_price": old, "current_price": new }])
                );
                assert_eq!(stock_of(app.store(), 1).await, stock);
                assert_eq!(cart_now, [(1, 1, new)]);
            }
        }
        assert_eq!(app.order_count().await as u64, at_old_price);
    }
    eprintln!("bought at the old price {at_old_price} times, price_changed {refused} times");
    if app.holds() {
        assert_eq!(refused, 0, "a live hold keeps its price");
    }
}

// ---------------------------------------------------------------------------------------------
// Faults, injected on the wire

#[tokio::test]
async fn a_transaction_conflict_is_retried_with_the_same_token_and_the_purchase_succeeds() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    proxy.reset_counts();
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Once,
    );

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let tokens = tokens(&proxy);
    assert_eq!(tokens.len(), 2, "one conflict, one retry");
    assert!(
        !tokens[0].is_empty() && tokens[0] == tokens[1],
        "{tokens:?}"
    );
    let after = world(&store, &cart, &[1, 2]).await;
    assert_eq!(after.stocks, [3, 4]);
    assert_eq!(after.orders, 1);
    assert!(lines_of(&after.cart).is_empty());
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_answers_503_and_changes_nothing() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    let before = world(&store, &cart, &[1, 2]).await;
    proxy.reset_counts();
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict,
        Times::Always,
    );

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    r.assert_problem(503, "service_unavailable");
    r.assert_retry_after();
    let tokens = tokens(&proxy);
    eprintln!("a conflicting transaction was tried {} times", tokens.len());
    assert!(
        (2..=10).contains(&tokens.len()),
        "retried, a bounded number of times: {}",
        tokens.len()
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
    assert_eq!(world(&store, &cart, &[1, 2]).await, before);

    // Once the conflicts stop, the same key buys.
    proxy.clear();
    let again = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&again);
    assert_eq!(world(&store, &cart, &[1, 2]).await.stocks, [3, 4]);
}

/// How DynamoDB fails in one case of the table below.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Rule(&'static str, Fault),
    Outage,
}

#[tokio::test]
async fn dynamodb_failing_during_a_purchase_answers_503_and_leaves_nothing_half_done() {
    let cases = [
        (
            "500 on the transaction",
            Failure::Rule("TransactWriteItems", Fault::InternalError),
        ),
        (
            "throttled transaction",
            Failure::Rule("TransactWriteItems", Fault::Throttling),
        ),
        (
            "connection closed on the transaction",
            Failure::Rule("TransactWriteItems", Fault::Disconnect),
        ),
        (
            "500 on the read",
            Failure::Rule("BatchGetItem", Fault::InternalError),
        ),
        (
            "throttled read",
            Failure::Rule("BatchGetItem", Fault::Throttling),
        ),
        ("DynamoDB unreachable", Failure::Outage),
    ];

    join_all(cases.into_iter().map(|(what, failure)| async move {
        // Arrange
        let (proxy, app, store) = proxied().await;
        app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
        let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
        let before = world(&store, &cart, &[1, 2]).await;
        match failure {
            Failure::Rule(target, fault) => proxy.inject(target, fault, Times::Always),
            Failure::Outage => proxy.go_down(),
        }

        // Act
        let r = app.purchase(&cart, 7, "k").await;

        // Assert
        assert_eq!(r.status, 503, "{what}: {}", r.text);
        r.assert_problem(503, "service_unavailable");
        r.assert_retry_after();
        assert_eq!(world(&store, &cart, &[1, 2]).await, before, "{what}");

        // DynamoDB is back: the same key buys, once.
        proxy.clear();
        proxy.come_back().await;
        let again = app.purchase(&cart, 7, "k").await;
        assert_fresh_success(&again);
        let after = world(&store, &cart, &[1, 2]).await;
        assert_eq!(after.stocks, [3, 4], "{what}");
        assert_eq!(after.orders, 1, "{what}");
    }))
    .await;
}

#[tokio::test]
async fn one_dynamodb_500_is_absorbed_by_the_sdk_retry() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    proxy.reset_counts();
    proxy.inject("TransactWriteItems", Fault::InternalError, Times::Once);

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_fresh_success(&r);
    let tokens = tokens(&proxy);
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0], tokens[1]);
    assert_eq!(stock_of(&store, 1).await, 3);
}

#[tokio::test]
async fn a_cart_endpoint_answers_503_with_retry_after_while_dynamodb_fails() {
    for failure in [
        Failure::Rule("GetItem", Fault::InternalError),
        Failure::Rule("GetItem", Fault::Throttling),
        Failure::Rule("GetItem", Fault::Disconnect),
        Failure::Outage,
    ] {
        // Arrange
        let (proxy, app, _) = proxied().await;
        let cart = app.new_cart(7).await;
        match failure {
            Failure::Rule(target, fault) => proxy.inject(target, fault, Times::Always),
            Failure::Outage => proxy.go_down(),
        }

        // Act
        let r = app.view_cart(&cart).await;

        // Assert
        assert_eq!(r.status, 503, "{failure:?}: {}", r.text);
        r.assert_problem(503, "service_unavailable");
        r.assert_retry_after();
        proxy.clear();
        proxy.come_back().await;
        assert_eq!(app.view_cart(&cart).await.status, 200, "{failure:?}");
    }
}

#[tokio::test]
async fn a_response_lost_after_the_commit_is_recovered_by_retrying_with_the_same_key() {
    // Arrange: every answer to the transaction is lost, after DynamoDB applied it.
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5), ("B", 200, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Always);

    // Act
    let lost = app.purchase(&cart, 7, "k").await;

    // Assert: the client could not know; the purchase was made once.
    lost.assert_problem(503, "service_unavailable");
    lost.assert_retry_after();
    let committed = world(&store, &cart, &[1, 2]).await;
    assert_eq!(committed.stocks, [3, 4]);
    assert_eq!(committed.orders, 1);
    assert!(lines_of(&committed.cart).is_empty());

    // The client retries with the same key: the original order.
    proxy.clear();
    let retried = app.purchase(&cart, 7, "k").await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    let order = app.get_order(&order_id_of(&retried), Some("7")).await;
    assert_eq!(order.status, 200, "the replay names the stored order");
    assert_eq!(order.body["order"], retried.body["order"]);
    assert_eq!(
        retried.body["order"]["lines"],
        json!([
            { "item_id": 1, "name": "A", "quantity": 2, "unit_price": 100 },
            { "item_id": 2, "name": "B", "quantity": 1, "unit_price": 200 },
        ])
    );
    assert_eq!(world(&store, &cart, &[1, 2]).await, committed);
}

#[tokio::test]
async fn a_response_lost_once_is_recovered_inside_the_same_request() {
    // Arrange
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    proxy.reset_counts();
    proxy.inject("TransactWriteItems", Fault::LoseResponse, Times::Once);

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert: the SDK's retry carries the same token; either DynamoDB recognises it, or the
    // purchase finds its own order. The answer is the order stored, made once.
    assert_eq!(r.status, 200, "{}", r.text);
    eprintln!(
        "after a lost response the purchase answered with Idempotent-Replayed {:?}",
        r.header("idempotent-replayed")
    );
    let tokens = tokens(&proxy);
    assert!(
        tokens.len() >= 2 && tokens.iter().all(|t| t == &tokens[0]),
        "{tokens:?}"
    );
    assert_eq!(stock_of(&store, 1).await, 3);
    assert_eq!(order_count(&store).await, 1);
    let order = app.get_order(&order_id_of(&r), Some("7")).await;
    assert_eq!(order.body["order"], r.body["order"]);
    assert_replayed(&app.purchase(&cart, 7, "k").await, &r);
}

/// What a `BatchGetItem` of the key's order and the cart answers when it reads the order just
/// before a purchase with that key commits and the cart just after: DynamoDB reads the items of
/// a batch one by one, not as one snapshot.
fn hide_the_keys_order(answer: &mut Value) {
    if let Some(responses) = answer["Responses"].as_object_mut() {
        for (table, items) in responses.iter_mut() {
            if table.ends_with("-orders") {
                *items = json!([]);
            }
        }
    }
}

#[tokio::test]
async fn a_submit_whose_read_straddles_the_commit_of_its_key_replays_the_purchase() {
    // Arrange: a purchase with the key is made; the next read misses its order but sees the
    // cart it emptied (the interleaving the concurrent-submits race hits now and then).
    let (proxy, app, store) = proxied().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.cart_with(7, &[(1, 2)]).await;
    let first = app.purchase(&cart, 7, "k").await;
    assert_fresh_success(&first);
    proxy.inject(
        "BatchGetItem",
        Fault::RewriteResponse(hide_the_keys_order),
        Times::Once,
    );

    // Act
    let straddling = app.purchase(&cart, 7, "k").await;

    // Assert
    assert_replayed(&straddling, &first);
    assert_eq!(stock_of(&store, 1).await, 3);
    assert_eq!(order_count(&store).await, 1);
}
