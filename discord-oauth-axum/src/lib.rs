//! "Log in with Discord" for axum.
//!
//! Add the layers once, then ask for the user in any handler:
//!
//! ```no_run
//! use axum::{Router, routing::get, Json};
//! use discord_oauth_axum::{DiscordOAuth, DiscordUser, LoginConfig, MemoryStore};
//!
//! async fn me(user: DiscordUser) -> String {
//!     format!("Hello, {}!", user.display_name())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
//!     .client_secret(std::env::var("DISCORD_CLIENT_SECRET")?)
//!     .build()?;
//! let app = DiscordOAuth::new(config)?.mount(Router::new().route("/me", get(me)), MemoryStore::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! [`DiscordOAuth::mount`] returns a `Router`, to go on composing; [`DiscordOAuth::wrap`]
//! returns the whole application as one service ([`DiscordApp`]), with the login layer in
//! front of the router instead of around each route: the same answers, about 500 instructions
//! less per request (the sample site uses it; BENCHMARKS.md has the figures).
//!
//! Extractors:
//! - [`DiscordUser`]: the logged-in user. Not logged in: `303` to the login route (coming back
//!   afterwards) for a browser `GET` that accepts HTML, `401` JSON otherwise.
//! - `Option<DiscordUser>`: never rejects for a logged-out user.
//! - [`DiscordToken`]: a fresh access token to call Discord on the user's behalf.
//! - [`DiscordClient`]: calls Discord as the user (rate limits, read cache, invalid-request
//!   budget).
//!
//! Names (`display_name()`, `username`) are whatever the user typed into Discord: escape them
//! in HTML ([`core::login::html_escape`], or a template engine that escapes by default).
//!
//! All rejections answer `503` when the session store is down (never "logged out" by
//! mistake) and `500` naming the fix when the layer is missing.
//!
//! [`guides`]: signing in ([`guides::sign_in`]), testing your app against the mock Discord
//! ([`guides::testing`]), calling Discord for the user ([`guides::calling_discord`]), guild and
//! role gating ([`guides::guild_gating`]), production with Redis and key rotation
//! ([`guides::production`]), Discord's webhook events ([`guides::webhook_events`]), the
//! backend of a Discord Activity ([`guides::activity_backend`]).
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod embedded;
pub mod events;
mod extract;
pub mod guides;

pub use client::{DiscordClient, DiscordClientError};
pub use discord_oauth_core as core;
pub use discord_oauth_core::api::BotToken;
pub use discord_oauth_core::api::client::{ApiDriverConfig, BotCalls, ClientError, UserCalls};
#[cfg(feature = "key-rotation")]
pub use discord_oauth_tower::SessionKeyRotationLayer;
pub use discord_oauth_tower::{
    AuthState, Clock, DEFAULT_CACHE_TTL, DiscordApi, DiscordOAuthLayer, LoginConfig, MemoryStore, RefreshLocks, Routes,
    SharedLock, lock, session_cookie_name, session_layer, tower_sessions, transport,
};
pub use discord_oauth_tower::{BotApi, UserApi, UserClient};
#[cfg(feature = "redis")]
pub use discord_oauth_tower::{RedisBudget, RedisRefreshLock, RedisRevocations};
pub use embedded::{EmbeddedBackend, WebsocketUser};
pub use extract::{DiscordToken, DiscordUser, DiscordUserRejection};

use axum::Router;
use discord_oauth_tower::tower_sessions::SessionStore;
use discord_oauth_tower::tower_sessions::service::CookieController;

/// The application as one tower `Service`, built by [`DiscordOAuth::wrap`] (`C`: the session
/// cookie's protection, plain by default; [`DiscordOAuth::wrap_with`] can make it signed or
/// private): the fast path in front, the session layer and [`DiscordOAuthLayer`] behind it,
/// the router inside both. It answers `axum::extract::Request`s with `axum::response::Response`s
/// and never fails (`Infallible`).
pub type DiscordApp<S, C = tower_sessions::service::PlaintextCookie> = discord_oauth_tower::FastPath<
    Router,
    <tower_sessions::SessionManagerLayer<S, C> as tower::Layer<discord_oauth_tower::DiscordOAuthService<Router>>>::Service,
    S,
>;

/// One-line mounting: wraps a router with the session layer and [`DiscordOAuthLayer`], so the
/// login routes are served and every handler can extract the user.
#[derive(Debug, Clone)]
pub struct DiscordOAuth {
    layer: DiscordOAuthLayer,
}

impl DiscordOAuth {
    /// With the default transport (reqwest + rustls).
    #[cfg(feature = "reqwest")]
    pub fn new(config: LoginConfig) -> Result<Self, discord_oauth_tower::BuildError> {
        Ok(Self {
            layer: DiscordOAuthLayer::new(config)?,
        })
    }

    /// From a layer you built (custom transport, timeouts, cache settings).
    pub fn from_layer(layer: DiscordOAuthLayer) -> Self {
        Self { layer }
    }

    /// The login configuration.
    pub fn config(&self) -> &LoginConfig {
        self.layer.config()
    }

    /// The layer itself.
    pub fn layer(&self) -> DiscordOAuthLayer {
        self.layer.clone()
    }

