//! [`RedisRefreshLock`]: token refreshes single-flight across every instance sharing a Redis
//! (cargo feature `redis`).

mod revocations;

use std::fmt;
use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{self, FromRedisValue};
use discord_oauth_core::login::AuthSession;
use serde::{Deserialize, Serialize};

use discord_oauth_core::login::driver::Recent;
use discord_oauth_runtime::locks::{REDIS_RELEASE_SCRIPT, lock_token, take_redis_lock};

pub use revocations::{DEFAULT_CHANNEL, RedisRevocations};

type RefreshKey = [u8; 32];

/// Default prefix of the keys the lock writes.
pub const DEFAULT_REDIS_PREFIX: &str = "discord_oauth:refresh:";

/// Discord rotates the refresh token on every refresh: the old one stops working. Two
/// instances refreshing one session at the same time would both send the same refresh token;
/// the second would get `invalid_grant` and log the user out. With this lock (set with
/// [`crate::DiscordOAuthBuilder::refresh_lock`]) a refresh runs under a Redis lock shared by
/// every instance, and whoever waited for it uses the tokens it got.
///
/// # How it works
/// Keys are named after a SHA-256 digest of the refresh token about to be spent (never the
/// token itself), so every request carrying the same session meets at the same keys:
///
/// 1. Within one process, requests of the same session queue on an in-process mutex first, so
///    one request per instance talks to Redis.
/// 2. `SET {prefix}lock:{digest} {random token} NX PX {lease}`, retried every few milliseconds
///    (backing off to 100 ms) while another instance holds it, for at most the lease; then the
///    request answers `503` with `Retry-After`.
/// 3. Under the lock: `GET {prefix}done:{digest}`. If another instance already spent this
///    refresh token, it left the outcome there (the new session record, or "logged out"); the
///    request uses it and writes the fresher tokens into its own session.
/// 4. Otherwise it refreshes at Discord, puts the outcome at `{prefix}done:{digest}` (kept 60 s,
///    or twice the lease if longer), and releases the lock with a Lua compare-and-delete (only
///    if the key still holds its token).
///
/// Why publish the outcome rather than re-read the session: actix-session loads a session
/// once, before the handler runs, and writes it after the response; it offers no way to
/// re-read the stored session mid-request, and the winner's own write lands only when its
/// response is done, after it released the lock.
///
/// # Bounds
/// The lease is twice the Discord request timeout plus 10 s (30 s by default): longer than a
/// refresh can take (two requests to Discord, each bounded by the timeout, with at most a 5 s
/// rate-limit wait between them) plus time to write the result. A holder that crashes blocks
/// its session's refresh for at most one lease; requests waiting that long answer `503`. If
/// the outcome cannot be written, the holder keeps the lock until its lease ends rather than
/// let another instance spend the rotated refresh token. Every Redis command is bounded by the
/// store timeout ([`crate::DiscordOAuthBuilder::store_timeout`]); a Redis failure answers
/// `503`, never "logged out".
///
/// The published record holds the new tokens, as the session in Redis does: protect Redis
/// accordingly (password, TLS with `rediss://`, not reachable from outside).
///
/// ```no_run
/// # async fn f(config: discord_oauth_actix::LoginConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_actix::{DiscordOAuth, RedisRefreshLock, deadpool_redis};
///
/// let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:6379")
///     .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
/// let discord = DiscordOAuth::builder(config, discord_oauth_actix::transport::ReqwestTransport::new()?)
///     .refresh_lock(RedisRefreshLock::new(pool.clone()))
///     .build();
/// // sessions: discord.session_middleware(RedisSessionStore::new_pooled(pool).await?, key)
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRefreshLock {
    pool: Pool,
    prefix: String,
}

impl fmt::Debug for RedisRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshLock")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The shared lock failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    /// Redis failed or did not answer in time.
    #[error("the refresh lock's Redis failed: {0}")]
    Backend(String),
    /// Another holder kept the lock for longer than the lease.
    #[error("timed out waiting for the refresh lock")]
    Timeout,
}

/// What became of a refresh token, as stored in Redis.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Refreshed(Box<AuthSession>),
    LoggedOut,
}

