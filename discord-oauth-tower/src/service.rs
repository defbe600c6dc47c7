//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::login::{AuthSession, LoginConfig, LoginError, PendingLogins, SessionStatus, error_page};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{ApiError, RevocableToken, TokenError, TokenSet, api};
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION, ORIGIN, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use tower::Service;
use tower_sessions::Session;
use tower_sessions::session::Id;
use tracing::Instrument as _;

use crate::cache::AuthCache;
use crate::extension::AuthState;
use crate::transport::{Transport, TransportError};

/// The wall clock the layer reads (replaceable for tests and clock-skew drills).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Session key of the authenticated session record.
pub(crate) const AUTH_KEY: &str = "discord_oauth.auth";
/// Session key of the logins in progress.
pub(crate) const PENDING_KEY: &str = "discord_oauth.pending";
/// The longest wait for a Discord 429 that is honoured inline before answering 503.
const MAX_INLINE_RETRY_WAIT: Duration = Duration::from_secs(5);

/// State shared by every clone of the layer and service.
pub(crate) struct Shared<T> {
    pub(crate) clock: Clock,
    pub(crate) config: LoginConfig,
    pub(crate) transport: T,
    pub(crate) timeout: Duration,
    pub(crate) cache: AuthCache,
    refresh_locks: Mutex<HashMap<Id, Arc<tokio::sync::Mutex<()>>>>,
}

impl<T> Shared<T> {
    pub(crate) fn new(config: LoginConfig, transport: T, timeout: Duration, cache: AuthCache, clock: Clock) -> Self {
        Self {
            clock,
            config,
            transport,
            timeout,
            cache,
            refresh_locks: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The service produced by [`crate::DiscordOAuthLayer`].
///
/// It must run inside a `tower_sessions::SessionManagerLayer` (see
/// [`crate::session_layer`]); without one every request gets a 500 that says so.
pub struct DiscordOAuthService<S, T> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<T>>,
}

impl<S: Clone, T> Clone for DiscordOAuthService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for DiscordOAuthService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordOAuthService")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

/// The response future of [`DiscordOAuthService`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for DiscordOAuthService<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: Transport,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Clone-and-swap so the ready service is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let Some(session) = req.extensions().get::<Session>().cloned() else {
                tracing::error!("DiscordOAuthLayer needs a tower_sessions::SessionManagerLayer outside it");
                return Ok(text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: DiscordOAuthLayer needs a tower_sessions::SessionManagerLayer \
                     added outside it (see discord_oauth_tower::session_layer)."
                        .to_owned(),
                )
                .map(ResBody::from));
            };
            let routes = shared.config.routes();
            let path = req.uri().path();
            let route = if path == routes.login {
                Some(Route::Login)
            } else if path == routes.callback {
                Some(Route::Callback)
            } else if path == routes.logout {
                Some(Route::Logout)
            } else {
                None
            };
            if let Some(route) = route {
                let method = req.method().clone();
                let query = req.uri().query().unwrap_or("").to_owned();
                let origin = req.headers().get(ORIGIN).cloned();
                drop(req);
                let response = match route {
                    Route::Login => login(&shared, &session, &method, &query).await,
                    Route::Callback => {
                        callback(&shared, &session, &method, &query)
                            .instrument(tracing::info_span!("discord_oauth.callback"))
                            .await
                    }
                    Route::Logout => {
                        logout(&shared, &session, &method, origin.as_ref())
                            .instrument(tracing::info_span!("discord_oauth.logout"))
                            .await
                    }
                };
                return Ok(response.map(ResBody::from));
            }
            match attach(&shared, &session).await {
                Ok(state) => {
                    req.extensions_mut().insert(state);
                    inner.call(req).await
                }
                Err(response) => Ok(response.map(ResBody::from)),
            }
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Login,
    Callback,
    Logout,
}

// ------------------------------------------------------------------ responses

fn text_response(status: StatusCode, body: String) -> Response<String> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// Headers every login-route answer carries (checklist A-11, B-18).
fn no_store(r: &mut Response<String>) {
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
}

