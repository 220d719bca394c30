//! `cart-discount`: wiring only; the handler is in `handler.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve::<cart_discount::CartDiscount>().await
}
