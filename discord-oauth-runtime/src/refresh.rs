//! [`RefreshLocks`]: token refreshes single-flight, the one strategy every framework's
//! integration runs.
//!
//! Discord rotates the refresh token on every refresh: the old one stops working. Two
//! requests refreshing one login at the same time would both spend the same refresh token;
//! the second would get `invalid_grant` and log the user out. So a refresh runs under a lock
//! named after the refresh token it is about to spend (its SHA-256,
//! [`refresh_key`]): requests of one process queue on an in-process lock, and with a
//! [`SharedLock`] (Redis: [`crate::redis::RedisLock`]) requests of every instance queue on
//! that too. Whoever waited uses the outcome of the refresh that went first:
//!
//! 1. this process's recent outcomes ([`Driver::recent`], 60 s);
//! 2. under a shared lock, the outcome another instance published for the same refresh token;
//! 3. otherwise the core's [`Driver::refresh_locked`] (which re-reads the session store
//!    first), and under a shared lock its outcome is published (kept 60 s, or twice the lease
//!    if longer) before the lock is released. If publishing fails, the lock is kept until its
//!    lease ends rather than let another instance spend the rotated token.
//!
//! The lease is [`Driver::refresh_lease`] (twice the Discord timeout plus 10 s): a holder that
//! dies blocks its login's refresh for at most that long; requests waiting longer answer `503`
//! with `Retry-After`, never "logged out".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use discord_oauth_core::AccessToken;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::answer;
use discord_oauth_core::login::driver::{Driver, RECENT_TTL, Recent, Refreshed, SessionIo, refresh_key};

use crate::Io;
use crate::locks::{KeyedLocks, LockError};
use crate::redis::{RedisClient, RedisHeld, RedisLock};
use discord_oauth_core::api::client::ClientIo as _;

type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A refresh lock several instances share, with a place to publish a finished refresh's
/// outcome. [`RedisLock`] is one; implement it for another shared store.
pub trait SharedLock: fmt::Debug + Send + Sync + 'static {
    /// Takes `name`'s lock for `lease` (waiting at most `lease` for its holder).
    fn acquire<'a>(&'a self, name: &'a str, lease: Duration) -> Fut<'a, Result<Box<dyn SharedHeld>, LockError>>;
    /// The outcome another holder published for `name`.
    fn outcome<'a>(&'a self, name: &'a str) -> Fut<'a, Result<Option<Recent>, LockError>>;
    /// Publishes `recent` as `name`'s outcome for `ttl`.
    fn publish<'a>(&'a self, name: &'a str, recent: &'a Recent, ttl: Duration) -> Fut<'a, Result<(), LockError>>;
}

/// A held [`SharedLock`].
pub trait SharedHeld: Send {
    /// Frees the lock.
    fn release(self: Box<Self>) -> Fut<'static, ()>;
    /// Leaves the lock to its lease.
    fn keep_until_lease_ends(self: Box<Self>);
}

impl<C: RedisClient> SharedLock for RedisLock<C> {
    fn acquire<'a>(&'a self, name: &'a str, lease: Duration) -> Fut<'a, Result<Box<dyn SharedHeld>, LockError>> {
        Box::pin(async move { Ok(Box::new(RedisLock::acquire(self, name, lease).await?) as Box<dyn SharedHeld>) })
    }

    fn outcome<'a>(&'a self, name: &'a str) -> Fut<'a, Result<Option<Recent>, LockError>> {
        Box::pin(RedisLock::outcome(self, name))
    }

    fn publish<'a>(&'a self, name: &'a str, recent: &'a Recent, ttl: Duration) -> Fut<'a, Result<(), LockError>> {
        Box::pin(RedisLock::publish(self, name, recent, ttl))
    }
}

impl<C: RedisClient> SharedHeld for RedisHeld<C> {
    fn release(self: Box<Self>) -> Fut<'static, ()> {
        Box::pin(RedisHeld::release(*self))
    }

    fn keep_until_lease_ends(self: Box<Self>) {
        RedisHeld::keep_until_lease_ends(*self);
    }
}

/// The refresh strategy of an integration: an in-process lock per refresh token, and
/// optionally a [`SharedLock`] across instances. Cheap to clone (shared state).
///
/// ```
/// use discord_oauth_runtime::refresh::RefreshLocks;
/// let one_process = RefreshLocks::default();
/// assert!(!one_process.is_shared());
/// ```
#[derive(Clone, Default)]
pub struct RefreshLocks {
    local: KeyedLocks<[u8; 32]>,
    shared: Option<Arc<dyn SharedLock>>,
}

impl fmt::Debug for RefreshLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshLocks")
            .field("local", &self.local)
            .field("shared", &self.shared)
            .finish()
    }
}

impl<L: SharedLock> From<L> for RefreshLocks {
    fn from(lock: L) -> Self {
        Self::shared(lock)
    }
}

impl RefreshLocks {
    /// Refreshes single-flight across every instance sharing `lock`.
    pub fn shared(lock: impl SharedLock) -> Self {
        Self {
            local: KeyedLocks::default(),
            shared: Some(Arc::new(lock)),
        }
    }

