//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request. Every decision is the core's [`Driver`]; this module converts tower
//! requests and `tower_sessions::Session` for it, and keeps the layer's cache.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
use tracing::Instrument as _;

use crate::extension::AuthState;
use crate::fast::{CookieIndex, single_cookie_header};
use crate::lock::RefreshLocks;

pub use discord_oauth_runtime::Clock;

/// State shared by every clone of the layer and service.
pub(crate) struct Shared {
    /// Every decision about a login.
    pub(crate) driver: Driver,
    /// Transport, timeout, bound on requests in flight, clock.
    pub(crate) io: Io,
    /// Refreshes single-flight (across instances with a shared lock).
    pub(crate) refresh: RefreshLocks,
    /// The login route's path, shared by every request's [`AuthState`].
    pub(crate) login_path: Arc<str>,
    /// The cache of authenticated sessions, by `Cookie` header ([`crate::fast`]).
    pub(crate) index: CookieIndex,
    /// The bound on one session store operation.
    store_timeout: Duration,
}

impl Shared {
    pub(crate) fn new(
        driver: Driver,
        io: Io,
        refresh: RefreshLocks,
        index: CookieIndex,
        store_timeout: Duration,
    ) -> Self {
        Self {
            index,
            login_path: Arc::from(driver.config().routes().login.as_str()),
            driver,
            io,
            refresh,
            store_timeout,
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.io.now()
    }

    pub(crate) fn config(&self) -> &LoginConfig {
        self.driver.config()
    }
}

impl Shared {
    /// Ends the logins `revocation` names on this instance: remembered as ended, and gone
    /// from the cache (and so from the fast path) at once.
    pub(crate) fn apply_revocation(&self, revocation: Revocation) {
        self.driver.apply_revocation(revocation, self.now(), monotonic_now());
        self.index.retain(|e| !revocation.matches(&e.auth));
    }

