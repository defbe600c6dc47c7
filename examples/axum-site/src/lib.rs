//! The axum sample site: "Log in with Discord" in a few lines, runnable with no credentials.
//!
//! `cargo run -p axum-site` serves on `BIND` (default `127.0.0.1:3000`):
//! - `/`: logged out, a "Log in with Discord" button; logged in, the avatar, names, the
//!   user's guilds (the `guilds` scope is requested), a logout button and a "Log out of all
//!   devices" button (`POST /auth/logout?everywhere=1`);
//! - `/me`: the user as JSON (with its Discord `id`), or `401`;
//! - `/auth/login?return_to=…`, `/auth/callback`, `POST /auth/logout`.
//!
//! With `DISCORD_CLIENT_ID` unset it starts the mock Discord from `tests/mock` in-process
//! (offline demo mode) and says so in the log and on the page. Environment:
//! `DISCORD_CLIENT_ID`, `DISCORD_CLIENT_SECRET`, `DISCORD_REDIRECT_URI` (default
//! `http://{BIND}/auth/callback`), `DISCORD_API_BASE` (default `https://discord.com/api/v10`),
//! `DISCORD_AUTHORIZE_URL` (default `https://discord.com/oauth2/authorize`), `BIND`.
//!
//! Sessions: `SESSION_STORE` is `memory` (default: one process, nothing to install) or
//! `redis` (sessions in Redis at `REDIS_URL`, default `redis://127.0.0.1:6379`; `rediss://`
//! for TLS), shared by every instance, with token refreshes single-flight across instances
//! through a Redis lock. `SESSION_KEY` is the key that encrypts and authenticates the session
//! cookie: at least 64 bytes, written as hex or base64 (e.g. `openssl rand -base64 64`).
//! Unset, a random key is made at startup: fine for one process, but then sessions do not
//! survive a restart and instances cannot share them, so set the same key on all of them.
//! To rotate it without logging everybody out, set the new key as `SESSION_KEY` and the old
//! one as `SESSION_KEY_PREVIOUS` for at least 7 days (the idle timeout), then drop the latter
//! (see `discord_oauth_tower::rotation`).

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    ApiDriverConfig, DiscordClient, DiscordOAuth, DiscordOAuthLayer, DiscordUser, LoginConfig, MemoryStore,
    RedisRefreshLock, RedisRevocations, SessionKeyRotationLayer, UserCalls,
};
use discord_oauth_core::api::GuildsQuery;
use discord_oauth_core::cdn::ImageSize;
use discord_oauth_core::events::{EventVerifier, WebhookPayload};
use discord_oauth_core::login::html_escape;
use discord_oauth_core::login::pending_cookie::LoginCookieKey;
use discord_oauth_core::login::revocation::channel_for;
use discord_oauth_core::{Endpoints, Scope};
use discord_oauth_mock::{MockDiscord, fixture};
use fred::clients::{Pool, WithOptions};
use fred::interfaces::ClientLike as _;
use fred::types::config::{Config as RedisConfig, Options as RedisOptions, ReconnectPolicy};
use tower_sessions::SessionStore;
use tower_sessions::cookie::Key;
use tower_sessions_redis_store::RedisStore;

type BoxError = Box<dyn Error + Send + Sync>;

/// The default `REDIS_URL`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long one Redis command may take before the request answers `503`.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections to Redis per instance (commands are pipelined on each).
const REDIS_POOL_SIZE: usize = 4;

/// Where sessions are kept (`SESSION_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SessionStoreKind {
    /// In this process's memory (`memory`, default): lost on restart, not shared.
    #[default]
    Memory,
    /// In Redis (`redis`), shared by every instance using the same URL.
    Redis {
        /// `REDIS_URL`, e.g. `redis://127.0.0.1:6379` or `rediss://:password@host:6380/0`.
        url: String,
    },
}