    /// Whether a [`SharedLock`] spans instances.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Refreshes `stale` (the driver's [`Attached::NeedsRefresh`]) once however many requests
    /// ask: the login to serve the request with (`None`: it ended), or the answer to send
    /// (`503` when a lock could not be had). Locks are held for at most
    /// [`Driver::refresh_lease`] of `io`'s timeout.
    ///
    /// With `rejected`, the refresh follows Discord's `401` to that access token of `stale`
    /// during a handler's API call ([`Driver::refresh_rejected`]: refreshed although its
    /// expiry looks valid, unless someone already did); the caller compares the result's
    /// access token with `rejected`: the same one means there is nothing fresher to retry with.
    ///
    /// Two requests of one browser that find its login due for a refresh at once spend its
    /// refresh token once:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::login::doc_support::{self, MemorySession, token_body};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{AUTH_KEY, Driver, SessionIo};
    /// use discord_oauth_runtime::refresh::RefreshLocks;
    /// use discord_oauth_runtime::{Io, Outbound};
    ///
    /// // Discord's token endpoint, counting the refreshes it is asked for.
    /// let asked = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&asked);
    /// let discord = tower::service_fn(move |_req: http::Request<Vec<u8>>| {
    ///     counter.fetch_add(1, Ordering::SeqCst);
    ///     async { Ok::<_, std::convert::Infallible>(http::Response::new(token_body(2, "identify").into_bytes())) }
    /// });
    /// # let now = doc_support::now();
    /// let io = Io::new(discord, Duration::from_secs(10), Outbound::new(8)).with_clock(Arc::new(move || now));
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .client_secret("secret")
    ///     .build()?;
    /// # let mut login = doc_support::logged_in(&config, "identify");
    /// # login.tokens.as_mut().ok_or("tokens")?.expires_at = now;
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// // The session holds a login whose access token has expired (`stale`).
    /// let session = MemorySession::new();
    /// session.insert(AUTH_KEY, &login).await?;
    /// let stale = Arc::new(login);
    ///
    /// let locks = RefreshLocks::default();
    /// let (first, second) = tokio::join!(
    ///     locks.refresh(&driver, &io, &session, Arc::clone(&stale), None),
    ///     locks.refresh(&driver, &io, &session, Arc::clone(&stale), None),
    /// );
    /// for outcome in [first, second] {
    ///     let fresh = outcome.map_err(|answer| format!("answered {}", answer.status()))?.ok_or("logged out")?;
    ///     assert_eq!(fresh.tokens.as_ref().ok_or("tokens")?.access_token.secret(), "at2");
    /// }
    /// assert_eq!(asked.load(Ordering::SeqCst), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// [`Attached::NeedsRefresh`]: discord_oauth_core::login::driver::Attached::NeedsRefresh
    pub async fn refresh<S: SessionIo>(
        &self,
        driver: &Driver,
        io: &Io,
        session: &S,
        stale: Arc<AuthSession>,
        rejected: Option<&AccessToken>,
    ) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
        let Some(key) = refresh_key(&stale) else {
            return Ok(Some(stale));
        };
        let _local = self.local.lock(key).await;
        let lease = Driver::refresh_lease(io.timeout());
        let shared = self
            .shared
            .as_deref()
            .filter(|_| driver.recent().get(&key, io.instant()).is_none());
        let Some(lock) = shared else {
            return locked(driver, io, session, stale, None, rejected)
                .await
                .map(|r| r.session);
        };
        let name = hex(&key);
        let held = lock.acquire(&name, lease).await.map_err(|e| unavailable(&e))?;
        let published = match lock.outcome(&name).await {
            Ok(published) => published,
            Err(e) => {
                held.release().await;
                return Err(unavailable(&e));
            }
        };
        let refreshed = match locked(driver, io, session, stale, published, rejected).await {
            Ok(refreshed) => refreshed,
            Err(answer) => {
                held.release().await;
                return Err(answer);
            }
        };
        if let Some(spent) = &refreshed.spent {
            let ttl = RECENT_TTL.max(lease.saturating_mul(2));
            if let Err(e) = lock.publish(&name, spent, ttl).await {
                tracing::error!(error = %e, "could not publish the refreshed session; holding the refresh lock until its lease ends");
                held.keep_until_lease_ends();
                return Ok(refreshed.session);
            }
        }
        held.release().await;
        Ok(refreshed.session)
    }
}

/// The driver's refresh once the locks are held: forced past a valid-looking expiry when
/// Discord rejected `rejected`.
async fn locked<S: SessionIo>(
    driver: &Driver,
    io: &Io,
    session: &S,
    stale: Arc<AuthSession>,
    published: Option<Recent>,
    rejected: Option<&AccessToken>,
) -> Result<Refreshed, http::Response<String>> {
    match rejected {
        None => driver.refresh_locked(io, session, stale, published).await,
        Some(rejected) => driver.refresh_rejected(io, session, stale, rejected, published).await,
    }
}

fn unavailable(e: &LockError) -> http::Response<String> {
    tracing::error!(error = %e, "refresh lock failed");
    answer::store_unavailable()
}

/// The name a refresh's shared keys are known by: the hex SHA-256 of the refresh token it
/// spends (never the token itself).
pub fn hex(key: &[u8; 32]) -> String {
    use fmt::Write as _;
    key.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
