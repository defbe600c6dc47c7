//! [`DiscordOAuth`]: the configured login, shared by the routes, the middleware, the
//! extractors and the guards of every worker.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig};
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
use discord_oauth_core::login::revocation::{Revocation, Revocations};
use discord_oauth_core::login::{LoginConfig, LoginError};
use discord_oauth_core::response::ApiCall;

use discord_oauth_runtime::refresh::RefreshLocks;
use discord_oauth_runtime::{Io, Outbound};

use crate::transport::Transport;

pub use discord_oauth_runtime::{Clock, DEFAULT_TIMEOUT};

/// The default time limit for one session-store (or refresh-lock) operation.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Shared {
    /// Every decision about a login.
    pub(crate) driver: Driver,
    /// Transport, timeout, bound on requests in flight, clock.
    pub(crate) io: Io,
    store_timeout: Duration,
    /// Refreshes single-flight (across instances with a `RedisRefreshLock`).
    pub(crate) refresh: discord_oauth_runtime::refresh::RefreshLocks,
    pub(crate) fast: crate::fast::FastIndex,
    /// The login route's path, shared by every request's `AuthState`.
    pub(crate) login_path: Arc<str>,
}

impl Shared {
    pub(crate) fn now(&self) -> SystemTime {
        self.io.now()
    }

    /// Ends the logins `revocation` names on this instance: remembered as ended (so a
    /// session holding one is refused when it is read), and forgotten by the fast path.
    pub(crate) fn apply_revocation(&self, revocation: Revocation) {
        self.driver.apply_revocation(revocation, self.now(), Instant::now());
        self.fast.forget(&revocation);
    }

    /// [`Shared::apply_revocation`], then tells the other instances.
    pub(crate) async fn revoke(&self, revocation: Revocation) {
        self.apply_revocation(revocation);
        self.driver.announce(revocation, self.now()).await;
    }

    pub(crate) fn store_timeout(&self) -> Duration {
        self.store_timeout
    }

    pub(crate) fn config(&self) -> &LoginConfig {
        self.driver.config()
    }
}

/// "Log in with Discord" for actix-web: the validated [`LoginConfig`], the HTTP transport and
/// the refresh coordination, shared by every worker. Cheap to clone.
///
/// ```no_run
/// use actix_web::{App, HttpServer, cookie::Key};
/// use discord_oauth_actix::{DiscordOAuth, DiscordUser, LoginConfig};
///
/// async fn me(user: DiscordUser) -> String {
///     format!("hello {}", user.username)
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
///     .client_secret("…")
///     .build()?;
/// let discord = DiscordOAuth::new(config)?;
/// let key = Key::generate(); // load it from configuration in production
/// HttpServer::new(move || {
///     App::new()
///         .configure(discord.routes())
///         .route("/me", actix_web::web::get().to(me))
///         .wrap(discord.cookie_session(key.clone()))
/// })
/// .bind("127.0.0.1:3000")?
/// .run()
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DiscordOAuth {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for DiscordOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordOAuth")
            .field("config", self.shared.config())
            .field("io", &self.shared.io)
            .finish_non_exhaustive()
    }
}

/// The integration could not be built (the default HTTP client failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the Discord HTTP client: {0}")]
pub struct BuildError(String);

#[cfg(feature = "reqwest")]
pub(crate) fn build_error(e: &impl fmt::Display) -> BuildError {
    BuildError(e.to_string())
}

impl DiscordOAuth {
    /// The default transport (reqwest + rustls) and default settings.
    #[cfg(feature = "reqwest")]
    pub fn new(config: LoginConfig) -> Result<Self, BuildError> {
        let transport = crate::transport::ReqwestTransport::new().map_err(|e| BuildError(e.to_string()))?;
        Ok(Self::builder(config, transport).build())
    }

    /// A builder with a transport of your choice.
    pub fn builder(config: LoginConfig, transport: impl Transport) -> DiscordOAuthBuilder {
        DiscordOAuthBuilder {
            config,
            transport: Arc::new(transport),
            timeout: DEFAULT_TIMEOUT,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            clock: Arc::new(SystemTime::now),
            refresh: RefreshLocks::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            fast_path: (
                crate::fast::DEFAULT_FAST_PATH_TTL,
                crate::fast::DEFAULT_FAST_PATH_CAPACITY,
            ),
            broadcast: None,
            api: ApiDriverConfig::default(),
        }
    }

