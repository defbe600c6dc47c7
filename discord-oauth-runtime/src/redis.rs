//! Redis for sites of several instances, written once for every framework: the refresh lock
//! ([`RedisLock`]), the broadcast of ended logins ([`RedisRevocations`]) and the shared
//! invalid-request budget ([`RedisBudget`]).
//!
//! Each framework's integration brings the Redis client its session crate already uses
//! (tower-sessions' store is on `fred`, actix-session's on `redis-rs`/`deadpool-redis`) and
//! implements [`RedisClient`] for it: one method that runs a command. What the commands are —
//! `SET NX PX` with a random holder token, the release script, the published refresh outcome,
//! the kept user-wide revocations — is here and in the core
//! ([`discord_oauth_core::login::revocation::redis_keep_commands`],
//! [`discord_oauth_core::login::driver::Recent::encode`]); hearing the revocation channel
//! (pub/sub) stays with each client, which hands every message to
//! [`RedisRevocations::deliver`]. The shared budget's commands (`TIME`, `HGETALL`, `HDEL`,
//! `HSET`, `PEXPIRE` on one hash) are all here.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use discord_oauth_runtime::BoxFuture;
//! use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisLock, Reply};
//!
//! // A toy Redis that knows `SET … NX PX` and the release script, enough for the lock.
//! #[derive(Clone, Default)]
//! struct Toy(Arc<Mutex<HashMap<String, String>>>);
//! impl RedisClient for Toy {
//!     fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
//!         let mut map = self.0.lock().unwrap();
//!         let reply = match command {
//!             "SET" if map.contains_key(&args[0]) => Reply::Nil,
//!             "SET" => { map.insert(args[0].clone(), args[1].clone()); Reply::Text("OK".into()) }
//!             "EVAL" if map.get(&args[2]) == Some(&args[3]) => { map.remove(&args[2]); Reply::Int(1) }
//!             _ => Reply::Int(0),
//!         };
//!         Box::pin(std::future::ready(Ok(reply)))
//!     }
//! }
//!
//! let lock: RedisLock<Toy> = RedisLock::new(Toy::default());
//! let held = lock.acquire("session-1", Duration::from_secs(5)).await.unwrap();
//! // Someone else's turn waits for the lease; with a short one it gives up.
//! assert!(lock.acquire("session-1", Duration::from_millis(20)).await.is_err());
//! held.release().await;
//! assert!(lock.acquire("session-1", Duration::from_millis(20)).await.is_ok());
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use discord_oauth_core::login::driver::Recent;
use discord_oauth_core::login::revocation::{
    Broadcast, Handler, Revocation, Subscribers, redis_keep_commands, redis_kept_query,
};

use crate::BoxFuture;
use crate::budget::{DEFAULT_STALE_AFTER, DEFAULT_SYNC_INTERVAL, SharedBudget, SharedBudgetError};
use crate::locks::{LockError, REDIS_RELEASE_SCRIPT, lock_token, take_redis_lock};

pub use discord_oauth_core::login::revocation::DEFAULT_CHANNEL;

/// Where the refresh lock's keys live by default: `discord_oauth:refresh:lock:<name>` (the
/// lock) and `discord_oauth:refresh:done:<name>` (a finished refresh's outcome).
pub const DEFAULT_REDIS_PREFIX: &str = "discord_oauth:refresh:";

/// How long one command may take before the lock or the broadcast treats Redis as down: 2 s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis client's failure, as text (each client has its own error type).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RedisError(pub String);

/// A command's reply, as much of it as the lock and the broadcast read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Nil (`SET NX` that did not set, `GET` of a missing key).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk or status string.
    Text(String),
    /// An array of strings (`ZRANGE … WITHSCORES`).
    List(Vec<String>),
    /// Anything else.
    Other,
}

/// What the Redis pieces need from a Redis client: run one command, with its arguments as
/// text, and give back the reply. Implemented by each integration for its client.
pub trait RedisClient: Clone + Send + Sync + 'static {
    /// Runs `command args…`.
    fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>>;
}

async fn run(
    client: &impl RedisClient,
    timeout: Duration,
    command: &'static str,
    args: Vec<String>,
) -> Result<Reply, LockError> {
    match tokio::time::timeout(timeout, client.run(command, args)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(LockError::Backend(e.0)),
        Err(_) => Err(LockError::Backend(format!("no answer within {timeout:?}"))),
    }
}

