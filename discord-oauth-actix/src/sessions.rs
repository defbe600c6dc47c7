//! Sessions: actix-session's middleware as Discord login needs it ([`DiscordSessions`]), over
//! any actix-session store wrapped in a [`GuardedStore`].
//!
//! actix-session loads the session before the handler runs and writes it after, and answers
//! an empty `500` when its store fails. [`DiscordSessions`] answers `503` with `Retry-After`
//! instead (checklist K-05, H-15): whether anyone is logged in is unknown, so nobody is treated
//! as anonymous, and the browser's cookie is left alone. It recovers by itself when the store
//! does.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_session::config::{CookieContentSecurity, PersistentSession, SessionMiddlewareBuilder};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{SessionExt as _, SessionMiddleware};
use actix_web::HttpMessage as _;
use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::SET_COOKIE;
use discord_oauth_core::login::answer::{self, Refusal};
use discord_oauth_core::login::{IdleCheck, SessionStatus};
use futures_util::future::LocalBoxFuture;

use crate::convert;
use crate::extract::AuthState;
use crate::fast::{Entry, FastIndex, Offer, Replay};
use crate::shared::DiscordOAuth;
use discord_oauth_core::login::driver::from_unix_seconds;

/// How long a session lives in the store and in the browser after its last change (the idle
/// timeout): 7 days. [`crate::DiscordAuth`] marks an active session changed about eight times
/// per idle timeout, so that it does not expire while in use.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The message of every `503` for a failed session store.
const UNAVAILABLE: &str = "Sessions are unavailable right now; try again shortly.";

tokio::task_local! {
    /// Set by [`GuardedStore`] when the store fails during the request that
    /// [`DiscordSessionsService`] is serving.
    static STORE_FAILED: Rc<Cell<bool>>;
}

/// Logs a store failure and tells the [`DiscordSessionsService`] serving this request.
fn failed(operation: &'static str, error: &dyn fmt::Display) {
    tracing::error!(error = %error, operation, "session store failed");
    let _ = STORE_FAILED.try_with(|f| f.set(true));
}

/// An actix-session store, wrapped for Discord login by [`DiscordOAuth::session_middleware`]:
///
/// - a session emptied by a request is kept for a second rather than for the session TTL;
/// - a change to a session that is no longer in the store (logged out on another instance, or
///   expired while the request ran) is dropped: actix-session's own stores would save it under
///   a new key, bringing an ended session back;
/// - every store operation is bounded by the store timeout
///   ([`crate::DiscordOAuthBuilder::store_timeout`]); failures are logged and reported to
///   [`DiscordSessions`], which answers `503`.
pub struct GuardedStore<S> {
    inner: S,
    timeout: Duration,
}

impl<S> fmt::Debug for GuardedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A store operation that took longer than the store timeout.
#[derive(Debug, thiserror::Error)]
#[error("the session store did not answer within {0:?}")]
struct TimedOut(Duration);

impl<S: SessionStore> GuardedStore<S> {
    /// Wraps `store`; `timeout` bounds every operation.
    pub fn new(store: S, timeout: Duration) -> Self {
        Self { inner: store, timeout }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn bounded<T, E>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T, E>>,
        wrap: impl FnOnce(anyhow::Error) -> E,
    ) -> Result<T, E>
    where
        E: fmt::Display,
    {
        let result = match tokio::time::timeout(self.timeout, future).await {
            Ok(result) => result,
            Err(_) => Err(wrap(anyhow::Error::new(TimedOut(self.timeout)))),
        };
        if let Err(e) = &result {
            failed(operation, e);
        }
        result
    }
}

