//! Every file in `events/` through its function's handler against DynamoDB Local, so the
//! examples the README invokes (`cargo lambda invoke <function> --data-file events/...`,
//! `sam local invoke -e events/...`) never rot.
//!
//! The events are fixed files, valid as they are: the cart events carry the claims of one user,
//! as API Gateway's JWT authorizer passes them on, and name that user's cart id (`NT-0f8Z...`);
//! the guest events carry one guest's `Guest-Token` (no authorizer runs on a guest's route in
//! `jwt` mode) and name that guest's cart id (`TRxaLot_...`; a guest's id is the SHA-256 of the
//! token, so a test can give that guest a cart with that id), which the merge event merges into
//! the user's cart;
//! `get-order` names one order id, and the order's transitions (`cancel-order`, the admin order
//! events, the Stripe webhook's payment) name the order the purchase event buys (its id is its
//! idempotency key's). `create-cart` makes random ids, so on fresh tables those targets do not
//! exist and the handlers answer 404, a proper answer and the one documented below. Other tests
//! give the user's cart that id and walk it to a purchase and through the order's life.
//!
//! The Stripe event is signed as Stripe signs it, with the test kit's secret (`whsec_test`), at
//! its own time: a signature that was genuine and is now long past Stripe's 5-minute tolerance
//! (no signed sample stays valid), so it answers `400 invalid_signature`, as a replayed event
//! must. The tests that need it accepted sign its body again, now.
//!
//! The stream event (`publish-order-events`) is a batch of the orders table's stream as Lambda
//! delivers it: an order placed, then paid, and a key's record of a cart write; it publishes two
//! events, valid against asyncapi.yaml, on the test kit's stand-in for EventBridge.
//!
//! The last tests are the least-privilege checks: they record, through a proxy, every DynamoDB
//! call each function makes while the events (and a few variations of them reaching the rarer
//! code paths) run, and compare them with the function's policy in `template.yaml`. The order
//! events' publisher is walked too: the stand-in for its stream mapping reads everything the walk
//! wrote through the proxy (the stream calls Lambda makes with the function's role), the
//! publisher puts the events on the stand-in bus (its `PutEvents`, and the bus it named), and a
//! record it cannot read is given up on (what the mapping sends the dead-letter queue).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Context, LambdaEvent, Request};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use shared::domain::{now_unix, CartId, CheckoutPolicy, GuestToken};
use shared::http::stripe::{sign, verified_event};
use shared::scheduled::Scheduled;
use shared::store::schema::table_definitions;
use testkit::contract::Contract;
use testkit::event_bus::LocalEventBus;
use testkit::stream::{InProcess, StreamMapping, STREAMS_TARGET_PREFIX};
use testkit::{assert_no_internals, TestApp, TestResponse};
use testkit::{DynamoDbProxy, Seen};