    /// [`Shared::apply_revocation`], then tells the other instances.
    pub(crate) async fn revoke(&self, revocation: Revocation) {
        self.apply_revocation(revocation);
        self.driver.announce(revocation, self.now()).await;
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", self.config())
            .field("io", &self.io)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

/// The service produced by [`crate::DiscordOAuthLayer`].
///
/// It must run inside a `tower_sessions::SessionManagerLayer` (see
/// [`crate::session_layer`]); without one every request gets a 500 that says so.
#[derive(Clone, Debug)]
pub struct DiscordOAuthService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// The response future of [`DiscordOAuthService`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DiscordOAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
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
            let cookie = single_cookie_header(&req).cloned();
            match attach(&shared, &session, cookie.as_ref()).await {
                Ok(state) => {
                    let authenticated = state.session().is_some();
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

/// A `tower_sessions::Session` for the driver, with this layer's cache.
struct TowerSession<'a> {
    session: &'a Session,
    shared: &'a Shared,
}

/// A session store that failed, or did not answer within the store timeout.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(transparent)]
    Store(#[from] tower_sessions::session::Error),
    #[error("the session store did not answer within {0:?}")]
    Timeout(Duration),
}

impl TowerSession<'_> {
    async fn bounded<V>(
        &self,
        op: impl Future<Output = Result<V, tower_sessions::session::Error>>,
    ) -> Result<V, StoreError> {
        let timeout = self.shared.store_timeout;
        Ok(tokio::time::timeout(timeout, op)
            .await
            .map_err(|_| StoreError::Timeout(timeout))??)
    }
}

impl SessionIo for TowerSession<'_> {
    type Error = StoreError;

    async fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, Self::Error> {
        self.bounded(self.session.get(key)).await
    }

    async fn insert<V: Serialize + Sync>(&self, key: &str, value: &V) -> Result<(), Self::Error> {
        self.bounded(self.session.insert(key, value)).await
    }

    async fn cycle_id(&self) -> Result<(), Self::Error> {
        self.bounded(self.session.cycle_id()).await
    }

    async fn purge(&self) -> Result<(), Self::Error> {
        self.bounded(self.session.flush()).await
    }

    async fn save(&self) -> Result<(), Self::Error> {
        self.bounded(self.session.save()).await
    }

    async fn reload(&self) -> Result<bool, Self::Error> {
        self.bounded(self.session.load()).await.map(|()| true)
    }

    fn forget(&self, revocation: Option<&Revocation>) {
        if let Some(id) = self.session.id() {
            self.shared.index.remove_owner(&id);
        }
        if let Some(revocation) = revocation {
            self.shared.index.retain(|e| !revocation.matches(&e.auth));
        }
    }
}

// ------------------------------------------------------------------ every other request

/// The driver's decision for this request (the login remembered for its `Cookie` header
/// first), refreshing under the layer's refresh lock if needed: what the inner service sees.
/// A valid login is remembered for the header (for the next request and the fast path).
/// Errors are answers to send instead of calling the inner service.
async fn attach(
    shared: &Arc<Shared>,
    session: &Session,
    cookie: Option<&HeaderValue>,
) -> Result<AuthState, Response<String>> {
    let login_path = Arc::clone(&shared.login_path);
    let Some(id) = session.id() else {
        return Ok(AuthState::new(Attached::Anonymous, login_path, None));
    };
    // A logout or refresh that starts after this read bumps the epoch: what this request read
    // is then not remembered.
    let epoch = shared.index.epoch();
    let known = cookie
        .and_then(|c| crate::fast::indexed(&shared.index, c.as_bytes()))
        .filter(|e| e.id == id)
        .map(|e| e.auth);
    let io = TowerSession { session, shared };
    let auth = match shared.driver.attach(&shared.io, &io, known.clone()).await? {
        decided @ (Attached::Anonymous | Attached::Unavailable) => {
            return Ok(AuthState::new(decided, login_path, None));
        }
        Attached::Authenticated(auth) => auth,
        Attached::NeedsRefresh(stale) => match refresh(shared, session, stale).await? {
            Some(fresh) => fresh,
            None => return Ok(AuthState::new(Attached::Anonymous, login_path, None)),
        },
    };
    // Served from the index already: nothing to remember.
    let remembered = known.is_some_and(|k| Arc::ptr_eq(&k, &auth));
    if let (Some(cookie), false) = (cookie, remembered) {
        crate::fast::remember(&shared.index, cookie.as_bytes(), (id, session.expiry()), &auth, epoch);
    }
    Ok(AuthState::new(Attached::Authenticated(auth), login_path, Some(shared)))
}

/// Refreshes the session's tokens with the runtime's strategy
/// ([`RefreshLocks`]): concurrent requests (on this instance, and on others if the lock spans
/// instances) wait for the first one and use its outcome (refresh tokens are single use, F-05).
async fn refresh(
    shared: &Arc<Shared>,
    session: &Session,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, Response<String>> {
    let refreshed = Arc::clone(shared).refresh_in_task(session.clone(), stale, None).await;
    refreshed.unwrap_or_else(|| {
        Err(answer::unavailable(
            "Service Unavailable: your login could not be refreshed; try again shortly.",
            5,
        ))
    })
}

impl Shared {
    /// [`RefreshLocks::refresh`] for `session` (after a `401` to `rejected`, if given), in
    /// its own task, so that a request cancelled half-way still stores the rotated refresh
    /// token Discord handed out. `None`: the task failed (logged).
    pub(crate) async fn refresh_in_task(
        self: Arc<Self>,
        session: Session,
        stale: Arc<AuthSession>,
        rejected: Option<discord_oauth_core::AccessToken>,
    ) -> Option<Result<Option<Arc<AuthSession>>, Response<String>>> {
        let task = async move {
            let io = TowerSession {
                session: &session,
                shared: &self,
            };
            let refreshing = self
                .refresh
                .refresh(&self.driver, &self.io, &io, stale, rejected.as_ref());
            Box::pin(refreshing).await
        };
        match tokio::spawn(task.in_current_span()).await {
            Ok(result) => Some(result),
            Err(e) => {
                tracing::error!(error = %e, "the token refresh task failed");
                None
            }
        }
    }
}

/// The monotonic clock of the cache and the ended-logins list.
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}
