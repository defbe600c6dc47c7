//! The authenticated fast path: requests of a logged-in user whose session is in the layer's
//! cache skip the session layer (cookie parsing and decryption, session bookkeeping) entirely.
//!
//! How it stays correct:
//! - The key is the request's whole `Cookie` header, byte for byte, recorded by the layer on a
//!   request that went through the session layer and was authenticated there. The same header
//!   carries the same session cookie, so it names the same session: nothing is decoded or
//!   trusted that the session layer did not check first. A request with another header (or
//!   several `Cookie` fields, or a header over 4 KiB) takes the normal path.
//! - The session itself comes from the layer's cache of authenticated sessions (keyed by
//!   session id), so everything that removes or replaces a cached session — logout, refresh,
//!   the session's end, the TTL — applies to the fast path at once: an index entry whose
//!   session is gone from the cache is a miss.
//! - Only sessions that are valid *now* are served here; one that needs a refresh or has
//!   ended takes the normal path, where refresh is single flight.
//! - Handlers still get a `tower_sessions::Session` for the same id and store, loaded lazily
//!   on first use. If a handler changes it, the change is saved to the store after the
//!   handler returns and the cached session is dropped. The one thing the fast path cannot do
//!   is send a new cookie: a handler that calls `Session::cycle_id` or `Session::flush` on
//!   such a request gets its store change, but the browser keeps the old cookie (for `flush`
//!   that is harmless: it names nothing; for `cycle_id` the user is logged out). This is
//!   logged as an error; turn the fast path off if your handlers do that on authenticated
//!   requests.
//! - The index is bounded like the cache (same TTL and capacity). It hashes the header with
//!   `foldhash` (randomly seeded per process): a few times faster than the standard SipHash
//!   over a whole `Cookie` header, and only headers the session layer authenticated get in.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use discord_oauth_core::login::SessionStatus;
use discord_oauth_core::login::answer;
use http::header::{CACHE_CONTROL, COOKIE};
use http::{HeaderValue, Request, Response};
use tower::{Service, ServiceExt as _};
use tower_sessions::session::Id;
use tower_sessions::{Expiry, Session, SessionStore};

use crate::extension::AuthState;
use crate::service::{ResponseFuture, Shared, monotonic_now};

/// Longest `Cookie` header the fast path indexes.
const MAX_KEY_LEN: usize = 4096;

/// `Cookie` header → the session it carries, for sessions seen authenticated.
#[derive(Debug)]
pub(crate) struct CookieIndex {
    map: RwLock<HashMap<Box<[u8]>, IndexEntry, foldhash::fast::RandomState>>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Debug, Clone)]
struct IndexEntry {
    id: Id,
    expiry: Option<Expiry>,
    at: Instant,
}

impl CookieIndex {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::with_hasher(foldhash::fast::RandomState::default())),
            ttl,
            capacity,
        }
    }

    fn disabled(&self) -> bool {
        self.ttl.is_zero() || self.capacity == 0
    }

    /// Records that requests with this `Cookie` header belong to session `id`.
    pub(crate) fn insert(&self, cookie: &[u8], id: Id, expiry: Option<Expiry>) {
        if self.disabled() || cookie.len() > MAX_KEY_LEN {
            return;
        }
        let now = monotonic_now();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(cookie) {
            discord_oauth_core::bounded::make_room(&mut map, self.capacity, |e| now.duration_since(e.at) < self.ttl);
        }
        map.insert(cookie.into(), IndexEntry { id, expiry, at: now });
    }

    fn get(&self, cookie: &[u8]) -> Option<IndexEntry> {
        if self.disabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(cookie).filter(|e| e.at.elapsed() < self.ttl).cloned()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The one `Cookie` header of a request, if it has exactly one.
pub(crate) fn single_cookie_header<B>(req: &Request<B>) -> Option<&HeaderValue> {
    let mut all = req.headers().get_all(COOKIE).iter();
    let first = all.next()?;
    all.next().is_none().then_some(first)
}

/// The service built by [`crate::DiscordOAuthLayer::fast_path`]: serves cached authenticated
/// sessions straight to `fast` (the application without the session and login layers) and
/// everything else to `slow` (the application with them).
pub struct FastPath<F, S, St, T> {
    fast: F,
    /// Cloned only for a request that takes it: cloning the session layer's stack for every
    /// request (axum clones the route's service per request) would cost the fast path.
    slow: Arc<S>,
    store: Arc<St>,
    shared: Arc<Shared<T>>,
}

impl<F: Clone, S: Clone, St, T> Clone for FastPath<F, S, St, T> {
    fn clone(&self) -> Self {
        Self {
            fast: self.fast.clone(),
            slow: Arc::clone(&self.slow),
            store: Arc::clone(&self.store),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<F, S, St, T> fmt::Debug for FastPath<F, S, St, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastPath").finish_non_exhaustive()
    }
}

impl<F, S, St, T> FastPath<F, S, St, T> {
    pub(crate) fn new(fast: F, slow: S, store: St, shared: Arc<Shared<T>>) -> Self {
        Self {
            fast,
            slow: Arc::new(slow),
            store: Arc::new(store),
            shared,
        }
    }

    /// The cached, currently valid session this request's cookies name, if any.
    fn lookup<B>(&self, req: &Request<B>) -> Option<(IndexEntry, AuthState)> {
        if self.shared.config.route(req.uri().path()).is_some() {
            return None;
        }
        let cookie = single_cookie_header(req)?;
        let entry = self.shared.index.get(cookie.as_bytes())?;
        let auth = self.shared.cache.get(&entry.id)?;
        match self.shared.config.session_status(&auth, self.shared.now()) {
            SessionStatus::Valid => Some((
                entry,
                AuthState::authenticated(auth, Arc::clone(&self.shared.login_path)),
            )),
            SessionStatus::NeedsRefresh | SessionStatus::Ended => None,
        }
    }
}

impl<F, S, St, T, B, RB> Service<Request<B>> for FastPath<F, S, St, T>
where
    F: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    F::Future: Send + 'static,
    S: Service<Request<B>, Response = Response<RB>, Error = F::Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
    St: SessionStore,
    T: Send + Sync + 'static,
    B: Send + 'static,
    RB: From<String> + Send + 'static,
{
    type Response = Response<RB>;
    type Error = F::Error;
    type Future = ResponseFuture<Response<RB>, F::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The slow side is polled when a request takes it (`oneshot`).
        self.fast.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some((entry, state)) = self.lookup(&req) else {
            let slow = S::clone(&self.slow);
            return Box::pin(slow.oneshot(req));
        };
        let session = Session::new(Some(entry.id), Arc::clone(&self.store), entry.expiry);
        req.extensions_mut().insert(state);
        req.extensions_mut().insert(session.clone());
        // `fast` was polled ready (`poll_ready`), and its future owns what it needs.
        let call = self.fast.call(req);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let mut response = call.await?;
            // Boxed: the store's futures can be large, and this block is moved into a box on
            // every fast request.
            if session.is_modified() && !Box::pin(save_changes(&shared, &session, entry.id)).await {
                return Ok(answer::store_unavailable().map(RB::from));
            }
            if !response.headers().contains_key(CACHE_CONTROL) {
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            }
            Ok(response)
        })
    }
}

