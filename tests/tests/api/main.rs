//! The integration tests: one binary, so the AWS SDK and the handlers are linked once.
//!
//! Every module starts from `testkit::TestApp`, which gives each test its own tables in DynamoDB
//! Local (started by `make test`). `local_api` is the exception: its tests are `#[ignore]`d and
//! run by `make test` against `cargo lambda watch` with
//! `cargo test --test api -- --ignored local_api::`. The tests that only read the repository's
//! files are a binary of their own, `tests/tests/repo/` (run by `make check`).

mod carts;
mod catalog;
mod cursor_secret;
mod discounts;
mod events;
mod exactly_once;
mod flash_sales;
mod guests;
mod holds;
mod hostile_input;
mod identity;
mod limits;
mod load;
mod local_api;
mod observability;
mod order_events;
mod orders;
mod outage;
mod purchase;
mod tls;
