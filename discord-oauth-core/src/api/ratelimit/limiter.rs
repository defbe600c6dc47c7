//! The per-token, per-bucket rate limiter: [`RateLimiter`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method};

use super::{RouteKey, Throttled, TokenKey};
use crate::bounded::make_room;
use crate::login::outbound::HELD_HEADER;
use crate::response::RateLimit;

/// Discord's global limit: requests per second per token.
pub const DEFAULT_GLOBAL_PER_SECOND: u32 = 50;

/// The longest wait [`RateLimiter::acquire`] hands out (5 s); a longer one is refused with
/// [`Throttled::RateLimited`], so that no caller is parked for long.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

/// How soon a request waiting for the first answer of a bucket is told to ask again (100 ms).
pub const DEFAULT_UNKNOWN_BUCKET_POLL: Duration = Duration::from_millis(100);

/// How long a [`Permit`] that is neither recorded nor released counts as in flight (30 s):
/// after that it is presumed lost, and its bucket is free again.
pub const DEFAULT_IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(30);

/// The wait after a `429` that names no time at all (10 s). Discord's own `429`s always carry
/// `retry_after`; one without is a Cloudflare or proxy page, which usually means a block of
/// the whole address, not of one route: better to answer "try again in 10 s" at once than to
/// keep knocking.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The length of the global window.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

/// The longest `X-RateLimit-Bucket` value kept; longer ones are ignored.
const MAX_BUCKET_HASH_BYTES: usize = 64;

/// The settings and bounds of a [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiterConfig {
    /// Requests per second per token, in any sliding one-second window
    /// ([`DEFAULT_GLOBAL_PER_SECOND`]). `0` is treated as `1`.
    pub global_per_second: u32,
    /// The longest wait handed out before a request is refused ([`DEFAULT_MAX_WAIT`]).
    pub max_wait: Duration,
    /// How soon a request behind another one on a bucket whose limits are not known yet asks
    /// again ([`DEFAULT_UNKNOWN_BUCKET_POLL`]).
    pub unknown_bucket_poll: Duration,
    /// How long an unanswered permit counts as in flight ([`DEFAULT_IN_FLIGHT_TIMEOUT`]).
    pub in_flight_timeout: Duration,
    /// The wait after a `429` that names none ([`DEFAULT_RETRY_AFTER`]).
    pub default_retry_after: Duration,
    /// Most tokens tracked (global windows and global pauses), default 10,000. Each holds at
    /// most `global_per_second` timestamps.
    pub max_tokens: usize,
    /// Most buckets tracked (one per token, bucket and major parameter), default 50,000.
    pub max_buckets: usize,
    /// Most routes whose bucket hash is remembered (shared by all tokens), default 1,024.
    pub max_routes: usize,
}

impl Default for RateLimiterConfig {
    fn default() -> Self {
        Self {
            global_per_second: DEFAULT_GLOBAL_PER_SECOND,
            max_wait: DEFAULT_MAX_WAIT,
            unknown_bucket_poll: DEFAULT_UNKNOWN_BUCKET_POLL,
            in_flight_timeout: DEFAULT_IN_FLIGHT_TIMEOUT,
            default_retry_after: DEFAULT_RETRY_AFTER,
            max_tokens: 10_000,
            max_buckets: 50_000,
            max_routes: 1_024,
        }
    }
}

/// Why a request has to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// Another request on this bucket is in flight and its limits are not known yet: only one
    /// request at a time until the first answer says how many may follow.
    UnknownBucket,
    /// The bucket's `X-RateLimit-Remaining` is used up until its reset.
    BucketExhausted,
    /// Discord answered `429` on this route.
    RouteRateLimited,
    /// This token sent its `global_per_second` requests in the last second.
    GlobalLimit,
    /// Discord answered a global (or Cloudflare) `429` for this token: every route waits.
    TokenRateLimited,
}

impl WaitReason {
    /// `true` if the wait holds every route of the token, not only this one.
    pub fn is_token_wide(self) -> bool {
        matches!(self, Self::GlobalLimit | Self::TokenRateLimited)
    }
}

