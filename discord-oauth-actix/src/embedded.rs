//! The backend of a Discord Activity (Embedded App SDK) on actix-web: the token endpoint the
//! SDK's `authorize` code is sent to, a refresh endpoint, an extractor for the app's own
//! `websocket_token`, and verification of Discord's proxy signatures.
//!
//! Everything is decided by [`discord_oauth_core::embedded`] (the flows, the JSON answers):
//! this module reads the request, drives the flow over the transport and sends the answer, so
//! it answers byte-for-byte what the axum integration answers.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use discord_oauth_actix::embedded::{self, EmbeddedBackend, WebsocketUser};
//! use discord_oauth_core::embedded::EmbeddedConfig;
//!
//! async fn ws(user: WebsocketUser) -> String {
//!     format!("hello {}", user.0.sub) // upgrade here: the token was checked before
//! }
//!
//! # async fn run(config: EmbeddedConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let backend = EmbeddedBackend::new(config)?;
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(backend.clone()))
//!         .route("/api/token", web::post().to(embedded::token))
//!         .route("/api/refresh", web::post().to(embedded::refresh))
//!         .route("/ws", web::get().to(ws))
//! })
//! .bind("127.0.0.1:3000")?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
//!
//! The answers are those of the axum integration (see `discord_oauth_axum::embedded`): the
//! SDK's `DISCORD_AUTHORIZE_SUCCESS` shape, `400`/`413`/`415` JSON for bad requests, `429`
//! with Discord's `retry_after` (never retried here), `502` when Discord fails, `401` for a
//! missing or bad websocket token (before any upgrade), `401`/`403` from the proxy check.
//!
//! [`refresh`] needs proof that the caller holds the session:
//! `Authorization: Bearer <websocket_token>` with the websocket token that came with that
//! refresh token, or Discord's proxy signature when
//! [`EmbeddedConfig::with_refresh_proxy_auth`] is set. Without it: `401` JSON
//! (`missing_proof`), a token of another session `403` (`session_mismatch`), and nothing is
//! sent to Discord (see [`EmbeddedConfig::refresh_flow`]).
//!
//! Requests to Discord go through a bound on concurrent requests
//! ([`DEFAULT_MAX_CONCURRENT_REQUESTS`] by default,
//! [`EmbeddedBackendBuilder::max_concurrent_requests`]) and a breaker for Discord's global rate
//! limit, shared by every worker, as the login middleware's are: a token or refresh request
//! arriving while every slot is taken, or while a global `429` is in effect, is answered `503`
//! with `Retry-After` at once and nothing is sent (one slot per request served, held until its
//! answer).
//!
//! Cookies inside Discord's iframe are third-party cookies: any cookie set there needs
//! `SameSite=None; Secure; Partitioned` (see [`discord_oauth_core::embedded`]).

use std::fmt;
use std::future::{Future, Ready, ready};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use discord_oauth_core::embedded::{
    EmbeddedConfig, MAX_BODY_BYTES, ProxyAuth, ProxyPayload, ProxyRejection, WebsocketClaims, WebsocketRejection,
    WebsocketTokenVerifier, answer,
};
use discord_oauth_core::login::flow::{Flow, FlowIo, drive};
use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;

use crate::convert;
use crate::outbound::{Outbound, OutboundSlot};
use crate::shared::{Clock, DEFAULT_TIMEOUT};
use crate::transport::{Transport, TransportError};

struct Inner {
    config: EmbeddedConfig,
    transport: Box<dyn Transport>,
    timeout: Duration,
    clock: Clock,
    outbound: Outbound,
}

/// The state of the embedded endpoints: the [`EmbeddedConfig`], a transport, a time limit
/// and a clock. Register it with `App::app_data(web::Data::new(backend))`. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("config", &self.inner.config)
            .field("timeout", &self.inner.timeout)
            .field("max_concurrent_requests", &self.inner.outbound.max_concurrent())
            .finish_non_exhaustive()
    }
}

