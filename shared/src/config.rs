//! Configuration read once, at cold start, from the environment.
//!
//! Every table name has a default so that a developer's machine works without set-up; in AWS the
//! SAM template passes the real names. The DynamoDB endpoint is not configured here: the SDK reads
//! the standard `AWS_ENDPOINT_URL_DYNAMODB` itself.

use std::env;

/// Names of the four tables, as `template.yaml` passes them to the functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    pub catalog: String,
    pub carts: String,
    pub orders: String,
    pub idempotency: String,
}

impl Tables {
    pub fn from_env() -> Self {
        Self {
            catalog: var_or("CATALOG_TABLE", "cart-api-catalog"),
            carts: var_or("CARTS_TABLE", "cart-api-carts"),
            orders: var_or("ORDERS_TABLE", "cart-api-orders"),
            idempotency: var_or("IDEMPOTENCY_TABLE", "cart-api-idempotency"),
        }
    }

    /// Four fresh names sharing one prefix: how tests and benchmarks get tables of their own.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            catalog: format!("{prefix}-catalog"),
            carts: format!("{prefix}-carts"),
            orders: format!("{prefix}-orders"),
            idempotency: format!("{prefix}-idempotency"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    /// Admin routes are IAM-authorized in AWS. Locally there is no IAM identity, so `make dev`
    /// and the tests set this to `true`; it is never set in `template.yaml`.
    pub allow_unauthenticated_admin: bool,
    /// Key of the HMAC that makes listing cursors tamper-evident.
    pub cursor_secret: Vec<u8>,
    /// Most catalog entries one listing request may read when a name filter is given.
    pub list_read_budget: u32,
}

impl Config {
    pub fn from_env() -> Self {
        Self {
            tables: Tables::from_env(),
            allow_unauthenticated_admin: env::var("ALLOW_UNAUTHENTICATED_ADMIN")
                .map(|v| v.eq_ignore_ascii_case("true"))
                .unwrap_or(false),
            cursor_secret: var_or("CURSOR_SECRET", "local-development-cursor-secret").into_bytes(),
            list_read_budget: env::var("LIST_READ_BUDGET")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| (1..=10_000).contains(n))
                .unwrap_or(DEFAULT_LIST_READ_BUDGET),
        }
    }

    /// A configuration for tests: the given tables, admin open, a fixed cursor key.
    pub fn for_tables(tables: Tables) -> Self {
        Self {
            tables,
            allow_unauthenticated_admin: true,
            cursor_secret: b"test-cursor-secret".to_vec(),
            list_read_budget: DEFAULT_LIST_READ_BUDGET,
        }
    }
}

pub const DEFAULT_LIST_READ_BUDGET: u32 = 1_000;

fn var_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
