//! One test's application: its own uniquely named tables in DynamoDB Local, the real handlers,
//! and the calls tests make, as methods.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use crate::issuer::LocalIssuer;
use add_cart_item::AddCartItem;
use admin_cancel_order::AdminCancelOrder;
use admin_create_item::AdminCreateItem;
use admin_discounts::AdminDiscounts;
use admin_fulfil_order::AdminFulfilOrder;
use admin_order_payment::AdminOrderPayment;
use admin_update_item::AdminUpdateItem;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use cancel_order::CancelOrder;
use cart_discount::CartDiscount;
use create_cart::CreateCart;
use get_cart::GetCart;
use get_order::GetOrder;
use guest_add_cart_item::GuestAddCartItem;
use guest_create_cart::GuestCreateCart;
use guest_get_cart::GuestGetCart;
use guest_remove_cart_item::GuestRemoveCartItem;
use guest_set_cart_item::GuestSetCartItem;
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use list_items::ListItems;
use list_orders::ListOrders;
use merge_cart::MergeCart;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde_json::{json, Value};
use set_cart_item::SetCartItem;
use shared::app::AppState;
use shared::config::AuthMode;
use shared::domain::{
    CartId, CheckoutPolicy, Item, ItemId, Price, Quantity, Stock, Stocking, UserId,
};
use shared::http::{dispatch, Endpoint};
use shared::jwt::LocalJwks;
use shared::store::{CartCommit, MetricsSnapshot};
use shared::{Config, Store, Tables};
use stripe_webhook::StripeWebhook;

use crate::proxy::DynamoDbProxy;
use crate::request::{ApiRequest, Credential};

/// Where DynamoDB Local answers: `AWS_ENDPOINT_URL_DYNAMODB`, else
/// `http://127.0.0.1:$DYNAMODB_LOCAL_PORT` (default 8000).
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        let port = std::env::var("DYNAMODB_LOCAL_PORT").unwrap_or_else(|_| "8000".to_owned());
        format!("http://127.0.0.1:{port}")
    })
}

/// A store on `tables`, reached through `endpoint`, with the functions' retry and timeout
/// settings.
pub fn store_at(endpoint: &str, tables: Tables) -> Store {
    let config = shared::store::client_config()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "testkit"))
        .endpoint_url(endpoint);
    Store::with_client_config(config, tables)
}

/// Four table names no other test uses.
pub fn unique_tables() -> Tables {
    Tables::with_prefix(&format!("t{}", uuid::Uuid::new_v4().simple()))
}

/// An item for a test's catalog.
pub fn item(id: u64, name: &str, price: u64, stock: u64) -> Item {
    Item {
        id: ItemId::new(id).expect("a valid id"),
        name: name.to_owned(),
        price: Price::new(price).expect("a valid price"),
        stock: Stock::new(stock).expect("a valid stock"),
        version: 0,
        max_per_customer: None,
        shards: 1,
    }
}

/// The checkout policy of this test run: `CHECKOUT_POLICY` (`latest` when unset; `make test`
/// runs the cart and purchase contract a second time under `hold`, with the default hold time
/// and no cap per item: the contract's quantities go past the default cap, which has tests of
/// its own in `holds`).
pub fn policy_from_env() -> CheckoutPolicy {
    let name = std::env::var("CHECKOUT_POLICY").unwrap_or_else(|_| "latest".to_owned());
    CheckoutPolicy::parse(
        &name,
        CheckoutPolicy::DEFAULT_HOLD_SECONDS,
        u64::from(Quantity::MAX),
        None,
    )
    .expect("CHECKOUT_POLICY is latest or hold")
}

/// The kit's token issuer (one key pair per test process), standing in for Cognito.
pub fn issuer() -> &'static LocalIssuer {
    static ISSUER: OnceLock<LocalIssuer> = OnceLock::new();
    ISSUER.get_or_init(LocalIssuer::generate)
}

/// Who a request of the kit acts as when it names no valid user.
pub const ANYONE: &str = "someone";