/// Key material for the session cookie (`SESSION_KEY`): at least [`SessionKey::MIN_LEN`]
/// bytes. The cookie is encrypted and authenticated with it (tower-sessions' private cookies,
/// AES-256-GCM): a cookie made with another key is ignored. `Debug` never shows it.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey([redacted; {} bytes])", self.0.len())
    }
}

impl SessionKey {
    /// The minimum key length in bytes.
    pub const MIN_LEN: usize = 64;

    /// A key from raw bytes (at least [`SessionKey::MIN_LEN`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < Self::MIN_LEN {
            return Err(format!(
                "SESSION_KEY is too short: {} bytes of key material, at least {} are needed \
                 (e.g. `openssl rand -base64 64`)",
                bytes.len(),
                Self::MIN_LEN
            ));
        }
        Ok(Self(bytes))
    }

    /// Parses `SESSION_KEY`: hex, or base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| format!("SESSION_KEY is not valid hex: {e}"))?
        } else {
            let unpadded = text.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
                .map_err(|_| {
                    "SESSION_KEY must be hex or base64 key material, at least 64 bytes \
                     (e.g. `openssl rand -base64 64`)"
                        .to_owned()
                })?
        };
        Self::from_bytes(bytes)
    }

    /// A random key (what the site uses when `SESSION_KEY` is unset).
    pub fn random() -> Result<Self, String> {
        let key = Key::try_generate().ok_or("the operating system's random number generator failed")?;
        Ok(Self(key.master().to_vec()))
    }

    fn cookie_key(&self) -> Result<Key, String> {
        Key::try_from(self.0.as_slice()).map_err(|e| format!("SESSION_KEY: {e}"))
    }
}

/// Where Discord is. `Debug` never shows the client secret.
#[derive(Clone)]
pub enum Discord {
    /// Real credentials and endpoints (discord.com by default).
    Real {
        /// Application (client) id.
        client_id: String,
        /// Client secret (`None` for a public client).
        client_secret: Option<String>,
        /// `DISCORD_AUTHORIZE_URL`.
        authorize_url: String,
        /// `DISCORD_API_BASE`.
        api_base: String,
    },
    /// Start the mock Discord in-process (offline demo).
    OfflineMock,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discord::Real {
                client_id,
                client_secret,
                authorize_url,
                api_base,
            } => f
                .debug_struct("Real")
                .field("client_id", client_id)
                .field("client_secret", &client_secret.as_ref().map(|_| "[redacted]"))
                .field("authorize_url", authorize_url)
                .field("api_base", api_base)
                .finish(),
            Discord::OfflineMock => f.write_str("OfflineMock"),
        }
    }
}

