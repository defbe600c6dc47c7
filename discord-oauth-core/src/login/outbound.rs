//! What the integrations apply to every request they send to Discord, so that one busy or
//! misbehaving site cannot make Discord ban it (checklist K-03, K-04):
//!
//! - [`GlobalBreaker`]: when Discord answers `429` for its **global** rate limit
//!   (`"global": true`, `X-RateLimit-Global: true` or `X-RateLimit-Scope: global`), nothing
//!   more is sent from this process until the announced wait is over. Requests made meanwhile
//!   get a local `429` ([`held_answer`]) instead, which the flows handle like Discord's own: a
//!   short wait is waited out and retried once, a long one becomes `503` with `Retry-After`.
//!   Sending anyway would only add to the invalid requests Discord counts towards a temporary
//!   IP ban (10,000 per 10 minutes).
//! - A bound on concurrent requests ([`DEFAULT_MAX_CONCURRENT_REQUESTS`]): a burst of logins
//!   queues for a slot instead of hitting Discord all at once; a request that waits longer
//!   than the request timeout is shed (answered `503` with `Retry-After`, never sent). The
//!   integrations hold the slots (an async semaphore); the number is configured there.
//!
//! As everywhere in this crate, time is an argument: nothing here reads a clock.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::response::RateLimit;

/// The default number of requests one integration instance has in flight to Discord at
/// most. Discord's global limit is 50 requests per second per application; 32 concurrent
/// requests of typical latency already reach it.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;

/// The wait assumed when a global `429` says nothing about how long (Cloudflare pages, bodies
/// without `retry_after`): one second, as the flows' retry policy assumes.
pub const DEFAULT_GLOBAL_WAIT: Duration = Duration::from_secs(1);

/// The header a [`held_answer`] carries, so that logs and tests can tell it from Discord's.
pub const HELD_HEADER: &str = "x-discord-oauth-held";

/// The circuit breaker for Discord's global rate limit; see the [module docs](self). Shared
/// by every request of one integration instance (it is `Sync`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::login::outbound::GlobalBreaker;
/// let breaker = GlobalBreaker::default();
/// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let global_429 = http::Response::builder()
///     .status(429)
///     .body(br#"{"message":"You are being rate limited.","retry_after":30.0,"global":true}"#.to_vec())
///     .unwrap();
/// assert!(breaker.check(t0).is_none(), "open: send");
/// assert!(breaker.observe(&global_429, t0));
/// let held = breaker.check(t0 + Duration::from_secs(10)).expect("closed: do not send");
/// assert_eq!(held.status(), 429);
/// assert_eq!(held.headers()["retry-after"], "20");
/// assert!(breaker.check(t0 + Duration::from_secs(30)).is_none(), "open again");
/// ```
#[derive(Debug, Default)]
pub struct GlobalBreaker {
    closed_until: Mutex<Option<SystemTime>>,
}

impl GlobalBreaker {
    /// How much longer the breaker stays closed at `now`, if it is closed.
    pub fn closed_for(&self, now: SystemTime) -> Option<Duration> {
        let until = *self.closed_until.lock().unwrap_or_else(PoisonError::into_inner);
        until
            .and_then(|until| until.duration_since(now).ok())
            .filter(|left| !left.is_zero())
    }

    /// Before sending a request at `now`: `None` to send it, or, while the breaker is closed,
    /// the answer to hand to the flow instead ([`held_answer`]).
    #[must_use = "a held request must not be sent"]
    pub fn check(&self, now: SystemTime) -> Option<http::Response<Vec<u8>>> {
        self.closed_for(now).map(held_answer)
    }

    /// After Discord answered at `now`: closes the breaker if the answer is a `429` for the
    /// global limit, until its `retry_after` (or [`DEFAULT_GLOBAL_WAIT`]) has passed. Returns
    /// `true` if it did. A later global `429` can only extend the closed period.
    pub fn observe(&self, response: &http::Response<Vec<u8>>, now: SystemTime) -> bool {
        if response.status() != http::StatusCode::TOO_MANY_REQUESTS || response.headers().contains_key(HELD_HEADER) {
            return false;
        }
        let rate_limit = RateLimit::from_parts(response.headers(), response.body());
        if !rate_limit.global {
            return false;
        }
        let wait = rate_limit.retry_after.unwrap_or(DEFAULT_GLOBAL_WAIT);
        let Some(until) = now.checked_add(wait) else {
            return false;
        };
        let mut closed = self.closed_until.lock().unwrap_or_else(PoisonError::into_inner);
        if closed.is_none_or(|current| current < until) {
            *closed = Some(until);
        }
        true
    }
}

/// Why an integration did not send a request to Discord at all: the caller is answered
/// `503` with `Retry-After` instead (the Activity endpoints render it with
/// [`embedded::answer::not_sent`](crate::embedded::answer::not_sent)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotSent {
    /// Every request slot ([`DEFAULT_MAX_CONCURRENT_REQUESTS`] by default) is taken.
    #[error("not sent to Discord: every request slot is taken")]
    Busy,
    /// The [`GlobalBreaker`] is closed for this much longer.
    #[error("not sent to Discord: its global rate limit holds for {0:?} more")]
    GlobalRateLimit(Duration),
}

