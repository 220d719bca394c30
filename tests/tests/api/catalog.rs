//! The catalog: listing with filters and cursors, admin create and update, seeding.

use std::collections::HashSet;

use admin_create_item::AdminCreateItem;
use admin_update_item::AdminUpdateItem;
use list_items::ListItems;
use serde_json::{json, Value};
use shared::domain::{Item, ItemId, ListQuery, Price, Stock};
use testkit::{ApiRequest, TestApp, TestResponse};

fn ids(response: &TestResponse) -> Vec<u64> {
    response.body["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect()
}

/// Follows `next_cursor` until the listing ends; returns every id seen, in order.
async fn walk(app: &TestApp, query: &[(&str, &str)]) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = app.list(&q).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("the listing never ended");
}

async fn sample_catalog(app: &TestApp) -> Vec<Item> {
    app.seed(&[
        ("Wine - Port Late Bottled Vintage", 869, 7),
        ("Appetizer - Crab And Brie", 4358, 19),
        ("Mussels - Frozen", 1470, 4),
        ("Wine - Red, Cabernet", 869, 2),
        ("Cheese - Brie, Triple Creme", 1999, 0),
        ("Bread - Multigrain Loaf", 350, 12),
        ("WINE - White, Riesling", 2500, 9),
    ])
    .await
}

#[tokio::test]
async fn listing_answers_the_original_shape_in_price_then_id_order() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;

    let response = app.list(&[]).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(ids(&response), vec![6, 1, 4, 3, 5, 7, 2]);
    assert_eq!(
        response.body["items"][1],
        json!({"id": 1, "name": "Wine - Port Late Bottled Vintage", "price": 869, "quantity": 7})
    );
    assert_eq!(response.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn price_bounds_are_inclusive_and_names_match_case_insensitively() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u64]);
    let cases: &[Case] = &[
        (
            &[("min_value", "869"), ("max_value", "1999")],
            &[1, 4, 3, 5],
        ),
        (&[("min_value", "2000")], &[7, 2]),
        (&[("max_value", "869")], &[6, 1, 4]),
        (&[("min_value", "870"), ("max_value", "1000")], &[]),
        (&[("name", "wine")], &[1, 4, 7]),
        (&[("name", "BRIE")], &[5, 2]),
        (&[("name", "wine"), ("max_value", "1000")], &[1, 4]),
        (&[("name", "no such thing")], &[]),
    ];
    for (query, expected) in cases {
        let response = app.list(query).await;
        assert_eq!(response.status, 200, "{query:?}: {}", response.text);
        assert_eq!(ids(&response), *expected, "{query:?}");
    }
}

#[tokio::test]
async fn walking_the_cursors_visits_every_match_exactly_once() {
    let app = TestApp::spawn().await;
    let items: Vec<(String, u64, u64)> = (0..120u64)
        .map(|i| {
            (
                format!("Item {i} - {}", if i % 3 == 0 { "Wine" } else { "Cheese" }),
                100 + (i * 37) % 50,
                i,
            )
        })
        .collect();
    let borrowed: Vec<(&str, u64, u64)> =
        items.iter().map(|(n, p, s)| (n.as_str(), *p, *s)).collect();
    app.seed(&borrowed).await;

    for query in [
        vec![("limit", "7")],
        vec![("limit", "1")],
        vec![("limit", "200")],
        vec![("limit", "5"), ("min_value", "110"), ("max_value", "130")],
        vec![("limit", "4"), ("name", "wine")],
    ] {
        let seen = walk(&app, &query).await;
        let all = app
            .call::<ListItems>(
                ApiRequest::list_items().queries(
                    &[("limit", "200")]
                        .iter()
                        .chain(query.iter().filter(|(k, _)| *k != "limit"))
                        .copied()
                        .collect::<Vec<_>>(),
                ),
            )
            .await;
        let expected = ids(&all);
        assert_eq!(seen, expected, "{query:?}");
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            seen.len(),
            "no repeats for {query:?}"
        );
    }
}

