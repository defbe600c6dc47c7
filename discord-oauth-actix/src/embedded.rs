//! The backend of a Discord Activity (Embedded App SDK) on actix-web: the token endpoint the
//! SDK's `authorize` code is sent to, a refresh endpoint, an extractor for the app's own
//! `websocket_token`, and verification of Discord's proxy signatures.
//!
//! Everything is decided by [`discord_oauth_core::embedded`] (the limits, the flows, the JSON
//! answers, the bound on requests to Discord): this module converts actix-web's requests and
//! responses and carries out the IO, so it answers byte-for-byte what the axum integration
//! answers.
//!
//! ```no_run
//! use actix_web::middleware::from_fn;
//! use actix_web::{App, HttpServer, web};
//! use discord_oauth_actix::embedded::{self, EmbeddedBackend, ProxyCheck, WebsocketUser};
//! use discord_oauth_core::embedded::{EmbeddedConfig, ProxyAuth};
//!
//! async fn ws(user: WebsocketUser) -> String {
//!     format!("hello {}", user.0.sub) // upgrade here: the token was checked before
//! }
//!
//! # async fn run(config: EmbeddedConfig, proxy: ProxyAuth) -> Result<(), Box<dyn std::error::Error>> {
//! let backend = EmbeddedBackend::new(config)?;
//! let check = ProxyCheck::new(proxy);
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(backend.clone()))
//!         .route("/api/token", web::post().to(embedded::token))
//!         .route("/api/refresh", web::post().to(embedded::refresh))
//!         .route("/ws", web::get().to(ws))
//!         // Discord's proxy signature on everything under /api/state (optional)
//!         .service(
//!             web::scope("/api/state")
//!                 .app_data(check.clone())
//!                 .wrap(from_fn(embedded::require_discord_proxy))
//!                 .route("", web::get().to(|| async { "signed" })),
//!         )
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
//! Extractors refuse with an `Error` that renders that answer (its cause is the
//! core's [`WebsocketRejection`](discord_oauth_core::embedded::WebsocketRejection) or
//! [`ProxyRejection`](discord_oauth_core::embedded::ProxyRejection)); when what they need is
//! not registered with `app_data`, with an opaque, logged `500`.
//!
//! [`refresh`] needs proof that the caller holds the session:
//! `Authorization: Bearer <websocket_token>` with the websocket token that came with that
//! refresh token, or Discord's proxy signature when
//! [`EmbeddedConfig::with_refresh_proxy_auth`] is set. Without it: `401` JSON
//! (`missing_proof`), a token of another session `403` (`session_mismatch`), and nothing is
//! sent to Discord (see [`EmbeddedConfig::refresh_flow`]).
//!
//! Requests to Discord go through a bound on concurrent requests
//! ([`EmbeddedConfig::with_max_concurrent_requests`], default
//! [`DEFAULT_MAX_CONCURRENT_REQUESTS`](crate::DEFAULT_MAX_CONCURRENT_REQUESTS)) and a breaker
//! for Discord's global rate limit, shared by every worker, as the login middleware's are: a
//! token or refresh request arriving while every slot is taken, or while a global `429` is in
//! effect, is answered `503` with `Retry-After` at once and nothing is sent (one slot per
//! request served, held until its answer). The time limit of one request
//! ([`EmbeddedConfig::with_timeout`]) and a test clock ([`EmbeddedConfig::with_clock`]) are
//! set on the configuration too.
//!
//! Cookies inside Discord's iframe are third-party cookies: any cookie set there needs
//! `SameSite=None; Secure; Partitioned` (see [`discord_oauth_core::embedded`]).

use std::{fmt, future::Ready, future::ready, pin::Pin, sync::Arc, task::Context, time::SystemTime};

