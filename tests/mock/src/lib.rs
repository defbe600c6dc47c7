//! A mock Discord for tests and offline demos: a real HTTP server (axum) that behaves like
//! discord.com on the OAuth2 endpoints and the user API.
//!
//! * `GET /oauth2/authorize` — validation, a consent page with working **Authorize** and
//!   **Cancel** buttons (plain HTML forms), bot and advanced bot authorization, webhooks,
//!   the implicit grant, PKCE (`S256` only), `prompt=none`.
//! * `POST /api/v10/oauth2/token` — form bodies only; `authorization_code` (single-use codes
//!   that expire, exact `redirect_uri`, PKCE), `refresh_token` (rotation), `client_credentials`
//!   (team rule); `guild`, `webhook` and `id_token` (RS256) in the response when granted.
//! * `POST /api/v10/oauth2/token/revoke` — revokes the whole grant.
//! * `/users/@me`, `/users/@me/guilds`, `/users/@me/guilds/{id}/member`,
//!   `/users/@me/connections`, `/oauth2/@me`, `/oauth2/applications/@me`,
//!   `PUT /guilds/{id}/members/{user}`, role connections, `/oauth2/userinfo`, `/oauth2/keys` —
//!   scope-gated, with Discord's error bodies and `X-RateLimit-*` headers.
//! * Every request is recorded (secrets masked in `Debug`), and faults (429 in several shapes,
//!   5xx, delays, dropped connections) can be injected per endpoint.
//!
//! API paths are served under `/api/v10`, `/api/v9` and `/api`.
//!
//! # Example: testing your own axum app against the mock
//!
//! The app is called in-process (`oneshot`, no socket); the mock is a real server on loopback,
//! which the app's login reaches like discord.com. [`MockDiscord::log_in`] walks the login a
//! browser would (the app's login route, the mock's consent page, the app's callback) and
//! hands back the session's [`CookieHeader`].
//!
//! ```
//! use axum::{Json, Router, body::Body, http::Request, routing::get};
//! use discord_oauth_axum::{DiscordOAuth, DiscordUser, LoginConfig, MemoryStore};
//! use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
//! use tower::ServiceExt as _;
//!
//! /// The app under test: `/me` answers the logged-in user as JSON.
//! fn my_app(config: LoginConfig) -> Result<Router, Box<dyn std::error::Error>> {
//!     let me = get(|user: DiscordUser| async move { Json(user.user().clone()) });
//!     Ok(DiscordOAuth::new(config)?.mount(Router::new().route("/me", me), MemoryStore::default()))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Start the mock on an ephemeral loopback port.
//! let discord = MockDiscord::start().await?;
//!
//! // 2. The app, pointed at the mock: the fixture application, with this redirect URI
//! //    registered at the mock (nothing listens on it: the callback is sent to `app`).
//! let app = my_app(discord.login_config("http://127.0.0.1:3000/auth/callback")?.build()?)?;
//!
//! // 3. Log in as a mock user and use the session.
//! let cookie = discord.log_in(&app, "/auth/login", fixture::WUMPUS_ID).await?;
//! let me = Request::get("/me").header("cookie", cookie.as_str()).body(Body::empty())?;
//! let me = app.clone().oneshot(me).await?;
//! assert_eq!(me.status(), 200);
//! let me: serde_json::Value = serde_json::from_slice(&axum::body::to_bytes(me.into_body(), 1 << 16).await?)?;
//! assert_eq!(me["username"], "wumpus");
//!
//! // 4. Assert on what the app sent to Discord.
//! let token_calls = discord.requests_to(Endpoint::Token);
//! assert_eq!(token_calls.len(), 1);
//! assert!(token_calls[0].is_form());
//! assert!(token_calls[0].basic_auth().is_some());
//! assert!(token_calls[0].form_param("code_verifier").is_some());
//!
//! // 5. Make Discord misbehave and check the app copes: the token endpoint fails once, the
//! //    callback answers an error page, and the next login works.
//! discord.inject(Fault::status(Endpoint::Token, 500).once());
//! let failed = discord.log_in(&app, "/auth/login", fixture::WUMPUS_ID).await;
//! assert!(failed.unwrap_err().to_string().contains("answered 502 Bad Gateway"));
//! discord.log_in(&app, "/auth/login", fixture::WUMPUS_ID).await?;
//! # Ok(()) }
//! ```
//!
//! An app served on loopback (any framework) logs in with [`MockDiscord::log_in_at`] and a
//! reqwest client. Its redirect URI needs the port, so bind the listener first:
//!
//! ```
//! # use axum::{Json, Router, routing::get};
//! # use discord_oauth_axum::{DiscordOAuth, DiscordUser, LoginConfig, MemoryStore};
//! # fn my_app(config: LoginConfig) -> Result<Router, Box<dyn std::error::Error>> {
//! #     let me = get(|user: DiscordUser| async move { Json(user.user().clone()) });
//! #     Ok(DiscordOAuth::new(config)?.mount(Router::new().route("/me", me), MemoryStore::default()))
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use discord_oauth_mock::{MockDiscord, fixture};
//!
//! let discord = MockDiscord::start().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let site = format!("http://{}", listener.local_addr()?);
//! let app = my_app(discord.login_config(&format!("{site}/auth/callback"))?.build()?)?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
//! let cookie = discord.log_in_at(&http, &format!("{site}/auth/login"), fixture::LENA_ID).await?;
//! let me = http.get(format!("{site}/me")).header("cookie", cookie.as_str()).send().await?;
//! assert_eq!(me.json::<serde_json::Value>().await?["username"], "legacy_lena");
//! # Ok(()) }
//! ```
//!
//! An actix-web app made with `actix_web::test::init_service` logs in with
//! `MockDiscord::log_in_actix` (cargo feature `actix-web`); another framework's in-process
//! test client with [`MockDiscord::log_in_with`]. A failed login is an error that says where it
//! stopped and what the app or the mock answered (e.g. the mock's page for a redirect URI it
//! does not know, naming the URI it got and the registered ones). The guides of
//! `discord-oauth-axum` and `discord-oauth-actix` (their `guides` modules) walk through testing
//! an app this way, on both frameworks.
//!
//! # Tests that skip the browser
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use discord_oauth_mock::{MockDiscord, fixture};
//!
//! let discord = MockDiscord::start().await.unwrap();
//! let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify email").unwrap();
//! // call `{discord.api_base()}/users/@me` with `Authorization: Bearer {tokens.access_token}`
//! # assert!(tokens.refresh_token.is_some());
//! # discord.shutdown().await;
//! # }
//! ```
//!
//! # Which user consents
//!
//! The consent page acts as the user "logged in to Discord" in that browser: the user picked in
//! the page's select, else the one set by `GET /mock/login-as/{user_id}` (a cookie, so many
//! concurrent browsers can be different users), else the default user ([`fixture::WUMPUS_ID`]
//! unless changed).
//!
//! # Control over HTTP
//!
//! For tests that cannot call the Rust API (browser tests, other languages, the standalone
//! binary): `GET /mock` (pick a user), `GET /mock/login-as/{user_id}[?next=URL]`,
//! `GET /mock/logout`, `GET /mock/requests` (recorded requests, secrets masked),
//! `GET /cdn/…` (the CDN, see [`MockDiscord::cdn_base`]),
//! `POST /mock/faults` (form `spec=ENDPOINT:KIND[*N]`, see [`Fault`]'s `FromStr`),
//! `DELETE /mock/faults`, `POST /mock/expire-access-tokens`, `POST /mock/advance-time`
//! (form `seconds=N`), `POST /mock/sdk/authorize` (form `client_id`, `scope`, optional
//! `user_id`: a code the Embedded App SDK's way, see [`MockDiscord::sdk_authorize`]).
//!
//! # Standalone
//!
//! `cargo run -p discord-oauth-mock -- --bind 127.0.0.1:7999 --client-id ID --client-secret SECRET
//! --redirect-uri URI --auto-consent` serves the same mock; `--help` lists every flag.