/// A lock in Redis, one per name (a session, a refresh token): `SET name token NX PX lease`,
/// released by a script that deletes it only while it holds this holder's token, so a holder
/// whose lease ran out cannot free its successor's lock. A holder that dies holds it for its
/// lease at most. Beside the lock, the outcome of a finished refresh is published for a
/// while ([`RedisLock::publish`]) so that the next holder reuses it instead of spending the
/// refresh token again.
///
/// [`RefreshLocks`](crate::refresh::RefreshLocks) takes, publishes and releases it; here by
/// hand, on a toy Redis:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use discord_oauth_core::login::driver::Recent;
/// use discord_oauth_runtime::BoxFuture;
/// use discord_oauth_runtime::locks::LockError;
/// use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisLock, Reply};
/// use discord_oauth_runtime::refresh::RefreshLocks;
///
/// /// A toy Redis: `SET` (with `NX`), `GET`, and the release script's compare-and-delete; no
/// /// expiry (the integrations bring a real client).
/// #[derive(Clone, Default)]
/// struct ToyRedis(Arc<Mutex<HashMap<String, String>>>);
/// impl RedisClient for ToyRedis {
///     fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
///         let reply = self.0.lock().map_err(|e| RedisError(e.to_string())).map(|mut keys| {
///             match (command, args.as_slice()) {
///                 ("SET", [key, _, nx, ..]) if nx == "NX" && keys.contains_key(key) => Reply::Nil,
///                 ("SET", [key, value, ..]) => {
///                     keys.insert(key.clone(), value.clone());
///                     Reply::Text("OK".into())
///                 }
///                 ("GET", [key]) => keys.get(key).map_or(Reply::Nil, |v| Reply::Text(v.clone())),
///                 ("EVAL", [_script, _, key, token]) if keys.get(key) == Some(token) => {
///                     keys.remove(key);
///                     Reply::Int(1)
///                 }
///                 _ => Reply::Int(0),
///             }
///         });
///         Box::pin(std::future::ready(reply))
///     }
/// }
///
/// let lock = RedisLock::<ToyRedis>::new(ToyRedis::default()).prefix("my-site:refresh:");
/// assert_eq!(lock.key("abc"), "my-site:refresh:lock:abc");
///
/// let held = lock.acquire("abc", Duration::from_secs(30)).await?;
/// // Another instance waits at most its lease for the holder.
/// let waited = lock.acquire("abc", Duration::from_millis(50)).await;
/// assert!(matches!(waited, Err(LockError::Timeout)));
///
/// // The holder publishes what its refresh did, then lets go; the next holder reads it.
/// lock.publish("abc", &Recent::LoggedOut, Duration::from_secs(60)).await?;
/// held.release().await;
/// let next = lock.acquire("abc", Duration::from_secs(30)).await?;
/// assert!(matches!(lock.outcome("abc").await?, Some(Recent::LoggedOut)));
/// next.release().await;
///
/// // An integration's refresh strategy across instances.
/// assert!(RefreshLocks::from(lock).is_shared());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisLock<C> {
    client: C,
    prefix: String,
    timeout: Duration,
}