#[tokio::test]
async fn a_name_filtered_request_reads_at_most_its_budget_and_continues_with_a_cursor() {
    let mut app = TestApp::spawn().await;
    let names: Vec<String> = (0..60)
        .map(|i| format!("Item {i} - {}", if i == 55 { "Needle" } else { "Hay" }))
        .collect();
    let borrowed: Vec<(&str, u64, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 100 + i as u64, 1))
        .collect();
    app.seed(&borrowed).await;
    app.state.config.list_read_budget = 10;

    let first = app.list(&[("name", "needle")]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        ids(&first),
        Vec::<u64>::new(),
        "no match in the first 10 entries"
    );
    assert!(
        first.body["next_cursor"].is_string(),
        "the bound was hit, so a cursor continues"
    );

    let page = app
        .store()
        .list_items(
            &ListQuery {
                min_price: Price::new(0).unwrap(),
                max_price: Price::new(Price::MAX).unwrap(),
                name: Some("needle".into()),
                limit: 50,
                after: None,
            },
            10,
        )
        .await
        .unwrap();
    assert!(page.scanned <= 10, "read {} entries", page.scanned);

    assert_eq!(walk(&app, &[("name", "needle")]).await, vec![56]);
}

#[tokio::test]
async fn bad_query_parameters_are_400_problems_naming_the_parameter() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;
    let long_name = "x".repeat(101);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("min_value", "-1")], "min_value"),
        (&[("min_value", "1.5")], "min_value"),
        (&[("min_value", "abc")], "min_value"),
        (&[("max_value", "9007199254740992")], "max_value"),
        (&[("min_value", "10"), ("max_value", "9")], "min_value"),
        (&[("limit", "0")], "limit"),
        (&[("limit", "201")], "limit"),
        (&[("limit", "")], "limit"),
        (&[("limit", "1"), ("limit", "2")], "limit"),
        (&[("name", "")], "name"),
        (&[("name", &long_name)], "name"),
        (&[("cursor", "garbage")], "cursor"),
        (&[("cursor", "")], "cursor"),
        (
            &[("cursor", "AQAAAAAAAANlAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAA")],
            "cursor",
        ),
    ];
    for (query, field) in cases {
        let response = app.list(query).await;
        response.assert_problem(400, "invalid_request");
        assert_eq!(response.body["field"], *field, "{query:?}");
    }
}

#[tokio::test]
async fn a_cursor_only_continues_the_listing_that_issued_it() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;
    let first = app
        .call::<ListItems>(ApiRequest::list_items().queries(&[("limit", "2"), ("name", "wine")]))
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();

    let same = app
        .call::<ListItems>(ApiRequest::list_items().queries(&[
            ("limit", "2"),
            ("name", "wine"),
            ("cursor", &cursor),
        ]))
        .await;
    assert_eq!(same.status, 200);

    let other_filter = app
        .call::<ListItems>(ApiRequest::list_items().queries(&[
            ("limit", "2"),
            ("name", "brie"),
            ("cursor", &cursor),
        ]))
        .await;
    other_filter.assert_problem(400, "invalid_request");

    let mut forged = cursor.clone().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let response = app
        .call::<ListItems>(ApiRequest::list_items().queries(&[
            ("limit", "2"),
            ("name", "wine"),
            ("cursor", &forged),
        ]))
        .await;
    response.assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn on_a_catalog_of_ten_thousand_items_a_page_reads_one_pages_worth() {
    let app = TestApp::spawn().await;
    let items: Vec<Item> = (1..=10_000u64)
        .map(|i| Item {
            id: ItemId::new(i).unwrap(),
            name: format!("Item {i}"),
            price: Price::new(100 + (i * 7919) % 9_900).unwrap(),
            stock: Stock::new(i % 100).unwrap(),
            version: 0,
            max_per_customer: None,
            shards: 1,
        })
        .collect();
    app.store().put_items(&items).await.unwrap();

    let everything = ListQuery {
        min_price: Price::new(0).unwrap(),
        max_price: Price::new(Price::MAX).unwrap(),
        name: None,
        limit: 50,
        after: None,
    };
    let price_range = ListQuery {
        min_price: Price::new(5_000).unwrap(),
        max_price: Price::new(6_000).unwrap(),
        ..everything.clone()
    };
    for query in [everything, price_range] {
        let (page, requests) = app
            .requests_during(app.store().list_items(&query, 1_000))
            .await;
        let page = page.unwrap();
        assert_eq!(page.items.len(), 50);
        assert_eq!(requests, 1, "one Query per page");
        assert!(
            page.scanned <= 51,
            "read {} index entries for a page of 50",
            page.scanned
        );

        let next = ListQuery {
            after: page.next,
            ..query.clone()
        };
        let (second, _) = app
            .requests_during(app.store().list_items(&next, 1_000))
            .await;
        let second = second.unwrap();
        assert!(second.scanned <= 51);
        assert!(second.items[0].price >= page.items[49].price);
    }

    let (response, requests) = app
        .requests_during(app.list(&[("min_value", "5000"), ("max_value", "6000")]))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(ids(&response).len(), 50);
    assert_eq!(requests, 1);
}

