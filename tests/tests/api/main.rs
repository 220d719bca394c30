//! The integration tests: one binary, so the AWS SDK and the handlers are linked once.
//!
//! Every module starts from `testkit::TestApp`, which gives each test its own tables in DynamoDB
//! Local (started by `make test`). `local_api` is the exception: its tests are `#[ignore]`d and
//! run by `make test` against `cargo lambda watch` with
//! `cargo test --test api -- --ignored local_api::`.

mod carts;
mod catalog;
mod consistency;
mod dependencies;
mod events;
mod exactly_once;
mod holds;
mod hostile_input;
mod identity;
mod load;
mod local_api;
mod openapi;
mod outage;
mod purchase;

use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of the repository, by its path from the root.
fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