fn redirect(location: &str) -> Response<String> {
    let mut r = Response::new(String::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    no_store(&mut r);
    r
}

pub(crate) fn html_page(status: StatusCode, title: &str, message: &str, back: &str) -> Response<String> {
    let mut r = Response::new(error_page(title, message, back));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    no_store(&mut r);
    r
}

fn method_not_allowed(allow: &'static str) -> Response<String> {
    let mut r = text_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method Not Allowed: use {allow}"),
    );
    r.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    no_store(&mut r);
    r
}

fn unavailable(message: &str, retry_after: u64) -> Response<String> {
    let mut r = text_response(StatusCode::SERVICE_UNAVAILABLE, message.to_owned());
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    no_store(&mut r);
    r
}

fn store_unavailable(e: &tower_sessions::session::Error) -> Response<String> {
    tracing::error!(error = %e, "session store failed");
    unavailable(
        "Service Unavailable: the session store is not responding; try again shortly.",
        5,
    )
}

fn login_error_page<T>(shared: &Shared<T>, e: &LoginError) -> Response<String> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    if status.is_server_error() {
        tracing::warn!(error = %e, "login failed");
    } else {
        tracing::info!(error = %e, "login refused");
    }
    let (title, message) = e.page();
    let mut r = html_page(status, title, &message, shared.config.default_return_to().as_str());
    if let Some(secs) = e.retry_after().filter(|_| status == StatusCode::SERVICE_UNAVAILABLE)
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

// ------------------------------------------------------------------ talking to Discord

/// Sends one request; on a 429 whose wait fits in [`MAX_INLINE_RETRY_WAIT`], waits and tries
/// exactly once more.
async fn send_with_retry<T: Transport, R, E>(
    shared: &Shared<T>,
    request: impl Fn() -> Request<Vec<u8>>,
    finish: impl Fn(Response<Vec<u8>>) -> Result<R, E>,
    rate_limit_of: impl Fn(&E) -> Option<Duration>,
) -> Result<Result<R, E>, TransportError> {
    let first = finish(shared.transport.send(request(), shared.timeout).await?);
    match &first {
        Err(e) => match rate_limit_of(e) {
            Some(wait) if wait <= MAX_INLINE_RETRY_WAIT => {
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "Discord rate limited us; retrying once"
                );
                tokio::time::sleep(wait).await;
                Ok(finish(shared.transport.send(request(), shared.timeout).await?))
            }
            _ => Ok(first),
        },
        Ok(_) => Ok(first),
    }
}

fn token_wait(e: &TokenError) -> Option<Duration> {
    e.rate_limit()
        .map(|rl| rl.retry_after.unwrap_or(Duration::from_secs(1)))
}

fn api_wait(e: &ApiError) -> Option<Duration> {
    e.rate_limit()
        .map(|rl| rl.retry_after.unwrap_or(Duration::from_secs(1)))
}

pub(crate) async fn call_api<T: Transport, R>(shared: &Shared<T>, call: &ApiCall<R>) -> Result<R, LoginError> {
    send_with_retry(shared, || call.request(), |r| call.parse(r), api_wait)
        .await
        .map_err(|e| LoginError::Unreachable(e.to_string()))?
        .map_err(LoginError::User)
}

/// Revokes the grant behind `tokens`, logging (not failing) on error (checklist G-04).
async fn revoke_best_effort<T: Transport>(shared: &Shared<T>, tokens: &TokenSet) {
    let revoke = shared.config.client().revoke(RevocableToken::from_set(tokens));
    match shared.transport.send(revoke.request(), shared.timeout).await {
        Ok(resp) => {
            if let Err(e) = revoke.finish(resp) {
                tracing::warn!(error = %e, "token revocation failed; the session was still ended");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "token revocation failed; the session was still ended");
        }
    }
}

// ------------------------------------------------------------------ routes

async fn login<T: Transport>(shared: &Shared<T>, session: &Session, method: &Method, query: &str) -> Response<String> {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET");
    }
    let return_to = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned());
    let mut pending: PendingLogins = match session.get(PENDING_KEY).await {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return store_unavailable(&e),
    };
    let started = {
        let mut rng = rand::rng();
        shared
            .config
            .begin_login(return_to.as_deref(), &mut pending, &mut rng, shared.now())
    };
    let url = match started {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "login configuration error");
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".to_owned());
        }
    };
    if let Err(e) = session.insert(PENDING_KEY, &pending).await {
        return store_unavailable(&e);
    }
    tracing::debug!(pending = pending.len(), "login started");
    redirect(url.as_str())
}

