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
//!         .wrap(discord.middleware())                          // AuthState + refresh
//!         .wrap(discord.cookie_session(key.clone()))           // the session cookie
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
//!   verifier, where to return) goes into the session, up to 5 at a time.
//! - `GET /auth/callback` → validates `state` (single use, constant time), exchanges the code,
//!   fetches `/users/@me`, renews the session, stores user + tokens, `303` to the validated
//!   `return_to`. Failures are friendly HTML pages: 400 for anything the browser sent, 502 when
//!   Discord misbehaves, 503 with `Retry-After` when Discord rate limits or cannot be reached.
//! - `POST /auth/logout` → revokes the grant at Discord (best effort), purges the session,
//!   `303` to `/`. Other methods get `405` with `Allow: POST`; a cross-site `Origin` gets `403`.
//!
//! Every other request passes [`DiscordAuth`], which puts an [`AuthState`] into the request
//! extensions; if the access token expires within the refresh skew (5 min) it is refreshed
//! first, once per session: concurrent requests wait for that refresh and share its result.
//! Extractors: [`DiscordUser`], [`MaybeDiscordUser`] (and `Option<DiscordUser>`),
//! [`DiscordToken`]; guards: [`DiscordOAuth::require_guild`], [`DiscordOAuth::require_role`].
//!
//! The backend of a Discord Activity (Embedded App SDK token and refresh endpoints, websocket
//! tokens, proxy signatures) is in [`embedded`].
//!
//! # How we chose the defaults
//! - **Sessions**: actix-session with the cookie store ([`DiscordOAuth::cookie_session`]):
//!   nothing to run, the cookie is encrypted (private), `SameSite=Lax` (the callback is a
//!   cross-site redirect), `HttpOnly`, `Secure` + `__Host-` on https. Its limits: a copied
//!   cookie stays valid until it expires, even after logout, and a refresh is written with the
//!   response that triggered it. For several instances, or when logout must kill every copy,
//!   use a server-side store (feature `redis-session`) with
//!   [`DiscordOAuth::session_middleware`].
//! - **Refresh single flight**: keyed by (a digest of) the refresh token being spent, so every
//!   request carrying the same session shares one refresh; requests still carrying the old
//!   record within 60 s get the new one. This holds within one process.
//! - **Transport**: reqwest with rustls ([`transport`]), not `awc`, see there.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod convert;
pub mod embedded;
mod extract;
mod guard;
mod middleware;
mod routes;
mod shared;
pub mod transport;

pub use actix_session;
pub use discord_oauth_core as core;
pub use discord_oauth_core::login::{LoginConfig, Routes};
pub use extract::{AuthState, DiscordAuthExt, DiscordToken, DiscordUser, DiscordUserRejection, MaybeDiscordUser};
pub use guard::{RequireGuild, RequireGuildMiddleware};
pub use middleware::{DiscordAuth, DiscordAuthMiddleware};
pub use shared::{BuildError, Clock, DEFAULT_TIMEOUT, DiscordOAuth, DiscordOAuthBuilder};
pub use transport::{Transport, TransportError};