/// Saves a session a handler changed on the fast path, as the session layer would, and lets
/// the next request read the store again. `false` if the store failed.
async fn save_changes<T>(shared: &Shared<T>, session: &Session, id: Id) -> bool {
    shared.cache.remove(&id);
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
/// after routing, so a request is routed once whichever side serves it. Built by
/// [`crate::DiscordOAuthLayer::fast_path_layer`].
pub struct FastPathLayer<L, St, T> {
    oauth: crate::DiscordOAuthLayer<T>,
    sessions: L,
    store: St,
}

impl<L: Clone, St: Clone, T> Clone for FastPathLayer<L, St, T> {
    fn clone(&self) -> Self {
        Self {
            oauth: self.oauth.clone(),
            sessions: self.sessions.clone(),
            store: self.store.clone(),
        }
    }
}

impl<L, St, T> fmt::Debug for FastPathLayer<L, St, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastPathLayer").finish_non_exhaustive()
    }
}

impl<L, St, T> FastPathLayer<L, St, T> {
    pub(crate) fn new(oauth: crate::DiscordOAuthLayer<T>, sessions: L, store: St) -> Self {
        Self { oauth, sessions, store }
    }
}

impl<R, L, St, T> tower::Layer<R> for FastPathLayer<L, St, T>
where
    R: Clone,
    L: tower::Layer<crate::DiscordOAuthService<R, T>>,
    St: Clone,
    T: crate::Transport,
{
    type Service = FastPath<R, L::Service, St, T>;

    fn layer(&self, inner: R) -> Self::Service {
        let slow = self.sessions.layer(tower::Layer::layer(&self.oauth, inner.clone()));
        self.oauth.fast_path(inner, slow, self.store.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_bounded_and_expires() {
        let index = CookieIndex::new(Duration::from_secs(60), 10);
        let ids: Vec<Id> = (0..100).map(|_| Id::default()).collect();
        for (n, id) in ids.iter().enumerate() {
            index.insert(format!("s={n}").as_bytes(), *id, None);
            assert!(index.len() <= 10);
        }
        assert_eq!(index.get(b"s=99").map(|e| e.id), Some(ids[99]));
        assert!(
            (0..100)
                .filter(|n| index.get(format!("s={n}").as_bytes()).is_some())
                .count()
                <= 10,
            "older entries made room"
        );
        assert!(index.get(b"s=99 ").is_none(), "the key is the exact header");

        let index = CookieIndex::new(Duration::from_millis(1), 10);
        index.insert(b"s=1", ids[0], None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(index.get(b"s=1").is_none(), "expired entries are not served");
    }

    #[test]
    fn zero_ttl_or_capacity_disables_the_index() {
        for index in [
            CookieIndex::new(Duration::ZERO, 10),
            CookieIndex::new(Duration::from_secs(1), 0),
        ] {
            index.insert(b"s=1", Id::default(), None);
            assert!(index.get(b"s=1").is_none());
            assert_eq!(index.len(), 0);
        }
    }

    #[test]
    fn oversized_headers_are_not_indexed() {
        let index = CookieIndex::new(Duration::from_secs(60), 10);
        let big = vec![b'a'; MAX_KEY_LEN + 1];
        index.insert(&big, Id::default(), None);
        assert_eq!(index.len(), 0);
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
