//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::TokenSet;
use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig};
use discord_oauth_core::login::answer::{self, Route};
use discord_oauth_core::login::flow::{ApiFlow, CallbackFlow, FlowIo, RefreshOutcome, RefreshPlan, RevokeFlow, drive};
use discord_oauth_core::login::pending_cookie::ConsumedStates;
use discord_oauth_core::login::revocation::{Revocation, Revocations};
use discord_oauth_core::login::{AuthSession, IdleCheck, LoginConfig, LoginError, SessionStatus};
use discord_oauth_core::response::ApiCall;
use http::header::{COOKIE, HeaderValue, ORIGIN};
use http::{Method, Request, Response, StatusCode};
use tower::Service;
use tower_sessions::Session;
use tower_sessions::session::Id;
use tracing::Instrument as _;

use crate::cache::{AuthCache, CachedSession};
use crate::extension::AuthState;
use crate::fast::{CookieIndex, single_cookie_header};
use crate::lock::{LockError, RefreshLock};
use crate::outbound::Outbound;
use crate::transport::{Transport, TransportError};

/// The wall clock the layer reads (replaceable for tests and clock-skew drills).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Session key of the authenticated session record.
pub(crate) const AUTH_KEY: &str = "discord_oauth.auth";
/// Session key of when the session was last marked active (Unix seconds), for the idle
/// timeout (checklist H-09).
pub(crate) const SEEN_KEY: &str = "discord_oauth.seen";

/// State shared by every clone of the layer and service.
pub(crate) struct Shared<T> {
    pub(crate) clock: Clock,
    pub(crate) config: LoginConfig,
    pub(crate) transport: T,
    pub(crate) timeout: Duration,
    pub(crate) cache: AuthCache,
    pub(crate) refresh_lock: Arc<dyn RefreshLock>,
    pub(crate) outbound: Outbound,
    /// The login route's path, shared by every request's [`AuthState`].
    pub(crate) login_path: Arc<str>,
    /// `Cookie` header → session id, for the fast path ([`crate::fast`]).
    pub(crate) index: CookieIndex,
    /// Whether a fast path serves this layer's sessions (then the index is kept).
    pub(crate) fast_path: AtomicBool,
    /// The `state`s of callbacks served here (single use of the login cookies).
    pub(crate) consumed: ConsumedStates,
    /// Logins that ended (here, or announced by other instances).
    pub(crate) revocations: Revocations,
    /// Users' API calls: rate limits, invalid-request budget, read cache (bounded by its
    /// configuration).
    pub(crate) api: ApiDriver,
}

impl<T> Shared<T> {
    #[allow(clippy::too_many_arguments)] // crate-internal; the builder is the public face
    pub(crate) fn new(
        config: LoginConfig,
        transport: T,
        timeout: Duration,
        cache: AuthCache,
        clock: Clock,
        refresh_lock: Arc<dyn RefreshLock>,
        outbound: Outbound,
        index: CookieIndex,
    ) -> Self {
        Self {
            index,
            fast_path: AtomicBool::new(false),
            consumed: ConsumedStates::default(),
            revocations: Revocations::default(),
            api: ApiDriver::new(config.client().endpoints().clone(), ApiDriverConfig::default()),
            login_path: Arc::from(config.routes().login.as_str()),
            clock,
            config,
            transport,
            timeout,
            cache,
            refresh_lock,
            outbound,
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }
}

impl<T: Transport> Shared<T> {
    /// The handle every logged-in request's [`AuthState`] carries.
    pub(crate) fn user_api(self: &Arc<Self>) -> crate::UserApi {
        crate::UserApi(Arc::clone(self) as Arc<dyn crate::user_api::Backend>)
    }
}

impl<T> Shared<T> {
    /// Ends the logins `revocation` names on this instance: remembered as ended, and gone
    /// from the cache (and so from the fast path) at once.
    pub(crate) fn apply_revocation(&self, revocation: Revocation) {
        self.revocations
            .revoke(revocation, self.config.session_lifetime(), self.now(), monotonic_now());
        self.cache.remove_matching(&revocation);
    }