/// The site's settings.
#[derive(Clone)]
pub struct Settings {
    /// Where Discord is.
    pub discord: Discord,
    /// The redirect URI; default `http://{bind}/auth/callback`.
    pub redirect_uri: Option<String>,
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Time limit for one request to Discord.
    pub timeout: Duration,
    /// How long a started login may take.
    pub pending_ttl: Duration,
    /// How close to expiry tokens are refreshed.
    pub refresh_skew: Duration,
    /// The site's wall clock (tests shift it to make tokens expire).
    pub clock: Option<discord_oauth_axum::Clock>,
    /// `SameSite=Strict` session cookie instead of `Lax`. Only for demonstrating (and
    /// testing) that Strict breaks the login: the cookie does not come back on Discord's
    /// cross-site redirect to the callback.
    pub strict_cookies: bool,
    /// The host name browsers use to reach the site (default: the bound IP address). It goes
    /// into the default redirect URI.
    pub public_host: Option<String>,
    /// Refuse callbacks without `iss` (RFC 9207 strict mode; default off, see
    /// `LoginConfigBuilder::require_issuer`).
    pub require_issuer: bool,
    /// The application's public key (`DISCORD_PUBLIC_KEY`, hex): serves Discord's webhook
    /// events at `POST /discord/events` when set (in offline mode, the mock's key).
    pub public_key: Option<String>,
    /// The most requests to Discord in flight at once (default 32).
    pub max_concurrent_requests: usize,
    /// Where sessions are kept (`SESSION_STORE`, `REDIS_URL`).
    pub session_store: SessionStoreKind,
    /// The cookie key (`SESSION_KEY`); `None`: random per process.
    pub session_key: Option<SessionKey>,
    /// Keys of earlier cookies still accepted while the key is rotated
    /// (`SESSION_KEY_PREVIOUS`).
    pub previous_session_keys: Vec<SessionKey>,
    /// How long a decoded session is served from memory before the store is read again
    /// (default 30 s): the bound on how long a logout on another instance goes unseen here.
    pub cache_ttl: Duration,
    /// With the Redis store, make token refreshes single-flight across instances with a Redis
    /// lock (default `true`). Only for demonstrating (and testing) what happens without it:
    /// instances may refresh the same session twice, and the layer's fallback (re-reading the
    /// store after Discord rejects a spent refresh token) keeps the user logged in.
    pub shared_refresh_lock: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("discord", &self.discord)
            .field("redirect_uri", &self.redirect_uri)
            .field("bind", &self.bind)
            .field("session_store", &self.session_store.redacted())
            .field("session_key", &self.session_key)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Settings with defaults for everything but where Discord is.
    pub fn new(discord: Discord, bind: SocketAddr) -> Self {
        Self {
            discord,
            redirect_uri: None,
            bind,
            timeout: Duration::from_secs(10),
            pending_ttl: Duration::from_secs(600),
            refresh_skew: Duration::from_secs(300),
            clock: None,
            strict_cookies: false,
            public_host: None,
            require_issuer: false,
            public_key: None,
            max_concurrent_requests: discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS,
            session_store: SessionStoreKind::Memory,
            session_key: None,
            previous_session_keys: Vec::new(),
            cache_ttl: discord_oauth_axum::DEFAULT_CACHE_TTL,
            shared_refresh_lock: true,
        }
    }

    /// Reads the environment (see the crate docs).
    pub fn from_env() -> Result<Self, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let bind: SocketAddr = var("BIND")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| format!("BIND is not an address like 127.0.0.1:3000: {e}"))?;
        let discord = match var("DISCORD_CLIENT_ID") {
            Some(client_id) => Discord::Real {
                client_id,
                client_secret: var("DISCORD_CLIENT_SECRET"),
                authorize_url: var("DISCORD_AUTHORIZE_URL")
                    .unwrap_or_else(|| "https://discord.com/oauth2/authorize".into()),
                api_base: var("DISCORD_API_BASE").unwrap_or_else(|| "https://discord.com/api/v10".into()),
            },
            None => Discord::OfflineMock,
        };
        let mut settings = Self::new(discord, bind);
        settings.redirect_uri = var("DISCORD_REDIRECT_URI");
        settings.public_key = var("DISCORD_PUBLIC_KEY");
        settings.session_store = match var("SESSION_STORE").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("memory") => SessionStoreKind::Memory,
            Some("redis") => SessionStoreKind::Redis {
                url: var("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.into()),
            },
            Some(other) => return Err(format!("SESSION_STORE must be `memory` or `redis`, not `{other}`")),
        };
        settings.session_key = var("SESSION_KEY").map(|k| SessionKey::parse(&k)).transpose()?;
        settings.previous_session_keys = var("SESSION_KEY_PREVIOUS")
            .map(|k| SessionKey::parse(&k))
            .transpose()?
            .into_iter()
            .collect();
        Ok(settings)
    }
}

impl SessionStoreKind {
    /// For logs: the Redis URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            SessionStoreKind::Memory => "memory".into(),
            SessionStoreKind::Redis { url } => match url.rsplit_once('@') {
                Some((scheme_user, host)) => {
                    let scheme = scheme_user.split_once("://").map_or("redis", |(s, _)| s);
                    format!("redis at {scheme}://[credentials]@{host}")
                }
                None => format!("redis at {url}"),
            },
        }
    }
}

