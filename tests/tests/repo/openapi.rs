//! `openapi.yaml` is the contract clients read; these tests keep it true to the code. Its routes
//! are exactly the routes the local router (`Cargo.toml`) and the deployed HttpApi
//! (`template.yaml`) serve, and its problem codes are exactly `shared::ApiError`'s, each under
//! the status the code answers with. (Whether real responses match the document is what the
//! schemathesis stage of `make test` checks, against the running local API.)
//!
//! No DynamoDB needed: everything here is read from files.

use std::collections::{BTreeMap, BTreeSet};

use crate::read;
use serde_yaml::Value as Yaml;
use shared::domain::merge::{MergeMode, Outcome, Why};
use shared::domain::{CartId, DiscountCode, GuestToken, ItemId, NotApplicable, OrderId};
use shared::domain::{LimitReached, OrderStatus, PriceChange, Shortfall};
use shared::ApiError;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type Route = (String, String);

fn openapi() -> Yaml {
    serde_yaml::from_str(&read("openapi.yaml")).expect("openapi.yaml is YAML")
}

/// Follows `$ref: '#/...'` (local references, as openapi.yaml uses) until a value without one.
fn resolve<'a>(doc: &'a Yaml, mut value: &'a Yaml) -> &'a Yaml {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Yaml::as_str) else {
            return value;
        };
        let pointer = reference
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("only local references are used: {reference}"));
        value = pointer.split('/').fold(doc, |v, key| {
            v.get(key)
                .unwrap_or_else(|| panic!("{reference} does not resolve"))
        });
    }
    panic!("a $ref chain longer than 16")
}

fn mapping(value: &Yaml) -> impl Iterator<Item = (&str, &Yaml)> {
    value
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().expect("string keys"), v))
}

/// Every (METHOD, path) openapi.yaml documents.
fn openapi_routes(doc: &Yaml) -> BTreeSet<Route> {
    mapping(&doc["paths"])
        .flat_map(|(path, item)| {
            mapping(item)
                .filter(|(method, _)| HTTP_METHODS.contains(method))
                .map(move |(method, _)| (method.to_ascii_uppercase(), path.to_owned()))
        })
        .collect()
}

/// Every operation: its route and its definition.
fn operations(doc: &Yaml) -> Vec<(Route, &Yaml)> {
    mapping(&doc["paths"])
        .flat_map(|(path, item)| {
            mapping(item)
                .filter(|(method, _)| HTTP_METHODS.contains(method))
                .map(move |(method, op)| ((method.to_ascii_uppercase(), path.to_owned()), op))
        })
        .collect()
}

/// The routes `cargo lambda watch` serves (`make dev`).
fn router_routes() -> BTreeSet<Route> {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router] is a table");
    router
        .iter()
        .flat_map(|(path, handlers)| {
            handlers
                .as_array()
                .expect("each route lists its handlers")
                .iter()
                .map(move |h| {
                    let method = h["method"].as_str().expect("a handler has a method");
                    (method.to_ascii_uppercase(), path.clone())
                })
        })
        .collect()
}

/// The routes of the HTTP API that `template.yaml` deploys.
fn template_routes() -> Option<BTreeSet<Route>> {
    let template: Yaml =
        serde_yaml::from_str(&read("template.yaml")).expect("template.yaml is YAML");
    let routes = crate::consistency::template_routes(&template);
    Some(
        routes
            .into_iter()
            .map(|(method, path, _)| (method, path))
            .collect(),
    )
}

fn difference(expected: &BTreeSet<Route>, actual: &BTreeSet<Route>) -> String {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    format!("missing from openapi.yaml: {missing:?}; only in openapi.yaml: {extra:?}")
}

