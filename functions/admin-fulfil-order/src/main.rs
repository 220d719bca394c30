//! `admin-fulfil-order`: wiring only; the handler is in `handler.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve::<admin_fulfil_order::AdminFulfilOrder>().await
}
