//! Refresh single flight: [`RefreshLock`], held while one request refreshes a session's
//! tokens, so that no two requests spend the same refresh token.
//!
//! Discord rotates the refresh token on every refresh: the old one stops working. Two
//! concurrent refreshes of one session would both send the same refresh token; the second gets
//! `invalid_grant` and would log the user out. So the layer refreshes under a per-session
//! lock, and every request that waited for it re-reads the session from the store and uses
//! the tokens the winner stored.
//!
//! - [`LocalRefreshLock`] (the default) serializes the requests of one process: enough with
//!   `MemoryStore`, or any store as long as only one instance serves a given session.
//! - `RedisRefreshLock` (cargo feature `redis`) adds a Redis lock on top, for several
//!   instances sharing a Redis session store.
//!
//! The layer holds a lock for at most its *lease* (see
//! [`crate::DiscordOAuthLayerBuilder::refresh_lock`]), which is longer than a refresh can
//! take, so a crashed holder blocks a session's refresh for at most one lease.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use discord_oauth_runtime::locks::{KeyedGuard, KeyedLocks};
use tower_sessions::session::Id;

/// A boxed, sendable future.
pub type LockFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serializes the token refreshes of one session (see the [module docs](self)).
///
/// Implementations must make [`RefreshLock::acquire`] wait while another holder has the lock
/// of the same session, and give up with [`LockError::Timeout`] after about `lease`.
pub trait RefreshLock: fmt::Debug + Send + Sync + 'static {
    /// Takes the lock of `session`, waiting for the current holder if any. A holder that
    /// neither releases nor drops its guard loses the lock after `lease`.
    fn acquire(&self, session: Id, lease: Duration) -> LockFuture<'_, Result<RefreshGuard, LockError>>;
}

/// The lock could not be taken; the layer answers `503` with `Retry-After`.
pub use discord_oauth_runtime::locks::LockError;

/// A held lock, released by the guard.
pub trait HeldLock: Send + 'static {
    /// Releases the lock (only if still held by this holder).
    fn release(self: Box<Self>) -> LockFuture<'static, ()>;
}

/// Proof of holding a session's refresh lock. Release it with [`RefreshGuard::release`];
/// dropping it releases it too (in a background task if the release needs IO).
#[must_use = "the lock is released when the guard is dropped"]
pub struct RefreshGuard {
    held: Option<Box<dyn HeldLock>>,
}

impl fmt::Debug for RefreshGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshGuard")
            .field("held", &self.held.is_some())
            .finish()
    }
}

impl RefreshGuard {
    /// A guard releasing `held`.
    pub fn new(held: impl HeldLock) -> Self {
        Self {
            held: Some(Box::new(held)),
        }
    }

    /// Releases the lock now.
    pub async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let release = held.release();
            // The future may need IO (Redis); run it on the runtime if there is one. Without a
            // runtime the lease expires by itself.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(release);
            }
        }
    }
}

/// The in-process refresh lock (default): one `tokio` mutex per session that has a refresh
/// in progress, removed when nobody waits for it any more. Waiters queue in order; the
/// lease does not apply (a holder in this process always finishes or is dropped).
#[derive(Clone, Default)]
pub struct LocalRefreshLock(KeyedLocks<Id>);

impl fmt::Debug for LocalRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRefreshLock")
            .field("sessions", &self.len())
            .finish()
    }
}

impl LocalRefreshLock {
    /// An empty lock set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are locked or waited for.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if no session is locked or waited for.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for `session`'s lock.
    pub async fn lock(&self, session: Id) -> LocalGuard {
        self.0.lock(session).await
    }
}

impl RefreshLock for LocalRefreshLock {
    fn acquire(&self, session: Id, _lease: Duration) -> LockFuture<'_, Result<RefreshGuard, LockError>> {
        Box::pin(async move { Ok(RefreshGuard::new(self.lock(session).await)) })
    }
}

/// A held [`LocalRefreshLock`] lock; dropping it releases the lock.
pub type LocalGuard = KeyedGuard<Id>;

impl HeldLock for LocalGuard {
    fn release(self: Box<Self>) -> LockFuture<'static, ()> {
        drop(self);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(feature = "redis")]
pub use crate::redis::{DEFAULT_REDIS_PREFIX, RedisRefreshLock};

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn local_lock_serializes_one_session_and_cleans_up() {
        let lock = LocalRefreshLock::new();
        let id = Id::default();
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let lock = lock.clone();
                let inside = Arc::clone(&inside);
                let max = Arc::clone(&max);
                tokio::spawn(async move {
                    let guard = lock.acquire(id, Duration::from_secs(1)).await.unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    guard.release().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1, "one holder at a time");
        assert!(lock.is_empty(), "no entry left behind");
    }

    #[tokio::test]
    async fn local_lock_does_not_block_other_sessions() {
        let lock = LocalRefreshLock::new();
        let a = lock.acquire(Id::default(), Duration::from_secs(1)).await.unwrap();
        let b = tokio::time::timeout(
            Duration::from_secs(1),
            lock.acquire(Id::default(), Duration::from_secs(1)),
        )
        .await
        .expect("another session's lock is free")
        .unwrap();
        assert_eq!(lock.len(), 2);
        drop(a);
        drop(b);
        assert!(lock.is_empty());
    }
}
