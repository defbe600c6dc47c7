//! The Redis refresh lock when its holder dies mid-refresh (checklist K-08, F-06/F-07): an
//! instance killed while refreshing never releases its lock, so the session's next refresh,
//! on any instance, waits at most for the lease to run out; and a holder that comes back
//! after its lease cannot release the lock its successor holds. Needs `redis-server` (a
//! server of the test's own; skipped without it, failing in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use discord_oauth_axum::RedisRefreshLock;
use discord_oauth_axum::lock::LockError;
use discord_oauth_scenarios::redis::RedisServer;
use fred::interfaces::KeysInterface as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k08_a_holder_that_dies_mid_refresh_blocks_the_session_for_at_most_its_lease() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let dying = RedisRefreshLock::new(redis.client().await);
    let survivor = RedisRefreshLock::new(redis.client().await);
    // One login's refresh (the lock is named after the refresh token's digest).
    let session = "a-refresh";
    let held = dying.acquire(session, Duration::from_millis(300)).await.unwrap();
    // The instance dies mid-refresh: the guard is neither released nor dropped.
    std::mem::forget(held);
    let guard = survivor
        .acquire(session, Duration::from_secs(5))
        .await
        .expect("the dead holder's lease ran out");
    guard.release().await;
    let again = survivor.acquire(session, Duration::from_secs(5)).await.unwrap();
    again.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k08_a_holder_back_after_its_lease_cannot_free_its_successors_lock() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let client = redis.client().await;
    let slow = RedisRefreshLock::new(redis.client().await);
    let next = RedisRefreshLock::new(redis.client().await);
    let third = RedisRefreshLock::new(redis.client().await);
    let session = "a-refresh";
    let late = slow.acquire(session, Duration::from_millis(300)).await.unwrap();
    let current = next.acquire(session, Duration::from_secs(10)).await.unwrap();
    late.release().await;
    let key: Option<String> = client.get(next.key(session)).await.unwrap();
    assert!(key.is_some(), "the successor still holds the lock");
    assert!(
        matches!(
            third.acquire(session, Duration::from_millis(200)).await,
            Err(LockError::Timeout)
        ),
        "nobody else gets it meanwhile"
    );
    current.release().await;
    let free = third.acquire(session, Duration::from_secs(5)).await;
    assert!(free.is_ok(), "released by its holder: free at once");
}