/// A running site.
#[derive(Debug)]
pub struct Site {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The site's origin as browsers see it (`http://host:port`).
    pub origin: String,
    /// The in-process mock Discord, in offline mode.
    pub mock: Option<MockDiscord>,
    redis: Option<Pool>,
    router: Router,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    /// The site's base URL.
    pub fn url(&self) -> String {
        self.origin.clone()
    }

    /// The application being served, for requests made in-process (benchmarks, tests): a
    /// clone shares the served one's sessions, cache and login state.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Waits until the server stops.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops the server (and closes its Redis connections).
    pub fn stop(&self) {
        self.task.abort();
        if let Some(pool) = self.redis.clone() {
            tokio::spawn(async move {
                let _ = pool.quit().await;
            });
        }
    }
}

/// Connects to Redis: commands fail after [`REDIS_TIMEOUT`] (or at once while disconnected)
/// rather than queue, so an outage answers `503` quickly; the pool reconnects by itself
/// (every 100 ms to 2 s) when Redis is back.
async fn connect_redis(url: &str, shown: &str) -> Result<(Pool, WithOptions<Pool>), BoxError> {
    let config = RedisConfig::from_url(url).map_err(|e| format!("REDIS_URL is not a Redis URL: {e}"))?;
    let pool = fred::types::Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = REDIS_TIMEOUT;
            c.internal_command_timeout = REDIS_TIMEOUT;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build_pool(REDIS_POOL_SIZE)
        .map_err(|e| format!("Redis client: {e}"))?;
    pool.init()
        .await
        .map_err(|e| format!("could not connect to the session store ({shown}): {e}"))?;
    let client = pool.with_options(&RedisOptions {
        fail_fast: true,
        timeout: Some(REDIS_TIMEOUT),
        max_attempts: Some(1),
        ..RedisOptions::default()
    });
    Ok((pool, client))
}

/// What the sample does with Discord's webhook events: the receiver has already ended a
/// deauthorized user's sessions; every event is logged (a real site would, for example, record
/// entitlements).
fn log_event(payload: &WebhookPayload) {
    let user_id = payload.event.user().map(|u| u.id);
    tracing::info!(event = payload.event.event_type(), user_id = ?user_id, "Discord event");
}

