//! The application layer: the loops that read, decide with a rule of `domain`, write through
//! `store` and try again when what they read changed meanwhile. One function per loop: the
//! purchase ([`purchase`]), the cart writes ([`carts`]), the admin's item writes ([`items`]),
//! discount codes ([`discounts`]),
//! an order's transitions ([`orders`]), the publishing of their events ([`order_events`]),
//! the sweep's care of split items ([`shards`]),
//! and the one every keyed write runs in ([`keys::exactly_once`]; start there to learn how an
//! idempotency key works).
//!
//! Nothing here knows HTTP: a loop takes domain types and gives a [`Reply`] or an `ApiError`;
//! `http` parses the request before and renders the reply after.

pub mod carts;
pub mod discounts;
pub mod items;
pub mod keys;
pub mod order_events;
pub mod orders;
pub mod purchase;
pub mod shards;

use crate::config::{process_env, Vars};
use crate::domain::Receipt;
use crate::{Config, Store};

/// What every invocation borrows: built once per cold start.
pub struct AppState {
    pub config: Config,
    pub store: Store,
}

impl AppState {
    /// The state of a function, or why its configuration is unusable.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(&process_env)
    }

    /// [`AppState::from_env`] from any source of variables (no cursor key: see
    /// `http::cold_start`).
    pub fn from_vars(vars: Vars<'_>) -> Result<Self, String> {
        let config = Config::from_vars(vars)?;
        let store = Store::from_vars(vars, config.tables.clone());
        let store = store
            .with_cart_idle(config.cart_idle_secs)
            .with_guest_cart_idle(config.guest_cart_idle_secs);
        Ok(Self { config, store })
    }
}

/// An answer, as a key's record keeps it: a status, the JSON body byte for byte, the version its
/// `ETag` names (if any), and whether it is a key's first answer sent again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub version: Option<u64>,
    pub replayed: bool,
}

impl Reply {
    /// A first answer.
    pub fn new(status: u16, body: String, version: Option<u64>) -> Self {
        Self {
            status,
            body,
            version,
            replayed: false,
        }
    }

    /// What a key answered the first time, again.
    pub fn replay(receipt: Receipt) -> Self {
        Self {
            status: receipt.status,
            body: receipt.body,
            version: receipt.version,
            replayed: true,
        }
    }
}