use actix_web::{Error, FromRequest, HttpMessage as _, HttpRequest, HttpResponse, error::InternalError, web};
use actix_web::{body::EitherBody, body::MessageBody, dev::Payload, middleware::Next};
use actix_web::{dev::ServiceRequest, dev::ServiceResponse, http::header::AUTHORIZATION, http::header::HeaderValue};
use discord_oauth_core::embedded::{self as activity, EmbeddedConfig, Endpoint, ProxyPayload};
pub use discord_oauth_core::embedded::{ProxyCheck, WebsocketAuth};
use futures_util::{Stream as _, future::LocalBoxFuture};

use crate::{convert, outbound::Outbound, outbound::OutboundSlot, transport::Transport, transport::TransportError};

/// The state of the endpoints: the [`EmbeddedConfig`], a transport, and the bound on
/// requests to Discord with its global-429 breaker, shared by every worker. Register it with
/// `App::app_data(web::Data::new(backend))`. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedBackend(Arc<Inner>);

/// The configuration, the transport and the bound on requests to Discord.
struct Inner(EmbeddedConfig, Box<dyn Transport>, Outbound);

impl fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.0.2.max_concurrent();
        f.debug_tuple("EmbeddedBackend").field(&self.0.0).field(&max).finish()
    }
}

impl EmbeddedBackend {
    /// The endpoints of `config`, talking to Discord with the default transport (reqwest +
    /// rustls).
    #[cfg(feature = "reqwest")]
    pub fn new(config: EmbeddedConfig) -> Result<Self, crate::BuildError> {
        let transport = crate::transport::ReqwestTransport::new().map_err(|e| crate::shared::build_error(&e))?;
        Ok(Self::with_transport(config, transport))
    }

    /// The endpoints of `config`, talking to Discord through a transport of your choice.
    pub fn with_transport(config: EmbeddedConfig, transport: impl Transport) -> Self {
        let outbound = Outbound::new(config.max_concurrent_requests());
        Self(Arc::new(Inner(config, Box::new(transport), outbound)))
    }
}

impl activity::EmbeddedIo for Inner {
    type Slot<'a> = OutboundSlot<'a>;
    type Error = TransportError;

    fn admit(&self, now: SystemTime) -> Result<Self::Slot<'_>, discord_oauth_core::login::outbound::NotSent> {
        self.2.admit(now)
    }

    fn send(&self, slot: &Self::Slot<'_>, out: activity::Outgoing<'_>) -> impl activity::Sending<TransportError> {
        Outbound::send_admitted(&self.2, slot, &*self.1, out.request, out.timeout, out.clock)
    }
}

/// The registered `T` (`web::Data<T>` or plain `app_data`).
fn registered<T: Clone + 'static>(req: &HttpRequest) -> Option<T> {
    let data = req.app_data::<web::Data<T>>().map(|d| d.get_ref().clone());
    data.or_else(|| req.app_data::<T>().cloned())
}

/// What is missing from `app_data`: an opaque `500`, logged.
fn missing(what: &'static str) -> Error {
    tracing::error!("missing {what}: register it with `App::app_data`");
    refused(discord_oauth_core::login::answer::internal_error(), what)
}

/// An error that answers `answer` (the core's), with its `cause` for logs and error handlers.
fn refused(answer: http::Response<String>, cause: impl fmt::Debug + fmt::Display + 'static) -> Error {
    InternalError::from_response(cause, convert::response(answer)).into()
}

async fn serve(endpoint: Endpoint, req: HttpRequest, mut payload: web::Payload) -> HttpResponse {
    let Some(backend) = registered::<EmbeddedBackend>(&req) else {
        return missing("EmbeddedBackend").error_response();
    };
    let (inner, head) = (backend.0.as_ref(), convert::request_parts(&req));
    let poll_body = |cx: &mut Context<'_>| Pin::new(&mut payload).poll_next(cx);
    convert::response(inner.0.serve(endpoint, head, poll_body, inner, SystemTime::now).await)
}

