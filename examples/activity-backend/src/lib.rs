//! A sample Discord Activity backend: the endpoint behind the Embedded App SDK's `authorize`,
//! websocket tokens, and a WebSocket chat, runnable with no credentials.
//!
//! `cargo run -p activity-backend` serves on `BIND` (default `127.0.0.1:3000`):
//! - `/`: a tiny page that plays the SDK's part: it gets a code (from the mock Discord in
//!   offline mode, as the Discord client would answer `authorize`), posts it to `/api/token`,
//!   shows the user, opens the WebSocket with the `websocket_token` and chats;
//! - `POST /api/token`: `{"code": "…", "scopes"?: […]}` → the SDK's `DISCORD_AUTHORIZE_SUCCESS`
//!   JSON (token, `user_data`, `websocket_token`);
//! - `POST /api/refresh`: `{"refresh_token": "…"}` with `Authorization: Bearer
//!   <websocket_token>` (the websocket token that came with that refresh token) → a new token
//!   set and a new websocket token; without that proof `401` JSON and nothing is sent to
//!   Discord (with `DISCORD_PUBLIC_KEY` set, Discord's proxy signature is proof too);
//! - `GET /ws?token=…` (or `Authorization: Bearer …`): a WebSocket chat (every message goes to
//!   every connected user, the sender included); a missing or bad token is `401` JSON, before
//!   any upgrade. A chat line longer than [`MAX_MESSAGE_BYTES`] is answered "message too
//!   long"; a WebSocket message over [`MAX_WEBSOCKET_MESSAGE_BYTES`] or a frame over
//!   [`MAX_WEBSOCKET_FRAME_BYTES`] closes that connection (nothing larger is buffered);
//! - `GET /api/sdk-config`: what the page needs (client id, scopes, the mock's authorize URL).
//!
//! With `DISCORD_CLIENT_ID` unset it starts the mock Discord from `tests/mock` in-process
//! (offline demo mode) and says so in the log and on the page. Environment (the sample-site
//! contract): `DISCORD_CLIENT_ID`, `DISCORD_CLIENT_SECRET`, `DISCORD_API_BASE` (default
//! `https://discord.com/api/v10`), `DISCORD_AUTHORIZE_URL` (default
//! `https://discord.com/oauth2/authorize`), `DISCORD_REDIRECT_URI` (unset: codes come from the
//! SDK and are exchanged without one, as Activities need; set: codes from that redirect), `BIND`.
//! Activity-specific: `WEBSOCKET_KEY` (`kid:secret`, the secret hex or base64, at least 32
//! bytes; random per process when unset), `WEBSOCKET_PREVIOUS_KEYS` (comma-separated
//! `kid:secret` still accepted during a rotation), `DISCORD_PUBLIC_KEY` (the application's
//! public key, hex: when set, `/api/*` and `/ws` require Discord's proxy signature headers).
//!
//! No cookies are used: inside Discord's iframe they would be third-party cookies, stored only
//! with `SameSite=None; Secure; Partitioned`. The page keeps the tokens in memory.
//!
//! Hostile traffic costs little: `/api/token` and `/api/refresh` send at most
//! [`DEFAULT_MAX_CONCURRENT_REQUESTS`](discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS)
//! requests to Discord at a time and nothing while Discord's global rate limit is in effect
//! (`503` with `Retry-After` instead), a refresh needs proof of the session, request bodies
//! are capped at 4 KiB and WebSocket messages at 64 KiB.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use discord_oauth_axum::embedded::{
    self, EmbeddedBackend, ProxyCheck, WebsocketAuth, WebsocketUser, require_discord_proxy,
};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_core::embedded::{
    EmbeddedConfig, ProxyAuth, ProxyPublicKey, ProxyVerifier, WebsocketClaims, WebsocketKey, WebsocketTokenSigner,
    WebsocketTokenVerifier,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl, Scope, Scopes};
use discord_oauth_mock::{MockDiscord, fixture};
use tokio::sync::broadcast;

type BoxError = Box<dyn Error + Send + Sync>;

/// The audience of this backend's websocket tokens.
pub const AUDIENCE: &str = "activity-backend";
/// The scopes the page asks for.
pub const SCOPES: [Scope; 3] = [Scope::Identify, Scope::Email, Scope::Guilds];
/// The longest chat message relayed, in bytes; longer ones (up to
/// [`MAX_WEBSOCKET_MESSAGE_BYTES`]) are answered "message too long".
pub const MAX_MESSAGE_BYTES: usize = 1000;
// The WebSocket limits are the core's (a larger message or frame closes that connection; the
// server goes on serving the others).
pub use discord_oauth_core::embedded::{
    MAX_WEBSOCKET_FRAME_BYTES, MAX_WEBSOCKET_MESSAGE_BYTES, MAX_WEBSOCKET_WRITE_BUFFER_BYTES,
};

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");

