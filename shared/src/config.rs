//! Configuration read once, at cold start, from the environment.
//!
//! Every table name has a default so that a developer's machine works without set-up; in AWS the
//! SAM template passes the real names. The DynamoDB endpoint is not configured here: the SDK reads
//! the standard `AWS_ENDPOINT_URL_DYNAMODB` itself.

use std::env;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::CheckoutPolicy;
use crate::jwt::LocalJwks;

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

/// How the cart, purchase and order routes know who is calling (`AUTH_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// A bearer JWT; the acting user is its `sub` (the default).
    Jwt,
    /// AWS_IAM-signed calls from the shop's own backend, which names the user (`user_id`).
    Iam,
}

impl AuthMode {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "jwt" => Ok(Self::Jwt),
            "iam" => Ok(Self::Iam),
            other => Err(format!("AUTH_MODE must be jwt or iam, not {other:?}")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Auth {
    pub mode: AuthMode,
    /// Locally, where no API Gateway authorizer runs, the functions verify bearer tokens
    /// against these keys. `None` in AWS: the template never sets `LOCAL_JWKS_FILE`, and the
    /// functions trust only the claims of API Gateway's JWT authorizer.
    pub local_jwks: Option<Arc<LocalJwks>>,
    /// IAM-authorized routes accept requests without an IAM identity: local development and
    /// tests only, never set in the template.
    pub allow_unsigned_requests: bool,
}

impl Auth {
    pub fn from_env() -> Result<Self, String> {
        let mode = AuthMode::parse(&var_or("AUTH_MODE", "jwt"))?;
        let jwks_file = env::var("LOCAL_JWKS_FILE").ok().filter(|v| !v.is_empty());
        let local_jwks = match jwks_file.filter(|_| mode == AuthMode::Jwt) {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("LOCAL_JWKS_FILE {path}: {e}"))?;
                let issuer = var_or("JWT_ISSUER", DEFAULT_JWT_ISSUER);
                let audience = var_or("JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE);
                let keys = LocalJwks::parse(&text, &issuer, &audience)
                    .map_err(|e| format!("LOCAL_JWKS_FILE {path}: {e}"))?;
                Some(Arc::new(keys))
            }
        };
        Ok(Self {
            mode,
            local_jwks,
            allow_unsigned_requests: flag("ALLOW_UNSIGNED_REQUESTS"),
        })
    }
}

/// The local issuer's `iss` and `aud` (`make dev`, `make token`).
pub const DEFAULT_JWT_ISSUER: &str = "cart-api-local";
pub const DEFAULT_JWT_AUDIENCE: &str = "cart-api";

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    pub auth: Auth,
    /// Key of the HMAC that makes listing cursors tamper-evident.
    pub cursor_secret: Vec<u8>,
    /// Most catalog entries one listing request may read when a name filter is given.
    pub list_read_budget: u32,
    /// One deadline per request bounds every loop and DynamoDB call: Lambda's deadline less
    /// this margin (`DEADLINE_MARGIN_MS`, 500), so the answer (a `503` if it comes to that)
    /// leaves before Lambda cuts the invocation off and API Gateway answers a bare 5xx.
    pub deadline_margin: Duration,
    /// The time a request gets where there is no Lambda deadline (the tests): `REQUEST_BUDGET_MS`,
    /// 9000.
    pub request_budget: Duration,
    /// `CHECKOUT_POLICY` (`latest`, or `hold` with `HOLD_SECONDS`, `MAX_HELD_PER_ITEM` and
    /// `MAX_HOLD_SECONDS`).
    pub checkout: CheckoutPolicy,
    /// A cart idle this long expires (`CART_IDLE_DAYS`, 30): it answers 404, its holds are
    /// released, and DynamoDB's TTL deletes it some time later.
    pub cart_idle_secs: i64,
}

impl Config {
    /// The configuration, or why it is unusable (the function then fails its cold start).
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            tables: Tables::from_env(),
            auth: Auth::from_env()?,
            cursor_secret: var_or("CURSOR_SECRET", "local-development-cursor-secret").into_bytes(),
            list_read_budget: env::var("LIST_READ_BUDGET")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| (1..=10_000).contains(n))
                .unwrap_or(DEFAULT_LIST_READ_BUDGET),
            deadline_margin: millis("DEADLINE_MARGIN_MS", 500),
            request_budget: millis("REQUEST_BUDGET_MS", 9_000),
            checkout: checkout_from_env()?,
            cart_idle_secs: number("CART_IDLE_DAYS", 30) * 24 * 60 * 60,
        })
    }

    /// How long a request may take from now: until Lambda's `deadline` (Unix milliseconds) less
    /// the margin; or the request budget where there is no plausible deadline (none, one already
    /// past, or one beyond Lambda's 15 minutes, as a local emulator may give).
    pub fn time_left(&self, deadline: u64) -> Duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let remaining = Duration::from_millis(deadline).checked_sub(now);
        match remaining.filter(|r| *r <= Duration::from_secs(15 * 60)) {
            Some(remaining) => remaining.saturating_sub(self.deadline_margin),
            None => self.request_budget,
        }
    }

    /// A configuration for tests: the given tables, `jwt` mode trusting API Gateway's claims
    /// (tests give it local keys to verify tokens instead), unsigned admin calls allowed, a
    /// fixed cursor key.
    pub fn for_tables(tables: Tables) -> Self {
        Self {
            tables,
            auth: Auth {
                mode: AuthMode::Jwt,
                local_jwks: None,
                allow_unsigned_requests: true,
            },
            cursor_secret: b"test-cursor-secret".to_vec(),
            list_read_budget: DEFAULT_LIST_READ_BUDGET,
            deadline_margin: Duration::from_millis(500),
            request_budget: Duration::from_secs(9),
            checkout: CheckoutPolicy::Latest,
            cart_idle_secs: 30 * 24 * 60 * 60,
        }
    }
}

pub const DEFAULT_LIST_READ_BUDGET: u32 = 1_000;

fn checkout_from_env() -> Result<CheckoutPolicy, String> {
    let seconds = number("HOLD_SECONDS", CheckoutPolicy::DEFAULT_HOLD_SECONDS);
    let max = number(
        "MAX_HELD_PER_ITEM",
        CheckoutPolicy::DEFAULT_MAX_HELD_PER_ITEM as i64,
    );
    let max_seconds = env::var("MAX_HOLD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok());
    CheckoutPolicy::parse(
        &var_or("CHECKOUT_POLICY", "latest"),
        seconds,
        max.max(0) as u64,
        max_seconds,
    )
}

fn number(name: &str, default: i64) -> i64 {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn millis(name: &str, default: u64) -> Duration {
    let ms = env::var(name).ok().and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(default))
}

fn flag(name: &str) -> bool {
    env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

fn var_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
