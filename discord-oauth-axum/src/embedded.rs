//! The backend of a Discord Activity (Embedded App SDK): the token endpoint the SDK's
//! `authorize` code is sent to, a refresh endpoint, an extractor for the app's own
//! `websocket_token`, and verification of Discord's proxy signatures.
//!
//! Everything is decided by [`discord_oauth_core::embedded`] (the flows, the JSON answers):
//! this module reads the request, drives the flow over the transport and sends the answer, so
//! the actix-web integration answers byte-for-byte the same.
//!
//! ```no_run
//! use axum::routing::{get, post};
//! use discord_oauth_axum::embedded::{self, EmbeddedBackend, WebsocketUser};
//! use discord_oauth_axum::transport::ReqwestTransport;
//! use discord_oauth_core::embedded::EmbeddedConfig;
//!
//! async fn ws(user: WebsocketUser) -> String {
//!     format!("hello {}", user.0.sub) // upgrade here: the token was checked before
//! }
//!
//! # fn f(config: EmbeddedConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let backend = EmbeddedBackend::new(config, ReqwestTransport::new()?);
//! let app: axum::Router = axum::Router::new()
//!     .route("/api/token", post(embedded::token))
//!     .route("/api/refresh", post(embedded::refresh))
//!     .route("/ws", get(ws))
//!     .with_state(backend);
//! # Ok(()) }
//! ```
//!
//! Endpoints (all answers JSON with `Cache-Control: no-store`):
//! - [`token`]: `POST {"code": "…", "scopes"?: […]}` → the SDK's `DISCORD_AUTHORIZE_SUCCESS`
//!   shape; `400` for a bad, used or expired code or a malformed body, `413` over 4 KiB,
//!   `415` for anything but `application/json`, `429` with Discord's `retry_after` when Discord
//!   rate limits (never retried here), `502` when Discord fails.
//! - [`refresh`]: `POST {"refresh_token": "…"}` with `Authorization: Bearer <websocket_token>`
//!   (the websocket token that came with that refresh token) → the new token set and a new
//!   websocket token, same errors; without that proof (or Discord's proxy signature, when
//!   [`EmbeddedConfig::with_refresh_proxy_auth`] is set) `401` JSON (`missing_proof`), a token
//!   of another session `403` (`session_mismatch`), and nothing is sent to Discord. See
//!   [`discord_oauth_core::embedded::EmbeddedConfig::refresh_flow`].
//! - [`WebsocketUser`]: `Authorization: Bearer …` or `?token=…`; `401` before any upgrade.
//! - [`require_discord_proxy`] / [`DiscordProxy`]: the proxy's Ed25519 headers (`401`) and
//!   the optional activity-instance check (`403`).
//!
//! Requests to Discord go through a bound on concurrent requests
//! ([`DEFAULT_MAX_CONCURRENT_REQUESTS`] by default,
//! [`EmbeddedBackend::with_max_concurrent_requests`]) and a breaker for Discord's global rate
//! limit, as the login layer's do: a token or refresh request arriving while every slot is
//! taken, or while a global `429` is in effect, is answered `503` with `Retry-After` at once and
//! nothing is sent (one slot per request served, held until its answer). Anonymous POSTs
//! therefore never turn into more than that many requests to Discord at a time.
//!
//! Cookies inside Discord's iframe are third-party cookies: any cookie set there needs
//! `SameSite=None; Secure; Partitioned` (see [`discord_oauth_core::embedded`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use discord_oauth_core::embedded::{
    EmbeddedConfig, MAX_BODY_BYTES, ProxyAuth, ProxyPayload, ProxyRejection, WebsocketClaims, WebsocketRejection,
    WebsocketTokenVerifier, answer,
};
use discord_oauth_core::login::flow::{Flow, FlowIo, drive};
use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
use discord_oauth_tower::{Clock, Outbound, OutboundSlot, Transport, TransportError};

/// The default per-request time limit towards Discord.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The state of the embedded endpoints: the [`EmbeddedConfig`], a transport, a time limit,
/// a clock, and the bound on requests to Discord with its global-429 breaker (shared by the
/// clones). Cheap to clone.
pub struct EmbeddedBackend<T> {
    config: Arc<EmbeddedConfig>,
    transport: T,
    timeout: Duration,
    clock: Clock,
    outbound: Arc<Outbound>,
}

impl<T: Clone> Clone for EmbeddedBackend<T> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            transport: self.transport.clone(),
            timeout: self.timeout,
            clock: Arc::clone(&self.clock),
            outbound: Arc::clone(&self.outbound),
        }
    }
}