fn event_json(function: &str) -> Value {
    let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

/// Calls `function`'s handler with `event`, checking what every answer must be: never a 5xx,
/// JSON, and a well-formed problem whenever it is an error.
async fn call(app: &TestApp, function: &str, event: &Value) -> TestResponse {
    let response = app.call_function(function, request(event)).await;
    assert!(
        response.status < 500,
        "events/{function}.json: {} {}",
        response.status,
        response.text
    );
    if response.status >= 400 {
        let code = response.body["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        response.assert_problem(response.status, &code);
    } else {
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "events/{function}.json"
        );
        assert!(response.body.is_object(), "events/{function}.json");
        assert_no_internals(&response.text);
    }
    response
}

async fn invoke(app: &TestApp, function: &str) -> TestResponse {
    call(app, function, &event_json(function)).await
}

/// Runs `events/release-holds.json` as EventBridge would deliver it.
async fn run_sweep_event(app: &TestApp) -> release_holds::SweepSummary {
    let event = LambdaEvent::new(event_json("release-holds"), Context::default());
    <release_holds::ReleaseHolds as Scheduled>::run(app.store(), event)
        .await
        .expect("the scheduled sweep succeeds")
}

/// Runs `events/seed-catalog.json` as EventBridge would deliver it.
async fn run_seed_event(app: &TestApp) -> seed_catalog::SeedSummary {
    let event = LambdaEvent::new(event_json("seed-catalog"), Context::default());
    <seed_catalog::SeedCatalog as Scheduled>::run(app.store(), event)
        .await
        .expect("the scheduled seed succeeds")
}

/// A test app configured as deployed: the admin functions insist on an IAM identity (the admin
/// events pass because of their `requestContext.authorizer.iam` block), and the cart functions
/// trust only the JWT authorizer's claims (`requestContext.authorizer.jwt`).
async fn app_as_deployed() -> TestApp {
    let mut app = TestApp::spawn().await.behind_jwt_authorizer();
    app.state.config.auth.allow_unsigned_requests = false;
    app
}

/// What each HTTP event answers on fresh tables once the seed event has run, in this order.
const ON_A_SEEDED_CATALOG: &[(&str, u16, Option<&str>)] = &[
    ("list-items", 200, None),
    ("admin-create-item", 201, None),
    // Item 1 is in the dataset.
    ("admin-update-item", 200, None),
    // A new code.
    ("admin-discounts", 201, None),
    // The user's first cart.
    ("create-cart", 201, None),
    // A new guest; then the events' guest, whom the test gave a cart with the events' id.
    ("guest-create-cart", 201, None),
    ("guest-get-cart", 200, None),
    ("guest-add-cart-item", 200, None),
    ("guest-set-cart-item", 200, None),
    ("guest-remove-cart-item", 200, None),
    // The user (whose cart create-cart just made) takes the guest's cart.
    ("merge-cart", 200, None),
    // The cart events' fixed id is not the id create-cart just made at random.
    ("get-cart", 404, Some("cart_not_found")),
    ("add-cart-item", 404, Some("cart_not_found")),
    ("remove-cart-item", 404, Some("cart_not_found")),
    ("set-cart-item", 404, Some("cart_not_found")),
    ("cart-discount", 404, Some("cart_not_found")),
    ("purchase-cart", 404, Some("cart_not_found")),
    // The user has no orders yet: an empty page.
    ("list-orders", 200, None),
    // No order has the event's id.
    ("get-order", 404, Some("order_not_found")),
    // The purchase event bought nothing: the order its transitions name does not exist.
    ("admin-order-payment", 404, Some("order_not_found")),
    ("admin-fulfil-order", 404, Some("order_not_found")),
    ("cancel-order", 404, Some("order_not_found")),
    ("admin-cancel-order", 404, Some("order_not_found")),
    // Signed at the event's time, long ago: a replay, refused before anything is read.
    ("stripe-webhook", 400, Some("invalid_signature")),
];

#[tokio::test]
async fn every_event_answers_its_documented_status_on_a_freshly_seeded_catalog() {
    let app = app_as_deployed().await;
    let dataset = seed_catalog::parse_dataset(seed_catalog::DATASET).unwrap();

    let summary = run_seed_event(&app).await;
    assert_eq!(summary.items, dataset.len());

    let mut http_events: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
            .filter(|name| {
                !["seed-catalog", "release-holds", "publish-order-events"].contains(&name.as_str())
            })
            .collect();
    http_events.sort();
    let mut documented: Vec<String> = ON_A_SEEDED_CATALOG
        .iter()
        .map(|(f, ..)| (*f).to_owned())
        .collect();
    documented.sort();
    assert_eq!(
        documented, http_events,
        "every event's answer is documented"
    );
    give_the_guest_the_events_cart(&app).await;

    for &(function, status, code) in ON_A_SEEDED_CATALOG {
        let response = invoke(&app, function).await;

        match code {
            Some(code) => response.assert_problem(status, code),
            None => assert_eq!(
                response.status, status,
                "events/{function}.json: {}",
                response.text
            ),
        }
    }
}

#[tokio::test]
async fn the_listing_event_finds_the_seeded_wines_in_its_price_range() {
    let app = app_as_deployed().await;
    run_seed_event(&app).await;

    let response = invoke(&app, "list-items").await;

    assert_eq!(response.status, 200, "{}", response.text);
    let items = response.body["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the event's filters match seeded items");
    assert!(items.len() <= 5, "limit=5");
    for item in items {
        let name = item["name"].as_str().unwrap().to_lowercase();
        let price = item["price"].as_u64().unwrap();
        assert!(name.contains("wine"), "{item}");
        assert!((500..=5000).contains(&price), "{item}");
    }
}

#[tokio::test]
async fn the_admin_events_pass_on_their_iam_identity_alone() {
    let app = app_as_deployed().await;
    run_seed_event(&app).await;

    for function in ADMIN_EVENTS {
        let mut unsigned = event_json(function);
        unsigned["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");

        call(&app, function, &unsigned)
            .await
            .assert_problem(403, "forbidden");
        let signed = invoke(&app, function).await;
        match function.contains("order") {
            // Let through; the order does not exist on fresh tables.
            true => signed.assert_problem(404, "order_not_found"),
            false => assert!(signed.status < 300, "{function}: {}", signed.text),
        }
    }
}

const ADMIN_EVENTS: [&str; 5] = [
    "admin-create-item",
    "admin-update-item",
    "admin-order-payment",
    "admin-fulfil-order",
    "admin-cancel-order",
];

/// The test kit's webhook secret (`Config::for_tables`), which the Stripe event is signed with.
fn webhook_secret(app: &TestApp) -> Vec<u8> {
    let secret = app.state.config.stripe_webhook_secret.clone();
    secret.expect("the test kit's webhook secret")
}

/// The Stripe event with `body` (the event's own when `None`), signed now with `secret`.
fn signed_now(event: &mut Value, body: Option<Value>, secret: &[u8]) {
    let body = match body {
        Some(body) => body.to_string(),
        None => event["body"].as_str().unwrap().to_owned(),
    };
    event["headers"]["stripe-signature"] = json!(sign(body.as_bytes(), secret, now_unix()));
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["body"] = json!(body);
}

/// The Stripe event's body as `kind` for the order `id`.
fn stripe_body(kind: &str, id: &str) -> Value {
    let mut body: Value =
        serde_json::from_str(event_json("stripe-webhook")["body"].as_str().unwrap()).unwrap();
    body["type"] = json!(kind);
    body["data"]["object"]["metadata"]["order_id"] = json!(id);
    body
}

/// An order event (`cancel-order`, the admin order events) for the order `id` instead.
fn for_order(event: &mut Value, id: &str) {
    let named = event["pathParameters"]["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = event["rawPath"].as_str().unwrap().replace(&named, id);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"]["order_id"] = json!(id);
}

#[tokio::test]
async fn the_stripe_event_is_genuinely_signed_at_its_own_time_and_verifies_once_signed_now() {
    let app = app_as_deployed().await;
    let event = event_json("stripe-webhook");
    let header = event["headers"]["stripe-signature"].as_str().unwrap();
    let body = event["body"].as_str().unwrap().as_bytes();
    let at: i64 = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .and_then(|t| t.parse().ok())
        .expect("t=<unix seconds>");
    let secret = webhook_secret(&app);

    // Right then; refused now only for its age.
    assert!(verified_event(header, body, &secret, at).is_ok());
    invoke(&app, "stripe-webhook")
        .await
        .assert_problem(400, "invalid_signature");
    let mut now = event.clone();
    signed_now(&mut now, None, &secret);
    call(&app, "stripe-webhook", &now)
        .await
        .assert_problem(404, "order_not_found");
    // Signed with another secret: refused, whenever.
    let mut forged = event.clone();
    signed_now(&mut forged, None, b"whsec_another");
    call(&app, "stripe-webhook", &forged)
        .await
        .assert_problem(400, "invalid_signature");
}

/// Gives the events' user's cart the id the cart events use (the token is the random half of a
/// cart id; the user id the other). Storage detail on purpose: no API sets a cart's id.
async fn give_the_users_cart_the_events_id(app: &TestApp) -> CartId {
    give_the_events_cart_id(app, "get-cart").await
}

/// Gives the events' guest (the guest their `Guest-Token` makes: its SHA-256) a new cart with the
/// id the guest events use, as the guest's cart creation would have, had it drawn that token.
async fn give_the_guest_the_events_cart(app: &TestApp) -> CartId {
    let event = event_json("guest-get-cart");
    let token = event["headers"]["guest-token"].as_str().unwrap();
    let guest = GuestToken::parse(token).expect("a guest token").guest();
    let store = app.store();
    let (_, created) = store.create_or_get_cart(&guest, now_unix()).await.unwrap();
    assert!(created, "the events' guest had no cart");
    give_the_events_cart_id(app, "guest-get-cart").await
}

/// Gives the cart of the owner of the cart id `function`'s event names that id.
async fn give_the_events_cart_id(app: &TestApp, function: &str) -> CartId {
    let event = event_json(function);
    let id = CartId::parse(event["pathParameters"]["cart_id"].as_str().unwrap()).unwrap();
    app.store()
        .client()
        .update_item()
        .table_name(&app.store().tables().carts)
        .key("user_id", AttributeValue::S(id.owner().to_string()))
        .update_expression("SET cart_token = :token")
        .condition_expression("attribute_exists(user_id)")
        .expression_attribute_values(":token", AttributeValue::S(id.token().to_string()))
        .send()
        .await
        .expect("the user has a cart");
    id
}

#[tokio::test]
async fn the_cart_events_take_their_users_cart_from_first_item_to_purchase() {
    let app = app_as_deployed().await;
    run_seed_event(&app).await;
    assert_eq!(invoke(&app, "create-cart").await.status, 201);
    let id = give_the_users_cart_the_events_id(&app).await;
    let stock_before = app.item(1).await.stock.get();

    let added = invoke(&app, "add-cart-item").await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["cart"]["id"], id.to_string());
    assert_eq!(added.body["cart"]["lines"][0]["item_id"], 1);
    assert_eq!(added.body["cart"]["lines"][0]["quantity"], 2);
    let set = invoke(&app, "set-cart-item").await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["cart"]["lines"][0]["quantity"], 3);
    // Nothing has expired: the sweep finds nothing to give back.
    assert_eq!(run_sweep_event(&app).await.units, 0);

    let seen = invoke(&app, "get-cart").await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body, set.body);

    let removed = invoke(&app, "remove-cart-item").await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["cart"]["lines"], json!([]));

    invoke(&app, "purchase-cart")
        .await
        .assert_problem(409, "cart_empty");

    assert_eq!(invoke(&app, "add-cart-item").await.status, 200);
    let bought = invoke(&app, "purchase-cart").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    assert_eq!(bought.body["order"]["cart_id"], id.to_string());
    assert_eq!(bought.body["order"]["lines"][0]["quantity"], 2);

    let replayed = invoke(&app, "purchase-cart").await;
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.text, bought.text);

    assert_eq!(app.item(1).await.stock.get(), stock_before - 2);
    assert_eq!(app.order_count().await, 1);
    let emptied = invoke(&app, "get-cart").await;
    assert_eq!(emptied.body["cart"]["lines"], json!([]));
    let orders = invoke(&app, "list-orders").await;
    assert_eq!(orders.body["orders"][0], bought.body["order"]);
    assert_eq!(orders.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_guest_events_fill_the_guests_cart_which_the_merge_event_brings_to_the_user_who_buys_it(
) {
    let app = app_as_deployed().await;
    run_seed_event(&app).await;
    assert_eq!(invoke(&app, "create-cart").await.status, 201);
    let users = give_the_users_cart_the_events_id(&app).await;
    let guests = give_the_guest_the_events_cart(&app).await;
    let stock_before = app.item(1).await.stock.get();

    let added = invoke(&app, "guest-add-cart-item").await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["cart"]["id"], guests.to_string());
    assert_eq!(added.body["cart"]["user_id"], guests.owner().to_string());
    assert_eq!(added.body["cart"]["lines"][0]["quantity"], 1);
    let set = invoke(&app, "guest-set-cart-item").await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["cart"]["lines"][0]["quantity"], 2);
    let seen = invoke(&app, "guest-get-cart").await;
    assert_eq!(seen.body, set.body);
    // Another guest's token, or none: the events' cart stays closed.
    let other = GuestToken::generate();
    let mut wrong = event_json("guest-get-cart");
    wrong["headers"]["guest-token"] = json!(other.as_str());
    call(&app, "guest-get-cart", &wrong)
        .await
        .assert_problem(404, "cart_not_found");
    let mut none = event_json("guest-get-cart");
    none["headers"]
        .as_object_mut()
        .unwrap()
        .remove("guest-token");
    call(&app, "guest-get-cart", &none)
        .await
        .assert_problem(401, "unauthenticated");
    let removed = invoke(&app, "guest-remove-cart-item").await;
    assert_eq!(removed.body["cart"]["lines"], json!([]));
    assert_eq!(invoke(&app, "guest-add-cart-item").await.status, 200);

    // The user signs in and takes the guest's cart: one line, reported; the guest's cart gone.
    let merged = invoke(&app, "merge-cart").await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["cart"]["id"], users.to_string());
    assert_eq!(merged.body["cart"]["lines"][0]["quantity"], 1);
    assert_eq!(
        merged.body["merge"],
        json!([{"item_id": 1, "from": "guest", "quantity": 1, "outcome": "merged"}])
    );
    for function in ["merge-cart", "guest-get-cart"] {
        invoke(&app, function)
            .await
            .assert_problem(404, "cart_not_found");
    }
    // Then buys.
    let bought = invoke(&app, "purchase-cart").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    assert_eq!(bought.body["order"]["lines"][0]["quantity"], 1);
    assert_eq!(app.item(1).await.stock.get(), stock_before - 1);
}

