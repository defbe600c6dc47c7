//! [`DiscordOAuthLayer`] and its builder.

use std::fmt;
use std::sync::Arc;

use discord_oauth_core::login::{LoginConfig, LoginError};
use discord_oauth_runtime::builder::{Builder, Integration, Parts};
use tower::Layer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{SessionManagerLayer, SessionStore};

use crate::fast::DEFAULT_CACHE_CAPACITY;
use crate::shared::CookieIndex;
use discord_oauth_core::login::flow::GuildRequirement;

use crate::fast::FastPath;
use crate::guard::RequireGuildLayer;
use crate::service::DiscordOAuthService;
use crate::shared::{Shared, session_expiry};
use crate::transport::Transport;

/// The default time limit for one request to Discord.
pub use discord_oauth_runtime::DEFAULT_TIMEOUT;

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
        DiscordOAuthLayerBuilder::new(config, transport)
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
        FastPath::new(app, slow, store, Arc::clone(&self.shared), None)
    }

    /// The layer's shared state.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// [`DiscordOAuthLayer::fast_path`] as a layer: every service it wraps gets a
    /// [`FastPath`] whose normal side is `sessions` around this layer around that service.
    /// For `axum::Router::layer` (what `discord-oauth-axum`'s `mount` uses: routing happens
    /// once, before either side), or around a whole router (its `wrap`: routing happens once,
    /// inside whichever side serves the request).
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
        crate::UserApi::new(Arc::clone(&self.shared) as _)
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
        self.user_api().bot(token)
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

/// Builds a [`DiscordOAuthLayer`]: the runtime's [`Builder`], the same settings and defaults
/// on every framework (cache capacity 100 000 here). Made by [`DiscordOAuthLayer::builder`].
///
/// ```
/// # use discord_oauth_core::login::LoginConfig;
/// use std::time::Duration;
/// use discord_oauth_core::api::client::ApiDriverConfig;
/// use discord_oauth_tower::transport::ReqwestTransport;
/// # let config = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback").build()?;
/// let layer = discord_oauth_tower::DiscordOAuthLayer::builder(config, ReqwestTransport::new()?)
///     .timeout(Duration::from_secs(5))
///     .cache_ttl(Duration::from_secs(10))
///     .api(ApiDriverConfig { cache_ttl: Duration::from_secs(60), ..ApiDriverConfig::default() })
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type DiscordOAuthLayerBuilder = Builder<DiscordOAuthLayer>;

impl Integration for DiscordOAuthLayer {
    const DEFAULT_CACHE_CAPACITY: usize = DEFAULT_CACHE_CAPACITY;

    fn build(parts: Parts) -> Self {
        let index = CookieIndex::new(parts.cache_ttl, parts.cache_capacity);
        let shared = Shared::new(parts.driver, parts.io, parts.refresh, index, parts.store_timeout);
        let shared = Arc::new(shared);
        parts.broadcast.subscribe(&shared, Shared::apply_revocation);
        parts.budget.start(&shared);
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
        .with_expiry(session_expiry(config))
}

/// The name of [`session_layer`]'s cookie: `__Host-discord_oauth` when cookies are `Secure`
/// ([`LoginConfig::secure_cookies`]), else `discord_oauth`.
pub fn session_cookie_name(config: &LoginConfig) -> &'static str {
    config.session_cookie_name()
}
