//! Announcing ended logins to the other instances, so that a logout (or "log out of all
//! devices") ends every cached copy of the session everywhere within moments, not after the
//! cache TTL.
//!
//! The layer applies a revocation locally first (see
//! [`discord_oauth_core::login::revocation`]), then hands it to its [`Broadcast`]. With the
//! cargo feature `redis`, [`RedisRevocations`] publishes it on a Redis channel that every
//! instance subscribes to; receiving one drops the matching sessions from that instance's
//! cache and fast path and remembers the login as ended.

pub use discord_oauth_core::login::revocation::{Broadcast, Handler, Revocation, Subscribers};

#[cfg(feature = "redis")]
pub use redis::{DEFAULT_CHANNEL, RedisRevocations};

#[cfg(feature = "redis")]
mod redis {
    use std::fmt;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Duration;

    use discord_oauth_core::login::revocation::{Revocation, Subscribers, redis_keep_commands, redis_kept_query};
    use fred::clients::{Pool, SubscriberClient};
    use fred::interfaces::{ClientLike as _, EventInterface as _, PubsubInterface as _};
    use fred::types::{ClusterHash, CustomCommand};

    use super::{Broadcast, Handler};

    pub use discord_oauth_core::login::revocation::DEFAULT_CHANNEL;

    /// Ended logins over Redis pub/sub (cargo feature `redis`), the protocol of
    /// [`discord_oauth_core::login::revocation`]: each revocation published on the channel,
    /// user-wide ones also kept for instances that start later
    /// ([`redis_keep_commands`](discord_oauth_core::login::revocation::redis_keep_commands),
    /// read back at connection with
    /// [`redis_kept_query`](discord_oauth_core::login::revocation::redis_kept_query)).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_tower::RedisRevocations;
    /// use fred::prelude::*;
    /// let config = Config::from_url("redis://127.0.0.1:6379")?;
    /// let pool = Builder::from_config(config.clone()).build_pool(4)?;
    /// pool.init().await?;
    /// let subscriber = Builder::from_config(config).build_subscriber_client()?;
    /// let revocations = RedisRevocations::connect(pool, subscriber).await?;
    /// // DiscordOAuthLayer::builder(config, transport).revocation_broadcast(revocations)
    /// # Ok(()) }
    /// ```
    #[derive(Clone)]
    pub struct RedisRevocations {
        publisher: Pool,
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
        /// Subscribes `subscriber` (a dedicated connection; it is connected here and
        /// re-subscribes after reconnecting) to [`DEFAULT_CHANNEL`] and publishes through
        /// `publisher` (e.g. the session store's pool).
        pub async fn connect(publisher: Pool, subscriber: SubscriberClient) -> Result<Self, fred::error::Error> {
            Self::connect_to(publisher, subscriber, DEFAULT_CHANNEL).await
        }

        /// The same on another channel (one per site sharing a Redis).
        pub async fn connect_to(
            publisher: Pool,
            subscriber: SubscriberClient,
            channel: &str,
        ) -> Result<Self, fred::error::Error> {
            let subscribers = Subscribers::default();
            // User-wide revocations kept in Redis for instances that start later.
            let (name, args) = redis_kept_query(channel);
            let command = CustomCommand::new_static(name, ClusterHash::FirstKey, false);
            let kept: Vec<String> = publisher.next().custom(command, args).await?;
            subscribers.remember_kept(&kept);
            let mut messages = subscriber.message_rx();
            subscriber.init().await?;
            subscriber.subscribe(channel).await?;
            let _resubscribe = subscriber.manage_subscriptions();
            let channel: Arc<str> = Arc::from(channel);
            {
                let subscribers = subscribers.clone();
                let channel = Arc::clone(&channel);
                tokio::spawn(async move {
                    // Keeps the subscriber connected as long as messages are read.
                    let _subscriber = subscriber;
                    loop {
                        match messages.recv().await {
                            Ok(message) => {
                                if *message.channel != *channel {
                                    continue;
                                }
                                let text = message.value.as_str().unwrap_or_default();
                                if !subscribers.deliver(&text) {
                                    tracing::warn!("ignored a malformed message on the revocation channel");
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                tracing::error!(missed = n, "revocation messages were missed");
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        }
                    }
                });
            }
            Ok(Self {
                publisher,
                channel,
                subscribers,
            })
        }
    }

    impl Broadcast for RedisRevocations {
        fn publish(&self, revocation: Revocation, keep_for: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            Box::pin(async move {
                let client = self.publisher.next();
                for (name, args) in redis_keep_commands(&self.channel, &revocation, keep_for) {
                    let command = CustomCommand::new_static(name, ClusterHash::FirstKey, false);
                    let done: Result<fred::types::Value, _> = client.custom(command, args).await;
                    if let Err(e) = done {
                        tracing::error!(error = %e, "could not keep a revocation in Redis");
                    }
                }
                let sent: Result<i64, _> = client.publish(&*self.channel, revocation.to_message()).await;
                if let Err(e) = sent {
                    tracing::error!(error = %e, "could not announce an ended login to the other instances");
                }
            })
        }

        fn subscribe(&self, handler: Handler) {
            self.subscribers.add(handler);
        }
    }
}