    /// The application's bot client ([`BotApi`], calls of [`BotCalls`]): the same driver as
    /// [`DiscordClient`]'s calls (budget, rate limits keyed by the bot token, read cache).
    /// Keep it in the router's state, or in an `Extension`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_axum::{BotCalls, BotToken, DiscordOAuth, LoginConfig};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(discord_oauth_axum::core::Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?)
    /// #     .build()?;
    /// let bot = DiscordOAuth::new(config)?.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    /// let app = bot.current_application().await?;
    /// assert_eq!(app.id.to_string(), fixture::CLIENT_ID);
    /// # Ok(()) }
    /// ```
    pub fn bot_api(&self, token: BotToken) -> BotApi {
        self.layer.bot_api(token)
    }

    /// Adds the login routes and session handling to `router`, with sessions kept in `store`.
    ///
    /// Requests of logged-in users whose session is in the layer's cache take the
    /// authenticated fast path (see [`discord_oauth_tower::fast`]): they skip the session
    /// layer, and handlers still get the user and a lazily loaded
    /// `tower_sessions::Session`. Requests without a session cookie (anonymous visitors) skip
    /// it too: their handlers get an empty `Session`, saved through the session layer (with
    /// its cookie) only if they put something in it.
    pub fn mount<S: SessionStore + Clone>(&self, router: Router, store: S) -> Router {
        self.mount_with(router, store, |sessions| sessions)
    }

    /// Like [`DiscordOAuth::mount`], adjusting the session layer built by [`session_layer`]
    /// (e.g. `|s| s.with_private(key)` to encrypt the cookie, with tower-sessions' `private`
    /// feature, as the axum sample site does).
    ///
    /// ```no_run
    /// use axum::Router;
    /// use discord_oauth_axum::{DiscordOAuth, LoginConfig, MemoryStore};
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://app.example/auth/callback")
    ///     .client_secret("…")
    ///     .build()?;
    /// // Sessions end after a day without activity instead of seven.
    /// let app = DiscordOAuth::new(config)?.mount_with(Router::new(), MemoryStore::default(), |s| {
    ///     s.with_expiry(discord_oauth_axum::tower_sessions::Expiry::OnInactivity(
    ///         discord_oauth_axum::tower_sessions::cookie::time::Duration::days(1),
    ///     ))
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Security
    /// Keep `SameSite=Lax` (or `None` with `Secure` inside an iframe): with `Strict` the
    /// session cookie does not come back on Discord's redirect and every login fails. Keep
    /// the cookie's name ([`session_cookie_name`]): a request without a cookie of that name
    /// is served as an anonymous visitor's without the session layer.
    pub fn mount_with<S, C>(
        &self,
        router: Router,
        store: S,
        customize: impl FnOnce(tower_sessions::SessionManagerLayer<S>) -> tower_sessions::SessionManagerLayer<S, C>,
    ) -> Router
    where
        S: SessionStore + Clone,
        C: CookieController + Sync,
    {
        let sessions = customize(session_layer(store.clone(), self.layer.config()));
        router.layer(self.layer.fast_path_layer(sessions, store))
    }

    /// The whole application as one service: `router` with the login routes and session
    /// handling around it, sessions kept in `store`. The same requests get the same answers
    /// as with [`DiscordOAuth::mount`], but the login layer runs once, before routing, where
    /// `mount`'s `Router::layer` wraps (and boxes) each route a second time: about 500
    /// instructions less per request (BENCHMARKS.md). Serve it with axum's
    /// `into_make_service`; routes added to `router` before count, and layers that must see
    /// every request (key rotation) go around the result.
    ///
    /// ```no_run
    /// use axum::{Router, ServiceExt, extract::Request, routing::get};
    /// use discord_oauth_axum::{DiscordOAuth, DiscordUser, LoginConfig, MemoryStore};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = LoginConfig::builder("1100000000000000001", "https://app.example/auth/callback")
    ///     .client_secret("…")
    ///     .build()?;
    /// let routes = Router::new().route("/me", get(|user: DiscordUser| async move { user.id.to_string() }));
    /// let app = DiscordOAuth::new(config)?.wrap(routes, MemoryStore::default());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await?;
    /// # Ok(()) }
    /// ```
    pub fn wrap<S: SessionStore + Clone>(&self, router: Router, store: S) -> DiscordApp<S> {
        self.wrap_with(router, store, |sessions| sessions)
    }

    /// [`DiscordOAuth::wrap`] with the session layer adjusted, as [`DiscordOAuth::mount_with`]
    /// (the same settings, and the same advice: keep `SameSite=Lax` and the cookie's name).
    pub fn wrap_with<S, C>(
        &self,
        router: Router,
        store: S,
        customize: impl FnOnce(tower_sessions::SessionManagerLayer<S>) -> tower_sessions::SessionManagerLayer<S, C>,
    ) -> DiscordApp<S, C>
    where
        S: SessionStore + Clone,
        C: CookieController + Sync,
    {
        let sessions = customize(session_layer(store.clone(), self.layer.config()));
        tower::Layer::layer(&self.layer.fast_path_layer(sessions, store), router)
    }

    /// Like [`DiscordOAuth::mount_with`] without the fast path: every request goes through
    /// the session layer (for handlers that call `Session::cycle_id` or `Session::flush` on
    /// logged-in requests, see [`discord_oauth_tower::fast`]).
    pub fn mount_without_fast_path<S, C>(
        &self,
        router: Router,
        sessions: tower_sessions::SessionManagerLayer<S, C>,
    ) -> Router
    where
        S: SessionStore + Clone,
        C: CookieController + Sync,
    {
        router.layer(self.layer.clone()).layer(sessions)
    }
}