#[test]
fn openapi_documents_exactly_the_routes_the_router_and_the_template_serve() {
    let documented = openapi_routes(&openapi());

    let router = router_routes();
    assert_eq!(
        router,
        documented,
        "Cargo.toml's router vs openapi.yaml: {}",
        difference(&router, &documented)
    );
    // `/x` and `/x/` are different routes for both API Gateway and the local router.
    assert!(documented.contains(&("POST".to_owned(), "/api/v1/cart".to_owned())));
    assert!(documented.contains(&("POST".to_owned(), "/api/v1/cart/".to_owned())));

    if let Some(template) = template_routes() {
        assert_eq!(
            template,
            documented,
            "template.yaml's HttpApi vs openapi.yaml: {}",
            difference(&template, &documented)
        );
    }
}

/// One value of every `ApiError` variant. The `match` has no wildcard, so a new variant does not
/// compile until it is listed here, and then the tests below ask openapi.yaml to document it.
fn every_api_error() -> Vec<ApiError> {
    let item = ItemId::new(7).unwrap();
    let code = DiscountCode::parse("SPRING10").unwrap();
    let errors = vec![
        ApiError::invalid("user_id", "is required"),
        ApiError::MalformedBody("it is not valid JSON".to_owned()),
        ApiError::PayloadTooLarge { limit: 65_536 },
        ApiError::Unauthenticated {
            why: "the token has expired",
            token_sent: true,
        },
        ApiError::UserMismatch,
        ApiError::Forbidden,
        ApiError::RouteNotFound,
        ApiError::ItemNotFound(item),
        ApiError::CartNotFound,
        ApiError::ItemNotInCart(item),
        ApiError::OrderNotFound,
        ApiError::DiscountNotFound(code.clone()),
        ApiError::DiscountExists(code),
        ApiError::DiscountNotApplicable(NotApplicable::Exhausted),
        ApiError::InsufficientStock(vec![Shortfall {
            item_id: item,
            requested: 3,
            available: 1,
            hold_expired: false,
        }]),
        ApiError::CartFull { limit: 50 },
        ApiError::HoldLimit { limit: 10 },
        ApiError::HeldAtAnotherPrice {
            item_id: item,
            held: 100,
            now: 120,
        },
        ApiError::CustomerLimit(vec![LimitReached {
            item_id: item,
            limit: 2,
            bought: 1,
            requested: 2,
        }]),
        ApiError::HoldTimeLimit {
            item_id: item,
            ended: 1_800_000_000,
            again: 1_800_001_800,
        },
        ApiError::CartEmpty,
        ApiError::OrderNotCancellable {
            status: OrderStatus::Fulfilled,
        },
        ApiError::OrderExpired,
        ApiError::OrderNotPayable {
            status: OrderStatus::Cancelled,
            refund_due: true,
        },
        ApiError::OrderNotFulfillable {
            status: OrderStatus::PendingPayment,
        },
        ApiError::InvalidSignature,
        ApiError::PriceChanged(vec![PriceChange {
            item_id: item,
            cart_price: 100,
            current_price: 120,
            hold_expired: false,
        }]),
        ApiError::RequestInProgress,
        ApiError::IdempotencyKeyReused,
        ApiError::PreconditionFailed {
            member: "cart",
            current: serde_json::json!({}),
        },
        ApiError::ServiceUnavailable("DynamoDB is down".into()),
        ApiError::Internal("a bug".into()),
    ];
    for error in &errors {
        match error {
            ApiError::InvalidRequest { .. }
            | ApiError::MalformedBody(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::Unauthenticated { .. }
            | ApiError::UserMismatch
            | ApiError::Forbidden
            | ApiError::RouteNotFound
            | ApiError::ItemNotFound(_)
            | ApiError::CartNotFound
            | ApiError::ItemNotInCart(_)
            | ApiError::OrderNotFound
            | ApiError::DiscountNotFound(_)
            | ApiError::DiscountExists(_)
            | ApiError::DiscountNotApplicable(_)
            | ApiError::InsufficientStock(_)
            | ApiError::CartFull { .. }
            | ApiError::HoldLimit { .. }
            | ApiError::HeldAtAnotherPrice { .. }
            | ApiError::CustomerLimit(_)
            | ApiError::HoldTimeLimit { .. }
            | ApiError::CartEmpty
            | ApiError::OrderNotCancellable { .. }
            | ApiError::OrderExpired
            | ApiError::OrderNotPayable { .. }
            | ApiError::OrderNotFulfillable { .. }
            | ApiError::InvalidSignature
            | ApiError::PriceChanged(_)
            | ApiError::RequestInProgress
            | ApiError::IdempotencyKeyReused
            | ApiError::PreconditionFailed { .. }
            | ApiError::ServiceUnavailable(_)
            | ApiError::Internal(_) => {}
        }
    }
    errors
}

/// Codes no function answers with, so no operation lists them: API Gateway answers unknown
/// routes and methods itself, before any function runs. openapi.yaml still names them.
const NOT_ANSWERED_BY_ANY_OPERATION: [&str; 1] = ["route_not_found"];

/// What one documented problem response admits: its status and the codes its schema allows.
struct ProblemResponse<'a> {
    route: Route,
    status: u16,
    codes: BTreeSet<String>,
    media: &'a Yaml,
}