/// Where Discord is. `Debug` never shows the client secret.
#[derive(Clone)]
pub enum Discord {
    /// Real credentials and endpoints (discord.com by default).
    Real {
        /// Application (client) id.
        client_id: String,
        /// Client secret.
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

/// The backend's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where Discord is.
    pub discord: Discord,
    /// `DISCORD_REDIRECT_URI`: exchange codes with this redirect URI (codes from a classic
    /// redirect). `None` (default): SDK codes, exchanged without one.
    pub redirect_uri: Option<String>,
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// The key websocket tokens are signed with; `None`: random per process.
    pub websocket_key: Option<WebsocketKey>,
    /// Keys still accepted (a rotation in progress).
    pub previous_websocket_keys: Vec<WebsocketKey>,
    /// `DISCORD_PUBLIC_KEY`: require Discord's proxy signature on `/api/*` and `/ws`.
    pub proxy_public_key: Option<ProxyPublicKey>,
}

impl Settings {
    /// Settings with defaults for everything but where Discord is.
    pub fn new(discord: Discord, bind: SocketAddr) -> Self {
        Self {
            discord,
            redirect_uri: None,
            bind,
            websocket_key: None,
            previous_websocket_keys: Vec::new(),
            proxy_public_key: None,
        }
    }

    /// Reads the environment (see the crate docs).
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads settings from `var` (the environment, or a test's map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
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
        settings.websocket_key = var("WEBSOCKET_KEY").map(|k| parse_key(&k)).transpose()?;
        settings.previous_websocket_keys = var("WEBSOCKET_PREVIOUS_KEYS")
            .map(|list| {
                list.split(',')
                    .filter(|k| !k.trim().is_empty())
                    .map(parse_key)
                    .collect()
            })
            .transpose()?
            .unwrap_or_default();
        settings.proxy_public_key = var("DISCORD_PUBLIC_KEY")
            .map(|k| {
                ProxyPublicKey::from_hex(&k)
                    .ok_or("DISCORD_PUBLIC_KEY must be the 64 hex digits of the Developer Portal")
            })
            .transpose()?;
        Ok(settings)
    }
}

/// Parses `kid:secret`, the secret as hex or base64 (at least 32 bytes).
pub fn parse_key(text: &str) -> Result<WebsocketKey, String> {
    let (kid, secret) = text
        .trim()
        .split_once(':')
        .ok_or("a websocket key is `kid:secret` (e.g. `2025-06:$(openssl rand -hex 32)`)")?;
    let bytes = if secret.len().is_multiple_of(2) && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..secret.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&secret[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| format!("websocket key {kid}: not hex: {e}"))?
    } else {
        let unpadded = secret.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
            .map_err(|_| format!("websocket key {kid}: the secret must be hex or base64"))?
    };
    WebsocketKey::new(kid, bytes).map_err(|e| format!("websocket key {kid}: {e}"))
}

/// A running backend.
#[derive(Debug)]
pub struct Site {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The in-process mock Discord, in offline mode.
    pub mock: Option<MockDiscord>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    /// The base URL, `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server stops.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops the server.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// What the page needs to play the SDK's part.
#[derive(Debug, Clone, serde::Serialize)]
struct SdkConfig {
    client_id: String,
    scopes: Vec<String>,
    /// The mock's stand-in for the Discord client's `authorize` (offline mode only).
    mock_authorize: Option<String>,
    /// Users the mock can authorize as (offline mode only).
    mock_users: Vec<(String, String)>,
}

#[derive(Clone)]
struct AppState {
    backend: EmbeddedBackend<ReqwestTransport>,
    chat: broadcast::Sender<String>,
    sdk: Arc<SdkConfig>,
}

impl FromRef<AppState> for EmbeddedBackend<ReqwestTransport> {
    fn from_ref(state: &AppState) -> Self {
        state.backend.clone()
    }
}

impl FromRef<AppState> for WebsocketAuth {
    fn from_ref(state: &AppState) -> Self {
        state.backend.websocket_auth()
    }
}

/// Binds, starts the mock if needed, and serves in the background.
pub async fn start(settings: Settings) -> Result<Site, BoxError> {
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    let addr = listener.local_addr()?;
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
    // The client's own redirect URI is never sent for SDK codes; Client needs one.
    let placeholder = settings
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/"));
    let client = Client::new(
        ClientId::new(client_id.clone()),
        client_secret.map(ClientSecret::new),
        RedirectUrl::new(placeholder)?,
    )
    .with_endpoints(endpoints);
    let current = if let Some(k) = &settings.websocket_key {
        k.clone()
    } else {
        tracing::info!("WEBSOCKET_KEY is unset: websocket tokens are signed with a random key for this process");
        WebsocketKey::new("random", rand::random::<[u8; 32]>().to_vec())?
    };
    let signer = WebsocketTokenSigner::new(current.clone(), AUDIENCE)?;
    let verifier = WebsocketTokenVerifier::new(
        std::iter::once(current).chain(settings.previous_websocket_keys.iter().cloned()),
        AUDIENCE,
    )?;
    let mut config = EmbeddedConfig::new(client, signer, verifier);
    if let Some(uri) = &settings.redirect_uri {
        config = config.with_redirect_uri(uri.clone());
    }
    let proxy_auth = settings
        .proxy_public_key
        .clone()
        .map(|key| ProxyAuth::new(ProxyVerifier::new(key)));
    if let Some(auth) = &proxy_auth {
        // Behind Discord's proxy, a signed request is proof enough for a refresh too.
        config = config.with_refresh_proxy_auth(auth.clone());
    }
    let backend = EmbeddedBackend::new(config, ReqwestTransport::new()?);
    let sdk = SdkConfig {
        client_id,
        scopes: SCOPES.iter().map(|s| s.as_str().to_owned()).collect(),
        mock_authorize: mock.as_ref().map(|m| format!("{}/mock/sdk/authorize", m.base_url())),
        mock_users: if mock.is_some() {
            [
                (fixture::WUMPUS_ID, "wumpus"),
                (fixture::LENA_ID, "legacy_lena"),
                (fixture::NOVA_ID, "nova"),
            ]
            .iter()
            .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
            .collect()
        } else {
            Vec::new()
        },
    };
    let proxy = proxy_auth.map(ProxyCheck::new);
    let app = router(backend, sdk, proxy);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Site { addr, mock, task })
}

