//! Several instances on one Redis (cargo feature `redis`): the refresh lock, the broadcast
//! of ended logins and the shared invalid-request budget, all `discord_oauth_runtime::redis`
//! (written once for every framework) on a `fred` client, the client
//! `tower-sessions-redis-store` uses.

use std::fmt;

use discord_oauth_runtime::BoxFuture;
use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisLock, Reply};
use fred::clients::{Pool, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface as _, PubsubInterface as _};
use fred::types::{ClusterHash, CustomCommand, Value};

pub use discord_oauth_runtime::redis::{DEFAULT_CHANNEL, DEFAULT_REDIS_PREFIX};

/// A fred client (`Client`, `Pool`, or either `with_options`) as the runtime's
/// [`RedisClient`]; made from the client by [`RedisRefreshLock::new`].
#[derive(Clone)]
pub struct Fred<C>(C);

impl<C> fmt::Debug for Fred<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fred")
    }
}

impl<C> From<C> for Fred<C> {
    fn from(client: C) -> Self {
        Self(client)
    }
}

impl<C: ClientLike + Clone + Send + Sync + 'static> RedisClient for Fred<C> {
    fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
        let client = self.0.clone();
        Box::pin(async move {
            // The key is the first argument, but EVAL's third (after the script and the count).
            let hash = if command == "EVAL" {
                ClusterHash::Offset(2)
            } else {
                ClusterHash::FirstKey
            };
            // A custom command: fred's typed interfaces are not implemented for every client
            // (`with_options`), and the runtime names its commands as text.
            let command = CustomCommand::new_static(command, hash, false);
            let value: Value = client
                .custom(command, args)
                .await
                .map_err(|e| RedisError(e.to_string()))?;
            Ok(match value {
                Value::Null => Reply::Nil,
                Value::Integer(i) => Reply::Int(i),
                Value::Array(values) => Reply::List(values.into_iter().filter_map(Value::into_string).collect()),
                // RESP3's maps (`HGETALL`) as RESP2 gives them: field, value, field, value …
                Value::Map(map) => Reply::List(
                    map.inner()
                        .into_iter()
                        .filter_map(|(k, v)| Some([k.into_string()?, v.into_string()?]))
                        .flatten()
                        .collect(),
                ),
                other => other.into_string().map_or(Reply::Other, Reply::Text),
            })
        })
    }
}

/// The refresh lock for several instances sharing a Redis session store (cargo feature
/// `redis`): the runtime's [`RedisLock`] on a fred client, set with
/// [`DiscordOAuthLayerBuilder::refresh_lock`](crate::DiscordOAuthLayerBuilder::refresh_lock).
///
/// Under `{prefix}lock:{digest}` (the SHA-256 of the refresh token about to be spent, never
/// the token): `SET … {random token} NX PX {lease}`, retried every few milliseconds (backing
/// off to 100 ms) while another instance holds it, for at most the lease. Under the lock the
/// outcome another instance published at `{prefix}done:{digest}` is used as it is; otherwise
/// this instance refreshes and publishes its outcome there (60 s). Releasing deletes the key
/// only if it still holds this holder's token (a Lua compare-and-delete); a crashed holder's
/// key expires after the lease. Each command is bounded by 2 s
/// (`command_timeout`). The published record holds the new tokens, as
/// the session in Redis does: protect Redis accordingly.
///
/// Use the same fred client or pool as the session store:
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_tower::RedisRefreshLock;
/// use fred::prelude::*;
///
/// let pool = Builder::from_config(Config::from_url("redis://127.0.0.1:6379")?).build_pool(4)?;
/// pool.init().await?;
/// let lock = RedisRefreshLock::new(pool.clone());
/// // DiscordOAuthLayer::builder(config, transport).refresh_lock(lock) …
/// # Ok(()) }
/// ```
pub type RedisRefreshLock<C = Pool> = RedisLock<Fred<C>>;

/// The invalid-request budget shared by every instance on one Redis (cargo feature `redis`):
/// the runtime's [`RedisBudget`](discord_oauth_runtime::redis::RedisBudget) on a fred
/// client, set with
/// [`DiscordOAuthLayerBuilder::shared_budget`](crate::DiscordOAuthLayerBuilder::shared_budget).
/// Every 2 s the layer publishes its count of `401`, `403` and non-shared `429` answers in the
/// last 10 minutes (one field per instance in the hash `discord_oauth:budget`, dropped 10 s
/// after the instance stops) and counts the others' sum too: the
/// [threshold](discord_oauth_core::api::client::ApiDriverConfig::invalid_request_threshold)
/// then bounds the instances together. Redis down: logged; the others' last count is kept
/// for 10 s, then each instance counts its own until Redis answers again.
///
/// ```no_run
/// # async fn f(config: discord_oauth_tower::LoginConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_tower::{DiscordOAuthLayer, RedisBudget};
/// use fred::prelude::*;
///
/// let pool = Builder::from_config(Config::from_url("redis://127.0.0.1:6379")?).build_pool(4)?;
/// pool.init().await?;
/// let layer = DiscordOAuthLayer::builder(config, discord_oauth_tower::transport::ReqwestTransport::new()?)
///     .shared_budget(RedisBudget::new(pool))
///     .build();
/// # Ok(()) }
/// ```
pub type RedisBudget<C = Pool> = discord_oauth_runtime::redis::RedisBudget<Fred<C>>;

discord_oauth_runtime::redis_revocations! {
/// Ended logins over Redis pub/sub (cargo feature `redis`), the protocol of
/// [`discord_oauth_core::login::revocation`]: each revocation published on the channel,
/// user-wide ones also kept for instances that start later.
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
    pub struct RedisRevocations(Fred<Pool>);
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
        let started = discord_oauth_runtime::redis::RedisRevocations::start(Fred(publisher), channel).await;
        let revocations = started.map_err(|e| fred::error::Error::new(fred::error::ErrorKind::Unknown, e.0))?;
        let mut messages = subscriber.message_rx();
        subscriber.init().await?;
        subscriber.subscribe(channel).await?;
        let _resubscribe = subscriber.manage_subscriptions();
        let listening = revocations.clone();
        tokio::spawn(async move {
            // Keeps the subscriber connected as long as messages are read.
            let _subscriber = subscriber;
            loop {
                match messages.recv().await {
                    Ok(message) if *message.channel == *listening.channel() => {
                        listening.deliver(&message.value.as_str().unwrap_or_default());
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::error!(missed = n, "revocation messages were missed");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(Self(revocations))
    }
}
