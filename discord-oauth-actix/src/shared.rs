//! [`DiscordOAuth`]: the configured login, shared by the routes, the middleware, the
//! extractors and the guards of every worker.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use actix_session::SessionMiddleware;
use actix_session::config::SessionMiddlewareBuilder;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::SessionStore;
use actix_web::cookie::{Key, SameSite};
use discord_oauth_core::login::flow::{ApiFlow, FlowIo, drive};
use discord_oauth_core::login::{AuthSession, LoginConfig, LoginError};
use discord_oauth_core::response::ApiCall;

use crate::transport::{Transport, TransportError};

/// The wall clock the integration reads (replaceable for tests and clock-skew drills).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The default time limit for one request to Discord.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a refreshed record is remembered for requests still carrying the old one.
const RECENT_TTL: Duration = Duration::from_secs(60);
/// At most this many remembered refreshes.
const RECENT_CAPACITY: usize = 10_000;

/// The key of a refresh: a digest of the refresh token being spent (never the token itself).
pub(crate) type RefreshKey = [u8; 32];

/// What became of a refresh token another request spent.
#[derive(Debug, Clone)]
pub(crate) enum Recent {
    Refreshed(Arc<AuthSession>),
    LoggedOut,
}

pub(crate) struct Shared {
    pub(crate) config: LoginConfig,
    transport: Box<dyn Transport>,
    timeout: Duration,
    clock: Clock,
    pub(crate) refresh_locks: Mutex<HashMap<RefreshKey, Arc<tokio::sync::Mutex<()>>>>,
    recent: Mutex<HashMap<RefreshKey, (Recent, Instant)>>,
}

impl Shared {
    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }

    pub(crate) fn recent(&self, key: &RefreshKey) -> Option<Recent> {
        let map = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|(_, at)| at.elapsed() < RECENT_TTL)
            .map(|(r, _)| r.clone())
    }

    pub(crate) fn remember(&self, key: RefreshKey, recent: Recent) {
        let mut map = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= RECENT_CAPACITY {
            map.retain(|_, (_, at)| at.elapsed() < RECENT_TTL);
            if map.len() >= RECENT_CAPACITY {
                map.clear();
            }
        }
        map.insert(key, (recent, Instant::now()));
    }
}

impl FlowIo for Shared {
    type Error = TransportError;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        let sending = self.transport.send(request);
        let timeout = self.timeout;
        async move {
            let response = tokio::time::timeout(timeout, sending)
                .await
                .map_err(|_| TransportError::Timeout(timeout))??;
            discord_oauth_core::http_client::check_body_size(&response).map_err(TransportError::Failed)?;
            Ok(response)
        }
    }

    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tracing::info!(
            wait_ms = duration.as_millis() as u64,
            "Discord rate limited us; retrying once"
        );
        tokio::time::sleep(duration)
    }

    fn now(&self) -> SystemTime {
        Shared::now(self)
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
///         .wrap(discord.middleware())
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
            .field("config", &self.shared.config)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

/// The integration could not be built (the default HTTP client failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the Discord HTTP client: {0}")]
pub struct BuildError(String);

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
            transport: Box::new(transport),
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LoginConfig {
        &self.shared.config
    }

    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    pub fn endpoints(&self) -> &discord_oauth_core::Endpoints {
        self.shared.config.client().endpoints()
    }

    /// Sends an API call through this integration's transport and timeout, honouring short
    /// rate limits (one retry after a 429 of at most 5 s).
    ///
    /// ```no_run
    /// # async fn f(discord: discord_oauth_actix::DiscordOAuth, token: discord_oauth_actix::DiscordToken) {
    /// use discord_oauth_core::api;
    /// let call = api::current_user_guilds(discord.endpoints(), token.access_token(), &api::GuildsQuery::default());
    /// let guilds = discord.call(&call).await;
    /// # }
    /// ```
    pub async fn call<R>(&self, call: &ApiCall<R>) -> Result<R, LoginError> {
        drive(ApiFlow::new(call), self.shared.as_ref()).await
    }

    /// The session middleware with the cookie settings Discord login needs, for any
    /// actix-session store:
    /// - `SameSite=Lax`: the cookie must come back on Discord's top-level redirect to the
    ///   callback (`Strict` would drop it and every login would fail);
    /// - `HttpOnly`, `Path=/`, no `Domain`;
    /// - `Secure` and the `__Host-` name prefix when the redirect URI is https
    ///   ([`LoginConfig::secure_cookies`]);
    /// - a persistent cookie that expires 7 days after the last change;
    /// - private (encrypted and authenticated) cookie content with `key`.
    ///
    /// Add it *outside* [`DiscordOAuth::middleware`] (i.e. `.wrap()` it after).
    pub fn session_middleware<S: SessionStore>(&self, store: S, key: Key) -> SessionMiddleware<S> {
        self.session_middleware_builder(store, key).build()
    }

    /// The builder behind [`DiscordOAuth::session_middleware`], to change a setting.
    ///
    /// # Security
    /// Every default there has a reason; in particular `SameSite=Strict` breaks every login
    /// (the cookie is not sent on Discord's redirect back to the callback).
    pub fn session_middleware_builder<S: SessionStore>(&self, store: S, key: Key) -> SessionMiddlewareBuilder<S> {
        let secure = self.shared.config.secure_cookies();
        let name = if secure {
            "__Host-discord_oauth"
        } else {
            "discord_oauth"
        };
        SessionMiddleware::builder(store, key)
            .cookie_name(name.to_owned())
            .cookie_secure(secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .cookie_domain(None)
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(PersistentSession::default().session_ttl(actix_web::cookie::time::Duration::days(7)))
    }

    /// [`DiscordOAuth::session_middleware`] with actix-session's cookie store: the whole
    /// session (logins in progress, user and tokens) lives in one encrypted cookie, kept under
    /// 4 KiB (the user record is compact, at most 5 logins may be pending). Nothing to run
    /// server-side; but a copied cookie stays valid until it expires, even after logout. Use a
    /// server-side store (Redis, feature `redis-session`) when that matters or for several
    /// instances.
    ///
    /// # Security
    /// `key` encrypts the tokens in the cookie: at least 64 bytes of key material, kept
    /// secret, the same on every instance.
    #[cfg(feature = "cookie-session")]
    pub fn cookie_session(&self, key: Key) -> SessionMiddleware<actix_session::storage::CookieSessionStore> {
        self.session_middleware(actix_session::storage::CookieSessionStore::default(), key)
    }
}

/// Builder for [`DiscordOAuth`].
#[must_use = "call `.build()`"]
pub struct DiscordOAuthBuilder {
    config: LoginConfig,
    transport: Box<dyn Transport>,
    timeout: Duration,
    clock: Clock,
}

impl fmt::Debug for DiscordOAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordOAuthBuilder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
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

    /// Replaces the wall clock (default `SystemTime::now`). For tests that need time to pass
    /// (token expiry, session lifetime) and for clock-skew drills.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds it.
    pub fn build(self) -> DiscordOAuth {
        DiscordOAuth {
            shared: Arc::new(Shared {
                config: self.config,
                transport: self.transport,
                timeout: self.timeout,
                clock: self.clock,
                refresh_locks: Mutex::new(HashMap::new()),
                recent: Mutex::new(HashMap::new()),
            }),
        }
    }
}
