//! The backend of a Discord Activity (Embedded App SDK): the token endpoint the SDK's
//! `authorize` code is sent to, a refresh endpoint, an extractor for the app's own
//! `websocket_token`, and verification of Discord's proxy signatures.
//!
//! Everything is decided by [`discord_oauth_core::embedded`] (the limits, the flows, the JSON
//! answers, the bound on requests to Discord): this module converts axum's requests and
//! responses and carries out the IO, so the actix-web integration answers byte-for-byte the
//! same.
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
//! ([`EmbeddedConfig::with_max_concurrent_requests`], default
//! [`DEFAULT_MAX_CONCURRENT_REQUESTS`](discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS))
//! and a breaker for Discord's global rate limit, as the login layer's do, shared by a
//! backend's clones: a token or refresh request arriving while every slot is taken, or while a
//! global `429` is in effect, is answered `503` with `Retry-After` at once and nothing is sent
//! (one slot per request served, held until its answer). Anonymous POSTs therefore never turn
//! into more than that many requests to Discord at a time. The time limit of one request
//! ([`EmbeddedConfig::with_timeout`], default [`DEFAULT_TIMEOUT`]) and a test clock
//! ([`EmbeddedConfig::with_clock`]) are set on the configuration too.
//!
//! Cookies inside Discord's iframe are third-party cookies: any cookie set there needs
//! `SameSite=None; Secure; Partitioned` (see [`discord_oauth_core::embedded`]).

use std::{pin::Pin, sync::Arc, task::Context, time::SystemTime};

use axum::{body::Body, body::HttpBody as _, http::request::Parts, middleware::Next, response::IntoResponse};
use axum::{extract::FromRef, extract::FromRequestParts, extract::Request, extract::State, response::Response};
use discord_oauth_core::embedded::{self as activity, EmbeddedConfig, Endpoint, ProxyPayload, Rejection};
pub use discord_oauth_core::embedded::{DEFAULT_TIMEOUT, ProxyCheck, WebsocketAuth};
use discord_oauth_tower::{Outbound, OutboundSlot, Transport, TransportError};

/// The state of the endpoints: the [`EmbeddedConfig`], a transport, and the bound on
/// requests to Discord with its global-429 breaker (shared by the clones). Cheap to clone.
#[derive(Clone, Debug)]
pub struct EmbeddedBackend<T>(Arc<EmbeddedConfig>, T, Arc<Outbound>);

impl<T: Transport> EmbeddedBackend<T> {
    /// The endpoints of `config`, talking to Discord through `transport`.
    pub fn new(config: EmbeddedConfig, transport: T) -> Self {
        let outbound = Outbound::new(config.max_concurrent_requests());
        Self(Arc::new(config), transport, Arc::new(outbound))
    }

    /// The configuration.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.0
    }

    /// What [`WebsocketUser`] reads from the state.
    pub fn websocket_auth(&self) -> WebsocketAuth {
        self.0.websocket_auth()
    }
}

/// The backend's bound on requests to Discord and its transport, for [`EmbeddedConfig::serve`].
impl<T: Transport> activity::EmbeddedIo for EmbeddedBackend<T> {
    type Slot<'a> = OutboundSlot<'a>;
    type Error = TransportError;

    fn admit(&self, now: SystemTime) -> Result<OutboundSlot<'_>, discord_oauth_core::login::outbound::NotSent> {
        self.2.admit(now)
    }

    fn send(&self, slot: &Self::Slot<'_>, out: activity::Outgoing<'_>) -> impl activity::Sending<TransportError> {
        self.2.send_admitted(slot, &self.1, out.request, out.timeout, out.clock)
    }
}

/// Hands the request (head and body stream) to the core and sends its answer.
async fn serve<T: Transport>(endpoint: Endpoint, backend: &EmbeddedBackend<T>, request: Request) -> Response {
    let (head, mut body) = request.into_parts();
    // Data frames as chunks; trailers as nothing.
    let poll_body = |cx: &mut Context<'_>| {
        let frame = Pin::new(&mut body).poll_frame(cx);
        frame.map_ok(|frame| frame.into_data().unwrap_or_default())
    };
    let answer = backend.0.serve(endpoint, head, poll_body, backend, SystemTime::now);
    answer.await.map(Body::from)
}