    /// [`Shared::apply_revocation`], then tells the other instances.
    pub(crate) async fn revoke(&self, revocation: Revocation) {
        self.apply_revocation(revocation);
        self.revocations
            .announce(revocation, self.config.session_lifetime(), self.now())
            .await;
    }

    /// How long a refresh may hold its session's lock: longer than a refresh can take (two
    /// requests to Discord, each bounded by the timeout, with at most a 5 s rate-limit wait
    /// between them) plus time to store the result.
    pub(crate) fn refresh_lease(&self) -> Duration {
        self.timeout.saturating_mul(2).saturating_add(Duration::from_secs(10))
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("refresh_lock", &self.refresh_lock)
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
                let cookies: Vec<HeaderValue> = req.headers().get_all(COOKIE).iter().cloned().collect();
                drop(req);
                let response = match route {
                    Route::Login => login(&shared, &method, &query, &cookies),
                    Route::Callback => {
                        callback(&shared, &session, &method, &query, &cookies)
                            .instrument(tracing::info_span!("discord_oauth.callback"))
                            .await
                    }
                    Route::Logout => {
                        logout(&shared, &session, &method, &query, origin.as_ref())
                            .instrument(tracing::info_span!("discord_oauth.logout"))
                            .await
                    }
                };
                return Ok(response.map(ResBody::from));
            }
            let cookie = if shared.fast_path.load(Ordering::Relaxed) {
                single_cookie_header(&req).cloned()
            } else {
                None
            };
            match attach(&shared, &session).await {
                Ok((state, cached)) => {
                    let authenticated = state.session().is_some();
                    // Requests with this exact Cookie header carry this session: the fast
                    // path may serve them from the cache entry this request was served with.
                    if let (Some(cookie), Some(id), Some(cached)) = (cookie, session.id(), cached) {
                        shared.index.insert(cookie.as_bytes(), id, session.expiry(), cached);
                    }
                    req.extensions_mut().insert(state);
                    let mut response = inner.call(req).await?;
                    // Pages served to a logged-in user are personal: keep them out of shared
                    // and browser caches unless the handler chose a policy (checklist H-14).
                    if authenticated && !response.headers().contains_key(http::header::CACHE_CONTROL) {
                        response.headers_mut().insert(
                            http::header::CACHE_CONTROL,
                            http::HeaderValue::from_static("private, no-store"),
                        );
                    }
                    Ok(response)
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
        self.outbound
            .send(&self.transport, request, self.timeout, || self.now())
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

/// `GET /auth/login`: the pending login goes into its own sealed cookie; nothing is stored
/// (an anonymous visitor costs the server nothing).
fn login<T>(shared: &Shared<T>, method: &Method, query: &str, cookies: &[HeaderValue]) -> Response<String> {
    if let Err(r) = Route::Login.check_method(method.as_str()) {
        return r;
    }
    let headers = cookies.iter().map(HeaderValue::as_bytes);
    shared
        .config
        .login_answer(query, headers, &mut rand::rng(), shared.now())
}

async fn callback<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    query: &str,
    cookies: &[HeaderValue],
) -> Response<String> {
    if let Err(r) = Route::Callback.check_method(method.as_str()) {
        return r;
    }
    let now = shared.now();
    let start = shared
        .config
        .callback_start(query, cookies.iter().map(HeaderValue::as_bytes), &shared.consumed, now);
    let answer = match start.result {
        Err(e) => login_error_page(shared, &e),
        Ok((exchange, return_to)) => complete_login(shared, session, exchange, return_to, now).await,
    };
    start.clear.finish(answer)
}

/// The exchange, the user, and the new session.
async fn complete_login<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    exchange: discord_oauth_core::CodeExchange,
    return_to: discord_oauth_core::ReturnTo,
    now: SystemTime,
) -> Response<String> {
    let outcome = drive(CallbackFlow::new(&shared.config, exchange, return_to), shared).await;
    if let Some(revocation) = outcome.revocation {
        log_revocation(revocation);
    }
    let (mut auth, return_to) = match outcome.result {
        Ok(done) => (done.session, done.return_to),
        Err(e) => return login_error_page(shared, &e),
    };
    shared.revocations.admit(&mut auth, monotonic_now());
    // A new session id at login (H-05): a fixated or leaked pre-login id becomes useless,
    // here and in the cache at once.
    if let Some(old) = session.id() {
        shared.cache.remove(&old);
    }
    if let Err(e) = session.cycle_id().await {
        return store_unavailable(&e);
    }
    if let Err(e) = session.insert(AUTH_KEY, &auth).await {
        return store_unavailable(&e);
    }
    if let Err(e) = session.insert(SEEN_KEY, unix_seconds(now)).await {
        return store_unavailable(&e);
    }
    if let Err(e) = session.save().await {
        return store_unavailable(&e);
    }
    tracing::info!(user_id = %auth.user.id, "user logged in");
    answer::redirect(return_to.as_str())
}

async fn logout<T: Transport>(
    shared: &Shared<T>,
    session: &Session,
    method: &Method,
    query: &str,
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
    // The session ends before anything slow happens: gone from this instance's cache (and
    // its fast path) and from the store, so no copy of the cookie is served from here on,
    // and no request that read it earlier can cache it again (the cache's epoch).
    let id = session.id();
    if let Some(id) = &id {
        shared.cache.remove(id);
    }
    if let Some(a) = &auth {
        shared.revoke(Revocation::at_logout(a, query, shared.now())).await;
        if let Some(tokens) = &a.tokens {
            shared.api.invalidate_token(&tokens.access_token);
        }
    }
    if let Err(e) = session.flush().await {
        return store_unavailable(&e);
    }
    // Once more now that the store has no record: a request that read it between the first
    // removal and the flush may have cached it meanwhile.
    if let Some(id) = &id {
        shared.cache.remove(id);
    }
    // Then the grant is revoked at Discord (G-04), however long that takes.
    if let Some(tokens) = auth.as_ref().and_then(|a| a.tokens.as_ref()) {
        revoke_best_effort(shared, tokens).await;
    }
    if let Some(a) = &auth {
        tracing::info!(user_id = %a.user.id, "user logged out");
    }
    answer::redirect(shared.config.post_logout_redirect().as_str())
}

// ------------------------------------------------------------------ every other request

/// Loads the authenticated session (cache first), refreshes it if needed, and returns what the
/// inner service sees, with the cache entry of the login it is served with, if the login is
/// valid and cached (for the cookie index). Errors are answers to send instead of calling the
/// inner service.
async fn attach<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
) -> Result<(AuthState, Option<Arc<CachedSession>>), Response<String>> {
    let login_path = Arc::clone(&shared.login_path);
    let Some(id) = session.id() else {
        return Ok((AuthState::anonymous(login_path), None));
    };
    let epoch = shared.cache.epoch();
    let (auth, cached) = match shared.cache.entry(&id) {
        Some(e) => (Arc::clone(&e.auth), Some(e)),
        None => match session.get::<AuthSession>(AUTH_KEY).await {
            Ok(Some(a)) => {
                let a = Arc::new(a);
                if shared.revocations.is_revoked(&a, monotonic_now()) {
                    tracing::info!(user_id = %a.user.id, "a session of an ended login was presented; ending it");
                    end_session(shared, session, &id).await?;
                    return Ok((AuthState::anonymous(login_path), None));
                }
                if !maintain(shared, session, &a).await {
                    tracing::info!(user_id = %a.user.id, "session idle for too long; logging the user out");
                    end_session(shared, session, &id).await?;
                    return Ok((AuthState::anonymous(login_path), None));
                }
                let cached = shared.cache.insert(id, Arc::clone(&a), epoch);
                (a, cached)
            }
            Ok(None) => return Ok((AuthState::anonymous(login_path), None)),
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                return Ok((AuthState::unavailable(login_path), None));
            }
        },
    };
    let now = shared.now();
    match shared.config.session_status(&auth, now) {
        SessionStatus::Valid => Ok((AuthState::authenticated(auth, login_path, shared.user_api()), cached)),
        SessionStatus::Ended => {
            end_session(shared, session, &id).await?;
            Ok((AuthState::anonymous(login_path), None))
        }
        SessionStatus::NeedsRefresh => match refresh(shared, session, id, auth).await? {
            Some(fresh) => {
                // The refresh cached the fresh login (unless another request replaced it since).
                let cached = shared.cache.entry(&id).filter(|e| Arc::ptr_eq(&e.auth, &fresh));
                Ok((AuthState::authenticated(fresh, login_path, shared.user_api()), cached))
            }
            None => Ok((AuthState::anonymous(login_path), None)),
        },
    }
}