/// Binds, starts the mock if needed, and serves in the background.
pub async fn start(settings: Settings) -> Result<Site, BoxError> {
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    let addr = listener.local_addr()?;
    let origin = match &settings.public_host {
        Some(host) => format!("http://{host}:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    let redirect_uri = settings
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("{origin}/auth/callback"));
    let (client_id, client_secret, endpoints, mock) = match &settings.discord {
        Discord::Real {
            client_id,
            client_secret,
            authorize_url,
            api_base,
        } => (
            client_id.clone(),
            client_secret.clone(),
            Endpoints::new(authorize_url.parse()?, api_base.parse()?)?,
            None,
        ),
        Discord::OfflineMock => {
            let mock = MockDiscord::builder().start().await?;
            mock.add_redirect_uri(fixture::CLIENT_ID, redirect_uri.clone())?;
            tracing::warn!(
                "DISCORD_CLIENT_ID is unset: offline demo mode, using the mock Discord at {}",
                mock.base_url()
            );
            let endpoints = Endpoints::new(mock.authorize_url().parse()?, mock.api_base().parse()?)?;
            (
                fixture::CLIENT_ID.to_owned(),
                Some(fixture::CLIENT_SECRET.to_owned()),
                endpoints,
                Some(mock),
            )
        }
    };
    // Discord's webhook events at `POST /discord/events`: with the application's public key,
    // or offline with the mock's, which then sends its events here (APPLICATION_DEAUTHORIZED
    // when a grant is revoked, as Discord does).
    let events = match (&settings.public_key, &mock) {
        (Some(key), _) => Some(EventVerifier::from_hex(key).map_err(|e| format!("DISCORD_PUBLIC_KEY: {e}"))?),
        (None, Some(mock)) => {
            mock.set_event_webhook_url(fixture::CLIENT_ID, format!("{origin}/discord/events"))?;
            Some(EventVerifier::from_hex(mock.events_public_key_hex())?)
        }
        (None, None) => None,
    };
    let mut builder = LoginConfig::builder(client_id, redirect_uri)
        .scopes([Scope::Identify, Scope::Guilds])
        .endpoints(endpoints)
        .pending_ttl(settings.pending_ttl)
        .refresh_skew(settings.refresh_skew)
        .require_issuer(settings.require_issuer);
    if let Some(secret) = client_secret {
        builder = builder.client_secret(secret);
    }
    let session_key = if let Some(key) = &settings.session_key {
        key.clone()
    } else {
        let note = "SESSION_KEY is unset: the session cookie key is random for this process, so sessions \
                    end when it restarts; several instances must share one SESSION_KEY (see README)";
        if settings.session_store == SessionStoreKind::Memory {
            tracing::info!("{note}");
        } else {
            tracing::warn!("{note}");
        }
        SessionKey::random()?
    };
    // Logins in progress are sealed into their own cookies with a key derived from the same
    // material (so a login started on one instance completes on another).
    let mut login_key = LoginCookieKey::derive(&session_key.0)?;
    for previous in &settings.previous_session_keys {
        login_key = login_key.with_previous(&previous.0)?;
    }
    let config = builder.login_cookie_key(login_key).build()?;
    let login_config = config.clone();
    let key = session_key.cookie_key()?;
    let previous_keys = settings
        .previous_session_keys
        .iter()
        .map(SessionKey::cookie_key)
        .collect::<Result<Vec<_>, _>>()?;
    let rotation = (!previous_keys.is_empty()).then(|| (key.clone(), previous_keys));
    let mut layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?)
        .timeout(settings.timeout)
        .cache_ttl(settings.cache_ttl)
        .max_concurrent_requests(settings.max_concurrent_requests)
        .api(ApiDriverConfig {
            cache_ttl: GUILDS_CACHE_TTL,
            ..ApiDriverConfig::default()
        });
    if let Some(clock) = settings.clock.clone() {
        layer = layer.clock(clock);
    }
    let offline_note = mock.as_ref().map(MockDiscord::base_url);
    let (oauth, app, redis) = match &settings.session_store {
        SessionStoreKind::Memory => {
            let oauth = DiscordOAuth::from_layer(layer.build());
            let app = router(
                &oauth,
                offline_note,
                MemoryStore::default(),
                key,
                settings.strict_cookies,
            );
            (oauth, app, None)
        }
        SessionStoreKind::Redis { url } => {
            let shown = settings.session_store.redacted();
            let (pool, client) = connect_redis(url, &shown).await?;
            tracing::info!("sessions are kept in {shown}");
            if settings.shared_refresh_lock {
                layer = layer.refresh_lock(RedisRefreshLock::new(client.clone()));
            }
            // Logouts reach every instance's cache at once.
            let subscriber = fred::types::Builder::from_config(RedisConfig::from_url(url)?)
                .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
                .build_subscriber_client()?;
            let channel = channel_for(login_config.client().client_id().as_str());
            layer = layer.revocation_broadcast(RedisRevocations::connect_to(pool.clone(), subscriber, &channel).await?);
            let oauth = DiscordOAuth::from_layer(layer.build());
            let app = router(
                &oauth,
                offline_note,
                RedisStore::new(client),
                key,
                settings.strict_cookies,
            );
            (oauth, app, Some(pool))
        }
    };
    let app = match events {
        Some(verifier) => app.route("/discord/events", oauth.events_receiver(verifier, log_event)),
        None => app,
    };
    // Outside the session layer: cookies under a previous key are re-encrypted before it
    // reads them.
    let app = match rotation {
        Some((current, previous)) => app.layer(SessionKeyRotationLayer::new(&login_config, current, previous)),
        None => app,
    };
    let router = app.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Site {
        addr,
        origin,
        mock,
        redis,
        router,
        task,
    })
}

/// How long the guild list on `/` is answered from the read cache: reloading the page calls
/// Discord at most once a minute per user.
pub const GUILDS_CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct AppState {
    offline: Option<String>,
}

