//! DynamoDB unreachable, failing or throttled during each endpoint: a 503 problem with
//! `Retry-After`, nothing half-written, and the same request works once DynamoDB is back.

use add_cart_item::AddCartItem;
use admin_create_item::AdminCreateItem;
use admin_update_item::AdminUpdateItem;
use aws_sdk_dynamodb::types::AttributeValue;
use create_cart::CreateCart;
use get_cart::GetCart;
use get_order::GetOrder;
use integration_tests::fault_proxy::{Fault, FaultProxy, Times};
use integration_tests::{dynamodb_endpoint, store_at, Event, TestApp, TestResponse};
use list_items::ListItems;
use purchase_cart::PurchaseCart;
use remove_cart_item::RemoveCartItem;
use serde_json::json;
use shared::Store;

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

    async fn begin(self, proxy: &FaultProxy) {
        match self {
            Outage::ConnectionRefused => proxy.go_down(),
            Outage::ServerErrors => proxy.inject("*", Fault::InternalError, Times::Always),
            Outage::Throttling => proxy.inject("*", Fault::Throttling, Times::Always),
            Outage::DroppedConnections => proxy.inject("*", Fault::Disconnect, Times::Always),
        }
    }

    async fn end(self, proxy: &FaultProxy) {
        match self {
            Outage::ConnectionRefused => proxy.come_back().await,
            _ => proxy.clear(),
        }
    }
}

/// Every item of the four tables, read around the proxy.
async fn everything(store: &Store) -> Vec<String> {
    let tables = store.tables().clone();
    let mut rows = Vec::new();
    for table in [
        &tables.catalog,
        &tables.carts,
        &tables.orders,
        &tables.idempotency,
    ] {
        let out = store
            .client()
            .scan()
            .table_name(table)
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            rows.push(format!(
                "{table}: {}",
                canonical(&AttributeValue::M(item.clone()))
            ));
        }
    }
    rows.sort();
    rows
}

/// An attribute value as JSON with sorted keys, so equal items print equally.
fn canonical(value: &AttributeValue) -> serde_json::Value {
    match value {
        AttributeValue::M(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        AttributeValue::L(list) => serde_json::Value::Array(list.iter().map(canonical).collect()),
        other => json!(format!("{other:?}")),
    }
}

struct Fixture {
    app: TestApp,
    proxy: FaultProxy,
    direct: Store,
    cart: String,
    order: String,
}

async fn fixture() -> Fixture {
    let proxy = FaultProxy::start().await;
    let app = TestApp::spawn_at(&proxy.url()).await;
    let direct = store_at(&dynamodb_endpoint(), app.store().tables().clone()).await;
    app.seed(&[("Wine - Port", 869, 100), ("Mussels - Frozen", 1470, 100)])
        .await;
    let cart = app
        .call::<CreateCart>(
            Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                .json(json!({"user_id": 7}))
                .build(),
        )
        .await
        .body["cart"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fixture = Fixture {
        app,
        proxy,
        direct,
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
        let app = &self.app;
        let cart = &self.cart;
        match endpoint {
            "list-items" => {
                app.call::<ListItems>(
                    Event::new("GET", "/api/v1/items", "/api/v1/items")
                        .query("limit", 5)
                        .build(),
                )
                .await
            }
            "admin-create-item" => {
                app.call::<AdminCreateItem>(
                    Event::new("POST", "/api/v1/admin/items", "/api/v1/admin/items")
                        .with_iam()
                        .json(json!({"name": "Tea - Green", "price": 300, "quantity": 5}))
                        .build(),
                )
                .await
            }
            "admin-update-item" => {
                app.call::<AdminUpdateItem>(
                    Event::new(
                        "PATCH",
                        "/api/v1/admin/items/{item_id}",
                        "/api/v1/admin/items/2",
                    )
                    .path_param("item_id", 2)
                    .with_iam()
                    .json(json!({"restock": 1}))
                    .build(),
                )
                .await
            }
            "create-cart" => {
                app.call::<CreateCart>(
                    Event::new("POST", "/api/v1/cart", "/api/v1/cart")
                        .json(json!({"user_id": 9}))
                        .build(),
                )
                .await
            }
            "get-cart" => {
                app.call::<GetCart>(
                    Event::new(
                        "GET",
                        "/api/v1/cart/{cart_id}",
                        &format!("/api/v1/cart/{cart}"),
                    )
                    .path_param("cart_id", cart)
                    .build(),
                )
                .await
            }
            "add-cart-item" => {
                app.call::<AddCartItem>(
                    Event::new(
                        "POST",
                        "/api/v1/cart/{cart_id}/items",
                        &format!("/api/v1/cart/{cart}/items"),
                    )
                    .path_param("cart_id", cart)
                    .json(json!({"user_id": 7, "item_id": 1, "quantity": 1}))
                    .build(),
                )
                .await
            }
            "remove-cart-item" => {
                app.call::<RemoveCartItem>(
                    Event::new(
                        "DELETE",
                        "/api/v1/cart/{cart_id}/items/{item_id}",
                        &format!("/api/v1/cart/{cart}/items/1"),
                    )
                    .path_param("cart_id", cart)
                    .path_param("item_id", 1)
                    .query("user_id", 7)
                    .build(),
                )
                .await
            }
            "purchase-cart" => {
                app.call::<PurchaseCart>(
                    Event::new(
                        "POST",
                        "/api/v1/cart/{cart_id}/purchase",
                        &format!("/api/v1/cart/{cart}/purchase"),
                    )
                    .path_param("cart_id", cart)
                    .header(
                        "Idempotency-Key",
                        &format!("outage-{}", uuid::Uuid::new_v4()),
                    )
                    .json(json!({"user_id": 7}))
                    .build(),
                )
                .await
            }
            "get-order" => {
                let order = &self.order;
                app.call::<GetOrder>(
                    Event::new(
                        "GET",
                        "/api/v1/orders/{order_id}",
                        &format!("/api/v1/orders/{order}"),
                    )
                    .path_param("order_id", order)
                    .query("user_id", 7)
                    .build(),
                )
                .await
            }
            other => unreachable!("{other}"),
        }
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
            let before = everything(&fixture.direct).await;

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
                everything(&fixture.direct).await,
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
