//! `release-holds`: wiring only; the handler is in `handler.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::scheduled::serve_scheduled::<release_holds::ReleaseHolds>().await
}