impl<S: SessionStore> SessionStore for GuardedStore<S> {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        match tokio::time::timeout(self.timeout, self.inner.load(session_key)).await {
            // A record that cannot be read is treated as absent by actix-session: not an outage.
            Ok(Err(LoadError::Deserialization(e))) => Err(LoadError::Deserialization(e)),
            Ok(Err(LoadError::Other(e))) => {
                failed("load", &e);
                Err(LoadError::Other(e))
            }
            Ok(Ok(state)) => Ok(state),
            Err(_) => {
                let e = anyhow::Error::new(TimedOut(self.timeout));
                failed("load", &e);
                Err(LoadError::Other(e))
            }
        }
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        self.bounded("save", self.inner.save(session_state, ttl), SaveError::Other)
            .await
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        if session_state.is_empty() {
            // Kept for a second rather than deleted: the store decides what the cookie holds
            // (with the cookie store, the state itself), so the emptied state must go through
            // it; it is gone from a server-side store at once.
            return self
                .bounded(
                    "update",
                    self.inner.update(session_key, session_state, &CookieDuration::SECOND),
                    UpdateError::Other,
                )
                .await;
        }
        // Only update what is still there (a logout elsewhere must stay a logout). A deletion
        // between this read and the write below can still be overwritten: the window is one
        // round trip to the store.
        let exists = match tokio::time::timeout(self.timeout, self.inner.load(&session_key)).await {
            Ok(Ok(state)) => state.is_some(),
            // An unreadable record is overwritten, as actix-session would.
            Ok(Err(LoadError::Deserialization(_))) => true,
            Ok(Err(LoadError::Other(e))) => {
                failed("load", &e);
                return Err(UpdateError::Other(e));
            }
            Err(_) => {
                let e = anyhow::Error::new(TimedOut(self.timeout));
                failed("load", &e);
                return Err(UpdateError::Other(e));
            }
        };
        if !exists {
            tracing::info!(
                "the session ended while this request ran (logout elsewhere, or expiry); its changes are dropped"
            );
            return Ok(session_key);
        }
        self.bounded(
            "update",
            self.inner.update(session_key, session_state, ttl),
            UpdateError::Other,
        )
        .await
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        self.bounded("update_ttl", self.inner.update_ttl(session_key, ttl), |e| e)
            .await
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.bounded("delete", self.inner.delete(session_key), |e| e).await
    }
}

/// actix-session's [`SessionMiddleware`] over a [`GuardedStore`], answering `503` with
/// `Retry-After` when the store fails where actix-session would answer an empty `500`: whether
/// anyone is logged in is then unknown, so nobody is treated as anonymous, and the browser's
/// cookie is left alone. Requests succeed again as soon as the store does. Built by
/// [`DiscordOAuth::session_middleware`]; `.wrap()` it *outside* [`DiscordOAuth::middleware`]
/// (after it).
pub struct DiscordSessions<S: SessionStore> {
    middleware: SessionMiddleware<GuardedStore<S>>,
    oauth: DiscordOAuth,
}

impl<S: SessionStore> fmt::Debug for DiscordSessions<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSessions")
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for DiscordSessions<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    Svc::Future: 'static,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = DiscordSessionsService<
        <SessionMiddleware<GuardedStore<S>> as Transform<SharedService<Svc>, ServiceRequest>>::Transform,
        Svc,
    >;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        let fast = Rc::new(service);
        let inner = self.middleware.new_transform(SharedService(Rc::clone(&fast)));
        let oauth = self.oauth.clone();
        Box::pin(async move {
            Ok(DiscordSessionsService {
                inner: Rc::new(inner.await?),
                fast,
                oauth,
            })
        })
    }
}

/// The application behind [`DiscordSessions`], shared by its normal path (through
/// actix-session's middleware) and its authenticated fast path ([`crate::fast`]).
pub struct SharedService<S>(Rc<S>);

impl<S> fmt::Debug for SharedService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedService").finish_non_exhaustive()
    }
}

impl<S: Service<ServiceRequest>> Service<ServiceRequest> for SharedService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        self.0.call(req)
    }
}

/// The service of [`DiscordSessions`].
pub struct DiscordSessionsService<T, F> {
    inner: Rc<T>,
    fast: Rc<F>,
    oauth: DiscordOAuth,
}

