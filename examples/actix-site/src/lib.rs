//! The actix-web sample site: "Log in with Discord" in a few lines, runnable with no
//! credentials. Same contract and same pages as the axum sample.
//!
//! `cargo run -p actix-site` serves on `BIND` (default `127.0.0.1:3000`):
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
//! Sessions: `SESSION_STORE` is `memory` (default, as the axum sample: in this process,
//! `discord_oauth_actix::MemoryStore`, bounded; the cookie holds only a random key, logout
//! ends every copy, a restart ends every session), `redis` (sessions in Redis at `REDIS_URL`,
//! default `redis://127.0.0.1:6379`; `rediss://` for TLS, shared by every instance, with token
//! refreshes single-flight and logouts announced across instances through Redis) or `cookie`
//! (the session lives in the encrypted cookie itself, actix-session's cookie store: nothing
//! server-side, and a restart keeps it if `SESSION_KEY` is set. Its limitation: a copy of the
//! cookie cannot be deleted. This process refuses a logged-out cookie's copies for the
//! session's lifetime (its list of ended logins), but another instance, or this one after a
//! restart, accepts them until they expire). `SESSION_KEY` is the key that encrypts and authenticates the session
//! cookie: at least 64 bytes, written as hex or base64 (e.g. `openssl rand -base64 64`).
//! Unset, a random key is made at startup: fine for one process, but then sessions do not
//! survive a restart and instances cannot share them, so set the same key on all of them.
//! `SESSION_KEY_PREVIOUS` (while rotating the key: the old one, same format, accepted for at
//! least the 7-day idle timeout, see `discord_oauth_actix::rotation`).

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use discord_oauth_actix::actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use discord_oauth_actix::deadpool_redis::{self, Pool, PoolConfig, Runtime, Timeouts, redis};
use discord_oauth_actix::{
    ApiDriverConfig, DiscordClient, DiscordOAuth, DiscordUser, LoginConfig, MemoryStore, RedisRefreshLock,
    RedisRevocations, UserCalls,
};
use discord_oauth_core::api::GuildsQuery;
use discord_oauth_core::cdn::ImageSize;
use discord_oauth_core::events::{EventVerifier, WebhookPayload};
use discord_oauth_core::login::html_escape;
use discord_oauth_core::login::pending_cookie::LoginCookieKey;
use discord_oauth_core::login::revocation::channel_for;
use discord_oauth_core::{Endpoints, Scope};
use discord_oauth_mock::{MockDiscord, fixture};

type BoxError = Box<dyn Error + Send + Sync>;

/// The default `REDIS_URL`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long one Redis operation may take before the request answers `503`.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections to Redis per instance (commands are pipelined on each).
const REDIS_POOL_SIZE: usize = 4;

/// Where sessions are kept (`SESSION_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SessionStoreKind {
    /// `cookie` (default): the session lives in the encrypted cookie (actix-session's cookie
    /// store). Nothing server-side.
    #[default]
    Cookie,
    /// `memory`: in this process ([`discord_oauth_actix::MemoryStore`]); the cookie holds only
    /// a random session key. Lost on restart, not shared between instances.
    Memory,
    /// In Redis (`redis`), shared by every instance using the same URL.
    Redis {
        /// `REDIS_URL`, e.g. `redis://127.0.0.1:6379` or `rediss://:password@host:6380/0`.
        url: String,
    },
}

impl SessionStoreKind {
    /// For logs: the Redis URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            SessionStoreKind::Cookie => "the encrypted session cookie".into(),
            SessionStoreKind::Memory => "this process's memory".into(),
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

/// Key material for the session cookie (`SESSION_KEY`): at least [`SessionKey::MIN_LEN`]
/// bytes. The cookie is encrypted and authenticated with it (actix-session's private cookies,
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

    /// Parses `SESSION_KEY`: hex, or base64 (standard or URL-safe, padded or not), as the axum
    /// sample does, so one value serves both.
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