/// The handlers on their own tables.
pub struct TestApp {
    pub state: AppState,
    /// The same tables, reached directly (never through a proxy): what is really stored.
    direct: Store,
    /// Tokens already signed, by user.
    tokens: Mutex<HashMap<String, String>>,
}

/// What [`TestApp::call`] sends: an [`ApiRequest`], authenticated as its credential says, or a
/// `Request` as it is.
pub trait IntoCall {
    fn into_request(self, app: &TestApp) -> Request;
}

impl IntoCall for ApiRequest {
    fn into_request(self, app: &TestApp) -> Request {
        app.authenticate(self).build()
    }
}

impl IntoCall for Request {
    fn into_request(self, _: &TestApp) -> Request {
        self
    }
}

impl TestApp {
    /// Fresh tables in DynamoDB Local (without the orders table's stream: see
    /// [`TestApp::spawn_streaming`]).
    pub async fn spawn() -> Self {
        Self::spawn_at(&dynamodb_endpoint()).await
    }

    /// Fresh tables as deployed, the orders table with its stream: for the tests of the order
    /// events, which read it. (The others do without: DynamoDB Local slows every write of a table
    /// with a stream, `Store::create_tables_without_streams`.)
    pub async fn spawn_streaming() -> Self {
        Self::spawn_with(unique_tables(), &dynamodb_endpoint(), true).await
    }

    /// [`TestApp::spawn_streaming`], the functions talking to DynamoDB through a proxy of their
    /// own.
    pub async fn spawn_streaming_behind_proxy() -> (Self, DynamoDbProxy) {
        let proxy = DynamoDbProxy::start().await;
        (
            Self::spawn_with(unique_tables(), &proxy.url(), true).await,
            proxy,
        )
    }

    /// Fresh tables, with the functions talking to DynamoDB through `endpoint` (a proxy, say).
    /// The tables are created directly in DynamoDB Local.
    pub async fn spawn_at(endpoint: &str) -> Self {
        Self::spawn_on(unique_tables(), endpoint).await
    }

    /// Fresh tables, the functions talking to DynamoDB through a proxy of their own.
    pub async fn spawn_behind_proxy() -> (Self, DynamoDbProxy) {
        let proxy = DynamoDbProxy::start().await;
        (Self::spawn_at(&proxy.url()).await, proxy)
    }

    /// `tables`, emptied (dropped if they exist, then created), the functions talking to
    /// DynamoDB through `endpoint`.
    pub async fn spawn_on(tables: Tables, endpoint: &str) -> Self {
        Self::spawn_with(tables, endpoint, false).await
    }

