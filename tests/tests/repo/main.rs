//! The tests that only read the repository's files: no DynamoDB, no network, no service. One
//! binary, run by `make check` (and so by `make test`) with only Rust installed:
//! `cargo test -p testkit --test repo`.
//!
//! - `consistency`: the function crates, `template.yaml`, the local router in `Cargo.toml`,
//!   `events/` and the table schema agree.
//! - `openapi`: `openapi.yaml` documents exactly the routes served and the problem codes answered.
//! - `dependencies`: every dependency is used, the lock file is committed, and `deny.toml` bans
//!   what the functions must not link (`cargo deny check` enforces it).
//! - `asyncapi`: `asyncapi.yaml` has a message per order event, valid for each event the
//!   publisher makes, in schemas the tests' validator checks in full.
//! - `contention`: the test kit's model of DynamoDB under contention (pure: no files either).
//! - `sam_template`: `template.yaml` as `sam local` runs it keeps the template's routes,
//!   functions and environment, in a shape SAM CLI reads.

mod asyncapi;
mod consistency;
mod contention;
mod dependencies;
mod openapi;
mod sam_template;

use testkit::repo::{read, root};