    /// The key material.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
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
    pub clock: Option<discord_oauth_actix::Clock>,
    /// The cookie key (`SESSION_KEY`); `None`: random per process.
    pub session_key: Option<SessionKey>,
    /// Where sessions are kept (`SESSION_STORE`, `REDIS_URL`).
    pub session_store: SessionStoreKind,
    /// With the Redis store, make token refreshes single-flight across instances with a Redis
    /// lock (default `true`). Only for demonstrating what happens without it.
    pub shared_refresh_lock: bool,
    /// Keys of earlier cookies still accepted while the key is rotated
    /// (`SESSION_KEY_PREVIOUS`, same format as `SESSION_KEY`).
    pub previous_session_keys: Vec<Vec<u8>>,
    /// Worker threads.
    pub workers: usize,
    /// Use `SameSite=Strict` cookies (to demonstrate that it breaks the login; never in
    /// production).
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
    /// How long a session seen logged in is served by the authenticated fast path without
    /// reading the session store (default 30 s; zero turns the fast path off). Also the bound
    /// on how late a logout on another instance is seen here.
    pub fast_path_ttl: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("discord", &self.discord)
            .field("redirect_uri", &self.redirect_uri)
            .field("bind", &self.bind)
            .field("session_store", &self.session_store.redacted())
            .field("session_key", &self.session_key)
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
            session_key: None,
            session_store: SessionStoreKind::Memory,
            shared_refresh_lock: true,
            previous_session_keys: Vec::new(),
            workers: 2,
            strict_cookies: false,
            public_host: None,
            require_issuer: false,
            public_key: None,
            max_concurrent_requests: discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS,
            fast_path_ttl: discord_oauth_actix::DEFAULT_FAST_PATH_TTL,
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
            Some("cookie") => SessionStoreKind::Cookie,
            None | Some("memory") => SessionStoreKind::Memory,
            Some("redis") => SessionStoreKind::Redis {
                url: var("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.into()),
            },
            Some(other) => {
                return Err(format!(
                    "SESSION_STORE must be `cookie`, `memory` or `redis`, not `{other}`"
                ));
            }
        };
        settings.session_key = var("SESSION_KEY").map(|k| SessionKey::parse(&k)).transpose()?;
        if let Some(key) = var("SESSION_KEY_PREVIOUS") {
            settings
                .previous_session_keys
                .push(SessionKey::parse(&key)?.into_bytes());
        }
        Ok(settings)
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
    handle: actix_web::dev::ServerHandle,
    redis: Option<Pool>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    /// The site's base URL.
    pub fn url(&self) -> String {
        self.origin.clone()
    }

    /// Waits until the server stops.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops the server (without waiting for open connections) and closes its Redis
    /// connections.
    pub fn stop(&self) {
        drop(self.handle.stop(false));
        if let Some(pool) = &self.redis {
            pool.close();
        }
    }
}

/// Connects to Redis: a pool of [`REDIS_POOL_SIZE`] connections, where taking a connection
/// (connecting if needed) and every operation fail after [`REDIS_TIMEOUT`], so an outage
/// answers `503` quickly; a broken connection is replaced on the next request, so requests
/// succeed again as soon as Redis is back. Checked with a `PING` now, so that a wrong URL
/// stops the site at startup.
async fn connect_redis(url: &str, shown: &str) -> Result<Pool, BoxError> {
    let mut config = deadpool_redis::Config::from_url(url);
    config.pool = Some(PoolConfig {
        max_size: REDIS_POOL_SIZE,
        timeouts: Timeouts {
            wait: Some(REDIS_TIMEOUT),
            create: Some(REDIS_TIMEOUT),
            recycle: Some(REDIS_TIMEOUT),
        },
        ..PoolConfig::default()
    });
    let pool = config
        .create_pool(Some(Runtime::Tokio1))
        .map_err(|e| format!("REDIS_URL is not a Redis URL: {e}"))?;
    let ping = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(REDIS_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(pool),
        Ok(Err(e)) => Err(format!("could not connect to the session store ({shown}): {e}").into()),
        Err(_) => {
            Err(format!("could not connect to the session store ({shown}): no answer within {REDIS_TIMEOUT:?}").into())
        }
    }
}

/// What the sample does with Discord's webhook events: the receiver has already ended a
/// deauthorized user's sessions; every event is logged (a real site would, for example, record
/// entitlements).
fn log_event(payload: &WebhookPayload) {
    let user_id = payload.event.user().map(|u| u.id);
    tracing::info!(event = payload.event.event_type(), user_id = ?user_id, "Discord event");
}

/// How long the guild list on `/` is answered from the read cache: reloading the page calls
/// Discord at most once a minute per user.
pub const GUILDS_CACHE_TTL: Duration = Duration::from_secs(60);

