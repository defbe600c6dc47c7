//! "Log in with Discord" for actix-web, on [`discord_oauth_core`] and `actix-session`.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, cookie::Key, web};
//! use discord_oauth_actix::{DiscordOAuth, DiscordUser, LoginConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
//!     .client_secret(std::env::var("DISCORD_CLIENT_SECRET")?)
//!     .build()?;
//! let discord = DiscordOAuth::new(config)?;
//! let key = Key::generate(); // load 64 bytes from configuration in production
//! HttpServer::new(move || {
//!     App::new()
//!         .configure(discord.routes())                         // the three login routes
//!         .route("/me", web::get().to(|u: DiscordUser| async move { u.username.clone() }))
//!         .wrap(discord.cookie_session(key.clone()))           // sessions, login state, refresh
//! })
//! .bind("127.0.0.1:3000")?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
//!
//! The routes behave exactly like `discord-oauth-tower`'s (both send the answers of
//! [`discord_oauth_core::login::answer`] and drive the flows of
//! [`discord_oauth_core::login::flow`]):
//! - `GET /auth/login?return_to=/path` → `303` to Discord; the pending login (state, PKCE
//!   verifier, where to return) goes into its own sealed cookie
//!   (`discord_oauth_core::login::pending_cookie`), up to 5 at a time; nothing is stored and
//!   the session is not touched (an anonymous visitor costs the server no state). A
//!   `return_to` over 512 bytes is a `400`.
//! - `GET /auth/callback` → opens the login cookie of its `state` and validates it (single
//!   use, constant time, expiry), exchanges the code,
//!   fetches `/users/@me`, renews the session, stores user + tokens, `303` to the validated
//!   `return_to`. Failures are friendly HTML pages: 400 for anything the browser sent, 502 when
//!   Discord misbehaves, 503 with `Retry-After` when Discord rate limits or cannot be reached.
//! - `POST /auth/logout` → ends the login first (forgotten by the fast path, remembered as
//!   ended so no copy of its session is served here, announced to the other instances with a
//!   [revocation broadcast](DiscordOAuthBuilder::revocation_broadcast)), purges the session,
//!   then revokes the grant at Discord (best effort), `303` to `/`. Other methods get `405` with `Allow: POST`; a cross-site `Origin` gets `403`.
//!
//! One middleware does the rest, [`DiscordSessions`] (built by
//! [`DiscordOAuth::session_middleware`] or [`DiscordOAuth::cookie_session`]): it `.wrap()`s the
//! whole app, so there is no order to get right. It keeps the sessions (actix-session's stores
//! and `Session` type, which holds the application's keys; the login is kept beside them in
//! the same stored session) and puts an [`AuthState`] into the extensions of every request outside
//! the login routes; if the access token expires within the refresh skew (5 min) it is
//! refreshed first, once per session: concurrent requests wait for that refresh and share its
//! result (across instances too with a `RedisRefreshLock`, feature `redis`).
//! Extractors: [`DiscordUser`], `Option<DiscordUser>` (`None` only for "nobody is logged in":
//! a failed store never reaches the handler, it is a `503`), [`DiscordToken`]; guards:
//! [`DiscordOAuth::require_guild`], [`DiscordOAuth::require_role`]. Names (`display_name()`,
//! `username`) are whatever the user typed into Discord: escape them in HTML
//! ([`core::login::html_escape`], or a template engine that escapes by default).
//!
//! The backend of a Discord Activity (Embedded App SDK token and refresh endpoints, websocket
//! tokens, proxy signatures) is in [`embedded`].
//!
//! The guide [`guides::sign_in`] walks from an empty project to a tested site: the handlers,
//! `main`, a test against the mock Discord (`discord-oauth-mock`'s `log_in_actix`), calling
//! Discord for the user, guild and role gating, and the production setup.
//!
//! # How we chose the defaults
//! - **Sessions**: a server-side store with [`DiscordOAuth::session_middleware`]:
//!   [`MemoryStore`] for one process (actix-session has no in-memory store; this one is
//!   bounded: 100,000 sessions, 256 MiB), actix-session's Redis store for several (feature
//!   `redis`, see [Several instances](#several-instances-redis)). The cookie is encrypted
//!   (private), `SameSite=Lax` (the callback is a cross-site redirect), `HttpOnly`, `Secure` +
//!   `__Host-` on https. The cookie store ([`DiscordOAuth::cookie_session`]) needs nothing
//!   server-side, but a copy of its cookie cannot be deleted: after a logout it is refused by
//!   the instances that know of the logout (this one, and those that hear its revocation
//!   broadcast) until they restart, and accepted by the others until it expires; a refresh is
//!   written with the response that triggered it.
//! - **Session expiry**: the cookie and the stored session expire 7 days after the last
//!   change (the idle timeout); an active session is marked changed about once a day, so this
//!   is an idle timeout. A session holding only logins in progress is stored until they expire
//!   (10 min), and holds nothing but the user and the tokens once logged in (plus other tabs'
//!   unexpired logins, dropped when they expire).
//! - **Store outages**: `503` with `Retry-After: 5` (an HTML page for browsers, JSON for API
//!   clients, plain text on the login routes), the cookie left alone, recovery without a
//!   restart; never an empty 500, never "logged out" ([`DiscordSessions`]). Every store
//!   operation is bounded by [`DiscordOAuthBuilder::store_timeout`] (2 s).
//! - **Refresh single flight**: keyed by (a digest of) the refresh token being spent, so every
//!   request carrying the same session shares one refresh; requests still carrying the old
//!   record within 60 s get the new one. Within one process by default; across instances
//!   with `RedisRefreshLock` (feature `redis`).
//! - **Idle timeout**: 7 days ([`LoginConfig::idle_timeout`]), the cookie's `Max-Age` and
//!   checked here too: a session in use is marked active about once a day (which re-sends the
//!   cookie), and one unused for longer ends, so a copy of an idle cookie stops working even
//!   though the cookie store keeps nothing server-side.
//! - **Authenticated fast path** ([`fast`]): a request whose exact `Cookie` header was seen
//!   logged in within the last 30 s skips the session cookie and the store (no decryption, no
//!   store read, no decoding) while its login is valid; a handler's changes to the session are
//!   still written. Logout on this instance takes effect on the next request; on other
//!   instances sharing a Redis store, within the 30 s
//!   (`DiscordOAuthBuilder::cache_ttl` sets it; zero turns the fast path off).
//! - **Requests to Discord**: at most 32 in flight ([`DiscordOAuthBuilder::max_concurrent_requests`]);
//!   after a global `429` nothing is sent until Discord's `retry_after` is over.
//! - **Transport**: reqwest with rustls ([`transport`]), not `awc`, see there.
//!
//! # Several instances (Redis)
//! With the cargo feature `redis`, sessions go to actix-session's `RedisSessionStore` on a
//! `deadpool-redis` pool (use the pool rather than `RedisSessionStore::new(url)`: the latter's
//! connection manager waits up to minutes between reconnection attempts, so requests would
//! hang during an outage and keep failing long after Redis is back; a pool fails fast and
//! reconnects on the next request). Every instance needs the same cookie key and Redis; with
//! `RedisBudget` ([`DiscordOAuthBuilder::shared_budget`]) they also count Discord's invalid
//! requests (`401`, `403`, `429`) together, so that one instance's stale tokens close the
//! others' budget too (within two sync intervals, 4 s by default):
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn run(config: discord_oauth_actix::LoginConfig, key: actix_web::cookie::Key) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, HttpServer};
//! use discord_oauth_actix::actix_session::storage::RedisSessionStore;
//! use discord_oauth_actix::{DiscordOAuth, RedisBudget, RedisRefreshLock, deadpool_redis};
//!
//! let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:6379")
//!     .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
//! let store = RedisSessionStore::new_pooled(pool.clone()).await?;
//! let discord = DiscordOAuth::builder(config, discord_oauth_actix::transport::ReqwestTransport::new()?)
//!     .refresh_lock(RedisRefreshLock::new(pool.clone()))
//!     .shared_budget(RedisBudget::new(pool))
//!     .build();
//! HttpServer::new(move || {
//!     App::new()
//!         .configure(discord.routes())
//!         .wrap(discord.session_middleware(store.clone(), key.clone()))
//! })
//! .bind("0.0.0.0:3000")?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod convert;
pub mod embedded;
pub mod events;
mod extract;
pub mod fast;
mod guard;
pub mod guides;
mod memory;
mod middleware;
mod outbound;
#[cfg(feature = "redis")]
mod redis;
pub mod revocation;
mod routes;
mod sessions;
mod shared;
mod snapshot;
pub mod transport;

