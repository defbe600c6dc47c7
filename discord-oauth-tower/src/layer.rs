//! [`DiscordOAuthLayer`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::login::{LoginConfig, LoginError};
use tower::Layer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use crate::fast::{CookieIndex, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL};
use discord_oauth_core::login::flow::GuildRequirement;
use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;

use crate::fast::FastPath;
use crate::guard::RequireGuildLayer;
use crate::lock::RefreshLocks;
use crate::revocation::Broadcast;
use crate::service::{Clock, DiscordOAuthService, Shared};
use crate::transport::Transport;
use discord_oauth_core::login::revocation::Revocations;
use discord_oauth_runtime::{Io, Outbound};

/// The default time limit for one request to Discord.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A tower layer that adds "Log in with Discord" to a service: it serves the login, callback
/// and logout routes of its [`LoginConfig`] and puts an [`crate::AuthState`] into the
/// extensions of every other request.
///
/// It needs a `tower_sessions::SessionManagerLayer` outside it; [`session_layer`] builds one
/// with the right cookie settings.
///
/// ```no_run
/// use discord_oauth_core::login::{LoginConfig, LoginError};
/// use discord_oauth_tower::{DiscordOAuthLayer, session_layer};
/// use tower::ServiceBuilder;
/// use tower_sessions::MemoryStore;
///
/// let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
///     .client_secret("…")
///     .build()?;
/// let layers = ServiceBuilder::new()
///     .layer(session_layer(MemoryStore::default(), &config))
///     .layer(DiscordOAuthLayer::new(config)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DiscordOAuthLayer {
    shared: Arc<Shared>,
}

#[cfg(feature = "reqwest")]
impl DiscordOAuthLayer {
    /// A layer with the default transport (reqwest + rustls) and default settings.
    pub fn new(config: LoginConfig) -> Result<Self, crate::BuildError> {
        let transport = crate::transport::ReqwestTransport::new().map_err(|e| crate::BuildError(e.to_string()))?;
        Ok(DiscordOAuthLayer::builder(config, transport).build())
    }
}