    async fn spawn_with(tables: Tables, endpoint: &str, streams: bool) -> Self {
        let direct = store_at(&dynamodb_endpoint(), tables.clone());
        direct
            .delete_tables()
            .await
            .expect("DynamoDB Local is running (make test starts it)");
        let created = match streams {
            true => direct.create_tables().await,
            false => direct.create_tables_without_streams().await,
        };
        created.expect("the tables are created");
        let mut config = Config::for_tables(tables.clone());
        config.checkout = policy_from_env();
        let store = store_at(endpoint, tables);
        let store = store.with_cart_idle(config.cart_idle_secs);
        let jwks = LocalJwks::parse(&issuer().jwks(), &issuer().issuer, &issuer().audience);
        config.auth.local_jwks = Some(Arc::new(jwks.expect("the kit's JWKS parses")));
        Self {
            state: AppState { config, store },
            direct,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// `jwt` mode as deployed: the functions trust API Gateway's authorizer claims and verify
    /// nothing themselves (the kit puts the claims in the request context).
    pub fn behind_jwt_authorizer(mut self) -> Self {
        self.state.config.auth.local_jwks = None;
        self
    }

    /// Orders wait for a payment for `window_seconds` (`PAYMENT_MODE=external`).
    pub fn taking_payments(mut self, window_seconds: i64) -> Self {
        self.state.config.payment = shared::domain::PaymentMode::External { window_seconds };
        self
    }

    /// Under this checkout policy.
    pub fn with_policy(mut self, policy: CheckoutPolicy) -> Self {
        self.state.config.checkout = policy;
        self
    }

    /// Under the `hold` policy, holds lasting `seconds`, at most `max_per_item` units a user.
    pub fn holding(self, seconds: i64, max_per_item: u64) -> Self {
        self.with_policy(CheckoutPolicy::Hold {
            seconds,
            max_per_item,
            max_seconds: 2 * seconds,
        })
    }

    /// Guests' carts idle for `secs` expire.
    pub fn guest_idling(mut self, secs: i64) -> Self {
        self.state.config.guest_cart_idle_secs = secs;
        self.state.store = self.state.store.clone().with_guest_cart_idle(secs);
        self
    }

    /// Carts idle for `secs` expire.
    pub fn idling(mut self, secs: i64) -> Self {
        self.state.config.cart_idle_secs = secs;
        self.state.store = self.state.store.clone().with_cart_idle(secs);
        self
    }

    /// Whether the app holds stock in carts (`hold`), the policy of this test run.
    pub fn holds(&self) -> bool {
        self.state.config.checkout.holds()
    }

    /// `iam` mode: the shop's backend, IAM-signed, names the user (the original contract).
    pub fn in_iam_mode(mut self) -> Self {
        self.state.config.auth.mode = AuthMode::Iam;
        self.state.config.auth.allow_unsigned_requests = false;
        self
    }

    /// A token of the kit's issuer for `user`, valid for an hour.
    pub fn token(&self, user: &str) -> String {
        let mut tokens = self.tokens.lock().expect("not poisoned");
        let token = tokens.entry(user.to_owned());
        token.or_insert_with(|| issuer().token(user, 3600)).clone()
    }

    /// `request` with what this app's authentication expects for the user its credential
    /// names: a bearer token (`jwt`, verified by the function), the authorizer's claims (`jwt`
    /// behind API Gateway) or an IAM identity (`iam`).
    pub fn authenticate(&self, request: ApiRequest) -> ApiRequest {
        let auth = &self.state.config.auth;
        let user = match &request.credential {
            Credential::Nothing => return request,
            Credential::User(user) => Some(user.clone()),
            // The user the request names, else someone: every request of the kit is
            // authenticated unless it says otherwise.
            Credential::Named => request
                .named_user()
                .filter(|u| UserId::parse(u).is_ok())
                .or_else(|| Some(ANYONE.to_owned())),
        };
        match (auth.mode, &auth.local_jwks, user) {
            (AuthMode::Iam, _, _) => request.with_iam(),
            (AuthMode::Jwt, Some(_), Some(user)) => {
                let token = self.token(&user);
                request.header("authorization", format!("Bearer {token}"))
            }
            (AuthMode::Jwt, None, Some(user)) => request.with_claims(&user),
            (AuthMode::Jwt, _, None) => request,
        }
    }

    /// `body` (an answer with a `cart`) as the `latest` policy shows it: under `hold`, every
    /// line must show until when it is held, which is then left out, so that one expected
    /// document serves both policies.
    pub fn unheld(&self, mut body: Value) -> Value {
        let lines = body["cart"]["lines"].as_array_mut();
        for line in lines.into_iter().flatten() {
            let until = line.as_object_mut().and_then(|l| l.remove("held_until"));
            assert_eq!(until.is_some(), self.holds(), "held_until of {line}");
        }
        body
    }

    /// The functions' store.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The tables as they are, read around any proxy.
    pub fn direct(&self) -> &Store {
        &self.direct
    }

    pub async fn drop_tables(&self) {
        self.direct.delete_tables().await.expect("tables dropped");
    }

    /// Calls endpoint `E` with `req`, as Lambda would.
    pub async fn call<E: Endpoint>(&self, req: impl IntoCall) -> TestResponse {
        let req = req.into_request(self);
        // On the heap: a debug build's future of a whole handler is large, and a caller that
        // can reach many handlers (`call_function`) would otherwise carry all of them on a test
        // thread's stack.
        TestResponse::from(Box::pin(dispatch::<E>(&self.state, req)).await)
    }

    /// Calls the HTTP function named `function` (`add-cart-item`).
    pub async fn call_function(&self, function: &str, req: impl IntoCall) -> TestResponse {
        match function {
            "list-items" => self.call::<ListItems>(req).await,
            "admin-create-item" => self.call::<AdminCreateItem>(req).await,
            "admin-update-item" => self.call::<AdminUpdateItem>(req).await,
            "admin-discounts" => self.call::<AdminDiscounts>(req).await,
            "cart-discount" => self.call::<CartDiscount>(req).await,
            "create-cart" => self.call::<CreateCart>(req).await,
            "get-cart" => self.call::<GetCart>(req).await,
            "add-cart-item" => self.call::<AddCartItem>(req).await,
            "remove-cart-item" => self.call::<RemoveCartItem>(req).await,
            "set-cart-item" => self.call::<SetCartItem>(req).await,
            "list-orders" => self.call::<ListOrders>(req).await,
            "purchase-cart" => self.call::<PurchaseCart>(req).await,
            "get-order" => self.call::<GetOrder>(req).await,
            "cancel-order" => self.call::<CancelOrder>(req).await,
            "admin-cancel-order" => self.call::<AdminCancelOrder>(req).await,
            "admin-fulfil-order" => self.call::<AdminFulfilOrder>(req).await,
            "admin-order-payment" => self.call::<AdminOrderPayment>(req).await,
            "stripe-webhook" => self.call::<StripeWebhook>(req).await,
            "guest-create-cart" => self.call::<GuestCreateCart>(req).await,
            "guest-get-cart" => self.call::<GuestGetCart>(req).await,
            "guest-add-cart-item" => self.call::<GuestAddCartItem>(req).await,
            "guest-set-cart-item" => self.call::<GuestSetCartItem>(req).await,
            "guest-remove-cart-item" => self.call::<GuestRemoveCartItem>(req).await,
            "merge-cart" => self.call::<MergeCart>(req).await,
            other => panic!("no HTTP function is named {other}"),
        }
    }

    /// Sends `request` to the function that serves its route.
    pub async fn send(&self, request: ApiRequest) -> TestResponse {
        self.call_function(request.function(), request).await
    }

    /// DynamoDB requests sent while `f` ran (the state must not be shared by other tasks then).
    pub async fn requests_during<F: Future>(&self, f: F) -> (F::Output, u64) {
        let (out, used) = self.used_during(f).await;
        (out, used.requests)
    }

    /// What the functions asked of DynamoDB while `f` ran: requests and capacity units.
    pub async fn used_during<F: Future>(&self, f: F) -> (F::Output, MetricsSnapshot) {
        let before = self.store().metrics().snapshot();
        let out = f.await;
        (out, self.store().metrics().snapshot().since(&before))
    }

    // -----------------------------------------------------------------------------------------
    // Calls

    pub async fn create_cart(&self, user: impl Into<Value>) -> TestResponse {
        let user = user.into();
        let body = json!({ "user_id": user });
        self.call::<CreateCart>(ApiRequest::create_cart().json(body))
            .await
    }

    /// A cart for `user` (new or the one it has): its id.
    pub async fn new_cart(&self, user: impl ToString) -> String {
        let user = user.to_string();
        let r = self.create_cart(user).await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
        r.body["cart"]["id"].as_str().unwrap().to_owned()
    }

    /// A cart of `user` holding `lines` (item, quantity), filled through the handlers.
    pub async fn cart_with(&self, user: impl ToString, lines: &[(u64, u64)]) -> String {
        let user = user.to_string();
        let cart = self.new_cart(&user).await;
        for &(item, quantity) in lines {
            self.added(&cart, &user, item, quantity).await;
        }
        cart
    }

    /// The cart, viewed by its owner (by [`ANYONE`], when the id names none).
    pub async fn view_cart(&self, cart: &str) -> TestResponse {
        self.call::<GetCart>(ApiRequest::get_cart(cart)).await
    }

    pub async fn add(
        &self,
        cart: &str,
        user: impl ToString,
        item: u64,
        quantity: u64,
    ) -> TestResponse {
        self.call::<AddCartItem>(ApiRequest::add(cart, user, item, quantity))
            .await
    }

    /// Adds and expects the add to be accepted: the answer's body.
    pub async fn added(&self, cart: &str, user: impl ToString, item: u64, quantity: u64) -> Value {
        let r = self.add(cart, user, item, quantity).await;
        assert_eq!(r.status, 200, "adding {item}: {}", r.text);
        r.body
    }

    /// `PATCH`: the line of `item` to `quantity` units.
    pub async fn set(
        &self,
        cart: &str,
        user: impl ToString,
        item: u64,
        quantity: u64,
    ) -> TestResponse {
        self.call::<SetCartItem>(ApiRequest::set(cart, user, item, quantity))
            .await
    }

    /// A page of `user`'s orders.
    pub async fn orders(&self, user: impl ToString, query: &[(&str, &str)]) -> TestResponse {
        let request = ApiRequest::list_orders().queries(query).as_user(user);
        self.call::<ListOrders>(request).await
    }

    /// One run of the hold sweep (`release-holds`), at `now`.
    pub async fn sweep_at(&self, now: i64) -> release_holds::SweepSummary {
        self.sweep_within(now, std::time::Duration::from_secs(60))
            .await
    }

    /// One run of the hold sweep at `now`, given `budget` to run in.
    pub async fn sweep_within(
        &self,
        now: i64,
        budget: std::time::Duration,
    ) -> release_holds::SweepSummary {
        release_holds::sweep(self.store(), now, budget)
            .await
            .expect("the sweep runs")
    }

    /// One run of the hold sweep, now.
    pub async fn sweep(&self) -> release_holds::SweepSummary {
        self.sweep_at(shared::domain::now_unix()).await
    }

    pub async fn remove(&self, cart: &str, user: impl ToString, item: u64) -> TestResponse {
        self.call::<RemoveCartItem>(ApiRequest::remove(cart, user, item))
            .await
    }

    /// A purchase with the key in the `Idempotency-Key` header.
    pub async fn purchase(&self, cart: &str, user: impl ToString, key: &str) -> TestResponse {
        self.call::<PurchaseCart>(ApiRequest::purchase(cart, user, key))
            .await
    }

    /// An order, asked for by `user` (as the query string spells it), or by nobody.
    pub async fn get_order(&self, order: &str, user: Option<&str>) -> TestResponse {
        let mut request = ApiRequest::get_order(order);
        if let Some(user) = user {
            request = request.query("user_id", user);
        }
        self.call::<GetOrder>(request).await
    }

    pub async fn list(&self, query: &[(&str, &str)]) -> TestResponse {
        self.call::<ListItems>(ApiRequest::list_items().queries(query))
            .await
    }

    /// A new guest's cart: its id and its guest token.
    pub async fn guest_cart(&self) -> (String, String) {
        let r = self
            .call::<GuestCreateCart>(ApiRequest::guest_create_cart())
            .await;
        assert_eq!(r.status, 201, "a guest's cart: {}", r.text);
        let id = r.body["cart"]["id"].as_str().expect("an id").to_owned();
        (
            id,
            r.body["guest_token"].as_str().expect("a token").to_owned(),
        )
    }

    /// The guest (`token`) adds `quantity` of `item` to their cart.
    pub async fn guest_add(
        &self,
        cart: &str,
        token: &str,
        item: u64,
        quantity: u64,
    ) -> TestResponse {
        let body = json!({ "item_id": item, "quantity": quantity });
        let request = ApiRequest::guest_add_cart_item(cart, Some(token)).json(body);
        self.call::<GuestAddCartItem>(request).await
    }

    /// The guest (`token`) sets the line of `item` to `quantity`.
    pub async fn guest_set(
        &self,
        cart: &str,
        token: &str,
        item: u64,
        quantity: u64,
    ) -> TestResponse {
        let request = ApiRequest::guest_set_cart_item(cart, item, Some(token))
            .json(json!({ "quantity": quantity }));
        self.call::<GuestSetCartItem>(request).await
    }

    /// The guest's cart, as the guest (`token`) sees it.
    pub async fn guest_view(&self, cart: &str, token: &str) -> TestResponse {
        self.call::<GuestGetCart>(ApiRequest::guest_get_cart(cart, Some(token)))
            .await
    }

    /// `user` merges the guest's cart into theirs (`mode`: merge, replace or keep).
    pub async fn merge(
        &self,
        user: impl ToString,
        cart: &str,
        token: &str,
        mode: &str,
    ) -> TestResponse {
        let body = json!({ "guest_cart_id": cart, "guest_token": token, "mode": mode });
        let request = ApiRequest::merge_cart().json(body).as_user(user);
        self.call::<MergeCart>(request).await
    }

    /// The owner cancels `order`.
    pub async fn cancel_order(&self, order: &str, user: impl ToString) -> TestResponse {
        let request = ApiRequest::cancel_order(order).as_user(user);
        self.call::<CancelOrder>(request).await
    }

    /// An admin cancels `order`.
    pub async fn admin_cancel_order(&self, order: &str) -> TestResponse {
        self.call::<AdminCancelOrder>(ApiRequest::admin_cancel_order(order))
            .await
    }

    /// An admin fulfils `order`.
    pub async fn fulfil_order(&self, order: &str) -> TestResponse {
        self.call::<AdminFulfilOrder>(ApiRequest::admin_fulfil_order(order))
            .await
    }

    /// The payment service reports a payment of `order`: `captured` or `failed`.
    pub async fn report_payment(&self, order: &str, status: &str, reference: &str) -> TestResponse {
        let body = json!({ "status": status, "reference": reference });
        let request = ApiRequest::admin_order_payment(order).json(body);
        self.call::<AdminOrderPayment>(request).await
    }

    /// Stripe delivers `event`, signed with the app's webhook secret at `signed_at`.
    pub async fn stripe_event(&self, event: &Value, signed_at: i64) -> TestResponse {
        let secret = self.state.config.stripe_webhook_secret.clone();
        let body = event.to_string();
        let header =
            shared::http::stripe::sign(body.as_bytes(), &secret.unwrap_or_default(), signed_at);
        let request = ApiRequest::stripe_webhook()
            .header("Stripe-Signature", header)
            .text(&body);
        self.call::<StripeWebhook>(request).await
    }

    /// An admin change through `PATCH /api/v1/admin/items/{item_id}`, expected to succeed.
    pub async fn update_item(&self, item: u64, change: Value) {
        let r = self
            .call::<AdminUpdateItem>(ApiRequest::admin_update(item, change))
            .await;
        assert_eq!(r.status, 200, "updating item {item}: {}", r.text);
    }

    /// An admin creates a discount code (`POST /api/v1/admin/discounts`).
    pub async fn create_discount(&self, body: Value) -> TestResponse {
        let request = ApiRequest::admin_create_discount().json(body);
        self.call::<AdminDiscounts>(request).await
    }

    /// An admin creates a discount code, expected to succeed.
    pub async fn discount(&self, body: Value) {
        let r = self.create_discount(body).await;
        assert_eq!(r.status, 201, "creating a code: {}", r.text);
    }

    /// An admin changes a code (`PATCH /api/v1/admin/discounts/{code}`).
    pub async fn update_discount(&self, code: &str, change: Value) -> TestResponse {
        let request = ApiRequest::admin_discount("PATCH", code).json(change);
        self.call::<AdminDiscounts>(request).await
    }

    /// An admin reads a code (`GET /api/v1/admin/discounts/{code}`).
    pub async fn get_discount(&self, code: &str) -> TestResponse {
        self.call::<AdminDiscounts>(ApiRequest::admin_discount("GET", code))
            .await
    }

    /// `user` puts `code` on their cart (`PUT /api/v1/cart/{cart_id}/discount`).
    pub async fn apply_code(&self, cart: &str, user: impl ToString, code: &str) -> TestResponse {
        let body = json!({ "user_id": user.to_string(), "code": code });
        let request = ApiRequest::cart_discount("PUT", cart).json(body);
        self.call::<CartDiscount>(request).await
    }

    /// `user` takes the code off their cart (`DELETE /api/v1/cart/{cart_id}/discount`).
    pub async fn remove_code(&self, cart: &str, user: impl ToString) -> TestResponse {
        let request = ApiRequest::cart_discount("DELETE", cart).query("user_id", user);
        self.call::<CartDiscount>(request).await
    }

    pub async fn set_price(&self, item: u64, price: u64) {
        self.update_item(item, json!({ "price": price })).await;
    }

    pub async fn set_stock(&self, item: u64, stock: u64) {
        self.update_item(item, json!({ "quantity": stock })).await;
    }

    // -----------------------------------------------------------------------------------------
    // What is stored, written and read straight through the store

    /// Puts items straight into the catalog; ids are 1, 2, ... in the order given.
    pub async fn seed(&self, items: &[(&str, u64, u64)]) -> Vec<Item> {
        let items: Vec<Item> = items
            .iter()
            .enumerate()
            .map(|(i, (name, price, stock))| item(i as u64 + 1, name, *price, *stock))
            .collect();
        self.direct.put_items(&items).await.expect("seeding works");
        items
    }

    /// A cart for `user` holding `quantity` of each item, written straight to the store (fast:
    /// no handler), under the app's checkout policy.
    pub async fn fill_cart(&self, user: impl ToString, items: &[Item], quantity: u64) -> String {
        let user = UserId::parse(&user.to_string()).expect("a valid user id");
        let (store, now) = (&self.direct, shared::domain::now_unix());
        let (mut cart, _) = store
            .create_or_get_cart(&user, now)
            .await
            .expect("cart created");
        let quantity = Quantity::new(quantity).expect("a valid quantity");
        let policy = self.state.config.checkout;
        for item in items {
            let after = cart.with_added(item, quantity, policy, now);
            let after = after.unwrap_or_else(|e| panic!("adding item {}: {e:?}", item.id.get()));
            match store.commit_cart(&cart, &after, None, now).await {
                Ok(CartCommit::Done) => cart = after,
                other => panic!("adding item {} to a cart: {other:?}", item.id.get()),
            }
        }
        cart.id.to_string()
    }

    /// The item as stored now.
    pub async fn item(&self, id: u64) -> Item {
        self.direct
            .get_item(ItemId::new(id).unwrap())
            .await
            .unwrap()
            .expect("item exists")
    }

    pub async fn stock_of(&self, id: u64) -> u64 {
        self.item(id).await.stock.get()
    }

    /// The item's rows as stored now: its own (the pool, when its stock is split) and its
    /// shards', read together.
    pub async fn stocking(&self, id: u64) -> Stocking {
        let id = ItemId::new(id).expect("an item id");
        let mut rows = self.direct.read_rows(&[(id, 1)]).await.expect("rows read");
        rows.remove(&id).expect("the item exists").stock
    }

    /// Every unit of the item in stock now, all its rows together.
    pub async fn available(&self, id: u64) -> u64 {
        self.stocking(id).await.available()
    }

    /// The units of `item` the cart `cart` holds (`hold`: out of the item's available stock;
    /// always 0 under `latest`), read straight from the table.
    pub async fn held_in(&self, cart: &str, item: u64) -> u64 {
        let id = CartId::parse(cart).expect("a cart id");
        let cart = self.direct.get_cart(&id, shared::domain::now_unix()).await;
        let cart = cart.expect("the cart is read").expect("the cart exists");
        let item = ItemId::new(item).expect("an item id");
        cart.line(item).map_or(0, |line| line.held)
    }

    /// The units of `item` every cart holds (out of its available stock: live holds, and ended
    /// ones the sweep has not given back yet), read straight from the table.
    pub async fn held_units(&self, item: u64) -> u64 {
        let carts = self.scan(&self.direct.tables().carts).await;
        let key = item.to_string();
        carts.iter().filter_map(|c| c["held"][&key].as_u64()).sum()
    }

    /// Under `hold`, ends every hold of the app's carts as if their time had passed and the
    /// sweep had run: the units back in the items, the lines at the price they were held at.
    /// A purchase must then find the stock and the price again, as under `latest` (each line
    /// it refuses says `hold_expired`). Nothing under `latest`.
    pub async fn end_holds(&self) {
        if let CheckoutPolicy::Hold { seconds, .. } = self.state.config.checkout {
            self.sweep_at(shared::domain::now_unix() + seconds + 1)
                .await;
        }
    }

    /// The lines a purchase refuses (`items` of `insufficient_stock` or `price_changed`), as
    /// this policy answers them after [`TestApp::end_holds`]: under `hold`, each says
    /// `"hold_expired": true`.
    pub fn refused_lines(&self, mut lines: Value) -> Value {
        if self.holds() {
            for line in lines.as_array_mut().into_iter().flatten() {
                line["hold_expired"] = json!(true);
            }
        }
        lines
    }

    /// Every item of `table`, as plain JSON (numbers as numbers), read strongly consistent.
    pub async fn scan(&self, table: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .direct
                .client()
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            items.extend(
                out.items()
                    .iter()
                    .map(|item| plain_json(&AttributeValue::M(item.clone()))),
            );
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return items,
            }
        }
    }

