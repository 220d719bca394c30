//! `guest-get-cart`: wiring only; the handler is in `handler.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve::<guest_get_cart::GuestGetCart>().await
}