fn create_item(body: Value) -> ApiRequest {
    ApiRequest::admin_create_item().json(body)
}

fn update_item(id: &str, body: Value) -> ApiRequest {
    ApiRequest::admin_update_item(id).json(body)
}

#[tokio::test]
async fn an_admin_creates_items_with_new_ids_and_they_are_listed() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;

    let first = app
        .call::<AdminCreateItem>(create_item(
            json!({"name": "Tea - Earl Grey", "price": 450, "quantity": 30}),
        ))
        .await;
    let second = app
        .call::<AdminCreateItem>(create_item(
            json!({"name": "Tea - Green", "price": 451, "quantity": 0}),
        ))
        .await;

    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["item"]["name"], "Tea - Earl Grey");
    assert_eq!(first.body["item"]["quantity"], 30);
    let (a, b) = (
        first.body["item"]["id"].as_u64().unwrap(),
        second.body["item"]["id"].as_u64().unwrap(),
    );
    assert_ne!(a, b);
    assert!(
        a >= 1_000_000 && b >= 1_000_000,
        "admin ids never collide with the seeded dataset"
    );
    let listed = app.list(&[("name", "tea")]).await;
    assert_eq!(ids(&listed), vec![a, b]);
}

#[tokio::test]
async fn concurrent_admin_creates_get_distinct_ids() {
    let app = TestApp::spawn().await;
    let responses = futures::future::join_all((0..20).map(|i| {
        app.call::<AdminCreateItem>(create_item(
            json!({"name": format!("Tea - Blend {i}"), "price": 100, "quantity": 1}),
        ))
    }))
    .await;
    let ids: HashSet<u64> = responses
        .iter()
        .map(|r| r.body["item"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn an_admin_changes_price_and_stock_and_the_listing_follows() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;

    let response = app
        .call::<AdminUpdateItem>(update_item("6", json!({"price": 99999, "quantity": 3})))
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["item"],
        json!({"id": 6, "max_per_customer": null, "name": "Bread - Multigrain Loaf", "price": 99999, "quantity": 3, "version": 1})
    );
    let listed = app.list(&[]).await;
    assert_eq!(
        *ids(&listed).last().unwrap(),
        6,
        "the index follows the new price"
    );
    let only_stock = app
        .call::<AdminUpdateItem>(update_item("6", json!({"quantity": 0})))
        .await;
    assert_eq!(only_stock.body["item"]["price"], 99999);
    assert_eq!(only_stock.body["item"]["quantity"], 0);
}

#[tokio::test]
async fn bad_admin_input_is_a_4xx_problem_and_changes_nothing() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;
    let creates = [
        json!({"price": 1, "quantity": 1}),
        json!({"name": "", "price": 1, "quantity": 1}),
        json!({"name": 5, "price": 1, "quantity": 1}),
        json!({"name": "A", "price": -1, "quantity": 1}),
        json!({"name": "A", "price": 1.5, "quantity": 1}),
        json!({"name": "A", "price": "100", "quantity": 1}),
        json!({"name": "A", "price": 1, "quantity": true}),
        json!({"name": "A", "price": 1, "quantity": 1_000_001}),
        json!({"name": "A", "price": 100_000_001, "quantity": 1}),
        json!({"name": "A", "price": 9_007_199_254_740_992u64, "quantity": 1}),
    ];
    for body in creates {
        app.call::<AdminCreateItem>(create_item(body.clone()))
            .await
            .assert_problem(400, "invalid_request");
    }
    for body in ["", "{", "[1]", "null"] {
        let request = ApiRequest::new("POST", "/api/v1/admin/items", "/api/v1/admin/items")
            .with_iam()
            .text(body);
        app.call::<AdminCreateItem>(request)
            .await
            .assert_problem(400, "invalid_request");
    }
    app.call::<AdminUpdateItem>(update_item("6", json!({})))
        .await
        .assert_problem(400, "invalid_request");
    app.call::<AdminUpdateItem>(update_item("6", json!({"price": null})))
        .await
        .assert_problem(400, "invalid_request");
    app.call::<AdminUpdateItem>(update_item("abc", json!({"price": 1})))
        .await
        .assert_problem(400, "invalid_request");
    app.call::<AdminUpdateItem>(update_item("0", json!({"price": 1})))
        .await
        .assert_problem(400, "invalid_request");
    app.call::<AdminUpdateItem>(update_item("424242", json!({"price": 1})))
        .await
        .assert_problem(404, "item_not_found");

    assert_eq!(app.item(6).await.price.get(), 350);
    let listed = app.list(&[]).await;
    assert_eq!(ids(&listed).len(), 7);
}