impl DiscordOAuthLayer {
    /// A builder with a transport of your choice.
    pub fn builder(config: LoginConfig, transport: impl Transport) -> DiscordOAuthLayerBuilder {
        DiscordOAuthLayerBuilder {
            config,
            transport: Arc::new(transport),
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(std::time::SystemTime::now),
            refresh: RefreshLocks::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            broadcast: None,
            api: ApiDriverConfig::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LoginConfig {
        self.shared.config()
    }

    /// The authenticated fast path (see [`crate::fast`]): a service that sends requests of
    /// logged-in users whose session is in this layer's cache straight to `app`, with the
    /// user and a lazily loaded `tower_sessions::Session` in the extensions, and every other
    /// request to `slow`.
    ///
    /// `slow` must be `app` wrapped in this layer and a session layer that keeps sessions in
    /// `store` ([`session_layer`] or your own). With a cache TTL of zero (or capacity zero)
    /// every request goes to `slow`. `discord-oauth-axum`'s `DiscordOAuth::mount` sets this
    /// up for you.
    ///
    /// ```no_run
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_tower::{DiscordOAuthLayer, session_layer};
    /// use tower::{Layer, service_fn};
    /// use tower_sessions::MemoryStore;
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
    ///     .client_secret("…")
    ///     .build()?;
    /// let store = MemoryStore::default();
    /// let sessions = session_layer(store.clone(), &config);
    /// let layer = DiscordOAuthLayer::new(config)?;
    /// let app = service_fn(|_req: http::Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
    /// });
    /// let slow = sessions.layer(layer.layer(app.clone()));
    /// let service = layer.fast_path(app, slow, store);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fast_path<F, S, St>(&self, app: F, slow: S, store: St) -> FastPath<F, S, St> {
        FastPath::new(app, slow, store, Arc::clone(&self.shared))
    }

    /// [`DiscordOAuthLayer::fast_path`] as a layer: every service it wraps gets a
    /// [`FastPath`] whose normal side is `sessions` around this layer around that service.
    /// For `axum::Router::layer` (what `discord-oauth-axum`'s `mount` uses): routing happens
    /// once, before either side.
    pub fn fast_path_layer<L, St>(&self, sessions: L, store: St) -> crate::fast::FastPathLayer<L, St> {
        crate::fast::FastPathLayer::new(self.clone(), sessions, store)
    }

    /// A guard layer letting through only members of `guild_id`. Add it inside this layer,
    /// on the routes to protect. Needs the `guilds` or `guilds.members.read` scope.
    pub fn require_guild(&self, guild_id: u64) -> RequireGuildLayer {
        RequireGuildLayer::new(
            Arc::clone(&self.shared),
            GuildRequirement {
                guild_id,
                role_id: None,
            },
        )
    }

    /// A guard layer letting through only members of `guild_id` who have `role_id`. Needs the
    /// `guilds.members.read` scope.
    pub fn require_role(&self, guild_id: u64, role_id: u64) -> RequireGuildLayer {
        RequireGuildLayer::new(
            Arc::clone(&self.shared),
            GuildRequirement {
                guild_id,
                role_id: Some(role_id),
            },
        )
    }

    /// Ends every session of `user_id` that started up to now, on this instance at once and,
    /// with a [revocation broadcast](DiscordOAuthLayerBuilder::revocation_broadcast), on the
    /// others ("log out of all devices"; also what `POST /auth/logout?everywhere=1` does for
    /// the logged-in user). Their next request is anonymous.
    ///
    /// ```no_run
    /// # async fn f(layer: discord_oauth_tower::DiscordOAuthLayer) {
    /// layer.end_sessions_of(80351110224678912).await;
    /// # }
    /// ```
    pub async fn end_sessions_of(&self, user_id: u64) {
        let now = self.shared.now();
        self.shared
            .revoke(discord_oauth_core::login::revocation::Revocation::of_user(user_id, now))
            .await;
    }

    /// The layer's driver of users' API calls (rate limits, invalid-request budget, read
    /// cache), for calls outside a request, e.g. a background job with a stored token. In
    /// handlers, `discord-oauth-axum`'s `DiscordClient` uses the same one.
    pub fn user_api(&self) -> crate::UserApi {
        self.shared.user_api()
    }

    /// The application's bot client ([`crate::BotApi`]: `GET /oauth2/applications/@me`,
    /// `PUT /guilds/{guild.id}/members/{user.id}`, any call with `Authorization: Bot …`),
    /// through the same driver as users' calls, its rate limits keyed by the bot token.
    ///
    /// ```
    /// use discord_oauth_core::api::BotToken;
    /// # let config = discord_oauth_tower::LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// let layer = discord_oauth_tower::DiscordOAuthLayer::new(config).unwrap();
    /// let bot = layer.bot_api(BotToken::new("bot-token-from-the-portal".into()));
    /// assert!(!format!("{bot:?}").contains("bot-token-from-the-portal"));
    /// ```
    pub fn bot_api(&self, token: discord_oauth_core::api::BotToken) -> crate::BotApi {
        self.shared.user_api().bot(token)
    }

    /// A handle for calling Discord's API with this layer's transport and timeout, e.g. with
    /// the user's token from `AuthState::access_token` ([`Visitor::access_token`](discord_oauth_core::login::visitor::Visitor::access_token)).
    pub fn api(&self) -> DiscordApi {
        DiscordApi {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Calls Discord's API through the login layer's transport and its user-API driver, with the
/// credential each call was built with: the invalid-request budget, that credential's rate
/// limits (waiting up to the configured bound) and the read cache, as for [`crate::UserApi`],
/// but without a refresh on `401`. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// use discord_oauth_mock::{MockDiscord, fixture};
/// use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
///
/// let discord = MockDiscord::start().await?;
/// let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
///     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?)
///     .build()?;
/// let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
/// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify guilds")?.access_token);
///
/// let api = layer.api();
/// let call = api::current_user_guilds(api.endpoints(), &token, &api::GuildsQuery::default());
/// assert!(!api.call(&call).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DiscordApi {
    shared: Arc<Shared>,
}

impl fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordApi").finish_non_exhaustive()
    }
}

impl DiscordApi {
    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    pub fn endpoints(&self) -> &discord_oauth_core::Endpoints {
        self.shared.config().client().endpoints()
    }