/// Every `application/problem+json` response of every operation.
fn problem_responses(doc: &Yaml) -> Vec<ProblemResponse<'_>> {
    let mut found = Vec::new();
    for (route, op) in operations(doc) {
        for (status, response) in mapping(&op["responses"]) {
            let response = resolve(doc, response);
            let Some(media) = response["content"].get("application/problem+json") else {
                continue;
            };
            let status: u16 = status.parse().expect("numeric status keys");
            let schema = resolve(doc, &media["schema"]);
            let parts: Vec<&Yaml> = match schema["allOf"].as_sequence() {
                Some(parts) => parts.iter().map(|p| resolve(doc, p)).collect(),
                None => vec![schema],
            };
            let mut codes = BTreeSet::new();
            let mut status_const = None;
            for part in parts {
                if let Some(allowed) = part["properties"]["code"]["enum"].as_sequence() {
                    codes.extend(allowed.iter().map(|c| c.as_str().unwrap().to_owned()));
                }
                // `enum: [N]`, not `const: N`: generators (openapi-python-client) merge the
                // former with `Problem`'s integer `status`, and drop the response for the latter.
                if let Some([n]) = part["properties"]["status"]["enum"]
                    .as_sequence()
                    .map(Vec::as_slice)
                {
                    status_const = n.as_u64();
                }
            }
            assert!(
                !codes.is_empty(),
                "{route:?} {status}: the problem schema names the codes it can carry"
            );
            assert_eq!(
                status_const,
                Some(u64::from(status)),
                "{route:?} {status}: the problem schema pins `status` to the response's status"
            );
            found.push(ProblemResponse {
                route: route.clone(),
                status,
                codes,
                media,
            });
        }
    }
    found
}

#[test]
fn openapi_names_every_problem_code_under_the_status_it_answers_with() {
    let doc = openapi();
    let errors = every_api_error();
    let status_of: BTreeMap<&str, u16> = errors.iter().map(|e| (e.code(), e.status())).collect();

    let enumerated: BTreeSet<&str> = doc["components"]["schemas"]["ProblemCode"]["enum"]
        .as_sequence()
        .expect("components.schemas.ProblemCode is an enum")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let known: BTreeSet<&str> = status_of.keys().copied().collect();
    assert_eq!(
        enumerated, known,
        "ProblemCode in openapi.yaml vs the codes of shared::ApiError"
    );

    let responses = problem_responses(&doc);
    let mut documented: BTreeSet<(&str, u16)> = BTreeSet::new();
    for response in &responses {
        for code in &response.codes {
            let status = status_of
                .get(code.as_str())
                .unwrap_or_else(|| panic!("{:?}: unknown code {code}", response.route));
            assert_eq!(
                *status, response.status,
                "{:?}: `{code}` is listed under {} but answers {status}",
                response.route, response.status
            );
            documented.insert((code.as_str(), *status));
        }
    }
    for (code, status) in &status_of {
        if NOT_ANSWERED_BY_ANY_OPERATION.contains(code) {
            continue;
        }
        assert!(
            documented.contains(&(*code, *status)),
            "no operation in openapi.yaml documents `{code}` ({status})"
        );
    }
}