#[tokio::test]
async fn admin_routes_refuse_requests_without_an_iam_identity_unless_allowed() {
    let mut app = TestApp::spawn().await;
    sample_catalog(&app).await;
    app.state.config.auth.allow_unsigned_requests = false;
    let body = json!({"name": "Tea - Earl Grey", "price": 450, "quantity": 30});

    let anonymous =
        ApiRequest::new("POST", "/api/v1/admin/items", "/api/v1/admin/items").json(body.clone());
    app.call::<AdminCreateItem>(anonymous)
        .await
        .assert_problem(403, "forbidden");
    let anonymous_update = ApiRequest::new(
        "PATCH",
        "/api/v1/admin/items/{item_id}",
        "/api/v1/admin/items/1",
    )
    .path_param("item_id", 1)
    .json(json!({"price": 1}));
    app.call::<AdminUpdateItem>(anonymous_update)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.item(1).await.price.get(), 869);

    let signed = app.call::<AdminCreateItem>(create_item(body)).await;
    assert_eq!(signed.status, 201);
}

#[tokio::test]
async fn seeding_inserts_only_missing_items_never_resets_sales_or_prices_and_never_touches_carts() {
    // Arrange: half the dataset seeded, then sold from and repriced.
    let app = TestApp::spawn().await;
    let dataset = seed_catalog::parse_dataset(seed_catalog::DATASET).unwrap();
    assert!(dataset.len() >= 1_000);
    let half = dataset.len() / 2;
    let cart = app.create_cart(5).await;
    let first = seed_catalog::seed(app.store(), &dataset[..half], false)
        .await
        .unwrap();
    assert_eq!(first.items, half);
    let on_sale = dataset[..half].iter().find(|i| i.stock.get() > 0).unwrap();
    let repriced = dataset[..half].iter().find(|i| i.id != on_sale.id).unwrap();
    let bought = app.fill_cart(5, std::slice::from_ref(on_sale), 1).await;
    assert_eq!(app.purchase(&bought, 5, "k").await.status, 200);
    app.set_price(repriced.id.get(), 4242).await;

    // Act: the whole dataset, twice.
    let second = seed_catalog::seed(app.store(), &dataset, false)
        .await
        .unwrap();
    let third = seed_catalog::seed(app.store(), &dataset, false)
        .await
        .unwrap();

    // Assert: the missing half inserted once; what was sold or repriced stands.
    assert_eq!((second.items, third.items), (dataset.len() - half, 0));
    assert_eq!(walk(&app, &[("limit", "200")]).await.len(), dataset.len());
    assert_eq!(
        app.stock_of(on_sale.id.get()).await,
        on_sale.stock.get() - 1
    );
    assert_eq!(app.item(repriced.id.get()).await.price.get(), 4242);
    assert_eq!(app.item(dataset[half].id.get()).await, dataset[half]);
    let again = app.create_cart(5).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["cart"]["id"], cart.body["cart"]["id"]);

    // A reset (local use only) writes the dataset over what is there.
    let reset = seed_catalog::seed(app.store(), &dataset, true)
        .await
        .unwrap();
    assert_eq!(reset.items, dataset.len());
    assert_eq!(app.item(repriced.id.get()).await.price, repriced.price);
    assert_eq!(app.item(on_sale.id.get()).await.stock, on_sale.stock);
}

#[tokio::test]
async fn a_restock_adds_to_the_stock_atomically() {
    let app = TestApp::spawn().await;
    sample_catalog(&app).await;

    let responses = futures::future::join_all(
        (0..10).map(|_| app.call::<AdminUpdateItem>(update_item("3", json!({"restock": 5})))),
    )
    .await;

    assert!(responses.iter().all(|r| r.status == 200));
    assert_eq!(app.item(3).await.stock.get(), 4 + 50);
    let refused = [
        json!({"restock": 0}),
        json!({"restock": -1}),
        json!({"restock": 2.5}),
        json!({"restock": 1, "quantity": 3}),
        json!({"restock": 999_999}),
    ];
    for body in refused {
        app.call::<AdminUpdateItem>(update_item("3", body.clone()))
            .await
            .assert_problem(400, "invalid_request");
    }
    assert_eq!(app.item(3).await.stock.get(), 54);
}
