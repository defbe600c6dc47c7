//! [`Builder`]: the settings of an integration, one builder for every framework.
//!
//! `discord_oauth_tower::DiscordOAuthLayerBuilder` and `discord_oauth_actix::DiscordOAuthBuilder`
//! are this type: the same methods, the same defaults (but the cache capacity, see
//! [`Integration::DEFAULT_CACHE_CAPACITY`]), and one `build` that makes the core's login
//! driver, the IO it runs on and the refresh strategy before the integration wraps them.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_core::login::LoginConfig;
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS;
use discord_oauth_core::login::revocation::{Broadcast, Revocation, Revocations};

use crate::budget::{BudgetSync, SharedBudget};
use crate::refresh::RefreshLocks;
use crate::{Clock, DEFAULT_TIMEOUT, Io, Outbound, Transport};

/// How long one session store operation may take by default before the request answers `503`
/// with `Retry-After`: 2 s.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a login seen with a `Cookie` header is served from memory by default: 30 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// A framework's integration, as [`Builder::build`] makes it.
pub trait Integration: Sized {
    /// How many `Cookie` headers its in-process cache holds by default.
    const DEFAULT_CACHE_CAPACITY: usize;

    /// Wraps the built parts.
    fn build(parts: Parts) -> Self;
}

/// What [`Builder::build`] hands the integration.
#[derive(Debug)]
#[non_exhaustive]
pub struct Parts {
    /// Every decision about a login.
    pub driver: Driver,
    /// Transport, timeout, bound on requests in flight, clock.
    pub io: Io,
    /// The refresh strategy.
    pub refresh: RefreshLocks,
    /// How long the in-process cache serves a login ([`Builder::cache_ttl`]).
    pub cache_ttl: Duration,
    /// How many entries the in-process cache holds ([`Builder::cache_capacity`]).
    pub cache_capacity: usize,
    /// The bound on one session store operation ([`Builder::store_timeout`]).
    pub store_timeout: Duration,
    /// The revocation broadcast, to subscribe the built integration to.
    pub broadcast: Subscription,
    /// The shared invalid-request budget, to start on the built integration.
    pub budget: BudgetSync,
}

/// The [revocation broadcast](Builder::revocation_broadcast) of a built integration, if any.
#[derive(Debug)]
pub struct Subscription(Option<Arc<dyn Broadcast>>);

impl Subscription {
    /// Applies every revocation the broadcast hears from other instances to `target` (held
    /// weakly: the subscription does not keep it alive).
    pub fn subscribe<S: Send + Sync + 'static>(self, target: &Arc<S>, apply: fn(&S, Revocation)) {
        if let Some(broadcast) = &self.0 {
            let weak: Weak<S> = Arc::downgrade(target);
            broadcast.subscribe(Arc::new(move |revocation| {
                if let Some(target) = weak.upgrade() {
                    apply(&target, revocation);
                }
            }));
        }
    }
}

/// The settings of an integration `I` (see the [module docs](self)).
///
/// A framework integration implements [`Integration`] to receive the built [`Parts`]:
///
/// ```
/// use std::time::Duration;
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_runtime::builder::{Builder, Integration, Parts};
///
/// /// A framework's integration: here it only keeps the parts.
/// struct MyIntegration(Parts);
///
/// impl Integration for MyIntegration {
///     const DEFAULT_CACHE_CAPACITY: usize = 1024;
///     fn build(parts: Parts) -> Self {
///         MyIntegration(parts)
///     }
/// }
///
/// let config = LoginConfig::builder("157730590492196864", "https://app.example/auth/callback").build()?;
/// // Tests plug in the mock Discord; sites use `ReqwestTransport` (the `reqwest` feature).
/// let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Vec::new()))
/// });
/// let MyIntegration(parts) = Builder::<MyIntegration>::new(config, transport)
///     .timeout(Duration::from_secs(5))
///     .cache_ttl(Duration::from_secs(10))
///     .max_concurrent_requests(16)
///     .build();
///
/// assert_eq!(parts.io.timeout(), Duration::from_secs(5));
/// assert_eq!(parts.io.outbound().max_concurrent(), 16);
/// assert_eq!(parts.cache_ttl, Duration::from_secs(10));
/// assert_eq!(parts.cache_capacity, 1024); // the integration's default
/// assert!(!parts.refresh.is_shared()); // in-process single flight unless `refresh_lock`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "call `.build()`"]
pub struct Builder<I> {
    config: LoginConfig,
    transport: Arc<dyn Transport>,
    timeout: Duration,
    store_timeout: Duration,
    cache_ttl: Duration,
    cache_capacity: Option<usize>,
    clock: Clock,
    refresh: RefreshLocks,
    max_concurrent_requests: usize,
    broadcast: Option<Arc<dyn Broadcast>>,
    budget: Option<Arc<dyn SharedBudget>>,
    api: ApiDriverConfig,
    integration: PhantomData<fn() -> I>,
}

