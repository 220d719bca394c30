//! `publish-order-events`: wiring only; the handler is in `handler.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::stream::serve_stream::<publish_order_events::PublishOrderEvents>().await
}