#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod api;
mod cdn;
pub mod errors;
mod events;
mod fault;
pub mod fixture;
mod html;
mod jwt;
mod login;
mod model;
mod oauth;
mod record;
mod server;
mod state;
mod util;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

pub use events::{EventDelivery, EventSignature};
pub use fault::{Fault, FaultKind, FaultSpecError, RateLimitStyle};
pub use jwt::{JWK_E, JWK_N, KEY_ID, TEST_RSA_PRIVATE_KEY_PEM, TEST_RSA_PUBLIC_KEY_PEM};
pub use login::{CookieHeader, approve_as, html_attribute};
pub use model::{
    ALL_PERMISSIONS, MockClient, MockConnection, MockGuild, MockMember, MockRole, MockUser, PERMISSION_ADMINISTRATOR,
    PERMISSION_MANAGE_GUILD,
};
pub use oauth::{KNOWN_SCOPES, USER_COOKIE};
pub use record::{Endpoint, RecordedRequest};
pub use state::{IssuedTokens, TokenStatus};

use state::{Grant, Shared, State};

/// Errors from building or driving the mock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{MockDiscord, MockError, fixture};
///
/// let discord = MockDiscord::start().await?;
/// match discord.issue_tokens(fixture::WUMPUS_ID, "identify not.a.scope") {
///     Err(MockError::UnknownScope(scope)) => assert_eq!(scope, "not.a.scope"),
///     other => return Err(format!("unexpected: {other:?}").into()),
/// }
/// assert!(matches!(discord.issue_tokens("42", "identify"), Err(MockError::UnknownUser(_))));
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MockError {
    /// Binding or serving failed.
    Io(std::io::Error),
    /// No such user id.
    UnknownUser(String),
    /// No such client id.
    UnknownClient(String),
    /// No such guild id.
    UnknownGuild(String),
    /// A scope name Discord does not know.
    UnknownScope(String),
    /// A webhook event got no answer (connection refused, timeout, …).
    EventDelivery(String),
    /// [`approve_as`] could not walk the consent page.
    Consent(String),
    /// Logging in to an app through the mock ([`MockDiscord::log_in`] and its siblings)
    /// failed: what the app answered instead.
    Login(String),
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::Io(e) => write!(f, "mock Discord I/O error: {e}"),
            MockError::UnknownUser(id) => write!(f, "the mock has no user with id {id}"),
            MockError::UnknownClient(id) => write!(f, "the mock has no client with id {id}"),
            MockError::UnknownGuild(id) => write!(f, "the mock has no guild with id {id}"),
            MockError::UnknownScope(s) => write!(f, "unknown OAuth2 scope {s:?}"),
            MockError::EventDelivery(e) => write!(f, "the webhook event got no answer: {e}"),
            MockError::Consent(e) => write!(f, "the consent page: {e}"),
            MockError::Login(e) => write!(f, "logging in through the app: {e}"),
        }
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MockError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for MockError {
    fn from(e: std::io::Error) -> Self {
        MockError::Io(e)
    }
}