#[tokio::test]
async fn the_order_events_take_the_order_the_purchase_event_bought_through_its_life() {
    let app = app_as_deployed().await.taking_payments(900);
    run_seed_event(&app).await;
    assert_eq!(invoke(&app, "create-cart").await.status, 201);
    give_the_users_cart_the_events_id(&app).await;
    assert_eq!(invoke(&app, "add-cart-item").await.status, 200);
    let bought = invoke(&app, "purchase-cart").await;
    assert_eq!(bought.status, 200, "{}", bought.text);
    assert_eq!(bought.body["order"]["status"], "pending_payment");
    let id = bought.body["order"]["id"].as_str().unwrap();
    for function in ["cancel-order", "stripe-webhook"]
        .into_iter()
        .chain(ADMIN_EVENTS.into_iter().filter(|f| f.contains("order")))
    {
        let event = event_json(function);
        let named = match function {
            "stripe-webhook" => {
                let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
                body["data"]["object"]["metadata"]["order_id"].clone()
            }
            _ => event["pathParameters"]["order_id"].clone(),
        };
        assert_eq!(
            named, id,
            "events/{function}.json names the purchase event's order"
        );
    }

    // Stripe's capture, delivered now; the payment service's report of the same payment.
    let mut stripe = event_json("stripe-webhook");
    signed_now(&mut stripe, None, &webhook_secret(&app));
    let paid = call(&app, "stripe-webhook", &stripe).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.body["order"]["status"], "paid");
    let reported = invoke(&app, "admin-order-payment").await;
    assert_eq!(reported.status, 200, "{}", reported.text);
    assert_eq!(reported.body, paid.body, "the same payment: unchanged");
    let fulfilled = invoke(&app, "admin-fulfil-order").await;
    assert_eq!(fulfilled.body["order"]["status"], "fulfilled");
    for function in ["cancel-order", "admin-cancel-order"] {
        invoke(&app, function)
            .await
            .assert_problem(409, "order_not_cancellable");
    }
}

/// The bus the tests' publisher names.
const EVENT_BUS: &str = "cart-api-orders";

/// A folder of a test's own, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let name = format!("cart-api-events-{}", uuid::Uuid::new_v4());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The publisher as deployed (`EVENT_BUS_NAME`, `EVENT_SOURCE` as the template sets them), its
/// EventBridge client pointed at `bus`.
fn publisher(bus: &LocalEventBus) -> publish_order_events::PublishOrderEvents {
    let url = bus.url();
    let vars = move |name: &str| match name {
        "EVENT_BUS_NAME" => Some(EVENT_BUS.to_owned()),
        "EVENT_SOURCE" => Some("cart-api".to_owned()),
        "AWS_ENDPOINT_URL_EVENTBRIDGE" => Some(url.clone()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("local".to_owned()),
        _ => None,
    };
    publish_order_events::PublishOrderEvents::from_vars(&vars).expect("its configuration")
}

#[tokio::test]
async fn the_stream_event_publishes_the_orders_two_changes_and_nothing_for_the_keys_record() {
    let scratch = Scratch::new();
    let bus = LocalEventBus::start(scratch.0.join("events.jsonl")).await;
    let event: shared::stream::StreamEvent =
        serde_json::from_value(event_json("publish-order-events")).expect("Lambda's stream event");
    assert_eq!(event.records.len(), 3);

    let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answer = publisher(&bus).publish_batch(&event, later).await;

    assert_eq!(answer, shared::stream::BatchResponse::done());
    let events = bus.events();
    let contract = Contract::load();
    events.iter().for_each(|e| contract.assert_valid(e));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["OrderPlaced", "OrderPaid"]);
    let paid = &events[1]["detail"];
    assert_eq!(paid["previous_status"], "pending_payment");
    assert_eq!(
        paid["order"]["payment_reference"],
        "pi_3QExampleOrderPayment01"
    );
    // The purchase event's order, the one the order events name.
    assert_eq!(
        paid["order"]["id"],
        event_json("cancel-order")["pathParameters"]["order_id"]
    );
    assert_eq!(events[0]["source"], "cart-api");
}

// --- least privilege -------------------------------------------------------------------------

/// One DynamoDB permission: the IAM action, the table's logical id, and the index if any.
type Grant = (String, String, Option<String>);

/// What `function`'s policies in `template.yaml` allow.
fn granted(template: &Yaml, function: &str) -> BTreeSet<Grant> {
    let resource = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .unwrap_or_else(|| panic!("{function} is in template.yaml"));
    let mut grants = BTreeSet::new();
    for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
        // SAM's policy templates (the cursor key's read) are no DynamoDB permission.
        let Some(statements) = policy["Statement"].as_sequence() else {
            continue;
        };
        for statement in statements {
            let actions: Vec<&str> = match &statement["Action"] {
                Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).collect(),
                one => vec![one.as_str().unwrap()],
            };
            let resources: Vec<&Yaml> = match &statement["Resource"] {
                Yaml::Sequence(many) => many.iter().collect(),
                one => vec![one],
            };
            for action in &actions {
                for resource in &resources {
                    let (table, index) = granted_resource(function, resource);
                    grants.insert((
                        action.trim_start_matches("dynamodb:").to_owned(),
                        table,
                        index,
                    ));
                }
            }
        }
    }
    grants
}

/// The resource of a grant: a table (`!GetAtt T.Arn`), its index (`!Sub ${T.Arn}/index/I`) or
/// stream (`!Sub ${T.Arn}/stream/*`, as `stream/*`), or another resource of the template by its
/// logical id (`!GetAtt R.Arn`; `!If [created, !GetAtt R.Arn, the one a parameter names]`: R, the
/// bus the function puts on either way).
fn granted_resource(function: &str, resource: &Yaml) -> (String, Option<String>) {
    let Yaml::Tagged(tagged) = resource else {
        panic!("{function}: {resource:?} is !GetAtt, !Sub or !If");
    };
    if tagged.tag == "If" {
        let branches = tagged.value.as_sequence().unwrap();
        return granted_resource(function, &branches[1]);
    }
    let text = tagged.value.as_str().unwrap();
    if tagged.tag == "GetAtt" {
        return (text.trim_end_matches(".Arn").to_owned(), None);
    }
    let rest = text.trim_start_matches("${");
    if let Some((table, stream)) = rest.split_once(".Arn}/stream/") {
        return (table.to_owned(), Some(format!("stream/{stream}")));
    }
    let (table, index) = rest.split_once(".Arn}/index/").unwrap();
    (table.to_owned(), Some(index.to_owned()))
}

