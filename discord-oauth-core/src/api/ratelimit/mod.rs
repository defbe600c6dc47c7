//! Calling Discord for logged-in users without getting the server blocked: a sans-IO rate
//! limiter ([`RateLimiter`]) and invalid-request budget ([`InvalidRequestBudget`]) that the
//! framework adapters drive around every user-API call.
//!
//! Discord limits each token per route *bucket* (`X-RateLimit-Limit` requests per
//! `X-RateLimit-Reset-After`), and globally (50 requests per second); it answers `429` when a
//! limit is exceeded, and blocks the IP address for a while after 10,000 *invalid requests*
//! (`401`, `403`, `429`) in 10 minutes. The adapters therefore do, for every call:
//!
//! 1. [`InvalidRequestBudget::check`]: nothing goes to Discord while the budget is spent;
//! 2. [`RateLimiter::acquire`] with the request's [`TokenKey`] and [`RouteKey`]: send on
//!    [`Acquire::Permit`], sleep until `until` and ask again on [`Acquire::Wait`], answer the
//!    caller with the [`Throttled`] error (`503` with `Retry-After`) on [`Acquire::Refuse`];
//! 3. [`RateLimiter::record`] with Discord's answer (or [`RateLimiter::release`] if none came),
//!    and [`InvalidRequestBudget::record_answer`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use discord_oauth_core::api::{self, ratelimit::*};
//! use discord_oauth_core::{AccessToken, Endpoints};
//!
//! let endpoints = Endpoints::discord();
//! let mut limiter = RateLimiter::default();
//! let mut budget = InvalidRequestBudget::default();
//! let token = AccessToken::new("user-token".into());
//!
//! let call = api::current_user_guilds(&endpoints, &token, &api::GuildsQuery::default());
//! let request = call.request();
//! let (who, route) = (TokenKey::from_request(&request), RouteKey::from_request(&request, &endpoints));
//! let now = Instant::now(); // the adapters pass their clock; tests pass scripted instants
//!
//! budget.check(now)?;
//! let permit = match limiter.acquire(who, &route, now) {
//!     Acquire::Permit(permit) => permit,
//!     Acquire::Wait { until, .. } => unreachable!("sleep until {until:?}, then acquire again"),
//!     Acquire::Refuse(throttled) => return Err(throttled.into()),
//! };
//! // … send `request`; Discord answers:
//! let answer = http::Response::builder()
//!     .status(200)
//!     .header("x-ratelimit-bucket", "abcd1234")
//!     .header("x-ratelimit-limit", "1")
//!     .header("x-ratelimit-remaining", "0")
//!     .header("x-ratelimit-reset-after", "1")
//!     .body(b"[]".to_vec())?;
//! limiter.record(permit, answer.status().as_u16(), answer.headers(), answer.body(), now);
//! budget.record_answer(answer.status().as_u16(), answer.headers(), now);
//! let guilds = call.parse(answer)?;
//! assert!(guilds.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why not `twilight-http-ratelimiting`
//! Twilight's rate limiter is the reference Rust implementation, and we took its design: a
//! route is keyed by method, path with ids replaced, and the top-level resource (the *major
//! parameter*: guild, channel or webhook id); the bucket a route belongs to is discovered from
//! the `X-RateLimit-Bucket` header of its first answer and then shared by every route with
//! that hash; and only one request is in flight on a bucket until its first answer says how
//! many may follow. We do not depend on it because:
//! - it is asynchronous: a tokio actor task hands out permits through futures and channels,
//!   and reads the clock itself; this crate has no async runtime, and time is an argument, so
//!   every decision here is a plain function of its inputs and is tested with scripted instants;
//! - it keeps one global limit per limiter (a bot has one token); a login service calls
//!   Discord with thousands of users' bearer tokens, each with its own limits, so every state
//!   here is kept per [`TokenKey`], bounded in entries;
//! - it has no invalid-request budget, which is what protects a whole site from Discord's IP
//!   block when, say, many stale tokens answer `401`;
//! - the same state must drive the tower/axum and the actix-web adapters identically: here it
//!   is data they lock and call, not a task one of their runtimes must run.
//!
//! The bounded short-lived cache of per-user reads that keeps repeated page loads from
//! calling Discord at all is [`crate::api::cache`].

mod budget;
mod limiter;
mod route;

use std::time::Duration;

pub use budget::{
    BUDGET_SLOT, DEFAULT_INVALID_REQUEST_THRESHOLD, DISCORD_INVALID_REQUEST_LIMIT, INVALID_REQUEST_WINDOW,
    InvalidRequestBudget,
};
pub use limiter::{
    Acquire, DEFAULT_GLOBAL_PER_SECOND, DEFAULT_IN_FLIGHT_TIMEOUT, DEFAULT_MAX_WAIT, DEFAULT_RETRY_AFTER,
    DEFAULT_UNKNOWN_BUCKET_POLL, Outcome, PauseScope, Permit, RateLimiter, RateLimiterConfig, RateLimiterStats,
    WaitReason,
};
pub use route::{MAX_ROUTE_BYTES, RouteKey, TokenKey};

/// A request that was not sent to Discord, because waiting for its turn would take too long.
/// Render it as `503 Service Unavailable` with `Retry-After: {retry_after_secs}`.
///
/// ```
/// use std::time::Duration;
/// use discord_oauth_core::api::ratelimit::Throttled;
/// let throttled = Throttled::RateLimited { retry_after: Duration::from_millis(7_200), global: false };
/// assert_eq!(throttled.retry_after_secs(), 8);
/// assert_eq!(throttled.to_string(), "rate limited by Discord; retry after 7.200 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Throttled {
    /// Discord's rate limit for this token (on this route, or on every route if `global`)
    /// leaves no turn within the allowed wait.
    #[error("rate limited by Discord{}; retry after {:.3} s", if *.global { " (all routes)" } else { "" }, .retry_after.as_secs_f64())]
    RateLimited {
        /// How long until a request may go.
        retry_after: Duration,
        /// `true` if every route of the token waits (global limit or global `429`).
        global: bool,
    },
    /// The [`InvalidRequestBudget`] is spent: nothing goes to Discord until it drains.
    #[error("too many rejected requests to Discord recently; retry after {:.3} s", .retry_after.as_secs_f64())]
    InvalidRequestBudget {
        /// How long until the budget allows requests again.
        retry_after: Duration,
    },
}

impl Throttled {
    /// How long until a request may go.
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::RateLimited { retry_after, .. } | Self::InvalidRequestBudget { retry_after } => *retry_after,
        }
    }

    /// The `Retry-After` value: whole seconds, rounded up, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        let wait = self.retry_after();
        let up = if wait.subsec_nanos() > 0 {
            wait.as_secs().saturating_add(1)
        } else {
            wait.as_secs()
        };
        up.max(1)
    }
}