impl<C> fmt::Debug for RedisLock<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<C: RedisClient> RedisLock<C> {
    /// A lock on `client` (or on what converts into it: each integration's Redis client),
    /// keys under [`DEFAULT_REDIS_PREFIX`].
    pub fn new(client: impl Into<C>) -> Self {
        Self {
            client: client.into(),
            prefix: DEFAULT_REDIS_PREFIX.to_owned(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// How long one command may take before Redis counts as down
    /// ([`DEFAULT_COMMAND_TIMEOUT`] unless set).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keys under `prefix` instead (sites sharing one Redis).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The Redis key of `name`'s lock.
    pub fn key(&self, name: &str) -> String {
        format!("{}lock:{name}", self.prefix)
    }

    fn done_key(&self, name: &str) -> String {
        format!("{}done:{name}", self.prefix)
    }

    /// Takes `name`'s lock for `lease`, waiting (polling from 5 to 100 ms) at most `lease` for
    /// the current holder ([`LockError::Timeout`] then).
    pub async fn acquire(&self, name: &str, lease: Duration) -> Result<RedisHeld<C>, LockError> {
        let (key, token) = (self.key(name), lock_token());
        let lease_ms = lease.as_millis().clamp(1, u128::from(u32::MAX)).to_string();
        let set = || {
            let args = vec![key.clone(), token.clone(), "NX".into(), "PX".into(), lease_ms.clone()];
            async { Ok(run(&self.client, self.timeout, "SET", args).await? != Reply::Nil) }
        };
        if !take_redis_lock(lease, set).await? {
            return Err(LockError::Timeout);
        }
        Ok(RedisHeld {
            client: self.client.clone(),
            key,
            token,
            timeout: self.timeout,
            held: true,
        })
    }

    /// The outcome another holder published for `name`, if any.
    pub async fn outcome(&self, name: &str) -> Result<Option<Recent>, LockError> {
        match run(&self.client, self.timeout, "GET", vec![self.done_key(name)]).await? {
            Reply::Text(text) => Recent::decode(&text)
                .map(Some)
                .ok_or_else(|| LockError::Backend("unreadable refresh outcome".into())),
            _ => Ok(None),
        }
    }

    /// Publishes `recent` as `name`'s outcome for `ttl`.
    pub async fn publish(&self, name: &str, recent: &Recent, ttl: Duration) -> Result<(), LockError> {
        let ttl_ms = ttl.as_millis().clamp(1, u128::from(u32::MAX)).to_string();
        let args = vec![self.done_key(name), recent.encode(), "PX".into(), ttl_ms];
        run(&self.client, self.timeout, "SET", args).await.map(drop)
    }
}

/// A held [`RedisLock`]. [`RedisHeld::release`] frees it; dropped unreleased (a request
/// that went away half-way) it is released in the background when a tokio runtime is there,
/// else when its lease ends.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RedisHeld<C: RedisClient> {
    client: C,
    key: String,
    token: String,
    timeout: Duration,
    held: bool,
}

impl<C: RedisClient> fmt::Debug for RedisHeld<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHeld")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<C: RedisClient> RedisHeld<C> {
    /// Frees the lock (if it still holds this holder's token).
    pub async fn release(mut self) {
        self.held = false;
        release(
            &self.client,
            self.timeout,
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        )
        .await;
    }

    /// Leaves the lock to its lease (a refresh whose outcome is unknown: the next holder
    /// must not start at once).
    pub fn keep_until_lease_ends(mut self) {
        self.held = false;
    }
}

impl<C: RedisClient> Drop for RedisHeld<C> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (client, timeout, key, token) = (
                self.client.clone(),
                self.timeout,
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            handle.spawn(async move { release(&client, timeout, key, token).await });
        }
    }
}

async fn release(client: &impl RedisClient, timeout: Duration, key: String, token: String) {
    let args = vec![REDIS_RELEASE_SCRIPT.to_owned(), "1".into(), key, token];
    if let Err(e) = run(client, timeout, "EVAL", args).await {
        tracing::warn!(error = %e, "could not release the refresh lock; it expires with its lease");
    }
}

/// The broadcast of ended logins over Redis: [`Broadcast::publish`] keeps user-wide
/// revocations (for instances that start later) and `PUBLISH`es on the channel; the
/// integration subscribes to [`RedisRevocations::channel`] with its client's pub/sub and
/// hands every message to [`RedisRevocations::deliver`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::login::revocation::{Broadcast, Revocation, channel_for};
/// use discord_oauth_runtime::BoxFuture;
/// use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisRevocations, Reply};
///
/// /// A toy Redis that notes the commands it runs (the integrations bring a real client).
/// #[derive(Clone, Default)]
/// struct Notes(Arc<Mutex<Vec<&'static str>>>);
/// impl RedisClient for Notes {
///     fn run(&self, command: &'static str, _args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
///         if let Ok(mut ran) = self.0.lock() {
///             ran.push(command);
///         }
///         Box::pin(std::future::ready(Ok(Reply::Nil)))
///     }
/// }
///
/// let redis = Notes::default();
/// let broadcast = RedisRevocations::start(redis.clone(), &channel_for("157730590492196864")).await?;
/// let heard = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&heard);
/// broadcast.subscribe(Arc::new(move |revocation| {
///     if let Ok(mut heard) = sink.lock() {
///         heard.push(revocation);
///     }
/// }));
///
/// // "Log out of all devices" here: kept for instances that start later, and announced.
/// let revocation = Revocation::of_user(80351110224678912, SystemTime::now());
/// broadcast.publish(revocation, Duration::from_secs(3600)).await;
/// assert!(redis.0.lock().is_ok_and(|ran| ran.contains(&"PUBLISH")));
///
/// // What the client's pub/sub hears on `broadcast.channel()` goes to `deliver`.
/// broadcast.deliver(&revocation.to_message());
/// assert!(heard.lock().is_ok_and(|heard| heard[..] == [revocation]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocations<C> {
    client: C,
    channel: Arc<str>,
    subscribers: Subscribers,
}