impl<T, F> fmt::Debug for DiscordSessionsService<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSessionsService")
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl<T, F> DiscordSessionsService<T, F> {
    /// The remembered session this request can be served with ([`crate::fast`]), if any.
    fn fast_entry(&self, req: &ServiceRequest) -> Option<Arc<Entry>> {
        let shared = &self.oauth.shared;
        if shared.config().route(req.path()).is_some() {
            return None;
        }
        let entry = shared.fast.get(FastIndex::key(req.headers())?.as_bytes())?;
        let now = shared.now();
        let idle = shared.config().idle_check(entry.seen.map(from_unix_seconds), now);
        (idle == IdleCheck::Active && shared.config().session_status(&entry.auth, now) == SessionStatus::Valid)
            .then_some(entry)
    }
}

impl<T, F, B> Service<ServiceRequest> for DiscordSessionsService<T, F>
where
    T: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    T::Future: 'static,
    F: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    F::Future: 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let shared = &self.oauth.shared;
        // `/auth/login` reads and writes no session (the login in progress goes into its own
        // cookie): it skips actix-session, so it neither loads a store nor fails with one.
        if shared.config().route(req.path()) == Some(discord_oauth_core::login::answer::Route::Login) {
            return Box::pin(self.fast.call(req));
        }
        if shared.fast.enabled()
            && let Some(entry) = self.fast_entry(&req)
        {
            return self.serve_fast(req, entry);
        }
        // Decided now: the request itself is moved into the session middleware (and must not
        // be cloned before routing).
        let answer = StoreUnavailable::for_request(self.oauth.config(), req.path(), req.method(), req.headers());
        let mut offer = None;
        if shared.fast.enabled()
            && let Some(key) = FastIndex::key(req.headers())
        {
            let key: Box<[u8]> = key.as_bytes().into();
            let slot = Rc::new(Offer::default());
            req.extensions_mut().insert(Rc::clone(&slot));
            offer = Some((key, slot, shared.fast.epoch()));
        }
        let flag = Rc::new(Cell::new(false));
        let call = STORE_FAILED.scope(Rc::clone(&flag), self.inner.call(req));
        let oauth = self.oauth.clone();
        Box::pin(async move {
            match call.await {
                Err(_) if flag.get() => Err(answer.into()),
                Ok(res) => {
                    if let Some((key, slot, epoch)) = offer {
                        let fast = &oauth.shared.fast;
                        let offered = slot.0.borrow_mut().take();
                        if res.request().get_session().status() != actix_session::SessionStatus::Unchanged {
                            // Changed here: what is remembered for these cookies is stale.
                            fast.remove(&key);
                        } else if let Some(entry) = offered
                            && !flag.get()
                        {
                            fast.insert(&key, entry, epoch);
                        }
                    }
                    Ok(res)
                }
                other => other,
            }
        })
    }
}

impl<T, F, B> DiscordSessionsService<T, F>
where
    T: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    T::Future: 'static,
    F: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    F::Future: 'static,
    B: 'static,
{
    /// Serves a request with a remembered session, without actix-session; a change the handler
    /// makes to the session is then written by actix-session on a second pass that does not
    /// call the handler again ([`crate::fast`]).
    fn serve_fast(
        &self,
        req: ServiceRequest,
        entry: Arc<Entry>,
    ) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>> {
        entry.fill(&req.get_session());
        req.extensions_mut()
            .insert(AuthState::authenticated(Arc::clone(&entry.auth), self.oauth.clone()));
        let first = self.fast.call(req);
        let inner = Rc::clone(&self.inner);
        let shared = Arc::clone(&self.oauth.shared);
        Box::pin(async move {
            let res = first.await?;
            let replay = {
                let session = res.request().get_session();
                if entry.unchanged(&session) {
                    return Ok(res);
                }
                Rc::new(Replay::of(&session))
            };
            // What is remembered for these cookies no longer matches the session.
            if let Some(key) = FastIndex::key(res.request().headers()) {
                shared.fast.remove(key.as_bytes());
            }
            let (request, mut response) = res.into_parts();
            let answer =
                StoreUnavailable::for_request(shared.config(), request.path(), request.method(), request.headers());
            // `DiscordAuth` looks for this first: the second pass does not reach the handler.
            request.extensions_mut().insert(Rc::clone(&replay));
            let flag = Rc::new(Cell::new(false));
            let written = STORE_FAILED
                .scope(Rc::clone(&flag), inner.call(ServiceRequest::from_request(request)))
                .await;
            match written {
                Err(_) if flag.get() => Err(answer.into()),
                Err(e) => Err(e),
                Ok(written) if replay.applied.get() => {
                    let (request, written) = written.into_parts();
                    for cookie in written.headers().get_all(SET_COOKIE) {
                        response.headers_mut().append(SET_COOKIE, cookie.clone());
                    }
                    Ok(ServiceResponse::new(request, response))
                }
                Ok(_) => {
                    tracing::error!(
                        "a session change on the fast path could not be written: is DiscordOAuth::middleware() \
                         wrapped directly inside the session middleware?"
                    );
                    Err(actix_web::error::ErrorInternalServerError("session not written"))
                }
            }
        })
    }
}