fn router(backend: EmbeddedBackend<ReqwestTransport>, sdk: SdkConfig, proxy: Option<ProxyCheck>) -> Router {
    let (chat, _) = broadcast::channel(64);
    let state = AppState {
        backend,
        chat,
        sdk: Arc::new(sdk),
    };
    let mut api = Router::new()
        .route("/api/token", post(embedded::token::<ReqwestTransport>))
        .route("/api/refresh", post(embedded::refresh::<ReqwestTransport>))
        .route("/ws", get(websocket));
    if let Some(check) = proxy {
        tracing::info!("DISCORD_PUBLIC_KEY is set: /api/* and /ws require Discord's proxy signature");
        api = api.route_layer(axum::middleware::from_fn_with_state(check, require_discord_proxy));
    }
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/api/sdk-config", get(sdk_config))
        .merge(api)
        .with_state(state)
}

async fn index(State(state): State<AppState>) -> Response {
    // The page talks to this origin and, offline, to the mock's `authorize` stand-in.
    let mock_origin = state
        .sdk
        .mock_authorize
        .as_deref()
        .and_then(|u| u.split("/mock/").next())
        .unwrap_or("");
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src https://cdn.discordapp.com; \
         connect-src 'self' {mock_origin}; base-uri 'none'; form-action 'none'"
    );
    let mut response = Html(INDEX_HTML).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(csp.trim()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        APP_JS,
    )
        .into_response()
}

async fn sdk_config(State(state): State<AppState>) -> Response {
    Json(state.sdk.as_ref().clone()).into_response()
}

/// The token is checked by [`WebsocketUser`] before [`WebSocketUpgrade`] runs: a missing or
/// bad token is a `401` JSON answer and the connection is never upgraded.
async fn websocket(
    WebsocketUser(claims): WebsocketUser,
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(MAX_WEBSOCKET_MESSAGE_BYTES)
        .max_frame_size(MAX_WEBSOCKET_FRAME_BYTES)
        .max_write_buffer_size(MAX_WEBSOCKET_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| chat(socket, claims, state.chat))
}

fn chat_line(from: &str, text: &str) -> String {
    serde_json::json!({ "from": from, "text": text }).to_string()
}

/// Relays every text message to every connected user (the sender included).
async fn chat(mut socket: WebSocket, claims: WebsocketClaims, hub: broadcast::Sender<String>) {
    let user = claims.sub.to_string();
    let mut inbox = hub.subscribe();
    let granted: Scopes = claims.scopes();
    let welcome = chat_line("server", &format!("welcome, {user} (scopes: {granted})"));
    if socket.send(Message::Text(welcome.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let text: &str = text.as_str();
                    if text.len() > MAX_MESSAGE_BYTES {
                        let note = chat_line("server", "message too long");
                        if socket.send(Message::Text(note.into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Nobody listening is fine: the sender is subscribed, so this never fails
                    // while this loop runs.
                    let _ = hub.send(chat_line(&user, text));
                }
                // An error includes a message or frame over the limits: this connection ends.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            relayed = inbox.recv() => match relayed {
                Ok(line) => {
                    if socket.send(Message::Text(line.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