/// What [`RateLimiter::acquire`] decided.
#[derive(Debug)]
#[must_use = "a request may only be sent with a permit"]
pub enum Acquire {
    /// Send the request now, then hand the answer to [`RateLimiter::record`] with this permit
    /// (or, if no answer came, to [`RateLimiter::release`]).
    Permit(Permit),
    /// Do not send yet: call `acquire` again at `until` (no later than the configured
    /// `max_wait` from now).
    Wait {
        /// When to ask again.
        until: Instant,
        /// Why.
        reason: WaitReason,
    },
    /// Do not send: the wait would be longer than allowed. Answer the caller with the error
    /// (e.g. `503` with `Retry-After`).
    Refuse(Throttled),
}

/// The right to send one request; give it back with [`RateLimiter::record`] or
/// [`RateLimiter::release`]. A permit that is dropped instead keeps its bucket busy until
/// the configured `in_flight_timeout` has passed.
#[derive(Debug)]
#[must_use = "record the answer (or release the permit) so that the bucket is free again"]
pub struct Permit {
    token: TokenKey,
    route: RouteKey,
    bucket: BucketId,
    issued_at: Instant,
}

impl Permit {
    /// The token the request counts against.
    pub fn token(&self) -> TokenKey {
        self.token
    }

    /// The route of the request.
    pub fn route(&self) -> &RouteKey {
        &self.route
    }

    /// When the permit was given.
    pub fn issued_at(&self) -> Instant {
        self.issued_at
    }
}

/// What a `429` paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PauseScope {
    /// The route's bucket (for this token and major parameter).
    Route,
    /// Every route of the token: a global `429`, or a `429` that is not Discord's own (no JSON
    /// body, no bucket header: Cloudflare or a proxy).
    Token,
}

/// What [`RateLimiter::record`] learned from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Not a `429`: the bucket's limits (if the answer named them) were noted.
    Recorded,
    /// A `429`: the route or the whole token waits until `until`.
    RateLimited {
        /// What waits.
        scope: PauseScope,
        /// How long (the body's `retry_after`, else `Retry-After`, else
        /// `X-RateLimit-Reset-After`, else the configured default).
        retry_after: Duration,
        /// Until when.
        until: Instant,
        /// `X-RateLimit-Scope: shared`: a limit shared with others on the resource, which
        /// Discord does not count as an invalid request.
        shared: bool,
    },
}

/// Counts of what a [`RateLimiter`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiterStats {
    /// Tokens tracked (at most `max_tokens`).
    pub tokens: usize,
    /// Buckets tracked (at most `max_buckets`).
    pub buckets: usize,
    /// Routes with a known bucket hash (at most `max_routes`).
    pub routes: usize,
}

