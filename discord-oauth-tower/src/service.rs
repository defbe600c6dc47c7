//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::TokenSet;
use discord_oauth_core::login::answer::{self, Route};
use discord_oauth_core::login::flow::{ApiFlow, CallbackFlow, FlowIo, RefreshOutcome, RefreshPlan, RevokeFlow, drive};
use discord_oauth_core::login::{AuthSession, LoginConfig, LoginError, PendingLogins, SessionStatus};
use discord_oauth_core::response::ApiCall;
use http::header::{HeaderValue, ORIGIN};
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
                return Ok(answer::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: DiscordOAuthLayer needs a tower_sessions::SessionManagerLayer \
                     added outside it (see discord_oauth_tower::session_layer)."
                        .to_owned(),
                )
                .map(ResBody::from));
            };
            if let Some(route) = shared.config.route(req.uri().path()) {
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

// ------------------------------------------------------------------ responses and IO

fn store_unavailable(e: &tower_sessions::session::Error) -> Response<String> {
    tracing::error!(error = %e, "session store failed");
    answer::store_unavailable()
}

fn login_error_page<T>(shared: &Shared<T>, e: &LoginError) -> Response<String> {
    if e.status() >= 500 {
        tracing::warn!(error = %e, "login failed");
    } else {
        tracing::info!(error = %e, "login refused");
    }
    shared.config.login_error_answer(e)
}

/// The layer's transport, timeout, clock and timer, for the core's flows.
impl<T: Transport> FlowIo for Shared<T> {
    type Error = TransportError;

    fn send(
        &self,
        request: Request<Vec<u8>>,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send {
        self.transport.send(request, self.timeout)
    }

    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tracing::info!(
            wait_ms = duration.as_millis() as u64,
            "Discord rate limited us; retrying once"
        );
        tokio::time::sleep(duration)
    }

    fn now(&self) -> SystemTime {
        Shared::now(self)
    }
}

pub(crate) async fn call_api<T: Transport, R>(shared: &Shared<T>, call: &ApiCall<R>) -> Result<R, LoginError> {
    drive(ApiFlow::new(call), shared).await
}

/// Revokes the grant behind `tokens`, logging (not failing) on error (checklist G-04).
async fn revoke_best_effort<T: Transport>(shared: &Shared<T>, tokens: &TokenSet) {
    log_revocation(drive(RevokeFlow::new(&shared.config, tokens), shared).await);
}

fn log_revocation(result: Result<(), String>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "token revocation failed; the session was still ended");
    }
}

// ------------------------------------------------------------------ routes

async fn login<T: Transport>(shared: &Shared<T>, session: &Session, method: &Method, query: &str) -> Response<String> {
    if let Err(r) = Route::Login.check_method(method.as_str()) {
        return r;
    }
    let return_to = answer::return_to_param(query);
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
            return answer::internal_error();
        }
    };
    if let Err(e) = session.insert(PENDING_KEY, &pending).await {
        return store_unavailable(&e);
    }
    tracing::debug!(pending = pending.len(), "login started");
    answer::redirect(url.as_str())
}

async fn callback<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    query: &str,
) -> Response<String> {
    if let Err(r) = Route::Callback.check_method(method.as_str()) {
        return r;
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
    let outcome = drive(CallbackFlow::new(&shared.config, exchange, return_to), shared).await;
    if let Some(revocation) = outcome.revocation {
        log_revocation(revocation);
    }
    let (auth, return_to) = match outcome.result {
        Ok(done) => (done.session, done.return_to),
        Err(e) => return login_error_page(shared, &e),
    };
    // A new session id at login (H-05): a fixated or leaked pre-login id becomes useless.
    if let Err(e) = session.cycle_id().await {
        return store_unavailable(&e);
    }
    if let Err(e) = session.insert(AUTH_KEY, &auth).await {
        return store_unavailable(&e);
    }
    tracing::info!(user_id = %auth.user.id, "user logged in");
    answer::redirect(return_to.as_str())
}

async fn logout<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    origin: Option<&HeaderValue>,
) -> Response<String> {
    if let Err(r) = Route::Logout
        .check_method(method.as_str())
        .and_then(|()| shared.config.check_logout_origin(origin.map(HeaderValue::as_bytes)))
    {
        return r;
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
    answer::redirect(shared.config.post_logout_redirect().as_str())
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
        Some(c) => Some(c),
        None => match session.get::<AuthSession>(AUTH_KEY).await {
            Ok(a) => a.map(Arc::new),
            Err(e) => return Err(store_unavailable(&e)),
        },
    };
    let flow = match shared.config.plan_refresh(&stale, current.as_deref(), now) {
        RefreshPlan::Gone => return Ok(None),
        RefreshPlan::UseCurrent { write_back } => {
            let Some(current) = current else { return Ok(None) };
            if write_back {
                // Bring this request's session record up to date, so a later save cannot write
                // the old tokens back (F-11).
                session
                    .insert(AUTH_KEY, current.as_ref())
                    .await
                    .map_err(|e| store_unavailable(&e))?;
            }
            return Ok(Some(current));
        }
        RefreshPlan::Refresh(flow) => flow,
    };
    let outcome = drive(flow, shared.as_ref())
        .instrument(tracing::info_span!("discord_oauth.refresh"))
        .await;
    match outcome {
        RefreshOutcome::Refreshed(next) => {
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
        RefreshOutcome::LoggedOut { .. } => {
            tracing::info!(user_id = %stale.user.id, "refresh token rejected; logging the user out");
            end_session(shared, session, &id).await?;
            Ok(None)
        }
        RefreshOutcome::KeepOld { error } => {
            tracing::warn!(error = %error, "token refresh failed");
            Ok(current)
        }
        RefreshOutcome::Unavailable {
            error,
            retry_after,
            message,
        } => {
            tracing::warn!(error = %error, "token refresh failed");
            Err(answer::unavailable(message, retry_after))
        }
    }
}

/// Used by the cache for its clock, so tests can reason about it.
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}
