//! The layer's state ([`Shared`]): the login driver, the IO, the refresh strategy and the
//! one cache of authenticated sessions by `Cookie` header ([`CookieIndex`]), and the driver's
//! view of a `tower_sessions::Session` ([`TowerSession`]). Every other module reads it; it
//! reads none of them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::fast_index::FastIndex;
use discord_oauth_core::login::driver::{Driver, SessionIo};
use discord_oauth_core::login::revocation::Revocation;
use discord_oauth_core::login::{AuthSession, LoginConfig};
use discord_oauth_runtime::Io;
use discord_oauth_runtime::refresh::RefreshLocks;
use http::header::{COOKIE, HeaderValue};
use http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_sessions::Expiry;
use tower_sessions::Session;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::session::Id;
use tracing::Instrument as _;

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
        self.driver.apply_revocation(revocation, self.now(), Instant::now());
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

/// The sessions' expiry: the idle timeout ([`LoginConfig::idle_timeout`], 7 days by default)
/// after the last change. The session layer's ([`crate::session_layer`]), and the anonymous
/// fast path's handler sessions'.
pub(crate) fn session_expiry(config: &LoginConfig) -> Expiry {
    Expiry::OnInactivity(CookieDuration::try_from(config.idle_timeout()).unwrap_or(CookieDuration::days(7)))
}

/// The response future of [`DiscordOAuthService`](crate::DiscordOAuthService).
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

/// The layer's one cache of authenticated sessions: `Cookie` header → the login it carries,
/// by session id, on the core's [`FastIndex`] (bounds, TTL, the removal epoch). The layer
/// reads it before the session store (no store read for a header seen lately), the fast path
/// serves from it; logout, refresh, the session's end and revocations remove entries at once.
pub(crate) type CookieIndex = FastIndex<Id, IndexEntry, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub(crate) struct IndexEntry {
    pub(crate) id: Id,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) auth: Arc<AuthSession>,
}

/// Remembers `entry` for the request's `Cookie` header at `now` (the layer's clock) until its
/// login stops being valid ([`LoginConfig::valid_until`]) or the cache's TTL is over, unless a
/// removal happened since `epoch` (read before the session was). The caller has seen that
/// the header does not serve this login yet.
pub(crate) fn remember(
    index: &CookieIndex,
    cookie: &[u8],
    entry: IndexEntry,
    epoch: u64,
    now: SystemTime,
    config: &LoginConfig,
) {
    if let Some(until) = config.valid_until(&entry.auth) {
        index.insert(cookie, entry.id, entry, epoch, now, until);
    }
}

pub(crate) fn single_cookie_header<B>(req: &Request<B>) -> Option<&HeaderValue> {
    let mut all = req.headers().get_all(COOKIE).iter();
    let first = all.next()?;
    all.next().is_none().then_some(first)
}

// ------------------------------------------------------------------ IO for the driver

/// A `tower_sessions::Session` for the driver, with this layer's cache.
pub(crate) struct TowerSession<'a> {
    pub(crate) session: &'a Session,
    pub(crate) shared: &'a Shared,
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
