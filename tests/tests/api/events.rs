//! Every file in `events/` through its function's handler against DynamoDB Local, so the
//! examples the README invokes (`cargo lambda invoke <function> --data-file events/...`,
//! `sam local invoke -e events/...`) never rot.
//!
//! The events are fixed files, valid as they are: the cart events carry the claims of one user,
//! as API Gateway's JWT authorizer passes them on, and name that user's cart id (`NT-0f8Z...`);
//! the order event names one order id. `create-cart` makes random ids, so on fresh tables those
//! targets do not exist and the handlers answer 404, a proper answer and the one documented
//! below. Other tests give the user's cart that id and walk it to a purchase.
//!
//! The last test is the least-privilege check: it records, through a proxy, every DynamoDB
//! call each function makes while the events (and a few variations of them reaching the rarer
//! code paths) run, and compares them with the function's policy in `template.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Context, LambdaEvent, Request};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use shared::domain::{now_unix, CartId, CheckoutPolicy};
use shared::scheduled::Scheduled;
use shared::store::schema::table_definitions;
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
    // The user's first cart.
    ("create-cart", 201, None),
    // The cart events' fixed id is not the id create-cart just made at random.
    ("get-cart", 404, Some("cart_not_found")),
    ("add-cart-item", 404, Some("cart_not_found")),
    ("remove-cart-item", 404, Some("cart_not_found")),
    ("set-cart-item", 404, Some("cart_not_found")),
    ("purchase-cart", 404, Some("cart_not_found")),
    // The user has no orders yet: an empty page.
    ("list-orders", 200, None),
    // No order has the event's id.
    ("get-order", 404, Some("order_not_found")),
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
            .filter(|name| name != "seed-catalog" && name != "release-holds")
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

    for function in ["admin-create-item", "admin-update-item"] {
        let mut unsigned = event_json(function);
        unsigned["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");

        call(&app, function, &unsigned)
            .await
            .assert_problem(403, "forbidden");
        let signed = invoke(&app, function).await;
        assert!(signed.status < 300, "{function}: {}", signed.text);
    }
}

/// Gives the events' user's cart the id the cart events use (the token is the random half of a
/// cart id; the user id the other). Storage detail on purpose: no API sets a cart's id.
async fn give_the_users_cart_the_events_id(app: &TestApp) -> CartId {
    let event = event_json("get-cart");
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
                    let Yaml::Tagged(tagged) = resource else {
                        panic!("{function}: {resource:?} is !GetAtt or !Sub");
                    };
                    let text = tagged.value.as_str().unwrap();
                    let (table, index) = if tagged.tag == "GetAtt" {
                        (text.trim_end_matches(".Arn"), None)
                    } else {
                        let rest = text.trim_start_matches("${");
                        let (table, index) = rest.split_once(".Arn}/index/").unwrap();
                        (table, Some(index.to_owned()))
                    };
                    grants.insert((
                        action.trim_start_matches("dynamodb:").to_owned(),
                        table.to_owned(),
                        index,
                    ));
                }
            }
        }
    }
    grants
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
        let operation = request.operation();
        let body = &request.body;
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
    needs: BTreeMap<String, BTreeSet<Grant>>,
}

impl Recorder {
    async fn start(policy: CheckoutPolicy) -> Self {
        let (app, proxy) = TestApp::spawn_behind_proxy().await;
        let mut app = app.behind_jwt_authorizer().with_policy(policy);
        app.state.config.auth.allow_unsigned_requests = false;
        Self {
            proxy,
            app,
            needs: BTreeMap::new(),
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

    /// Every event, keyed and not, plus the variations that reach the rarer code paths.
    async fn walk(&mut self) {
        self.seed().await;
        assert_eq!(self.call("list-items").await.status, 200);
        assert_eq!(self.call("admin-create-item").await.status, 201);
        assert_eq!(self.keyed("admin-create-item", "c").await.status, 201);
        assert_eq!(self.call("admin-update-item").await.status, 200);
        assert_eq!(self.keyed("admin-update-item", "u").await.status, 200);
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
        assert_eq!(self.call("remove-cart-item").await.status, 200);
        // An empty cart: the key's record is read again on its own.
        self.call("purchase-cart")
            .await
            .assert_problem(409, "cart_empty");
        assert_eq!(self.call("add-cart-item").await.status, 200);
        assert_eq!(self.call("purchase-cart").await.status, 200);
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
    }
}

#[tokio::test]
async fn every_function_is_granted_exactly_the_dynamodb_calls_it_makes() {
    let template: Yaml = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    // Arrange and act: the walk under each policy (a deployment switches with a parameter).
    let mut needs: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    let hold = CheckoutPolicy::Hold {
        seconds: 900,
        max_per_item: 10_000,
        max_seconds: 1800,
    };
    for policy in [CheckoutPolicy::Latest, hold] {
        let mut run = Recorder::start(policy).await;
        run.walk().await;
        for (function, seen) in run.needs {
            needs.entry(function).or_default().extend(seen);
        }
    }

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