impl<C> fmt::Debug for RedisRevocations<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl<C: RedisClient> RedisRevocations<C> {
    /// The broadcast on `channel`, after reading the user-wide revocations kept there.
    pub async fn start(client: C, channel: &str) -> Result<Self, RedisError> {
        let subscribers = Subscribers::default();
        let (name, args) = redis_kept_query(channel);
        match client.run(name, args).await? {
            Reply::List(kept) => {
                subscribers.remember_kept(&kept);
            }
            Reply::Nil => {}
            other => {
                return Err(RedisError(format!(
                    "unexpected reply to the kept revocations: {other:?}"
                )));
            }
        }
        Ok(Self {
            client,
            channel: Arc::from(channel),
            subscribers,
        })
    }

    /// The channel to subscribe to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Hands a message heard on the channel to the subscribers (a malformed one is logged and
    /// ignored).
    pub fn deliver(&self, message: &str) {
        if !self.subscribers.deliver(message) {
            tracing::warn!("ignored a malformed message on the revocation channel");
        }
    }
}

impl<C: RedisClient> Broadcast for RedisRevocations<C> {
    fn publish(&self, revocation: Revocation, keep_for: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            for (name, args) in redis_keep_commands(&self.channel, &revocation, keep_for) {
                if let Err(e) = run(&self.client, DEFAULT_COMMAND_TIMEOUT, name, args).await {
                    tracing::error!(error = %e, "could not keep a revocation in Redis");
                }
            }
            let args = vec![self.channel.to_string(), revocation.to_message()];
            if let Err(e) = run(&self.client, DEFAULT_COMMAND_TIMEOUT, "PUBLISH", args).await {
                tracing::error!(error = %e, "could not announce an ended login to the other instances");
            }
        })
    }

    fn subscribe(&self, handler: Handler) {
        self.subscribers.add(handler);
    }
}

/// Where the instances keep their invalid-request counts by default: the hash
/// `discord_oauth:budget`.
pub const DEFAULT_BUDGET_KEY: &str = "discord_oauth:budget";

/// How many live instances the shared budget takes: 1,024. An instance that finds as many
/// others live does not publish its own count (it still reads theirs, and logs it).
pub const MAX_BUDGET_INSTANCES: usize = 1_024;

