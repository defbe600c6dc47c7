//! The authenticated fast path: requests of a logged-in user whose session is in the layer's
//! cache skip the session layer (cookie parsing and decryption, session bookkeeping) entirely.
//!
//! How it stays correct:
//! - The key is the request's whole `Cookie` header, byte for byte, recorded by the layer on a
//!   request that went through the session layer and was authenticated there. The same header
//!   carries the same session cookie, so it names the same session: nothing is decoded or
//!   trusted that the session layer did not check first. A request with another header (or
//!   several `Cookie` fields, or a header over 4 KiB) takes the normal path.
//! - The index is the layer's one cache of authenticated sessions (the normal path reads it
//!   before the store too), on the core's `FastIndex`: everything that ends or replaces a
//!   session — logout, refresh, the session's end, a revocation — removes its headers at once,
//!   and an epoch keeps a request that read the store before such a removal from putting the
//!   login back. One lookup (the header) serves a request.
//! - Only sessions that are valid *now* are served here; one that needs a refresh or has
//!   ended takes the normal path, where refresh is single flight. The entry keeps when its
//!   login stops being valid ([`discord_oauth_core::login::LoginConfig::valid_until`]), so
//!   the check is one reading of the layer's clock, for the TTL and the login together.
//! - Handlers still get a `tower_sessions::Session` for the same id and store, loaded lazily
//!   on first use. If a handler changes it, the change is saved to the store after the
//!   handler returns and the cached session is dropped. The one thing the fast path cannot do
//!   is send a new cookie: a handler that calls `Session::cycle_id` or `Session::flush` on
//!   such a request gets its store change, but the browser keeps the old cookie (for `flush`
//!   that is harmless: it names nothing; for `cycle_id` the user is logged out). This is
//!   logged as an error; turn the fast path off if your handlers do that on authenticated
//!   requests.
//! - The index is bounded like the cache (same TTL and capacity), in bytes
//!   ([`DEFAULT_INDEX_BYTES`]) and per session ([`MAX_HEADERS_PER_SESSION`] headers): one login
//!   cannot pin more than a few headers, and entries of dead sessions are swept long before
//!   the index fills. It hashes the header with
//!   `foldhash` (randomly seeded per process): a few times faster than the standard SipHash
//!   over a whole `Cookie` header, and only headers the session layer authenticated get in.
//! - `GET /auth/login` is answered here too, without the session layer: the login in
//!   progress lives in its own sealed cookie, so the redirect needs no session (the same
//!   answer as through the session layer, from the same core call).
//! - **Anonymous visitors** — a request that carries no cookie of the session cookie's name
//!   ([`crate::session_cookie_name`]), off the login routes — skip the session layer too
//!   when the fast path is built by [`FastPathLayer`] (which `discord_oauth_axum`'s `mount`
//!   uses): the handler gets an anonymous [`AuthState`] and an empty `tower_sessions::Session`
//!   with no id. If the handler puts something in it (and does not answer `5xx`), it is saved
//!   through the application's own session layer after the handler returns, and that
//!   layer's `Set-Cookie` (its name, attributes, signing or encryption) goes onto the answer;
//!   a store failure there answers `503` ([`SessionCopy`]). A handler
//!   that leaves the session alone costs no store access and sends no cookie, as through the
//!   session layer. So that a logged-in visitor is never taken for an anonymous one, the
//!   session layer must keep the cookie name [`crate::session_layer`] gives it (do not
//!   `with_name` it in `mount_with`).
//! - **`tower_cookies::Cookies` is not in the extensions** of a request served here (the
//!   fast path and the anonymous one skip tower-cookies): a handler that extracts it needs
//!   its own `CookieManagerLayer` around the whole router.
//! - A fast request is not boxed ([`FastPathFuture`] polls the application's future in
//!   place) and costs one clock reading (the layer's clock: the cache's TTL and the login's
//!   expiry are both read on it; see `discord_oauth_core::fast_index` for clock steps).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::convert::Infallible;