    /// Ends every session of `user_id` that started up to now, on this instance at once and,
    /// with a [revocation broadcast](DiscordOAuthBuilder::revocation_broadcast), on the others
    /// ("log out of all devices"; also what `POST /auth/logout?everywhere=1` does for the
    /// logged-in user). Their next request is anonymous.
    ///
    /// ```no_run
    /// # async fn f(discord: discord_oauth_actix::DiscordOAuth) {
    /// discord.end_sessions_of(80351110224678912).await;
    /// # }
    /// ```
    pub async fn end_sessions_of(&self, user_id: u64) {
        let now = self.shared.now();
        self.shared.revoke(Revocation::of_user(user_id, now)).await;
    }

    /// The configuration.
    pub fn config(&self) -> &LoginConfig {
        self.shared.config()
    }

    /// The name of the session cookie [`DiscordOAuth::session_middleware`] sets:
    /// `__Host-discord_oauth` when cookies are `Secure`, else `discord_oauth`.
    pub fn session_cookie_name(&self) -> &'static str {
        self.shared.config().session_cookie_name()
    }

    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    pub fn endpoints(&self) -> &discord_oauth_core::Endpoints {
        self.shared.config().client().endpoints()
    }

    /// The driver of users' API calls ([`crate::DiscordClient`]): its statistics, or to drop a
    /// token's cached reads.
    pub fn api_driver(&self) -> &ApiDriver {
        self.shared.driver.api()
    }

    /// Sends an API call, with the credential it was built with, through this integration's
    /// transport and its user-API driver ([`DiscordOAuth::api_driver`]): the invalid-request
    /// budget, that credential's rate limits (waiting up to the configured bound) and the
    /// read cache, without a refresh on `401` (a refused call is a rate-limited
    /// [`LoginError::User`], `503` with `Retry-After`).
    ///
    /// ```no_run
    /// # async fn f(discord: discord_oauth_actix::DiscordOAuth, token: discord_oauth_actix::DiscordToken) {
    /// use discord_oauth_core::api;
    /// let call = api::current_user_guilds(discord.endpoints(), token.access_token(), &api::GuildsQuery::default());
    /// let guilds = discord.call(&call).await;
    /// # }
    /// ```
    pub async fn call<R>(&self, call: &ApiCall<R>) -> Result<R, LoginError> {
        let driver = self.shared.driver.api();
        driver
            .call_as_built(&self.shared.io, call)
            .await
            .map_err(LoginError::from)
    }
}

/// Builder for [`DiscordOAuth`].
#[must_use = "call `.build()`"]
pub struct DiscordOAuthBuilder {
    config: LoginConfig,
    transport: Arc<dyn Transport>,
    timeout: Duration,
    store_timeout: Duration,
    clock: Clock,
    refresh: RefreshLocks,
    max_concurrent_requests: usize,
    fast_path: (Duration, usize),
    broadcast: Option<Arc<dyn crate::revocation::Broadcast>>,
    api: ApiDriverConfig,
}

impl fmt::Debug for DiscordOAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordOAuthBuilder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("store_timeout", &self.store_timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("fast_path", &self.fast_path)
            .finish_non_exhaustive()
    }
}

impl DiscordOAuthBuilder {
    /// The time limit for one request to Discord (default 10 s). A hung Discord then costs a
    /// request at most this long (checklist K-02).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time limit for one session-store operation (load, save, …) and for one command of
    /// the shared refresh lock (default 2 s). Past it the request answers `503` with
    /// `Retry-After`, as when the store fails outright.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Makes token refreshes single-flight across every instance sharing `lock`:
    /// `RedisRefreshLock` (cargo feature `redis`) or any
    /// [`SharedLock`](discord_oauth_runtime::refresh::SharedLock). Without it refreshes are
    /// single-flight within this process only, which is enough with the cookie store or a
    /// single instance. The strategy is the runtime's [`RefreshLocks`], the same on every
    /// framework.
    pub fn refresh_lock(mut self, lock: impl Into<RefreshLocks>) -> Self {
        self.refresh = lock.into();
        self
    }