impl<T> fmt::Debug for EmbeddedBackend<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("max_concurrent_requests", &self.outbound.max_concurrent())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> EmbeddedBackend<T> {
    /// The endpoints of `config`, talking to Discord through `transport`.
    pub fn new(config: EmbeddedConfig, transport: T) -> Self {
        Self {
            config: Arc::new(config),
            transport,
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemTime::now),
            outbound: Arc::new(Outbound::new(DEFAULT_MAX_CONCURRENT_REQUESTS)),
        }
    }

    /// At most this many requests served at a time may talk to Discord (default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`], at least 1); one more is answered `503` with
    /// `Retry-After: 1` without anything being sent. This starts a new bound and breaker
    /// for this backend and its later clones.
    #[must_use]
    pub fn with_max_concurrent_requests(mut self, max: usize) -> Self {
        self.outbound = Arc::new(Outbound::new(max));
        self
    }

    /// The time limit for one request to Discord (default 10 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the wall clock (default `SystemTime::now`): token lifetimes, websocket token
    /// times. For tests and clock-skew drills.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.config
    }

    /// The verifier of `websocket_token`s.
    pub fn verifier(&self) -> &WebsocketTokenVerifier {
        self.config.verifier()
    }

    /// What [`WebsocketUser`] reads from the state.
    pub fn websocket_auth(&self) -> WebsocketAuth {
        WebsocketAuth {
            verifier: self.config.verifier().clone(),
            clock: Arc::clone(&self.clock),
        }
    }
}

/// A backend with one request slot taken: what the flows send through.
struct Admitted<'a, T> {
    backend: &'a EmbeddedBackend<T>,
    slot: OutboundSlot<'a>,
}

impl<T: Transport> FlowIo for Admitted<'_, T> {
    type Error = TransportError;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        let backend = self.backend;
        backend
            .outbound
            .send_admitted(&self.slot, &backend.transport, request, backend.timeout, move || {
                (backend.clock)()
            })
    }

    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        // The embedded flows never ask to wait (a 429 goes back to the client).
        tokio::time::sleep(duration)
    }

    fn now(&self) -> SystemTime {
        (self.backend.clock)()
    }
}

