//! [`DiscordOAuthService`]: serves the login routes and attaches the authenticated session to
//! every other request. Every decision is the core's [`Driver`]; this module converts tower
//! requests and `tower_sessions::Session` for it, and keeps the layer's cache.

use std::sync::Arc;
use std::task::{Context, Poll};

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::answer::{self, Refusal, Route};
use discord_oauth_core::login::driver::{Attached, RouteRequest};
use http::header::{COOKIE, HeaderMap, HeaderValue, ORIGIN};
use http::{Request, Response};
use tower::Service;
use tower_sessions::Session;
use tower_sessions::session::Id;

use crate::extension::AuthState;
use crate::shared::{IndexEntry, ResponseFuture, Shared, TowerSession, remember, single_cookie_header};

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
        let shared = Arc::clone(&self.shared);
        let Some(session) = req.extensions().get::<Session>().cloned() else {
            let refusal = Refusal::Misconfigured {
                message: "DiscordOAuthLayer needs a tower_sessions::SessionManagerLayer added outside it (see \
                          discord_oauth_tower::session_layer)",
            };
            let answer = refusal.answer("/").map(ResBody::from);
            return DiscordOAuthFuture::boxed(async move { Ok(answer) });
        };
        if let Some(route) = shared.config().route(req.uri().path()) {
            return DiscordOAuthFuture::boxed(async move {
                let (parts, body) = req.into_parts();
                drop(body);
                let io = TowerSession {
                    session: &session,
                    shared: &shared,
                };
                let request = route_request(&parts.method, &parts.uri, &parts.headers);
                let cookies = cookies(&parts.headers);
                let response = match route {
                    Route::Login => login(&shared, &request, cookies),
                    // Boxed, like `attach` below: the callback's code exchange is a large
                    // future, and this one is moved into its box on every request.
                    route => Box::pin(shared.driver.answer(&shared.io, &io, route, &request, cookies)).await,
                };
                Ok(response.map(ResBody::from))
            });
        }
        let Some(id) = session.id() else {
            // No session cookie: anonymous, with nothing to read, refresh or remember; the
            // application's future is polled in place (not boxed).
            req.extensions_mut().insert(AuthState::anonymous(&shared));
            return DiscordOAuthFuture {
                state: FutureState::Inner {
                    future: inner.call(req),
                },
            };
        };
        DiscordOAuthFuture::boxed(async move {
            let cookie = single_cookie_header(&req).cloned();
            match Box::pin(attach(&shared, &session, id, cookie.as_ref())).await {
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

impl<F, R, E> DiscordOAuthFuture<F, R, E> {
    fn boxed(future: impl std::future::Future<Output = Result<R, E>> + Send + 'static) -> Self {
        Self {
            state: FutureState::Boxed {
                future: Box::pin(future),
            },
        }
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

/// What the core reads of a request for a login route.
pub(crate) fn route_request<'a>(
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
) -> RouteRequest<'a> {
    RouteRequest {
        method: method.as_str(),
        query: uri.query().unwrap_or(""),
        origin: headers.get(ORIGIN).map(HeaderValue::as_bytes),
    }
}

/// The request's `Cookie` header values.
pub(crate) fn cookies(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes)
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
        .and_then(|c| shared.index.get(c.as_bytes(), || shared.now()))
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
        let entry = IndexEntry {
            id,
            expiry: session.expiry(),
            auth: Arc::clone(&auth),
        };
        remember(
            &shared.index,
            cookie.as_bytes(),
            entry,
            epoch,
            shared.now(),
            shared.config(),
        );
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
