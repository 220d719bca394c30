//! One API call, built once and sent either way: to a handler as the request `lambda_http`
//! makes of an API Gateway HTTP API (payload v2) event, or over HTTP to the local API.
//!
//! The Lambda side is `lambda_http`'s own event type (`ApiGatewayV2httpRequest`), turned into a
//! request by `lambda_http` itself, so the handler sees exactly what a real invocation carries:
//! path parameters as API Gateway passes them (still percent-encoded), query parameters with
//! repeats kept, the route key, a base64-encoded body, the IAM identity of a signed request, the
//! claims of API Gateway's JWT authorizer. The same event, serialized, is what the benchmark's
//! cold starts are given.
//!
//! Who a request acts for is its [`Credential`]: by default the user it names (`user_id` in the
//! body or the query, as the original API's clients send it). `TestApp` turns it into what the
//! app's authentication mode expects: a bearer token signed by the kit's issuer, the
//! authorizer's claims, or an IAM identity.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
    ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequest,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::http::{HeaderName, HeaderValue, Method};
use lambda_http::request::LambdaRequest;
use lambda_http::Request;
use serde_json::{json, Value};

/// The `userArn` of the kit's IAM-signed requests ([`ApiRequest::with_iam`]).
pub const BACKEND_ARN: &str = "arn:aws:sts::123456789012:assumed-role/shop-backend/b";
/// The caller id of the kit's IAM-signed requests.
pub const BACKEND_CALLER_ID: &str = "AROAEXAMPLE:backend";

/// A request to one route of the API.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    /// The template's route (`/api/v1/cart/{cart_id}`).
    pub route: String,
    /// The concrete path.
    pub path: String,
    path_params: HashMap<String, String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// The body, and whether API Gateway passes it base64-encoded (a binary body).
    body: Option<(Vec<u8>, bool)>,
    /// The IAM identity API Gateway passes on for a signed request: `userArn` and caller id.
    iam: Option<(String, String)>,
    /// The claims API Gateway's JWT authorizer passes on, if it ran.
    claims: Option<HashMap<String, String>>,
    pub credential: Credential,
}

/// Whom the test kit authenticates a request as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The user the request names (`user_id` in the body or the query, else the owner of the
    /// cart in its path), if it names a valid one, else [`crate::ANYONE`].
    Named,
    /// This user, whatever the request names.
    User(String),
    /// Nobody: only what the request itself carries (its headers, claims or IAM identity).
    Nothing,
}

