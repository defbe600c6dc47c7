//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request. Every decision is the core's [`Driver`]; this module converts tower
//! requests and `tower_sessions::Session` for it, and keeps the layer's cache.

use std::sync::Arc;
use std::task::{Context, Poll};

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::answer::{self, Refusal, Route};
use discord_oauth_core::login::driver::{Attached, RouteRequest};
use http::header::{COOKIE, HeaderValue, ORIGIN};
use http::{Request, Response};
use tower::Service;
use tower_sessions::Session;
use tower_sessions::session::Id;

use crate::extension::AuthState;
use crate::shared::{ResponseFuture, Shared, TowerSession, indexed, remember, single_cookie_header};

pub use discord_oauth_runtime::Clock;

/// The service produced by [`crate::DiscordOAuthLayer`].
///
/// It must run inside a `tower_sessions::SessionManagerLayer` (see
/// [`crate::session_layer`]); without one every request gets a 500 that says so.
#[derive(Clone, Debug)]
pub struct DiscordOAuthService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DiscordOAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = DiscordOAuthFuture<S::Future, Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Clone-and-swap so the ready service is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // No session cookie, off the login routes: anonymous, with nothing to read, refresh
        // or remember, and the application's future is polled in place (not boxed).
        let anonymous = req.extensions().get::<Session>().is_some_and(|s| s.id().is_none())
            && self.shared.config().route(req.uri().path()).is_none();
        if anonymous {
            let state = AuthState::new(Attached::Anonymous, Arc::clone(&self.shared.login_path), None);
            req.extensions_mut().insert(state);
            return DiscordOAuthFuture {
                state: FutureState::Inner {
                    future: inner.call(req),
                },
            };
        }
        let shared = Arc::clone(&self.shared);
        let future = Box::pin(async move {
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
                    Route::Login => login(&shared, &request, cookies),
                    // Boxed, like `attach` below: the callback's code exchange is a large
                    // future, and this one is moved into its box on every request.
                    route => Box::pin(shared.driver.answer(&shared.io, &io, route, &request, cookies)).await,
                };
                return Ok(response.map(ResBody::from));
            }
            let decided = match session.id() {
                // No session cookie: anonymous, with nothing to read or refresh.
                None => Ok(AuthState::new(
                    Attached::Anonymous,
                    Arc::clone(&shared.login_path),
                    None,
                )),
                Some(id) => {
                    let cookie = single_cookie_header(&req).cloned();
                    Box::pin(attach(&shared, &session, id, cookie.as_ref())).await
                }
            };
            match decided {
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
        });
        DiscordOAuthFuture {
            state: FutureState::Boxed { future },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`DiscordOAuthService`]: an anonymous request's is the
    /// application's, polled in place; the others' is boxed (session reads, refresh, the
    /// login routes).
    pub struct DiscordOAuthFuture<F, R, E> {
        #[pin]
        state: FutureState<F, R, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = FutureStateProj]
    enum FutureState<F, R, E> {
        Inner {
            #[pin]
            future: F,
        },
        Boxed {
            future: ResponseFuture<R, E>,
        },
    }
}

impl<F, R, E> std::fmt::Debug for DiscordOAuthFuture<F, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOAuthFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> std::future::Future for DiscordOAuthFuture<F, R, E>
where
    F: std::future::Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FutureStateProj::Inner { future } => future.poll(cx),
            FutureStateProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// `GET /auth/login`: the redirect to Discord, with the login in progress sealed in its own
/// cookie. It needs no session, so the fast path serves it without the session layer too.
pub(crate) fn login<'a>(
    shared: &Shared,
    request: &RouteRequest<'_>,
    cookies: impl IntoIterator<Item = &'a [u8]>,
) -> Response<String> {
    shared.driver.login(request, cookies, &mut rand::rng(), shared.now())
}

// ------------------------------------------------------------------ every other request

/// The driver's decision for this request, whose session cookie names `id` (the login
/// remembered for its `Cookie` header first), refreshing under the layer's refresh lock if
/// needed: what the inner service sees. A valid login is remembered for the header (for the
/// next request and the fast path). Errors are answers to send instead of calling the inner
/// service.
async fn attach(
    shared: &Arc<Shared>,
    session: &Session,
    id: Id,
    cookie: Option<&HeaderValue>,
) -> Result<AuthState, Response<String>> {
    let login_path = Arc::clone(&shared.login_path);
    // A logout or refresh that starts after this read bumps the epoch: what this request read
    // is then not remembered.
    let epoch = shared.index.epoch();
    let known = cookie
        .and_then(|c| indexed(&shared.index, c.as_bytes()))
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
        remember(&shared.index, cookie.as_bytes(), (id, session.expiry()), &auth, epoch);
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
