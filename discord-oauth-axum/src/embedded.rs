//! The backend of a Discord Activity (Embedded App SDK): the token endpoint the SDK's
//! `authorize` code is sent to, a refresh endpoint, and an extractor for the app's own
//! `websocket_token`. The answers are [`discord_oauth_core::embedded`]'s types.
//!
//! ```no_run
//! # fn f(backend: discord_oauth_axum::EmbeddedBackend<discord_oauth_axum::transport::ReqwestTransport>) {
//! let app: axum::Router = axum::Router::new()
//!     .route("/api/token", axum::routing::post(discord_oauth_axum::embedded::token))
//!     .route("/api/refresh", axum::routing::post(discord_oauth_axum::embedded::refresh))
//!     .with_state(backend);
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::embedded::{
    AuthorizeSuccess, RateLimitedBody, RefreshSuccess, WebsocketClaims, WebsocketTokenSigner, WebsocketTokenVerifier,
    refresh_only,
};
use discord_oauth_core::{
    AuthorizationCode, AuthorizationGrant, Client, RateLimit, RefreshToken, Scope, Scopes, TokenError, TokenSet, api,
};
use discord_oauth_tower::Transport;
use serde::Deserialize;
use serde_json::json;

/// Largest JSON body the endpoints read.
pub const MAX_BODY_BYTES: usize = 4096;
/// Longest `code` or `refresh_token` accepted.
const MAX_SECRET_LEN: usize = 512;
/// Used as `retry_after` only when Discord's 429 said nothing at all.
const FALLBACK_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Per-request time limit towards Discord.
const DISCORD_TIMEOUT: Duration = Duration::from_secs(10);

/// The state of the embedded endpoints: the OAuth client, a transport, the websocket token
/// signer and verifier. Cheap to clone.
pub struct EmbeddedBackend<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    client: Client,
    transport: T,
    signer: WebsocketTokenSigner,
    verifier: WebsocketTokenVerifier,
    redirect_uri: Option<String>,
    default_scopes: Scopes,
}

impl<T> Clone for EmbeddedBackend<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for EmbeddedBackend<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("redirect_uri", &self.inner.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> EmbeddedBackend<T> {
    /// Exchanges codes without a `redirect_uri` (the Embedded App SDK's codes), with `identify`
    /// as the default scope.
    pub fn new(client: Client, transport: T, signer: WebsocketTokenSigner, verifier: WebsocketTokenVerifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                transport,
                signer,
                verifier,
                redirect_uri: None,
                default_scopes: Scopes::new().with(Scope::Identify),
            }),
        }
    }

    /// Sends this `redirect_uri` with every exchange (codes from a classic authorize redirect).
    #[must_use]
    pub fn with_redirect_uri(self, redirect_uri: impl Into<String>) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                client: i.client.clone(),
                transport: i.transport.clone(),
                signer: i.signer.clone(),
                verifier: i.verifier.clone(),
                redirect_uri: Some(redirect_uri.into()),
                default_scopes: i.default_scopes.clone(),
            }),
        }
    }

    /// The verifier of `websocket_token`s.
    pub fn verifier(&self) -> &WebsocketTokenVerifier {
        &self.inner.verifier
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Response> {
        self.inner.transport.send(request, DISCORD_TIMEOUT).await.map_err(|_| {
            error(
                StatusCode::BAD_GATEWAY,
                "discord_unavailable",
                "Discord could not be reached.",
            )
        })
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": code, "message": message }))).into_response()
}

fn rate_limited(rl: &RateLimit) -> Response {
    let body = RateLimitedBody::from_rate_limit(rl, FALLBACK_RETRY_AFTER);
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(&body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(body.retry_after_header()));
    response
}

fn token_error(e: &TokenError) -> Response {
    match e {
        TokenError::RateLimited(rl) => rate_limited(rl),
        e if e.is_invalid_grant() => error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The code or refresh token is invalid, expired or used.",
        ),
        TokenError::Rejected(_) => error(StatusCode::BAD_REQUEST, "rejected", "Discord refused the request."),
        _ => error(
            StatusCode::BAD_GATEWAY,
            "discord_error",
            "Discord answered unexpectedly.",
        ),
    }
}

