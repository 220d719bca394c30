//! One source of truth, checked. The same facts are written in several places because each tool
//! reads its own file: the function crates (what `cargo` builds), `template.yaml` (what SAM
//! deploys), the `cargo lambda watch` router in the root `Cargo.toml` (what `make dev` serves),
//! `events/` (what the README invokes) and `shared::store::schema` (the tables DynamoDB Local
//! gets). These tests fail as soon as any two of them disagree.
//!
//! No DynamoDB needed: everything here is read from files.

use std::collections::{BTreeMap, BTreeSet};

use crate::{read, root};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use shared::domain::{CartId, GuestToken, UserId};
use shared::store::schema::{table_definitions, AttrType, Projected, TableDef};
use shared::Tables;

// --- reading the sources -------------------------------------------------------------------

fn template() -> Yaml {
    serde_yaml::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

fn toml_file(relative: &str) -> toml::Table {
    read(relative)
        .parse()
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `value` at a path of mapping keys, if every step exists.
fn at<'a>(value: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn string(value: Option<&Yaml>) -> Option<&str> {
    value.and_then(Yaml::as_str)
}

/// The operand of a short-form intrinsic (`!Ref X`, `!GetAtt X.Arn`, `!Sub "..."`) with this tag.
fn intrinsic<'a>(value: &'a Yaml, tag: &str) -> Option<&'a Yaml> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == tag => Some(&tagged.value),
        _ => None,
    }
}

/// `!Ref X` -> `X`.
fn reference(value: &Yaml) -> Option<&str> {
    intrinsic(value, "Ref").and_then(Yaml::as_str)
}

/// The template's resources of one type, by logical id.
fn resources<'a>(template: &'a Yaml, kind: &str) -> BTreeMap<String, &'a Yaml> {
    template["Resources"]
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .filter(|(_, r)| string(r.get("Type")) == Some(kind))
        .map(|(id, r)| (id.as_str().expect("logical ids are strings").to_owned(), r))
        .collect()
}

/// `add-cart-item` -> `AddCartItem`.
fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The crates in `functions/`, each with its one binary named like its folder.
fn workspace_functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/ exists") {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let dir = entry.file_name().into_string().unwrap();
        let manifest = toml_file(&format!("functions/{dir}/Cargo.toml"));
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some(dir.as_str()),
            "functions/{dir}: the package is named after its folder"
        );
        let bins: Vec<&str> = manifest
            .get("bin")
            .and_then(|b| b.as_array())
            .map(|bins| bins.iter().filter_map(|b| b["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            bins,
            [dir.as_str()],
            "functions/{dir}: exactly one [[bin]], named after its folder"
        );
        names.insert(dir);
    }
    assert!(!names.is_empty(), "functions/ holds the function crates");
    names
}

/// A function in `template.yaml`.
struct Function<'a> {
    logical_id: String,
    binary: String,
    resource: &'a Yaml,
}

impl Function<'_> {
    fn properties(&self) -> &Yaml {
        &self.resource["Properties"]
    }

    /// `(event name, event)` of every event source.
    fn events(&self) -> Vec<(&str, &Yaml)> {
        self.properties()
            .get("Events")
            .and_then(Yaml::as_mapping)
            .map(|events| {
                events
                    .iter()
                    .map(|(name, event)| (name.as_str().unwrap(), event))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn events_of_type(&self, kind: &str) -> Vec<&Yaml> {
        self.events()
            .into_iter()
            .filter(|(_, e)| string(e.get("Type")) == Some(kind))
            .map(|(_, e)| e)
            .collect()
    }

    fn is_scheduled(&self) -> bool {
        !self.events_of_type("Schedule").is_empty() || !self.events_of_type("ScheduleV2").is_empty()
    }

    /// The event source mappings (`AWS::Lambda::EventSourceMapping`) that invoke it: a stream
    /// feeds it.
    fn stream_mappings<'t>(&self, template: &'t Yaml) -> Vec<&'t Yaml> {
        resources(template, "AWS::Lambda::EventSourceMapping")
            .into_values()
            .filter(|m| reference(&m["Properties"]["FunctionName"]) == Some(&self.logical_id))
            .collect()
    }
}

/// The `AWS::Serverless::Function` resources, by binary name.
fn template_functions(template: &Yaml) -> BTreeMap<String, Function<'_>> {
    resources(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(logical_id, resource)| {
            let binary = string(at(resource, &["Metadata", "BuildProperties", "Binary"]))
                .unwrap_or_else(|| panic!("{logical_id}: Metadata.BuildProperties.Binary is set"))
                .to_owned();
            (
                binary.clone(),
                Function {
                    logical_id,
                    binary,
                    resource,
                },
            )
        })
        .collect()
}

/// A route: method, path, and the binary that serves it.
pub(crate) type Route = (String, String, String);

/// The `AWS::ApiGatewayV2::Route` resources, by key (`POST /api/v1/cart/`): the binary their
/// integration invokes, and the resource.
fn template_route_resources(template: &Yaml) -> BTreeMap<String, (String, &Yaml)> {
    let binaries: BTreeMap<String, String> = template_functions(template)
        .into_values()
        .map(|f| (f.logical_id, f.binary))
        .collect();
    let mut routes = BTreeMap::new();
    for (id, route) in resources(template, "AWS::ApiGatewayV2::Route") {
        let props = &route["Properties"];
        let key = string(props.get("RouteKey")).unwrap_or_else(|| panic!("{id}: RouteKey"));
        let target = intrinsic(&props["Target"], "Sub").and_then(Yaml::as_str);
        let integration = target
            .and_then(|t| t.strip_prefix("integrations/${"))
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{id}: Target is !Sub integrations/${{<Integration>}}"));
        let uri = &template["Resources"][integration]["Properties"]["IntegrationUri"];
        let function = intrinsic(uri, "GetAtt")
            .and_then(Yaml::as_str)
            .and_then(|f| f.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("{integration}: IntegrationUri is !GetAtt <Function>.Arn"));
        let binary = binaries
            .get(function)
            .unwrap_or_else(|| panic!("{integration}: {function} is a template function"));
        let previous = routes.insert(key.to_owned(), (binary.clone(), route));
        assert!(previous.is_none(), "{key} is declared twice");
    }
    routes
}

/// The HTTP API routes of `template.yaml`.
pub(crate) fn template_routes(template: &Yaml) -> BTreeSet<Route> {
    template_route_resources(template)
        .into_iter()
        .map(|(key, (binary, _))| {
            let (method, path) = key.split_once(' ').expect("a route key is METHOD PATH");
            (method.to_owned(), path.to_owned(), binary)
        })
        .collect()
}

/// The routes of `[workspace.metadata.lambda.watch.router]` in the root `Cargo.toml`.
fn router_routes() -> BTreeSet<Route> {
    let manifest = toml_file("Cargo.toml");
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("the watch router is a table");
    let mut routes = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().expect("each path maps to a list") {
            let method = target["method"].as_str().expect("method").to_uppercase();
            let function = target["function"].as_str().expect("function").to_owned();
            assert!(
                routes.insert((method.clone(), path.clone(), function)),
                "{method} {path} is routed twice"
            );
        }
    }
    routes
}

/// The files in `events/`, by name without `.json`.
fn event_files() -> BTreeMap<String, Json> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("events")).expect("events/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let stem = name
            .strip_suffix(".json")
            .unwrap_or_else(|| panic!("events/{name}: only .json files belong in events/"));
        let text = std::fs::read_to_string(&path).unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}: {e}"));
        files.insert(stem.to_owned(), json);
    }
    files
}

fn is_admin_path(path: &str) -> bool {
    path.starts_with("/api/v1/admin/") || path == "/api/v1/admin"
}

/// Webhooks: called server to server by a provider that signs its events (Stripe), with no user
/// and no IAM identity; the function verifies the signature before it reads anything.
fn is_webhook_path(path: &str) -> bool {
    path.starts_with("/api/v1/webhooks/")
}

/// The routes with no authorizer: the catalog listing, and the webhooks.
fn is_public_path(path: &str) -> bool {
    path == "/api/v1/items" || is_webhook_path(path)
}

/// A guest's routes: no authorizer in `jwt` mode (a visitor has no token of the issuer; the
/// functions check the `Guest-Token` header), IAM in `iam` mode (the shop's backend calls).
fn is_guest_path(path: &str) -> bool {
    path.starts_with("/api/v1/guest/") || path == "/api/v1/guest"
}

// --- functions ------------------------------------------------------------------------------

#[test]
fn every_function_crate_is_a_function_in_the_template_and_nothing_else_is() {
    let template = template();
    let in_workspace = workspace_functions();
    let in_template: BTreeSet<String> = template_functions(&template).into_keys().collect();

    assert_eq!(in_template, in_workspace);
}

