//! "Log in with Discord" as a tower middleware.
//!
//! [`DiscordOAuthLayer`] serves three routes and guards nothing by itself:
//! - `GET /auth/login?return_to=/path` → `303` to Discord; the pending login (state, PKCE
//!   verifier, where to return) goes into its own sealed cookie
//!   (`discord_oauth_core::login::pending_cookie`), up to 5 at a time so several tabs can log
//!   in at once. Nothing is stored: an anonymous visitor costs the server no state, and the
//!   session store is not read. A `return_to` over 512 bytes is a `400`.
//! - `GET /auth/callback` → opens the login cookie of its `state` and validates it (single use,
//!   constant time, expiry), exchanges the code,
//!   fetches `/users/@me`, issues a new session id, stores user + tokens, `303` to the
//!   validated `return_to`. Failures are friendly HTML pages: 400 for anything the browser
//!   sent, 502 when Discord misbehaves, 503 (with `Retry-After`) when Discord rate limits or
//!   cannot be reached, or the session store is down. Never a panic, never a 500.
//! - `POST /auth/logout` → ends the session first (out of the cache and the fast path, out of
//!   the store, remembered as ended and announced to the other instances, see [`revocation`]),
//!   then revokes the grant at Discord (best effort), `303` to `/`. `GET` is `405`.
//!
//! Sessions: [`MemoryStore`] is the bounded in-process store for one instance (100,000
//! sessions, 256 MiB); use any `tower-sessions` store (e.g. Redis) for several.
//!
//! Every other request gets an [`AuthState`] in its extensions. If the access token expires
//! within the refresh skew (5 min), it is refreshed first, once per session: concurrent
//! requests wait for that refresh and share its result, because Discord's refresh tokens work
//! once. A refresh token Discord rejects logs the user out.
//!
//! ## Several instances
//!
//! Behind a load balancer, give every instance the same session store (e.g.
//! `tower-sessions-redis-store`), the same cookie key (rotated with `SessionKeyRotationLayer`,
//! cargo feature `key-rotation`), and a shared [`SharedLock`] (`RedisRefreshLock`, cargo
//! feature `redis`). Then:
//! - a login on one instance is valid on all of them;
//! - a refresh happens once per session across instances: the others wait for the lock, then
//!   re-read the session from the store and use the new tokens;
//! - each instance keeps decoded sessions in memory for up to the cache TTL (30 s by default,
//!   [`DiscordOAuthLayerBuilder::cache_ttl`]); with a revocation broadcast
//!   ([`DiscordOAuthLayerBuilder::revocation_broadcast`], `RedisRevocations`) a logout on one
//!   instance ends the session in every instance's cache at once, without one within the TTL.
//!   Tokens are never refreshed from the cache: the refresh re-reads the store.
//! - with a shared budget ([`DiscordOAuthLayerBuilder::shared_budget`], `RedisBudget`, cargo
//!   feature `redis`) the instances count Discord's invalid requests (`401`, `403`, `429`)
//!   together: one instance's stale tokens close the others' budget too, within two sync
//!   intervals (4 s by default); without one each instance counts its own.
//! - every instance needs the same login cookie key
//!   (`LoginConfigBuilder::login_cookie_key`), so that a login started on one can finish on
//!   another.
//! - a store outage answers `503` with `Retry-After` (sessions cached here keep working until
//!   their cache entry expires); nobody is logged out by it.
//!
//! Framework crates (`discord-oauth-axum`) turn [`AuthState`] into extractors.
//!
//! Everything Discord-specific that is not IO lives in `discord-oauth-core`; this crate is
//! the glue to tower, tower-sessions and an HTTP client.
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod anonymous;
mod extension;
pub mod fast;
mod guard;
mod layer;
pub mod lock;
pub mod memory;
#[cfg(feature = "redis")]
mod redis;
pub mod revocation;
#[cfg(feature = "key-rotation")]
pub mod rotation;
mod service;
mod shared;
pub mod transport;
mod user_api;

pub use discord_oauth_core as core;
pub use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
pub use discord_oauth_core::login::{LoginConfig, Routes};
pub use discord_oauth_runtime::{Outbound, OutboundSlot};
pub use extension::AuthState;
pub use fast::{DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL};
pub use fast::{FastPath, FastPathFuture, FastPathLayer};
pub use guard::{RequireGuild, RequireGuildLayer};
pub use layer::{
    DEFAULT_TIMEOUT, DiscordApi, DiscordOAuthLayer, DiscordOAuthLayerBuilder, session_cookie_name, session_layer,
};
#[cfg(feature = "redis")]
pub use lock::RedisRefreshLock;
pub use lock::{RefreshLocks, SharedLock};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisBudget;
#[cfg(feature = "redis")]
pub use revocation::RedisRevocations;
#[cfg(feature = "key-rotation")]
pub use rotation::{SessionKeyRotation, SessionKeyRotationLayer};
pub use service::{Clock, DiscordOAuthFuture, DiscordOAuthService};
pub use shared::ResponseFuture;
pub use tower_sessions;
pub use transport::{Transport, TransportError};
pub use user_api::{BotApi, UserApi, UserClient};

/// The layer could not be built (the default HTTP client failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the Discord HTTP client: {0}")]
pub struct BuildError(String);
