//! The actix-web sample site: "Log in with Discord" in a few lines, runnable with no
//! credentials. Same contract and same pages as the axum sample.
//!
//! `cargo run -p actix-site` serves on `BIND` (default `127.0.0.1:3000`):
//! - `/`: logged out, a "Log in with Discord" button; logged in, the avatar, names, the
//!   user's guilds (the `guilds` scope is requested) and a logout button;
//! - `/me`: the user as JSON (with its Discord `id`), or `401`;
//! - `/auth/login?return_to=…`, `/auth/callback`, `POST /auth/logout`.
//!
//! With `DISCORD_CLIENT_ID` unset it starts the mock Discord from `tests/mock` in-process
//! (offline demo mode) and says so in the log and on the page. Environment:
//! `DISCORD_CLIENT_ID`, `DISCORD_CLIENT_SECRET`, `DISCORD_REDIRECT_URI` (default
//! `http://{BIND}/auth/callback`), `DISCORD_API_BASE` (default `https://discord.com/api/v10`),
//! `DISCORD_AUTHORIZE_URL` (default `https://discord.com/oauth2/authorize`), `BIND`,
//! `SESSION_KEY` (at least 64 bytes; random when unset, so sessions end at restart),
//! `SESSION_KEY_PREVIOUS` (while rotating the key: the old one, accepted for at least the
//! 7-day idle timeout, see `discord_oauth_actix::rotation`). Sessions
//! live in an encrypted cookie (actix-session's cookie store).

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use discord_oauth_actix::actix_session::storage::CookieSessionStore;
use discord_oauth_actix::{DiscordOAuth, DiscordToken, LoginConfig, MaybeDiscordUser};
use discord_oauth_core::api::{self, GuildsQuery};
use discord_oauth_core::cdn::ImageSize;
use discord_oauth_core::login::html_escape;
use discord_oauth_core::{Endpoints, Scope};
use discord_oauth_mock::{MockDiscord, fixture};

type BoxError = Box<dyn Error + Send + Sync>;

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
    /// The cookie encryption key material (at least 64 bytes); random when `None`.
    pub session_key: Option<Vec<u8>>,
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
    /// The most requests to Discord in flight at once (default 32).
    pub max_concurrent_requests: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("discord", &self.discord)
            .field("redirect_uri", &self.redirect_uri)
            .field("bind", &self.bind)
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
            previous_session_keys: Vec::new(),
            workers: 2,
            strict_cookies: false,
            public_host: None,
            require_issuer: false,
            max_concurrent_requests: discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS,
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
        if let Some(key) = var("SESSION_KEY") {
            if key.len() < 64 {
                return Err("SESSION_KEY must be at least 64 bytes of key material".into());
            }
            settings.session_key = Some(key.into_bytes());
        }
        if let Some(key) = var("SESSION_KEY_PREVIOUS") {
            if key.len() < 64 {
                return Err("SESSION_KEY_PREVIOUS must be at least 64 bytes of key material".into());
            }
            settings.previous_session_keys.push(key.into_bytes());
        }
        if var("SESSION_STORE").is_some_and(|s| s != "cookie" && s != "memory") {
            return Err(
                "the actix sample keeps sessions in an encrypted cookie; SESSION_STORE=redis is not wired up here"
                    .into(),
            );
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

    /// Stops the server (without waiting for open connections).
    pub fn stop(&self) {
        drop(self.handle.stop(false));
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
    let mut builder = LoginConfig::builder(client_id, redirect_uri)
        .scopes([Scope::Identify, Scope::Guilds])
        .endpoints(endpoints)
        .pending_ttl(settings.pending_ttl)
        .refresh_skew(settings.refresh_skew)
        .require_issuer(settings.require_issuer);
    if let Some(secret) = client_secret {
        builder = builder.client_secret(secret);
    }
    let config = builder.build()?;
    let transport = discord_oauth_actix::transport::ReqwestTransport::new()?;
    let mut discord = DiscordOAuth::builder(config, transport)
        .timeout(settings.timeout)
        .max_concurrent_requests(settings.max_concurrent_requests);
    if let Some(clock) = settings.clock.clone() {
        discord = discord.clock(clock);
    }
    let discord = discord.build();
    let key = match &settings.session_key {
        Some(bytes) => Key::try_from(bytes.as_slice())?,
        None => Key::generate(),
    };
    let offline = mock.as_ref().map(MockDiscord::base_url);
    let strict = settings.strict_cookies;
    let previous_keys = settings
        .previous_session_keys
        .iter()
        .map(|bytes| Key::try_from(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    // Outside the session middleware: cookies under a previous key are re-encrypted before it
    // reads them (no-op without previous keys).
    let rotation = discord.session_key_rotation(key.clone(), previous_keys);
    let server =
        HttpServer::new(move || app(discord.clone(), key.clone(), offline.clone(), strict).wrap(rotation.clone()))
            .workers(settings.workers.max(1))
            .disable_signals()
            .listen(listener)?
            .run();
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
        task,
    })
}

#[derive(Clone)]
struct AppState {
    discord: DiscordOAuth,
    offline: Option<String>,
}

/// The site: its routes, the login routes, the login middleware and the session cookie.
pub fn app(
    discord: DiscordOAuth,
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
        .app_data(web::Data::new(AppState {
            discord: discord.clone(),
            offline: offline_mock,
        }))
        .configure(discord.routes())
        .route("/", web::get().to(home))
        .route("/me", web::get().to(me))
        .wrap(discord.middleware())
        .wrap({
            let sessions = discord.session_middleware_builder(CookieSessionStore::default(), key);
            if strict_cookies {
                sessions.cookie_same_site(actix_web::cookie::SameSite::Strict).build()
            } else {
                sessions.build()
            }
        })
}

async fn me(user: MaybeDiscordUser) -> HttpResponse {
    match user.0 {
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

async fn home(state: web::Data<AppState>, user: MaybeDiscordUser, token: Option<DiscordToken>) -> HttpResponse {
    let banner = state.offline.as_ref().map_or_else(String::new, |base| {
        format!(
            "<p class=\"banner\">Offline demo: logging in against the mock Discord at <code>{}</code>. \
             Set <code>DISCORD_CLIENT_ID</code> to use discord.com.</p>",
            html_escape(base)
        )
    });
    let body = match (&user.0, &token) {
        (Some(user), token) => {
            let guilds = match token {
                Some(t) if t.scopes().contains(&Scope::Guilds) => {
                    let call =
                        api::current_user_guilds(state.discord.endpoints(), t.access_token(), &GuildsQuery::default());
                    match state.discord.call(&call).await {
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
                 <form method=\"post\" action=\"/auth/logout\"><button type=\"submit\" id=\"logout\">Log out</button></form>",
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