impl EmbeddedBackend {
    /// With the default transport (reqwest + rustls), time limit and clock.
    #[cfg(feature = "reqwest")]
    pub fn new(config: EmbeddedConfig) -> Result<Self, crate::BuildError> {
        let transport = crate::transport::ReqwestTransport::new().map_err(|e| crate::shared::build_error(&e))?;
        Ok(Self::builder(config, transport).build())
    }

    /// A builder with a transport of your choice.
    pub fn builder(config: EmbeddedConfig, transport: impl Transport) -> EmbeddedBackendBuilder {
        EmbeddedBackendBuilder {
            config,
            transport: Box::new(transport),
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemTime::now),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.inner.config
    }

    /// What [`WebsocketUser`] uses (register it alone with `app_data` on an app that has no
    /// [`EmbeddedBackend`]).
    pub fn websocket_auth(&self) -> WebsocketAuth {
        WebsocketAuth {
            verifier: self.inner.config.verifier().clone(),
            clock: Arc::clone(&self.inner.clock),
        }
    }
}

/// Builder for [`EmbeddedBackend`].
#[must_use = "call `.build()`"]
pub struct EmbeddedBackendBuilder {
    config: EmbeddedConfig,
    transport: Box<dyn Transport>,
    timeout: Duration,
    clock: Clock,
    max_concurrent_requests: usize,
}

impl fmt::Debug for EmbeddedBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackendBuilder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBackendBuilder {
    /// At most this many requests served at a time may talk to Discord, across every worker
    /// (default [`DEFAULT_MAX_CONCURRENT_REQUESTS`], at least 1); one more is answered `503`
    /// with `Retry-After: 1` without anything being sent.
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// The time limit for one request to Discord (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the wall clock (default `SystemTime::now`), for tests and clock-skew drills.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds it.
    pub fn build(self) -> EmbeddedBackend {
        EmbeddedBackend {
            inner: Arc::new(Inner {
                config: self.config,
                transport: self.transport,
                timeout: self.timeout,
                clock: self.clock,
                outbound: Outbound::new(self.max_concurrent_requests),
            }),
        }
    }
}

/// The backend with one request slot taken: what the flows send through.
struct Admitted<'a> {
    inner: &'a Inner,
    slot: OutboundSlot<'a>,
}

impl FlowIo for Admitted<'_> {
    type Error = TransportError;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        let inner = self.inner;
        inner.outbound.send_admitted(
            &self.slot,
            inner.transport.as_ref(),
            request,
            inner.timeout,
            move || (inner.clock)(),
        )
    }

    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        // The embedded flows never ask to wait (a 429 goes back to the client).
        tokio::time::sleep(duration)
    }

    fn now(&self) -> SystemTime {
        (self.inner.clock)()
    }
}

/// The registered [`EmbeddedBackend`] (`web::Data` or plain `app_data`).
fn backend_of(req: &HttpRequest) -> Option<EmbeddedBackend> {
    req.app_data::<web::Data<EmbeddedBackend>>()
        .map(|d| d.get_ref().clone())
        .or_else(|| req.app_data::<EmbeddedBackend>().cloned())
}

fn missing_backend() -> HttpResponse {
    tracing::error!("missing EmbeddedBackend: register it with `App::app_data(web::Data::new(backend))`");
    convert::response(discord_oauth_core::login::answer::internal_error())
}

/// Reads at most [`MAX_BODY_BYTES`] + 1 bytes, after the head checks; `Err` is the answer.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<(Option<Vec<u8>>, Vec<u8>), HttpResponse> {
    let content_type = req.headers().get(CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
    let length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    EmbeddedConfig::check_head(content_type.as_deref(), length).map_err(convert::response)?;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err(convert::response(answer::error(
                http::StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body could not be read.",
            )));
        };
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            // The core answers 413 for a body this long; the rest is not read.
            break;
        }
    }
    Ok((content_type, body))
}

async fn run<F: Flow<Output = http::Response<String>>>(
    backend: &EmbeddedBackend,
    flow: Result<F, http::Response<String>>,
) -> HttpResponse {
    let flow = match flow {
        Ok(flow) => flow,
        Err(answer) => return convert::response(answer),
    };
    let inner = backend.inner.as_ref();
    match inner.outbound.admit((inner.clock)()) {
        Ok(slot) => convert::response(drive(flow, &Admitted { inner, slot }).await),
        Err(not_sent) => convert::response(answer::not_sent(&not_sent)),
    }
}