use discord_oauth_core::fast_index::{cookie_key, names_cookie};
use discord_oauth_core::login::answer;
use discord_oauth_core::login::answer::Route;
use discord_oauth_core::login::driver::Attached;
use http::header::{CACHE_CONTROL, COOKIE, Entry, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use tower::{Service, ServiceExt as _};
use tower_sessions::session::Id;
use tower_sessions::{Expiry, Session, SessionStore};

pub use crate::anonymous::SessionCopy;
use crate::anonymous::{Anonymous, Capture};
use crate::extension::AuthState;
use crate::service;
use crate::shared::{IndexEntry, ResponseFuture, Shared};

/// How long a login seen with a `Cookie` header is served for that header without the
/// session store (default 30 s): also the bound on how late a logout or refresh on *another*
/// instance (without a revocation broadcast) is seen here. Zero reads the store every time.
pub const DEFAULT_CACHE_TTL: Duration = discord_oauth_runtime::builder::DEFAULT_CACHE_TTL;
/// How many `Cookie` headers are remembered at most (default 100 000).
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// Most `Cookie` headers the fast path keeps per session: a client that varies its header on
/// every request (a padding cookie) replaces its own entries instead of growing the index.
pub const MAX_HEADERS_PER_SESSION: usize = discord_oauth_core::fast_index::MAX_HEADERS_PER_OWNER;

/// Most bytes of `Cookie` headers the index holds, all sessions together: 16 MiB by default
/// (with the default 100,000-session capacity), or 256 bytes per session of the cache's
/// capacity if that is more.
pub const DEFAULT_INDEX_BYTES: usize = discord_oauth_core::fast_index::DEFAULT_INDEX_BYTES;

/// The service built by [`crate::DiscordOAuthLayer::fast_path`]: serves cached authenticated
/// sessions straight to `fast` (the application without the session and login layers) and
/// everything else to `slow` (the application with them).
pub struct FastPath<F, S, St> {
    fast: F,
    /// Behind one `Arc`: axum clones a route's service for every request, and this way that
    /// costs one reference count, not three. `slow` is cloned only for a request that takes
    /// it.
    inner: Arc<Inner<S, St>>,
}

struct Inner<S, St> {
    slow: S,
    store: Arc<St>,
    shared: Arc<Shared>,
    /// The anonymous path, when built by [`FastPathLayer`] (which has the session layer).
    anonymous: Option<Arc<Anonymous>>,
}

impl<F: Clone, S, St> Clone for FastPath<F, S, St> {
    fn clone(&self) -> Self {
        Self {
            fast: self.fast.clone(),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F, S, St> fmt::Debug for FastPath<F, S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastPath").finish_non_exhaustive()
    }
}

impl<F, S, St> FastPath<F, S, St> {
    pub(crate) fn new(fast: F, slow: S, store: St, shared: Arc<Shared>, anonymous: Option<Arc<Anonymous>>) -> Self {
        Self {
            fast,
            inner: Arc::new(Inner {
                slow,
                store: Arc::new(store),
                shared,
                anonymous,
            }),
        }
    }

    /// Where this request goes: the login redirect (no session needed), the anonymous path
    /// (no session cookie), the fast path (a cached, currently valid session named by its
    /// cookies), or the session layer.
    fn lookup<B>(&self, req: &Request<B>) -> Lookup {
        let shared = &self.inner.shared;
        match shared.config().route(req.uri().path()) {
            Some(Route::Login) => return Lookup::Login,
            Some(_) => return Lookup::Slow,
            None => {}
        }
        // One lookup of the `Cookie` fields, for the index and the anonymous test.
        let cookies = req.headers().get_all(COOKIE);
        // The layer's clock, read once for a remembered header: the cache's TTL and the
        // login's validity were kept with the entry (`LoginConfig::valid_until`).
        let Some(IndexEntry { id, expiry, auth }) = cookie_key(cookies.iter().map(HeaderValue::as_bytes))
            .and_then(|cookie| shared.index.get(cookie, || shared.now()))
        else {
            return match &self.inner.anonymous {
                Some(anonymous)
                    if !names_cookie(
                        cookies.iter().map(HeaderValue::as_bytes),
                        shared.config().session_cookie_name(),
                    ) =>
                {
                    Lookup::Anonymous(Arc::clone(anonymous))
                }
                _ => Lookup::Slow,
            };
        };
        Lookup::Fast(
            id,
            expiry,
            AuthState::new(
                Attached::Authenticated(auth),
                Arc::clone(&shared.login_path),
                Some(shared),
            ),
        )
    }
}

enum Lookup {
    Login,
    Anonymous(Arc<Anonymous>),
    Fast(Id, Option<Expiry>, AuthState),
    Slow,
}

impl<F, S, St, B, RB> Service<Request<B>> for FastPath<F, S, St>
where
    F: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    F::Future: Send + 'static,
    S: Service<Request<B>, Response = Response<RB>, Error = F::Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
    St: SessionStore,
    B: Send + 'static,
    RB: From<String> + Send + 'static,
{
    type Response = Response<RB>;
    type Error = F::Error;
    type Future = FastPathFuture<F::Future, Response<RB>, F::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The slow side is polled when a request takes it (`oneshot`).
        self.fast.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (id, expiry, state) = match self.lookup(&req) {
            Lookup::Fast(id, expiry, state) => (id, expiry, state),
            Lookup::Login => {
                let request = service::route_request(req.method(), req.uri(), req.headers());
                let response = service::login(&self.inner.shared, &request, service::cookies(req.headers()));
                return FastPathFuture {
                    state: State::Ready {
                        response: Some(response.map(RB::from)),
                    },
                };
            }
            Lookup::Anonymous(anonymous) => {
                let (session, capture) = anonymous.session();
                req.extensions_mut().insert(AuthState::anonymous(&self.inner.shared));
                req.extensions_mut().insert(session.clone());
                return FastPathFuture {
                    state: State::Anonymous {
                        call: self.fast.call(req),
                        session,
                        capture,
                        anonymous,
                    },
                };
            }
            Lookup::Slow => {
                let slow = S::clone(&self.inner.slow);
                return FastPathFuture {
                    state: State::Slow {
                        future: Box::pin(slow.oneshot(req)),
                        shared: Arc::clone(&self.inner.shared),
                    },
                };
            }
        };
        let session = Session::new(Some(id), Arc::clone(&self.inner.store), expiry);
        req.extensions_mut().insert(state);
        req.extensions_mut().insert(session.clone());
        // `fast` was polled ready (`poll_ready`), and its future owns what it needs.
        FastPathFuture {
            state: State::Fast {
                call: self.fast.call(req),
                session,
                id,
                shared: Arc::clone(&self.inner.shared),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`FastPath`]. A request on the fast path is not boxed: its
    /// future is the application's, polled in place.
    pub struct FastPathFuture<Fut, R, E> {
        #[pin]
        state: State<Fut, R, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<Fut, R, E> {
        Fast {
            #[pin]
            call: Fut,
            session: Session,
            id: Id,
            shared: Arc<Shared>,
        },
        // An anonymous visitor's request, without the session layer (`crate::anonymous`).
        Anonymous {
            #[pin]
            call: Fut,
            session: Session,
            capture: Arc<Capture>,
            anonymous: Arc<Anonymous>,
        },
        // The normal path (through the session layer, whose cookie removal is hardened when
        // it completes) and saving a session a handler changed on the fast path: both rare
        // on a busy site's authenticated traffic, and large.
        Slow { future: ResponseFuture<R, E>, shared: Arc<Shared> },
        Other { future: ResponseFuture<R, E> },
        // An answer ready when the request came (the login redirect); `None` once taken.
        Ready { response: Option<R> },
    }
}

impl<Fut, R, E> fmt::Debug for FastPathFuture<Fut, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastPathFuture").finish_non_exhaustive()
    }
}

impl<Fut, RB, E> Future for FastPathFuture<Fut, Response<RB>, E>
where
    Fut: Future<Output = Result<Response<RB>, E>>,
    RB: From<String> + Send + 'static,
    E: 'static,
{
    type Output = Result<Response<RB>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, save) = match self.as_mut().project().state.project() {
            StateProj::Other { future } => return future.as_mut().poll(cx),
            StateProj::Slow { future, shared } => {
                let mut response = ready!(future.as_mut().poll(cx))?;
                harden_removal(&mut response, shared);
                return Poll::Ready(Ok(response));
            }
            // Polled again after it completed: a contract violation; never completes again.
            StateProj::Ready { response } => return response.take().map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            StateProj::Anonymous {
                call,
                session,
                capture,
                anonymous,
            } => {
                let mut response = ready!(call.poll(cx))?;
                // Saved as the session layer saves: changed, and not a server error.
                if !session.is_modified() || response.status().is_server_error() {
                    return Poll::Ready(Ok(response));
                }
                let (session, capture, anonymous) = (session.clone(), Arc::clone(capture), Arc::clone(anonymous));
                let future: ResponseFuture<Response<RB>, E> = Box::pin(async move {
                    match anonymous.save(&session, &capture).await {
                        Ok(cookies) => {
                            for cookie in cookies {
                                response.headers_mut().append(SET_COOKIE, cookie);
                            }
                            Ok(response)
                        }
                        Err(()) => Ok(answer::store_unavailable().map(RB::from)),
                    }
                });
                self.as_mut().project().state.set(State::Other { future });
                return self.poll(cx);
            }
            StateProj::Fast {
                call,
                session,
                id,
                shared,
            } => {
                let response = ready!(call.poll(cx))?;
                // A handler changed the session: save it as the session layer would (boxed:
                // the store's futures can be large, and this is rare).
                let save = session
                    .is_modified()
                    .then(|| (Arc::clone(shared), session.clone(), *id));
                (response, save)
            }
        };
        if let Entry::Vacant(v) = response.headers_mut().entry(CACHE_CONTROL) {
            v.insert(HeaderValue::from_static("private, no-store"));
        }
        let Some((shared, session, id)) = save else {
            return Poll::Ready(Ok(response));
        };
        let future: ResponseFuture<Response<RB>, E> = Box::pin(async move {
            if save_changes(&shared, &session, id).await {
                Ok(response)
            } else {
                Ok(answer::store_unavailable().map(RB::from))
            }
        });
        self.as_mut().project().state.set(State::Other { future });
        self.poll(cx)
    }
}

