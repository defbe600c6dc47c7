//! The login driver's decision for each request ([`attach`]): the [`AuthState`], after
//! refreshing tokens that are about to expire (once per session, however many requests wait).
//! [`crate::DiscordSessions`] calls it.

use std::sync::Arc;
#[cfg(feature = "redis")]
use std::time::Instant;

use discord_oauth_core::login::AuthSession;
#[cfg(feature = "redis")]
use discord_oauth_core::login::answer;
#[cfg(feature = "redis")]
use discord_oauth_core::login::driver::RECENT_TTL;
use discord_oauth_core::login::driver::{Attached, refresh_key};

use crate::extract::AuthState;
use crate::routes::ActixSession;
use crate::sessions::LoginPart;
use crate::shared::{DiscordOAuth, Shared};

/// The driver's decision for this request, refreshing under the refresh lock if needed.
pub(crate) async fn attach(oauth: &DiscordOAuth, login: &LoginPart) -> Result<AuthState, http::Response<String>> {
    let shared = &oauth.shared;
    let io = ActixSession { login, shared };
    Ok(match shared.driver.attach(&shared.io, &io, None).await? {
        decided @ (Attached::Anonymous | Attached::Unavailable | Attached::Authenticated(_)) => {
            AuthState::new(decided, oauth.clone())
        }
        Attached::NeedsRefresh(stale) => match refresh(shared, &io, stale).await? {
            Some(fresh) => AuthState::new(Attached::Authenticated(fresh), oauth.clone()),
            None => AuthState::new(Attached::Anonymous, oauth.clone()),
        },
    })
}

/// Refreshes once per refresh token at a time: requests carrying the same session wait for the
/// first one (a per-key mutex here, the Redis lock across instances) and get its outcome
/// (Discord's refresh tokens are single use, F-05).
async fn refresh(
    shared: &Shared,
    io: &ActixSession<'_>,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    let Some(key) = refresh_key(&stale) else {
        return Ok(Some(stale));
    };
    let guard = shared.refresh_locks.lock(key).await;
    #[cfg(feature = "redis")]
    let result = match &shared.redis_lock {
        Some(lock) if shared.driver.recent().get(&key, Instant::now()).is_none() => {
            refresh_shared(shared, lock, io, key, stale).await
        }
        _ => shared
            .driver
            .refresh_locked(&shared.io, io, stale, None)
            .await
            .map(|r| r.session),
    };
    #[cfg(not(feature = "redis"))]
    let result = shared
        .driver
        .refresh_locked(&shared.io, io, stale, None)
        .await
        .map(|r| r.session);
    drop(guard);
    result
}

/// The refresh under the Redis lock: the outcome another instance published for this refresh
/// token is used as it is; an outcome of our own is published before the lock is released.
#[cfg(feature = "redis")]
async fn refresh_shared(
    shared: &Shared,
    lock: &crate::redis::RedisRefreshLock,
    io: &ActixSession<'_>,
    key: [u8; 32],
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    let (lock, name) = (&lock.0, crate::redis::lock_name(&key));
    let guard = lock
        .acquire(&name, shared.refresh_lease())
        .await
        .map_err(|e| lock_unavailable(&e))?;
    let published = match lock.outcome(&name).await {
        Ok(published) => published,
        Err(e) => {
            guard.release().await;
            return Err(lock_unavailable(&e));
        }
    };
    let refreshed = match shared.driver.refresh_locked(&shared.io, io, stale, published).await {
        Ok(refreshed) => refreshed,
        Err(answer) => {
            guard.release().await;
            return Err(answer);
        }
    };
    if let Some(spent) = &refreshed.spent {
        let ttl = RECENT_TTL.max(shared.refresh_lease().saturating_mul(2));
        if let Err(e) = lock.publish(&name, spent, ttl).await {
            tracing::error!(error = %e, "could not publish the refreshed session; holding the refresh lock until its lease ends");
            guard.keep_until_lease_ends();
            return Ok(refreshed.session);
        }
    }
    guard.release().await;
    Ok(refreshed.session)
}

#[cfg(feature = "redis")]
fn lock_unavailable(e: &discord_oauth_runtime::locks::LockError) -> http::Response<String> {
    tracing::error!(error = %e, "refresh lock failed");
    answer::store_unavailable()
}