/// The answer to a request during a store failure: `503` with `Retry-After: 5`, as plain text
/// on the login routes (as `discord-oauth-tower` answers there), an HTML page for a browser
/// page load, JSON for API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreUnavailable {
    LoginRoute,
    Page,
    Api,
}

impl fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the session store failed")
    }
}

impl StoreUnavailable {
    /// The shape of the answer for this request.
    fn for_request(
        config: &discord_oauth_core::login::LoginConfig,
        path: &str,
        method: &actix_web::http::Method,
        headers: &actix_web::http::header::HeaderMap,
    ) -> Self {
        if config.route(path).is_some() {
            StoreUnavailable::LoginRoute
        } else if crate::extract::wants_html_parts(method, headers) {
            StoreUnavailable::Page
        } else {
            StoreUnavailable::Api
        }
    }

    pub(crate) fn answer(self) -> http::Response<String> {
        match self {
            StoreUnavailable::LoginRoute => answer::store_unavailable(),
            StoreUnavailable::Api => Refusal::StoreUnavailable.answer("/"),
            StoreUnavailable::Page => {
                let mut r = answer::html_page(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    UNAVAILABLE,
                    "/",
                );
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
                r
            }
        }
    }
}

impl actix_web::ResponseError for StoreUnavailable {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.answer())
    }
}

impl DiscordOAuth {
    /// actix-session's middleware with the cookie settings Discord login needs, over `store`
    /// (wrapped in a [`GuardedStore`]), answering `503` when the store fails:
    /// - `SameSite=Lax`: the cookie must come back on Discord's top-level redirect to the
    ///   callback (`Strict` would drop it and every login would fail);
    /// - `HttpOnly`, `Path=/`, no `Domain`;
    /// - `Secure` and the `__Host-` name prefix when the redirect URI is https
    ///   ([`discord_oauth_core::login::LoginConfig::secure_cookies`]);
    /// - the cookie and the stored session expire [`SESSION_TTL`] (7 days) after the last
    ///   change; an active session is marked changed about once a day by
    ///   [`crate::DiscordAuth`], so the TTL works as an idle timeout;
    /// - private (encrypted and authenticated) cookie content with `key`: at least 64 bytes of
    ///   key material, kept secret, the same on every instance.
    ///
    /// Add it *outside* [`DiscordOAuth::middleware`] (i.e. `.wrap()` it after).
    pub fn session_middleware<S: SessionStore>(&self, store: S, key: Key) -> DiscordSessions<S> {
        self.session_middleware_with(store, key, |builder| builder)
    }

