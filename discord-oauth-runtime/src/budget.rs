//! The invalid-request budget shared by the instances of a site: [`SharedBudget`], and the
//! background task that keeps an integration's budget in step with it.
//!
//! Discord counts invalid requests (`401`, `403`, `429` unless shared) per IP address and
//! blocks the address after 10,000 in 10 minutes. Each integration's user-API driver counts
//! its own in a sliding window and refuses to send past its threshold
//! ([`discord_oauth_core::api::client`], "The invalid-request budget"); instances behind one
//! address should count together. Given a [`SharedBudget`] (the Redis one is
//! [`RedisBudget`](crate::redis::RedisBudget): each integration's `RedisBudget`, cargo feature
//! `redis`) with [`Builder::shared_budget`](crate::Builder::shared_budget), a built
//! integration runs one background task that, every [`SharedBudget::interval`]:
//!
//! 1. reads this instance's own count in the window
//!    ([`ApiDriver::invalid_requests_here`](discord_oauth_core::api::client::ApiDriver::invalid_requests_here));
//! 2. publishes it and reads the sum of the other instances' counts
//!    ([`SharedBudget::exchange`]);
//! 3. sets that sum as counted elsewhere
//!    ([`ApiDriver::set_invalid_requests_elsewhere`](discord_oauth_core::api::client::ApiDriver::set_invalid_requests_elsewhere)):
//!    from then on a call is refused once this instance's count and the others' together
//!    reach the threshold, exactly as if this instance had counted them.
//!
//! The task never blocks a request: requests only read the driver's figures, which the task
//! replaces. When the store cannot be reached the task logs it (once per outage) and keeps
//! the others' last figure for [`SharedBudget::staleness`], then counts this instance only
//! until the store answers again. It ends when the integration is dropped.
//!
//! # Staleness
//! An invalid answer counted on one instance reaches the others within two intervals (it is
//! published at the next exchange and read at theirs): 4 s with the default 2 s. In that time
//! the instances together may pass the threshold by what they count in it; that is one reason
//! the threshold sits far below Discord's 10,000.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use discord_oauth_core::api::client::ClientIo as _;

use crate::api::Site;

/// How often an instance exchanges its count by default: every 2 s.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// How long a figure stays good by default: 10 s (five intervals). An instance that has not
/// published for that long no longer counts for the others, and the others' last figure no
/// longer counts here when the store has not answered for that long.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(10);

/// The shortest interval the task runs at (100 ms), whatever [`SharedBudget::interval`] says.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// The shared store could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SharedBudgetError(pub String);

/// Where the instances of a site share their invalid-request counts (see the
/// [module docs](self)): [`RedisBudget`](crate::redis::RedisBudget), or any store that can
/// keep one figure per instance.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use discord_oauth_runtime::budget::{DEFAULT_STALE_AFTER, DEFAULT_SYNC_INTERVAL, SharedBudget, SharedBudgetError};
///
/// /// A store kept by this process alone (a real one is shared: Redis, a database).
/// #[derive(Default)]
/// struct OneFigure(Mutex<u32>);
///
/// impl SharedBudget for OneFigure {
///     fn interval(&self) -> Duration {
///         DEFAULT_SYNC_INTERVAL
///     }
///     fn staleness(&self) -> Duration {
///         DEFAULT_STALE_AFTER
///     }
///     fn exchange(&self, here: u32) -> Pin<Box<dyn Future<Output = Result<u32, SharedBudgetError>> + Send + '_>> {
///         Box::pin(async move {
///             let mut published = self.0.lock().map_err(|e| SharedBudgetError(e.to_string()))?;
///             *published = here;
///             Ok(0) // no other instance published anything
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), SharedBudgetError> {
/// let budget = OneFigure::default();
/// assert_eq!(budget.exchange(3).await?, 0);
/// // Then: `builder.shared_budget(budget)` (see `Builder::shared_budget`).
/// # Ok(()) }
/// ```
pub trait SharedBudget: Send + Sync + 'static {
    /// How often to exchange ([`DEFAULT_SYNC_INTERVAL`] for the Redis budget).
    fn interval(&self) -> Duration;

    /// How long the others' last figure counts here when the store stops answering
    /// ([`DEFAULT_STALE_AFTER`] for the Redis budget).
    fn staleness(&self) -> Duration;

    /// Publishes `here`, this instance's invalid requests in the window, and returns the sum
    /// of what the other live instances published (without `here`).
    fn exchange(&self, here: u32) -> Pin<Box<dyn Future<Output = Result<u32, SharedBudgetError>> + Send + '_>>;
}