/// The site's routes, wrapped in the login layers, with sessions in `store` and the cookie
/// encrypted with `key`.
pub fn router<S: SessionStore + Clone>(
    oauth: &DiscordOAuth<ReqwestTransport>,
    offline_mock: Option<String>,
    store: S,
    key: Key,
    strict_cookies: bool,
) -> Router {
    let state = AppState { offline: offline_mock };
    let app = Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .with_state(state);
    oauth.mount_with(app, store, |sessions| {
        let sessions = if strict_cookies {
            sessions.with_same_site(discord_oauth_axum::tower_sessions::cookie::SameSite::Strict)
        } else {
            sessions
        };
        sessions.with_private(key)
    })
}

async fn me(user: Option<DiscordUser>) -> Response {
    match user {
        Some(u) => Json(serde_json::json!({
            "id": u.id.to_string(),
            "username": u.username,
            "global_name": u.global_name,
            "avatar_url": u.avatar_url(Some(ImageSize::at_least(128))).to_string(),
            "scopes": u.scopes().to_string(),
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "error": "unauthorized", "login_url": "/auth/login?return_to=%2Fme" })),
        )
            .into_response(),
    }
}

async fn home(State(state): State<AppState>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> Response {
    let banner = state.offline.as_ref().map_or_else(String::new, |base| {
        format!(
            "<p class=\"banner\">Offline demo: logging in against the mock Discord at <code>{}</code>. \
             Set <code>DISCORD_CLIENT_ID</code> to use discord.com.</p>",
            html_escape(base)
        )
    });
    let body = match &user {
        Some(user) => {
            let guilds = match &client {
                Some(client) if user.scopes().contains(&Scope::Guilds) => {
                    // Through the layer's API driver: rate limits, and the read cache
                    // (GUILDS_CACHE_TTL), so reloads do not call Discord each time.
                    match client.guilds(&GuildsQuery::default()).await {
                        Ok(guilds) if guilds.is_empty() => "<p>You are in no guilds.</p>".to_owned(),
                        Ok(guilds) => {
                            let items = guilds.iter().fold(String::new(), |mut out, g| {
                                out.push_str("<li>");
                                out.push_str(&html_escape(&g.name));
                                out.push_str("</li>");
                                out
                            });
                            format!("<h2>Your guilds</h2><ul class=\"guilds\">{items}</ul>")
                        }
                        Err(e) => format!("<p>Could not load your guilds: {}</p>", html_escape(&e.to_string())),
                    }
                }
                _ => String::new(),
            };
            format!(
                "<div class=\"user\"><img src=\"{avatar}\" alt=\"avatar of {name}\" width=\"96\" height=\"96\">\
                 <h1 id=\"display-name\">{name}</h1><p id=\"username\">@{username}</p></div>{guilds}\
                 <form method=\"post\" action=\"/auth/logout\"><button type=\"submit\" id=\"logout\">Log out</button></form>\
                 <form method=\"post\" action=\"/auth/logout?everywhere=1\"><button type=\"submit\" \
                 id=\"logout-everywhere\">Log out of all devices</button></form>",
                avatar = html_escape(user.avatar_url(Some(ImageSize::at_least(128))).as_str()),
                name = html_escape(user.display_name()),
                username = html_escape(&user.username),
            )
        }
        None => "<h1>Welcome</h1><p>You are not logged in.</p>\
             <p><a class=\"button\" id=\"login\" href=\"/auth/login?return_to=%2F\">Log in with Discord</a></p>"
            .to_owned(),
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>discord-oauth axum sample</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:sans-serif;max-width:40rem;\
         margin:3rem auto}}.banner{{background:#fff3cd;padding:.5rem}}.button,button{{background:#5865f2;color:#fff;\
         padding:.6rem 1rem;border:0;border-radius:4px;text-decoration:none;font-size:1rem}}img{{border-radius:50%}}\
         </style></head><body>{banner}{body}</body></html>"
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