/// `POST {backend_url}` with `{"code": "...", "scopes"?: ["identify", ...]}`: exchanges the
/// code, fetches the user, and answers the SDK's `DISCORD_AUTHORIZE_SUCCESS` JSON with a
/// `websocket_token`. See the [module docs](self) for the error answers.
pub async fn token<T: Transport>(State(backend): State<EmbeddedBackend<T>>, request: Request) -> Response {
    serve(Endpoint::Token, &backend, request).await
}

/// `POST` with `{"refresh_token": "..."}` and the proof that the caller holds that session
/// (`Authorization: Bearer <websocket_token>`, or Discord's proxy signature when configured):
/// refreshes with Discord and answers the new token set (`token_type`, `access_token`,
/// `refresh_token`, `expires_in`, `scope`, and a new `websocket_token` bound to the new
/// refresh token). Without the proof: `401`, and nothing is sent to Discord.
pub async fn refresh<T: Transport>(State(backend): State<EmbeddedBackend<T>>, request: Request) -> Response {
    serve(Endpoint::Refresh, &backend, request).await
}

/// Why an extractor or the middleware of this module refused: the core's rejection, answered
/// as the core renders it (`401`/`403` JSON).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct EmbeddedRejection<R: Rejection>(pub R);

/// Why [`WebsocketUser`] refused: `401` JSON with `WWW-Authenticate: Bearer`.
pub type WebsocketUserRejection = EmbeddedRejection<activity::WebsocketRejection>;
/// Why [`DiscordProxy`] or [`require_discord_proxy`] refused: `401` JSON with a `reason`
/// (signature), `403` JSON (instance check).
pub type DiscordProxyRejection = EmbeddedRejection<activity::ProxyRejection>;

impl<R: Rejection> IntoResponse for EmbeddedRejection<R> {
    fn into_response(self) -> Response {
        self.0.answer().map(Body::from)
    }
}

impl<T: Transport> FromRef<EmbeddedBackend<T>> for WebsocketAuth {
    fn from_ref(backend: &EmbeddedBackend<T>) -> Self {
        backend.websocket_auth()
    }
}

/// The claims of a valid `websocket_token`, from `Authorization: Bearer …` or a `token` query
/// parameter (browsers cannot set headers on a WebSocket upgrade), checked with the state's
/// [`WebsocketAuth`] (from `FromRef`; [`EmbeddedBackend`] provides it). Put it before
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
pub struct WebsocketUser(pub activity::WebsocketClaims);

impl<S: Send + Sync> FromRequestParts<S> for WebsocketUser
where
    WebsocketAuth: FromRef<S>,
{
    type Rejection = WebsocketUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        let auth = WebsocketAuth::from_ref(state);
        let claims = auth.verify_request(authorization, parts.uri.query(), SystemTime::now);
        claims.map(WebsocketUser).map_err(EmbeddedRejection)
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
    match check.check(&parts, SystemTime::now).await {
        Ok(payload) => parts.extensions.insert(payload),
        Err(rejection) => return rejection.answer().map(Body::from),
    };
    next.run(Request::from_parts(parts, body)).await
}

/// The verified proxy payload of the request: taken from [`require_discord_proxy`] if it ran,
/// else verified here with the state's [`ProxyCheck`].
#[derive(Debug, Clone)]
pub struct DiscordProxy(pub ProxyPayload);

impl<S: Send + Sync> FromRequestParts<S> for DiscordProxy
where
    ProxyCheck: FromRef<S>,
{
    type Rejection = DiscordProxyRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(payload) = parts.extensions.get::<ProxyPayload>() {
            return Ok(DiscordProxy(payload.clone()));
        }
        let checked = ProxyCheck::from_ref(state).check(parts, SystemTime::now).await;
        checked.map(DiscordProxy).map_err(EmbeddedRejection)
    }
}
