//! The cursor key as deployed: the stack generates it in Secrets Manager and passes only its ARN
//! (`CURSOR_SECRET_ARN`); `list-items` and `list-orders` read it once at cold start through the
//! SDK (`shared::http::cold_start`, the code `serve` runs in Lambda), here from a local stand-in
//! for the service (`testkit::secrets`), the only hop that differs. Their cursors are sealed and
//! opened with that key; without a key they refuse to start, and no other function reads one.

use std::collections::HashMap;

use get_cart::GetCart;
use list_items::ListItems;
use list_orders::ListOrders;
use shared::http::cold_start;
use testkit::secrets::SecretsManagerStub;
use testkit::{dynamodb_endpoint, ApiRequest, TestApp};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:CursorSecret-AbCdEf";
/// What `GenerateSecretString` makes: 64 letters and digits.
const KEY: &str = "q3VZt8wJm2XkR7bN5cYhD4fLp9sGa6uE1oTiWnKjHvMxCrBzQyPlSdFgAeUtOwIm";

/// A function's environment in Lambda, as far as the cold start reads it: region and
/// credentials, DynamoDB's endpoint, `app`'s tables, and `more`.
fn lambda_env(app: &TestApp, more: &[(&str, &str)]) -> HashMap<String, String> {
    let tables = app.store().tables();
    let mut vars: HashMap<String, String> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_SESSION_TOKEN", "local-session"),
        ("CATALOG_TABLE", &tables.catalog),
        ("CARTS_TABLE", &tables.carts),
        ("ORDERS_TABLE", &tables.orders),
        ("IDEMPOTENCY_TABLE", &tables.idempotency),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), dynamodb_endpoint());
    vars.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vars
}

/// One page of one item, after `cursor` if given: the status and the next cursor.
async fn page(app: &TestApp, cursor: Option<&str>) -> (u16, Option<String>, String) {
    let mut request = ApiRequest::list_items().query("limit", 1);
    if let Some(cursor) = cursor {
        request = request.query("cursor", cursor);
    }
    let response = app.send(request).await;
    let next = response.body["next_cursor"].as_str().map(str::to_owned);
    (response.status, next, response.text)
}

#[tokio::test]
async fn the_cursor_functions_read_their_key_from_the_stacks_secret_and_seal_their_cursors_with_it()
{
    // Arrange: the stack's secret behind a stand-in, and a catalog of three items.
    let stub = SecretsManagerStub::start(&[(ARN, KEY)]).await;
    let mut app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10), ("Tea", 250, 5), ("Beans", 99, 7)])
        .await;
    let with_local_key_too = [
        ("CURSOR_SECRET_ARN", ARN),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &stub.url()),
        ("CURSOR_SECRET", "a-local-key-the-arn-takes-precedence-over"),
    ];
    let vars = lambda_env(&app, &with_local_key_too);
    let vars = move |name: &str| vars.get(name).cloned();

    // Act: the cold starts, as in Lambda.
    let listing = cold_start::<ListItems>(&vars)
        .await
        .expect("list-items starts");
    let orders = cold_start::<ListOrders>(&vars)
        .await
        .expect("list-orders starts");

    // Assert: the key is the secret's value, read through the service's API, signed, once each.
    assert_eq!(
        listing.config.cursor_secret.as_deref(),
        Some(KEY.as_bytes())
    );
    assert_eq!(orders.config.cursor_secret.as_deref(), Some(KEY.as_bytes()));
    let seen = stub.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.target, "secretsmanager.GetSecretValue");
        assert_eq!(request.body["SecretId"], ARN);
        assert!(
            request.signed,
            "SigV4-signed with the function's credentials"
        );
    }
    // The listing started so seals its cursors with that key and opens them again.
    app.state = listing;
    let (status, first, text) = page(&app, None).await;
    assert_eq!(status, 200, "{text}");
    let first = first.expect("a next page");
    let (status, second, text) = page(&app, Some(&first)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Tea"), "the second page: {text}");
    assert!(second.is_some());
    // A cursor sealed with any other key (the same catalog, the test kit's key) opens nowhere
    // else, and the other way round.
    let other_key = TestApp::spawn().await;
    other_key
        .seed(&[("Wine - Port", 869, 10), ("Tea", 250, 5), ("Beans", 99, 7)])
        .await;
    let (_, foreign, _) = page(&other_key, None).await;
    let (status, _, text) = page(&app, foreign.as_deref()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("cursor"), "{text}");
    let (status, _, text) = page(&other_key, Some(&first)).await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test]
async fn without_a_usable_cursor_key_the_cursor_functions_refuse_to_start_and_no_other_reads_one() {
    let stub = SecretsManagerStub::start(&[(ARN, "too-short")]).await;
    let app = TestApp::spawn().await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Gone-123456";
    // (what is wrong, the variables given, what the refusal says)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        ("neither variable", &[], "CURSOR_SECRET"),
        (
            "a secret that is not there",
            &[("CURSOR_SECRET_ARN", missing)],
            "ResourceNotFoundException",
        ),
        (
            "a secret shorter than a key",
            &[("CURSOR_SECRET_ARN", ARN)],
            "shorter",
        ),
        (
            "a local key too short",
            &[("CURSOR_SECRET", "short")],
            "shorter",
        ),
    ];

    for (case, more, why) in cases {
        let mut more = more.to_vec();
        let url = stub.url();
        more.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", &url));
        let vars = lambda_env(&app, &more);
        let vars = move |name: &str| vars.get(name).cloned();

        for refused in [
            cold_start::<ListItems>(&vars).await.err(),
            cold_start::<ListOrders>(&vars).await.err(),
        ] {
            let refused = refused.unwrap_or_else(|| panic!("{case}: started"));
            assert!(refused.contains(why), "{case}: {refused}");
            assert!(
                !refused.contains("too-short"),
                "{case}: never a key in a message"
            );
        }
        // A function that signs no cursor starts, with no key and no call to the service.
        let before = stub.seen().len();
        let cart = cold_start::<GetCart>(&vars).await.expect("get-cart starts");
        assert_eq!(cart.config.cursor_secret, None, "{case}");
        assert_eq!(stub.seen().len(), before, "{case}");
    }
}