/// Codes whose problem document is always the same, byte for byte.
const FIXED_BODIES: [&str; 8] = [
    "forbidden",
    "cart_not_found",
    "order_not_found",
    "cart_empty",
    "request_in_progress",
    "idempotency_key_reused",
    "service_unavailable",
    "internal_error",
];

/// Codes whose members vary: `invalid_request` has no `field` when the body is unreadable;
/// `insufficient_stock` adds `item_id`, `requested` and `available` when one line is short;
/// `precondition_failed` shows the `cart` or the `item`.
const VARYING_MEMBERS: [&str; 3] = [
    "invalid_request",
    "insufficient_stock",
    "precondition_failed",
];

/// The request id of the examples: a `5xx` problem carries API Gateway's.
const EXAMPLE_REQUEST_ID: &str = "JzJ6fhwrIAMEV3w=";

/// The body `shared::http::problem_for_request` writes for `error` in a request with the
/// examples' id.
fn written_body(error: &ApiError) -> serde_json::Value {
    match shared::http::problem_for_request(error, EXAMPLE_REQUEST_ID).body() {
        lambda_http::Body::Text(text) => {
            serde_json::from_str(text).expect("problem bodies are JSON")
        }
        other => panic!("problem bodies are text, not {other:?}"),
    }
}

fn yaml_to_json(value: &Yaml) -> serde_json::Value {
    serde_json::to_value(value).expect("examples are plain JSON values")
}

#[test]
fn problem_examples_are_what_the_error_mapping_writes() {
    let doc = openapi();
    let errors = every_api_error();
    let by_code: BTreeMap<&str, &ApiError> = errors.iter().map(|e| (e.code(), e)).collect();

    let mut seen = BTreeSet::new();
    for response in problem_responses(&doc) {
        for (name, example) in mapping(&response.media["examples"]) {
            let value = &example["value"];
            let code = value["code"].as_str().expect("examples carry a code");
            let context = format!("{:?} {} example {name}", response.route, response.status);
            assert!(
                response.codes.contains(code),
                "{context}: `{code}` is not listed"
            );
            let error = by_code[code];
            assert_eq!(
                value["status"].as_u64(),
                Some(u64::from(error.status())),
                "{context}"
            );
            assert_eq!(value["title"].as_str(), Some(error.title()), "{context}");
            assert_eq!(
                value["type"].as_str(),
                Some(format!("urn:cart-api:problem:{code}").as_str()),
                "{context}"
            );
            assert_eq!(value["error"], value["detail"], "{context}");
            let written = written_body(error);
            if FIXED_BODIES.contains(&code) {
                assert_eq!(yaml_to_json(value), written, "{context}");
            } else if !VARYING_MEMBERS.contains(&code) {
                let members = |v: &serde_json::Value| -> BTreeSet<String> {
                    v.as_object().unwrap().keys().cloned().collect()
                };
                assert_eq!(
                    members(&yaml_to_json(value)),
                    members(&written),
                    "{context}"
                );
            }
            seen.insert(code.to_owned());
        }
    }
    // Every code an operation answers with is shown at least once.
    for error in &errors {
        if !NOT_ANSWERED_BY_ANY_OPERATION.contains(&error.code()) {
            assert!(
                seen.contains(error.code()),
                "no example of `{}`",
                error.code()
            );
        }
    }
}