impl NotSent {
    /// The `Retry-After` value, in whole seconds: one second while busy, else the time left
    /// rounded up (at least one).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            NotSent::Busy => 1,
            NotSent::GlobalRateLimit(wait) => {
                let whole = wait.as_secs();
                let up = if wait.subsec_nanos() > 0 {
                    whole.saturating_add(1)
                } else {
                    whole
                };
                up.max(1)
            }
        }
    }

    /// What a flow received instead of Discord's answer, if `response` is a [`held_answer`]:
    /// the global rate limit with the wait it names.
    pub fn from_held(response: &http::Response<Vec<u8>>) -> Option<Self> {
        if !response.headers().contains_key(HELD_HEADER) {
            return None;
        }
        let rate_limit = RateLimit::from_parts(response.headers(), response.body());
        Some(NotSent::GlobalRateLimit(
            rate_limit.retry_after.unwrap_or(DEFAULT_GLOBAL_WAIT),
        ))
    }
}

/// The local answer to a request held back by the [`GlobalBreaker`]: a `429` shaped like
/// Discord's (`retry_after` in the body and `Retry-After`, `global: true`), marked with
/// [`HELD_HEADER`]. The wait is rounded up to the millisecond, so that a flow that waits it
/// out finds the breaker open again.
pub fn held_answer(wait: Duration) -> http::Response<Vec<u8>> {
    let millis = wait.as_millis().saturating_add(1);
    let seconds = millis as f64 / 1000.0;
    let body = serde_json::json!({
        "message": "Held back locally: Discord's global rate limit is in effect.",
        "retry_after": seconds,
        "global": true,
    });
    let mut response = http::Response::new(body.to_string().into_bytes());
    *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        headers.insert(http::header::RETRY_AFTER, v);
    }
    headers.insert("x-ratelimit-global", http::HeaderValue::from_static("true"));
    headers.insert("x-ratelimit-scope", http::HeaderValue::from_static("global"));
    headers.insert(HELD_HEADER, http::HeaderValue::from_static("global-rate-limit"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn k03_only_a_global_429_trips_the_breaker() {
        let not_global = [
            answer(200, &[], "{}"),
            answer(500, &[], "{}"),
            answer(429, &[], r#"{"retry_after":30,"global":false}"#),
            answer(429, &[("retry-after", "30"), ("x-ratelimit-scope", "user")], ""),
            answer(429, &[], r#"{"code":40333,"message":"internal network error"}"#),
            answer(429, &[("retry-after", "30")], "<html>Error 1015</html>"),
        ];
        for (n, r) in not_global.iter().enumerate() {
            let b = GlobalBreaker::default();
            assert!(!b.observe(r, t0()), "answer {n}");
            assert!(b.check(t0()).is_none(), "answer {n}");
        }
        let global = [
            answer(429, &[], r#"{"retry_after":30,"global":true}"#),
            answer(429, &[("retry-after", "30"), ("x-ratelimit-global", "true")], ""),
            answer(429, &[("retry-after", "30"), ("x-ratelimit-scope", "global")], ""),
        ];
        for (n, r) in global.iter().enumerate() {
            let b = GlobalBreaker::default();
            assert!(b.observe(r, t0()), "answer {n}");
            assert_eq!(b.closed_for(t0()), Some(Duration::from_secs(30)), "answer {n}");
            let held = b.check(t0() + Duration::from_secs(29)).unwrap();
            let rl = RateLimit::from_parts(held.headers(), held.body());
            assert!(rl.global);
            assert!(rl.retry_after.unwrap() >= Duration::from_secs(1));
            assert!(b.check(t0() + Duration::from_secs(30)).is_none(), "answer {n}");
        }
    }

    #[test]
    fn k03_the_breaker_extends_never_shortens_and_ignores_its_own_answers() {
        let b = GlobalBreaker::default();
        assert!(b.observe(&answer(429, &[], r#"{"retry_after":60,"global":true}"#), t0()));
        assert!(b.observe(&answer(429, &[], r#"{"retry_after":1,"global":true}"#), t0()));
        assert_eq!(b.closed_for(t0()), Some(Duration::from_secs(60)), "not shortened");
        let held = b.check(t0()).unwrap();
        assert!(
            !b.observe(&held, t0() + Duration::from_secs(59)),
            "a held answer is not Discord's"
        );
        assert_eq!(
            b.closed_for(t0() + Duration::from_secs(59)),
            Some(Duration::from_secs(1))
        );
        // A global 429 without a wait closes for the default second.
        let b = GlobalBreaker::default();
        assert!(b.observe(&answer(429, &[("x-ratelimit-global", "true")], ""), t0()));
        assert_eq!(b.closed_for(t0()), Some(DEFAULT_GLOBAL_WAIT));
    }

    #[test]
    fn not_sent_names_a_whole_second_wait() {
        assert_eq!(NotSent::Busy.retry_after_secs(), 1);
        assert_eq!(NotSent::GlobalRateLimit(Duration::from_millis(1)).retry_after_secs(), 1);
        assert_eq!(
            NotSent::GlobalRateLimit(Duration::from_millis(2001)).retry_after_secs(),
            3
        );
        assert_eq!(NotSent::GlobalRateLimit(Duration::from_secs(30)).retry_after_secs(), 30);
        let held = held_answer(Duration::from_secs(20));
        let Some(NotSent::GlobalRateLimit(wait)) = NotSent::from_held(&held) else {
            panic!("a held answer is a global rate limit")
        };
        assert!(wait >= Duration::from_secs(20) && wait < Duration::from_secs(21));
        assert_eq!(
            NotSent::from_held(&answer(429, &[], r#"{"retry_after":5,"global":true}"#)),
            None
        );
    }

    #[test]
    fn held_answer_rounds_the_wait_up() {
        let held = held_answer(Duration::from_micros(1_500_400));
        assert_eq!(held.status(), 429);
        assert_eq!(held.headers()["retry-after"], "1");
        let rl = RateLimit::from_parts(held.headers(), held.body());
        assert!(rl.retry_after.unwrap() >= Duration::from_micros(1_500_400));
        assert!(held.headers().contains_key(HELD_HEADER));
    }
}