/// `POST {backend_url}` with `{"code": "...", "scopes"?: ["identify", ...]}`: exchanges the
/// code, fetches the user, and answers the SDK's `DISCORD_AUTHORIZE_SUCCESS` JSON with a
/// `websocket_token`. See the [module docs](self) for the error answers.
pub async fn token(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    serve(Endpoint::Token, req, payload).await
}

/// `POST` with `{"refresh_token": "..."}` and the proof that the caller holds that session
/// (`Authorization: Bearer <websocket_token>`, or Discord's proxy signature when configured):
/// refreshes with Discord and answers the new token set (`token_type`, `access_token`,
/// `refresh_token`, `expires_in`, `scope`, and a new `websocket_token` bound to the new
/// refresh token). Without the proof: `401`, and nothing is sent to Discord.
pub async fn refresh(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    serve(Endpoint::Refresh, req, payload).await
}

/// The claims of a valid `websocket_token`, from `Authorization: Bearer …` or a `token` query
/// parameter (browsers cannot set headers on a WebSocket upgrade), checked with the
/// registered [`EmbeddedBackend`]'s [`WebsocketAuth`], else a registered [`WebsocketAuth`]
/// (e.g. [`EmbeddedConfig::websocket_auth`] of your configuration, on an app that serves no
/// endpoints).
/// Extract it before starting the WebSocket handshake: a missing or bad token is a `401` JSON
/// answer, and no upgrade happens.
///
/// ```
/// use discord_oauth_actix::embedded::WebsocketUser;
/// async fn chat(user: WebsocketUser /*, req: HttpRequest, body: web::Payload */) -> String {
///     format!("user {} with scopes {}", user.0.sub, user.0.scope)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct WebsocketUser(pub activity::WebsocketClaims);

impl FromRequest for WebsocketUser {
    type Error = Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let auth = registered::<EmbeddedBackend>(req).map(|backend| backend.0.0.websocket_auth());
        let Some(auth) = auth.or_else(|| registered::<WebsocketAuth>(req)) else {
            return ready(Err(missing("EmbeddedBackend or WebsocketAuth")));
        };
        let authorization = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
        let claims = auth.verify_request(authorization, Some(req.query_string()), SystemTime::now);
        ready(claims.map(WebsocketUser).map_err(|r| refused(r.answer(), r)))
    }
}

/// Middleware, with `actix_web::middleware::from_fn`: refuses requests without a valid proxy
/// signature (`401` JSON with a `reason`) or failing the instance check (`403` JSON), checked
/// with the [`ProxyCheck`] registered with `app_data`, and puts the [`ProxyPayload`] into the
/// request extensions for handlers ([`DiscordProxy`]).
pub async fn require_discord_proxy<B: MessageBody>(mut req: ServiceRequest, next: Next<B>) -> Guarded<B> {
    match req.extract::<DiscordProxy>().await {
        Ok(DiscordProxy(payload)) => req.extensions_mut().insert(payload),
        Err(refused) => return Ok(req.error_response(refused).map_into_right_body()),
    };
    Ok(next.call(req).await?.map_into_left_body())
}

/// The answer of [`require_discord_proxy`]: the service's, or the refusal.
pub type Guarded<B> = Result<ServiceResponse<EitherBody<B>>, Error>;

/// The verified proxy payload of the request: taken from [`require_discord_proxy`] if it ran,
/// else verified here with the [`ProxyCheck`] registered with `app_data`.
#[derive(Debug, Clone)]
pub struct DiscordProxy(pub ProxyPayload);

impl FromRequest for DiscordProxy {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(payload) = req.extensions().get::<ProxyPayload>() {
            return Box::pin(ready(Ok(DiscordProxy(payload.clone()))));
        }
        let check = registered::<ProxyCheck>(req).ok_or_else(|| missing("ProxyCheck"));
        let checked = check.map(|check| check.check(&convert::request_parts(req), SystemTime::now));
        Box::pin(async move { checked?.await.map(DiscordProxy).map_err(|r| refused(r.answer(), r)) })
    }
}