async fn end_session<T>(shared: &Shared<T>, session: &Session, id: &Id) -> Result<(), Response<String>> {
    shared.cache.remove(id);
    session.flush().await.map_err(|e| store_unavailable(&e))
}

/// Housekeeping when a logged-in session was just read from the store (at most once per
/// cache TTL per session and process). Returns `false` if the session has been idle for longer
/// than the idle timeout (end it). Otherwise marks the session active ([`SEEN_KEY`]) when the last mark is older than an eighth of the idle
/// timeout (about once a day by default), which also makes the session layer save it with a
/// new expiry and send the cookie again: reading is activity (checklist H-09), at the cost of
/// one store write per session and interval, whichever instance serves it.
///
/// Skipped (but for the idle check) when the tokens are close to a refresh: a save of this
/// (soon outdated) record must not race with a refresh on another instance. The refresh saves
/// the session, marked active, anyway.
async fn maintain<T>(shared: &Shared<T>, session: &Session, auth: &AuthSession) -> bool {
    let now = shared.now();
    let seen = session.get::<u64>(SEEN_KEY).await.ok().flatten().map(from_unix_seconds);
    let idle = shared.config.idle_check(seen, now);
    if idle == IdleCheck::Expired {
        return false;
    }
    let near_refresh = auth.tokens.as_ref().is_some_and(|t| {
        t.refresh_token.is_some() && t.expires_within(now, shared.config.refresh_skew().saturating_mul(2))
    });
    if near_refresh {
        return true;
    }
    if idle == IdleCheck::Touch {
        // Saved by the session layer when the response goes out, with a new expiry.
        let _ = session.insert(SEEN_KEY, unix_seconds(now)).await;
    }
    true
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn from_unix_seconds(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Refreshes the session's tokens, once per session at a time: concurrent requests (on this
/// instance, and on others if the refresh lock spans instances) wait for the first one and
/// then use the tokens it stored (Discord's refresh tokens are single use, F-05).
///
/// The refresh runs in its own task, so that a request cancelled half-way (the client went
/// away) still stores the rotated refresh token Discord handed out.
async fn refresh<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
    id: Id,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    let task = {
        let shared = Arc::clone(shared);
        let session = session.clone();
        tokio::spawn(
            async move {
                let guard = match shared.refresh_lock.acquire(id, shared.refresh_lease()).await {
                    Ok(guard) => guard,
                    Err(e) => return Err(lock_unavailable(&e)),
                };
                let result = Box::pin(refresh_locked(&shared, &session, id, stale)).await;
                guard.release().await;
                result
            }
            .in_current_span(),
        )
    };
    match task.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "the token refresh task failed");
            Err(answer::unavailable(
                "Service Unavailable: your login could not be refreshed; try again shortly.",
                5,
            ))
        }
    }
}

