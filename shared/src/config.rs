//! Configuration read once, at cold start, from the environment (or, in tests, from any [`Vars`]).
//!
//! Every table name has a default so that a developer's machine works without set-up; in AWS the
//! SAM template passes the real names. The clients' region, credentials and endpoints are read by
//! `store::client_config_from_vars` and `secrets`; the cursor key of the two functions that sign
//! cursors is read at their cold start by `secrets::cursor_secret` (`http::cold_start`).

use std::env;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{CheckoutPolicy, PaymentMode, UserId};
use crate::jwt::LocalJwks;
use crate::ApiError;

/// A source of environment variables: the process's ([`process_env`]) in Lambda, a map in tests.
pub type Vars<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment, as [`Vars`].
pub fn process_env(name: &str) -> Option<String> {
    env::var(name).ok()
}

/// Names of the tables, as `template.yaml` passes them to the functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    pub catalog: String,
    pub carts: String,
    pub orders: String,
    pub idempotency: String,
    pub discounts: String,
}

impl Tables {
    pub fn from_env() -> Self {
        Self::from_vars(&process_env)
    }

    pub fn from_vars(vars: Vars<'_>) -> Self {
        Self {
            catalog: var_or(vars, "CATALOG_TABLE", "cart-api-catalog"),
            carts: var_or(vars, "CARTS_TABLE", "cart-api-carts"),
            orders: var_or(vars, "ORDERS_TABLE", "cart-api-orders"),
            idempotency: var_or(vars, "IDEMPOTENCY_TABLE", "cart-api-idempotency"),
            discounts: var_or(vars, "DISCOUNTS_TABLE", "cart-api-discounts"),
        }
    }

    /// Fresh names sharing one prefix: how tests and benchmarks get tables of their own.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            catalog: format!("{prefix}-catalog"),
            carts: format!("{prefix}-carts"),
            orders: format!("{prefix}-orders"),
            idempotency: format!("{prefix}-idempotency"),
            discounts: format!("{prefix}-discounts"),
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
    /// The IAM principals the admin routes accept (`ADMIN_PRINCIPALS`); `None`: any principal
    /// that API Gateway's IAM authorizer let through (the `AdminPrincipals` parameter's empty
    /// default).
    pub admin_principals: Option<AdminPrincipals>,
}

impl Auth {
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(&process_env)
    }

    pub fn from_vars(vars: Vars<'_>) -> Result<Self, String> {
        let mode = AuthMode::parse(&var_or(vars, "AUTH_MODE", "jwt"))?;
        let jwks_file = vars("LOCAL_JWKS_FILE").filter(|v| !v.is_empty());
        let local_jwks = match jwks_file.filter(|_| mode == AuthMode::Jwt) {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("LOCAL_JWKS_FILE {path}: {e}"))?;
                let issuer = var_or(vars, "JWT_ISSUER", DEFAULT_JWT_ISSUER);
                let audience = var_or(vars, "JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE);
                let keys = LocalJwks::parse(&text, &issuer, &audience)
                    .map_err(|e| format!("LOCAL_JWKS_FILE {path}: {e}"))?;
                Some(Arc::new(keys))
            }
        };
        Ok(Self {
            mode,
            local_jwks,
            allow_unsigned_requests: flag(vars, "ALLOW_UNSIGNED_REQUESTS"),
            admin_principals: AdminPrincipals::parse(
                &vars("ADMIN_PRINCIPALS").unwrap_or_default(),
            )?,
        })
    }
}

/// The allow-list of the admin routes (`ADMIN_PRINCIPALS`, the template's `AdminPrincipals`):
/// comma-separated IAM principals, each an ARN (`arn:aws:iam::123456789012:user/ops`,
/// `arn:aws:iam::123456789012:role/catalog-admin`, an exact
/// `arn:aws:sts::123456789012:assumed-role/catalog-admin/session`) or a caller id
/// (`AIDA...`, `AROA...:session`). Which requests each admits: `http::identity::admin_principal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPrincipals(Vec<String>);

impl AdminPrincipals {
    /// The list, `None` when it names nobody (empty: every IAM principal is admitted), or why
    /// it is unusable: an entry with a wildcard or white space inside (IAM matches neither
    /// here; a silent non-match would lock every admin out, a silent glob let too many in).
    pub fn parse(list: &str) -> Result<Option<Self>, String> {
        let mut principals = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains(['*', '?']) || entry.contains(char::is_whitespace) {
                return Err(format!(
                    "ADMIN_PRINCIPALS: {entry:?} is not one IAM principal (no wildcards, no spaces)"
                ));
            }
            principals.push(entry.to_owned());
        }
        Ok((!principals.is_empty()).then_some(Self(principals)))
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }
}

