//! DynamoDB unreachable, failing or throttled during each endpoint: a 503 problem with
//! `Retry-After`, nothing half-written, and the same request works once DynamoDB is back.

use serde_json::json;
use testkit::{ApiRequest, TestApp, TestResponse};
use testkit::{DynamoDbProxy, Fault, Times};

#[derive(Clone, Copy, Debug)]
enum Outage {
    ConnectionRefused,
    ServerErrors,
    Throttling,
    DroppedConnections,
}

impl Outage {
    const ALL: [Outage; 4] = [
        Outage::ConnectionRefused,
        Outage::ServerErrors,
        Outage::Throttling,
        Outage::DroppedConnections,
    ];

    async fn begin(self, proxy: &DynamoDbProxy) {
        match self {
            Outage::ConnectionRefused => proxy.go_down(),
            Outage::ServerErrors => proxy.inject("*", Fault::InternalError, Times::Always),
            Outage::Throttling => proxy.inject("*", Fault::Throttling, Times::Always),
            Outage::DroppedConnections => proxy.inject("*", Fault::Disconnect, Times::Always),
        }
    }

    async fn end(self, proxy: &DynamoDbProxy) {
        match self {
            Outage::ConnectionRefused => proxy.come_back().await,
            _ => proxy.clear(),
        }
    }
}

/// Every item of the four tables, read around the proxy.
async fn everything(app: &TestApp) -> Vec<String> {
    let tables = app.direct().tables().clone();
    let mut rows = Vec::new();
    for table in [
        &tables.catalog,
        &tables.carts,
        &tables.orders,
        &tables.idempotency,
    ] {
        for item in app.scan(table).await {
            rows.push(format!("{table}: {item}"));
        }
    }
    rows.sort();
    rows
}

struct Fixture {
    app: TestApp,
    proxy: DynamoDbProxy,
    cart: String,
    order: String,
}

async fn fixture() -> Fixture {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    app.seed(&[("Wine - Port", 869, 100), ("Mussels - Frozen", 1470, 100)])
        .await;
    let cart = app.new_cart(7).await;
    let fixture = Fixture {
        app,
        proxy,
        cart,
        order: String::new(),
    };
    assert_eq!(fixture.call("add-cart-item").await.status, 200);
    let order = fixture.call("purchase-cart").await.body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture { order, ..fixture }
}

impl Fixture {
    async fn call(&self, endpoint: &str) -> TestResponse {
        let cart = &self.cart;
        let request = match endpoint {
            "list-items" => ApiRequest::list_items().query("limit", 5),
            "admin-create-item" => ApiRequest::admin_create_item()
                .json(json!({"name": "Tea - Green", "price": 300, "quantity": 5})),
            "admin-update-item" => ApiRequest::admin_update(2, json!({"restock": 1})),
            "create-cart" => {
                ApiRequest::new("POST", "/api/v1/cart", "/api/v1/cart").json(json!({"user_id": 9}))
            }
            "get-cart" => ApiRequest::get_cart(cart),
            "add-cart-item" => ApiRequest::add(cart, 7, 1, 1),
            "remove-cart-item" => ApiRequest::remove(cart, 7, 1),
            "purchase-cart" => {
                ApiRequest::purchase(cart, 7, &format!("outage-{}", uuid::Uuid::new_v4()))
            }
            "get-order" => ApiRequest::order(&self.order, 7),
            other => unreachable!("{other}"),
        };
        self.app.call_function(endpoint, request).await
    }
}

/// The endpoints in an order where each one's request succeeds after the ones before it.
const ENDPOINTS: [(&str, u16); 9] = [
    ("list-items", 200),
    ("admin-create-item", 201),
    ("admin-update-item", 200),
    ("create-cart", 201),
    ("get-cart", 200),
    ("add-cart-item", 200),
    ("remove-cart-item", 200),
    ("get-order", 200),
    ("purchase-cart", 200),
];

#[tokio::test]
async fn an_outage_during_any_endpoint_is_a_503_with_retry_after_that_leaves_nothing_half_done() {
    for outage in Outage::ALL {
        let fixture = fixture().await;
        for (endpoint, recovered_status) in ENDPOINTS {
            if endpoint == "purchase-cart" {
                assert_eq!(
                    fixture.call("add-cart-item").await.status,
                    200,
                    "a line to buy"
                );
            }
            let before = everything(&fixture.app).await;

            outage.begin(&fixture.proxy).await;
            let response = fixture.call(endpoint).await;
            outage.end(&fixture.proxy).await;

            response.assert_problem(503, "service_unavailable");
            assert_eq!(
                response.header("retry-after"),
                Some("1"),
                "{endpoint} during {outage:?}"
            );
            assert_eq!(
                everything(&fixture.app).await,
                before,
                "{endpoint} during {outage:?} wrote nothing"
            );
            let again = fixture.call(endpoint).await;
            assert_eq!(
                again.status, recovered_status,
                "{endpoint} after {outage:?}: {}",
                again.text
            );
        }
    }
}