/// The permissions the requests in `seen` need. A transaction needs no action of its own: each
/// of its items is authorized as the single-item call it is (PutItem, UpdateItem, ...).
fn needed(app: &TestApp, seen: &[Seen]) -> BTreeSet<Grant> {
    let logical_ids: BTreeMap<String, &str> = table_definitions(app.store().tables())
        .into_iter()
        .map(|def| (def.name, def.logical_id))
        .collect();
    let table = |name: &Value| logical_ids[name.as_str().unwrap()].to_owned();
    let mut needs = BTreeSet::new();
    for request in seen {
        let body = &request.body;
        // The stream calls the mapping makes with the function's role. ListStreams names the
        // table, DescribeStream and GetShardIterator the stream's ARN, GetRecords an iterator
        // (DynamoDB Local's begins with the stream's ARN).
        if let Some(operation) = request.target.strip_prefix(STREAMS_TARGET_PREFIX) {
            let name = match body["TableName"].as_str() {
                Some(name) => name.to_owned(),
                None => {
                    let arn = body["StreamArn"]
                        .as_str()
                        .or(body["ShardIterator"].as_str());
                    let arn = arn.unwrap_or_else(|| panic!("{operation}: which stream? {body}"));
                    let (_, rest) = arn.split_once(":table/").unwrap();
                    rest.split_once("/stream/").unwrap().0.to_owned()
                }
            };
            needs.insert((
                operation.to_owned(),
                table(&json!(name)),
                Some("stream/*".to_owned()),
            ));
            continue;
        }
        let operation = request.operation();
        match operation {
            "BatchGetItem" | "BatchWriteItem" => {
                for name in body["RequestItems"].as_object().unwrap().keys() {
                    needs.insert((operation.to_owned(), table(&json!(name)), None));
                }
            }
            "TransactWriteItems" => {
                for item in body["TransactItems"].as_array().unwrap() {
                    let (kind, op) = item.as_object().unwrap().iter().next().unwrap();
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        other => panic!("unknown transaction item {other}"),
                    };
                    needs.insert((action.to_owned(), table(&op["TableName"]), None));
                }
            }
            _ => {
                let index = body["IndexName"].as_str().map(str::to_owned);
                needs.insert((operation.to_owned(), table(&body["TableName"]), index));
            }
        }
    }
    needs
}

/// Runs handlers through a recording proxy and keeps what each function needed.
struct Recorder {
    proxy: DynamoDbProxy,
    app: TestApp,
    /// The order events' stand-in bus, in `scratch`.
    bus: LocalEventBus,
    scratch: Scratch,
    needs: BTreeMap<String, BTreeSet<Grant>>,
    /// Every request each function sent, with the logical id of the table of each.
    sent: BTreeMap<String, Vec<Seen>>,
}