/// The local issuer's `iss` and `aud` (`make dev`, `make token`).
pub const DEFAULT_JWT_ISSUER: &str = "cart-api-local";
pub const DEFAULT_JWT_AUDIENCE: &str = "cart-api";

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    pub auth: Auth,
    /// Key of the HMAC that makes listing and order cursors tamper-evident: set at the cold
    /// start of the two functions that sign cursors (`http::cold_start`, from `CURSOR_SECRET`
    /// or the secret `CURSOR_SECRET_ARN` names; they refuse to start without one), `None` in
    /// every other function. See [`Config::cursor_key`].
    pub cursor_secret: Option<Vec<u8>>,
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
    /// A guest's cart idle this long expires (`GUEST_CART_IDLE_HOURS`, 72), its holds released.
    pub guest_cart_idle_secs: i64,
    /// `hold`: the most units of one item a guest may hold (`MAX_GUEST_HELD_PER_ITEM`, 2):
    /// tighter than a signed-in user's, since a guest costs nothing to make.
    pub guest_max_held_per_item: u64,
    /// `PAYMENT_MODE` (`none`, or `external` with `PAYMENT_WINDOW_SECONDS`).
    pub payment: PaymentMode,
    /// The key Stripe signs its webhook events with (`STRIPE_WEBHOOK_SECRET`); without it the
    /// webhook refuses every event.
    pub stripe_webhook_secret: Option<Vec<u8>>,
}

impl Config {
    /// The configuration, or why it is unusable (the function then fails its cold start).
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(&process_env)
    }

    /// [`Config::from_env`] from any source of variables. No cursor key: `http::cold_start`
    /// reads it for the functions that need one.
    pub fn from_vars(vars: Vars<'_>) -> Result<Self, String> {
        Ok(Self {
            tables: Tables::from_vars(vars),
            auth: Auth::from_vars(vars)?,
            cursor_secret: None,
            list_read_budget: vars("LIST_READ_BUDGET")
                .and_then(|v| v.parse().ok())
                .filter(|n| (1..=10_000).contains(n))
                .unwrap_or(DEFAULT_LIST_READ_BUDGET),
            deadline_margin: millis(vars, "DEADLINE_MARGIN_MS", 500),
            request_budget: millis(vars, "REQUEST_BUDGET_MS", 9_000),
            checkout: checkout_from_vars(vars)?,
            cart_idle_secs: number(vars, "CART_IDLE_DAYS", 30) * 24 * 60 * 60,
            guest_cart_idle_secs: number(vars, "GUEST_CART_IDLE_HOURS", 72).max(1) * 60 * 60,
            guest_max_held_per_item: number(vars, "MAX_GUEST_HELD_PER_ITEM", 2).max(1) as u64,
            payment: PaymentMode::parse(
                &var_or(vars, "PAYMENT_MODE", "none"),
                number(
                    vars,
                    "PAYMENT_WINDOW_SECONDS",
                    PaymentMode::DEFAULT_WINDOW_SECONDS,
                ),
            )?,
            stripe_webhook_secret: vars("STRIPE_WEBHOOK_SECRET")
                .filter(|v| !v.is_empty())
                .map(String::into_bytes),
        })
    }

    /// The cursor key; in a function that was not given one (its `Endpoint::USES_CURSORS` is
    /// false, so its cold start read none) an internal error rather than a key anyone knows.
    pub fn cursor_key(&self) -> Result<&[u8], ApiError> {
        self.cursor_secret.as_deref().ok_or_else(|| {
            ApiError::Internal("this function was started without a cursor key".into())
        })
    }

    /// The checkout policy for `owner`: a guest holds at most `guest_max_held_per_item` units of
    /// an item.
    pub fn checkout_for(&self, owner: &UserId) -> CheckoutPolicy {
        match self.checkout {
            CheckoutPolicy::Hold {
                seconds,
                max_per_item,
                max_seconds,
            } if owner.is_guest() => CheckoutPolicy::Hold {
                seconds,
                max_per_item: max_per_item.min(self.guest_max_held_per_item),
                max_seconds,
            },
            policy => policy,
        }
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
    /// (tests give it local keys to verify tokens instead), unsigned admin calls allowed, any
    /// admin principal, a fixed cursor key.
    pub fn for_tables(tables: Tables) -> Self {
        Self {
            tables,
            auth: Auth {
                mode: AuthMode::Jwt,
                local_jwks: None,
                allow_unsigned_requests: true,
                admin_principals: None,
            },
            cursor_secret: Some(b"test-cursor-secret".to_vec()),
            list_read_budget: DEFAULT_LIST_READ_BUDGET,
            deadline_margin: Duration::from_millis(500),
            request_budget: Duration::from_secs(9),
            checkout: CheckoutPolicy::Latest,
            cart_idle_secs: 30 * 24 * 60 * 60,
            guest_cart_idle_secs: 72 * 60 * 60,
            guest_max_held_per_item: 2,
            payment: PaymentMode::None,
            stripe_webhook_secret: Some(b"whsec_test".to_vec()),
        }
    }
}