    /// [`DiscordOAuth::session_middleware`] with a setting changed on actix-session's builder.
    ///
    /// # Security
    /// Every default there has a reason; in particular `SameSite=Strict` breaks every login
    /// (the cookie is not sent on Discord's redirect back to the callback).
    pub fn session_middleware_with<S: SessionStore>(
        &self,
        store: S,
        key: Key,
        customize: impl FnOnce(SessionMiddlewareBuilder<GuardedStore<S>>) -> SessionMiddlewareBuilder<GuardedStore<S>>,
    ) -> DiscordSessions<S> {
        let shared = &self.shared;
        let store = GuardedStore::new(store, shared.store_timeout());
        let secure = shared.config().secure_cookies();
        let name = if secure {
            "__Host-discord_oauth"
        } else {
            "discord_oauth"
        };
        let ttl = CookieDuration::try_from(shared.config().idle_timeout()).unwrap_or(CookieDuration::WEEK);
        let builder = SessionMiddleware::builder(store, key)
            .cookie_name(name.to_owned())
            .cookie_secure(secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .cookie_domain(None)
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(PersistentSession::default().session_ttl(ttl));
        DiscordSessions {
            middleware: customize(builder).build(),
            oauth: self.clone(),
        }
    }

    /// [`DiscordOAuth::session_middleware`] with actix-session's cookie store: the whole
    /// session (user and tokens) lives in one encrypted cookie, kept under 4 KiB (the user
    /// record is compact). Nothing to run server-side, and any number of instances sharing the
    /// key can read it; but a copied cookie cannot be deleted: after a logout, the instances
    /// that know of it (this one, and those that hear its revocation broadcast) refuse it
    /// until they restart, the others accept it until it expires. Use a server-side store
    /// ([`crate::MemoryStore`], Redis with feature `redis`) when that matters.
    ///
    /// # Security
    /// `key` encrypts the tokens in the cookie: at least 64 bytes of key material, kept
    /// secret, the same on every instance.
    #[cfg(feature = "cookie-session")]
    pub fn cookie_session(&self, key: Key) -> DiscordSessions<actix_session::storage::CookieSessionStore> {
        self.session_middleware(actix_session::storage::CookieSessionStore::default(), key)
    }
}

#[cfg(all(test, feature = "cookie-session"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use actix_session::storage::CookieSessionStore;

    use super::*;

    #[test]
    fn store_failures_answer_503_in_the_shape_the_client_reads() {
        for (kind, content_type) in [
            (StoreUnavailable::LoginRoute, "text/plain; charset=utf-8"),
            (StoreUnavailable::Page, "text/html; charset=utf-8"),
            (StoreUnavailable::Api, "application/json"),
        ] {
            let r = kind.answer();
            assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE, "{kind:?}");
            assert_eq!(r.headers()["retry-after"], "5", "{kind:?}");
            assert_eq!(r.headers()["content-type"], content_type, "{kind:?}");
            assert!(r.body().contains("try again"), "{kind:?}: {}", r.body());
        }
    }

    #[actix_web::test]
    async fn an_emptied_session_is_written_empty_for_a_second() {
        let store = GuardedStore::new(CookieSessionStore::default(), Duration::from_secs(1));
        let week = CookieDuration::WEEK;
        let full = HashMap::from([(discord_oauth_core::login::driver::AUTH_KEY.to_owned(), "{}".to_owned())]);
        let key = store.save(full, &week).await.unwrap();
        let key = store.update(key, HashMap::new(), &week).await.unwrap();
        assert_eq!(
            store.load(&key).await.unwrap(),
            Some(HashMap::new()),
            "the cookie no longer holds the login"
        );
    }

    #[actix_web::test]
    async fn failures_are_reported_only_inside_a_scope() {
        let flag = Rc::new(Cell::new(false));
        let seen = Arc::new(AtomicBool::new(false));
        STORE_FAILED
            .scope(Rc::clone(&flag), async {
                failed("load", &"boom");
                seen.store(true, Ordering::SeqCst);
            })
            .await;
        assert!(flag.get() && seen.load(Ordering::SeqCst));
        // Outside a scope (a GuardedStore used without DiscordSessions) nothing happens.
        failed("load", &"boom");
    }
}