fn lock_unavailable(e: &LockError) -> Response<String> {
    tracing::error!(error = %e, "refresh lock failed");
    answer::store_unavailable()
}

/// After a refresh token is rejected, how long to wait before looking at the store a second
/// time for tokens another instance may be storing right now.
const ROTATED_ELSEWHERE_RECHECK: Duration = Duration::from_millis(250);

/// The refresh token of a session, to tell whether another request rotated it.
fn refresh_secret(auth: Option<&AuthSession>) -> Option<&str> {
    auth?
        .tokens
        .as_ref()?
        .refresh_token
        .as_ref()
        .map(|t| t.secret().as_str())
}

/// Re-reads the session from the store, bypassing the in-process cache and this request's
/// copy of the record.
async fn reload(session: &Session) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    session.load().await.map_err(|e| store_unavailable(&e))?;
    match session.get::<AuthSession>(AUTH_KEY).await {
        Ok(a) => Ok(a.map(Arc::new)),
        Err(e) => Err(store_unavailable(&e)),
    }
}

async fn refresh_locked<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
    id: Id,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    let now = shared.now();
    let epoch = shared.cache.epoch();
    // Another request, here or on another instance, may have refreshed while we waited for
    // the lock: only the store knows. After this, this request's record is the stored one, so
    // no later save can write older tokens back (F-11).
    let current = reload(session).await?;
    let flow = match shared.config.plan_refresh(&stale, current.as_deref(), now) {
        RefreshPlan::Gone => {
            shared.cache.remove(&id);
            return Ok(None);
        }
        RefreshPlan::UseCurrent { .. } => {
            let Some(current) = current else { return Ok(None) };
            shared.cache.insert(id, Arc::clone(&current), epoch);
            return Ok(Some(current));
        }
        RefreshPlan::Refresh(flow) => flow,
    };
    let outcome = drive(flow, shared.as_ref())
        .instrument(tracing::info_span!("discord_oauth.refresh"))
        .await;
    match outcome {
        RefreshOutcome::Refreshed(next) => {
            if let Some(old) = current.as_ref().and_then(|c| c.tokens.as_ref()) {
                shared.api.invalidate_token(&old.access_token);
            }
            // Persist the rotated refresh token before anything uses the new access token (F-03).
            session
                .insert(AUTH_KEY, &next)
                .await
                .map_err(|e| store_unavailable(&e))?;
            session
                .insert(SEEN_KEY, unix_seconds(now))
                .await
                .map_err(|e| store_unavailable(&e))?;
            session.save().await.map_err(|e| store_unavailable(&e))?;
            let next = Arc::new(next);
            shared.cache.insert(id, Arc::clone(&next), epoch);
            tracing::info!(user_id = %next.user.id, "tokens refreshed");
            Ok(Some(next))
        }
        RefreshOutcome::LoggedOut { error } => {
            // Before logging the user out: if the store holds other tokens now, someone else
            // (an instance without a shared refresh lock) rotated them; use theirs. Look twice,
            // in case that refresh is still being stored.
            for pause in [Duration::ZERO, ROTATED_ELSEWHERE_RECHECK] {
                tokio::time::sleep(pause).await;
                if let Some(latest) = reload(session).await?
                    && refresh_secret(Some(&latest)).is_some()
                    && refresh_secret(Some(&latest)) != refresh_secret(current.as_deref())
                {
                    tracing::warn!(
                        user_id = %latest.user.id,
                        "refresh token rejected, but the session was refreshed elsewhere meanwhile; using \
                         those tokens (share a refresh lock between instances to avoid this)"
                    );
                    shared.cache.insert(id, Arc::clone(&latest), epoch);
                    return Ok(Some(latest));
                }
            }
            tracing::info!(user_id = %stale.user.id, error = %error, "refresh token rejected; logging the user out");
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

#[cfg(test)]
mod tests {
    use discord_oauth_core::login::flow::MAX_INLINE_RETRY_WAIT;

    use super::*;
    use crate::lock::LocalRefreshLock;

    #[test]
    fn f07_the_refresh_lease_outlasts_the_longest_refresh() {
        let config = LoginConfig::builder("1", "https://a.example/auth/callback")
            .build()
            .unwrap();
        for secs in [1, 5, 10, 60, 600] {
            let timeout = Duration::from_secs(secs);
            let shared = Shared::new(
                config.clone(),
                (),
                timeout,
                AuthCache::new(Duration::ZERO, 0),
                Arc::new(SystemTime::now),
                Arc::new(LocalRefreshLock::new()),
                Outbound::new(1),
                crate::fast::CookieIndex::new(Duration::ZERO, 0),
            );
            // A refresh is at most two requests, each cut off at the timeout, with one
            // rate-limit wait between them; then a store write. The lock must outlive it, so
            // that a slow refresh never loses its lock to a second one (F-07).
            let longest_refresh = timeout * 2 + MAX_INLINE_RETRY_WAIT;
            assert!(
                shared.refresh_lease() >= longest_refresh + Duration::from_secs(5),
                "lease {:?} for a {timeout:?} timeout",
                shared.refresh_lease()
            );
        }
    }
}