/// Where a bucket's state lives: under its route until Discord names its hash, then under
/// the hash (shared by every route with that hash) and the major parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketId {
    Route(RouteKey),
    Hash { hash: Arc<str>, major: Option<Arc<str>> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Learned {
    /// No answer yet: one request at a time.
    Unknown,
    /// Answered without `X-RateLimit-*` headers: only the global limit applies.
    Open,
    /// `X-RateLimit-Limit` requests per window.
    Limited(u32),
}

#[derive(Debug, Clone)]
struct Bucket {
    learned: Learned,
    remaining: u32,
    reset_at: Option<Instant>,
    paused_until: Option<Instant>,
    in_flight: u32,
    last_issued: Option<Instant>,
}

impl Bucket {
    fn new() -> Self {
        Self {
            learned: Learned::Unknown,
            remaining: 0,
            reset_at: None,
            paused_until: None,
            in_flight: 0,
            last_issued: None,
        }
    }

    /// Presumes permits lost once the newest one is older than `timeout`.
    fn expire_in_flight(&mut self, now: Instant, timeout: Duration) {
        if self.in_flight > 0
            && self
                .last_issued
                .is_some_and(|t| t.checked_add(timeout).is_none_or(|end| end <= now))
        {
            self.in_flight = 0;
        }
    }

    /// Whether dropping this bucket would lose anything that still matters at `now`.
    fn live(&self, now: Instant, timeout: Duration) -> bool {
        let in_flight = self.in_flight > 0
            && self
                .last_issued
                .is_some_and(|t| t.checked_add(timeout).is_none_or(|end| now < end));
        in_flight || self.paused_until.is_some_and(|p| now < p) || self.reset_at.is_some_and(|r| now < r)
    }

    /// When the oldest request in flight will be presumed lost, or `now + poll`, whichever
    /// comes first.
    fn next_check(&self, now: Instant, config: &RateLimiterConfig) -> Instant {
        let poll = now.checked_add(config.unknown_bucket_poll).unwrap_or(now);
        match self.last_issued.and_then(|t| t.checked_add(config.in_flight_timeout)) {
            Some(lost) if lost < poll => lost.max(now),
            _ => poll,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct TokenState {
    /// When each request of the last second was let through (at most `global_per_second`).
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl TokenState {
    fn prune(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| t.checked_add(GLOBAL_WINDOW).is_some_and(|end| end <= now))
        {
            self.sent.pop_front();
        }
    }

    fn live(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|p| now < p)
            || self
                .sent
                .back()
                .is_some_and(|t| t.checked_add(GLOBAL_WINDOW).is_none_or(|end| now < end))
    }
}

/// Discord's rate limits, kept per token, as a sans-IO state machine: ask before sending
/// ([`acquire`](Self::acquire)), tell it what Discord answered ([`record`](Self::record)).
/// It never sends into a bucket it knows to be exhausted, lets one request at a time through
/// a bucket whose limits it has not learned yet, keeps every token under Discord's global
/// limit (50 requests in any second), and holds every route of a token after a global `429`.
///
/// Time is an argument: the caller passes `now` and sleeps (or not) itself; an
/// [`Acquire::Wait`] says until when. One limiter serves a whole process (put it behind a
/// mutex); every framework adapter drives the same one.
///
/// # Bounds
/// - at most [`max_tokens`](RateLimiterConfig::max_tokens) tokens, each with at most
///   `global_per_second` timestamps (10,000 × 50 by default);
/// - at most [`max_buckets`](RateLimiterConfig::max_buckets) buckets (50,000);
/// - at most [`max_routes`](RateLimiterConfig::max_routes) remembered bucket hashes (1,024),
///   each route at most [`MAX_ROUTE_BYTES`](super::MAX_ROUTE_BYTES) long, each hash at most
///   64 bytes.
///
/// When a map is full, entries that no longer matter (no pause, reset or request in flight
/// ahead) go first; if that is not enough, an arbitrary tenth (see
/// [`make_room`](crate::bounded::make_room)). A forgotten bucket is relearned like a new one
/// (one request at a time until its first answer).
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::api::ratelimit::{Acquire, Outcome, RateLimiter, RouteKey, TokenKey, WaitReason};
///
/// let mut limiter = RateLimiter::default();
/// let token = TokenKey::from_bytes([7; 16]);
/// let route = RouteKey::new(http::Method::GET, "users/@me/guilds");
/// let t0 = Instant::now(); // any instant: the limiter never reads the clock
///
/// // The bucket is unknown: one request goes, the next one waits for its answer.
/// let Acquire::Permit(permit) = limiter.acquire(token, &route, t0) else { panic!() };
/// assert!(matches!(
///     limiter.acquire(token, &route, t0),
///     Acquire::Wait { reason: WaitReason::UnknownBucket, .. }
/// ));
///
/// // Discord answers: 1 request per 2 s, none left.
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-ratelimit-bucket", "41f9cd5d28af77da04563bcb1d67fdfd".parse()?);
/// headers.insert("x-ratelimit-limit", "1".parse()?);
/// headers.insert("x-ratelimit-remaining", "0".parse()?);
/// headers.insert("x-ratelimit-reset-after", "2".parse()?);
/// let t1 = t0 + Duration::from_millis(100);
/// assert_eq!(limiter.record(permit, 200, &headers, b"[]", t1), Outcome::Recorded);
///
/// // The next request waits exactly until the reset.
/// match limiter.acquire(token, &route, t1) {
///     Acquire::Wait { until, reason } => {
///         assert_eq!(until, t1 + Duration::from_secs(2));
///         assert_eq!(reason, WaitReason::BucketExhausted);
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(limiter.acquire(token, &route, t1 + Duration::from_secs(2)), Acquire::Permit(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimiterConfig,
    tokens: HashMap<TokenKey, TokenState>,
    buckets: HashMap<(TokenKey, BucketId), Bucket>,
    routes: HashMap<(Method, Arc<str>), Arc<str>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(RateLimiterConfig::default())
    }
}

impl RateLimiter {
    /// An empty limiter. Bounds of `0` are treated as `1`.
    pub fn new(mut config: RateLimiterConfig) -> Self {
        config.max_tokens = config.max_tokens.max(1);
        config.max_buckets = config.max_buckets.max(1);
        config.max_routes = config.max_routes.max(1);
        config.global_per_second = config.global_per_second.max(1);
        Self {
            config,
            tokens: HashMap::new(),
            buckets: HashMap::new(),
            routes: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RateLimiterConfig {
        &self.config
    }

    /// May a request on `route` with `token` be sent at `now`? Waits longer than the
    /// configured `max_wait` are refused; see [`acquire_before`](Self::acquire_before).
    pub fn acquire(&mut self, token: TokenKey, route: &RouteKey, now: Instant) -> Acquire {
        let deadline = now.checked_add(self.config.max_wait).unwrap_or(now);
        self.acquire_before(token, route, now, deadline)
    }

    /// Like [`acquire`](Self::acquire), but refuses any wait that ends after `deadline`. A
    /// caller that waits and asks again passes the same deadline each time (e.g. the first
    /// attempt plus its own budget), so that the waits add up to no more than that.
    pub fn acquire_before(&mut self, token: TokenKey, route: &RouteKey, now: Instant, deadline: Instant) -> Acquire {
        match self.try_acquire(token, route, now) {
            Ok(permit) => Acquire::Permit(permit),
            Err((until, reason)) if until > deadline => Acquire::Refuse(Throttled::RateLimited {
                retry_after: until.saturating_duration_since(now),
                global: reason.is_token_wide(),
            }),
            Err((until, reason)) => Acquire::Wait { until, reason },
        }
    }

    fn try_acquire(
        &mut self,
        token: TokenKey,
        route: &RouteKey,
        now: Instant,
    ) -> Result<Permit, (Instant, WaitReason)> {
        let limit = self.config.global_per_second as usize;
        if let Some(state) = self.tokens.get_mut(&token) {
            if let Some(until) = state.paused_until {
                if now < until {
                    return Err((until, WaitReason::TokenRateLimited));
                }
                state.paused_until = None;
            }
            state.prune(now);
            if state.sent.len() >= limit {
                let until = state
                    .sent
                    .front()
                    .and_then(|t| t.checked_add(GLOBAL_WINDOW))
                    .unwrap_or(now);
                return Err((until, WaitReason::GlobalLimit));
            }
        }

        let bucket_id = self.bucket_id(route);
        let key = (token, bucket_id);
        let config = self.config;
        if let Some(bucket) = self.buckets.get_mut(&key) {
            bucket.expire_in_flight(now, config.in_flight_timeout);
            if let Some(until) = bucket.paused_until {
                if now < until {
                    return Err((until, WaitReason::RouteRateLimited));
                }
                bucket.paused_until = None;
            }
            match bucket.learned {
                Learned::Unknown if bucket.in_flight > 0 => {
                    return Err((bucket.next_check(now, &config), WaitReason::UnknownBucket));
                }
                Learned::Unknown | Learned::Open => {}
                Learned::Limited(limit) => {
                    if bucket.reset_at.is_some_and(|r| r <= now) {
                        bucket.remaining = limit.saturating_sub(bucket.in_flight);
                        bucket.reset_at = None;
                    }
                    if bucket.remaining == 0 {
                        let until = match bucket.reset_at {
                            Some(reset) => reset,
                            None => bucket.next_check(now, &config),
                        };
                        return Err((until, WaitReason::BucketExhausted));
                    }
                    bucket.remaining -= 1;
                }
            }
            bucket.in_flight = bucket.in_flight.saturating_add(1);
            bucket.last_issued = Some(now);
        } else {
            make_room(&mut self.buckets, config.max_buckets, |b| {
                b.live(now, config.in_flight_timeout)
            });
            let mut bucket = Bucket::new();
            bucket.in_flight = 1;
            bucket.last_issued = Some(now);
            self.buckets.insert(key.clone(), bucket);
        }

        self.token_state(token, now).sent.push_back(now);
        Ok(Permit {
            token,
            route: route.clone(),
            bucket: key.1,
            issued_at: now,
        })
    }

    /// Learns from Discord's answer to the request `permit` allowed: the bucket's hash
    /// (`X-RateLimit-Bucket`, shared by every token from then on), its limit, what remains and
    /// when it resets. A `429` pauses the route, or every route of the token when it is global
    /// (`"global": true`, `X-RateLimit-Global`, `X-RateLimit-Scope: global`) or not Discord's
    /// own (an HTML page from Cloudflare), for the body's `retry_after`, else `Retry-After`,
    /// else `X-RateLimit-Reset-After`, else the configured `default_retry_after`.
    ///
    /// A local answer from the global-429 breaker
    /// ([`held_answer`](crate::login::outbound::held_answer)) was never sent: it only
    /// releases the permit.
    ///
    /// `X-RateLimit-Remaining` counts the answers Discord has seen; requests still in flight
    /// on the bucket are subtracted from it, which errs on the side of waiting.
    pub fn record(&mut self, permit: Permit, status: u16, headers: &HeaderMap, body: &[u8], now: Instant) -> Outcome {
        if headers.contains_key(HELD_HEADER) {
            self.release(permit, now);
            return Outcome::Recorded;
        }
        let config = self.config;
        let is_429 = status == 429;
        let rate_limit = if is_429 {
            RateLimit::from_parts(headers, body)
        } else {
            RateLimit::from_headers(headers)
        };
        let Permit {
            token, route, bucket, ..
        } = permit;

        let hash = rate_limit
            .bucket
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= MAX_BUCKET_HASH_BYTES);
        let target = match hash {
            Some(hash) => {
                let hash = self.learn_route(&route, hash);
                BucketId::Hash {
                    hash,
                    major: route.major_arc(),
                }
            }
            None => bucket.clone(),
        };

        // Give the permit back, moving the bucket under its hash if that is news.
        let mut state = self.buckets.remove(&(token, bucket.clone()));
        if let Some(state) = state.as_mut() {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        if target != bucket
            && let Some(existing) = self.buckets.remove(&(token, target.clone()))
        {
            state = Some(match state {
                Some(moved) => merge(existing, &moved),
                None => existing,
            });
        }
        let mut state = state.unwrap_or_else(Bucket::new);

        let announced =
            rate_limit.limit.is_some() || rate_limit.remaining.is_some() || rate_limit.reset_after.is_some();
        if announced {
            let limit = rate_limit
                .limit
                .or(match state.learned {
                    Learned::Limited(limit) => Some(limit),
                    _ => None,
                })
                .or(rate_limit.remaining.map(|r| r.saturating_add(1)))
                .unwrap_or(1)
                .max(1);
            // Answers overtake each other: within one window `Remaining` only goes down and the
            // reset only moves later, so an answer that arrives after a newer one must not give
            // back turns that are already spent.
            let same_window = matches!(state.learned, Learned::Limited(_)) && state.reset_at.is_some_and(|r| now < r);
            state.learned = Learned::Limited(limit);
            let told = rate_limit
                .remaining
                .unwrap_or(state.remaining)
                .min(limit)
                .saturating_sub(state.in_flight);
            state.remaining = if same_window { state.remaining.min(told) } else { told };
            if let Some(reset_after) = rate_limit.reset_after {
                let reset = now.checked_add(reset_after);
                state.reset_at = if same_window { state.reset_at.max(reset) } else { reset };
            }
        } else if state.learned == Learned::Unknown && !is_429 && status < 500 {
            state.learned = Learned::Open;
        }

        let outcome = if is_429 {
            let retry_after = rate_limit.retry_after.unwrap_or(config.default_retry_after);
            let until = now.checked_add(retry_after).unwrap_or(now);
            let discords_own = hash.is_some() || is_json_object(body);
            let scope = if rate_limit.global || !discords_own {
                PauseScope::Token
            } else {
                PauseScope::Route
            };
            match scope {
                PauseScope::Token => {
                    let token_state = self.token_state(token, now);
                    token_state.paused_until = Some(token_state.paused_until.map_or(until, |p| p.max(until)));
                }
                PauseScope::Route => {
                    state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
                }
            }
            Outcome::RateLimited {
                scope,
                retry_after,
                until,
                shared: rate_limit.scope.as_deref() == Some("shared"),
            }
        } else {
            Outcome::Recorded
        };

        make_room(&mut self.buckets, config.max_buckets, |b| {
            b.live(now, config.in_flight_timeout)
        });
        self.buckets.insert((token, target), state);
        outcome
    }

    /// Gives a permit back without an answer (the request failed before Discord answered, or
    /// was never sent), so that the next request on its bucket need not wait for
    /// `in_flight_timeout`.
    pub fn release(&mut self, permit: Permit, now: Instant) {
        let _ = now;
        if let Some(bucket) = self.buckets.get_mut(&(permit.token, permit.bucket)) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
    }

    /// How long every route of `token` is paused at `now` (a global `429`), if it is.
    pub fn token_paused_for(&self, token: TokenKey, now: Instant) -> Option<Duration> {
        self.tokens
            .get(&token)
            .and_then(|s| s.paused_until)
            .map(|until| until.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// The bucket hash Discord named for `route` (for any token), if one is known.
    pub fn bucket_hash(&self, route: &RouteKey) -> Option<&str> {
        self.routes.get(&route.route_only()).map(|h| &**h)
    }

    /// How much the limiter holds; each count stays within its configured bound.
    pub fn stats(&self) -> RateLimiterStats {
        RateLimiterStats {
            tokens: self.tokens.len(),
            buckets: self.buckets.len(),
            routes: self.routes.len(),
        }
    }

    /// Forgets every token and bucket that no longer matters at `now` (nothing in flight, no
    /// pause or reset ahead, no request in the last second). Optional: the bounds hold without
    /// it; it returns memory after a burst.
    pub fn sweep(&mut self, now: Instant) {
        let timeout = self.config.in_flight_timeout;
        self.buckets.retain(|_, b| b.live(now, timeout));
        self.tokens.retain(|_, t| t.live(now));
    }

    fn bucket_id(&self, route: &RouteKey) -> BucketId {
        match self.routes.get(&route.route_only()) {
            Some(hash) => BucketId::Hash {
                hash: hash.clone(),
                major: route.major_arc(),
            },
            None => BucketId::Route(route.clone()),
        }
    }

    /// Remembers that `route` is in bucket `hash`; returns the shared copy of the hash.
    fn learn_route(&mut self, route: &RouteKey, hash: &str) -> Arc<str> {
        let key = route.route_only();
        if let Some(known) = self.routes.get(&key) {
            if &**known == hash {
                return known.clone();
            }
        } else {
            make_room(&mut self.routes, self.config.max_routes, |_| true);
        }
        let hash: Arc<str> = hash.into();
        self.routes.insert(key, hash.clone());
        hash
    }

    fn token_state(&mut self, token: TokenKey, now: Instant) -> &mut TokenState {
        if !self.tokens.contains_key(&token) {
            make_room(&mut self.tokens, self.config.max_tokens, |t| t.live(now));
        }
        self.tokens.entry(token).or_default()
    }
}

/// Two states for the same bucket (the hash was learned through another route meanwhile):
/// keep the stricter of each.
fn merge(mut existing: Bucket, moved: &Bucket) -> Bucket {
    existing.in_flight = existing.in_flight.saturating_add(moved.in_flight);
    existing.last_issued = existing.last_issued.max(moved.last_issued);
    existing.paused_until = existing.paused_until.max(moved.paused_until);
    existing
}

fn is_json_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok()
}