impl ApiRequest {
    /// `route` is the template's route; `path` the concrete one.
    pub fn new(method: &str, route: &str, path: &str) -> Self {
        Self {
            method: method.parse().expect("an HTTP method"),
            route: route.to_owned(),
            path: path.to_owned(),
            path_params: HashMap::new(),
            query: Vec::new(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: None,
            iam: None,
            claims: None,
            credential: Credential::Named,
        }
    }

    // The routes, named after the function that serves each (bodies and owners added by the
    // caller).

    pub fn list_items() -> Self {
        Self::new("GET", "/api/v1/items", "/api/v1/items")
    }

    pub fn create_cart() -> Self {
        Self::new("POST", "/api/v1/cart/", "/api/v1/cart/")
    }

    pub fn get_cart(cart: &str) -> Self {
        Self::new(
            "GET",
            "/api/v1/cart/{cart_id}",
            &format!("/api/v1/cart/{cart}"),
        )
        .path_param("cart_id", cart)
    }

    pub fn add_cart_item(cart: &str) -> Self {
        Self::new(
            "POST",
            "/api/v1/cart/{cart_id}/items",
            &format!("/api/v1/cart/{cart}/items"),
        )
        .path_param("cart_id", cart)
    }

    pub fn remove_cart_item(cart: &str, item: impl ToString) -> Self {
        let item = item.to_string();
        Self::new(
            "DELETE",
            "/api/v1/cart/{cart_id}/items/{item_id}",
            &format!("/api/v1/cart/{cart}/items/{item}"),
        )
        .path_param("cart_id", cart)
        .path_param("item_id", item)
    }

    pub fn set_cart_item(cart: &str, item: impl ToString) -> Self {
        let item = item.to_string();
        Self::new(
            "PATCH",
            "/api/v1/cart/{cart_id}/items/{item_id}",
            &format!("/api/v1/cart/{cart}/items/{item}"),
        )
        .path_param("cart_id", cart)
        .path_param("item_id", item)
    }

    pub fn list_orders() -> Self {
        Self::new("GET", "/api/v1/orders", "/api/v1/orders")
    }

    pub fn purchase_cart(cart: &str) -> Self {
        Self::new(
            "POST",
            "/api/v1/cart/{cart_id}/purchase",
            &format!("/api/v1/cart/{cart}/purchase"),
        )
        .path_param("cart_id", cart)
    }

    pub fn get_order(order: &str) -> Self {
        Self::new(
            "GET",
            "/api/v1/orders/{order_id}",
            &format!("/api/v1/orders/{order}"),
        )
        .path_param("order_id", order)
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_create_item() -> Self {
        Self::new("POST", "/api/v1/admin/items", "/api/v1/admin/items").with_iam()
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_update_item(item: impl ToString) -> Self {
        let item = item.to_string();
        Self::new(
            "PATCH",
            "/api/v1/admin/items/{item_id}",
            &format!("/api/v1/admin/items/{item}"),
        )
        .path_param("item_id", item)
        .with_iam()
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_create_discount() -> Self {
        Self::new("POST", "/api/v1/admin/discounts", "/api/v1/admin/discounts").with_iam()
    }

    /// `PATCH` (or `GET`) of one code; signed by an IAM principal.
    pub fn admin_discount(method: &str, code: &str) -> Self {
        Self::new(
            method,
            "/api/v1/admin/discounts/{code}",
            &format!("/api/v1/admin/discounts/{code}"),
        )
        .path_param("code", code)
        .with_iam()
    }

    /// `PUT` (or `DELETE`) of the cart's code.
    pub fn cart_discount(method: &str, cart: &str) -> Self {
        Self::new(
            method,
            "/api/v1/cart/{cart_id}/discount",
            &format!("/api/v1/cart/{cart}/discount"),
        )
        .path_param("cart_id", cart)
    }

    /// A new guest's cart: no sign-in.
    pub fn guest_create_cart() -> Self {
        Self::new("POST", "/api/v1/guest/carts", "/api/v1/guest/carts").unauthenticated()
    }

    /// A guest's cart, with its `Guest-Token` (`None`: no header).
    pub fn guest_get_cart(cart: &str, token: Option<&str>) -> Self {
        let route = "/api/v1/guest/carts/{cart_id}";
        Self::guest(
            Self::new("GET", route, &format!("/api/v1/guest/carts/{cart}")),
            cart,
            token,
        )
    }

    pub fn guest_add_cart_item(cart: &str, token: Option<&str>) -> Self {
        let route = "/api/v1/guest/carts/{cart_id}/items";
        let path = format!("/api/v1/guest/carts/{cart}/items");
        Self::guest(Self::new("POST", route, &path), cart, token)
    }

    pub fn guest_set_cart_item(cart: &str, item: impl ToString, token: Option<&str>) -> Self {
        Self::guest_line("PATCH", cart, item, token)
    }

    pub fn guest_remove_cart_item(cart: &str, item: impl ToString, token: Option<&str>) -> Self {
        Self::guest_line("DELETE", cart, item, token)
    }

    fn guest_line(method: &str, cart: &str, item: impl ToString, token: Option<&str>) -> Self {
        let item = item.to_string();
        let route = "/api/v1/guest/carts/{cart_id}/items/{item_id}";
        let path = format!("/api/v1/guest/carts/{cart}/items/{item}");
        Self::guest(Self::new(method, route, &path), cart, token).path_param("item_id", item)
    }

    fn guest(request: Self, cart: &str, token: Option<&str>) -> Self {
        let request = request.path_param("cart_id", cart).unauthenticated();
        match token {
            Some(token) => request.header("Guest-Token", token),
            None => request,
        }
    }

    /// A signed-in user's merge of a guest's cart into theirs.
    pub fn merge_cart() -> Self {
        Self::new("POST", "/api/v1/cart/merge", "/api/v1/cart/merge")
    }

    /// An order's transition (`cancel` by its owner).
    pub fn cancel_order(order: &str) -> Self {
        Self::order_route("POST", "/api/v1/orders/{order_id}/cancel", order, "/cancel")
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_cancel_order(order: &str) -> Self {
        let route = "/api/v1/admin/orders/{order_id}/cancel";
        Self::admin_order(route, order, "/cancel")
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_fulfil_order(order: &str) -> Self {
        let route = "/api/v1/admin/orders/{order_id}/fulfil";
        Self::admin_order(route, order, "/fulfil")
    }

    /// Signed by an IAM principal, as the admin routes require in AWS.
    pub fn admin_order_payment(order: &str) -> Self {
        let route = "/api/v1/admin/orders/{order_id}/payment";
        Self::admin_order(route, order, "/payment")
    }

    /// Stripe's webhook: no user, no IAM; the caller adds the signed body.
    pub fn stripe_webhook() -> Self {
        Self::new("POST", "/api/v1/webhooks/stripe", "/api/v1/webhooks/stripe").unauthenticated()
    }

    fn order_route(method: &str, route: &str, order: &str, tail: &str) -> Self {
        Self::new(method, route, &format!("/api/v1/orders/{order}{tail}"))
            .path_param("order_id", order)
    }

    fn admin_order(route: &str, order: &str, tail: &str) -> Self {
        let path = format!("/api/v1/admin/orders/{order}{tail}");
        Self::new("POST", route, &path)
            .path_param("order_id", order)
            .with_iam()
    }

    // The usual calls, whole.

    pub fn create_cart_for(user: impl ToString) -> Self {
        Self::create_cart().json(json!({ "user_id": user.to_string() }))
    }

    pub fn add(cart: &str, user: impl ToString, item: u64, quantity: u64) -> Self {
        let user = user.to_string();
        Self::add_cart_item(cart)
            .json(json!({ "user_id": user, "item_id": item, "quantity": quantity }))
    }

    /// The owner in the query string, as a `DELETE` usually carries it.
    pub fn remove(cart: &str, user: impl ToString, item: u64) -> Self {
        Self::remove_cart_item(cart, item).query("user_id", user)
    }

    /// `PATCH`: the line of `item` to `quantity` units.
    pub fn set(cart: &str, user: impl ToString, item: u64, quantity: u64) -> Self {
        let user = user.to_string();
        Self::set_cart_item(cart, item).json(json!({ "user_id": user, "quantity": quantity }))
    }

    /// The key in the `Idempotency-Key` header.
    pub fn purchase(cart: &str, user: impl ToString, key: &str) -> Self {
        Self::purchase_cart(cart)
            .header("Idempotency-Key", key)
            .json(json!({ "user_id": user.to_string() }))
    }

    pub fn order(order: &str, user: impl ToString) -> Self {
        Self::get_order(order).query("user_id", user)
    }

    pub fn admin_update(item: u64, change: Value) -> Self {
        Self::admin_update_item(item).json(change)
    }

    /// The function that serves this route (as the router in `Cargo.toml` and the template
    /// route it).
    pub fn function(&self) -> &'static str {
        match self.route.as_str() {
            "/api/v1/items" => "list-items",
            "/api/v1/admin/items" => "admin-create-item",
            "/api/v1/admin/items/{item_id}" => "admin-update-item",
            "/api/v1/admin/discounts" | "/api/v1/admin/discounts/{code}" => "admin-discounts",
            "/api/v1/cart/{cart_id}/discount" => "cart-discount",
            "/api/v1/cart" | "/api/v1/cart/" => "create-cart",
            "/api/v1/cart/{cart_id}" => "get-cart",
            "/api/v1/cart/{cart_id}/items" => "add-cart-item",
            "/api/v1/cart/{cart_id}/items/{item_id}" if self.method == Method::PATCH => {
                "set-cart-item"
            }
            "/api/v1/cart/{cart_id}/items/{item_id}" => "remove-cart-item",
            "/api/v1/orders" => "list-orders",
            "/api/v1/cart/{cart_id}/purchase" => "purchase-cart",
            "/api/v1/orders/{order_id}" => "get-order",
            "/api/v1/orders/{order_id}/cancel" => "cancel-order",
            "/api/v1/admin/orders/{order_id}/cancel" => "admin-cancel-order",
            "/api/v1/admin/orders/{order_id}/fulfil" => "admin-fulfil-order",
            "/api/v1/admin/orders/{order_id}/payment" => "admin-order-payment",
            "/api/v1/webhooks/stripe" => "stripe-webhook",
            "/api/v1/guest/carts" => "guest-create-cart",
            "/api/v1/guest/carts/{cart_id}" => "guest-get-cart",
            "/api/v1/guest/carts/{cart_id}/items" => "guest-add-cart-item",
            "/api/v1/guest/carts/{cart_id}/items/{item_id}" if self.method == Method::PATCH => {
                "guest-set-cart-item"
            }
            "/api/v1/guest/carts/{cart_id}/items/{item_id}" => "guest-remove-cart-item",
            "/api/v1/cart/merge" => "merge-cart",
            other => panic!("no function serves {other}"),
        }
    }

    // Builders.

    pub fn path_param(mut self, name: &str, value: impl ToString) -> Self {
        self.path_params.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn queries(self, query: &[(&str, &str)]) -> Self {
        query
            .iter()
            .fold(self, |request, (k, v)| request.query(k, v))
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        let name = name.to_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.text(&body.to_string())
    }

    pub fn text(mut self, body: &str) -> Self {
        self.body = Some((body.as_bytes().to_vec(), false));
        self
    }

    /// Any bytes, valid UTF-8 or not (API Gateway passes those base64-encoded; the handler gets
    /// them as a binary body).
    pub fn bytes(mut self, body: &[u8]) -> Self {
        self.body = Some((body.to_vec(), true));
        self
    }

    /// Signed with SigV4 by an IAM principal (what the admin routes require in AWS): the kit's
    /// backend, a session of the role `shop-backend` ([`BACKEND_ARN`], [`BACKEND_CALLER_ID`]).
    pub fn with_iam(self) -> Self {
        self.with_iam_as(BACKEND_ARN, BACKEND_CALLER_ID)
    }

    /// Signed with SigV4 by the IAM principal whose `userArn` and caller id are these.
    pub fn with_iam_as(mut self, user_arn: &str, caller_id: &str) -> Self {
        self.iam = Some((user_arn.to_owned(), caller_id.to_owned()));
        self
    }

    /// Authenticated as `user`, whatever the request names.
    pub fn as_user(mut self, user: impl ToString) -> Self {
        self.credential = Credential::User(user.to_string());
        self
    }

    /// With `Authorization: Bearer <token>` and nothing else added by the kit.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
            .unauthenticated()
    }

    /// Nothing added by the kit: only the headers, claims and identity set on the request.
    pub fn unauthenticated(mut self) -> Self {
        self.credential = Credential::Nothing;
        self
    }

    /// As if API Gateway's JWT authorizer had verified a token with this `sub`.
    pub fn with_claims(mut self, sub: &str) -> Self {
        let claims = [
            ("sub", sub),
            (
                "iss",
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            ),
            ("aud", "example-app-client-id"),
            ("token_use", "id"),
        ];
        let claims = claims.map(|(k, v)| (k.to_owned(), v.to_owned()));
        self.claims = Some(claims.into_iter().collect());
        self
    }

    /// The user the request names: `user_id` in the body, else in the query, else the owner of
    /// the cart in its path.
    pub fn named_user(&self) -> Option<String> {
        let body: Option<Value> =
            (self.body.as_ref()).and_then(|(b, _)| serde_json::from_slice(b).ok());
        let in_body = body.as_ref().and_then(|b| match &b["user_id"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let in_query = || {
            self.query
                .iter()
                .find(|(k, _)| k == "user_id")
                .map(|(_, v)| v.clone())
        };
        let cart_owner = || {
            let cart = shared::domain::CartId::parse(self.path_params.get("cart_id")?).ok()?;
            Some(cart.owner().to_string())
        };
        in_body.or_else(in_query).or_else(cart_owner)
    }

    /// The payload v2 event API Gateway sends the function for this call.
    pub fn to_event(&self) -> ApiGatewayV2httpRequest {
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in &self.query {
            query.entry(name.clone()).or_default().push(value.clone());
        }
        let route_key = format!("{} {}", self.method, self.route);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(route_key.clone());
        context.stage = Some("$default".to_owned());
        context.request_id = Some(uuid::Uuid::new_v4().to_string());
        context.http.method = self.method.clone();
        context.http.path = Some(self.path.clone());
        if self.iam.is_some() || self.claims.is_some() {
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            if let Some((user_arn, caller_id)) = &self.iam {
                let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
                iam.caller_id = Some(caller_id.clone());
                iam.user_arn = Some(user_arn.clone());
                authorizer.iam = Some(iam);
            }
            if let Some(claims) = &self.claims {
                let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
                jwt.claims = claims.clone();
                authorizer.jwt = Some(jwt);
            }
            context.authorizer = Some(authorizer);
        }
        let mut event = ApiGatewayV2httpRequest::default();
        event.version = Some("2.0".to_owned());
        event.route_key = Some(route_key);
        event.raw_path = Some(self.path.clone());
        event.query_string_parameters = query.into();
        event.path_parameters = self.path_params.clone();
        event.request_context = context;
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                name.parse::<HeaderName>(),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                event.headers.append(name, value);
            }
        }
        match &self.body {
            Some((bytes, true)) => {
                event.body = Some(STANDARD.encode(bytes));
                event.is_base64_encoded = true;
            }
            Some((text, false)) => event.body = Some(String::from_utf8_lossy(text).into_owned()),
            None => {}
        }
        event
    }

    /// The request a handler gets for this call: the event, converted by `lambda_http` as a
    /// real invocation is.
    pub fn build(&self) -> Request {
        LambdaRequest::ApiGatewayV2(self.to_event()).into()
    }

    /// The same call over HTTP to the API at `base` (`http://127.0.0.1:9000`).
    pub fn to_http(&self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{}", base.trim_end_matches('/'), self.path);
        let mut request = client.request(self.method.clone(), url).query(&self.query);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((body, _)) = &self.body {
            request = request.body(body.clone());
        }
        request
    }
}

impl From<ApiRequest> for Request {
    fn from(request: ApiRequest) -> Self {
        request.build()
    }
}
