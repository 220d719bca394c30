use add_cart_item::AddCartItem;
use create_cart::CreateCart;
use integration_tests::{Event, TestApp};
use purchase_cart::PurchaseCart;
use serde_json::json;

#[tokio::test]
async fn smoke() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5), ("Mussels - Frozen", 1470, 3)])
        .await;
    let r = app
        .call::<CreateCart>(
            Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                .json(json!({"user_id": 7}))
                .build(),
        )
        .await;
    println!("{} {}", r.status, r.text);
    let r2 = app
        .call::<CreateCart>(
            Event::new("POST", "/api/v1/cart/", "/api/v1/cart/")
                .json(json!({"user_id": "7"}))
                .build(),
        )
        .await;
    println!("{} {}", r2.status, r2.text);
    let id = r.body["cart"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/cart/{id}/items");
    for (item, q) in [(1, 2), (2, 1), (1, 3), (1, 1), (9, 1)] {
        let r = app
            .call::<AddCartItem>(
                Event::new("POST", "/api/v1/cart/{cart_id}/items", &path)
                    .path_param("cart_id", &id)
                    .json(json!({"user_id": 7, "item_id": item, "quantity": q}))
                    .build(),
            )
            .await;
        println!("{} {}", r.status, r.text);
    }
    let (r, n) = app
        .requests_during(
            app.call::<PurchaseCart>(
                Event::new(
                    "POST",
                    "/api/v1/cart/{cart_id}/purchase",
                    &format!("/api/v1/cart/{id}/purchase"),
                )
                .path_param("cart_id", &id)
                .header("Idempotency-Key", "k1")
                .json(json!({"user_id": 7}))
                .build(),
            ),
        )
        .await;
    println!("{n} requests: {} {} {:?}", r.status, r.text, r.headers);
    let r = app
        .call::<PurchaseCart>(
            Event::new(
                "POST",
                "/api/v1/cart/{cart_id}/purchase",
                &format!("/api/v1/cart/{id}/purchase"),
            )
            .path_param("cart_id", &id)
            .json(json!({"user_id": 7, "idempotency_key": "k1"}))
            .build(),
        )
        .await;
    println!("{} {} {:?}", r.status, r.text, r.headers);
    println!("{:?}", app.item(1).await);
}