#[test]
fn every_operation_documents_the_failures_every_function_can_answer() {
    let doc = openapi();
    for (route, op) in operations(&doc) {
        let responses = &op["responses"];
        // Every function reads or writes DynamoDB, so every one can answer 503 (with
        // `Retry-After`) when it is unavailable, and 500 for a bug.
        let unavailable = resolve(&doc, &responses["503"]);
        assert!(
            unavailable["headers"]["Retry-After"]["required"].as_bool() == Some(true),
            "{route:?}: 503 with a required Retry-After header"
        );
        assert!(!responses["500"].is_null(), "{route:?}: 500 documented");
        // Every operation that reads a body refuses one over the limit.
        if !op["requestBody"].is_null() {
            assert!(!responses["413"].is_null(), "{route:?}: 413 documented");
        }
        for (status, response) in mapping(responses) {
            let response = resolve(&doc, response);
            let content: Vec<&str> = mapping(&response["content"]).map(|(ct, _)| ct).collect();
            let expected: &[&str] = match status {
                "304" => &[],
                _ if status.starts_with('2') => &["application/json"],
                _ => &["application/problem+json"],
            };
            assert_eq!(content, expected, "{route:?} {status}: content type");
        }
    }
}

#[test]
fn purchases_document_the_idempotency_headers() {
    let doc = openapi();
    let purchase = &doc["paths"]["/api/v1/cart/{cart_id}/purchase"]["post"];
    let key = purchase["parameters"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| resolve(&doc, p))
        .find(|p| p["name"].as_str() == Some("Idempotency-Key"))
        .expect("the Idempotency-Key request header is documented");
    assert_eq!(key["in"].as_str(), Some("header"));
    assert_eq!(key["schema"]["maxLength"].as_u64(), Some(255));
    assert!(!purchase["responses"]["200"]["headers"]["Idempotent-Replayed"].is_null());
    assert!(!purchase["responses"]["409"]["headers"]["Retry-After"].is_null());
}