/// The [shared budget](crate::Builder::shared_budget) of a built integration, if any: what
/// [`Builder::build`](crate::Builder::build) hands the integration, which starts it on its
/// shared state.
pub struct BudgetSync(pub(crate) Option<Arc<dyn SharedBudget>>);

impl fmt::Debug for BudgetSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BudgetSync").field(&self.0.is_some()).finish()
    }
}

impl BudgetSync {
    /// Starts the task that keeps `site`'s budget in step with the other instances (held
    /// weakly: the task ends once `site` is dropped). Needs a tokio runtime; without one
    /// (or without a shared budget) nothing starts, and the former is logged.
    ///
    /// An integration starts it when it is built, on the state its requests share:
    ///
    /// ```
    /// use std::future::{Future, ready};
    /// use std::pin::Pin;
    /// use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::Driver;
    /// use discord_oauth_runtime::api::Site;
    /// use discord_oauth_runtime::budget::{DEFAULT_STALE_AFTER, SharedBudget, SharedBudgetError};
    /// use discord_oauth_runtime::builder::{Builder, Integration, Parts};
    /// use discord_oauth_runtime::Io;
    ///
    /// /// Other instances that counted 40 invalid requests between them.
    /// struct Others;
    /// impl SharedBudget for Others {
    ///     fn interval(&self) -> Duration {
    ///         Duration::from_secs(2)
    ///     }
    ///     fn staleness(&self) -> Duration {
    ///         DEFAULT_STALE_AFTER
    ///     }
    ///     fn exchange(&self, _here: u32) -> Pin<Box<dyn Future<Output = Result<u32, SharedBudgetError>> + Send + '_>> {
    ///         Box::pin(ready(Ok(40)))
    ///     }
    /// }
    ///
    /// /// What the integration's requests share.
    /// struct App {
    ///     driver: Driver,
    ///     io: Io,
    /// }
    /// impl Site for App {
    ///     fn driver(&self) -> &Driver {
    ///         &self.driver
    ///     }
    ///     fn io(&self) -> &Io {
    ///         &self.io
    ///     }
    /// }
    ///
    /// struct MyIntegration(Arc<App>);
    /// impl Integration for MyIntegration {
    ///     const DEFAULT_CACHE_CAPACITY: usize = 1024;
    ///     fn build(parts: Parts) -> Self {
    ///         let app = Arc::new(App { driver: parts.driver, io: parts.io });
    ///         parts.budget.start(&app); // ends when `app` is dropped
    ///         MyIntegration(app)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = LoginConfig::builder("157730590492196864", "https://app.example/auth/callback").build()?;
    /// let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Vec::new()))
    /// });
    /// let MyIntegration(app) = Builder::<MyIntegration>::new(config, transport).shared_budget(Others).build();
    /// tokio::task::yield_now().await; // the budget's task makes its first exchange
    /// assert_eq!(app.driver.api().invalid_requests(Instant::now()), 40, "counted elsewhere, counted here");
    /// # Ok(()) }
    /// ```
    pub fn start<S: Site>(self, site: &Arc<S>) {
        let Some(shared) = self.0 else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sync(Arc::downgrade(site), shared));
        } else {
            tracing::error!(
                "the invalid-request budget is not shared: build the integration inside a tokio runtime; \
                 this instance counts its own invalid requests only"
            );
        }
    }
}