/// `POST {backend_url}` with `{"code": "...", "scopes"?: ["identify", ...]}`: exchanges the
/// code, fetches the user, and answers the SDK's `DISCORD_AUTHORIZE_SUCCESS` JSON with a
/// `websocket_token`. See the [module docs](self) for the error answers.
pub async fn token(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(backend) = backend_of(&req) else {
        return missing_backend();
    };
    match read_body(&req, payload).await {
        Ok((content_type, body)) => run(&backend, backend.config().token_flow(content_type.as_deref(), &body)).await,
        Err(answer) => answer,
    }
}

/// `POST` with `{"refresh_token": "..."}` and the proof that the caller holds that session
/// (`Authorization: Bearer <websocket_token>`, or Discord's proxy signature when configured):
/// refreshes with Discord and answers the new token set (`token_type`, `access_token`,
/// `refresh_token`, `expires_in`, `scope`, and a new `websocket_token` bound to the new
/// refresh token). Without the proof: `401`, and nothing is sent to Discord.
pub async fn refresh(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(backend) = backend_of(&req) else {
        return missing_backend();
    };
    match read_body(&req, payload).await {
        Ok((_, body)) => {
            let parts = convert::request_parts(&req);
            let now = (backend.inner.clock)();
            let flow = backend.config().refresh_flow(&parts, &body, now).await;
            run(&backend, flow).await
        }
        Err(answer) => answer,
    }
}

// ---------------------------------------------------------------------------------------------
// websocket_token
// ---------------------------------------------------------------------------------------------

/// The verifier and clock [`WebsocketUser`] uses. Taken from the registered
/// [`EmbeddedBackend`], else from a `WebsocketAuth` registered with `app_data` (plain or
/// `web::Data`).
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

    fn of(req: &HttpRequest) -> Option<Self> {
        backend_of(req)
            .map(|b| b.websocket_auth())
            .or_else(|| req.app_data::<web::Data<WebsocketAuth>>().map(|d| d.get_ref().clone()))
            .or_else(|| req.app_data::<WebsocketAuth>().cloned())
    }
}

/// The claims of a valid `websocket_token`, from `Authorization: Bearer …` or a `token` query
/// parameter (browsers cannot set headers on a WebSocket upgrade). Extract it before starting
/// the WebSocket handshake: a missing or bad token is a `401` JSON answer, and no upgrade
/// happens.
///
/// ```
/// use discord_oauth_actix::embedded::WebsocketUser;
/// async fn chat(user: WebsocketUser /*, req: HttpRequest, body: web::Payload */) -> String {
///     format!("user {} with scopes {}", user.0.sub, user.0.scope)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct WebsocketUser(pub WebsocketClaims);

/// Why [`WebsocketUser`] was refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WebsocketUserRejection {
    /// No or a bad token: `401` JSON with `WWW-Authenticate: Bearer`.
    Rejected(WebsocketRejection),
    /// Neither an [`EmbeddedBackend`] nor a [`WebsocketAuth`] is registered (an opaque 500;
    /// logged).
    MissingConfig,
}

impl fmt::Display for WebsocketUserRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => r.fmt(f),
            Self::MissingConfig => f.write_str(
                "missing websocket token configuration: register an EmbeddedBackend or a WebsocketAuth with `App::app_data`",
            ),
        }
    }
}

impl ResponseError for WebsocketUserRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Rejected(_) => StatusCode::UNAUTHORIZED,
            Self::MissingConfig => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Rejected(r) => convert::response(r.answer()),
            Self::MissingConfig => {
                tracing::error!("{self}");
                convert::response(discord_oauth_core::login::answer::internal_error())
            }
        }
    }
}