/// The invalid-request budget shared by every instance on one Redis, set with
/// [`Builder::shared_budget`](crate::Builder::shared_budget) (see [`crate::budget`] for what
/// the integration does with it; each integration names it `RedisBudget`, cargo feature
/// `redis`).
///
/// # In Redis
/// One hash ([`DEFAULT_BUDGET_KEY`] unless [`key`](Self::key) says otherwise) with one field
/// per live instance: its random id (32 hex digits, new for every `RedisBudget`) →
/// `{count}:{published at, ms}`. Every [interval](Self::sync_every) (2 s by default) an
/// instance, in turn: reads Redis's clock (`TIME`, so the instances' own clocks do not
/// matter), reads the hash (`HGETALL`), deletes the fields that were not published within
/// [`stale_after`](Self::stale_after) (10 s by default) or do not parse (`HDEL`: a stopped or
/// crashed instance drops out then), writes its own (`HSET`), and sets the hash to expire
/// after `stale_after` (`PEXPIRE`: once every instance is gone, so is the hash). The sum of
/// the other fields is what this instance counts as counted elsewhere. No `KEYS`, no `SCAN`,
/// one key; five commands per interval and instance, each bounded by the
/// [command timeout](Self::command_timeout) (2 s).
///
/// # Bounds
/// An instance that finds [`MAX_BUDGET_INSTANCES`] (1,024) others live does not add its field,
/// and every exchange deletes the stale ones: the hash holds about 1,024 fields at most
/// (instances starting at the same moment may each add one more), each under 64 bytes (a
/// 32-byte id; a count of at most 10 digits, a colon and a 13-digit time): about 64 KiB in
/// Redis and per `HGETALL` reply, however many instances come and go. In the process nothing
/// grows: the id, the key and the settings.
///
/// # Several sites
/// Discord counts the IP address, not the application: sites behind one address should share
/// the key (the default), and sites on different addresses may keep their own
/// ([`key`](Self::key)). A stopped instance's count drops out after `stale_after`, although
/// Discord still counts what it sent for the rest of the window: the threshold's margin
/// covers that, as it covers a restart of a single instance.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use discord_oauth_runtime::BoxFuture;
/// use discord_oauth_runtime::redis::{RedisBudget, RedisClient, RedisError, Reply};
///
/// // A toy Redis that knows the budget's hash commands (its clock stands still).
/// #[derive(Clone, Default)]
/// struct Toy(Arc<Mutex<HashMap<String, String>>>);
/// impl RedisClient for Toy {
///     fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
///         let mut hash = self.0.lock().unwrap();
///         let reply = match command {
///             "TIME" => Reply::List(vec!["1700000000".into(), "0".into()]),
///             "HGETALL" => Reply::List(hash.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect()),
///             "HSET" => { hash.insert(args[1].clone(), args[2].clone()); Reply::Int(1) }
///             _ => Reply::Int(1),
///         };
///         Box::pin(std::future::ready(Ok(reply)))
///     }
/// }
///
/// let redis = Toy::default();
/// let (a, b): (RedisBudget<Toy>, RedisBudget<Toy>) = (RedisBudget::new(redis.clone()), RedisBudget::new(redis));
/// assert_eq!(a.exchange(7).await.unwrap(), 0, "nobody else yet");
/// assert_eq!(b.exchange(2).await.unwrap(), 7, "b reads a's count");
/// assert_eq!(a.exchange(7).await.unwrap(), 2, "and a reads b's");
/// # }
/// ```
pub struct RedisBudget<C> {
    client: C,
    key: String,
    instance: String,
    interval: Duration,
    stale_after: Duration,
    timeout: Duration,
}

impl<C> fmt::Debug for RedisBudget<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBudget")
            .field("key", &self.key)
            .field("instance", &self.instance)
            .field("interval", &self.interval)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