/// One of the core's answers as an axum response.
fn respond(answer: http::Response<String>) -> Response {
    let (parts, body) = answer.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// Reads the head and at most [`MAX_BODY_BYTES`] + 1 bytes of the body, or answers.
async fn read_body(request: Request) -> Result<(Parts, axum::body::Bytes), Response> {
    let (parts, body) = request.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(http::HeaderValue::as_bytes);
    let length = content_length(&parts.headers);
    EmbeddedConfig::check_head(content_type, length).map_err(respond)?;
    match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => Ok((parts, bytes)),
        // Over the limit (or a broken body): the core answers 413 for a body this long.
        Err(_) => Err(respond(answer::payload_too_large())),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Drives `flow` in one request slot, or answers `503` when none may be taken.
async fn run<T: Transport, F: Flow<Output = http::Response<String>>>(
    backend: &EmbeddedBackend<T>,
    flow: Result<F, http::Response<String>>,
) -> Response {
    let flow = match flow {
        Ok(flow) => flow,
        Err(answer) => return respond(answer),
    };
    match backend.outbound.admit((backend.clock)()) {
        Ok(slot) => respond(drive(flow, &Admitted { backend, slot }).await),
        Err(not_sent) => respond(answer::not_sent(&not_sent)),
    }
}

/// `POST {backend_url}` with `{"code": "...", "scopes"?: ["identify", ...]}`: exchanges the
/// code, fetches the user, and answers the SDK's `DISCORD_AUTHORIZE_SUCCESS` JSON with a
/// `websocket_token`. See the [module docs](self) for the error answers.
pub async fn token<T: Transport>(State(backend): State<EmbeddedBackend<T>>, request: Request) -> Response {
    let (parts, body) = match read_body(request).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(http::HeaderValue::as_bytes);
    let flow = backend.config.token_flow(content_type, &body);
    run(&backend, flow).await
}

/// `POST` with `{"refresh_token": "..."}` and the proof that the caller holds that session
/// (`Authorization: Bearer <websocket_token>`, or Discord's proxy signature when configured):
/// refreshes with Discord and answers the new token set (`token_type`, `access_token`,
/// `refresh_token`, `expires_in`, `scope`, and a new `websocket_token` bound to the new
/// refresh token). Without the proof: `401`, and nothing is sent to Discord.
pub async fn refresh<T: Transport>(State(backend): State<EmbeddedBackend<T>>, request: Request) -> Response {
    let (parts, body) = match read_body(request).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let flow = backend.config.refresh_flow(&parts, &body, (backend.clock)()).await;
    run(&backend, flow).await
}

// ---------------------------------------------------------------------------------------------
// websocket_token
// ---------------------------------------------------------------------------------------------

/// The verifier and clock [`WebsocketUser`] uses; get it from the state with `FromRef`
/// ([`EmbeddedBackend`] provides it).
#[derive(Clone)]
pub struct WebsocketAuth {
    verifier: WebsocketTokenVerifier,
    clock: Clock,
}

impl fmt::Debug for WebsocketAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebsocketAuth")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl WebsocketAuth {
    /// With the wall clock.
    pub fn new(verifier: WebsocketTokenVerifier) -> Self {
        Self {
            verifier,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

impl<T: Transport> FromRef<EmbeddedBackend<T>> for WebsocketAuth {
    fn from_ref(backend: &EmbeddedBackend<T>) -> Self {
        backend.websocket_auth()
    }
}

/// The claims of a valid `websocket_token`, from `Authorization: Bearer …` or a `token` query
/// parameter (browsers cannot set headers on a WebSocket upgrade). Put it before
/// `WebSocketUpgrade` in a handler's arguments: a missing or bad token is a `401` JSON answer
/// and no upgrade happens.
///
/// ```
/// use discord_oauth_axum::embedded::WebsocketUser;
/// async fn chat(user: WebsocketUser /*, ws: axum::extract::WebSocketUpgrade */) -> String {
///     format!("user {} with scopes {}", user.0.sub, user.0.scope)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct WebsocketUser(pub WebsocketClaims);

/// Why [`WebsocketUser`] refused: renders as `401` JSON with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone)]
pub struct WebsocketUserRejection(pub WebsocketRejection);

impl fmt::Display for WebsocketUserRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebsocketUserRejection {}

impl IntoResponse for WebsocketUserRejection {
    fn into_response(self) -> Response {
        respond(self.0.answer())
    }
}

impl<S> FromRequestParts<S> for WebsocketUser
where
    S: Send + Sync,
    WebsocketAuth: FromRef<S>,
{
    type Rejection = WebsocketUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = WebsocketAuth::from_ref(state);
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        auth.verifier
            .verify_request(authorization, parts.uri.query(), (auth.clock)())
            .map(WebsocketUser)
            .map_err(WebsocketUserRejection)
    }
}

// ---------------------------------------------------------------------------------------------
// Discord's proxy signatures
// ---------------------------------------------------------------------------------------------

/// The proxy check ([`ProxyAuth`]: signature + optional instance hook) with a clock: the state
/// of [`require_discord_proxy`] and [`DiscordProxy`].
#[derive(Clone, Debug)]
pub struct ProxyCheck {
    auth: ProxyAuth,
    clock: ClockDebug,
}

#[derive(Clone)]
struct ClockDebug(Clock);

impl fmt::Debug for ClockDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

impl ProxyCheck {
    /// With the wall clock.
    pub fn new(auth: ProxyAuth) -> Self {
        Self {
            auth,
            clock: ClockDebug(Arc::new(SystemTime::now)),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = ClockDebug(clock);
        self
    }

    async fn check(&self, parts: &Parts) -> Result<ProxyPayload, ProxyRejection> {
        self.auth.check(parts, (self.clock.0)()).await
    }
}

/// Middleware: refuses requests without a valid proxy signature (`401` JSON with a `reason`)
/// or failing the instance check (`403` JSON), and puts the [`ProxyPayload`] into the request
/// extensions for handlers ([`DiscordProxy`] or `Extension<ProxyPayload>`).
///
/// ```
/// use axum::{Router, middleware, routing::get};
/// use discord_oauth_axum::embedded::{ProxyCheck, require_discord_proxy};
/// use discord_oauth_core::embedded::{ProxyAuth, ProxyPublicKey, ProxyVerifier};
///
/// let key = ProxyPublicKey::from_hex("c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8").unwrap();
/// let check = ProxyCheck::new(ProxyAuth::new(ProxyVerifier::new(key)));
/// let app: Router = Router::new()
///     .route("/api/state", get(|| async { "ok" }))
///     .layer(middleware::from_fn_with_state(check, require_discord_proxy));
/// ```
pub async fn require_discord_proxy(State(check): State<ProxyCheck>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match check.check(&parts).await {
        Ok(payload) => {
            parts.extensions.insert(payload);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(rejection) => DiscordProxyRejection(rejection).into_response(),
    }
}

/// The verified proxy payload of the request: taken from [`require_discord_proxy`] if it ran,
/// else verified here with the state's [`ProxyCheck`].
#[derive(Debug, Clone)]
pub struct DiscordProxy(pub ProxyPayload);

/// Why [`DiscordProxy`] or [`require_discord_proxy`] refused: `401` JSON with a `reason`
/// (signature), `403` JSON (instance check).
#[derive(Debug, Clone)]
pub struct DiscordProxyRejection(pub ProxyRejection);

impl fmt::Display for DiscordProxyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DiscordProxyRejection {}

impl IntoResponse for DiscordProxyRejection {
    fn into_response(self) -> Response {
        respond(self.0.answer())
    }
}

impl<S> FromRequestParts<S> for DiscordProxy
where
    S: Send + Sync,
    ProxyCheck: FromRef<S>,
{
    type Rejection = DiscordProxyRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(payload) = parts.extensions.get::<ProxyPayload>() {
            return Ok(DiscordProxy(payload.clone()));
        }
        let check = ProxyCheck::from_ref(state);
        check
            .check(parts)
            .await
            .map(DiscordProxy)
            .map_err(DiscordProxyRejection)
    }
}