pub const DEFAULT_LIST_READ_BUDGET: u32 = 1_000;

fn checkout_from_vars(vars: Vars<'_>) -> Result<CheckoutPolicy, String> {
    let seconds = number(vars, "HOLD_SECONDS", CheckoutPolicy::DEFAULT_HOLD_SECONDS);
    let max = number(
        vars,
        "MAX_HELD_PER_ITEM",
        CheckoutPolicy::DEFAULT_MAX_HELD_PER_ITEM as i64,
    );
    // Unset, empty or 0 (the template's `MaxHoldSeconds` default): twice HOLD_SECONDS.
    let max_seconds = vars("MAX_HOLD_SECONDS")
        .and_then(|v| v.parse().ok())
        .filter(|seconds: &i64| *seconds != 0);
    CheckoutPolicy::parse(
        &var_or(vars, "CHECKOUT_POLICY", "latest"),
        seconds,
        max.max(0) as u64,
        max_seconds,
    )
}

fn number(vars: Vars<'_>, name: &str, default: i64) -> i64 {
    vars(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn millis(vars: Vars<'_>, name: &str, default: u64) -> Duration {
    let ms = vars(name).and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(default))
}

fn flag(vars: Vars<'_>, name: &str) -> bool {
    vars(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn var_or(vars: Vars<'_>, name: &str, default: &str) -> String {
    vars(name)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(&move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn no_admin_principals_admit_any_iam_principal() {
        for list in ["", " ", ",", " , ,"] {
            assert_eq!(AdminPrincipals::parse(list), Ok(None), "{list:?}");
        }
        assert_eq!(config(&[]).unwrap().auth.admin_principals, None);
    }

    #[test]
    fn admin_principals_are_trimmed_comma_separated_entries() {
        let list =
            AdminPrincipals::parse(" arn:aws:iam::123456789012:role/catalog-admin ,AIDAEXAMPLE,, ")
                .unwrap()
                .unwrap();

        assert_eq!(
            list.entries(),
            [
                "arn:aws:iam::123456789012:role/catalog-admin",
                "AIDAEXAMPLE"
            ]
        );
        let parsed = config(&[("ADMIN_PRINCIPALS", "AIDAEXAMPLE")]).unwrap();
        assert_eq!(
            parsed.auth.admin_principals.unwrap().entries(),
            ["AIDAEXAMPLE"]
        );
    }

    #[test]
    fn an_admin_principal_with_a_wildcard_or_a_space_refuses_the_configuration() {
        for list in [
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::*:user/ops",
            "arn:aws:iam::123456789012:user/o?s",
            "arn:aws:iam::123456789012:user/ops arn:aws:iam::123456789012:user/dev",
        ] {
            assert!(AdminPrincipals::parse(list).is_err(), "{list}");
            assert!(config(&[("ADMIN_PRINCIPALS", list)]).is_err(), "{list}");
        }
    }

    #[test]
    fn the_configuration_has_no_cursor_key_until_a_cold_start_reads_one() {
        let config = config(&[("CURSOR_SECRET", "set-but-read-by-the-cold-start")]).unwrap();

        assert_eq!(config.cursor_secret, None);
        assert!(config.cursor_key().is_err());
        let tests = Config::for_tables(Tables::with_prefix("t"));
        assert_eq!(tests.cursor_key().unwrap(), b"test-cursor-secret");
    }

    #[test]
    fn a_max_hold_of_zero_or_none_is_twice_the_hold() {
        let hold = [("CHECKOUT_POLICY", "hold"), ("HOLD_SECONDS", "600")];
        for max in [None, Some(""), Some("0")] {
            let mut vars = hold.to_vec();
            vars.extend(max.map(|m| ("MAX_HOLD_SECONDS", m)));
            let CheckoutPolicy::Hold { max_seconds, .. } = config(&vars).unwrap().checkout else {
                panic!("hold");
            };
            assert_eq!(max_seconds, 1200, "{max:?}");
        }
        let mut vars = hold.to_vec();
        vars.push(("MAX_HOLD_SECONDS", "3600"));
        let CheckoutPolicy::Hold { max_seconds, .. } = config(&vars).unwrap().checkout else {
            panic!("hold");
        };
        assert_eq!(max_seconds, 3600);
        vars.push(("MAX_HOLD_SECONDS", "300"));
        let below: Vec<_> = vars
            .iter()
            .filter(|(k, v)| *k != "MAX_HOLD_SECONDS" || *v == "300")
            .copied()
            .collect();
        assert!(config(&below).is_err(), "shorter than the hold itself");
    }
}