async fn callback<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    query: &str,
) -> Response<String> {
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    let mut pending: PendingLogins = match session.get(PENDING_KEY).await {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return store_unavailable(&e),
    };
    let before = pending.len();
    let now = shared.now();
    let result = shared.config.complete_callback(query, &mut pending, now);
    if pending.len() != before {
        // The login was consumed: persist that before anything else (single use, B-06).
        let saved = if pending.is_empty() {
            session.remove_value(PENDING_KEY).await.map(drop)
        } else {
            session.insert(PENDING_KEY, &pending).await
        };
        if let Err(e) = saved {
            return store_unavailable(&e);
        }
    }
    let (exchange, return_to) = match result {
        Ok(ok) => ok,
        Err(e) => return login_error_page(shared, &e),
    };
    let tokens = match send_with_retry(
        shared,
        || exchange.request(),
        |r| exchange.finish(r, shared.now()),
        token_wait,
    )
    .await
    {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(e)) => return login_error_page(shared, &LoginError::Token(e)),
        Err(e) => return login_error_page(shared, &LoginError::Unreachable(e.to_string())),
    };
    if let Err(e) = shared.config.check_granted(&tokens) {
        revoke_best_effort(shared, &tokens).await;
        return login_error_page(shared, &e);
    }
    let user = match call_api(
        shared,
        &api::current_user(shared.config.client().endpoints(), &tokens.access_token),
    )
    .await
    {
        Ok(user) => user,
        Err(e) => {
            // No half session (C-09): the tokens are thrown away.
            revoke_best_effort(shared, &tokens).await;
            return login_error_page(shared, &e);
        }
    };
    if shared.config.identity_only() {
        revoke_best_effort(shared, &tokens).await;
    }
    let auth = shared.config.new_session(user, tokens, shared.now());
    // A new session id at login (H-05): a fixated or leaked pre-login id becomes useless.
    if let Err(e) = session.cycle_id().await {
        return store_unavailable(&e);
    }
    if let Err(e) = session.insert(AUTH_KEY, &auth).await {
        return store_unavailable(&e);
    }
    tracing::info!(user_id = %auth.user.id, "user logged in");
    redirect(return_to.as_str())
}

async fn logout<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    origin: Option<&HeaderValue>,
) -> Response<String> {
    if method != Method::POST {
        return method_not_allowed("POST");
    }
    // Cross-site form posts carry a foreign Origin: refuse them (logout CSRF, G-01).
    if let Some(origin) = origin
        && origin.as_bytes() != shared.config.origin().as_bytes()
    {
        return text_response(StatusCode::FORBIDDEN, "Forbidden: cross-site logout request".to_owned());
    }
    let auth: Option<AuthSession> = match session.get(AUTH_KEY).await {
        Ok(a) => a,
        Err(e) => return store_unavailable(&e),
    };
    if let Some(id) = session.id() {
        shared.cache.remove(&id);
    }
    if let Some(tokens) = auth.as_ref().and_then(|a| a.tokens.as_ref()) {
        revoke_best_effort(shared, tokens).await;
    }
    if let Err(e) = session.flush().await {
        return store_unavailable(&e);
    }
    if let Some(a) = &auth {
        tracing::info!(user_id = %a.user.id, "user logged out");
    }
    redirect(shared.config.post_logout_redirect().as_str())
}

// ------------------------------------------------------------------ every other request

/// Loads the authenticated session (cache first), refreshes it if needed, and returns what the
/// inner service sees. Errors are answers to send instead of calling the inner service.
async fn attach<T: Transport>(shared: &Arc<Shared<T>>, session: &Session) -> Result<AuthState, Response<String>> {
    let login_path: Arc<str> = Arc::from(shared.config.routes().login.as_str());
    let Some(id) = session.id() else {
        return Ok(AuthState::anonymous(login_path));
    };
    let auth = match shared.cache.get(&id) {
        Some(a) => a,
        None => match session.get::<AuthSession>(AUTH_KEY).await {
            Ok(Some(a)) => {
                let a = Arc::new(a);
                shared.cache.insert(id, Arc::clone(&a));
                a
            }
            Ok(None) => return Ok(AuthState::anonymous(login_path)),
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                return Ok(AuthState::unavailable(login_path));
            }
        },
    };
    let now = shared.now();
    match shared.config.session_status(&auth, now) {
        SessionStatus::Valid => Ok(AuthState::authenticated(auth, login_path)),
        SessionStatus::Ended => {
            end_session(shared, session, &id).await?;
            Ok(AuthState::anonymous(login_path))
        }
        SessionStatus::NeedsRefresh => match refresh(shared, session, id, auth).await? {
            Some(fresh) => Ok(AuthState::authenticated(fresh, login_path)),
            None => Ok(AuthState::anonymous(login_path)),
        },
    }
}