impl<I> fmt::Debug for Builder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("store_timeout", &self.store_timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("refresh", &self.refresh)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("broadcast", &self.broadcast)
            .field("shared_budget", &self.budget.is_some())
            .finish_non_exhaustive()
    }
}

impl<I: Integration> Builder<I> {
    /// The defaults, for `config`, sending through `transport`.
    pub fn new(config: LoginConfig, transport: impl Transport) -> Self {
        Self {
            config,
            transport: Arc::new(transport),
            timeout: DEFAULT_TIMEOUT,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_capacity: None,
            clock: Arc::new(SystemTime::now),
            refresh: RefreshLocks::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            broadcast: None,
            budget: None,
            api: ApiDriverConfig::default(),
            integration: PhantomData,
        }
    }

    /// The time limit for one request to Discord (default 10 s). A hung Discord then costs a
    /// request at most this long (checklist K-02).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time limit for one session store operation (default [`DEFAULT_STORE_TIMEOUT`],
    /// 2 s). A store that does not answer in time is down for that request: `503` with
    /// `Retry-After`, never "logged out".
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How long a login seen with a `Cookie` header is served from memory without reading
    /// the store (default [`DEFAULT_CACHE_TTL`], 30 s). This bounds how long a logout on
    /// another instance without a [revocation broadcast](Self::revocation_broadcast) takes to
    /// be seen here, and how long a store outage goes unnoticed by sessions cached here; zero
    /// turns the cache (and the fast path) off. It is counted on the integration's clock
    /// ([`Builder::clock`]), the one the login's expiry is read with. A clock step never
    /// makes a cached login served longer: a step back hides what was cached after the new
    /// time, a step forward ends entries early (they are read from the store again).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many `Cookie` headers the in-process cache holds at most (default
    /// [`Integration::DEFAULT_CACHE_CAPACITY`]); also bounded in bytes (see
    /// `discord_oauth_core::fast_index`).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// Replaces the wall clock (default `SystemTime::now`). For tests that need time to pass
    /// (token expiry, session lifetime) and for clock-skew drills.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_runtime::builder::{Builder, Integration, Parts};
    /// use discord_oauth_runtime::Clock;
    /// # struct MyIntegration(Parts);
    /// # impl Integration for MyIntegration {
    /// #     const DEFAULT_CACHE_CAPACITY: usize = 1024;
    /// #     fn build(parts: Parts) -> Self {
    /// #         MyIntegration(parts)
    /// #     }
    /// # }
    ///
    /// // A test's clock, moved forward by hand.
    /// let ahead = Arc::new(AtomicU64::new(0));
    /// let shift = Arc::clone(&ahead);
    /// let clock: Clock = Arc::new(move || SystemTime::now() + Duration::from_secs(shift.load(Ordering::Relaxed)));
    ///
    /// let config = LoginConfig::builder("157730590492196864", "https://app.example/auth/callback").build()?;
    /// let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Vec::new()))
    /// });
    /// let MyIntegration(parts) = Builder::<MyIntegration>::new(config, transport).clock(clock).build();
    ///
    /// ahead.store(8 * 24 * 3600, Ordering::Relaxed); // a week and a day later: tokens expired
    /// assert!(parts.io.now() > SystemTime::now() + Duration::from_secs(7 * 24 * 3600));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A refresh lock the instances share (default: an in-process one, which covers one
    /// process): a Redis lock (each integration's `RedisRefreshLock`, cargo feature
    /// `redis`), or any [`SharedLock`](crate::refresh::SharedLock). Without one, two
    /// instances may refresh the same session at once, and the second refresh fails because
    /// Discord rotated the refresh token (the store is then re-read where the framework
    /// allows it). See [`RefreshLocks`]: the lock is held for at most twice the
    /// [timeout](Self::timeout) plus 10 s; requests waiting longer get a `503`.
    ///
    /// ```
    /// use discord_oauth_runtime::{Builder, Integration};
    /// use discord_oauth_runtime::redis::{RedisClient, RedisLock};
    ///
    /// fn share<I: Integration, C: RedisClient>(builder: Builder<I>, redis: C) -> Builder<I> {
    ///     // Sites sharing one Redis keep their locks apart with a prefix.
    ///     builder.refresh_lock(RedisLock::<C>::new(redis).prefix("my-site:refresh:"))
    /// }
    /// ```
    pub fn refresh_lock(mut self, lock: impl Into<RefreshLocks>) -> Self {
        self.refresh = lock.into();
        self
    }