    /// Sends the call through the driver and parses the answer. A call the driver refused
    /// (budget spent, no turn soon enough) is a rate-limited [`LoginError::User`] (`503` with
    /// `Retry-After`); a rejected token is [`discord_oauth_core::ApiError::Unauthorized`].
    pub async fn call<R>(&self, call: &discord_oauth_core::response::ApiCall<R>) -> Result<R, LoginError> {
        let driver = self.shared.driver.api();
        driver
            .call_as_built(&self.shared.io, call)
            .await
            .map_err(LoginError::from)
    }
}

impl<S> Layer<S> for DiscordOAuthLayer {
    type Service = DiscordOAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DiscordOAuthService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for DiscordOAuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordOAuthLayerBuilder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("refresh", &self.refresh)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("broadcast", &self.broadcast)
            .finish_non_exhaustive()
    }
}

/// Builder for [`DiscordOAuthLayer`].
#[must_use = "call `.build()`"]
pub struct DiscordOAuthLayerBuilder {
    config: LoginConfig,
    transport: Arc<dyn Transport>,
    timeout: Duration,
    cache_ttl: Duration,
    cache_capacity: usize,
    clock: Clock,
    refresh: RefreshLocks,
    max_concurrent_requests: usize,
    broadcast: Option<Arc<dyn Broadcast>>,
    api: ApiDriverConfig,
}

impl DiscordOAuthLayerBuilder {
    /// Where ended logins are announced to the other instances (and heard from them), e.g.
    /// `RedisRevocations` (cargo feature `redis`): then a logout on one instance ends every
    /// cached copy of the session on all of them at once, instead of within the
    /// [cache TTL](Self::cache_ttl). Without one, each instance learns of a logout elsewhere
    /// when its cache entry expires.
    pub fn revocation_broadcast(mut self, broadcast: impl Broadcast) -> Self {
        self.broadcast = Some(Arc::new(broadcast));
        self
    }

    /// Replaces the wall clock (default `SystemTime::now`). For tests that need time to pass
    /// (token expiry, session lifetime) and for clock-skew drills.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The time limit for one request to Discord (default 10 s). A hung Discord then costs a
    /// request at most this long (checklist K-02).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a decoded session may be served from memory without reading the store
    /// (default 30 s). This bounds how long a logout on another instance takes to be seen
    /// here, and how long a session store outage goes unnoticed by sessions cached here;
    /// zero disables the cache.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many sessions the in-process cache holds at most (default 100 000).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// A refresh lock the instances share (default: an in-process one, which covers one
    /// process): `RedisRefreshLock` (cargo feature `redis`), or any
    /// [`SharedLock`](crate::lock::SharedLock). Without one, two instances may refresh the
    /// same session at once, and the second refresh fails because Discord rotated the
    /// refresh token (the layer then re-reads the store and uses the first refresh's tokens
    /// if it finds them, but a shared lock avoids the failed request to Discord altogether).
    /// The strategy is the runtime's [`RefreshLocks`], the same on every framework.
    ///
    /// The layer holds the lock for at most twice the [timeout](Self::timeout) plus 10 s
    /// (30 s by default): longer than a refresh can take. Requests waiting for it wait at
    /// most that long, then get a `503`.
    pub fn refresh_lock(mut self, lock: impl Into<RefreshLocks>) -> Self {
        self.refresh = lock.into();
        self
    }

