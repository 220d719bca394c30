//! The functions' HTTP client over TLS, as on AWS: it trusts the roots it is given and no others.

use std::path::Path;

/// The functions' own client (`client_config_from_env`, which create-tables uses as every
/// function does) reaches DynamoDB over TLS as on AWS, trusting the roots `SSL_CERT_FILE` names,
/// and refuses a server those roots do not vouch for. (Two workers: the front serves while the
/// test waits for the process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_reach_dynamodb_over_tls_trusting_only_the_roots_they_are_given() {
    let dir = std::env::temp_dir();
    let (front, roots) = testkit::DynamoDbProxy::start_tls(&dir).await;
    let (_stranger, strangers_roots) = testkit::DynamoDbProxy::start_tls(&dir).await;
    let tables = testkit::unique_tables();
    let create_tables = |roots: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_create-tables"))
            .env("AWS_ENDPOINT_URL_DYNAMODB", front.url())
            .env("SSL_CERT_FILE", roots)
            .env("CATALOG_TABLE", &tables.catalog)
            .env("CARTS_TABLE", &tables.carts)
            .env("ORDERS_TABLE", &tables.orders)
            .env("IDEMPOTENCY_TABLE", &tables.idempotency)
            .output()
            .unwrap()
    };
    // Another throwaway CA's roots: the handshake fails, nothing is created.
    let refused = create_tables(&strangers_roots);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("certificate"),
        "{why}"
    );
    let created = create_tables(&roots);
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{stderr}");
    assert!(
        front.requests("CreateTable") >= 4,
        "over TLS through the proxy"
    );
    let store = testkit::store_at(&testkit::dynamodb_endpoint(), tables);
    assert!(store
        .get_item(shared::domain::ItemId::new(1).unwrap())
        .await
        .is_ok());
}
