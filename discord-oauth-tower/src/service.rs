//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request. Every decision is the core's [`Driver`]; this module converts tower
//! requests and `tower_sessions::Session` for it, and keeps the layer's cache.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::login::answer::{self, Refusal, Route};
use discord_oauth_core::login::driver::{Attached, Driver, RouteRequest, SessionIo};
use discord_oauth_core::login::revocation::Revocation;
use discord_oauth_core::login::{AuthSession, LoginConfig};
use discord_oauth_runtime::Io;
use http::header::{COOKIE, HeaderValue, ORIGIN};
use http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::Service;
use tower_sessions::Session;
use tower_sessions::session::Id;
use tracing::Instrument as _;

use crate::cache::{AuthCache, CachedSession};
use crate::extension::AuthState;
use crate::fast::{CookieIndex, single_cookie_header};
use crate::lock::RefreshLock;
use crate::transport::Transport;

pub use discord_oauth_runtime::Clock;

/// State shared by every clone of the layer and service.
pub(crate) struct Shared<T> {
    /// Every decision about a login.
    pub(crate) driver: Driver,
    /// Transport, timeout, bound on requests in flight, clock.
    pub(crate) io: Io,
    pub(crate) cache: AuthCache,
    pub(crate) refresh_lock: Arc<dyn RefreshLock>,
    /// The login route's path, shared by every request's [`AuthState`].
    pub(crate) login_path: Arc<str>,
    /// `Cookie` header → session id, for the fast path ([`crate::fast`]).
    pub(crate) index: CookieIndex,
    /// Whether a fast path serves this layer's sessions (then the index is kept).
    pub(crate) fast_path: AtomicBool,
    transport: PhantomData<fn() -> T>,
}

