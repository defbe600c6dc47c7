//! Several instances on one Redis (cargo feature `redis`): [`RedisRefreshLock`], token
//! refreshes single-flight across every instance, [`RedisRevocations`], ended logins
//! announced to every instance, and [`RedisBudget`], Discord's invalid requests counted by
//! every instance together. All are `discord_oauth_runtime::redis` (written once for every
//! framework) on a `deadpool-redis` pool, the one actix-session's Redis store uses.

use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{self, Value};
use discord_oauth_runtime::BoxFuture;
use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisLock, Reply};
use futures_util::StreamExt as _;

pub use discord_oauth_runtime::redis::{DEFAULT_CHANNEL, DEFAULT_REDIS_PREFIX};

/// A `deadpool-redis` pool as the runtime's [`RedisClient`]; made from the pool by
/// [`RedisRefreshLock::new`].
#[derive(Clone, Debug)]
pub struct Deadpool(Pool);

impl From<Pool> for Deadpool {
    fn from(pool: Pool) -> Self {
        Self(pool)
    }
}

impl RedisClient for Deadpool {
    fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
        let pool = self.0.clone();
        Box::pin(async move {
            let mut conn = pool.get().await.map_err(|e| RedisError(e.to_string()))?;
            let value: Value = redis::cmd(command)
                .arg(args)
                .query_async(&mut conn)
                .await
                .map_err(|e| RedisError(e.to_string()))?;
            Ok(reply(value))
        })
    }
}

fn reply(value: Value) -> Reply {
    let text = |value: Value| redis::from_redis_value::<String>(&value).ok();
    match value {
        Value::Nil => Reply::Nil,
        Value::Int(i) => Reply::Int(i),
        Value::Array(values) => Reply::List(values.into_iter().filter_map(text).collect()),
        // RESP3's maps (`HGETALL`) as RESP2 gives them: field, value, field, value …
        Value::Map(pairs) => Reply::List(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some([text(k)?, text(v)?]))
                .flatten()
                .collect(),
        ),
        other => text(other).map_or(Reply::Other, Reply::Text),
    }
}

/// Discord rotates the refresh token on every refresh: the old one stops working. Two
/// instances refreshing one session at the same time would both send the same refresh token;
/// the second would get `invalid_grant` and log the user out. With this lock (set with
/// [`crate::DiscordOAuthBuilder::refresh_lock`]) a refresh runs under a Redis lock shared by
/// every instance, and whoever waited for it uses the tokens it got.
///
/// How it works — the runtime's strategy, the same on every framework
/// ([`discord_oauth_runtime::refresh`]): requests of one process queue on an in-process lock
/// named after the SHA-256 of the refresh token about to be spent (never the token); then
/// `SET {prefix}lock:{digest} {random token} NX PX {lease}` across instances; under it the
/// outcome another instance published at `{prefix}done:{digest}` is used as it is, else this
/// instance refreshes and publishes its outcome there (60 s), and releases the lock with a Lua
/// compare-and-delete. The lease is twice the Discord timeout plus 10 s (30 s by default); a
/// crashed holder blocks its login's refresh for at most one lease, and requests waiting that
/// long answer `503`, never "logged out". Each Redis command is bounded by 2 s
/// (`command_timeout`).
///
/// Why publish the outcome rather than re-read the session: actix-session loads a session
/// once, before the handler runs, and writes it after the response; the winner's own write
/// lands only when its response is done, after it released the lock.
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
pub type RedisRefreshLock = RedisLock<Deadpool>;

/// The invalid-request budget shared by every instance on one Redis (cargo feature `redis`):
/// the runtime's [`RedisBudget`](discord_oauth_runtime::redis::RedisBudget) on a
/// `deadpool-redis` pool, set with
/// [`DiscordOAuthBuilder::shared_budget`](crate::DiscordOAuthBuilder::shared_budget). Every
/// 2 s an instance publishes its count of `401`, `403` and non-shared `429` answers in the
/// last 10 minutes (one field per instance in the hash `discord_oauth:budget`, dropped 10 s
/// after the instance stops) and counts the others' sum too: the
/// [threshold](discord_oauth_core::api::client::ApiDriverConfig::invalid_request_threshold)
/// then bounds the instances together. Redis down: logged; the others' last count is kept
/// for 10 s, then each instance counts its own until Redis answers again.
/// Build the integration inside the runtime (e.g. in `#[actix_web::main]`, before
/// `HttpServer::new`): the exchange runs as a task on it.
///
/// ```no_run
/// # async fn f(config: discord_oauth_actix::LoginConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_actix::{DiscordOAuth, RedisBudget, deadpool_redis};
///
/// let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:6379")
///     .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
/// let discord = DiscordOAuth::builder(config, discord_oauth_actix::transport::ReqwestTransport::new()?)
///     .shared_budget(RedisBudget::new(pool))
///     .build();
/// # Ok(()) }
/// ```
pub type RedisBudget = discord_oauth_runtime::redis::RedisBudget<Deadpool>;

discord_oauth_runtime::redis_revocations! {
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
    pub struct RedisRevocations(Deadpool);
}

impl RedisRevocations {
    /// Publishes through `pool` and listens on [`DEFAULT_CHANNEL`] with a connection of its
    /// own to `url`.
    pub async fn connect(pool: Pool, url: &str) -> Result<Self, redis::RedisError> {
        Self::connect_to(pool, url, DEFAULT_CHANNEL).await
    }

    /// The same on another channel (one per site sharing a Redis).
    pub async fn connect_to(pool: Pool, url: &str, channel: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let started = discord_oauth_runtime::redis::RedisRevocations::start(Deadpool(pool), channel).await;
        let revocations =
            started.map_err(|e| redis::RedisError::from((redis::ErrorKind::ResponseError, "kept revocations", e.0)))?;
        let listening = revocations.clone();
        tokio::spawn(async move {
            let mut pubsub = Some(pubsub);
            loop {
                if let Some(connected) = pubsub.take() {
                    let mut messages = connected.into_on_message();
                    while let Some(message) = messages.next().await {
                        listening.deliver(&message.get_payload::<String>().unwrap_or_default());
                    }
                    tracing::error!("lost the revocation channel; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                match client.get_async_pubsub().await {
                    Ok(mut p) => match p.subscribe(listening.channel()).await {
                        Ok(()) => pubsub = Some(p),
                        Err(e) => tracing::error!(error = %e, "could not subscribe to the revocation channel"),
                    },
                    Err(e) => tracing::error!(error = %e, "could not reconnect to the revocation channel"),
                }
            }
        });
        Ok(Self(revocations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_a_digest_never_the_token() {
        let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:1")
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .unwrap();
        let lock = RedisRefreshLock::new(pool).prefix("p:");
        let name = discord_oauth_runtime::refresh::hex(&[0xab; 32]);
        assert_eq!(lock.key(&name), format!("p:lock:{}", "ab".repeat(32)));
    }

    #[test]
    fn replies_keep_what_the_lock_and_the_broadcast_read() {
        assert_eq!(reply(Value::Nil), Reply::Nil);
        assert_eq!(reply(Value::Int(1)), Reply::Int(1));
        assert_eq!(reply(Value::Okay), Reply::Text("OK".into()));
        let kept = Value::Array(vec![
            Value::BulkString(b"7".to_vec()),
            Value::BulkString(b"12".to_vec()),
        ]);
        assert_eq!(reply(kept), Reply::List(vec!["7".into(), "12".into()]));
    }
}