    /// How many requests to Discord are in flight at most (default 32; at least 1). More
    /// wait for a free slot, up to the [timeout](Self::timeout); past it they are not sent,
    /// and the user gets a `503` with `Retry-After` (checklist K-04). Whatever this bound,
    /// after a global `429` nothing is sent until the announced wait is over (K-03).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// Where ended logins are announced to the other instances (and heard from them), e.g.
    /// each integration's `RedisRevocations` (cargo feature `redis`): then a logout on one
    /// instance ends every cached copy of the session on all of them at once, instead of
    /// within the [cache TTL](Self::cache_ttl).
    ///
    /// ```
    /// use discord_oauth_core::login::revocation::channel_for;
    /// use discord_oauth_runtime::{Builder, Integration};
    /// use discord_oauth_runtime::redis::{RedisClient, RedisError, RedisRevocations};
    ///
    /// async fn broadcast<I: Integration, C: RedisClient>(builder: Builder<I>, redis: C) -> Result<Builder<I>, RedisError> {
    ///     // One channel per Discord application: sites of other applications on the same
    ///     // Redis do not hear its logouts.
    ///     let revocations = RedisRevocations::start(redis, &channel_for("157730590492196864")).await?;
    ///     Ok(builder.revocation_broadcast(revocations))
    /// }
    /// ```
    pub fn revocation_broadcast(mut self, broadcast: impl Broadcast) -> Self {
        self.broadcast = Some(Arc::new(broadcast));
        self
    }

    /// Shares the invalid-request budget with the other instances of the site, e.g. through
    /// Redis with each integration's `RedisBudget` (cargo feature `redis`;
    /// [`crate::redis::RedisBudget`]): every 2 s the built integration publishes how many
    /// `401`, `403` and non-shared `429` answers it counted in the last 10 minutes and reads
    /// the others' sum, which then counts here too. A call is refused
    /// ([`Throttled::InvalidRequestBudget`](discord_oauth_core::api::ratelimit::Throttled::InvalidRequestBudget),
    /// `503` with `Retry-After`) once this instance's count and the others' together reach
    /// the [threshold](ApiDriverConfig::invalid_request_threshold), which then bounds the
    /// instances together. A background task does the exchange, started by
    /// [`build`](Self::build) (call it inside a tokio runtime); requests never wait for it.
    /// See [`crate::budget`] for staleness and what happens while the store is down.
    ///
    /// ```
    /// use discord_oauth_runtime::{Builder, Integration};
    /// use discord_oauth_runtime::redis::{RedisBudget, RedisClient};
    ///
    /// fn share<I: Integration, C: RedisClient>(builder: Builder<I>, redis: C) -> Builder<I> {
    ///     builder.shared_budget(RedisBudget::<C>::new(redis))
    /// }
    /// ```
    pub fn shared_budget(mut self, budget: impl SharedBudget) -> Self {
        self.budget = Some(Arc::new(budget));
        self
    }

    /// The settings of users' API calls (the `DiscordClient` extractors): the read cache's
    /// time to live (default 30 s) and bounds, the longest wait for a rate-limit turn
    /// (default 5 s), the rate limiter's bounds and the invalid-request threshold.
    pub fn api(mut self, config: ApiDriverConfig) -> Self {
        self.api = config;
        self
    }

    /// Builds the integration.
    pub fn build(self) -> I {
        let mut config = self.config;
        // Logins in progress are sealed into cookies with this key (random per process
        // unless the configuration names one: see `LoginConfigBuilder::login_cookie_key`).
        config.ensure_login_cookie_key(&mut rand::rng());
        let revocations = Revocations::default().with_broadcast(self.broadcast.clone());
        let outbound = Outbound::new(self.max_concurrent_requests);
        I::build(Parts {
            driver: Driver::new(config, self.api).with_revocations(revocations),
            io: Io::shared(self.transport, self.timeout, outbound).with_clock(self.clock),
            refresh: self.refresh,
            cache_ttl: self.cache_ttl,
            cache_capacity: self.cache_capacity.unwrap_or(I::DEFAULT_CACHE_CAPACITY),
            store_timeout: self.store_timeout,
            broadcast: Subscription(self.broadcast),
            budget: BudgetSync(self.budget),
        })
    }
}