/// The webhook events receiver at `/discord/events`, when the site has a public key.
fn receiver(discord: &DiscordOAuth, events: Option<EventVerifier>) -> impl FnOnce(&mut web::ServiceConfig) {
    let discord = discord.clone();
    move |cfg| {
        if let Some(verifier) = events {
            discord.events_receiver("/discord/events", verifier, log_event)(cfg);
        }
    }
}

/// Binds, starts the mock if needed, and serves in the background.
pub async fn start(settings: Settings) -> Result<Site, BoxError> {
    let listener = std::net::TcpListener::bind(settings.bind)?;
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
        if matches!(settings.session_store, SessionStoreKind::Redis { .. }) {
            tracing::warn!("{note}");
        } else {
            tracing::info!("{note}");
        }
        SessionKey::random()?
    };
    // Logins in progress are sealed into their own cookies with a key derived from the same
    // material (so a login started on one instance completes on another).
    let mut login_key = LoginCookieKey::derive(&session_key.0)?;
    for previous in &settings.previous_session_keys {
        login_key = login_key.with_previous(previous)?;
    }
    let config = builder.login_cookie_key(login_key).build()?;
    let channel = channel_for(config.client().client_id().as_str());
    let transport = discord_oauth_actix::transport::ReqwestTransport::new()?;
    let mut discord = DiscordOAuth::builder(config, transport)
        .timeout(settings.timeout)
        .store_timeout(REDIS_TIMEOUT)
        .max_concurrent_requests(settings.max_concurrent_requests)
        .fast_path(settings.fast_path_ttl, discord_oauth_actix::DEFAULT_FAST_PATH_CAPACITY)
        .api(ApiDriverConfig {
            cache_ttl: GUILDS_CACHE_TTL,
            ..ApiDriverConfig::default()
        });
    if let Some(clock) = settings.clock.clone() {
        discord = discord.clock(clock);
    }
    let key = session_key.cookie_key()?;
    let offline = mock.as_ref().map(MockDiscord::base_url);
    let strict = settings.strict_cookies;
    let previous_keys = settings
        .previous_session_keys
        .iter()
        .map(|bytes| Key::try_from(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    let workers = settings.workers.max(1);
    let (server, redis) = match &settings.session_store {
        SessionStoreKind::Cookie => {
            let discord = discord.build();
            // Outside the session middleware: cookies under a previous key are re-encrypted
            // before it reads them (no-op without previous keys).
            let rotation = discord.session_key_rotation(key.clone(), previous_keys);
            let server = HttpServer::new(move || {
                app(
                    discord.clone(),
                    CookieSessionStore::default(),
                    key.clone(),
                    offline.clone(),
                    strict,
                )
                .configure(receiver(&discord, events.clone()))
                .wrap(rotation.clone())
            })
            .workers(workers)
            .disable_signals()
            .listen(listener)?
            .run();
            (server, None)
        }
        SessionStoreKind::Memory => {
            let discord = discord.build();
            let rotation = discord.session_key_rotation(key.clone(), previous_keys);
            // One store for every worker.
            let store = MemoryStore::default();
            let server = HttpServer::new(move || {
                app(discord.clone(), store.clone(), key.clone(), offline.clone(), strict)
                    .configure(receiver(&discord, events.clone()))
                    .wrap(rotation.clone())
            })
            .workers(workers)
            .disable_signals()
            .listen(listener)?
            .run();
            (server, None)
        }
        SessionStoreKind::Redis { url } => {
            let shown = settings.session_store.redacted();
            let pool = connect_redis(url, &shown).await?;
            tracing::info!("sessions are kept in {shown}");
            if settings.shared_refresh_lock {
                discord = discord.refresh_lock(RedisRefreshLock::new(pool.clone()));
            }
            // Logouts reach every instance at once.
            discord = discord.revocation_broadcast(RedisRevocations::connect_to(pool.clone(), url, &channel).await?);
            let discord = discord.build();
            let rotation = discord.session_key_rotation(key.clone(), previous_keys);
            let store = RedisSessionStore::new_pooled(pool.clone())
                .await
                .map_err(|e| format!("Redis session store: {e}"))?;
            let server = HttpServer::new(move || {
                app(discord.clone(), store.clone(), key.clone(), offline.clone(), strict)
                    .configure(receiver(&discord, events.clone()))
                    .wrap(rotation.clone())
            })
            .workers(workers)
            .disable_signals()
            .listen(listener)?
            .run();
            (server, Some(pool))
        }
    };
    let handle = server.handle();
    let task = tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Site {
        addr,
        origin,
        mock,
        handle,
        redis,
        task,
    })
}