#[test]
fn order_transitions_document_the_version_and_idempotency_headers() {
    let doc = openapi();
    let parameter_names = |op: &Yaml| -> BTreeSet<String> {
        op["parameters"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"].as_str() == Some("header"))
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let order = &doc["paths"]["/api/v1/orders/{order_id}"]["get"];
    assert!(
        !order["responses"]["200"]["headers"]["ETag"].is_null(),
        "GET an order: its version as the ETag the transitions' If-Match names"
    );
    let transitions: Vec<(Route, &Yaml)> = operations(&doc)
        .into_iter()
        .filter(|((method, path), _)| method == "POST" && path.contains("/orders/{order_id}/"))
        .collect();
    assert_eq!(
        transitions.len(),
        4,
        "cancel, and the admin cancel, fulfil and payment"
    );
    for (route, op) in transitions {
        let headers = parameter_names(op);
        for name in ["If-Match", "Idempotency-Key"] {
            assert!(headers.contains(name), "{route:?}: {name}");
        }
        let ok = &op["responses"]["200"]["headers"];
        assert!(!ok["ETag"].is_null(), "{route:?}: 200 with the ETag");
        assert!(!ok["Idempotent-Replayed"].is_null(), "{route:?}: 200");
        let stale = resolve(&doc, &op["responses"]["412"]);
        let schema = &stale["content"]["application/problem+json"]["schema"];
        let requires_order = schema["allOf"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|part| {
                part["required"]
                    .as_sequence()
                    .is_some_and(|r| r.iter().any(|m| m.as_str() == Some("order")))
            });
        assert!(requires_order, "{route:?}: 412 with the order as it is now");
    }
    let webhook = &doc["paths"]["/api/v1/webhooks/stripe"]["post"];
    assert_eq!(
        webhook["security"].as_sequence().map(Vec::len),
        Some(0),
        "no user or IAM authorizer: Stripe signs its events"
    );
    assert!(parameter_names(webhook).contains("Stripe-Signature"));
}

#[test]
fn id_examples_are_ids_the_api_accepts() {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    for example in schemas["CartId"]["examples"].as_sequence().unwrap() {
        let text = example.as_str().unwrap();
        assert!(CartId::parse(text).is_ok(), "{text} is a cart id");
    }
    for example in schemas["OrderId"]["examples"].as_sequence().unwrap() {
        let text = example.as_str().unwrap();
        assert!(OrderId::parse(text).is_ok(), "{text} is an order id");
    }
    // The example guest: its token, and its cart, which is the token's guest's.
    let tokens = schemas["GuestToken"]["examples"].as_sequence().unwrap();
    for example in tokens {
        let text = example.as_str().unwrap();
        assert!(GuestToken::parse(text).is_ok(), "{text} is a guest token");
    }
    let guest = GuestToken::parse(tokens[0].as_str().unwrap())
        .unwrap()
        .guest();
    let carts = schemas["CartId"]["examples"].as_sequence().unwrap();
    let guests_cart = carts
        .iter()
        .filter_map(|c| CartId::parse(c.as_str().unwrap()).ok())
        .find(|c| c.owner().is_guest())
        .expect("an example of a guest's cart id");
    assert_eq!(guests_cart.owner(), &guest, "the example token's guest");
}

/// `value`'s enum (after references), as strings.
fn string_enum(doc: &Yaml, value: &Yaml) -> BTreeSet<String> {
    resolve(doc, value)["enum"]
        .as_sequence()
        .expect("an enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// What the answer writes for `$value`: a JSON string.
macro_rules! serialized {
    ($value:expr) => {
        serde_json::to_value($value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
}

#[test]
fn a_merges_modes_outcomes_and_reasons_are_the_codes() {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    // Every variant: the matches have no wildcard, so a new one does not compile until it is
    // listed here, and then openapi.yaml must name it.
    let modes = [MergeMode::Merge, MergeMode::Replace, MergeMode::Keep];
    for mode in modes {
        match mode {
            MergeMode::Merge | MergeMode::Replace | MergeMode::Keep => {}
        }
    }
    let outcomes = [Outcome::Merged, Outcome::Capped, Outcome::Dropped];
    for outcome in outcomes {
        match outcome {
            Outcome::Merged | Outcome::Capped | Outcome::Dropped => {}
        }
    }
    let reasons = [
        Why::HoldLimit,
        Why::CustomerLimit,
        Why::HeldAtAnotherPrice,
        Why::HoldTimeLimit,
        Why::CartFull,
        Why::Replaced,
        Why::Kept,
    ];
    for reason in reasons {
        match reason {
            Why::HoldLimit
            | Why::CustomerLimit
            | Why::HeldAtAnotherPrice
            | Why::HoldTimeLimit
            | Why::CartFull
            | Why::Replaced
            | Why::Kept => {}
        }
    }
    let mode_names: BTreeSet<String> = modes.iter().map(|m| m.as_str().to_owned()).collect();
    assert_eq!(string_enum(&doc, &schemas["MergeMode"]), mode_names);
    for name in &mode_names {
        assert_eq!(
            MergeMode::parse(name).map(MergeMode::as_str),
            Ok(name.as_str())
        );
    }
    let default = &schemas["MergeRequest"]["properties"]["mode"]["default"];
    assert_eq!(default.as_str(), Some(MergeMode::Merge.as_str()));
    let outcome_names: BTreeSet<String> = outcomes.iter().map(|o| serialized!(o)).collect();
    assert_eq!(string_enum(&doc, &schemas["MergeOutcome"]), outcome_names);
    let reason_names: BTreeSet<String> = reasons.iter().map(|r| serialized!(r)).collect();
    assert_eq!(string_enum(&doc, &schemas["MergeReason"]), reason_names);
    let change = &schemas["MergeLineChange"]["properties"];
    let from = string_enum(&doc, &change["from"]);
    assert_eq!(
        from,
        BTreeSet::from(["guest".to_owned(), "user".to_owned()])
    );
}

#[test]
fn the_guest_routes_need_their_token_and_follow_the_authentication_mode() {
    let doc = openapi();
    let security = |op: &Yaml| -> Vec<Vec<String>> {
        op["security"]
            .as_sequence()
            .expect("a security list")
            .iter()
            .map(|requirement| {
                mapping(requirement)
                    .map(|(name, _)| name.to_owned())
                    .collect()
            })
            .collect()
    };
    let guests: Vec<(Route, &Yaml)> = operations(&doc)
        .into_iter()
        .filter(|((_, path), _)| path.starts_with("/api/v1/guest/"))
        .collect();
    assert_eq!(guests.len(), 5, "create, view, add, set, remove");
    for ((method, path), op) in guests {
        let route = format!("{method} {path}");
        // No credential in `jwt` mode; SigV4 (the shop's backend) in `iam` mode.
        assert_eq!(security(op), [vec![], vec!["sigv4".to_owned()]], "{route}");
        assert!(!op["responses"]["403"].is_null(), "{route}: iam mode");
        if path == "/api/v1/guest/carts" {
            let created = resolve(&doc, &op["responses"]["201"]);
            let schema = resolve(&doc, &created["content"]["application/json"]["schema"]);
            let required = schema["required"].as_sequence().unwrap();
            assert!(required.iter().any(|r| r.as_str() == Some("guest_token")));
            continue;
        }
        let token = op["parameters"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| resolve(&doc, p))
            .find(|p| p["name"].as_str() == Some("Guest-Token"))
            .unwrap_or_else(|| panic!("{route}: the Guest-Token header"));
        assert_eq!(token["in"].as_str(), Some("header"), "{route}");
        assert_eq!(token["required"].as_bool(), Some(true), "{route}");
        let unauthenticated = resolve(&doc, &op["responses"]["401"]);
        assert!(
            !unauthenticated["headers"]["WWW-Authenticate"].is_null(),
            "{route}: 401 without the token, with the challenge every 401 carries"
        );
        assert!(
            !op["responses"]["404"].is_null(),
            "{route}: another guest's"
        );
    }
    let merge = &doc["paths"]["/api/v1/cart/merge"]["post"];
    assert_eq!(
        security(merge),
        [vec!["bearer".to_owned()], vec!["sigv4".to_owned()]],
        "a merge is a signed-in user's"
    );
}

#[test]
fn a_discount_codes_reasons_are_the_codes() {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    // Every variant: the match has no wildcard, so a new one does not compile until it is listed
    // here, and then openapi.yaml must name it.
    let reasons = [
        NotApplicable::NotStarted,
        NotApplicable::Ended,
        NotApplicable::Inactive,
        NotApplicable::Exhausted,
        NotApplicable::BelowMinSubtotal,
        NotApplicable::CustomerLimitReached,
        NotApplicable::Changed,
    ];
    for reason in reasons {
        match reason {
            NotApplicable::NotStarted
            | NotApplicable::Ended
            | NotApplicable::Inactive
            | NotApplicable::Exhausted
            | NotApplicable::BelowMinSubtotal
            | NotApplicable::CustomerLimitReached
            | NotApplicable::Changed => {}
        }
    }
    let names: BTreeSet<String> = reasons.iter().map(|r| r.as_str().to_owned()).collect();
    assert_eq!(
        string_enum(&doc, &schemas["DiscountNotApplicableReason"]),
        names
    );
    // The problem's `reason` is that enum.
    let reason = &schemas["Problem"]["properties"]["reason"];
    assert_eq!(string_enum(&doc, reason), names);
    // A code as the API shows it is one it accepts, upper-case.
    for example in schemas["DiscountCode"]["examples"].as_sequence().unwrap() {
        let text = example.as_str().unwrap();
        let code = DiscountCode::parse(text).expect("a discount code");
        assert_eq!(code.as_str(), text, "shown upper-case");
    }
}