/// The task: exchange, set, sleep, until the site is gone.
async fn sync<S: Site>(site: Weak<S>, shared: Arc<dyn SharedBudget>) {
    let interval = shared.interval().max(MIN_SYNC_INTERVAL);
    let stale_after = shared.staleness();
    let mut last_read: Option<Instant> = None;
    let mut failing = false;
    loop {
        let here = {
            let Some(site) = site.upgrade() else { return };
            let now = site.io().instant();
            site.driver().api().invalid_requests_here(now)
        };
        // Bounded by the store's own timeouts, and by the staleness here in any case.
        let exchanged = tokio::time::timeout(stale_after.max(interval), shared.exchange(here))
            .await
            .unwrap_or_else(|_| Err(SharedBudgetError(format!("no answer within {stale_after:?}"))));
        let Some(site) = site.upgrade() else { return };
        let now = site.io().instant();
        let api = site.driver().api();
        match exchanged {
            Ok(elsewhere) => {
                api.set_invalid_requests_elsewhere(elsewhere, now);
                last_read = Some(now);
                if failing {
                    tracing::info!(elsewhere, "the shared invalid-request budget answers again");
                    failing = false;
                }
                tracing::trace!(here, elsewhere, "exchanged invalid-request counts");
            }
            Err(e) => {
                if failing {
                    tracing::debug!(error = %e, "the shared invalid-request budget is still unreachable");
                } else {
                    tracing::warn!(
                        error = %e,
                        stale_after_ms = u64::try_from(stale_after.as_millis()).unwrap_or(u64::MAX),
                        "could not share the invalid-request budget; the other instances' last count is kept \
                         for stale_after, then this instance counts its own only until the store answers"
                    );
                    failing = true;
                }
                if last_read.is_none_or(|read| now.saturating_duration_since(read) >= stale_after) {
                    api.set_invalid_requests_elsewhere(0, now);
                }
            }
        }
        drop(site);
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use discord_oauth_core::api::client::ApiDriverConfig;
    use discord_oauth_core::api::ratelimit::Throttled;
    use discord_oauth_core::api::{self, client::ClientError};
    use discord_oauth_core::login::LoginConfig;
    use discord_oauth_core::login::driver::Driver;
    use discord_oauth_core::{AccessToken, Endpoints};

    use super::*;
    use crate::redis::{DEFAULT_BUDGET_KEY, MAX_BUDGET_INSTANCES, RedisBudget, RedisClient, RedisError, Reply};
    use crate::{BoxFuture, Io, Outbound};

    /// An in-memory Redis with the commands the budget sends: hashes with a key expiry, and
    /// a clock the test moves (`TIME`). `down` makes every command fail.
    #[derive(Clone, Default)]
    struct FakeRedis(Arc<Mutex<Fake>>);

    #[derive(Default)]
    struct Fake {
        now_ms: u64,
        hashes: HashMap<String, (HashMap<String, String>, Option<u64>)>,
        down: bool,
    }

    impl FakeRedis {
        fn advance(&self, by: Duration) {
            self.0.lock().unwrap().now_ms += u64::try_from(by.as_millis()).unwrap();
        }

        fn fields(&self, key: &str) -> Vec<String> {
            let mut fake = self.0.lock().unwrap();
            fake.expire();
            let mut fields: Vec<String> = fake
                .hashes
                .get(key)
                .map(|h| h.0.keys().cloned().collect())
                .unwrap_or_default();
            fields.sort();
            fields
        }

        fn set_down(&self, down: bool) {
            self.0.lock().unwrap().down = down;
        }
    }

    impl Fake {
        fn expire(&mut self) {
            let now = self.now_ms;
            self.hashes.retain(|_, (_, expires)| expires.is_none_or(|at| at > now));
        }
    }

    impl RedisClient for FakeRedis {
        fn run(&self, command: &'static str, args: Vec<String>) -> BoxFuture<Result<Reply, RedisError>> {
            let mut fake = self.0.lock().unwrap();
            fake.expire();
            let reply = if fake.down {
                Err(RedisError("connection refused".into()))
            } else {
                let now = fake.now_ms;
                Ok(match command {
                    "TIME" => Reply::List(vec![(now / 1000).to_string(), ((now % 1000) * 1000).to_string()]),
                    "HGETALL" => Reply::List(
                        fake.hashes
                            .get(&args[0])
                            .map(|h| h.0.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect())
                            .unwrap_or_default(),
                    ),
                    "HSET" => {
                        let hash = fake.hashes.entry(args[0].clone()).or_default();
                        hash.0.insert(args[1].clone(), args[2].clone());
                        Reply::Int(1)
                    }
                    "HDEL" => {
                        let hash = fake.hashes.entry(args[0].clone()).or_default();
                        Reply::Int(
                            i64::try_from(args[1..].iter().filter(|f| hash.0.remove(*f).is_some()).count()).unwrap(),
                        )
                    }
                    "PEXPIRE" => {
                        let ms: u64 = args[1].parse().unwrap();
                        match fake.hashes.get_mut(&args[0]) {
                            Some(hash) => {
                                hash.1 = Some(now + ms);
                                Reply::Int(1)
                            }
                            None => Reply::Int(0),
                        }
                    }
                    other => panic!("the budget does not send {other}"),
                })
            };
            Box::pin(std::future::ready(reply))
        }
    }

    #[tokio::test]
    async fn instances_see_each_others_counts_and_a_dead_ones_expires() {
        let redis = FakeRedis::default();
        let budget = || RedisBudget::<FakeRedis>::new(redis.clone());
        let (a, b, c) = (budget(), budget(), budget());
        assert_ne!(
            a.instance_id(),
            b.instance_id(),
            "every budget is an instance of its own"
        );

        assert_eq!(a.exchange(5).await.unwrap(), 0, "alone so far");
        assert_eq!(b.exchange(0).await.unwrap(), 5, "b sees a's count");
        assert_eq!(c.exchange(2).await.unwrap(), 5, "c sees both, b's being 0");
        assert_eq!(a.exchange(6).await.unwrap(), 2, "a sees the others', never its own");
        assert_eq!(b.exchange(0).await.unwrap(), 8);
        assert_eq!(redis.fields(DEFAULT_BUDGET_KEY).len(), 3, "one field per instance");

        // `a` stops. Within the staleness its count still counts; past it, it drops out, and
        // the first instance to notice removes its field.
        redis.advance(DEFAULT_STALE_AFTER.checked_sub(Duration::from_millis(1)).unwrap());
        assert_eq!(b.exchange(0).await.unwrap(), 8, "a's figure is not stale yet");
        redis.advance(Duration::from_millis(1));
        assert_eq!(
            c.exchange(2).await.unwrap(),
            0,
            "a's figure is stale: a no longer counts"
        );
        let mut live = vec![b.instance_id().to_owned(), c.instance_id().to_owned()];
        live.sort();
        assert_eq!(redis.fields(DEFAULT_BUDGET_KEY), live, "a's field is gone");
        assert_eq!(b.exchange(0).await.unwrap(), 2);

        // Once every instance is gone, so is the hash.
        redis.advance(DEFAULT_STALE_AFTER);
        assert!(redis.fields(DEFAULT_BUDGET_KEY).is_empty());

        // Another key is another budget.
        let elsewhere = RedisBudget::<FakeRedis>::new(redis.clone()).key("other-address:budget");
        assert_eq!(b.exchange(4).await.unwrap(), 0);
        assert_eq!(
            elsewhere.exchange(1).await.unwrap(),
            0,
            "b's count is under the default key"
        );
    }

    #[tokio::test]
    async fn unreadable_fields_are_dropped_and_the_hash_stays_bounded() {
        let redis = FakeRedis::default();
        let a = RedisBudget::<FakeRedis>::new(redis.clone());
        redis
            .run(
                "HSET",
                vec![DEFAULT_BUDGET_KEY.into(), "junk".into(), "not a count".into()],
            )
            .await
            .unwrap();
        assert_eq!(a.exchange(1).await.unwrap(), 0, "an unreadable field counts nothing");
        assert_eq!(redis.fields(DEFAULT_BUDGET_KEY), [a.instance_id().to_owned()]);

        // A hash already holding the most instances takes no more (the newcomer still reads).
        for i in 0..MAX_BUDGET_INSTANCES {
            let args = vec![DEFAULT_BUDGET_KEY.into(), format!("instance-{i}"), "1:0".into()];
            redis.run("HSET", args).await.unwrap();
        }
        let late = RedisBudget::<FakeRedis>::new(redis.clone());
        let seen = late.exchange(9).await.unwrap();
        assert_eq!(seen, 1 + u32::try_from(MAX_BUDGET_INSTANCES).unwrap());
        assert!(
            !redis
                .fields(DEFAULT_BUDGET_KEY)
                .contains(&late.instance_id().to_owned())
        );
        assert_eq!(redis.fields(DEFAULT_BUDGET_KEY).len(), MAX_BUDGET_INSTANCES + 1);
    }

    /// An integration's shared state, as far as the budget task reads it.
    type TestSite = crate::api::doc_support::App;

    /// A site whose Discord answers `401` to every request, counting what it was sent.
    fn site(threshold: u32, sent: Arc<Mutex<u32>>) -> Arc<TestSite> {
        let config = LoginConfig::builder("1", "https://a.example/auth/callback")
            .build()
            .unwrap();
        let api = ApiDriverConfig {
            invalid_request_threshold: threshold,
            ..ApiDriverConfig::uncached()
        };
        let transport = tower::service_fn(move |_req: http::Request<Vec<u8>>| {
            *sent.lock().unwrap() += 1;
            let response = http::Response::builder().status(401).body(b"{}".to_vec()).unwrap();
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        Arc::new(TestSite {
            driver: Driver::new(config, api),
            io: Io::new(transport, Duration::from_secs(5), Outbound::new(4)),
        })
    }

    async fn call(site: &TestSite, token: &str) -> ClientError {
        let call = api::current_user(&Endpoints::discord(), &AccessToken::new(token.into()));
        site.driver.api().call_as_built(&site.io, &call).await.unwrap_err()
    }

    /// Waits (up to a generous deadline) for `condition`.
    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_sites_invalid_answers_close_the_others_budget() {
        let redis = FakeRedis::default();
        let stale_after = Duration::from_millis(500);
        let budget = || {
            RedisBudget::<FakeRedis>::new(redis.clone())
                .sync_every(MIN_SYNC_INTERVAL)
                .stale_after(stale_after)
        };
        let (budget_a, budget_b) = (budget(), budget());
        let a_id = budget_a.instance_id().to_owned();
        let (sent_a, sent_b) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
        let (a, b) = (site(3, Arc::clone(&sent_a)), site(3, Arc::clone(&sent_b)));
        BudgetSync(Some(Arc::new(budget_a))).start(&a);
        BudgetSync(Some(Arc::new(budget_b))).start(&b);
        let elsewhere_at_b = || b.driver.api().invalid_requests(Instant::now());

        for _ in 0..3 {
            assert!(matches!(call(&a, "stale").await, ClientError::TokenRejected));
        }
        assert_eq!(*sent_a.lock().unwrap(), 3);
        eventually("b hears of a's three invalid answers", || elsewhere_at_b() == 3).await;
        let refused = call(&b, "any").await;
        assert!(
            matches!(refused, ClientError::Throttled(Throttled::InvalidRequestBudget { .. })),
            "{refused:?}"
        );
        assert_eq!(*sent_b.lock().unwrap(), 0, "b sent nothing");
        assert_eq!(b.driver.api().invalid_requests_here(Instant::now()), 0);

        // Redis goes down: b keeps a's last figure for the staleness, then counts its own only.
        redis.set_down(true);
        eventually("b forgets a's figure once it is stale", || elsewhere_at_b() == 0).await;
        assert!(
            matches!(call(&b, "any").await, ClientError::TokenRejected),
            "b sends again"
        );
        assert_eq!(*sent_b.lock().unwrap(), 1);
        redis.set_down(false);
        eventually("b reads a's figure again", || elsewhere_at_b() == 4).await;

        // a stops (its task ends with it): as Redis's clock moves on, its field goes stale,
        // drops out of the hash, and no longer counts at b.
        drop(a);
        eventually("a's count drops out", || {
            redis.advance(Duration::from_millis(100));
            elsewhere_at_b() == 1 && !redis.fields(DEFAULT_BUDGET_KEY).contains(&a_id)
        })
        .await;
    }
}