async fn end_session<T>(shared: &Shared<T>, session: &Session, id: &Id) -> Result<(), Response<String>> {
    shared.cache.remove(id);
    session.flush().await.map_err(|e| store_unavailable(&e))
}

/// Refreshes the session's tokens, once per session at a time: concurrent requests wait for
/// the first one and reuse its result (Discord's refresh tokens are single use, F-05).
async fn refresh<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
    id: Id,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    let lock = {
        let mut locks = shared.refresh_locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(id).or_default())
    };
    let guard = lock.lock().await;
    let result = refresh_locked(shared, session, id, stale).await;
    drop(guard);
    {
        let mut locks = shared.refresh_locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map and our clone hold it: nobody is waiting.
        if locks.get(&id).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(&id);
        }
    }
    result
}

async fn refresh_locked<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
    id: Id,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    let now = shared.now();
    // Another request may have refreshed while we waited for the lock.
    let current = match shared.cache.get(&id) {
        Some(c) => c,
        None => match session.get::<AuthSession>(AUTH_KEY).await {
            Ok(Some(a)) => Arc::new(a),
            Ok(None) => return Ok(None),
            Err(e) => return Err(store_unavailable(&e)),
        },
    };
    let fresher = match (&current.tokens, &stale.tokens) {
        (Some(c), Some(s)) => c.expires_at > s.expires_at,
        _ => false,
    };
    if fresher || shared.config.session_status(&current, now) == SessionStatus::Valid {
        if fresher {
            // Bring this request's session record up to date, so a later save cannot write
            // the old tokens back (F-11).
            session
                .insert(AUTH_KEY, current.as_ref())
                .await
                .map_err(|e| store_unavailable(&e))?;
        }
        return Ok(Some(current));
    }
    let Some(tokens) = current.tokens.clone() else {
        return Ok(Some(current));
    };
    let still_valid = now < tokens.expires_at;
    let Ok(exchange) = shared.config.client().refresh(tokens) else {
        return Ok(Some(current));
    };
    let outcome = send_with_retry(
        shared,
        || exchange.request(),
        |r| exchange.finish(r, shared.now()),
        token_wait,
    )
    .instrument(tracing::info_span!("discord_oauth.refresh"))
    .await;
    match outcome {
        Ok(Ok(new_tokens)) => {
            let mut next = (*current).clone();
            next.tokens = Some(new_tokens);
            // Persist the rotated refresh token before anything uses the new access token (F-03).
            session
                .insert(AUTH_KEY, &next)
                .await
                .map_err(|e| store_unavailable(&e))?;
            session.save().await.map_err(|e| store_unavailable(&e))?;
            let next = Arc::new(next);
            shared.cache.insert(id, Arc::clone(&next));
            tracing::info!(user_id = %next.user.id, "tokens refreshed");
            Ok(Some(next))
        }
        Ok(Err(e)) if e.is_invalid_grant() => {
            tracing::info!(user_id = %current.user.id, "refresh token rejected; logging the user out");
            end_session(shared, session, &id).await?;
            Ok(None)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "token refresh failed");
            if still_valid {
                Ok(Some(current))
            } else {
                let wait = e
                    .rate_limit()
                    .and_then(|rl| rl.retry_after)
                    .map_or(5, |d| d.as_secs().max(1));
                Err(unavailable(
                    "Service Unavailable: Discord could not refresh your login; try again shortly.",
                    wait,
                ))
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "token refresh failed");
            if still_valid {
                Ok(Some(current))
            } else {
                Err(unavailable(
                    "Service Unavailable: Discord could not be reached; try again shortly.",
                    5,
                ))
            }
        }
    }
}

/// Used by the cache for its clock, so tests can reason about it.
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}