/// Reads a small JSON body with exactly the expected fields.
fn read_json<B: for<'de> Deserialize<'de>>(headers: &HeaderMap, body: &[u8]) -> Result<B, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send JSON (Content-Type: application/json).",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is too large.",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body is not the expected JSON.",
        )
    })
}

fn valid_secret(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SECRET_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    code: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST {backend_url}` with `{"code": "...", "scopes"?: ["identify", ...]}`: exchanges the
/// code, fetches the user, and answers the SDK's `DISCORD_AUTHORIZE_SUCCESS` JSON.
pub async fn token<T: Transport>(
    State(backend): State<EmbeddedBackend<T>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: TokenBody = match read_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !valid_secret(&body.code) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The code is missing or malformed.",
        );
    }
    let scopes = match body.scopes {
        Some(list) if list.len() <= 32 => list.iter().map(|s| Scope::parse(s)).collect::<Scopes>(),
        Some(_) => return error(StatusCode::BAD_REQUEST, "invalid_request", "Too many scopes."),
        None => backend.inner.default_scopes.clone(),
    };
    let grant = AuthorizationGrant::from_code(
        AuthorizationCode::new(body.code),
        backend.inner.redirect_uri.clone(),
        scopes,
    );
    let exchange = backend.inner.client.exchange_code(grant);
    let response = match backend.send(exchange.request()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let tokens = match exchange.finish(response, SystemTime::now()) {
        Ok(t) => t,
        Err(e) => return token_error(&e),
    };
    match fetch_user(&backend, &tokens).await {
        Ok(user) => {
            let now = SystemTime::now();
            let ws = backend.inner.signer.sign(user.id, &tokens.scopes, now);
            axum::Json(AuthorizeSuccess::new(&tokens, &user, ws, now)).into_response()
        }
        Err(r) => r,
    }
}

async fn fetch_user<T: Transport>(backend: &EmbeddedBackend<T>, tokens: &TokenSet) -> Result<api::User, Response> {
    let call = api::current_user(backend.inner.client.endpoints(), &tokens.access_token);
    let response = backend.send(call.request()).await?;
    call.parse(response).map_err(|e| match e.rate_limit() {
        Some(rl) => rate_limited(rl),
        None => error(
            StatusCode::BAD_GATEWAY,
            "discord_error",
            "Discord did not return the user.",
        ),
    })
}

/// `POST` with `{"refresh_token": "..."}`: refreshes with Discord and answers the new token
/// set (`token_type`, `access_token`, `refresh_token`, `expires_in`, `scope`).
pub async fn refresh<T: Transport>(
    State(backend): State<EmbeddedBackend<T>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: RefreshBody = match read_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !valid_secret(&body.refresh_token) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The refresh token is missing or malformed.",
        );
    }
    let exchange = match backend
        .inner
        .client
        .refresh(refresh_only(RefreshToken::new(body.refresh_token)))
    {
        Ok(x) => x,
        Err(e) => return token_error(&e),
    };
    let response = match backend.send(exchange.request()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match exchange.finish(response, SystemTime::now()) {
        Ok(tokens) => axum::Json(RefreshSuccess::new(&tokens, SystemTime::now())).into_response(),
        Err(e) => token_error(&e),
    }
}

/// The claims of a valid `websocket_token`, from `Authorization: Bearer …` or a `token` query
/// parameter (browsers cannot set headers on a WebSocket upgrade). Refuses with a 401 JSON
/// error before any upgrade.
#[derive(Debug, Clone)]
pub struct WebsocketUser(pub WebsocketClaims);

impl<T> FromRef<EmbeddedBackend<T>> for WebsocketTokenVerifier {
    fn from_ref(backend: &EmbeddedBackend<T>) -> Self {
        backend.inner.verifier.clone()
    }
}

impl<S> FromRequestParts<S> for WebsocketUser
where
    S: Send + Sync,
    WebsocketTokenVerifier: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = WebsocketTokenVerifier::from_ref(state);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let token = bearer.or_else(|| {
            parts.uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned())
            })
        });
        let unauthorized = |msg: &str| error(StatusCode::UNAUTHORIZED, "unauthorized", msg);
        let Some(token) = token else {
            return Err(unauthorized("A websocket token is required."));
        };
        verifier
            .verify(&token, SystemTime::now())
            .map(WebsocketUser)
            .map_err(|e| unauthorized(&e.to_string()))
    }
}