impl<C: RedisClient> RedisBudget<C> {
    /// The budget on `client` (or on what converts into it: each integration's Redis client)
    /// as a new instance (a new random id), under [`DEFAULT_BUDGET_KEY`], exchanging every
    /// [`DEFAULT_SYNC_INTERVAL`] (2 s), figures stale after [`DEFAULT_STALE_AFTER`] (10 s).
    pub fn new(client: impl Into<C>) -> Self {
        Self {
            client: client.into(),
            key: DEFAULT_BUDGET_KEY.to_owned(),
            instance: lock_token(),
            interval: DEFAULT_SYNC_INTERVAL,
            stale_after: DEFAULT_STALE_AFTER,
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// Keeps the counts in the hash `key` instead (sites on different addresses sharing one
    /// Redis).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Exchanges every `interval` instead of every 2 s (at least 100 ms). Shorter spreads an
    /// instance's count faster and costs five Redis commands per interval and instance.
    ///
    /// ```
    /// # use discord_oauth_runtime::BoxFuture;
    /// # use discord_oauth_runtime::redis::{RedisError, Reply};
    /// # #[derive(Clone)]
    /// # struct MyRedis;
    /// # impl RedisClient for MyRedis {
    /// #     fn run(&self, _command: &'static str, _args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
    /// #         Box::pin(std::future::ready(Ok(Reply::Nil)))
    /// #     }
    /// # }
    /// use std::time::Duration;
    /// use discord_oauth_runtime::budget::SharedBudget;
    /// use discord_oauth_runtime::redis::{RedisBudget, RedisClient};
    ///
    /// // A site on its own address, on a Redis shared with sites on other addresses.
    /// let budget = RedisBudget::<MyRedis>::new(MyRedis)
    ///     .key("site-eu:budget")
    ///     .sync_every(Duration::from_secs(1))
    ///     .stale_after(Duration::from_secs(5));
    /// assert_eq!(budget.budget_key(), "site-eu:budget");
    /// assert_eq!(budget.interval(), Duration::from_secs(1));
    /// assert_eq!(budget.staleness(), Duration::from_secs(5));
    ///
    /// // Figures stay good for at least two intervals.
    /// let slow = RedisBudget::<MyRedis>::new(MyRedis).sync_every(Duration::from_secs(4));
    /// assert_eq!(slow.staleness(), Duration::from_secs(10));
    /// let slower = slow.stale_after(Duration::from_secs(1));
    /// assert_eq!(slower.staleness(), Duration::from_secs(8));
    /// ```
    pub fn sync_every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Drops an instance that has not published for `stale_after` instead of 10 s (at least
    /// twice the interval), and keeps the others' last figure that long when Redis does not
    /// answer.
    pub fn stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// How long one command may take before Redis counts as down
    /// ([`DEFAULT_COMMAND_TIMEOUT`] unless set).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This instance's field in the hash (random, 32 hex digits).
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// The Redis key of the hash.
    pub fn budget_key(&self) -> &str {
        &self.key
    }

    /// One exchange (see the type's docs): publishes `here`, this instance's count, and
    /// returns the sum of the other live instances' counts.
    pub async fn exchange(&self, here: u32) -> Result<u32, RedisError> {
        let run = |command: &'static str, args: Vec<String>| async move {
            run(&self.client, self.timeout, command, args)
                .await
                .map_err(|e| RedisError(e.to_string()))
        };
        let now_ms = match run("TIME", Vec::new()).await? {
            Reply::List(time) => redis_time_ms(&time),
            _ => None,
        }
        .ok_or_else(|| RedisError("unexpected reply to TIME".into()))?;
        let stale_ms = u64::try_from(SharedBudget::staleness(self).as_millis()).unwrap_or(u64::MAX);
        let fields = match run("HGETALL", vec![self.key.clone()]).await? {
            Reply::List(fields) => fields,
            Reply::Nil => Vec::new(),
            other => return Err(RedisError(format!("unexpected reply to HGETALL: {other:?}"))),
        };
        let (mut elsewhere, mut live, mut known, mut dead) = (0u32, 0usize, false, Vec::new());
        for pair in fields.chunks_exact(2) {
            let (field, value) = (&pair[0], &pair[1]);
            if *field == self.instance {
                known = true;
                continue;
            }
            match parse_budget_entry(value) {
                Some((count, at)) if at.saturating_add(stale_ms) > now_ms => {
                    elsewhere = elsewhere.saturating_add(count);
                    live += 1;
                }
                _ => dead.push(field.clone()),
            }
        }
        if !dead.is_empty() {
            run("HDEL", std::iter::once(self.key.clone()).chain(dead).collect()).await?;
        }
        if known || live < MAX_BUDGET_INSTANCES {
            let entry = format!("{here}:{now_ms}");
            run("HSET", vec![self.key.clone(), self.instance.clone(), entry]).await?;
        } else {
            tracing::warn!(
                live,
                "the shared invalid-request budget holds {MAX_BUDGET_INSTANCES} instances: this one's count is not published"
            );
        }
        run("PEXPIRE", vec![self.key.clone(), stale_ms.max(1).to_string()]).await?;
        Ok(elsewhere)
    }
}

impl<C: RedisClient> SharedBudget for RedisBudget<C> {
    fn interval(&self) -> Duration {
        self.interval
    }

    fn staleness(&self) -> Duration {
        self.stale_after.max(self.interval.saturating_mul(2))
    }

    fn exchange(&self, here: u32) -> Pin<Box<dyn Future<Output = Result<u32, SharedBudgetError>> + Send + '_>> {
        Box::pin(async move {
            RedisBudget::exchange(self, here)
                .await
                .map_err(|e| SharedBudgetError(e.0))
        })
    }
}

/// `TIME`'s `[seconds, microseconds]` in milliseconds.
fn redis_time_ms(time: &[String]) -> Option<u64> {
    let [secs, micros] = time else { return None };
    let (secs, micros) = (secs.parse::<u64>().ok()?, micros.parse::<u64>().ok()?);
    secs.checked_mul(1_000)?.checked_add(micros / 1_000)
}

/// `{count}:{ms}`.
fn parse_budget_entry(value: &str) -> Option<(u32, u64)> {
    let (count, at) = value.split_once(':')?;
    Some((count.parse().ok()?, at.parse().ok()?))
}