/// Configures and starts a [`MockDiscord`]. Starts from the [`fixture`] unless
/// [`without_fixture`](Self::without_fixture) is called.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use discord_oauth_mock::{MockClient, MockDiscord, MockGuild, MockMember, MockUser};
///
/// // Your own application and users instead of the fixture's.
/// let discord = MockDiscord::builder()
///     .without_fixture()
///     .client(
///         MockClient::confidential("157730590492196864", "client-secret")
///             .redirect_uri("http://127.0.0.1:3000/auth/callback"),
///     )
///     .user(MockUser::new("80351110224678912", "nelly").email("nelly@example.com", true))
///     .guild(MockGuild::new("613425648685547541", "Discord Developers"))
///     .member(MockMember::new("613425648685547541", "80351110224678912").nick("Nel"))
///     .auto_consent(true) // the consent page approves at once
///     .access_token_ttl(Duration::from_secs(60))
///     .start()
///     .await?;
///
/// let tokens = discord.issue_tokens_for("157730590492196864", "80351110224678912", "identify email guilds")?;
/// assert_eq!(tokens.expires_in, 60);
/// let me: serde_json::Value = reqwest::Client::new()
///     .get(format!("{}/users/@me", discord.api_base()))
///     .bearer_auth(&tokens.access_token)
///     .send()
///     .await?
///     .json()
///     .await?;
/// assert_eq!(me["email"], "nelly@example.com");
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockDiscordBuilder {
    state: State,
    bind: SocketAddr,
    public_base_url: Option<String>,
}

impl Default for MockDiscordBuilder {
    fn default() -> Self {
        let mut state = State::default();
        fixture::install(&mut state);
        Self {
            state,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            public_base_url: None,
        }
    }
}

impl MockDiscordBuilder {
    /// Removes every fixture client, user, guild, member and connection.
    pub fn without_fixture(mut self) -> Self {
        let config = std::mem::take(&mut self.state.config);
        self.state = State {
            config,
            ..State::default()
        };
        self
    }

    /// Where to listen (default `127.0.0.1:0`, an ephemeral port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The origin the mock advertises (default `http://{bound address}`; an unspecified bind
    /// address like `0.0.0.0` is advertised as `127.0.0.1`).
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Registers (or replaces, by id) an application.
    pub fn client(mut self, client: MockClient) -> Self {
        self.state.clients.insert(client.id.clone(), client);
        self
    }

    /// Registers (or replaces, by id) a user. The first user ever added to an empty mock
    /// becomes the default user.
    pub fn user(mut self, user: MockUser) -> Self {
        if self.state.default_user.is_none() {
            self.state.default_user = Some(user.id.clone());
        }
        self.state.users.insert(user.id.clone(), user);
        self
    }

    /// Registers (or replaces, by id) a guild.
    pub fn guild(mut self, guild: MockGuild) -> Self {
        self.state.guilds.insert(guild.id.clone(), guild);
        self
    }

    /// Adds (or replaces) a guild membership.
    pub fn member(mut self, member: MockMember) -> Self {
        self.state
            .members
            .retain(|m| !(m.guild_id == member.guild_id && m.user_id == member.user_id));
        self.state.members.push(member);
        self
    }

    /// Adds a linked account.
    pub fn connection(mut self, connection: MockConnection) -> Self {
        self.state.connections.push(connection);
        self
    }

    /// Puts an application's bot in a guild (needed by `PUT /guilds/{id}/members/{user}`).
    pub fn bot_in_guild(mut self, client_id: impl Into<String>, guild_id: impl Into<String>) -> Self {
        self.state.bot_guilds.insert((client_id.into(), guild_id.into()));
        self
    }

    /// The user who consents when no cookie or form choice says otherwise.
    pub fn default_user(mut self, user_id: impl Into<String>) -> Self {
        self.state.default_user = Some(user_id.into());
        self
    }

    /// Approve every valid authorization request at once, without a consent page.
    pub fn auto_consent(mut self, on: bool) -> Self {
        self.state.config.auto_consent = on;
        self
    }