pub use actix_session;
pub use client::{BotApi, DiscordClient, DiscordClientError, UserApi, UserClient};
#[cfg(feature = "redis")]
pub use deadpool_redis;
pub use discord_oauth_core as core;
pub use discord_oauth_core::api::BotToken;
pub use discord_oauth_core::api::client::{ApiDriverConfig, BotCalls, ClientError, UserCalls};
pub use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
pub use discord_oauth_core::login::{LoginConfig, Routes};
#[allow(deprecated)]
pub use extract::MaybeDiscordUser;
pub use extract::{AuthState, DiscordAuthExt, DiscordToken, DiscordUser, DiscordUserRejection};
pub use fast::{DEFAULT_FAST_PATH_CAPACITY, DEFAULT_FAST_PATH_TTL};
pub use guard::{RequireGuild, RequireGuildMiddleware};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_REDIS_PREFIX, Deadpool, RedisBudget, RedisRefreshLock};
#[cfg(feature = "redis")]
pub use revocation::RedisRevocations;
pub use sessions::{DiscordSessions, DiscordSessionsService, SessionCookie, SessionsFuture};
pub use shared::{BuildError, Clock, DEFAULT_STORE_TIMEOUT, DEFAULT_TIMEOUT, DiscordOAuth, DiscordOAuthBuilder};
pub use transport::{Transport, TransportError};