impl<T> Shared<T> {
    pub(crate) fn new(
        driver: Driver,
        io: Io,
        cache: AuthCache,
        refresh_lock: Arc<dyn RefreshLock>,
        index: CookieIndex,
    ) -> Self {
        Self {
            index,
            fast_path: AtomicBool::new(false),
            login_path: Arc::from(driver.config().routes().login.as_str()),
            driver,
            io,
            cache,
            refresh_lock,
            transport: PhantomData,
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.io.now()
    }

    pub(crate) fn config(&self) -> &LoginConfig {
        self.driver.config()
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
        self.driver.apply_revocation(revocation, self.now(), monotonic_now());
        self.cache.remove_matching(&revocation);
    }

    /// [`Shared::apply_revocation`], then tells the other instances.
    pub(crate) async fn revoke(&self, revocation: Revocation) {
        self.apply_revocation(revocation);
        self.driver.announce(revocation, self.now()).await;
    }

    /// How long a refresh may hold its session's lock ([`Driver::refresh_lease`]).
    pub(crate) fn refresh_lease(&self) -> Duration {
        Driver::refresh_lease(self.io.timeout())
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", self.config())
            .field("io", &self.io)
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
                let refusal = Refusal::Misconfigured {
                    message: "DiscordOAuthLayer needs a tower_sessions::SessionManagerLayer added outside it (see \
                              discord_oauth_tower::session_layer)",
                };
                return Ok(refusal.answer("/").map(ResBody::from));
            };
            if let Some(route) = shared.config().route(req.uri().path()) {
                let (parts, body) = req.into_parts();
                drop(body);
                let io = TowerSession {
                    session: &session,
                    shared: &shared,
                };
                let request = RouteRequest {
                    method: parts.method.as_str(),
                    query: parts.uri.query().unwrap_or(""),
                    origin: parts.headers.get(ORIGIN).map(HeaderValue::as_bytes),
                };
                let cookies = parts.headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes);
                let response = match route {
                    Route::Login => shared.driver.login(&request, cookies, &mut rand::rng(), shared.now()),
                    route => shared.driver.answer(&shared.io, &io, route, &request, cookies).await,
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

// ------------------------------------------------------------------ IO for the driver

/// A `tower_sessions::Session` for the driver, with this layer's cache (also used by
/// [`crate::user_api`]'s refresh after a `401`).
pub(crate) struct TowerSession<'a, T> {
    pub(crate) session: &'a Session,
    pub(crate) shared: &'a Shared<T>,
}

impl<T> SessionIo for TowerSession<'_, T> {
    type Error = tower_sessions::session::Error;

    async fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, Self::Error> {
        self.session.get(key).await
    }

    async fn insert<V: Serialize + Sync>(&self, key: &str, value: &V) -> Result<(), Self::Error> {
        self.session.insert(key, value).await
    }

    async fn cycle_id(&self) -> Result<(), Self::Error> {
        self.session.cycle_id().await
    }

    async fn purge(&self) -> Result<(), Self::Error> {
        self.session.flush().await
    }

    async fn save(&self) -> Result<(), Self::Error> {
        self.session.save().await
    }

    async fn reload(&self) -> Result<bool, Self::Error> {
        self.session.load().await.map(|()| true)
    }

    fn forget(&self, revocation: Option<&Revocation>) {
        if let Some(id) = self.session.id() {
            self.shared.cache.remove(&id);
        }
        if let Some(revocation) = revocation {
            self.shared.cache.remove_matching(revocation);
        }
    }
}

// ------------------------------------------------------------------ every other request

/// The driver's decision for this request (cache first), refreshing under the layer's refresh
/// lock if needed: what the inner service sees, with the cache entry of the login it is served
/// with, if the login is valid and cached (for the cookie index). Errors are answers to send
/// instead of calling the inner service.
async fn attach<T: Transport>(
    shared: &Arc<Shared<T>>,
    session: &Session,
) -> Result<(AuthState, Option<Arc<CachedSession>>), Response<String>> {
    let login_path = Arc::clone(&shared.login_path);
    let Some(id) = session.id() else {
        return Ok((AuthState::new(Attached::Anonymous, login_path, None), None));
    };
    // A logout or refresh that starts after this read bumps the epoch: what this request read
    // is then not cached.
    let epoch = shared.cache.epoch();
    let cached = shared.cache.entry(&id);
    let io = TowerSession { session, shared };
    let decided = shared
        .driver
        .attach(&shared.io, &io, cached.as_ref().map(|e| Arc::clone(&e.auth)))
        .await?;
    let auth = match decided {
        decided @ (Attached::Anonymous | Attached::Unavailable) => {
            return Ok((AuthState::new(decided, login_path, None), None));
        }
        Attached::Authenticated(auth) => auth,
        Attached::NeedsRefresh(stale) => match refresh(shared, session, id, stale).await? {
            Some(fresh) => fresh,
            None => return Ok((AuthState::new(Attached::Anonymous, login_path, None), None)),
        },
    };
    let cached = match cached {
        Some(e) if Arc::ptr_eq(&e.auth, &auth) => Some(e),
        _ => shared.cache.insert(id, Arc::clone(&auth), epoch),
    };
    let state = AuthState::new(Attached::Authenticated(auth), login_path, Some(shared.user_api()));
    Ok((state, cached))
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
                    Err(e) => {
                        tracing::error!(error = %e, "refresh lock failed");
                        return Err(answer::store_unavailable());
                    }
                };
                let io = TowerSession {
                    session: &session,
                    shared: &shared,
                };
                let result = Box::pin(shared.driver.refresh_locked(&shared.io, &io, stale, None)).await;
                guard.release().await;
                result.map(|refreshed| refreshed.session)
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

/// The monotonic clock of the cache and the ended-logins list.
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use discord_oauth_core::login::flow::MAX_INLINE_RETRY_WAIT;

    use super::*;
    use crate::lock::LocalRefreshLock;

    #[derive(Clone)]
    struct NoTransport;

    impl tower::Service<http::Request<Vec<u8>>> for NoTransport {
        type Response = http::Response<Vec<u8>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _req: http::Request<Vec<u8>>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(Vec::new())))
        }
    }

    #[test]
    fn f07_the_refresh_lease_outlasts_the_longest_refresh() {
        let config = LoginConfig::builder("1", "https://a.example/auth/callback")
            .build()
            .unwrap();
        for secs in [1, 5, 10, 60, 600] {
            let timeout = Duration::from_secs(secs);
            let shared: Shared<()> = Shared::new(
                Driver::new(
                    config.clone(),
                    discord_oauth_core::api::client::ApiDriverConfig::default(),
                ),
                Io::new(NoTransport, timeout, discord_oauth_runtime::Outbound::new(1)),
                AuthCache::new(Duration::ZERO, 0),
                Arc::new(LocalRefreshLock::new()),
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