#[test]
fn every_template_function_builds_its_own_crate_with_cargo_lambda() {
    let template = template();
    for (binary, function) in template_functions(&template) {
        let id = &function.logical_id;
        assert_eq!(*id, format!("{}Function", pascal_case(&binary)));
        // The root Makefile's build-<LogicalId> (scripts/package.sh), run in the repository
        // root: every function from one `cargo lambda build`, then this one's bootstrap.
        for (key, value) in [
            ("BuildMethod", "makefile"),
            ("ContextPath", "."),
            ("WorkingDirectory", "."),
        ] {
            let found = string(at(function.resource, &["Metadata", key]));
            assert_eq!(found, Some(value), "{id}: Metadata.{key}");
        }
        assert_eq!(
            string(function.properties().get("CodeUri")),
            Some(format!("functions/{binary}").as_str()),
            "{id}: CodeUri is its crate folder"
        );
        assert!(
            function.properties().get("FunctionName").is_none(),
            "{id}: CloudFormation names the function (one stack per name, no clashes)"
        );
        let log_group = reference(&function.properties()["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup is !Ref of its log group"));
        let group = &template["Resources"][log_group];
        assert_eq!(
            string(group.get("Type")),
            Some("AWS::Logs::LogGroup"),
            "{id}"
        );
        assert!(
            group["Properties"].get("RetentionInDays").is_some(),
            "{id}: its log group has a retention"
        );
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(string(globals.get("Runtime")), Some("provided.al2023"));
    assert_eq!(string(globals.get("Handler")), Some("bootstrap"));
    assert_eq!(
        string(at(globals, &["LoggingConfig", "LogFormat"])),
        Some("JSON")
    );
}

/// Every function has one kind of trigger: HTTP routes, a schedule, or (the order events'
/// publisher) a DynamoDB stream through an event source mapping of its own.
#[test]
fn every_function_is_either_behind_the_http_api_or_on_a_schedule() {
    let template = template();
    let routed: BTreeSet<String> = template_routes(&template)
        .into_iter()
        .map(|(_, _, binary)| binary)
        .collect();
    for function in template_functions(&template).values() {
        let kinds: BTreeSet<&str> = function
            .events()
            .iter()
            .filter_map(|(_, e)| string(e.get("Type")))
            .collect();
        let triggers = [
            routed.contains(&function.binary),
            function.is_scheduled(),
            !function.stream_mappings(&template).is_empty(),
        ];
        assert_eq!(
            triggers.iter().filter(|t| **t).count(),
            1,
            "{}: one kind of trigger, HTTP routes, a schedule or a stream (has {kinds:?})",
            function.logical_id
        );
        assert!(
            kinds.is_subset(&BTreeSet::from(["Schedule", "ScheduleV2"])),
            "{}: unexpected event types {kinds:?} (routes are ApiGatewayV2 resources)",
            function.logical_id
        );
    }
}

// --- routes ---------------------------------------------------------------------------------

#[test]
fn the_template_routes_are_exactly_the_local_router_routes() {
    let template = template();

    assert_eq!(template_routes(&template), router_routes());
}

#[test]
fn every_route_invokes_its_function_through_the_one_api_with_payload_v2() {
    let template = template();
    let apis = resources(&template, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1, "one HTTP API");
    let (api_id, api) = apis.into_iter().next().unwrap();
    assert_eq!(string(api["Properties"].get("ProtocolType")), Some("HTTP"));
    let permissions = resources(&template, "AWS::Lambda::Permission");
    for (key, (binary, route)) in template_route_resources(&template) {
        let props = &route["Properties"];
        assert_eq!(
            props.get("ApiId").and_then(reference),
            Some(api_id.as_str()),
            "{key}"
        );
        let function = format!("{}Function", pascal_case(&binary));
        let integration = &template["Resources"][format!("{}Integration", pascal_case(&binary))];
        let integration = &integration["Properties"];
        assert_eq!(
            integration.get("ApiId").and_then(reference),
            Some(api_id.as_str())
        );
        assert_eq!(
            string(integration.get("IntegrationType")),
            Some("AWS_PROXY")
        );
        assert_eq!(string(integration.get("PayloadFormatVersion")), Some("2.0"));
        let invokable = permissions.values().any(|p| {
            let p = &p["Properties"];
            p.get("FunctionName").and_then(reference) == Some(function.as_str())
                && string(p.get("Principal")) == Some("apigateway.amazonaws.com")
                && intrinsic(&p["SourceArn"], "Sub")
                    .and_then(Yaml::as_str)
                    .is_some_and(|arn| arn.ends_with(&format!("${{{api_id}}}/*")))
        });
        assert!(invokable, "{key}: {api_id} may invoke {function}");
    }
}

#[test]
fn the_listing_and_webhooks_are_public_admin_needs_iam_and_user_and_guest_routes_follow_the_authentication_mode(
) {
    let template = template();
    let parameter = &template["Parameters"]["Authentication"];
    assert_eq!(string(parameter.get("Default")), Some("jwt"));
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_sequence()
        .expect("Authentication has AllowedValues")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(allowed, ["jwt", "iam"]);
    let user_auth: Yaml = serde_yaml::from_str("!If [JwtMode, JWT, AWS_IAM]").unwrap();
    let user_authorizer: Yaml =
        serde_yaml::from_str("!If [JwtMode, !Ref UserJwtAuthorizer, !Ref AWS::NoValue]").unwrap();
    let guest_auth: Yaml = serde_yaml::from_str("!If [JwtMode, NONE, AWS_IAM]").unwrap();
    let mut guests = 0;

    for (key, (_, route)) in template_route_resources(&template) {
        let props = &route["Properties"];
        let (auth, authorizer) = (&props["AuthorizationType"], props.get("AuthorizerId"));
        let path = key.split_once(' ').unwrap().1;
        if is_public_path(path) {
            assert_eq!(auth.as_str(), Some("NONE"), "{key} is public");
            assert!(authorizer.is_none(), "{key}");
        } else if is_admin_path(path) {
            assert_eq!(auth.as_str(), Some("AWS_IAM"), "{key} needs SigV4");
            assert!(authorizer.is_none(), "{key}");
        } else if is_guest_path(path) {
            assert_eq!(
                *auth, guest_auth,
                "{key}: no authorizer (jwt: the Guest-Token is the function's to check) or IAM"
            );
            assert!(
                authorizer.is_none(),
                "{key}: never the users' JWT authorizer"
            );
            guests += 1;
        } else {
            assert_eq!(
                *auth, user_auth,
                "{key}: JWT or IAM, as Authentication says"
            );
            assert_eq!(authorizer, Some(&user_authorizer), "{key}");
        }
    }
    assert_eq!(guests, 5, "create, view, add, set, remove");
    let authorizer = &template["Resources"]["UserJwtAuthorizer"];
    assert_eq!(string(authorizer.get("Condition")), Some("JwtMode"));
    assert_eq!(
        string(authorizer["Properties"].get("AuthorizerType")),
        Some("JWT")
    );
}

#[test]
fn the_template_can_never_make_a_function_verify_tokens_itself_or_open_iam_routes() {
    let text = read("template.yaml");
    let template = template();
    // Not even in a comment's neighbourhood of a value: the names appear only in comments.
    for name in [
        "LOCAL_JWKS_FILE",
        "ALLOW_UNSIGNED_REQUESTS",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
    ] {
        for line in text.lines().filter(|l| l.contains(name)) {
            assert!(line.trim_start().starts_with('#'), "{name} is set: {line}");
        }
    }
    for function in template_functions(&template).values() {
        let vars = environment(&template, function);
        assert_eq!(
            vars.get("AUTH_MODE").and_then(reference),
            Some("Authentication"),
            "{}: AUTH_MODE is the Authentication parameter (jwt or iam, nothing else)",
            function.logical_id
        );
    }
}

#[test]
fn every_route_is_throttled_the_purchase_tighter_and_checkout_can_keep_its_concurrency() {
    let template = template();
    let stages = resources(&template, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1, "one stage");
    let stage = &stages.values().next().unwrap()["Properties"];
    let default = &stage["DefaultRouteSettings"];
    assert_eq!(
        default.get("ThrottlingRateLimit").and_then(reference),
        Some("ThrottleRatePerSecond")
    );
    assert_eq!(
        default.get("ThrottlingBurstLimit").and_then(reference),
        Some("ThrottleBurst")
    );
    let purchase = &stage["RouteSettings"]["POST /api/v1/cart/{cart_id}/purchase"];
    assert_eq!(
        purchase.get("ThrottlingRateLimit").and_then(reference),
        Some("PurchaseThrottleRatePerSecond")
    );
    assert_eq!(
        purchase.get("ThrottlingBurstLimit").and_then(reference),
        Some("PurchaseThrottleBurst")
    );
    // Anyone may make a guest (and a stored cart) without signing in: tighter still.
    let guests = &stage["RouteSettings"]["POST /api/v1/guest/carts"];
    assert_eq!(
        guests.get("ThrottlingRateLimit").and_then(reference),
        Some("GuestCartThrottleRatePerSecond")
    );
    assert_eq!(
        guests.get("ThrottlingBurstLimit").and_then(reference),
        Some("GuestCartThrottleBurst")
    );
    let settings = stage["RouteSettings"].as_mapping().unwrap();
    let routes = template_routes(&template);
    for key in settings.keys().map(|k| k.as_str().unwrap()) {
        let (method, path) = key.split_once(' ').unwrap();
        assert!(
            routes.iter().any(|(m, p, _)| m == method && p == path),
            "{key}: a throttle of a route that exists"
        );
    }
    let depends: Vec<&str> = stages.values().next().unwrap()["DependsOn"]
        .as_sequence()
        .expect("DependsOn lists the throttled routes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        depends,
        ["PurchaseCartRoute", "GuestCreateCartRoute"],
        "the stage is made after the routes its settings name"
    );
    let number = |name: &str| {
        let value = &template["Parameters"][name]["Default"];
        value
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has a numeric default"))
    };
    assert!(number("PurchaseThrottleRatePerSecond") < number("ThrottleRatePerSecond"));
    assert!(number("PurchaseThrottleBurst") < number("ThrottleBurst"));
    assert!(number("GuestCartThrottleRatePerSecond") < number("PurchaseThrottleRatePerSecond"));
    assert!(number("GuestCartThrottleBurst") < number("PurchaseThrottleBurst"));
    assert_eq!(
        number("PurchaseReservedConcurrency"),
        0,
        "none unless asked for"
    );
    let purchase = &template["Resources"]["PurchaseCartFunction"]["Properties"];
    let reserved: Yaml = serde_yaml::from_str(
        "!If [ReservePurchaseConcurrency, !Ref PurchaseReservedConcurrency, !Ref AWS::NoValue]",
    )
    .unwrap();
    assert_eq!(
        purchase.get("ReservedConcurrentExecutions"),
        Some(&reserved)
    );
}

// --- events/ --------------------------------------------------------------------------------

#[test]
fn there_is_one_event_file_per_function() {
    let files: BTreeSet<String> = event_files().into_keys().collect();

    assert_eq!(files, workspace_functions());
}

#[test]
fn every_http_event_is_a_v2_request_on_one_of_its_functions_routes() {
    let template = template();
    let routes = template_routes(&template);
    let files = event_files();
    for function in template_functions(&template).values() {
        if function.is_scheduled() || !function.stream_mappings(&template).is_empty() {
            continue;
        }
        let name = &function.binary;
        let event = &files[name];
        let method = event["requestContext"]["http"]["method"].as_str().unwrap();
        let route_key = event["routeKey"].as_str().unwrap();
        let (key_method, route) = route_key.split_once(' ').expect("routeKey is METHOD PATH");

        assert_eq!(event["version"], "2.0", "events/{name}.json");
        assert_eq!(key_method, method, "events/{name}.json");
        assert_eq!(event["requestContext"]["routeKey"], route_key);
        assert!(
            routes.contains(&(method.to_owned(), route.to_owned(), name.clone())),
            "events/{name}.json: {route_key} is not a route of {name}"
        );
        // The concrete path is the route with the path parameters filled in.
        let mut path = route.to_owned();
        if let Some(params) = event["pathParameters"].as_object() {
            for (param, value) in params {
                path = path.replace(&format!("{{{param}}}"), value.as_str().unwrap());
            }
        }
        assert_eq!(event["rawPath"], path, "events/{name}.json");
        assert_eq!(event["requestContext"]["http"]["path"], path);
        assert!(
            !path.contains('{'),
            "events/{name}.json: every path parameter given"
        );
        // Admin events carry the identity API Gateway adds after checking the signature.
        let iam = &event["requestContext"]["authorizer"]["iam"];
        assert_eq!(
            iam["userArn"].is_string(),
            is_admin_path(route),
            "events/{name}.json: an IAM identity exactly on admin routes"
        );
        // Cart, purchase and order events carry the claims of the JWT authorizer (jwt mode,
        // the default), as API Gateway passes them on.
        let sub = &event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"];
        assert_eq!(
            sub.is_string(),
            !is_admin_path(route) && !is_public_path(route) && !is_guest_path(route),
            "events/{name}.json: JWT claims exactly on the cart, purchase and order routes"
        );
        // Public and (jwt mode) guest routes: no authorizer ran, so there is nothing of one in
        // the event.
        if is_public_path(route) || is_guest_path(route) {
            assert!(
                event["requestContext"]["authorizer"].is_null(),
                "events/{name}.json: no authorizer on a public or guest route"
            );
        }
        // A guest's cart is named by its token: every guest event but the creation sends one.
        assert_eq!(
            event["headers"]["guest-token"].is_string(),
            is_guest_path(route) && route != "/api/v1/guest/carts",
            "events/{name}.json: a Guest-Token exactly on a guest's cart routes"
        );
        // And lambda_http reads it as the function will.
        lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
    }
}

#[test]
fn every_scheduled_function_has_an_eventbridge_scheduled_event() {
    let template = template();
    let files = event_files();
    for function in template_functions(&template).values() {
        if !function.is_scheduled() {
            continue;
        }
        let event = &files[&function.binary];
        assert_eq!(
            event["source"], "aws.events",
            "events/{}.json",
            function.binary
        );
        assert_eq!(event["detail-type"], "Scheduled Event");
    }
}

#[test]
fn the_cart_events_share_one_valid_cart_id_of_their_tokens_user() {
    let files = event_files();
    let users = files
        .values()
        .filter(|e| e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"].is_string());
    let ids: BTreeSet<&str> = users
        .filter_map(|e| e["pathParameters"]["cart_id"].as_str())
        .collect();
    let subs: BTreeSet<&str> = files
        .values()
        .filter_map(|e| e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"].as_str())
        .collect();

    assert_eq!(ids.len(), 1, "one user's cart id across events/: {ids:?}");
    assert_eq!(subs.len(), 1, "one user across events/: {subs:?}");
    let id = CartId::parse(ids.first().unwrap()).expect("a well-formed cart id");
    assert_eq!(id.owner(), &UserId::parse(subs.first().unwrap()).unwrap());
}

#[test]
fn the_guest_events_share_one_cart_of_their_tokens_guest_which_the_merge_event_names() {
    let files = event_files();
    let guests: Vec<&Json> = files
        .values()
        .filter(|e| e["headers"]["guest-token"].is_string())
        .collect();
    let ids: BTreeSet<&str> = guests
        .iter()
        .filter_map(|e| e["pathParameters"]["cart_id"].as_str())
        .collect();
    let tokens: BTreeSet<&str> = guests
        .iter()
        .filter_map(|e| e["headers"]["guest-token"].as_str())
        .collect();

    assert_eq!(guests.len(), 4, "view, add, set, remove");
    assert_eq!(ids.len(), 1, "one guest's cart id across events/: {ids:?}");
    assert_eq!(tokens.len(), 1, "one guest across events/: {tokens:?}");
    let id = CartId::parse(ids.first().unwrap()).expect("a well-formed cart id");
    let token = GuestToken::parse(tokens.first().unwrap()).expect("a well-formed guest token");
    assert_eq!(
        id.owner(),
        &token.guest(),
        "the token's guest owns the cart"
    );
    // The merge event merges that cart into its user's.
    let body = files["merge-cart"]["body"].as_str().expect("a body");
    let body: Json = serde_json::from_str(body).expect("JSON");
    assert_eq!(body["guest_cart_id"], *ids.first().unwrap());
    assert_eq!(body["guest_token"], *tokens.first().unwrap());
}

// --- tables ---------------------------------------------------------------------------------

fn attr_type(t: AttrType) -> &'static str {
    match t {
        AttrType::S => "S",
        AttrType::N => "N",
    }
}

/// `[(attribute, HASH|RANGE)]`.
type Keys = Vec<(String, String)>;

/// An index: name, keys, projection type.
type Index = (String, Keys, String);

/// The keys of a template `KeySchema`.
fn key_schema(value: &Yaml) -> Keys {
    value
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|k| {
            (
                string(k.get("AttributeName")).unwrap().to_owned(),
                string(k.get("KeyType")).unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected_keys(pk: (&str, AttrType), sk: Option<(&str, AttrType)>) -> Keys {
    let mut keys = vec![(pk.0.to_owned(), "HASH".to_owned())];
    keys.extend(sk.map(|(name, _)| (name.to_owned(), "RANGE".to_owned())));
    keys
}

fn definitions() -> Vec<TableDef> {
    table_definitions(&Tables::from_env())
}

#[test]
fn the_template_tables_are_exactly_the_schema_tables() {
    let template = template();
    let tables = resources(&template, "AWS::DynamoDB::Table");
    let defs = definitions();

    let in_template: BTreeSet<&str> = tables.keys().map(String::as_str).collect();
    let in_schema: BTreeSet<&str> = defs.iter().map(|d| d.logical_id).collect();
    assert_eq!(in_template, in_schema);

    for def in &defs {
        let id = def.logical_id;
        let props = &tables[id]["Properties"];

        assert_eq!(
            key_schema(&props["KeySchema"]),
            expected_keys(def.partition_key, def.sort_key),
            "{id}: key schema"
        );

        let mut attributes = BTreeMap::new();
        for (name, t) in std::iter::once(def.partition_key)
            .chain(def.sort_key)
            .chain(
                def.indexes
                    .iter()
                    .flat_map(|i| std::iter::once(i.partition_key).chain(i.sort_key)),
            )
        {
            attributes.insert(name.to_owned(), attr_type(t).to_owned());
        }
        let declared: BTreeMap<String, String> = props["AttributeDefinitions"]
            .as_sequence()
            .expect("AttributeDefinitions is a list")
            .iter()
            .map(|a| {
                (
                    string(a.get("AttributeName")).unwrap().to_owned(),
                    string(a.get("AttributeType")).unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(declared, attributes, "{id}: attribute definitions");

        let indexes: Vec<Index> = props
            .get("GlobalSecondaryIndexes")
            .and_then(Yaml::as_sequence)
            .map(|gsis| {
                gsis.iter()
                    .map(|g| {
                        (
                            string(g.get("IndexName")).unwrap().to_owned(),
                            key_schema(&g["KeySchema"]),
                            string(at(g, &["Projection", "ProjectionType"]))
                                .unwrap()
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let expected: Vec<Index> = def
            .indexes
            .iter()
            .map(|i| {
                (
                    i.name.to_owned(),
                    expected_keys(i.partition_key, i.sort_key),
                    match i.projection {
                        Projected::All => "ALL".to_owned(),
                        Projected::KeysOnly => "KEYS_ONLY".to_owned(),
                    },
                )
            })
            .collect();
        assert_eq!(indexes, expected, "{id}: global secondary indexes");
        assert!(
            props.get("LocalSecondaryIndexes").is_none(),
            "{id}: no LSIs"
        );

        let stream = string(at(props, &["StreamSpecification", "StreamViewType"]));
        assert_eq!(
            stream,
            def.stream.map(|view| view.as_str()),
            "{id}: its stream"
        );

        let ttl = props.get("TimeToLiveSpecification");
        assert_eq!(
            ttl.and_then(|t| string(t.get("AttributeName"))),
            def.ttl_attribute,
            "{id}: TTL attribute"
        );
        if let Some(ttl) = ttl {
            assert_eq!(ttl["Enabled"].as_bool(), Some(true), "{id}: TTL enabled");
        }
    }
}

#[test]
fn every_table_is_on_demand_recoverable_encrypted_and_retained() {
    let template = template();
    for (id, table) in resources(&template, "AWS::DynamoDB::Table") {
        let props = &table["Properties"];
        assert_eq!(string(table.get("DeletionPolicy")), Some("Retain"), "{id}");
        assert_eq!(
            string(table.get("UpdateReplacePolicy")),
            Some("Retain"),
            "{id}"
        );
        assert_eq!(
            string(props.get("BillingMode")),
            Some("PAY_PER_REQUEST"),
            "{id}"
        );
        assert_eq!(
            at(
                props,
                &[
                    "PointInTimeRecoverySpecification",
                    "PointInTimeRecoveryEnabled"
                ]
            )
            .and_then(Yaml::as_bool),
            Some(true),
            "{id}"
        );
        assert_eq!(
            at(props, &["SSESpecification", "SSEEnabled"]).and_then(Yaml::as_bool),
            Some(true),
            "{id}"
        );
        assert!(
            props.get("TableName").is_none(),
            "{id}: CloudFormation names it"
        );
    }
}

// --- configuration and permissions ----------------------------------------------------------

/// A function's environment: the globals, then its own variables over them (SAM's merge).
fn environment(template: &Yaml, function: &Function) -> BTreeMap<String, Yaml> {
    let mut vars = BTreeMap::new();
    for source in [
        at(
            template,
            &["Globals", "Function", "Environment", "Variables"],
        ),
        at(function.properties(), &["Environment", "Variables"]),
    ]
    .into_iter()
    .flatten()
    {
        for (k, v) in source.as_mapping().expect("Variables is a mapping") {
            vars.insert(k.as_str().unwrap().to_owned(), v.clone());
        }
    }
    vars
}

#[test]
fn every_function_gets_every_table_name_from_the_template() {
    let template = template();
    let defs = definitions();
    for function in template_functions(&template).values() {
        let vars = environment(&template, function);
        for def in &defs {
            assert_eq!(
                vars.get(def.env_var).and_then(reference),
                Some(def.logical_id),
                "{}: {} = !Ref {}",
                function.logical_id,
                def.env_var,
                def.logical_id
            );
        }
        assert!(
            !vars.contains_key("ALLOW_UNSIGNED_REQUESTS"),
            "{}: IAM routes are never opened in AWS",
            function.logical_id
        );
    }
}

/// The functions that sign cursors, by their `Endpoint::USES_CURSORS`: exactly those whose cold
/// start reads the cursor key.
fn endpoints_using_cursors() -> BTreeSet<&'static str> {
    use shared::http::Endpoint;
    fn of<E: Endpoint>() -> (&'static str, bool) {
        (E::NAME, E::USES_CURSORS)
    }
    let endpoints = [
        of::<add_cart_item::AddCartItem>(),
        of::<admin_cancel_order::AdminCancelOrder>(),
        of::<admin_create_item::AdminCreateItem>(),
        of::<admin_discounts::AdminDiscounts>(),
        of::<admin_fulfil_order::AdminFulfilOrder>(),
        of::<admin_order_payment::AdminOrderPayment>(),
        of::<admin_update_item::AdminUpdateItem>(),
        of::<cancel_order::CancelOrder>(),
        of::<cart_discount::CartDiscount>(),
        of::<create_cart::CreateCart>(),
        of::<get_cart::GetCart>(),
        of::<get_order::GetOrder>(),
        of::<guest_add_cart_item::GuestAddCartItem>(),
        of::<guest_create_cart::GuestCreateCart>(),
        of::<guest_get_cart::GuestGetCart>(),
        of::<guest_remove_cart_item::GuestRemoveCartItem>(),
        of::<guest_set_cart_item::GuestSetCartItem>(),
        of::<list_items::ListItems>(),
        of::<list_orders::ListOrders>(),
        of::<merge_cart::MergeCart>(),
        of::<purchase_cart::PurchaseCart>(),
        of::<remove_cart_item::RemoveCartItem>(),
        of::<set_cart_item::SetCartItem>(),
        of::<stripe_webhook::StripeWebhook>(),
    ];
    endpoints
        .into_iter()
        .filter(|(_, uses)| *uses)
        .map(|(name, _)| name)
        .collect()
}

/// `AWSSecretsManagerGetSecretValuePolicy: { SecretArn: !Ref <secret> }` in a function's
/// `Policies`: the secret.
fn secret_read_grant(policy: &Yaml) -> Option<&str> {
    let arn = policy
        .get("AWSSecretsManagerGetSecretValuePolicy")?
        .get("SecretArn")?;
    reference(arn)
}

#[test]
fn the_listing_signs_its_cursors_with_a_secret_of_the_stack() {
    let template = template();
    let text = read("template.yaml");
    let secret = &template["Resources"]["CursorSecret"];
    assert_eq!(
        string(secret.get("Type")),
        Some("AWS::SecretsManager::Secret")
    );
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert_eq!(generated["PasswordLength"].as_u64(), Some(64));
    assert_eq!(generated["ExcludePunctuation"].as_bool(), Some(true));
    assert!(
        generated.get("SecretStringTemplate").is_none(),
        "the secret is the key itself, not a JSON document"
    );
    assert!(
        !text.contains("AWS::StackId"),
        "the stack id is readable by anyone who may describe the stack: no key"
    );

    let functions = template_functions(&template);
    let mut reading = BTreeSet::new();
    for function in functions.values() {
        let id = &function.logical_id;
        let vars = environment(&template, function);
        assert!(
            !vars.contains_key("CURSOR_SECRET"),
            "{id}: the key itself is never in the template"
        );
        let grants: Vec<&str> = (function.properties()["Policies"].as_sequence())
            .into_iter()
            .flatten()
            .filter_map(secret_read_grant)
            .collect();
        match vars.get("CURSOR_SECRET_ARN") {
            Some(arn) => {
                assert_eq!(reference(arn), Some("CursorSecret"), "{id}");
                assert_eq!(grants, ["CursorSecret"], "{id}: may read the secret, once");
                reading.insert(function.binary.as_str());
            }
            None => assert!(grants.is_empty(), "{id}: reads no secret"),
        }
    }
    assert_eq!(reading, BTreeSet::from(["list-items", "list-orders"]));
    assert_eq!(
        endpoints_using_cursors(),
        reading,
        "the functions whose cold start reads the key (Endpoint::USES_CURSORS) are those given it"
    );
}

#[test]
fn a_guests_idle_time_and_hold_cap_go_wherever_a_users_go_with_the_functions_defaults() {
    let template = template();
    let number = |name: &str| {
        let parameter = &template["Parameters"][name];
        assert_eq!(string(parameter.get("Type")), Some("Number"), "{name}");
        assert_eq!(parameter["MinValue"].as_i64(), Some(1), "{name}");
        parameter["Default"].as_i64().expect("a numeric default")
    };
    // What a function reads with none of the variables set.
    let defaults = shared::Config::from_vars(&|_: &str| None).unwrap();
    assert_eq!(
        number("GuestCartIdleHours") * 60 * 60,
        defaults.guest_cart_idle_secs
    );
    assert_eq!(
        number("MaxGuestHeldPerItem"),
        defaults.guest_max_held_per_item as i64
    );
    assert!(number("MaxGuestHeldPerItem") <= number("MaxHeldPerItem"));
    assert!(number("GuestCartIdleHours") < number("CartIdleDays") * 24);
    for function in template_functions(&template).values() {
        let vars = environment(&template, function);
        for (users, guests, parameter) in [
            (
                "CART_IDLE_DAYS",
                "GUEST_CART_IDLE_HOURS",
                "GuestCartIdleHours",
            ),
            (
                "MAX_HELD_PER_ITEM",
                "MAX_GUEST_HELD_PER_ITEM",
                "MaxGuestHeldPerItem",
            ),
        ] {
            assert_eq!(
                vars.get(guests).and_then(reference),
                vars.contains_key(users).then_some(parameter),
                "{}: {guests} wherever {users}",
                function.logical_id
            );
        }
    }
}

#[test]
fn the_hold_cap_goes_wherever_the_hold_time_goes() {
    let template = template();
    let parameter = &template["Parameters"]["MaxHoldSeconds"];
    assert_eq!(string(parameter.get("Type")), Some("Number"));
    assert_eq!(
        parameter["Default"].as_u64(),
        Some(0),
        "0: twice HoldSeconds, as the functions read it"
    );
    assert_eq!(parameter["MinValue"].as_u64(), Some(0));
    for function in template_functions(&template).values() {
        let vars = environment(&template, function);
        assert_eq!(
            vars.get("MAX_HOLD_SECONDS").and_then(reference),
            vars.contains_key("HOLD_SECONDS")
                .then_some("MaxHoldSeconds"),
            "{}",
            function.logical_id
        );
    }
}

#[test]
fn every_function_reads_the_payment_mode_and_only_the_webhook_gets_its_secret() {
    use shared::domain::PaymentMode;
    let template = template();
    let mode = &template["Parameters"]["PaymentMode"];
    assert_eq!(
        string(mode.get("Default")),
        Some("none"),
        "orders are placed at once unless a deployment takes payments"
    );
    assert_eq!(allowed_values(mode), ["none", "external"]);
    let window = &template["Parameters"]["PaymentWindowSeconds"];
    assert_eq!(string(window.get("Type")), Some("Number"));
    let default = window["Default"].as_i64().expect("a numeric default");
    assert_eq!(default, PaymentMode::DEFAULT_WINDOW_SECONDS);
    assert_eq!(window["MinValue"].as_i64(), Some(1), "a window is positive");
    for value in allowed_values(mode) {
        // What every function's cold start does with them (an error fails it).
        PaymentMode::parse(value, 1).unwrap_or_else(|e| panic!("{value}: {e}"));
    }

    let secret = &template["Parameters"]["StripeWebhookSecret"];
    assert_eq!(string(secret.get("Type")), Some("String"));
    assert_eq!(
        secret["NoEcho"].as_bool(),
        Some(true),
        "CloudFormation never shows the signing secret"
    );
    assert_eq!(
        string(secret.get("Default")),
        Some(""),
        "none unless given: the webhook then refuses every event"
    );
    for function in template_functions(&template).values() {
        let id = &function.logical_id;
        let vars = environment(&template, function);
        assert_eq!(
            vars.get("PAYMENT_MODE").and_then(reference),
            Some("PaymentMode"),
            "{id}"
        );
        assert_eq!(
            vars.get("PAYMENT_WINDOW_SECONDS").and_then(reference),
            Some("PaymentWindowSeconds"),
            "{id}"
        );
        assert_eq!(
            vars.get("STRIPE_WEBHOOK_SECRET").and_then(reference),
            (function.binary == "stripe-webhook").then_some("StripeWebhookSecret"),
            "{id}: the signing secret goes to the webhook alone"
        );
    }
    let uses = read("template.yaml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("StripeWebhookSecret"))
        .count();
    assert_eq!(
        uses, 2,
        "the parameter and the webhook's variable: in no output, global or other resource"
    );
}

#[test]
fn only_the_admin_functions_get_the_admin_allow_list() {
    let template = template();
    let parameter = &template["Parameters"]["AdminPrincipals"];
    assert_eq!(
        string(parameter.get("Default")),
        Some(""),
        "empty: any principal the IAM policy lets invoke the admin routes"
    );
    let admins: BTreeSet<String> = template_routes(&template)
        .into_iter()
        .filter(|(_, path, _)| is_admin_path(path))
        .map(|(_, _, binary)| binary)
        .collect();
    assert_eq!(admins.len(), 6, "{admins:?}");
    for function in template_functions(&template).values() {
        let vars = environment(&template, function);
        assert_eq!(
            vars.get("ADMIN_PRINCIPALS").and_then(reference),
            admins
                .contains(&function.binary)
                .then_some("AdminPrincipals"),
            "{}",
            function.logical_id
        );
    }
}

/// What a DynamoDB grant names in a table: all of it, an index, or its stream.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Table,
    Index(String),
    Stream,
}

/// The table (and index, or stream) an IAM resource names: `!GetAtt T.Arn`,
/// `!Sub "${T.Arn}/index/I"` or `!Sub "${T.Arn}/stream/*"`.
fn policy_resource(value: &Yaml) -> Option<(String, Part)> {
    if let Some(target) = intrinsic(value, "GetAtt").and_then(Yaml::as_str) {
        let table = target.strip_suffix(".Arn")?;
        return Some((table.to_owned(), Part::Table));
    }
    let sub = intrinsic(value, "Sub").and_then(Yaml::as_str)?;
    let rest = sub.strip_prefix("${")?;
    if let Some(table) = rest.strip_suffix(".Arn}/stream/*") {
        return Some((table.to_owned(), Part::Stream));
    }
    let (table, rest) = rest.split_once(".Arn}/index/")?;
    Some((table.to_owned(), Part::Index(rest.to_owned())))
}

/// The only grants of another service than DynamoDB: the order events' publisher's
/// `PutEvents` on its bus (checked by the_order_events_go_to_the_bus_the_stack_creates_or_the_one_named)
/// and `SendMessage` to its dead-letter queue, for its stream mapping.
fn other_service_grant(function: &Function, statement: &Yaml) -> bool {
    let action = string(statement.get("Action"));
    let sid = string(statement.get("Sid"));
    let resource = &statement["Resource"];
    function.binary == "publish-order-events"
        && match (sid, action) {
            (Some("PutTheOrderEvents"), Some("events:PutEvents")) => {
                intrinsic(resource, "If").is_some()
            }
            (Some("SendGivenUpBatchesToTheDeadLetterQueue"), Some("sqs:SendMessage")) => {
                intrinsic(resource, "GetAtt").and_then(Yaml::as_str)
                    == Some("OrderEventsDeadLetterQueue.Arn")
            }
            _ => false,
        }
}

#[test]
fn every_policy_names_explicit_dynamodb_actions_on_the_schema_tables_only() {
    let template = template();
    let defs = definitions();
    for function in template_functions(&template).values() {
        let id = &function.logical_id;
        let policies = function.properties()["Policies"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id}: Policies is a list of inline policies"));
        let mut granted = 0;
        for policy in policies {
            // The one SAM policy template: reading the cursor key, on that secret only (checked
            // by the_listing_signs_its_cursors_with_a_secret_of_the_stack).
            if secret_read_grant(policy) == Some("CursorSecret") {
                continue;
            }
            // No managed policies or other SAM policy templates (DynamoDBCrudPolicy grants far
            // more).
            let statements = policy["Statement"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id}: {policy:?} is an inline policy document"));
            for statement in statements {
                assert_eq!(string(statement.get("Effect")), Some("Allow"), "{id}");
                if other_service_grant(function, statement) {
                    continue;
                }
                let actions: Vec<&str> = match &statement["Action"] {
                    Yaml::String(one) => vec![one.as_str()],
                    Yaml::Sequence(many) => many.iter().map(|a| a.as_str().unwrap()).collect(),
                    other => panic!("{id}: Action {other:?}"),
                };
                for action in actions {
                    let name = action.strip_prefix("dynamodb:");
                    assert!(
                        name.is_some_and(|n| n.chars().all(|c| c.is_ascii_alphabetic())),
                        "{id}: {action} is one explicit DynamoDB action"
                    );
                    granted += 1;
                }
                let resources: Vec<&Yaml> = match &statement["Resource"] {
                    Yaml::Sequence(many) => many.iter().collect(),
                    one => vec![one],
                };
                for resource in resources {
                    let (table, index) = policy_resource(resource).unwrap_or_else(|| {
                        panic!("{id}: {resource:?} is a table or index of the template")
                    });
                    let def = defs
                        .iter()
                        .find(|d| d.logical_id == table)
                        .unwrap_or_else(|| panic!("{id}: {table} is not a schema table"));
                    match index {
                        Part::Table => {}
                        Part::Index(index) => assert!(
                            def.indexes.iter().any(|i| i.name == index),
                            "{id}: {table} has no index {index}"
                        ),
                        Part::Stream => {
                            assert!(def.stream.is_some(), "{id}: {table} has no stream")
                        }
                    }
                }
            }
        }
        assert!(granted > 0, "{id}: grants what it needs");
    }
}

// --- sign-up, callers and browsers ----------------------------------------------------------

/// The template as CloudFormation resolves it for some parameter values (the others at their
/// defaults): conditions evaluated, `!If` taken, `!Ref` of a parameter replaced by its value,
/// `!Ref AWS::NoValue` dropped. Only the intrinsics the template's conditions use.
struct Deployment<'a> {
    template: &'a Yaml,
    parameters: BTreeMap<String, String>,
}

impl<'a> Deployment<'a> {
    fn new(template: &'a Yaml, given: &[(&str, &str)]) -> Self {
        let mut parameters = BTreeMap::new();
        for (name, parameter) in template["Parameters"].as_mapping().unwrap() {
            let default = match &parameter["Default"] {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                Yaml::Bool(b) => b.to_string(),
                _ => continue,
            };
            parameters.insert(name.as_str().unwrap().to_owned(), default);
        }
        for (name, value) in given {
            assert!(
                template["Parameters"].get(*name).is_some(),
                "{name} is a parameter"
            );
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            template,
            parameters,
        }
    }

    /// A parameter's value as `!Ref` gives it: a list for a `CommaDelimitedList`.
    fn parameter(&self, name: &str) -> Option<Yaml> {
        let value = self.parameters.get(name)?;
        let kind = string(self.template["Parameters"][name].get("Type"));
        Some(match kind {
            Some("CommaDelimitedList") => Yaml::Sequence(
                value
                    .split(',')
                    .map(|v| Yaml::String(v.to_owned()))
                    .collect(),
            ),
            _ => Yaml::String(value.clone()),
        })
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "condition {name} is declared");
        self.truth(condition)
    }

    fn truth(&self, value: &Yaml) -> bool {
        let Yaml::Tagged(tagged) = value else {
            panic!("{value:?} is a condition function")
        };
        let operands = || tagged.value.as_sequence().expect("a list of operands");
        if tagged.tag == "Equals" {
            let [a, b] = operands().as_slice() else {
                panic!("!Equals takes two operands")
            };
            self.scalar(a) == self.scalar(b)
        } else if tagged.tag == "Not" {
            !self.truth(&operands()[0])
        } else if tagged.tag == "And" {
            operands().iter().all(|c| self.truth(c))
        } else if tagged.tag == "Or" {
            operands().iter().any(|c| self.truth(c))
        } else if tagged.tag == "Condition" {
            self.condition(tagged.value.as_str().unwrap())
        } else {
            panic!("{value:?}: not a condition function this evaluator knows")
        }
    }

    /// A value compared by `!Equals`, as text.
    fn scalar(&self, value: &Yaml) -> String {
        match value {
            Yaml::String(s) => s.clone(),
            Yaml::Number(n) => n.to_string(),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Tagged(t) if t.tag == "Ref" => match self.parameter(t.value.as_str().unwrap()) {
                Some(Yaml::String(s)) => s,
                other => panic!("!Ref {:?} in a comparison: {other:?}", t.value),
            },
            Yaml::Tagged(t) if t.tag == "Join" => {
                let [separator, list] = t.value.as_sequence().unwrap().as_slice() else {
                    panic!("!Join takes two operands")
                };
                let list = match self.resolve(list) {
                    Some(Yaml::Sequence(items)) => items,
                    other => panic!("!Join of {other:?}"),
                };
                let parts: Vec<String> = list.iter().map(|v| self.scalar(v)).collect();
                parts.join(separator.as_str().unwrap())
            }
            other => panic!("{other:?} in a comparison"),
        }
    }

    /// `value` as deployed; `None` where it is `AWS::NoValue`.
    fn resolve(&self, value: &Yaml) -> Option<Yaml> {
        match value {
            Yaml::Tagged(t) if t.tag == "If" => {
                let [condition, then, otherwise] = t.value.as_sequence().unwrap().as_slice() else {
                    panic!("!If takes three operands")
                };
                let taken = match self.condition(condition.as_str().unwrap()) {
                    true => then,
                    false => otherwise,
                };
                self.resolve(taken)
            }
            Yaml::Tagged(t) if t.tag == "Ref" => match t.value.as_str() {
                Some("AWS::NoValue") => None,
                Some(name) => self.parameter(name).or_else(|| Some(value.clone())),
                None => Some(value.clone()),
            },
            Yaml::Mapping(map) => Some(Yaml::Mapping(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect(),
            )),
            Yaml::Sequence(items) => Some(Yaml::Sequence(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// Whether a resource or output with a `Condition` exists in this deployment.
    fn exists(&self, declaration: &Yaml) -> bool {
        string(declaration.get("Condition")).is_none_or(|c| self.condition(c))
    }
}

fn allowed_values(parameter: &Yaml) -> Vec<&str> {
    parameter["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .filter_map(Yaml::as_str)
        .collect()
}

#[test]
fn the_created_user_pool_refuses_self_sign_up_keeps_its_users_and_protects_them_by_parameter() {
    let template = template();
    let sign_up = &template["Parameters"]["AllowSelfSignUp"];
    assert_eq!(string(sign_up.get("Default")), Some("false"));
    assert_eq!(allowed_values(sign_up), ["true", "false"]);
    let threats = &template["Parameters"]["ThreatProtection"];
    assert_eq!(string(threats.get("Default")), Some("OFF"));
    assert_eq!(allowed_values(threats), ["OFF", "AUDIT", "ENFORCED"]);
    let pool = &template["Resources"]["UserPool"];
    assert_eq!(string(pool.get("Type")), Some("AWS::Cognito::UserPool"));
    assert_eq!(string(pool.get("Condition")), Some("CreateUserPool"));
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(string(pool.get(policy)), Some("Retain"), "{policy}");
    }

    // (parameters given, self sign-up, threat protection)
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, Option<&'a str>);
    let cases: [Case; 5] = [
        (&[], false, None),
        (&[("AllowSelfSignUp", "true")], true, None),
        (&[("ThreatProtection", "AUDIT")], false, Some("AUDIT")),
        (&[("ThreatProtection", "ENFORCED")], false, Some("ENFORCED")),
        (
            &[
                ("AllowSelfSignUp", "true"),
                ("ThreatProtection", "ENFORCED"),
            ],
            true,
            Some("ENFORCED"),
        ),
    ];
    for (given, self_sign_up, protection) in cases {
        let deployment = Deployment::new(&template, given);
        assert!(
            deployment.exists(pool),
            "{given:?}: jwt mode, no issuer given"
        );
        let props = deployment.resolve(&pool["Properties"]).unwrap();

        assert_eq!(
            string(props.get("DeletionProtection")),
            Some("ACTIVE"),
            "{given:?}"
        );
        assert_eq!(
            at(
                &props,
                &["AdminCreateUserConfig", "AllowAdminCreateUserOnly"]
            )
            .and_then(Yaml::as_bool),
            Some(!self_sign_up),
            "{given:?}: only administrators create users unless self sign-up is asked for"
        );
        let mode = string(at(&props, &["UserPoolAddOns", "AdvancedSecurityMode"]));
        let tier = string(props.get("UserPoolTier"));
        assert_eq!(mode, protection, "{given:?}");
        match protection {
            // Threat protection is a feature of the Plus plan, which costs more per user.
            Some(_) => assert_eq!(tier, Some("PLUS"), "{given:?}"),
            None => assert_ne!(tier, Some("PLUS"), "{given:?}"),
        }
    }
    let issuer = Deployment::new(&template, &[("JwtIssuer", "https://id.example/")]);
    assert!(!issuer.exists(pool), "a pool only when no issuer is given");
}

/// One part of an ARN pattern: a character, IAM's `*` (any run of characters, `/` included),
/// or a path segment (any run of characters but `/`: a path parameter, a stage name).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Glob {
    Char(char),
    Any,
    Segment,
}

/// An IAM resource pattern (`*` any run of characters; `?` is not used here).
fn iam_pattern(text: &str) -> Vec<Glob> {
    assert!(!text.contains('?'), "{text}: no `?`");
    text.chars()
        .map(|c| match c {
            '*' => Glob::Any,
            c => Glob::Char(c),
        })
        .collect()
}

/// The execute-api ARN (after `api-id/`) of every request a route serves: any stage, the
/// method, the path with each `{parameter}` any segment.
fn route_pattern(method: &str, path: &str) -> Vec<Glob> {
    let mut pattern = vec![Glob::Segment];
    pattern.extend(format!("/{method}/").chars().map(Glob::Char));
    let mut rest = path.strip_prefix('/').expect("a path starts with /");
    while let Some(open) = rest.find('{') {
        pattern.extend(rest[..open].chars().map(Glob::Char));
        pattern.push(Glob::Segment);
        rest = &rest[rest[open..].find('}').unwrap() + open + 1..];
    }
    pattern.extend(rest.chars().map(Glob::Char));
    pattern
}

/// Whether one string matches both patterns: a search of the pairs of positions.
fn overlap(a: &[Glob], b: &[Glob]) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![(0usize, 0usize)];
    while let Some((i, j)) = todo.pop() {
        if !seen.insert((i, j)) {
            continue;
        }
        if i == a.len() && j == b.len() {
            return true;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        // A wildcard may match nothing more.
        if matches!(x, Some(Glob::Any | Glob::Segment)) {
            todo.push((i + 1, j));
        }
        if matches!(y, Some(Glob::Any | Glob::Segment)) {
            todo.push((i, j + 1));
        }
        // One more character, matched by both.
        let takes = |g: Glob, c: char| match g {
            Glob::Any => true,
            Glob::Segment => c != '/',
            Glob::Char(d) => d == c,
        };
        match (x, y) {
            (Some(Glob::Char(c)), Some(other)) if takes(other, c) => {
                let j2 = if matches!(other, Glob::Char(_)) {
                    j + 1
                } else {
                    j
                };
                todo.push((i + 1, j2));
            }
            (Some(other), Some(Glob::Char(c))) if takes(other, c) => todo.push((i, j + 1)),
            _ => {}
        }
    }
    false
}

/// Whether the concrete `text` matches the pattern.
fn matches(pattern: &[Glob], text: &str) -> bool {
    let literal: Vec<Glob> = text.chars().map(Glob::Char).collect();
    overlap(pattern, &literal)
}

#[test]
fn the_wildcard_matcher_matches_as_iam_does() {
    let p = iam_pattern;
    assert!(matches(&p("a/*/c"), "a/b/x/c"), "`*` crosses `/`");
    assert!(matches(&p("a/*"), "a/"));
    assert!(!matches(&p("a/*"), "a"));
    assert!(!matches(&p("a/*/c"), "a/b/d"));
    assert!(overlap(&p("*/GET/x/*"), &route_pattern("GET", "/x/{id}/y")));
    assert!(!overlap(
        &p("*/GET/x/*/z"),
        &route_pattern("GET", "/x/{id}/y")
    ));
    assert!(
        overlap(&p("*/GET/y/*"), &[Glob::Any, Glob::Char('/')]),
        "two `*`s meet"
    );
    assert!(
        !overlap(&p("*/GET/x/*/z"), &route_pattern("GET", "/x/{id}")),
        "a parameter is one segment"
    );
}

/// The resources of a managed policy that lets its holder invoke routes of `api`: the part of
/// each ARN after `api-id/`.
fn invoke_resources(template: &Yaml, policy: &str, api: &str) -> Vec<String> {
    let resource = &template["Resources"][policy];
    assert_eq!(
        string(resource.get("Type")),
        Some("AWS::IAM::ManagedPolicy"),
        "{policy}"
    );
    let document = &resource["Properties"]["PolicyDocument"];
    let prefix = format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/"
    );
    let mut arns = Vec::new();
    for statement in document["Statement"].as_sequence().expect("statements") {
        assert_eq!(string(statement.get("Effect")), Some("Allow"), "{policy}");
        assert_eq!(
            string(statement.get("Action")),
            Some("execute-api:Invoke"),
            "{policy}"
        );
        assert!(statement.get("NotResource").is_none(), "{policy}");
        for resource in statement["Resource"].as_sequence().expect("a list") {
            let arn = intrinsic(resource, "Sub")
                .and_then(Yaml::as_str)
                .unwrap_or_else(|| panic!("{policy}: {resource:?} is !Sub"));
            let rest = arn
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{policy}: {arn} is a route of {api} here"));
            assert!(!rest.contains("${"), "{policy}: {arn}");
            arns.push(rest.to_owned());
        }
    }
    arns
}

#[test]
fn the_shop_backend_and_catalog_admin_policies_reach_only_their_own_routes_and_all_of_them() {
    let template = template();
    let api = resources(&template, "AWS::ApiGatewayV2::Api")
        .into_keys()
        .next()
        .expect("the HTTP API");
    let routes = template_routes(&template);
    let is_public = is_public_path;
    let groups = [
        ("ShopBackendPolicy", "ShopBackendPolicyArn"),
        ("CatalogAdminPolicy", "CatalogAdminPolicyArn"),
    ];
    let iam = Deployment::new(&template, &[("Authentication", "iam")]);
    let jwt = Deployment::new(&template, &[("Authentication", "jwt")]);
    for (policy, output) in groups {
        let admin = policy == "CatalogAdminPolicy";
        let resource = &template["Resources"][policy];
        let out = &template["Outputs"][output];
        assert_eq!(
            out.get("Value").and_then(reference),
            Some(policy),
            "{output}"
        );
        assert_eq!(out.get("Condition"), resource.get("Condition"), "{output}");
        assert!(iam.exists(resource), "{policy} in iam mode");
        assert_eq!(
            jwt.exists(resource),
            admin,
            "{policy}: the admin routes are IAM in both modes, the user routes only in iam mode"
        );
        let own: Vec<_> = routes
            .iter()
            .filter(|(_, path, _)| !is_public(path) && is_admin_path(path) == admin)
            .collect();
        assert!(!own.is_empty());
        let arns = invoke_resources(&template, policy, &api);
        let patterns: Vec<Vec<Glob>> = arns.iter().map(|a| iam_pattern(a)).collect();

        // Nothing of the other group, nor the public listing, whatever the stage and the
        // values of the path parameters.
        for (method, path, _) in routes.iter().filter(|r| !own.contains(r)) {
            let route = route_pattern(method, path);
            for (arn, pattern) in arns.iter().zip(&patterns) {
                assert!(
                    !overlap(pattern, &route),
                    "{policy}: {arn} reaches {method} {path}"
                );
            }
        }
        // Every route of its own group, for any parameter values.
        for (method, path, _) in &own {
            for value in ["x", "NT-0f8Z_Ab", "1000001", "a.b~c"] {
                let request = format!("$default/{method}{path}");
                let request = request
                    .split('/')
                    .map(|s| if s.starts_with('{') { value } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                assert!(
                    patterns.iter().any(|p| matches(p, &request)),
                    "{policy}: {request} is not reached"
                );
            }
        }
    }
}

/// `openapi.yaml`.
fn openapi() -> Yaml {
    serde_yaml::from_str(&read("openapi.yaml")).expect("openapi.yaml is YAML")
}

/// The name of every `in: header` parameter (and security scheme) of the document, lower-cased.
fn request_headers(value: &Yaml, out: &mut BTreeSet<String>) {
    match value {
        Yaml::Mapping(map) => {
            if string(value.get("in")) == Some("header") {
                let name = string(value.get("name")).expect("a header parameter has a name");
                out.insert(name.to_ascii_lowercase());
            }
            map.values().for_each(|v| request_headers(v, out));
        }
        Yaml::Sequence(items) => items.iter().for_each(|v| request_headers(v, out)),
        _ => {}
    }
}

/// Every header a response of the document declares (the keys of its `headers`), lower-cased.
fn response_headers(value: &Yaml, in_responses: bool, out: &mut BTreeSet<String>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, v) in map {
                match key.as_str() {
                    Some("headers") if in_responses => {
                        let names = v.as_mapping().expect("headers is a mapping").keys();
                        out.extend(names.map(|n| n.as_str().unwrap().to_ascii_lowercase()));
                    }
                    Some("responses") => response_headers(v, true, out),
                    _ => response_headers(v, in_responses, out),
                }
            }
        }
        Yaml::Sequence(items) => items
            .iter()
            .for_each(|v| response_headers(v, in_responses, out)),
        _ => {}
    }
}

fn lower_case_list(value: Option<&Yaml>) -> BTreeSet<String> {
    value
        .and_then(Yaml::as_sequence)
        .expect("a list")
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect()
}

/// `openapi.yaml` without the webhooks' operations: what browsers call. A webhook is called
/// server to server by its provider (CORS means nothing to Stripe), so its headers
/// (`Stripe-Signature`) are no header a browser page sends, and CORS does not allow them.
fn browser_operations(document: &Yaml) -> Yaml {
    let mut document = document.clone();
    let paths = document["paths"].as_mapping_mut().expect("paths");
    paths.retain(|path, _| !is_webhook_path(path.as_str().unwrap()));
    document
}

#[test]
fn browsers_may_send_and_read_every_header_openapi_documents_from_the_given_origins_only() {
    let template = template();
    let everything = openapi();
    let document = browser_operations(&everything);
    let mut sent = BTreeSet::from(["authorization".to_owned(), "content-type".to_owned()]);
    request_headers(&document, &mut sent);
    let mut answered = BTreeSet::new();
    response_headers(&document, false, &mut answered);
    let mut webhook_headers = BTreeSet::new();
    request_headers(&everything, &mut webhook_headers);
    assert!(
        webhook_headers.contains("stripe-signature") && !sent.contains("stripe-signature"),
        "openapi.yaml documents Stripe-Signature on the webhook alone"
    );
    for header in ["idempotency-key", "if-match", "if-none-match"] {
        assert!(sent.contains(header), "openapi.yaml documents {header}");
    }
    for header in [
        "etag",
        "retry-after",
        "idempotent-replayed",
        "www-authenticate",
    ] {
        assert!(answered.contains(header), "openapi.yaml documents {header}");
    }
    // What a browser signing with SigV4 (the IAM routes) sends besides `authorization`.
    let signing = ["x-amz-content-sha256", "x-amz-date", "x-amz-security-token"];
    let methods: BTreeSet<String> = template_routes(&template)
        .into_iter()
        .map(|(method, _, _)| method.to_ascii_lowercase())
        .collect();

    let parameter = &template["Parameters"]["CorsAllowOrigins"];
    assert_eq!(
        string(parameter.get("Default")),
        Some(""),
        "no origin unless given"
    );
    let api = resources(&template, "AWS::ApiGatewayV2::Api");
    let api = &api.values().next().unwrap()["Properties"];
    let closed = Deployment::new(&template, &[]).resolve(api).unwrap();
    assert!(
        closed.get("CorsConfiguration").is_none(),
        "no origins given: no CORS at all"
    );

    let origins = "https://shop.example.com,https://admin.example.com";
    let open = Deployment::new(&template, &[("CorsAllowOrigins", origins)])
        .resolve(api)
        .unwrap();
    let cors = open
        .get("CorsConfiguration")
        .expect("CORS for the given origins");
    let allowed: Vec<&str> = (cors["AllowOrigins"].as_sequence().unwrap().iter())
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(allowed, origins.split(',').collect::<Vec<_>>());
    assert_eq!(cors["AllowCredentials"].as_bool(), Some(false));
    assert_eq!(lower_case_list(cors.get("AllowMethods")), methods);
    let mut expected = sent.clone();
    expected.extend(signing.map(str::to_owned));
    assert_eq!(
        lower_case_list(cors.get("AllowHeaders")),
        expected,
        "AllowHeaders: the request headers openapi.yaml documents, and SigV4's"
    );
    assert_eq!(
        lower_case_list(cors.get("ExposeHeaders")),
        answered,
        "ExposeHeaders: the response headers openapi.yaml documents"
    );
}

// --- order events ---------------------------------------------------------------------------

#[test]
fn the_order_events_publisher_reads_the_orders_stream_as_the_local_stand_in_does() {
    use testkit::stream::{BATCH_SIZE, MAX_RETRIES};
    let template = template();
    let functions = template_functions(&template);
    let publisher = &functions["publish-order-events"];
    let mappings = publisher.stream_mappings(&template);
    assert_eq!(mappings.len(), 1, "one stream mapping");
    let all = resources(&template, "AWS::Lambda::EventSourceMapping");
    assert_eq!(all.len(), 1, "no other function is fed by a stream");
    assert!(
        publisher.events().is_empty(),
        "no SAM event: it would grant every stream of the account"
    );
    let props = &mappings[0]["Properties"];

    // The one table with a stream, as schema.rs gives it to DynamoDB Local.
    let streamed: Vec<&str> = definitions()
        .iter()
        .filter(|d| d.stream.is_some())
        .map(|d| d.logical_id)
        .collect();
    assert_eq!(streamed, ["OrdersTable"]);
    let source = intrinsic(&props["EventSourceArn"], "GetAtt").and_then(Yaml::as_str);
    assert_eq!(source, Some("OrdersTable.StreamArn"));
    // From the oldest record, so that nothing written before the mapping existed is missed.
    assert_eq!(string(props.get("StartingPosition")), Some("TRIM_HORIZON"));
    // What the stand-in does (tests/src/stream.rs).
    assert_eq!(props["BatchSize"].as_u64(), Some(BATCH_SIZE as u64));
    assert_eq!(
        props["MaximumRetryAttempts"].as_u64(),
        Some(u64::from(MAX_RETRIES))
    );
    assert_eq!(
        props["FunctionResponseTypes"],
        serde_yaml::from_str::<Yaml>("[ReportBatchItemFailures]").unwrap()
    );
    assert_eq!(props["BisectBatchOnFunctionError"].as_bool(), Some(true));
    // One batch of a shard at a time: an order's changes in the order they were written.
    assert_eq!(props["ParallelizationFactor"].as_u64(), Some(1));
    // Given up on while the stream (24 hours) still holds the records, with time to spare.
    let age = props["MaximumRecordAgeInSeconds"]
        .as_u64()
        .expect("a bound on a record's age");
    assert!((60..=12 * 3600).contains(&age), "{age}");
    let destination = &props["DestinationConfig"]["OnFailure"]["Destination"];
    assert_eq!(
        intrinsic(destination, "GetAtt").and_then(Yaml::as_str),
        Some("OrderEventsDeadLetterQueue.Arn")
    );
    let queue = &template["Resources"]["OrderEventsDeadLetterQueue"];
    assert_eq!(string(queue.get("Type")), Some("AWS::SQS::Queue"));
    assert_eq!(
        queue["Properties"]["MessageRetentionPeriod"].as_u64(),
        Some(14 * 86_400)
    );
    // The function stops starting requests DEADLINE_MARGIN before its deadline.
    let timeout = publisher.properties()["Timeout"]
        .as_u64()
        .expect("its own timeout");
    assert!(
        timeout > shared::stream::DEADLINE_MARGIN.as_secs() + 10,
        "{timeout}"
    );
}

#[test]
fn the_order_events_go_to_the_bus_the_stack_creates_or_the_one_named_and_to_no_other() {
    let template = template();
    let functions = template_functions(&template);
    let publisher = &functions["publish-order-events"];
    let bus = &template["Resources"]["OrderEventsBus"];
    assert_eq!(string(bus.get("Type")), Some("AWS::Events::EventBus"));
    assert_eq!(string(bus.get("Condition")), Some("CreateEventBus"));
    let source = &template["Parameters"]["EventSource"];
    assert_eq!(
        string(source.get("Default")),
        Some(publish_order_events::DEFAULT_SOURCE)
    );
    assert!(
        string(source.get("AllowedPattern")).is_some_and(|p| p.starts_with("^(?!aws\\.)")),
        "EventBridge keeps the sources starting with aws. for AWS"
    );
    let grant = publisher.properties()["Policies"][0]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| string(s.get("Action")) == Some("events:PutEvents"))
        .expect("a grant to put the events")
        .clone();
    for (given, bus_name, grant_resource) in [
        (None, "!Ref OrderEventsBus", "!GetAtt OrderEventsBus.Arn"),
        (
            Some("shop-events"),
            "shop-events",
            "!Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}",
        ),
    ] {
        let parameters: Vec<(&str, &str)> = given.map(|b| ("EventBusName", b)).into_iter().collect();
        let deployment = Deployment::new(&template, &parameters);
        assert_eq!(
            deployment.exists(bus),
            given.is_none(),
            "the stack creates a bus unless one is named"
        );
        let vars = environment(&template, publisher);
        let expected: Yaml = serde_yaml::from_str(bus_name).unwrap();
        assert_eq!(deployment.resolve(&vars["EVENT_BUS_NAME"]), Some(expected), "{given:?}");
        assert_eq!(
            deployment.resolve(&vars["EVENT_SOURCE"]),
            Some(Yaml::String("cart-api".to_owned()))
        );
        let expected: Yaml = serde_yaml::from_str(grant_resource).unwrap();
        assert_eq!(deployment.resolve(&grant["Resource"]), Some(expected), "{given:?}");
    }
    for function in functions
        .values()
        .filter(|f| f.binary != "publish-order-events")
    {
        let vars = environment(&template, function);
        assert!(
            !vars.contains_key("EVENT_BUS_NAME"),
            "{}",
            function.logical_id
        );
    }
}

// --- operations: alarms, failure destinations, tracing, protection ---------------------------
// docs/operations.md#alarms is the runbook of what these tests require.

/// A metric an alarm watches: namespace (a string or `!Ref AWS::StackName`), name, dimensions.
#[derive(Debug)]
struct Watched {
    namespace: Yaml,
    name: String,
    dimensions: BTreeMap<String, Yaml>,
}

/// The `AWS::CloudWatch::Alarm` resources, by logical id.
fn alarms(template: &Yaml) -> BTreeMap<String, &Yaml> {
    resources(template, "AWS::CloudWatch::Alarm")
}

/// Every metric an alarm reads: its own, or each `MetricStat` of its metric math.
fn watched(alarm: &Yaml) -> Vec<Watched> {
    let props = &alarm["Properties"];
    let metric = |m: &Yaml| Watched {
        namespace: m["Namespace"].clone(),
        name: string(m.get("MetricName")).unwrap_or_default().to_owned(),
        dimensions: m
            .get("Dimensions")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .map(|d| {
                let name = string(d.get("Name")).unwrap_or_default().to_owned();
                (name, d["Value"].clone())
            })
            .collect(),
    };
    match props.get("Metrics").and_then(Yaml::as_sequence) {
        Some(queries) => queries
            .iter()
            .filter_map(|q| at(q, &["MetricStat", "Metric"]))
            .map(metric)
            .collect(),
        None => vec![metric(props)],
    }
}

fn tag(tag: &str, value: &str) -> Yaml {
    serde_yaml::from_str(&format!("!{tag} {value}")).unwrap()
}

/// The alarms watching metric `name` of `namespace` with dimension `key` = `value`.
fn alarms_on<'a>(
    template: &'a Yaml,
    namespace: &Yaml,
    name: &str,
    key: &str,
    value: &Yaml,
) -> Vec<(String, &'a Yaml)> {
    alarms(template)
        .into_iter()
        .filter(|(_, alarm)| {
            watched(alarm).iter().any(|m| {
                m.namespace == *namespace && m.name == name && m.dimensions.get(key) == Some(value)
            })
        })
        .collect()
}

fn text(value: &str) -> Yaml {
    Yaml::String(value.to_owned())
}

#[test]
fn every_alarm_tells_the_topic_and_its_threshold_is_a_described_parameter() {
    let template = template();
    let topic = tag("Ref", "AlarmTopic");
    assert_eq!(
        string(template["Resources"]["AlarmTopic"].get("Type")),
        Some("AWS::SNS::Topic")
    );
    let subscription = &template["Resources"]["AlarmEmailSubscription"];
    assert_eq!(
        string(subscription.get("Condition")),
        Some("SubscribeAlarmEmail")
    );
    let props = &subscription["Properties"];
    assert_eq!(props.get("TopicArn"), Some(&topic));
    assert_eq!(string(props.get("Protocol")), Some("email"));
    assert_eq!(
        props.get("Endpoint").and_then(reference),
        Some("AlarmEmail")
    );
    assert_eq!(
        string(template["Parameters"]["AlarmEmail"].get("Default")),
        Some(""),
        "no subscription unless asked for"
    );

    let alarms = alarms(&template);
    assert!(alarms.len() > 30, "{} alarms", alarms.len());
    // The two whose threshold is a fact, not a choice: "a message waits", "no run at all".
    let fixed = [
        "FailedEventsAlarm",
        "OrderEventsDeadLetterAlarm",
        "SweepNotRunningAlarm",
    ];
    for (id, alarm) in alarms {
        let props = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let actions = props[actions].as_sequence();
            assert_eq!(
                actions.map(Vec::as_slice),
                Some(&[topic.clone()][..]),
                "{id}"
            );
        }
        assert!(
            string(props.get("AlarmDescription")).is_some_and(|d| d.contains("Runbook")),
            "{id}: its description points to the runbook"
        );
        assert!(props.get("TreatMissingData").is_some(), "{id}");
        match props.get("Threshold").and_then(reference) {
            Some(parameter) => {
                let description = string(template["Parameters"][parameter].get("Description"));
                assert!(
                    description.is_some_and(|d| !d.trim().contains('\n')),
                    "{id}: {parameter} is explained in one line"
                );
            }
            None => assert!(fixed.contains(&id.as_str()), "{id}: a parameter sets it"),
        }
    }
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm() {
    // Generic on purpose: a new function (the order-event publisher, say) fails here until it
    // has its alarms.
    let template = template();
    let lambda = text("AWS/Lambda");
    for function in template_functions(&template).values() {
        let id = &function.logical_id;
        let name = tag("Ref", id);
        for metric in ["Errors", "Throttles"] {
            let found = alarms_on(&template, &lambda, metric, "FunctionName", &name);
            assert!(!found.is_empty(), "{id}: no alarm on its {metric}");
        }
        // A function reading a stream or a queue also has its failure destination and an
        // alarm on its iterator age (streams).
        for event in function.events().iter().map(|(_, e)| e) {
            let kind = string(event.get("Type")).unwrap_or_default();
            if kind == "DynamoDB" || kind == "Kinesis" {
                let found = alarms_on(&template, &lambda, "IteratorAge", "FunctionName", &name);
                assert!(!found.is_empty(), "{id}: no alarm on its IteratorAge");
                let on_failure = at(event, &["Properties", "DestinationConfig", "OnFailure"]);
                assert!(
                    on_failure.is_some(),
                    "{id}: its {kind} events have no OnFailure"
                );
            }
        }
        // The same for a stream read by a mapping of its own (the order events' publisher).
        for mapping in function.stream_mappings(&template) {
            let found = alarms_on(&template, &lambda, "IteratorAge", "FunctionName", &name);
            assert!(!found.is_empty(), "{id}: no alarm on its IteratorAge");
            let on_failure = at(mapping, &["Properties", "DestinationConfig", "OnFailure"]);
            assert!(
                on_failure.is_some(),
                "{id}: its stream mapping has no OnFailure"
            );
        }
    }
}

/// Event sources that invoke a function asynchronously (Lambda's own queue and retries).
const ASYNC_EVENTS: &[&str] = &[
    "Schedule",
    "ScheduleV2",
    "EventBridgeRule",
    "CloudWatchEvent",
    "SNS",
    "S3",
];

#[test]
fn every_asynchronously_invoked_function_sends_failed_events_to_a_watched_queue() {
    let template = template();
    let mut seen = 0;
    for function in template_functions(&template).values() {
        let id = &function.logical_id;
        let kinds: Vec<&str> = (function.events().iter())
            .filter_map(|(_, e)| string(e.get("Type")))
            .collect();
        if !kinds.iter().any(|k| ASYNC_EVENTS.contains(k)) {
            continue;
        }
        seen += 1;
        let config = &function.properties()["EventInvokeConfig"];
        assert!(
            config.get("MaximumRetryAttempts").is_some(),
            "{id}: retries set deliberately, not left to Lambda's default"
        );
        assert!(config.get("MaximumEventAgeInSeconds").is_some(), "{id}");
        let on_failure = &config["DestinationConfig"]["OnFailure"];
        assert_eq!(string(on_failure.get("Type")), Some("SQS"), "{id}");
        let queue = intrinsic(&on_failure["Destination"], "GetAtt")
            .and_then(Yaml::as_str)
            .and_then(|q| q.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("{id}: OnFailure is !GetAtt <Queue>.Arn"));
        assert_eq!(
            string(template["Resources"][queue].get("Type")),
            Some("AWS::SQS::Queue"),
            "{id}: {queue}"
        );
    }
    assert!(seen >= 2, "the scheduled functions are asynchronous");
    // Every queue: a message waiting in it is an alarm.
    for (queue, _) in resources(&template, "AWS::SQS::Queue") {
        let name = tag("GetAtt", &format!("{queue}.QueueName"));
        let sqs = text("AWS/SQS");
        let found = alarms_on(
            &template,
            &sqs,
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &name,
        );
        assert!(!found.is_empty(), "{queue}: no alarm on its messages");
    }
}

#[test]
fn the_sweep_alarms_when_it_fails_and_when_it_does_not_run() {
    let template = template();
    let name = tag("Ref", "ReleaseHoldsFunction");
    let lambda = text("AWS/Lambda");
    let not_running = alarms_on(&template, &lambda, "Invocations", "FunctionName", &name);
    let [(id, alarm)] = not_running.as_slice() else {
        panic!("one alarm on the sweep's invocations: {not_running:?}");
    };
    let props = &alarm["Properties"];
    assert_eq!(
        string(props.get("ComparisonOperator")),
        Some("LessThanThreshold"),
        "{id}"
    );
    assert_eq!(props["Threshold"].as_u64(), Some(1), "{id}");
    assert!(props["Period"].as_u64().is_some_and(|p| p <= 300), "{id}");
    assert_eq!(
        string(props.get("TreatMissingData")),
        Some("breaching"),
        "{id}: no data is no run"
    );
    let failing = alarms_on(&template, &lambda, "Errors", "FunctionName", &name);
    assert!(!failing.is_empty(), "an alarm on the sweep's errors");
}

#[test]
fn the_api_alarms_on_its_5xx_rate_and_each_route_group_on_its_p99_latency() {
    let template = template();
    let api = tag("Ref", "CartApi");
    let gateway = text("AWS/ApiGateway");
    for metric in ["5xx", "Count"] {
        let found = alarms_on(&template, &gateway, metric, "ApiId", &api);
        assert!(!found.is_empty(), "the 5xx rate alarm reads {metric}");
    }
    // The per-request line's metrics are in the stack's own namespace.
    let namespace = tag("Ref", "AWS::StackName");
    let globals = at(
        &template,
        &["Globals", "Function", "Environment", "Variables"],
    );
    assert_eq!(
        globals.and_then(|g| g.get("METRICS_NAMESPACE")),
        Some(&namespace)
    );
    let groups: BTreeSet<&str> = template_routes(&template)
        .iter()
        .map(|(method, path, _)| shared::telemetry::emf::route_group(&format!("{method} {path}")))
        .collect();
    assert!(!groups.contains("other"), "every route is in a group");
    for group in ["catalog", "cart", "purchase", "orders"] {
        assert!(groups.contains(group), "{group} has routes");
        let found = alarms_on(
            &template,
            &namespace,
            "latency_ms",
            "route_group",
            &text(group),
        );
        let [(id, alarm)] = found.as_slice() else {
            panic!("one latency alarm for {group}: {found:?}");
        };
        let props = &alarm["Properties"];
        assert_eq!(string(props.get("ExtendedStatistic")), Some("p99"), "{id}");
        let capitalized = group[..1].to_uppercase() + &group[1..];
        assert_eq!(
            props.get("Threshold").and_then(reference),
            Some(format!("{capitalized}P99LatencyMs").as_str()),
            "{id}"
        );
    }
    // The access log carries the request id the functions log and a 5xx problem shows.
    let stage = &template["Resources"]["CartApiStage"]["Properties"];
    let format = string(at(stage, &["AccessLogSettings", "Format"])).unwrap_or_default();
    assert!(
        format.contains(r#""requestId":"$context.requestId""#),
        "{format}"
    );
    // The dashboard shows the per-route metrics.
    let dashboard = &template["Resources"]["Dashboard"];
    let body = intrinsic(&dashboard["Properties"]["DashboardBody"], "Sub")
        .and_then(Yaml::as_str)
        .expect("DashboardBody is !Sub");
    for metric in [
        "latency_ms",
        "dynamodb_requests",
        "dynamodb_retries",
        "read_capacity_units",
    ] {
        assert!(body.contains(metric), "the dashboard shows {metric}");
    }
}

#[test]
fn purchase_concurrency_is_alarmed_near_its_reservation_only_when_one_is_set() {
    let template = template();
    let name = tag("Ref", "PurchaseCartFunction");
    let lambda = text("AWS/Lambda");
    let found = alarms_on(
        &template,
        &lambda,
        "ConcurrentExecutions",
        "FunctionName",
        &name,
    );
    let [(id, alarm)] = found.as_slice() else {
        panic!("one alarm on purchase-cart's concurrency: {found:?}");
    };
    assert_eq!(
        string(alarm.get("Condition")),
        Some("ReservePurchaseConcurrency"),
        "{id}"
    );
    let expression = (alarm["Properties"]["Metrics"]
        .as_sequence()
        .into_iter()
        .flatten())
    .filter_map(|m| m.get("Expression"))
    .filter_map(|e| intrinsic(e, "Sub").and_then(Yaml::as_str))
    .next();
    assert!(
        expression.is_some_and(|e| e.contains("${PurchaseReservedConcurrency}")),
        "{id}: a percent of the reservation"
    );
}

#[test]
fn every_table_alarms_on_throttles_and_on_system_errors_of_every_operation_it_serves() {
    let template = template();
    let dynamodb = text("AWS/DynamoDB");
    // The operations the functions' policies grant on each table (and its indexes).
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for function in template_functions(&template).values() {
        let policies = function.properties()["Policies"].as_sequence();
        for statement in policies
            .into_iter()
            .flatten()
            .filter_map(|p| p["Statement"].as_sequence())
            .flatten()
        {
            let actions: Vec<&str> = match &statement["Action"] {
                Yaml::String(one) => vec![one.as_str()],
                Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).collect(),
                _ => vec![],
            };
            let targets: Vec<&Yaml> = match &statement["Resource"] {
                Yaml::Sequence(many) => many.iter().collect(),
                one => vec![one],
            };
            for (table, _) in targets.into_iter().filter_map(policy_resource) {
                let ops = granted.entry(table).or_default();
                // A condition check exists only inside a TransactWriteItems, whose SystemErrors
                // count it: CloudWatch has no operation of its own for it.
                ops.extend(
                    (actions.iter())
                        .filter_map(|a| a.strip_prefix("dynamodb:"))
                        .map(|a| match a {
                            "ConditionCheckItem" => "TransactWriteItems",
                            other => other,
                        })
                        .map(str::to_owned),
                );
            }
        }
    }
    for (table, _) in resources(&template, "AWS::DynamoDB::Table") {
        let name = tag("Ref", &table);
        for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
            let found = alarms_on(&template, &dynamodb, metric, "TableName", &name);
            assert!(!found.is_empty(), "{table}: no alarm on its {metric}");
        }
        let found = alarms_on(&template, &dynamodb, "SystemErrors", "TableName", &name);
        let watched_ops: BTreeSet<String> = (found.iter())
            .flat_map(|(_, alarm)| watched(alarm))
            .filter(|m| m.name == "SystemErrors" && m.dimensions.get("TableName") == Some(&name))
            .filter_map(|m| {
                m.dimensions
                    .get("Operation")
                    .and_then(|o| o.as_str().map(str::to_owned))
            })
            .collect();
        // Of DynamoDB Streams' calls only GetRecords has per-operation metrics ("Operation"
        // dimension, Amazon DynamoDB developer guide, "DynamoDB Metrics and dimensions"); the
        // others are Lambda's mapping's, whose trouble its IteratorAge alarm shows.
        let unmetered = ["DescribeStream", "GetShardIterator", "ListStreams"];
        let mut needed = granted.get(&table).cloned().unwrap_or_default();
        needed.retain(|op| !unmetered.contains(&op.as_str()));
        assert!(
            watched_ops.is_superset(&needed),
            "{table}: SystemErrors of {:?} unwatched",
            needed.difference(&watched_ops).collect::<Vec<_>>()
        );
        // The alarm's expression adds every operation it reads.
        for (id, alarm) in &found {
            let queries = alarm["Properties"]["Metrics"].as_sequence().unwrap();
            let expression = (queries.iter())
                .find_map(|q| string(q.get("Expression")))
                .unwrap_or_else(|| panic!("{id}: an expression"));
            for query in queries.iter().filter(|q| q.get("MetricStat").is_some()) {
                let query_id = string(query.get("Id")).unwrap();
                assert!(expression.contains(query_id), "{id}: {query_id} not summed");
            }
        }
    }
}

#[test]
fn every_function_is_traced_and_logs_at_the_templates_level_not_rust_logs() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals.get("Tracing").and_then(reference), Some("Tracing"));
    assert_eq!(
        string(template["Parameters"]["Tracing"].get("Default")),
        Some("Active"),
        "on by default"
    );
    assert_eq!(
        at(globals, &["LoggingConfig", "ApplicationLogLevel"]).and_then(reference),
        Some("LogLevel")
    );
    for function in template_functions(&template).values() {
        let id = &function.logical_id;
        assert!(
            function.properties().get("Tracing").is_none(),
            "{id}: traced as the parameter says"
        );
        assert!(
            !environment(&template, function).contains_key("RUST_LOG"),
            "{id}: RUST_LOG would override ApplicationLogLevel (AWS_LAMBDA_LOG_LEVEL)"
        );
    }
}

#[test]
fn every_table_is_protected_from_deletion() {
    let template = template();
    let parameter = &template["Parameters"]["TableDeletionProtection"];
    assert_eq!(string(parameter.get("Default")), Some("true"));
    for (id, table) in resources(&template, "AWS::DynamoDB::Table") {
        let protection = table["Properties"].get("DeletionProtectionEnabled");
        assert_eq!(
            protection.and_then(reference),
            Some("TableDeletionProtection"),
            "{id}"
        );
    }
}