impl RedisRefreshLock {
    /// A lock on `pool` (the pool of the Redis session store, typically).
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            prefix: DEFAULT_REDIS_PREFIX.to_owned(),
        }
    }

    /// The prefix of the keys (default `discord_oauth:refresh:`); `lock:` or `done:` and a hex
    /// digest follow it.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, kind: &str, key: &RefreshKey) -> String {
        use fmt::Write as _;
        key.iter().fold(format!("{}{kind}:", self.prefix), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    async fn run<T: FromRedisValue>(&self, cmd: &redis::Cmd, timeout: Duration) -> Result<T, LockError> {
        run(&self.pool, cmd, timeout).await
    }

    /// Takes the lock of `key`, waiting up to `lease` for another holder.
    pub(crate) async fn acquire(
        &self,
        key: &RefreshKey,
        lease: Duration,
        timeout: Duration,
    ) -> Result<RedisGuard, LockError> {
        let (lock_key, token) = (self.key("lock", key), lock_token());
        let lease_ms = lease.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
        let mut set = redis::cmd("SET");
        set.arg(&lock_key).arg(&token).arg("NX").arg("PX").arg(lease_ms);
        let taken = take_redis_lock(lease, || async {
            let taken: Option<String> = self.run(&set, timeout).await?;
            Ok(taken.is_some())
        });
        if !taken.await? {
            return Err(LockError::Timeout);
        }
        Ok(RedisGuard {
            pool: self.pool.clone(),
            key: lock_key,
            token,
            held: true,
        })
    }

    /// What became of the refresh token behind `key`, if another instance spent it lately.
    pub(crate) async fn outcome(&self, key: &RefreshKey, timeout: Duration) -> Result<Option<Recent>, LockError> {
        let mut get = redis::cmd("GET");
        get.arg(self.key("done", key));
        let value: Option<String> = self.run(&get, timeout).await?;
        let Some(value) = value else { return Ok(None) };
        match serde_json::from_str::<Outcome>(&value) {
            Ok(Outcome::Refreshed(session)) => Ok(Some(Recent::Refreshed(std::sync::Arc::new(*session)))),
            Ok(Outcome::LoggedOut) => Ok(Some(Recent::LoggedOut)),
            Err(e) => Err(LockError::Backend(format!("unreadable refresh outcome: {e}"))),
        }
    }

    /// Tells the other instances what became of the refresh token behind `key`, for `ttl`.
    pub(crate) async fn publish(
        &self,
        key: &RefreshKey,
        recent: &Recent,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<(), LockError> {
        let outcome = match recent {
            Recent::Refreshed(session) => Outcome::Refreshed(Box::new(session.as_ref().clone())),
            Recent::LoggedOut => Outcome::LoggedOut,
        };
        let value = serde_json::to_string(&outcome).map_err(|e| LockError::Backend(e.to_string()))?;
        let ttl_ms = ttl.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
        let mut set = redis::cmd("SET");
        set.arg(self.key("done", key)).arg(value).arg("PX").arg(ttl_ms);
        let _: () = self.run(&set, timeout).await?;
        Ok(())
    }
}

async fn run<T: FromRedisValue>(pool: &Pool, cmd: &redis::Cmd, timeout: Duration) -> Result<T, LockError> {
    let work = async {
        let mut conn = pool.get().await.map_err(|e| LockError::Backend(e.to_string()))?;
        cmd.query_async::<T>(&mut conn)
            .await
            .map_err(|e| LockError::Backend(e.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| LockError::Backend(format!("no answer within {timeout:?}")))?
}

/// A held [`RedisRefreshLock`]. Release it with [`RedisGuard::release`]; dropping it releases
/// it in a background task.
pub(crate) struct RedisGuard {
    pool: Pool,
    key: String,
    token: String,
    held: bool,
}

impl RedisGuard {
    /// Releases the lock now (only if this holder still has it).
    pub(crate) async fn release(mut self, timeout: Duration) {
        self.held = false;
        release(&self.pool, &self.key, &self.token, timeout).await;
    }

    /// Leaves the lock to expire with its lease.
    pub(crate) fn keep_until_lease_ends(mut self) {
        self.held = false;
    }
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        // A request dropped half-way (the client went away). Without a runtime the lease
        // ends it.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (pool, key, token) = (
                self.pool.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            handle.spawn(async move { release(&pool, &key, &token, Duration::from_secs(2)).await });
        }
    }
}

async fn release(pool: &Pool, key: &str, token: &str, timeout: Duration) {
    let mut eval = redis::cmd("EVAL");
    eval.arg(REDIS_RELEASE_SCRIPT).arg(1).arg(key).arg(token);
    if let Err(e) = run::<i64>(pool, &eval, timeout).await {
        tracing::warn!(error = %e, "could not release the refresh lock; it expires with its lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_a_digest_never_the_token() {
        let lock = RedisRefreshLock::new(
            deadpool_redis::Config::from_url("redis://127.0.0.1:1")
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .unwrap(),
        )
        .prefix("p:");
        let key = [0xab; 32];
        assert_eq!(lock.key("lock", &key), format!("p:lock:{}", "ab".repeat(32)));
        assert_eq!(lock.key("done", &key), format!("p:done:{}", "ab".repeat(32)));
    }

    #[test]
    fn outcomes_round_trip() {
        let json = serde_json::to_string(&Outcome::LoggedOut).unwrap();
        assert_eq!(json, r#""logged_out""#);
        assert!(matches!(serde_json::from_str(&json).unwrap(), Outcome::LoggedOut));
    }
}