impl Recorder {
    async fn start(policy: CheckoutPolicy) -> Self {
        let (app, proxy) = TestApp::spawn_streaming_behind_proxy().await;
        // Orders wait for a payment, so that every transition has one to wait for.
        let app = app.behind_jwt_authorizer().with_policy(policy);
        let mut app = app.taking_payments(900);
        app.state.config.auth.allow_unsigned_requests = false;
        let scratch = Scratch::new();
        let bus = LocalEventBus::start(scratch.0.join("events.jsonl")).await;
        Self {
            proxy,
            app,
            bus,
            scratch,
            needs: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }

    fn record(&mut self, function: &str) {
        let seen = self.proxy.seen("*");
        self.proxy.reset_counts();
        let needs = needed(&self.app, &seen);
        self.needs
            .entry(function.to_owned())
            .or_default()
            .extend(needs);
        let logical_ids = logical_ids(&self.app);
        let sent = seen.into_iter().map(|mut request| {
            name_tables(&mut request.body, &logical_ids);
            request
        });
        self.sent
            .entry(function.to_owned())
            .or_default()
            .extend(sent);
    }

    async fn seed(&mut self) {
        self.proxy.reset_counts();
        run_seed_event(&self.app).await;
        self.record("seed-catalog");
    }

    /// `function`'s event, changed by `edit` first.
    async fn call_with(&mut self, function: &str, edit: impl FnOnce(&mut Value)) -> TestResponse {
        let mut event = event_json(function);
        edit(&mut event);
        self.proxy.reset_counts();
        let response = call(&self.app, function, &event).await;
        self.record(function);
        response
    }

    async fn call(&mut self, function: &str) -> TestResponse {
        self.call_with(function, |_| {}).await
    }

    /// The sweep, a day from now: every hold has ended.
    async fn sweep_a_day_later(&mut self) {
        self.proxy.reset_counts();
        self.app.sweep_at(now_unix() + 86_400).await;
        self.record("release-holds");
    }

    /// `function`'s event with an `Idempotency-Key`.
    async fn keyed(&mut self, function: &str, key: &str) -> TestResponse {
        self.call_with(function, |e| e["headers"]["idempotency-key"] = json!(key))
            .await
    }

    /// An order event for the order `id`, with an `Idempotency-Key` if `key` is given.
    async fn on_order(&mut self, function: &str, id: &str, key: Option<&str>) -> TestResponse {
        self.call_with(function, |e| {
            for_order(e, id);
            if let Some(key) = key {
                e["headers"]["idempotency-key"] = json!(key);
            }
        })
        .await
    }

    /// Stripe's `kind` event for the order `id`, signed now.
    async fn stripe(&mut self, kind: &str, id: &str) -> TestResponse {
        let secret = webhook_secret(&self.app);
        let body = stripe_body(kind, id);
        self.call_with("stripe-webhook", |e| signed_now(e, Some(body), &secret))
            .await
    }

    /// Two more units of item 1 in the events' cart, with the events' code on it, bought with
    /// the key `key`: the order's id.
    async fn buy(&mut self, key: &str) -> String {
        assert_eq!(self.call("add-cart-item").await.status, 200);
        let coded = self.call("cart-discount").await;
        assert_eq!(
            coded.body["cart"]["discount"]["code"], "SPRING10",
            "{}",
            coded.text
        );
        let bought = self
            .call_with("purchase-cart", |e| {
                e["headers"]["idempotency-key"] = json!(key)
            })
            .await;
        assert_eq!(bought.status, 200, "{}", bought.text);
        assert_eq!(bought.body["order"]["status"], "pending_payment");
        bought.body["order"]["id"].as_str().unwrap().to_owned()
    }

    /// Every event, keyed and not, plus the variations that reach the rarer code paths.
    async fn walk(&mut self) {
        self.seed().await;
        assert_eq!(self.call("list-items").await.status, 200);
        assert_eq!(self.call("admin-create-item").await.status, 201);
        assert_eq!(self.keyed("admin-create-item", "c").await.status, 201);
        assert_eq!(self.call("admin-update-item").await.status, 200);
        assert_eq!(self.keyed("admin-update-item", "u").await.status, 200);
        Box::pin(self.walk_the_codes()).await;
        assert_eq!(self.call("create-cart").await.status, 201);
        give_the_users_cart_the_events_id(&self.app).await;
        assert_eq!(self.call("add-cart-item").await.status, 200);
        assert_eq!(self.keyed("add-cart-item", "a").await.status, 200);
        assert_eq!(self.call("set-cart-item").await.status, 200);
        assert_eq!(self.keyed("remove-cart-item", "r").await.status, 200);
        assert_eq!(self.keyed("set-cart-item", "s").await.status, 200);
        // More than the whole stock: the cart is read to tell 404 from 409.
        self.call_with("add-cart-item", |e| {
            e["body"] = json!(r#"{"item_id":1,"quantity":1000}"#);
        })
        .await
        .assert_problem(409, "insufficient_stock");
        assert_eq!(self.call("get-cart").await.status, 200);
        // The code on the cart and off it again.
        assert_eq!(self.call("cart-discount").await.status, 200);
        let off = self
            .call_with("cart-discount", |e| {
                e["routeKey"] = json!("DELETE /api/v1/cart/{cart_id}/discount");
                e["requestContext"]["routeKey"] = e["routeKey"].clone();
                e["requestContext"]["http"]["method"] = json!("DELETE");
                e["body"] = Value::Null;
            })
            .await;
        assert!(off.body["cart"]["discount"].is_null(), "{}", off.text);
        assert_eq!(self.call("remove-cart-item").await.status, 200);
        // An empty cart: the key's record is read again on its own.
        self.call("purchase-cart")
            .await
            .assert_problem(409, "cart_empty");
        assert_eq!(self.call("add-cart-item").await.status, 200);
        assert_eq!(self.call("purchase-cart").await.status, 200);
        self.walk_the_purchase_events_order().await;
        assert_eq!(self.call("get-order").await.status, 404);
        assert_eq!(self.call("list-orders").await.status, 200);
        // An ended hold (under `hold`) given back, then a price change between adding and
        // buying: the cart's prices are refreshed.
        assert_eq!(self.call("add-cart-item").await.status, 200);
        self.sweep_a_day_later().await;
        self.call_with("admin-update-item", |e| {
            e["body"] = json!(r#"{"price":3299}"#);
        })
        .await;
        self.call_with("purchase-cart", |e| {
            e["headers"]["idempotency-key"] = json!("a-second-purchase");
        })
        .await
        .assert_problem(409, "price_changed");
        self.walk_the_orders().await;
        // On the heap: with every function's handler inlined, the walk's future would not fit
        // a test thread's stack in a debug build.
        Box::pin(self.walk_the_guests()).await;
        Box::pin(self.walk_a_split_item()).await;
        Box::pin(self.publish_the_walks_order_changes()).await;
    }

    /// The events' code created, created again with a key (taken: refused), changed with a key
    /// and without, and read. (Every purchase of the walk after it uses it: [`Self::buy`].)
    async fn walk_the_codes(&mut self) {
        assert_eq!(self.call("admin-discounts").await.status, 201);
        let taken = self.keyed("admin-discounts", "d").await;
        taken.assert_problem(409, "discount_exists");
        let on_code =
            |method: &'static str, body: Option<&'static str>, key: Option<&'static str>| {
                move |e: &mut Value| {
                    let path = "/api/v1/admin/discounts/SPRING10";
                    e["routeKey"] = json!(format!("{method} /api/v1/admin/discounts/{{code}}"));
                    e["requestContext"]["routeKey"] = e["routeKey"].clone();
                    e["requestContext"]["http"]["method"] = json!(method);
                    e["requestContext"]["http"]["path"] = json!(path);
                    e["rawPath"] = json!(path);
                    e["pathParameters"] = json!({ "code": "SPRING10" });
                    e["body"] = body.map_or(Value::Null, |b| json!(b));
                    if let Some(key) = key {
                        e["headers"]["idempotency-key"] = json!(key);
                    }
                }
            };
        let changed = (self.call_with(
            "admin-discounts",
            on_code("PATCH", Some(r#"{"max_uses":1000}"#), None),
        ))
        .await;
        assert_eq!(changed.status, 200, "{}", changed.text);
        let keyed = on_code("PATCH", Some(r#"{"max_uses":2000}"#), Some("dp"));
        assert_eq!(self.call_with("admin-discounts", keyed).await.status, 200);
        let read = self
            .call_with("admin-discounts", on_code("GET", None, None))
            .await;
        assert_eq!(read.body["discount"]["max_uses"], 2000, "{}", read.text);
    }

    /// A guest's cart, each guest function keyed and not, through the paths the user's cart
    /// functions take (under `hold`, a guest holds at most 2 units of an item), then merged
    /// into the user's cart: once as the event says (the held unit moves, no stock), once with
    /// a key, `keep` (under `hold`, the guest's held unit goes back to the stock).
    async fn walk_the_guests(&mut self) {
        assert_eq!(self.call("guest-create-cart").await.status, 201);
        give_the_guest_the_events_cart(&self.app).await;
        assert_eq!(self.call("guest-add-cart-item").await.status, 200);
        assert_eq!(self.call("guest-set-cart-item").await.status, 200);
        // More than the whole stock (latest: the cart is read to tell 404 from 409), or past a
        // guest's hold cap (hold).
        let refused = self
            .call_with("guest-add-cart-item", |e| {
                e["body"] = json!(r#"{"item_id":1,"quantity":1000}"#);
            })
            .await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert_eq!(self.keyed("guest-remove-cart-item", "gr").await.status, 200);
        assert_eq!(self.keyed("guest-add-cart-item", "ga").await.status, 200);
        assert_eq!(self.keyed("guest-set-cart-item", "gs").await.status, 200);
        assert_eq!(self.call("guest-get-cart").await.status, 200);
        assert_eq!(self.call("guest-remove-cart-item").await.status, 200);
        assert_eq!(self.call("guest-add-cart-item").await.status, 200);
        let merged = self.call("merge-cart").await;
        assert_eq!(
            merged.body["merge"][0]["outcome"], "merged",
            "{}",
            merged.text
        );
        give_the_guest_the_events_cart(&self.app).await;
        assert_eq!(self.call("guest-add-cart-item").await.status, 200);
        let keep = |e: &mut Value| {
            let mut body: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
            body["mode"] = json!("keep");
            e["body"] = json!(body.to_string());
            e["headers"]["idempotency-key"] = json!("m");
        };
        let kept = self.call_with("merge-cart", keep).await;
        assert_eq!(kept.body["merge"][0]["reason"], "kept", "{}", kept.text);
        // Replayed: the key's record alone is read.
        let replayed = self.call_with("merge-cart", keep).await;
        assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    }

    /// Item 1 prepared for a flash sale (`stock_shards`) with its units in its pool: a purchase
    /// finds its shard empty and reads the item's rows (latest), a hold takes from a shard (hold),
    /// the sweep moves the pool into the shards and lists them, a change at a version checks
    /// every shard's, and the item is made whole again (its shard rows deleted).
    async fn walk_a_split_item(&mut self) {
        let update = |body: &str| {
            let body = json!(body);
            move |e: &mut Value| e["body"] = body
        };
        let split = self
            .call_with(
                "admin-update-item",
                update(r#"{"stock_shards":4,"quantity":0}"#),
            )
            .await;
        assert_eq!(split.body["item"]["stock_shards"], 4, "{}", split.text);
        let restocked = self
            .call_with("admin-update-item", update(r#"{"restock":4}"#))
            .await;
        assert_eq!(restocked.body["item"]["quantity"], 4, "{}", restocked.text);
        self.buy("a-split-purchase").await;
        self.call_with("admin-update-item", update(r#"{"restock":8}"#))
            .await;
        self.sweep_a_day_later().await;
        let named = self
            .call_with("admin-update-item", update(r#"{"name":"Flash Sale Wine"}"#))
            .await;
        let version = named.body["item"]["version"].as_u64().unwrap();
        let checked = self
            .call_with("admin-update-item", |e| {
                e["body"] = json!(r#"{"name":"Flash Sale Wine, Red"}"#);
                e["headers"]["if-match"] = json!(format!("\"{version}\""));
            })
            .await;
        assert_eq!(checked.status, 200, "{}", checked.text);
        let whole = self
            .call_with("admin-update-item", update(r#"{"stock_shards":1}"#))
            .await;
        assert_eq!(whole.status, 200, "{}", whole.text);
        assert!(
            whole.body["item"].get("stock_shards").is_none(),
            "{}",
            whole.text
        );
    }

    /// The order events' publisher, fed everything the walk wrote to the orders table by the
    /// stand-in for its stream mapping (reading through the proxy), then a record it cannot read,
    /// which the mapping gives up on at once: what it sends the dead-letter queue.
    async fn publish_the_walks_order_changes(&mut self) {
        let orders = self.app.direct().tables().orders.clone();
        let broken = [("order_id", "not-an-order"), ("lines", "not a list")]
            .map(|(name, value)| (name.to_owned(), AttributeValue::S(value.to_owned())));
        let put = self.app.direct().client().put_item().table_name(&orders);
        put.set_item(Some(broken.into())).send().await.unwrap();
        let mapping =
            StreamMapping::new(&self.proxy.url(), &orders, InProcess(publisher(&self.bus)))
                .with_dead_letter_file(self.scratch.0.join("dead-letters.jsonl"))
                .with_max_retries(0);
        self.proxy.reset_counts();

        mapping.drain().await.expect("the stream runs dry");

        let function = "publish-order-events";
        self.record(function);
        let contract = Contract::load();
        let events = self.bus.events();
        assert!(
            events.len() >= 10,
            "the walk's order changes: {}",
            events.len()
        );
        events.iter().for_each(|e| contract.assert_valid(e));
        let needs = self.needs.entry(function.to_owned()).or_default();
        for request in self.bus.requests() {
            for bus in request.buses {
                let bus = if bus == EVENT_BUS {
                    "OrderEventsBus".to_owned()
                } else {
                    bus
                };
                needs.insert(("events:PutEvents".to_owned(), bus, None));
            }
        }
        let given_up = mapping.log().dead_letters;
        assert_eq!(given_up.len(), 1, "the record it cannot read");
        needs.insert((
            "sqs:SendMessage".to_owned(),
            "OrderEventsDeadLetterQueue".to_owned(),
            None,
        ));
    }

    /// The order the purchase event bought (the order events' own), before the sweep could
    /// expire it: paid with a key (the admin's record), reported again (already); fulfilled
    /// with a key, and again; then neither its owner nor an admin may cancel it.
    async fn walk_the_purchase_events_order(&mut self) {
        let paid = self.keyed("admin-order-payment", "p").await;
        assert_eq!(status(&paid), "paid", "{}", paid.text);
        assert_eq!(self.call("admin-order-payment").await.status, 200);
        let fulfilled = self.keyed("admin-fulfil-order", "f").await;
        assert_eq!(status(&fulfilled), "fulfilled", "{}", fulfilled.text);
        assert_eq!(self.call("admin-fulfil-order").await.status, 200);
        for refused in ["cancel-order", "admin-cancel-order"] {
            self.call(refused)
                .await
                .assert_problem(409, "order_not_cancellable");
        }
    }

    /// Every other transition, keyed and not, each reaching what it writes.
    async fn walk_the_orders(&mut self) {
        // The owner cancels with a key (their record in the orders table), then again.
        let order = self.buy("a-second-purchase").await;
        let cancelled = self.on_order("cancel-order", &order, Some("c")).await;
        assert_eq!(status(&cancelled), "cancelled", "{}", cancelled.text);
        let again = self.on_order("cancel-order", &order, None).await;
        assert_eq!(status(&again), "cancelled");
        // An admin cancels with a key, then again.
        let order = self.buy("a-third-purchase").await;
        let cancelled = self
            .on_order("admin-cancel-order", &order, Some("ac"))
            .await;
        assert_eq!(status(&cancelled), "cancelled", "{}", cancelled.text);
        let again = self.on_order("admin-cancel-order", &order, None).await;
        assert_eq!(status(&again), "cancelled");
        // A failed payment cancels the order and gives its units back.
        let order = self.buy("a-fourth-purchase").await;
        let failed = self
            .call_with("admin-order-payment", |e| {
                for_order(e, &order);
                e["body"] = json!(r#"{"status":"failed","reference":"pi_failed"}"#);
            })
            .await;
        assert_eq!(status(&failed), "cancelled", "{}", failed.text);
        // Stripe: a capture (and its redelivery), a failure, an event ignored.
        let order = self.buy("a-fifth-purchase").await;
        let paid = self.stripe("payment_intent.succeeded", &order).await;
        assert_eq!(status(&paid), "paid", "{}", paid.text);
        let redelivered = self.stripe("payment_intent.succeeded", &order).await;
        assert_eq!(redelivered.body, paid.body);
        let order = self.buy("a-sixth-purchase").await;
        let failed = self.stripe("payment_intent.payment_failed", &order).await;
        assert_eq!(status(&failed), "cancelled", "{}", failed.text);
        let ignored = self.stripe("charge.refunded", &order).await;
        assert_eq!(
            ignored.body,
            json!({"received": true, "type": "charge.refunded"})
        );
        // Nobody pays: the sweep expires the order and gives its units back.
        self.buy("a-seventh-purchase").await;
        self.proxy.reset_counts();
        let swept = self.app.sweep_at(now_unix() + 86_400).await;
        self.record("release-holds");
        assert_eq!(
            (swept.expired_orders, swept.order_units),
            (1, 2),
            "{swept:?}"
        );
    }
}

/// An order answer's status.
fn status(response: &TestResponse) -> String {
    let status = response.body["order"]["status"].as_str();
    status
        .unwrap_or_else(|| panic!("{}", response.text))
        .to_owned()
}

/// Each table's logical id in the template, by its name in this test's DynamoDB.
fn logical_ids(app: &TestApp) -> BTreeMap<String, &'static str> {
    table_definitions(app.store().tables())
        .into_iter()
        .map(|def| (def.name, def.logical_id))
        .collect()
}

/// Every `TableName` (and `RequestItems` key) of a request replaced by the table's logical id,
/// so that requests of different test runs compare.
fn name_tables(body: &mut Value, logical_ids: &BTreeMap<String, &'static str>) {
    match body {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get_mut("TableName") {
                if let Some(id) = logical_ids.get(name.as_str()) {
                    *name = (*id).to_owned();
                }
            }
            if let Some(Value::Object(items)) = map.remove("RequestItems") {
                let renamed = items.into_iter().map(|(name, v)| {
                    let id = logical_ids.get(&name).map_or(name, |id| (*id).to_owned());
                    (id, v)
                });
                map.insert("RequestItems".to_owned(), Value::Object(renamed.collect()));
            }
            map.values_mut().for_each(|v| name_tables(v, logical_ids));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| name_tables(v, logical_ids)),
        _ => {}
    }
}

/// The walk under each policy (a deployment switches with a parameter): what each function
/// needed, and every request it sent.
async fn walk_under_both_policies() -> (
    BTreeMap<String, BTreeSet<Grant>>,
    BTreeMap<String, Vec<Seen>>,
) {
    let mut needs: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    let mut sent: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let hold = CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10_000,
        max_seconds: 1800,
    };
    for policy in [CheckoutPolicy::Latest, hold] {
        let mut run = Recorder::start(policy).await;
        Box::pin(run.walk()).await;
        for (function, seen) in run.needs {
            needs.entry(function).or_default().extend(seen);
        }
        for (function, requests) in run.sent {
            sent.entry(function).or_default().extend(requests);
        }
    }
    (needs, sent)
}

fn template_yaml() -> Yaml {
    serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_function_is_granted_exactly_the_dynamodb_calls_it_makes() {
    let template = template_yaml();
    // Arrange and act: the walk under each policy (a deployment switches with a parameter).
    let (needs, _) = walk_under_both_policies().await;

    // Assert
    let functions: BTreeSet<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter_map(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str())
        .collect();
    let exercised: BTreeSet<&str> = needs.keys().map(String::as_str).collect();
    assert_eq!(exercised, functions, "every function is exercised");
    for (function, needs) in &needs {
        let grants = granted(&template, function);
        let missing: Vec<_> = needs.difference(&grants).collect();
        let unused: Vec<_> = grants.difference(needs).collect();
        assert!(
            missing.is_empty(),
            "{function} calls DynamoDB without permission in template.yaml: {missing:?}"
        );
        assert!(
            unused.is_empty(),
            "{function} is granted more than it was seen to call: {unused:?} \
             (remove the grant, or exercise the path that needs it in this test)"
        );
    }
}

// --- attribute-level least privilege ----------------------------------------------------------

/// A statement that lets a function use an action on a table only with these attribute names
/// (`ForAllValues:StringEquals` `dynamodb:Attributes`) and these `ReturnValues`.
#[derive(Debug)]
struct AttributeLimit {
    sid: String,
    actions: BTreeSet<String>,
    table: String,
    attributes: BTreeSet<String>,
    return_values: BTreeSet<String>,
}

fn yaml_strings(value: &Yaml) -> BTreeSet<String> {
    match value {
        Yaml::Sequence(many) => many
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        one => BTreeSet::from([one.as_str().expect("a string").to_owned()]),
    }
}

/// `function`'s statements: the attribute-limited ones, and the (action, table) pairs its
/// unlimited statements allow.
fn attribute_limits(
    template: &Yaml,
    function: &str,
) -> (Vec<AttributeLimit>, BTreeSet<(String, String)>) {
    let resource = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .unwrap();
    let (mut limits, mut open) = (Vec::new(), BTreeSet::new());
    for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
        let Some(statements) = policy["Statement"].as_sequence() else {
            continue;
        };
        for statement in statements {
            let actions = yaml_strings(&statement["Action"]);
            // The publisher's PutEvents and SendMessage: no DynamoDB attribute in them.
            if !actions.iter().all(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            let actions: BTreeSet<String> = actions
                .into_iter()
                .map(|a| a.trim_start_matches("dynamodb:").to_owned())
                .collect();
            let resources: Vec<&Yaml> = match &statement["Resource"] {
                Yaml::Sequence(many) => many.iter().collect(),
                one => vec![one],
            };
            let condition = &statement["Condition"];
            let attributes = &condition["ForAllValues:StringEquals"]["dynamodb:Attributes"];
            for resource in resources {
                let Yaml::Tagged(tagged) = resource else {
                    panic!("{function}: {resource:?}")
                };
                let table = tagged.value.as_str().unwrap();
                let table = table.trim_end_matches(".Arn").to_owned();
                if attributes.is_null() {
                    // Not attribute-limited: no condition, or one on the keys alone (checked by
                    // `key_limits`).
                    assert!(
                        condition.is_null() || leading_keys(condition).is_some(),
                        "{function}: a condition without an attribute list: {condition:?}"
                    );
                    open.extend(actions.iter().map(|a| (a.clone(), table.clone())));
                    continue;
                }
                let return_values = &condition["StringEqualsIfExists"]["dynamodb:ReturnValues"];
                limits.push(AttributeLimit {
                    sid: statement["Sid"].as_str().unwrap_or_default().to_owned(),
                    actions: actions.clone(),
                    table,
                    attributes: yaml_strings(attributes),
                    return_values: yaml_strings(return_values),
                });
            }
        }
    }
    (limits, open)
}

/// The top-level attribute names an expression touches: each `#placeholder` (resolved through
/// `names`) and each bare name, unless it follows a `.` (a nested path's member: `#qty.#item`
/// touches `qty`) or is a keyword or function of the expression language.
fn expression_names(expression: &str, names: &serde_json::Map<String, Value>) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN",
    ];
    let chars: Vec<char> = expression.chars().collect();
    let mut found = Vec::new();
    let (mut i, mut previous) = (0, ' ');
    while i < chars.len() {
        let c = chars[i];
        let word = |from: usize| {
            let mut end = from;
            while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
            end
        };
        if c == '#' || c == ':' || c.is_alphabetic() || c == '_' {
            let start = if c.is_alphabetic() || c == '_' {
                i
            } else {
                i + 1
            };
            let end = word(start);
            let text: String = chars[start..end].iter().collect();
            let next = chars[end..].iter().find(|c| !c.is_whitespace());
            let top_level = previous != '.';
            match c {
                '#' if top_level => {
                    let name = names
                        .get(&format!("#{text}"))
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| panic!("#{text} of {expression:?} is not defined"));
                    found.push(name.to_owned());
                }
                '#' | ':' => {}
                _ if next == Some(&'(') => {}
                _ if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&text)) => {}
                _ if top_level => found.push(text),
                _ => {}
            }
            previous = 'w';
            i = end;
            continue;
        }
        if !c.is_whitespace() {
            previous = c;
        }
        i += 1;
    }
    found
}

/// One action of a request (a transaction's items each on their own): the IAM action, the
/// table's logical id, the top-level attribute names it touches, and its `ReturnValues`.
type Touch = (String, String, BTreeSet<String>, Option<String>);

fn touches(request: &Seen) -> Vec<Touch> {
    let one = |action: &str, op: &Value| -> Touch {
        let no_names = serde_json::Map::new();
        let names = op["ExpressionAttributeNames"]
            .as_object()
            .unwrap_or(&no_names);
        let mut touched = BTreeSet::new();
        for member in ["Key", "Item"] {
            if let Some(map) = op[member].as_object() {
                touched.extend(map.keys().cloned());
            }
        }
        for member in [
            "UpdateExpression",
            "ConditionExpression",
            "ProjectionExpression",
            "FilterExpression",
            "KeyConditionExpression",
        ] {
            if let Some(expression) = op[member].as_str() {
                touched.extend(expression_names(expression, names));
            }
        }
        let table = op["TableName"].as_str().unwrap_or_default().to_owned();
        let returns = op["ReturnValues"].as_str().map(str::to_owned);
        (action.to_owned(), table, touched, returns)
    };
    let body = &request.body;
    match request.operation() {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let (kind, op) = item.as_object().unwrap().iter().next().unwrap();
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    other => panic!("unknown transaction item {other}"),
                };
                one(action, op)
            })
            .collect(),
        "BatchWriteItem" | "BatchGetItem" => body["RequestItems"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(table, _)| {
                let mut op = json!({"TableName": table});
                // Batches are never attribute-limited here (checked below): the table suffices.
                op["Key"] = json!({});
                one(request.operation(), &op)
            })
            .collect(),
        operation => vec![one(operation, body)],
    }
}

#[test]
fn expression_names_are_the_top_level_attributes_an_expression_touches() {
    let names = json!({"#qty": "qty", "#item": "17", "#v": "version", "#max": "max_per_customer"});
    let names = names.as_object().unwrap();
    let found = expression_names(
        "REMOVE #qty.#item SET #v = if_not_exists(#v, :zero) + :one, stock = stock - :n, \
         lines[0].name = :x",
        names,
    );
    assert_eq!(
        found,
        ["qty", "version", "version", "stock", "stock", "lines"]
    );
    let condition =
        "attribute_not_exists(#max) OR (#max >= :total AND size(#qty) BETWEEN :a AND :b)";
    assert_eq!(
        expression_names(condition, names),
        ["max_per_customer", "max_per_customer", "qty"]
    );
}

#[tokio::test]
async fn every_attribute_limited_grant_admits_every_name_its_function_sends_and_no_price_or_order_line(
) {
    let template = template_yaml();
    let (_, sent) = walk_under_both_policies().await;
    let tables = table_definitions(&shared::Tables::with_prefix("t"));
    let keys_of = |table: &str| -> BTreeSet<String> {
        let def = tables.iter().find(|d| d.logical_id == table).unwrap();
        std::iter::once(def.partition_key)
            .chain(def.sort_key)
            .chain(
                def.indexes
                    .iter()
                    .flat_map(|i| std::iter::once(i.partition_key).chain(i.sort_key)),
            )
            .map(|(name, _)| name.to_owned())
            .collect()
    };

    let mut limited_functions = BTreeSet::new();
    for (function, requests) in &sent {
        let (limits, open) = attribute_limits(&template, function);
        let mut used = vec![0usize; limits.len()];
        for limit in &limits {
            let keys = keys_of(&limit.table);
            assert!(
                limit.attributes.is_superset(&keys),
                "{function} {}: every key of the table and its indexes must be listed ({keys:?})",
                limit.sid
            );
            assert!(
                limit
                    .actions
                    .iter()
                    .all(|a| a == "UpdateItem" || a == "PutItem"),
                "{function} {}: writes of one item only",
                limit.sid
            );
            for action in &limit.actions {
                assert!(
                    !open.contains(&(action.clone(), limit.table.clone())),
                    "{function}: another statement allows {action} on {} without the limit of {}",
                    limit.table,
                    limit.sid
                );
            }
            limited_functions.insert(function.clone());
        }
        for request in requests {
            for (action, table, names, returns) in touches(request) {
                for (i, limit) in limits.iter().enumerate() {
                    if limit.table != table || !limit.actions.contains(&action) {
                        continue;
                    }
                    used[i] += 1;
                    let outside: Vec<_> = names.difference(&limit.attributes).collect();
                    assert!(
                        outside.is_empty(),
                        "{function}: {action} on {table} touches {outside:?}, which {} does not \
                         list: {}",
                        limit.sid,
                        request.body
                    );
                    if let Some(returns) = &returns {
                        assert!(
                            limit.return_values.contains(returns),
                            "{function}: {action} on {table} asks ReturnValues {returns}"
                        );
                    }
                }
            }
        }
        for (limit, used) in limits.iter().zip(used) {
            assert!(
                used > 0,
                "{function} {}: no request exercised the limit",
                limit.sid
            );
        }
    }

    // What each limit keeps out.
    let limit = |function: &str, action: &str, table: &str| -> BTreeSet<String> {
        let (limits, _) = attribute_limits(&template, function);
        let found = limits
            .into_iter()
            .find(|l| l.table == table && l.actions.contains(action))
            .unwrap_or_else(|| panic!("{function}: {action} on {table} is attribute-limited"));
        found.attributes
    };
    let keeps_out =
        |list: &BTreeSet<String>, names: &[&str]| names.iter().all(|n| !list.contains(*n));
    let guest_writers = [
        "guest-add-cart-item",
        "guest-set-cart-item",
        "guest-remove-cart-item",
    ];
    for writer in ["add-cart-item", "set-cart-item", "remove-cart-item"]
        .into_iter()
        .chain(guest_writers)
    {
        let catalog = limit(writer, "UpdateItem", "CatalogTable");
        assert!(
            keeps_out(&catalog, &["price", "name", "name_lc", "next_id"]),
            "{writer}: {catalog:?}"
        );
        let orders = limit(writer, "PutItem", "OrdersTable");
        assert!(
            keeps_out(&orders, &["lines", "total", "cart_id"]),
            "{writer}: {orders:?}"
        );
    }
    let sweep = limit("release-holds", "UpdateItem", "CatalogTable");
    assert!(keeps_out(
        &sweep,
        &["price", "name", "name_lc", "next_id", "max_per_customer"]
    ));
    // The purchase compares the price in its condition, and IAM cannot tell a compared name
    // from a written one: the price stays; the name does not.
    let purchase = limit("purchase-cart", "UpdateItem", "CatalogTable");
    assert!(
        keeps_out(&purchase, &["name", "name_lc", "next_id"]),
        "{purchase:?}"
    );
    assert!(purchase.contains("price"));
    // The order's transitions: its status and what goes with it, never what was bought; the
    // units back as the sweep's, never a price, a name or a limit. The owner's key record,
    // as the cart writers'.
    let transitions = [
        "cancel-order",
        "admin-cancel-order",
        "admin-fulfil-order",
        "admin-order-payment",
        "stripe-webhook",
        "release-holds",
    ];
    for function in transitions {
        let order = limit(function, "UpdateItem", "OrdersTable");
        assert!(
            keeps_out(
                &order,
                &["lines", "total", "cart_id", "request", "expires_at"]
            ),
            "{function}: {order:?}"
        );
        if function != "admin-fulfil-order" {
            let catalog = limit(function, "UpdateItem", "CatalogTable");
            assert!(
                keeps_out(
                    &catalog,
                    &["price", "name", "name_lc", "next_id", "max_per_customer"]
                ),
                "{function}: {catalog:?}"
            );
        }
    }
    let record = limit("cancel-order", "PutItem", "OrdersTable");
    assert!(
        keeps_out(&record, &["lines", "total", "cart_id"]),
        "{record:?}"
    );
    // A merge gives units back as the sweep does, and puts only its key's record.
    let merge = limit("merge-cart", "UpdateItem", "CatalogTable");
    assert!(
        keeps_out(
            &merge,
            &["price", "name", "name_lc", "next_id", "max_per_customer"]
        ),
        "{merge:?}"
    );
    let record = limit("merge-cart", "PutItem", "OrdersTable");
    assert!(
        keeps_out(&record, &["lines", "total", "cart_id"]),
        "{record:?}"
    );
    let mut expected: BTreeSet<String> = [
        "add-cart-item",
        "set-cart-item",
        "remove-cart-item",
        "purchase-cart",
        "merge-cart",
    ]
    .map(str::to_owned)
    .into();
    expected.extend(guest_writers.map(str::to_owned));
    expected.extend(transitions.map(str::to_owned));
    assert_eq!(limited_functions, expected);

    key_limits(&template, &sent);
}

// --- key-level least privilege ------------------------------------------------------------------

/// The key patterns of a condition on the keys alone (`ForAllValues:StringLike`
/// `dynamodb:LeadingKeys`), if it is one.
fn leading_keys(condition: &Yaml) -> Option<BTreeSet<String>> {
    let map = condition.as_mapping()?;
    let like = &condition["ForAllValues:StringLike"];
    let keys = like.get("dynamodb:LeadingKeys")?;
    (map.len() == 1 && like.as_mapping()?.len() == 1).then(|| yaml_strings(keys))
}

/// `function`'s statements conditioned on their partition keys: (actions, table, patterns).
fn key_limited(template: &Yaml, function: &str) -> Vec<KeyLimit> {
    let mut found = Vec::new();
    for statement in statements(template, function) {
        let Some(patterns) = leading_keys(&statement["Condition"]) else {
            continue;
        };
        let actions: BTreeSet<String> = yaml_strings(&statement["Action"])
            .into_iter()
            .map(|a| a.trim_start_matches("dynamodb:").to_owned())
            .collect();
        let Yaml::Tagged(table) = &statement["Resource"] else {
            panic!("{function}: a key-limited statement names one table")
        };
        let table = table.value.as_str().unwrap().trim_end_matches(".Arn");
        found.push((actions, table.to_owned(), patterns));
    }
    found
}

/// A statement limited to some partition keys: its actions, its table, the key patterns.
type KeyLimit = (BTreeSet<String>, String, BTreeSet<String>);

/// `function`'s policy statements.
fn statements<'a>(template: &'a Yaml, function: &str) -> Vec<&'a Yaml> {
    let resource = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .unwrap();
    let policies = resource["Properties"]["Policies"].as_sequence().unwrap();
    policies
        .iter()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .collect()
}

/// Whether a statement names the carts table among its resources.
fn names_carts(statement: &Yaml) -> bool {
    let resources: Vec<&Yaml> = match &statement["Resource"] {
        Yaml::Sequence(many) => many.iter().collect(),
        one => vec![one],
    };
    resources.iter().any(|r| match r {
        Yaml::Tagged(t) => t.value.as_str() == Some("CartsTable.Arn"),
        _ => false,
    })
}

/// The partition key values of the items `request` reads or writes on `table` (a logical id)
/// with `action`: (action, key value) for each.
fn partition_keys(request: &Seen, table: &str, key: &str) -> Vec<(String, String)> {
    let value = |item_key: &Value| item_key[key]["S"].as_str().unwrap_or_default().to_owned();
    let body = &request.body;
    match request.operation() {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| {
                let (kind, op) = item.as_object().unwrap().iter().next().unwrap();
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    _ => "ConditionCheckItem",
                };
                let at = if kind == "Put" {
                    &op["Item"]
                } else {
                    &op["Key"]
                };
                (op["TableName"] == table).then(|| (action.to_owned(), value(at)))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"][table]["Keys"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| (request.operation().to_owned(), value(k)))
            .collect(),
        operation if body["TableName"] == table => {
            let at = body.get("Key").unwrap_or(&body["Item"]);
            vec![(operation.to_owned(), value(at))]
        }
        _ => vec![],
    }
}

/// Whether `text` matches the IAM pattern `pattern` (`*` any run of characters; no `?` here).
fn like(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && like(rest, &tail[i..]))
        }
    }
}

/// The guests' functions reach guests' carts only, and the merge deletes only a guest's: their
/// statements on the carts table say so with `dynamodb:LeadingKeys` `guest:*`, and every key
/// each of them was seen sending there matches its statement's patterns.
fn key_limits(template: &Yaml, sent: &BTreeMap<String, Vec<Seen>>) {
    let tables = table_definitions(&shared::Tables::with_prefix("t"));
    let partition = |table: &str| -> &str {
        let def = tables.iter().find(|d| d.logical_id == table).unwrap();
        def.partition_key.0
    };
    let guest_only = BTreeSet::from(["guest:*".to_owned()]);
    for (function, requests) in sent {
        let limits = key_limited(template, function);
        if function.starts_with("guest-") {
            // Every statement on the carts table, limited to guests' keys.
            let on_carts = statements(template, function)
                .into_iter()
                .filter(|st| names_carts(st))
                .collect::<Vec<_>>();
            assert!(!on_carts.is_empty(), "{function}");
            for statement in on_carts {
                assert_eq!(
                    leading_keys(&statement["Condition"]).as_ref(),
                    Some(&guest_only),
                    "{function}: guests' carts only: {statement:?}"
                );
            }
        }
        if function == "merge-cart" {
            let delete = limits.iter().find(|l| l.0.contains("DeleteItem"));
            assert_eq!(
                delete.map(|l| (&l.1, &l.2)),
                Some((&"CartsTable".to_owned(), &guest_only)),
                "merge-cart deletes a guest's cart, never a user's"
            );
        }
        let mut used = vec![0usize; limits.len()];
        for request in requests {
            for (i, (actions, table, patterns)) in limits.iter().enumerate() {
                for (action, key) in partition_keys(request, table, partition(table)) {
                    if !actions.contains(&action) {
                        continue;
                    }
                    used[i] += 1;
                    assert!(
                        patterns.iter().any(|p| like(p, &key)),
                        "{function}: {action} on {table} of {key:?}, outside {patterns:?}"
                    );
                }
            }
        }
        for ((actions, table, _), used) in limits.iter().zip(used) {
            assert!(
                used > 0,
                "{function}: {actions:?} on {table}: no request exercised it"
            );
        }
    }
}

#[test]
fn a_leading_keys_pattern_matches_as_iam_does() {
    assert!(like("guest:*", "guest:ab12"));
    assert!(like("guest:*", "guest:"));
    assert!(!like("guest:*", "7"));
    assert!(!like("guest:*", "xguest:ab"));
    assert!(like("*:*", "a:b"));
}
