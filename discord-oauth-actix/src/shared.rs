//! [`DiscordOAuth`]: the configured login, shared by the routes, the middleware, the
//! extractors and the guards of every worker.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::api::client::ApiDriver;
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::login::revocation::Revocation;
use discord_oauth_core::login::{LoginConfig, LoginError};
use discord_oauth_core::response::ApiCall;

use discord_oauth_runtime::Io;
use discord_oauth_runtime::builder::{Builder, Integration, Parts};

use crate::transport::Transport;

pub use discord_oauth_runtime::{Clock, DEFAULT_TIMEOUT};

pub use discord_oauth_runtime::builder::DEFAULT_STORE_TIMEOUT;

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

impl discord_oauth_runtime::api::Site for Shared {
    fn driver(&self) -> &Driver {
        &self.driver
    }

    fn io(&self) -> &Io {
        &self.io
    }
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
        DiscordOAuthBuilder::new(config, transport)
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

/// Builds a [`DiscordOAuth`]: the runtime's [`Builder`], the same settings and defaults on
/// every framework (cache capacity [`DEFAULT_FAST_PATH_CAPACITY`](crate::fast::DEFAULT_FAST_PATH_CAPACITY)
/// here: an entry also holds the session's content). Made by [`DiscordOAuth::builder`].
pub type DiscordOAuthBuilder = Builder<DiscordOAuth>;

impl Integration for DiscordOAuth {
    const DEFAULT_CACHE_CAPACITY: usize = crate::fast::DEFAULT_FAST_PATH_CAPACITY;

    fn build(parts: Parts) -> Self {
        let shared = Arc::new(Shared {
            login_path: Arc::from(parts.driver.config().routes().login.as_str()),
            fast: crate::fast::FastIndex::new(parts.cache_ttl, parts.cache_capacity),
            driver: parts.driver,
            io: parts.io,
            store_timeout: parts.store_timeout,
            refresh: parts.refresh,
        });
        parts.broadcast.subscribe(&shared, Shared::apply_revocation);
        parts.budget.start(&shared);
        DiscordOAuth { shared }
    }
}