/// tower-sessions deletes the session cookie with a bare `Set-Cookie` (name, `Path`,
/// `Max-Age=0`); send the removal with the cookie's own attributes instead, as every
/// framework does ([`discord_oauth_core::login::LoginConfig::session_cookie_removal`]).
fn harden_removal<RB>(response: &mut Response<RB>, shared: &Shared) {
    let name = shared.config().session_cookie_name();
    let removal = |v: &HeaderValue| {
        let text = v.to_str().unwrap_or("");
        text.strip_prefix(name).is_some_and(|rest| rest.starts_with('='))
            && text.to_ascii_lowercase().contains("max-age=0")
    };
    if response.headers().get_all(SET_COOKIE).iter().any(removal) {
        let kept: Vec<HeaderValue> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter(|v| !removal(v))
            .cloned()
            .collect();
        let headers = response.headers_mut();
        headers.remove(SET_COOKIE);
        for v in kept {
            headers.append(SET_COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&shared.config().session_cookie_removal()) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// Saves a session a handler changed on the fast path, as the session layer would, and lets
/// the next request read the store again. `false` if the store failed.
async fn save_changes(shared: &Shared, session: &Session, id: Id) -> bool {
    shared.index.remove_owner(&id);
    if session.id() != Some(id) && !session.is_empty().await {
        tracing::error!(
            "a handler changed the session id on a request served by the authenticated fast \
             path; the new cookie cannot be sent from here (see discord_oauth_tower::fast)"
        );
    }
    if !session.is_empty().await
        && let Err(e) = session.save().await
    {
        tracing::error!(error = %e, "session store failed");
        return false;
    }
    true
}

/// A [`tower::Layer`] that puts a [`FastPath`] around every service it wraps: the service
/// itself is the fast side, and `sessions` around [`crate::DiscordOAuthLayer`] around it the
/// normal side. Made for `axum::Router::layer`, which wraps each route (and the fallback)
/// after routing, so a request is routed once whichever side serves it; or to wrap a whole
/// router once (fewer boxed calls per request: `discord_oauth_axum::DiscordOAuth::wrap`).
/// Built by [`crate::DiscordOAuthLayer::fast_path_layer`].
#[derive(Clone)]
pub struct FastPathLayer<L, St> {
    oauth: crate::DiscordOAuthLayer,
    sessions: L,
    store: St,
}

impl<L, St> fmt::Debug for FastPathLayer<L, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastPathLayer").finish_non_exhaustive()
    }
}

impl<L, St> FastPathLayer<L, St> {
    pub(crate) fn new(oauth: crate::DiscordOAuthLayer, sessions: L, store: St) -> Self {
        Self { oauth, sessions, store }
    }
}

impl<R, L, St> tower::Layer<R> for FastPathLayer<L, St>
where
    R: Clone,
    L: tower::Layer<crate::DiscordOAuthService<R>> + tower::Layer<SessionCopy>,
    <L as tower::Layer<SessionCopy>>::Service:
        Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone + Send + Sync + 'static,
    <<L as tower::Layer<SessionCopy>>::Service as Service<Request<()>>>::Future: Send + 'static,
    St: Clone,
{
    type Service = FastPath<R, <L as tower::Layer<crate::DiscordOAuthService<R>>>::Service, St>;

    fn layer(&self, inner: R) -> Self::Service {
        let slow = self.sessions.layer(tower::Layer::layer(&self.oauth, inner.clone()));
        let expiry = crate::shared::session_expiry(self.oauth.config());
        let anonymous = Anonymous::new(self.sessions.layer(SessionCopy), Some(expiry));
        FastPath::new(
            inner,
            slow,
            self.store.clone(),
            self.oauth.shared(),
            Some(Arc::new(anonymous)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{CookieIndex, remember, single_cookie_header};
    use discord_oauth_core::login::{AuthSession, LoginConfig};
    use http::header::COOKIE;

    use std::time::{Duration, SystemTime};

    fn login(n: u64, at: SystemTime) -> Arc<AuthSession> {
        let user = serde_json::from_value(serde_json::json!({"id": n.to_string(), "username": "u"})).unwrap();
        Arc::new(AuthSession {
            user,
            tokens: None,
            authenticated_at: at,
            login_id: 0,
        })
    }

    #[test]
    fn a_header_serves_its_login_until_the_session_is_forgotten() {
        let index = CookieIndex::new(Duration::from_secs(60), 10);
        let config = LoginConfig::builder("1", "https://a.example/auth/callback")
            .build()
            .unwrap();
        let now = SystemTime::now();
        let (id, auth) = (Id::default(), login(1, now));
        let entry = || IndexEntry {
            id,
            expiry: None,
            auth: Arc::clone(&auth),
        };
        let at = |t: SystemTime| move || t;
        remember(&index, b"s=1", entry(), index.epoch(), now, &config);
        remember(&index, b"s=1; pad=2", entry(), index.epoch(), now, &config);
        assert!(Arc::ptr_eq(&index.get(b"s=1", at(now)).unwrap().auth, &auth));
        assert!(index.get(b"s=1 ", at(now)).is_none(), "the key is the exact header");
        assert!(
            index.get(b"s=1", at(now + Duration::from_secs(61))).is_none(),
            "the TTL"
        );
        let before = index.epoch();
        index.remove_owner(&id); // logout, refresh, the session's end
        assert!(index.get(b"s=1", at(now)).is_none() && index.get(b"s=1; pad=2", at(now)).is_none());
        remember(&index, b"s=1", entry(), before, now, &config);
        assert!(
            index.get(b"s=1", at(now)).is_none(),
            "a read from before the removal is not kept"
        );
        // A login whose lifetime ends within the TTL is served until then only.
        let ending = config.valid_until(&auth).unwrap();
        let late = ending - Duration::from_secs(10);
        remember(&index, b"s=1", entry(), index.epoch(), late, &config);
        assert!(index.get(b"s=1", at(ending - Duration::from_secs(1))).is_some());
        assert!(index.get(b"s=1", at(ending)).is_none(), "the login has ended");
        // One that has ended is not kept at all.
        remember(&index, b"s=2", entry(), index.epoch(), ending, &config);
        assert!(index.get(b"s=2", at(ending - Duration::from_secs(1))).is_none());
    }

    #[test]
    fn only_a_single_cookie_header_is_a_key() {
        let one = Request::builder().header(COOKIE, "a=1; b=2").body(()).unwrap();
        assert_eq!(
            single_cookie_header(&one).map(HeaderValue::as_bytes),
            Some(&b"a=1; b=2"[..])
        );
        let two = Request::builder()
            .header(COOKIE, "a=1")
            .header(COOKIE, "b=2")
            .body(())
            .unwrap();
        assert!(single_cookie_header(&two).is_none());
        let none = Request::builder().body(()).unwrap();
        assert!(single_cookie_header(&none).is_none());
    }
}