    /// How many items `table` holds, read strongly consistent.
    pub async fn count_items(&self, table: &str) -> usize {
        self.scan(table).await.len()
    }

    /// The orders stored: the items of the orders table that are orders (the same table holds
    /// users' keys' records of cart writes, which have no `lines`).
    pub async fn stored_orders(&self) -> Vec<Value> {
        let items = self.scan(&self.direct.tables().orders).await;
        items
            .into_iter()
            .filter(|i| i.get("lines").is_some())
            .collect()
    }

    pub async fn order_count(&self) -> usize {
        self.stored_orders().await.len()
    }

    pub async fn cart_count(&self) -> usize {
        self.count_items(&self.direct.tables().carts).await
    }
}

/// An attribute value as plain JSON: numbers as numbers, maps with sorted keys.
pub fn plain_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => n
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(n)),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::L(list) => Value::Array(list.iter().map(plain_json).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), plain_json(v)))
                .collect(),
        ),
        other => json!(format!("{other:?}")),
    }
}

/// A handler's answer, with its body parsed.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `200`, or `409 insufficient_stock`.
    pub fn outcome(&self) -> String {
        match self.body["code"].as_str() {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }

    /// Asserts a problem response with this status and code, and no internals in it.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        for member in ["type", "title", "detail", "error"] {
            assert!(self.body[member].is_string(), "{member} in {}", self.text);
        }
        assert_no_internals(&self.text);
    }

    /// Asserts a `Retry-After` of at least a second.
    pub fn assert_retry_after(&self) {
        let seconds: u32 = self
            .header("retry-after")
            .unwrap_or_else(|| panic!("Retry-After on {}", self.text))
            .parse()
            .expect("Retry-After in seconds");
        assert!(seconds >= 1, "Retry-After {seconds}");
    }
}

/// Nothing of the implementation leaks: no Rust debug output, SDK errors or table names.
pub fn assert_no_internals(text: &str) {
    for marker in [
        "panicked",
        "SdkError",
        "ServiceError",
        "DispatchFailure",
        "AttributeValue",
        "Some(",
        "ValidationException",
        "-catalog",
        "-carts",
        "-orders",
        "-idempotency",
        "backtrace",
    ] {
        assert!(!text.contains(marker), "{marker:?} leaked in {text}");
    }
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }
}

/// Reads an event file from `events/`, as a request.
pub fn event_file(name: &str) -> Request {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
