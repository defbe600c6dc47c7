//! [`RedisRevocations`]: ended logins announced to every instance sharing a Redis (cargo
//! feature `redis`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{self, AsyncCommands as _};
use discord_oauth_core::login::revocation::{Revocation, Subscribers, redis_keep_commands, redis_kept_query};
use futures_util::StreamExt as _;

use discord_oauth_core::login::revocation::{Broadcast, Handler};

pub use discord_oauth_core::login::revocation::DEFAULT_CHANNEL;

/// Revocations over Redis pub/sub (cargo feature `redis`). User-wide revocations ("log out
/// of all devices", deauthorization) are also kept in a sorted set (`<channel>:users`, one
/// member per user, pruned past the session lifetime), read when an instance connects, so
/// that an instance started later refuses those sessions too. Published through the
/// session store's pool, received on a dedicated connection that reconnects by itself.
///
/// ```no_run
/// # async fn f(pool: deadpool_redis::Pool) -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_actix::RedisRevocations;
/// let revocations = RedisRevocations::connect(pool, "redis://127.0.0.1:6379").await?;
/// // DiscordOAuth::builder(config, transport).revocation_broadcast(revocations)
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocations {
    pool: Pool,
    channel: Arc<str>,
    subscribers: Subscribers,
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    /// Subscribes to [`DEFAULT_CHANNEL`] on `url` (the first subscription is made before
    /// this returns) and publishes through `pool`.
    pub async fn connect(pool: Pool, url: &str) -> Result<Self, redis::RedisError> {
        Self::connect_to(pool, url, DEFAULT_CHANNEL).await
    }

    /// The same on another channel.
    pub async fn connect_to(pool: Pool, url: &str, channel: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let subscribers = Subscribers::default();
        // User-wide revocations kept in Redis for instances that start later.
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (name, args) = redis_kept_query(channel);
        let kept: Vec<String> = redis::cmd(name).arg(args).query_async(&mut conn).await?;
        subscribers.remember_kept(&kept);
        let channel: Arc<str> = Arc::from(channel);
        {
            let subscribers = subscribers.clone();
            let channel = Arc::clone(&channel);
            tokio::spawn(async move {
                let mut pubsub = Some(pubsub);
                loop {
                    if let Some(connected) = pubsub.take() {
                        let mut messages = connected.into_on_message();
                        while let Some(message) = messages.next().await {
                            let text = message.get_payload::<String>().unwrap_or_default();
                            if !subscribers.deliver(&text) {
                                tracing::warn!("ignored a malformed message on the revocation channel");
                            }
                        }
                        tracing::error!("lost the revocation channel; reconnecting");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match client.get_async_pubsub().await {
                        Ok(mut p) => match p.subscribe(&*channel).await {
                            Ok(()) => pubsub = Some(p),
                            Err(e) => tracing::error!(error = %e, "could not subscribe to the revocation channel"),
                        },
                        Err(e) => tracing::error!(error = %e, "could not reconnect to the revocation channel"),
                    }
                }
            });
        }
        Ok(Self {
            pool,
            channel,
            subscribers,
        })
    }
}

impl Broadcast for RedisRevocations {
    fn publish(&self, revocation: Revocation, keep_for: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let sent = match self.pool.get().await {
                Ok(mut conn) => {
                    let keep = redis_keep_commands(&self.channel, &revocation, keep_for);
                    if !keep.is_empty() {
                        let mut pipe = redis::pipe();
                        for (name, args) in keep {
                            pipe.cmd(name).arg(args).ignore();
                        }
                        let kept: Result<(), _> = pipe.query_async(&mut conn).await;
                        if let Err(e) = kept {
                            tracing::error!(error = %e, "could not keep a revocation in Redis");
                        }
                    }
                    conn.publish::<_, _, i64>(&*self.channel, revocation.to_message())
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                tracing::error!(error = %e, "could not announce an ended login to the other instances");
            }
        })
    }

    fn subscribe(&self, handler: Handler) {
        self.subscribers.add(handler);
    }
}