    /// How long authorization codes live (default 10 minutes).
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.state.config.code_ttl = ttl;
        self
    }

    /// How long access tokens live (default 604800 s, Discord's 7 days).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.state.config.access_token_ttl = ttl;
        self
    }

    /// Add `iss` to authorization responses (RFC 9207). Off by default, like discord.com.
    pub fn include_iss(mut self, on: bool) -> Self {
        self.state.config.include_iss = on;
        self
    }

    /// The issuer in id_tokens, discovery and `iss` (default `https://discord.com`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.state.config.issuer = issuer.into();
        self
    }

    /// Whether reusing an authorization code also revokes the grant it produced (default on).
    pub fn revoke_on_code_reuse(mut self, on: bool) -> Self {
        self.state.config.revoke_on_code_reuse = on;
        self
    }

    /// Whether reusing a rotated refresh token revokes the whole grant (default off; old
    /// refresh tokens then just get `invalid_grant`).
    pub fn revoke_on_refresh_reuse(mut self, on: bool) -> Self {
        self.state.config.revoke_on_refresh_reuse = on;
        self
    }

    /// Sets an application's Events Webhook URL (see [`MockDiscord::set_event_webhook_url`]).
    pub fn event_webhook_url(mut self, client_id: impl Into<String>, url: impl Into<String>) -> Self {
        self.state.event_webhook_urls.insert(client_id.into(), url.into());
        self
    }

    /// Enforces Discord-style rate-limit buckets on the API: every request with a token
    /// (`Authorization: Bearer …`, or a bot's `Bot …`) gets a turn in its token's bucket for
    /// that endpoint, `requests` per `window` (fixed windows
    /// starting at a bucket's first request), with real `X-RateLimit-Limit`/`-Remaining`/
    /// `-Reset-After`/`-Bucket` headers; past the limit the request is not served and gets a
    /// `429` with `retry_after` (JSON), `Retry-After` and `X-RateLimit-Scope: user`. Off by
    /// default (the headers then say 50 per second and nothing is enforced). At most 10,000
    /// buckets are tracked (expired ones are dropped beyond that).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), discord_oauth_mock::MockError> {
    /// use std::time::Duration;
    /// let mock = discord_oauth_mock::MockDiscord::builder()
    ///     .rate_limit_buckets(5, Duration::from_secs(1))
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn rate_limit_buckets(mut self, requests: u32, window: Duration) -> Self {
        self.state.config.buckets = Some((requests.max(1), window));
        self
    }

    /// How many requests to keep (oldest dropped first; default 100 000).
    pub fn max_recorded_requests(mut self, n: usize) -> Self {
        self.state.config.max_recorded = n;
        self
    }

    /// Binds and starts serving in the background on the current tokio runtime.
    pub async fn start(self) -> Result<MockDiscord, MockError> {
        if let Some(d) = &self.state.default_user
            && !self.state.users.contains_key(d)
        {
            return Err(MockError::UnknownUser(d.clone()));
        }
        let listener = tokio::net::TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let base_url = self.public_base_url.unwrap_or_else(|| {
            let shown = if addr.ip().is_unspecified() {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
            } else {
                addr
            };
            format!("http://{shown}")
        });
        let shared = Arc::new(Shared::new(self.state, base_url));
        let app = server::router(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::debug!(%addr, "mock Discord listening");
        Ok(MockDiscord {
            shared: shared.clone(),
            server: Arc::new(ServerGuard {
                shared,
                task: Mutex::new(Some(task)),
            }),
            addr,
        })
    }
}

#[derive(Debug)]
struct ServerGuard {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        let task = self
            .task
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(t) = task {
            t.abort();
        }
    }
}

/// The longest [`MockDiscord::global_rate_limit`] (60 s): a test cannot park the mock for long.
pub const MAX_GLOBAL_RATE_LIMIT: Duration = Duration::from_secs(60);

/// A running mock Discord. Cheap to clone; the server stops when the last clone is dropped
/// or [`shutdown`](Self::shutdown) is called.
///
/// Tokens and time are under the test's control:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{MockDiscord, TokenStatus, fixture};
///
/// let discord = MockDiscord::start().await?;
/// let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify guilds")?;
/// assert_eq!(discord.token_status(&tokens.access_token), TokenStatus::Active);
///
/// // The access token expires; its refresh token still works.
/// discord.expire_access_tokens();
/// assert_eq!(discord.token_status(&tokens.access_token), TokenStatus::Expired);
/// let me = reqwest::Client::new()
///     .get(format!("{}/users/@me", discord.api_base()))
///     .bearer_auth(&tokens.access_token)
///     .send()
///     .await?;
/// assert_eq!(me.status(), 401);
///
/// // The user removes the application on Discord.
/// assert_eq!(discord.revoke_all_for(fixture::WUMPUS_ID), 1);
/// let refresh_token = tokens.refresh_token.as_deref().unwrap_or_default();
/// assert_eq!(discord.token_status(refresh_token), TokenStatus::Revoked);
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MockDiscord {
    shared: Arc<Shared>,
    server: Arc<ServerGuard>,
    addr: SocketAddr,
}

impl MockDiscord {
    /// A builder preloaded with the [`fixture`].
    pub fn builder() -> MockDiscordBuilder {
        MockDiscordBuilder::default()
    }

    /// Starts the fixture mock on `127.0.0.1:0` (consent page shown).
    pub async fn start() -> Result<MockDiscord, MockError> {
        Self::builder().start().await
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin, e.g. `http://127.0.0.1:41234` (plays the part of `https://discord.com`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base}/api/v10`.
    pub fn api_base(&self) -> String {
        format!("{}/api/v10", self.shared.base_url)
    }

    /// `{base}/cdn`: the mock's CDN (plays the part of `https://cdn.discordapp.com`), serving
    /// the avatars, banners and icons of the users, guilds and applications it knows, and the
    /// default avatars (see `cdn.rs`).
    pub fn cdn_base(&self) -> String {
        format!("{}{}", self.shared.base_url, cdn::PREFIX)
    }

    /// A login configuration of the fixture's confidential application
    /// ([`fixture::CLIENT_ID`], its secret) pointed at this mock
    /// ([`LoginConfigBuilder::discord_base`](discord_oauth_core::login::LoginConfigBuilder::discord_base)),
    /// with `redirect_uri` registered here: the one call a test of an app needs (add scopes
    /// and settings on the builder).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let discord = discord_oauth_mock::MockDiscord::start().await?;
    /// let config = discord.login_config("http://127.0.0.1:3000/auth/callback")?.build()?;
    /// assert!(config.client().endpoints().api_base.as_str().starts_with(&discord.base_url()));
    /// # Ok(()) }
    /// ```
    pub fn login_config(&self, redirect_uri: &str) -> Result<discord_oauth_core::login::LoginConfigBuilder, MockError> {
        self.add_redirect_uri(fixture::CLIENT_ID, redirect_uri)?;
        Ok(
            discord_oauth_core::login::LoginConfig::builder(fixture::CLIENT_ID, redirect_uri)
                .client_secret(fixture::CLIENT_SECRET)
                .discord_base(&self.base_url()),
        )
    }

    /// `{base}/oauth2/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/authorize", self.shared.base_url)
    }

