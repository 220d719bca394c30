//! Creates the four tables (names from the environment, definitions from
//! `shared::store::schema`, which a test keeps equal to `template.yaml`) where
//! `AWS_ENDPOINT_URL_DYNAMODB` points. Idempotent: existing tables are left alone.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let tables = shared::Tables::from_env();
    let store = shared::Store::from_env(tables.clone());
    match store.create_tables().await {
        Ok(()) => {
            println!(
                "tables ready: {}, {}, {}, {}",
                tables.catalog, tables.carts, tables.orders, tables.idempotency
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "could not create the tables: {}",
                shared::telemetry::error_chain(&e)
            );
            std::process::ExitCode::FAILURE
        }
    }
}