    /// Replaces the wall clock (default `SystemTime::now`). For tests that need time to pass
    /// (token expiry, session lifetime) and for clock-skew drills.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How many requests this integration (every worker together) has in flight to Discord
    /// at most (default [`DEFAULT_MAX_CONCURRENT_REQUESTS`], 32; at least 1). More wait for a
    /// free slot, up to the [timeout](Self::timeout); past it they are not sent, and the user
    /// gets a `503` with `Retry-After` (checklist K-04).
    ///
    /// Whatever this bound, when Discord answers `429` for its global rate limit nothing more
    /// is sent until the announced wait is over (requests meanwhile get `503` with
    /// `Retry-After`, or wait if it is short; K-03).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// The authenticated fast path of [`crate::DiscordSessions`] (see [`crate::fast`]): how
    /// long a session seen logged in is served without reading the store (default
    /// [`DEFAULT_FAST_PATH_TTL`](crate::fast::DEFAULT_FAST_PATH_TTL), 30 s) and how many
    /// sessions are remembered at most (default
    /// [`DEFAULT_FAST_PATH_CAPACITY`](crate::fast::DEFAULT_FAST_PATH_CAPACITY), 10,000).
    ///
    /// The TTL bounds how late a logout or token refresh on *another* instance sharing a Redis
    /// store is seen by this one; logouts on this instance take effect at once. Zero for
    /// either turns the fast path off: every request then loads its session from the store.
    ///
    /// ```
    /// # use discord_oauth_actix::{DiscordOAuth, LoginConfig};
    /// # let config = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback").build().unwrap();
    /// # let transport = discord_oauth_actix::transport::from_fn(|_req| async {
    /// #     Err::<http::Response<Vec<u8>>, _>(discord_oauth_actix::TransportError::Failed("offline".into()))
    /// # });
    /// use std::time::Duration;
    /// let discord = DiscordOAuth::builder(config, transport)
    ///     .fast_path(Duration::from_secs(5), 1_000)
    ///     .build();
    /// ```
    pub fn fast_path(mut self, ttl: Duration, capacity: usize) -> Self {
        self.fast_path = (ttl, capacity);
        self
    }

    /// Where ended logins are announced to the other instances (and heard from them), e.g.
    /// `RedisRevocations` (cargo feature `redis`): then a logout on one instance ends every
    /// remembered copy of the session on all of them at once, instead of within the fast
    /// path's TTL; with the cookie store, it also refuses copies of the logged-out cookie on
    /// every instance.
    pub fn revocation_broadcast(mut self, broadcast: impl crate::revocation::Broadcast) -> Self {
        self.broadcast = Some(Arc::new(broadcast));
        self
    }

    /// How [`crate::DiscordClient`] calls Discord for users: the rate limiter's bounds, how
    /// long a call may wait for its turn, the read cache's TTL and bounds, the
    /// invalid-request threshold (the same settings as `discord-oauth-tower`'s).
    ///
    /// ```
    /// # use discord_oauth_actix::{DiscordOAuth, LoginConfig};
    /// # let config = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback").build().unwrap();
    /// # let transport = discord_oauth_actix::transport::from_fn(|_req| async {
    /// #     Err::<http::Response<Vec<u8>>, _>(discord_oauth_actix::TransportError::Failed("offline".into()))
    /// # });
    /// use std::time::Duration;
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// let discord = DiscordOAuth::builder(config, transport)
    ///     .api(ApiDriverConfig { cache_ttl: Duration::from_secs(60), ..ApiDriverConfig::default() })
    ///     .build();
    /// ```
    pub fn api(mut self, config: ApiDriverConfig) -> Self {
        self.api = config;
        self
    }

    /// Builds it.
    pub fn build(self) -> DiscordOAuth {
        let mut config = self.config;
        // Logins in progress are sealed into cookies with this key (random per process
        // unless the configuration names one: see `LoginConfigBuilder::login_cookie_key`).
        config.ensure_login_cookie_key(&mut rand::rng());
        let login_path = Arc::from(config.routes().login.as_str());
        let discord = DiscordOAuth {
            shared: Arc::new(Shared {
                login_path,
                driver: Driver::new(config, self.api)
                    .with_revocations(Revocations::default().with_broadcast(self.broadcast.clone())),
                io: Io::shared(
                    self.transport,
                    self.timeout,
                    Outbound::new(self.max_concurrent_requests),
                )
                .with_clock(self.clock),
                store_timeout: self.store_timeout,
                refresh: self.refresh,
                fast: crate::fast::FastIndex::new(self.fast_path.0, self.fast_path.1),
            }),
        };
        if let Some(broadcast) = &self.broadcast {
            let weak = Arc::downgrade(&discord.shared);
            broadcast.subscribe(Arc::new(move |revocation| {
                if let Some(shared) = weak.upgrade() {
                    shared.apply_revocation(revocation);
                }
            }));
        }
        discord
    }
}