    /// `{base}/api/v10/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.api_base())
    }

    /// `{base}/api/v10/oauth2/token/revoke`.
    pub fn revoke_url(&self) -> String {
        format!("{}/oauth2/token/revoke", self.api_base())
    }

    /// `{base}/api/v10/oauth2/keys` (JWKS).
    pub fn keys_url(&self) -> String {
        format!("{}/oauth2/keys", self.api_base())
    }

    /// `{base}/api/v10/oauth2/userinfo`.
    pub fn userinfo_url(&self) -> String {
        format!("{}/oauth2/userinfo", self.api_base())
    }

    /// `{base}/mock/login-as/{user_id}`: open it in a browser to "log in to Discord" as that
    /// user (add `?next=URL` to be sent on).
    pub fn login_url(&self, user_id: &str) -> String {
        format!("{}/mock/login-as/{user_id}", self.shared.base_url)
    }

    // -- recorded requests ---------------------------------------------------------------

    /// Every recorded request, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Recorded requests to one endpoint, oldest first.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// Recorded refreshes: token requests with `grant_type=refresh_token`, oldest first. How
    /// often an app refreshed, and what Discord answered (`RecordedRequest::status`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = discord_oauth_mock::MockDiscord::start().await?;
    /// let issued = mock.issue_tokens(discord_oauth_mock::fixture::WUMPUS_ID, "identify")?;
    /// let refresh_token = issued.refresh_token.ok_or("the mock issues refresh tokens")?;
    /// // An app refreshes: here by hand, with the fixture application's credentials.
    /// let refreshed = reqwest::Client::new()
    ///     .post(mock.token_url())
    ///     .basic_auth(discord_oauth_mock::fixture::CLIENT_ID, Some(discord_oauth_mock::fixture::CLIENT_SECRET))
    ///     .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
    ///     .send()
    ///     .await?;
    /// assert_eq!(refreshed.status(), 200);
    /// let refreshes = mock.refreshes();
    /// assert_eq!(refreshes.len(), 1);
    /// assert_eq!(refreshes[0].status(), Some(200));
    /// # Ok(())
    /// # }
    /// ```
    pub fn refreshes(&self) -> Vec<RecordedRequest> {
        let mut token = self.requests_to(Endpoint::Token);
        token.retain(|r| r.grant_type().as_deref() == Some("refresh_token"));
        token
    }

    /// The latest request to an endpoint.
    pub fn last_request(&self, endpoint: Endpoint) -> Option<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .rev()
            .find(|r| r.endpoint == endpoint)
            .cloned()
    }

    /// How many requests hit an endpoint.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }

    /// How many token requests had this `grant_type` (`authorization_code`, `refresh_token`,
    /// `client_credentials`).
    pub fn count_grant(&self, grant_type: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.endpoint == Endpoint::Token && r.grant_type().as_deref() == Some(grant_type))
            .count()
    }

    /// Forgets recorded requests (and the [`max_in_flight`](Self::max_in_flight) marks).
    pub fn clear_requests(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.in_flight.reset_max();
    }

    /// The most requests to `endpoint` the mock was handling at the same time (since it
    /// started or [`clear_requests`](Self::clear_requests)); with `None`, to every API
    /// endpoint (`/api/…`) together. A request counts from its arrival until its answer is
    /// sent or its client goes away, injected delays included.
    ///
    /// ```
    /// # async fn f(mock: discord_oauth_mock::MockDiscord) {
    /// use discord_oauth_mock::Endpoint;
    /// assert!(mock.max_in_flight(Some(Endpoint::Token)) <= mock.max_in_flight(None));
    /// # }
    /// ```
    pub fn max_in_flight(&self, endpoint: Option<Endpoint>) -> usize {
        self.shared.lock().in_flight.max(endpoint)
    }

    // -- faults --------------------------------------------------------------------------

    /// Adds a fault. Faults are checked in the order added; the first that matches fires.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
    ///
    /// let discord = MockDiscord::start().await?;
    /// let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify")?;
    /// let me = || {
    ///     reqwest::Client::new()
    ///         .get(format!("{}/users/@me", discord.api_base()))
    ///         .bearer_auth(&tokens.access_token)
    ///         .send()
    /// };
    ///
    /// // The next `/users/@me` is rate limited, the one after it answers.
    /// discord.inject(Fault::rate_limited(Endpoint::CurrentUser).retry_after(0.5).once());
    /// let limited = me().await?;
    /// assert_eq!(limited.status(), 429);
    /// assert_eq!(limited.json::<serde_json::Value>().await?["retry_after"], 0.5);
    /// assert_eq!(me().await?.status(), 200);
    ///
    /// // A fault without a count fires until cleared.
    /// discord.inject(Fault::status(Endpoint::CurrentUser, 502));
    /// assert_eq!(me().await?.status(), 502);
    /// discord.clear_faults();
    /// assert_eq!(me().await?.status(), 200);
    /// assert_eq!(discord.count(Endpoint::CurrentUser), 4);
    /// assert!(discord.requests_to(Endpoint::CurrentUser)[0].fault().is_some());
    /// # discord.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every pending fault, and ends a [`global_rate_limit`](Self::global_rate_limit).
    pub fn clear_faults(&self) {
        let mut st = self.shared.lock();
        st.faults.clear();
        st.global_until = None;
    }

    /// Puts the application over Discord's global rate limit for `retry_after` (at most
    /// [`MAX_GLOBAL_RATE_LIMIT`], longer values are cut to it), from now, in real time: until
    /// then every API request, whatever its token and endpoint, is answered the way Discord
    /// answers it — `429` with `{"message": "You are being rate limited.", "retry_after": <the
    /// seconds left>, "global": true}`, `Retry-After`, `X-RateLimit-Global: true` and
    /// `X-RateLimit-Scope: global` — and recorded with that status. A client that honours the
    /// first global `429` sends nothing until the time is over, so the mock records exactly one
    /// `429`; each request that came too early shows as one more. An injected fault that
    /// matches a request still comes first; [`clear_faults`](Self::clear_faults) ends it early.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), discord_oauth_mock::MockError> {
    /// use std::time::Duration;
    /// let mock = discord_oauth_mock::MockDiscord::start().await?;
    /// mock.global_rate_limit(Duration::from_millis(1500));
    /// # Ok(()) }
    /// ```
    pub fn global_rate_limit(&self, retry_after: Duration) {
        let until = std::time::Instant::now().checked_add(retry_after.min(MAX_GLOBAL_RATE_LIMIT));
        self.shared.lock().global_until = until;
    }

    // -- tokens and time -----------------------------------------------------------------

    /// Issues tokens from the default client ([`fixture::CLIENT_ID`]) to a user, as if a code
    /// grant with these space-separated scopes had just completed (refresh token included).
    pub fn issue_tokens(&self, user_id: &str, scopes: &str) -> Result<IssuedTokens, MockError> {
        self.issue_tokens_for(fixture::CLIENT_ID, user_id, scopes)
    }

    /// Like [`issue_tokens`](Self::issue_tokens) for any registered client.
    pub fn issue_tokens_for(&self, client_id: &str, user_id: &str, scopes: &str) -> Result<IssuedTokens, MockError> {
        let mut st = self.shared.lock();
        if !st.clients.contains_key(client_id) {
            return Err(MockError::UnknownClient(client_id.to_owned()));
        }
        if !st.users.contains_key(user_id) {
            return Err(MockError::UnknownUser(user_id.to_owned()));
        }
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
            return Err(MockError::UnknownScope(bad.clone()));
        }
        st.authorizations
            .entry((client_id.to_owned(), user_id.to_owned()))
            .or_default()
            .extend(scopes.iter().cloned());
        let grant = Grant {
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            scopes,
            revoked: false,
        };
        Ok(st.issue(grant, true, None).1)
    }

    /// Issues an authorization code the way the Discord client does for an Activity's
    /// Embedded App SDK `authorize` command: bound to no `redirect_uri` (exchange it without
    /// one; sending one is refused), no PKCE, consent implied. `scopes` is space-separated.
    /// Over HTTP: `POST /mock/sdk/authorize`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use discord_oauth_mock::{MockDiscord, fixture};
    /// let discord = MockDiscord::start().await.unwrap();
    /// let code = discord.sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify email").unwrap();
    /// assert_eq!(code.len(), 30);
    /// # }
    /// ```
    pub fn sdk_authorize(&self, client_id: &str, user_id: &str, scopes: &str) -> Result<String, MockError> {
        let mut st = self.shared.lock();
        if !st.clients.contains_key(client_id) {
            return Err(MockError::UnknownClient(client_id.to_owned()));
        }
        if !st.users.contains_key(user_id) {
            return Err(MockError::UnknownUser(user_id.to_owned()));
        }
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        oauth::sdk_code(&mut st, client_id, user_id, &scopes).map_err(|_| MockError::UnknownScope(scopes.join(" ")))
    }

    /// Makes every access token issued so far expired (refresh tokens stay usable).
    pub fn expire_access_tokens(&self) {
        self.shared.lock().expire_access_tokens();
    }

    /// Makes every authorization code issued so far expired.
    pub fn expire_codes(&self) {
        let mut st = self.shared.lock();
        let past = util::earlier(st.now(), Duration::from_secs(1));
        for c in st.codes.values_mut() {
            c.expires_at = c.expires_at.min(past);
        }
    }

    /// Moves the mock's clock forward (codes and access tokens expire accordingly; timestamps
    /// in responses move too).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use discord_oauth_mock::{MockDiscord, TokenStatus, fixture};
    ///
    /// let discord = MockDiscord::builder().access_token_ttl(Duration::from_secs(3600)).start().await?;
    /// let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify")?;
    /// discord.advance_time(Duration::from_secs(3599));
    /// assert_eq!(discord.token_status(&tokens.access_token), TokenStatus::Active);
    /// discord.advance_time(Duration::from_secs(2));
    /// assert_eq!(discord.token_status(&tokens.access_token), TokenStatus::Expired);
    /// # discord.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn advance_time(&self, by: Duration) {
        let mut st = self.shared.lock();
        st.clock_offset = st.clock_offset.saturating_add(by);
    }

    /// Revokes every grant of a user (all clients); returns how many were live.
    ///
    /// Like a user removing the application on Discord: every application with an Events
    /// Webhook URL ([`set_event_webhook_url`](Self::set_event_webhook_url)) that lost a live
    /// grant is sent `APPLICATION_DEAUTHORIZED` for the user, in the background (see
    /// [`wait_for_event_deliveries`](Self::wait_for_event_deliveries)).
    pub fn revoke_all_for(&self, user_id: &str) -> usize {
        let (n, outgoing) = {
            let mut st = self.shared.lock();
            let mut n = 0;
            let mut clients = std::collections::BTreeSet::new();
            for g in st.grants.values_mut() {
                if g.user_id == user_id && !g.revoked {
                    g.revoked = true;
                    n += 1;
                    clients.insert(g.client_id.clone());
                }
            }
            st.authorizations.retain(|(_, u), _| u != user_id);
            let outgoing: Vec<_> = clients
                .iter()
                .filter_map(|c| events::deauthorized(&st, c, user_id))
                .collect();
            (n, outgoing)
        };
        for out in outgoing {
            events::spawn(&self.shared, out);
        }
        n
    }

    /// What the mock thinks of an access or refresh token.
    pub fn token_status(&self, token: &str) -> TokenStatus {
        self.shared.lock().token_status(token)
    }

    // -- fixture changes at runtime ------------------------------------------------------

    /// Registers (or replaces, by id) an application.
    pub fn add_client(&self, client: MockClient) {
        self.shared.lock().clients.insert(client.id.clone(), client);
    }

    /// Registers one more redirect URI for a client.
    pub fn add_redirect_uri(&self, client_id: &str, uri: impl Into<String>) -> Result<(), MockError> {
        let mut st = self.shared.lock();
        let client = st
            .clients
            .get_mut(client_id)
            .ok_or_else(|| MockError::UnknownClient(client_id.to_owned()))?;
        let uri = uri.into();
        if !client.redirect_uris.contains(&uri) {
            client.redirect_uris.push(uri);
        }
        Ok(())
    }

    /// Registers (or replaces, by id) a user.
    pub fn add_user(&self, user: MockUser) {
        let mut st = self.shared.lock();
        if st.default_user.is_none() {
            st.default_user = Some(user.id.clone());
        }
        st.users.insert(user.id.clone(), user);
    }

    /// Registers (or replaces, by id) a guild.
    pub fn add_guild(&self, guild: MockGuild) {
        self.shared.lock().guilds.insert(guild.id.clone(), guild);
    }

    /// Adds (or replaces) a guild membership.
    pub fn add_member(&self, member: MockMember) {
        let mut st = self.shared.lock();
        st.members
            .retain(|m| !(m.guild_id == member.guild_id && m.user_id == member.user_id));
        st.members.push(member);
    }

    /// Removes a membership; returns whether there was one.
    pub fn remove_member(&self, guild_id: &str, user_id: &str) -> bool {
        let mut st = self.shared.lock();
        let before = st.members.len();
        st.members.retain(|m| !(m.guild_id == guild_id && m.user_id == user_id));
        before != st.members.len()
    }

    /// Whether a user is in a guild (member record or owner).
    pub fn is_member(&self, guild_id: &str, user_id: &str) -> bool {
        self.shared.lock().is_member(guild_id, user_id)
    }

    /// Adds a linked account.
    pub fn add_connection(&self, connection: MockConnection) {
        self.shared.lock().connections.push(connection);
    }

    /// Whether an application's bot is in a guild (fixture, or added by a bot authorization).
    pub fn bot_in_guild(&self, client_id: &str, guild_id: &str) -> bool {
        self.shared
            .lock()
            .bot_guilds
            .contains(&(client_id.to_owned(), guild_id.to_owned()))
    }

    /// The role connection an application stored for a user, if any.
    pub fn role_connection(&self, client_id: &str, user_id: &str) -> Option<serde_json::Value> {
        self.shared
            .lock()
            .role_connections
            .get(&(client_id.to_owned(), user_id.to_owned()))
            .cloned()
    }

    /// Changes the default user.
    pub fn set_default_user(&self, user_id: &str) -> Result<(), MockError> {
        let mut st = self.shared.lock();
        if !st.users.contains_key(user_id) {
            return Err(MockError::UnknownUser(user_id.to_owned()));
        }
        st.default_user = Some(user_id.to_owned());
        Ok(())
    }

    /// Turns automatic consent on or off.
    pub fn set_auto_consent(&self, on: bool) {
        self.shared.lock().config.auto_consent = on;
    }

    // -- webhook events -----------------------------------------------------------------

    /// The public key the mock's webhook events verify with (64 hex digits, what the
    /// Developer Portal calls the application's "Public Key"):
    /// [`fixture::EVENTS_PUBLIC_KEY_HEX`], the same for every mock application.
    pub fn events_public_key_hex(&self) -> &'static str {
        fixture::EVENTS_PUBLIC_KEY_HEX
    }

    /// Sets an application's Events Webhook URL (the spec's `event_webhooks_url`). From then
    /// on, revoking one of its grants (`POST /oauth2/token/revoke`,
    /// [`revoke_all_for`](Self::revoke_all_for)) sends `APPLICATION_DEAUTHORIZED` for the
    /// user there. Unlike Discord, saving the URL sends no PING: call
    /// [`send_ping`](Self::send_ping) for that.
    pub fn set_event_webhook_url(&self, client_id: &str, url: impl Into<String>) -> Result<(), MockError> {
        let mut st = self.shared.lock();
        if !st.clients.contains_key(client_id) {
            return Err(MockError::UnknownClient(client_id.to_owned()));
        }
        st.event_webhook_urls.insert(client_id.to_owned(), url.into());
        Ok(())
    }

    /// Removes an application's Events Webhook URL; returns whether it had one.
    pub fn clear_event_webhook_url(&self, client_id: &str) -> bool {
        self.shared.lock().event_webhook_urls.remove(client_id).is_some()
    }

    /// An application's Events Webhook URL, if set.
    pub fn event_webhook_url(&self, client_id: &str) -> Option<String> {
        self.shared.lock().event_webhook_urls.get(client_id).cloned()
    }

    /// An event payload as Discord sends it: `{"version": 1, "application_id": client_id,
    /// "type": 1, "event": {"type": event_type, "timestamp": <the mock's now, no timezone,
    /// as in Discord's examples>, "data": data}}`. Send it with [`send_event`](Self::send_event).
    pub fn event_payload(&self, client_id: &str, event_type: &str, data: serde_json::Value) -> serde_json::Value {
        let now = self.shared.lock().now();
        events::event_payload(client_id, event_type, &events::event_timestamp(now), data)
    }

    /// The `APPLICATION_DEAUTHORIZED` payload for a mock user, as revoking sends it.
    pub fn deauthorized_payload(&self, client_id: &str, user_id: &str) -> Result<serde_json::Value, MockError> {
        let user = {
            let st = self.shared.lock();
            st.users
                .get(user_id)
                .map(MockUser::public_json)
                .ok_or_else(|| MockError::UnknownUser(user_id.to_owned()))?
        };
        Ok(self.event_payload(
            client_id,
            "APPLICATION_DEAUTHORIZED",
            serde_json::json!({ "user": user }),
        ))
    }

    /// Signs `payload` with the application key and POSTs it to `url` like Discord; returns
    /// the receiver's status code (`204` is what Discord expects). Recorded in
    /// [`event_deliveries`](Self::event_deliveries).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use discord_oauth_mock::{MockDiscord, fixture};
    /// let discord = MockDiscord::start().await.unwrap();
    /// let payload = discord.deauthorized_payload(fixture::CLIENT_ID, fixture::WUMPUS_ID).unwrap();
    /// assert_eq!(payload["event"]["data"]["user"]["id"], fixture::WUMPUS_ID);
    /// // `discord.send_event("http://127.0.0.1:3000/discord/events", &payload).await` → Ok(204)
    /// # }
    /// ```
    pub async fn send_event(&self, url: &str, payload: &serde_json::Value) -> Result<u16, MockError> {
        self.send_event_signed(url, payload, EventSignature::Valid).await
    }

    /// Like [`send_event`](Self::send_event) with a signature that is deliberately wrong
    /// (another key, another timestamp) or missing, as Discord sends to check that a
    /// receiver refuses them (it must answer `401`).
    pub async fn send_event_signed(
        &self,
        url: &str,
        payload: &serde_json::Value,
        signature: EventSignature,
    ) -> Result<u16, MockError> {
        let out = events::Outgoing::new(&self.shared.lock(), url, payload.to_string(), signature);
        events::deliver(&self.shared, out)
            .await
            .map_err(MockError::EventDelivery)
    }

    /// Sends the PING Discord sends when an Events Webhook URL is saved (for the fixture
    /// application, [`fixture::CLIENT_ID`]); returns the status (Discord keeps the URL only
    /// on `204`).
    pub async fn send_ping(&self, url: &str) -> Result<u16, MockError> {
        self.send_event(url, &events::ping_payload(fixture::CLIENT_ID)).await
    }

    /// Every webhook request sent so far, oldest first (finished ones: answered or failed).
    pub fn event_deliveries(&self) -> Vec<EventDelivery> {
        self.shared.lock().event_deliveries.clone()
    }

    /// Waits until at least `n` webhook requests have finished (the ones revoking sends run
    /// in the background), or `within` has passed; returns every delivery so far. Check the
    /// length: fewer than `n` means the time ran out.
    pub async fn wait_for_event_deliveries(&self, n: usize, within: Duration) -> Vec<EventDelivery> {
        let mut rx = self.shared.deliveries.subscribe();
        let _ = tokio::time::timeout(within, rx.wait_for(|done| *done >= n)).await;
        self.event_deliveries()
    }

    /// Stops accepting connections, cancels injected delays, and waits (up to 5 s) for
    /// in-flight requests. Other clones become inert.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let task = self
            .server
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut t) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut t).await.is_err()
        {
            t.abort();
        }
    }
}
