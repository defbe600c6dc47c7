//! Redis connections for `SESSION_STORE=redis`, made so that an outage answers `503` quickly
//! and the site recovers by itself when Redis is back: every command (or taking a pooled
//! connection) fails after [`REDIS_TIMEOUT`] rather than queue, and broken connections are
//! replaced. A wrong URL or an unreachable server stops the site at startup.

use std::time::Duration;

use crate::{BoxError, SessionStore};

/// How long one Redis command may take before the request answers `503`.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections to Redis per instance (commands are pipelined on each).
pub const REDIS_POOL_SIZE: usize = 4;

fn unreachable(url: &str, e: impl std::fmt::Display) -> BoxError {
    let shown = SessionStore::Redis { url: url.to_owned() }.redacted();
    format!("could not connect to the session store ({shown}): {e}").into()
}

/// Connections for the axum sample (fred, as `tower-sessions-redis-store` and the library's
/// Redis lock and revocation broadcast use).
#[cfg(feature = "axum")]
#[derive(Debug, Clone)]
pub struct FredRedis {
    /// The pool (close it with `quit`).
    pub pool: fred::clients::Pool,
    /// The pool with fail-fast options: for the session store and the refresh lock.
    pub client: fred::clients::WithOptions<fred::clients::Pool>,
    /// A subscriber connection, for the revocation broadcast.
    pub subscriber: fred::clients::SubscriberClient,
}

#[cfg(feature = "axum")]
impl FredRedis {
    /// Connects to `url` (the pool reconnects by itself, every 100 ms to 2 s).
    pub async fn connect(url: &str) -> Result<Self, BoxError> {
        use fred::interfaces::ClientLike as _;
        use fred::types::config::{Config, Options, ReconnectPolicy};

        let config = Config::from_url(url).map_err(|e| format!("REDIS_URL is not a Redis URL: {e}"))?;
        let policy = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
        let pool = fred::types::Builder::from_config(config.clone())
            .with_connection_config(|c| {
                c.connection_timeout = REDIS_TIMEOUT;
                c.internal_command_timeout = REDIS_TIMEOUT;
            })
            .set_policy(policy.clone())
            .build_pool(REDIS_POOL_SIZE)?;
        pool.init().await.map_err(|e| unreachable(url, e))?;
        let client = pool.with_options(&Options {
            fail_fast: true,
            timeout: Some(REDIS_TIMEOUT),
            max_attempts: Some(1),
            ..Options::default()
        });
        let subscriber = fred::types::Builder::from_config(config)
            .set_policy(policy)
            .build_subscriber_client()?;
        Ok(Self {
            pool,
            client,
            subscriber,
        })
    }
}

/// A pool for the actix-web sample (deadpool-redis, as actix-session's Redis store and the
/// library's Redis lock and revocation broadcast use), checked with a `PING`.
#[cfg(feature = "actix")]
pub async fn deadpool(url: &str) -> Result<discord_oauth_actix::deadpool_redis::Pool, BoxError> {
    use discord_oauth_actix::deadpool_redis::{Config, PoolConfig, Runtime, Timeouts, redis};

    let mut config = Config::from_url(url);
    config.pool = Some(PoolConfig {
        max_size: REDIS_POOL_SIZE,
        timeouts: Timeouts {
            wait: Some(REDIS_TIMEOUT),
            create: Some(REDIS_TIMEOUT),
            recycle: Some(REDIS_TIMEOUT),
        },
        ..PoolConfig::default()
    });
    let pool = config
        .create_pool(Some(Runtime::Tokio1))
        .map_err(|e| format!("REDIS_URL is not a Redis URL: {e}"))?;
    let ping = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(REDIS_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(pool),
        Ok(Err(e)) => Err(unreachable(url, e)),
        Err(_) => Err(unreachable(url, format!("no answer within {REDIS_TIMEOUT:?}"))),
    }
}