    /// How many requests this layer (with its guards and [`DiscordApi`] handle) has in flight
    /// to Discord at most (default [`DEFAULT_MAX_CONCURRENT_REQUESTS`], 32; at least 1).
    /// More wait for a free slot, up to the [timeout](Self::timeout); past it they are not
    /// sent, and the user gets a `503` with `Retry-After` (checklist K-04): a burst of logins
    /// then reaches Discord at a bounded rate instead of all at once.
    ///
    /// Whatever this bound, when Discord answers `429` for its global rate limit the layer
    /// sends nothing more until the announced wait is over (requests meanwhile get `503`
    /// with `Retry-After`, or wait if it is short; K-03).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// The settings of users' API calls ([`crate::UserApi`], `discord-oauth-axum`'s
    /// `DiscordClient`): the read cache's time to live (default 30 s) and bounds, the longest
    /// wait for a rate-limit turn (default 5 s), the rate limiter's bounds and the
    /// invalid-request threshold.
    ///
    /// ```
    /// # use discord_oauth_core::login::LoginConfig;
    /// use std::time::Duration;
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_tower::transport::ReqwestTransport;
    /// # let config = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback").build()?;
    /// let layer = discord_oauth_tower::DiscordOAuthLayer::builder(config, ReqwestTransport::new()?)
    ///     .api(ApiDriverConfig { cache_ttl: Duration::from_secs(60), ..ApiDriverConfig::default() })
    ///     .build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn api(mut self, config: ApiDriverConfig) -> Self {
        self.api = config;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> DiscordOAuthLayer {
        let mut config = self.config;
        // Logins in progress are sealed into cookies with this key (random per process
        // unless the configuration names one: see `LoginConfigBuilder::login_cookie_key`).
        config.ensure_login_cookie_key(&mut rand::rng());
        let index = CookieIndex::new(self.cache_ttl, self.cache_capacity);
        let driver = Driver::new(config, self.api)
            .with_revocations(Revocations::default().with_broadcast(self.broadcast.clone()));
        let io = Io::shared(
            self.transport,
            self.timeout,
            Outbound::new(self.max_concurrent_requests),
        )
        .with_clock(self.clock);
        let shared = Shared::new(driver, io, self.refresh, index);
        let shared = Arc::new(shared);
        if let Some(broadcast) = &self.broadcast {
            let weak = Arc::downgrade(&shared);
            broadcast.subscribe(Arc::new(move |revocation| {
                if let Some(shared) = weak.upgrade() {
                    shared.apply_revocation(revocation);
                }
            }));
        }
        DiscordOAuthLayer { shared }
    }
}

/// The session layer with the cookie settings Discord login needs:
/// - `SameSite=Lax`: the session cookie must come back on Discord's top-level redirect to the
///   callback (tower-sessions' default `Strict` would drop it and every login would fail);
/// - `HttpOnly`, `Path=/`, no `Domain`;
/// - `Secure` and the `__Host-` name prefix when the redirect URI is https
///   ([`LoginConfig::secure_cookies`]);
/// - expiry after [`LoginConfig::idle_timeout`] (7 days by default) without activity: the
///   layer marks a session in use as active, which extends its expiry in the store, about
///   once a day (not on every request, which would cost a store write each), and ends a
///   session idle for longer itself too; a session holding only logins in progress expires
///   with them (10 minutes by default).
///
/// Use any `tower-sessions` store: `MemoryStore` for one instance, Redis or SQL stores for
/// several (then also a shared [`crate::DiscordOAuthLayerBuilder::refresh_lock`]). To sign or
/// encrypt the cookie, add `.with_signed(key)` or `.with_private(key)` (tower-sessions features
/// `signed` / `private`) with the same key on every instance.
pub fn session_layer<S: SessionStore + Clone>(store: S, config: &LoginConfig) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_name(session_cookie_name(config))
        .with_secure(config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            CookieDuration::try_from(config.idle_timeout()).unwrap_or(CookieDuration::days(7)),
        ))
}

/// The name of [`session_layer`]'s cookie: `__Host-discord_oauth` when cookies are `Secure`
/// ([`LoginConfig::secure_cookies`]), else `discord_oauth`.
pub fn session_cookie_name(config: &LoginConfig) -> &'static str {
    config.session_cookie_name()
}