#[derive(Clone)]
struct AppState {
    offline: Option<String>,
}

/// The site: its routes, the login routes, the login middleware and the sessions (in
/// `store`, the cookie encrypted with `key`).
pub fn app<S: SessionStore + 'static>(
    discord: DiscordOAuth,
    store: S,
    key: Key,
    offline_mock: Option<String>,
    strict_cookies: bool,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(AppState { offline: offline_mock }))
        .configure(discord.routes())
        .route("/", web::get().to(home))
        .route("/me", web::get().to(me))
        .wrap(discord.session_middleware_with(store, key, |sessions| {
            if strict_cookies {
                sessions.cookie_same_site(actix_web::cookie::SameSite::Strict)
            } else {
                sessions
            }
        }))
}

async fn me(user: Option<DiscordUser>) -> HttpResponse {
    match user {
        Some(u) => HttpResponse::Ok().json(serde_json::json!({
            "id": u.id.to_string(),
            "username": u.username,
            "global_name": u.global_name,
            "avatar_url": u.avatar_url(Some(ImageSize::at_least(128))).to_string(),
            "scopes": u.scopes().to_string(),
        })),
        None => HttpResponse::Unauthorized()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": "unauthorized", "login_url": "/auth/login?return_to=%2Fme" })),
    }
}

async fn home(state: web::Data<AppState>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> HttpResponse {
    let banner = state.offline.as_ref().map_or_else(String::new, |base| {
        format!(
            "<p class=\"banner\">Offline demo: logging in against the mock Discord at <code>{}</code>. \
             Set <code>DISCORD_CLIENT_ID</code> to use discord.com.</p>",
            html_escape(base)
        )
    });
    let body = match (&user, &client) {
        (Some(user), client) => {
            let guilds = match client {
                Some(client) if user.scopes().contains(&Scope::Guilds) => {
                    // Through the integration's API driver: rate limits, and the read cache
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
        (None, _) => "<h1>Welcome</h1><p>You are not logged in.</p>\
             <p><a class=\"button\" id=\"login\" href=\"/auth/login?return_to=%2F\">Log in with Discord</a></p>"
            .to_owned(),
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>discord-oauth actix sample</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:sans-serif;max-width:40rem;\
         margin:3rem auto}}.banner{{background:#fff3cd;padding:.5rem}}.button,button{{background:#5865f2;color:#fff;\
         padding:.6rem 1rem;border:0;border-radius:4px;text-decoration:none;font-size:1rem}}img{{border-radius:50%}}\
         </style></head><body>{banner}{body}</body></html>"
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(page)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_key_needs_64_bytes_of_hex_or_base64() {
        let short = SessionKey::parse(&"ab".repeat(63)).unwrap_err();
        assert!(short.contains("too short: 63 bytes"), "{short}");
        assert!(SessionKey::parse("not a key!").unwrap_err().contains("hex or base64"));
        let hex = SessionKey::parse(&"ab".repeat(64)).unwrap();
        assert_eq!(hex.0, vec![0xab; 64]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert_eq!(SessionKey::parse(&b64).unwrap().0, vec![7; 64]);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 64]);
        assert_eq!(SessionKey::parse(&url_safe).unwrap().0, vec![0xfb; 64]);
        assert!(SessionKey::from_bytes(vec![1; 64]).unwrap().cookie_key().is_ok());
        assert_eq!(format!("{hex:?}"), "SessionKey([redacted; 64 bytes])");
    }

    #[test]
    fn sessions_are_server_side_by_default() {
        // The default a newcomer gets: logout ends every copy of the cookie (G-05).
        let settings = Settings::new(Discord::OfflineMock, "127.0.0.1:0".parse().unwrap());
        assert!(matches!(settings.session_store, SessionStoreKind::Memory));
    }

    #[test]
    fn redis_url_passwords_stay_out_of_logs() {
        let store = SessionStoreKind::Redis {
            url: "rediss://:hunter2@redis.internal:6380/0".into(),
        };
        assert_eq!(
            store.redacted(),
            "redis at rediss://[credentials]@redis.internal:6380/0"
        );
    }
}