impl FromRequest for WebsocketUser {
    type Error = WebsocketUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(auth) = WebsocketAuth::of(req) else {
            return ready(Err(WebsocketUserRejection::MissingConfig));
        };
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .map(actix_web::http::header::HeaderValue::as_bytes);
        let query = Some(req.query_string()).filter(|q| !q.is_empty());
        ready(
            auth.verifier
                .verify_request(authorization, query, (auth.clock)())
                .map(WebsocketUser)
                .map_err(WebsocketUserRejection::Rejected),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Discord's proxy signatures
// ---------------------------------------------------------------------------------------------

/// The proxy check ([`ProxyAuth`]: signature + optional instance hook) with a clock. Use it as
/// middleware (`.wrap(check)`), or register it with `app_data` for the [`DiscordProxy`]
/// extractor.
#[derive(Clone)]
pub struct ProxyCheck {
    auth: ProxyAuth,
    clock: Clock,
}

impl fmt::Debug for ProxyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCheck")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ProxyCheck {
    /// With the wall clock.
    pub fn new(auth: ProxyAuth) -> Self {
        Self {
            auth,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    async fn check(&self, req: &HttpRequest) -> Result<ProxyPayload, ProxyRejection> {
        let parts = convert::request_parts(req);
        self.auth.check(&parts, (self.clock)()).await
    }

    fn of(req: &HttpRequest) -> Option<Self> {
        req.app_data::<web::Data<ProxyCheck>>()
            .map(|d| d.get_ref().clone())
            .or_else(|| req.app_data::<ProxyCheck>().cloned())
    }
}

/// The verified proxy payload of the request: taken from the [`ProxyCheck`] middleware if it
/// ran, else verified here with the [`ProxyCheck`] registered with `app_data`.
#[derive(Debug, Clone)]
pub struct DiscordProxy(pub ProxyPayload);

/// Why [`DiscordProxy`] or the [`ProxyCheck`] middleware refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DiscordProxyRejection {
    /// `401` JSON with a `reason` (signature), `403` JSON (instance check).
    Rejected(ProxyRejection),
    /// No [`ProxyCheck`] is registered (an opaque 500; logged).
    MissingConfig,
}

impl fmt::Display for DiscordProxyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => r.fmt(f),
            Self::MissingConfig => f.write_str("missing ProxyCheck: register it with `App::app_data` or `.wrap()` it"),
        }
    }
}

impl ResponseError for DiscordProxyRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Rejected(r) => convert::status(r.answer().status()),
            Self::MissingConfig => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Rejected(r) => convert::response(r.answer()),
            Self::MissingConfig => {
                tracing::error!("{self}");
                convert::response(discord_oauth_core::login::answer::internal_error())
            }
        }
    }
}

impl FromRequest for DiscordProxy {
    type Error = DiscordProxyRejection;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(payload) = req.extensions().get::<ProxyPayload>() {
            let payload = payload.clone();
            return Box::pin(ready(Ok(DiscordProxy(payload))));
        }
        let req = req.clone();
        Box::pin(async move {
            let check = ProxyCheck::of(&req).ok_or(DiscordProxyRejection::MissingConfig)?;
            check
                .check(&req)
                .await
                .map(DiscordProxy)
                .map_err(DiscordProxyRejection::Rejected)
        })
    }
}

impl<S, B> Transform<S, ServiceRequest> for ProxyCheck
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ProxyCheckMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ProxyCheckMiddleware {
            service: Rc::new(service),
            check: self.clone(),
        }))
    }
}

/// The service of the [`ProxyCheck`] middleware: refuses requests without a valid proxy
/// signature (`401`) or failing the instance check (`403`), and puts the [`ProxyPayload`]
/// into the request extensions.
pub struct ProxyCheckMiddleware<S> {
    service: Rc<S>,
    check: ProxyCheck,
}

impl<S> fmt::Debug for ProxyCheckMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCheckMiddleware")
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for ProxyCheckMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let check = self.check.clone();
        Box::pin(async move {
            match check.check(req.request()).await {
                Ok(payload) => {
                    req.extensions_mut().insert(payload);
                    service.call(req).await.map(ServiceResponse::map_into_left_body)
                }
                Err(rejection) => Ok(req
                    .into_response(convert::response(rejection.answer()))
                    .map_into_right_body()),
            }
        })
    }
}
