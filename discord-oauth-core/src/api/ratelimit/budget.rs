//! Discord's invalid-request limit: [`InvalidRequestBudget`].

use std::time::{Duration, Instant};

use http::HeaderMap;

use super::Throttled;
use crate::login::outbound::HELD_HEADER;

/// The window Discord counts invalid requests in: 10 minutes.
pub const INVALID_REQUEST_WINDOW: Duration = Duration::from_secs(600);

/// How many invalid requests per window Discord tolerates from one IP address before it
/// blocks the address for a while (10,000).
pub const DISCORD_INVALID_REQUEST_LIMIT: u32 = 10_000;

/// The default threshold of an [`InvalidRequestBudget`]: 2,000 invalid requests per 10
/// minutes, a fifth of Discord's 10,000.
///
/// The budget counts one process; Discord counts the IP address, which several instances
/// (and other programs) behind the same NAT or host may share, and requests this process
/// sends outside the budget (a transport that is not wrapped) count there too. A fifth leaves
/// room for five such processes before Discord's block, which takes the whole site down far
/// longer than refusing a few requests for a few minutes does.
pub const DEFAULT_INVALID_REQUEST_THRESHOLD: u32 = 2_000;

/// The length of one counting slot (10 s).
pub const BUDGET_SLOT: Duration = Duration::from_secs(10);

/// Slots counted: the current one and the 60 before it, so that the window covers at least
/// the full 10 minutes (between 600 and 610 s): rounding errs on the side of counting.
const SLOTS: usize = 61;
const SLOT_SECS: u64 = 10;

/// A process-wide count of the answers Discord counts as *invalid requests* (`401`, `403`,
/// and `429` unless `X-RateLimit-Scope: shared`) in a sliding 10-minute window, and a
/// threshold well below the 10,000 at which Discord blocks the IP address
/// ([`DEFAULT_INVALID_REQUEST_THRESHOLD`], see there why). Once the threshold is reached,
/// [`allow`](Self::allow) is `false` until enough of the window has drained: send nothing
/// to Discord meanwhile, answer `503` with [`check`](Self::check)'s `Retry-After`.
///
/// # Bounds
/// Fixed size: 61 counters of 10 seconds each, whatever the traffic (not one entry per
/// request). Counts saturate at `u32::MAX`.
///
/// # Several processes
/// An adapter publishes [`local_count`](Self::local_count) (this process's count, without
/// the others') to a shared store, and hands what the other processes published to
/// [`set_elsewhere`](Self::set_elsewhere), which then counts here too (the integrations'
/// runtime does this through Redis every few seconds: `discord_oauth_runtime::redis::RedisBudget`).
/// [`record`](Self::record) says whether an answer counted, and [`slots`](Self::slots) gives
/// the window's counts per 10-second slot, for a store that keeps them finer.
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::api::ratelimit::InvalidRequestBudget;
///
/// let mut budget = InvalidRequestBudget::new(3);
/// let t0 = Instant::now(); // any instant: the budget never reads the clock
/// assert!(budget.record(401, None, t0));
/// assert!(budget.record(403, None, t0));
/// assert!(!budget.record(429, Some("shared"), t0), "shared 429s do not count");
/// assert!(!budget.record(404, None, t0), "nor do other errors");
/// assert!(budget.allow(t0));
/// assert!(budget.record(429, Some("user"), t0));
/// assert!(!budget.allow(t0), "three invalid requests: the threshold");
/// assert!(budget.allow(t0 + Duration::from_secs(610)), "the window drained");
/// ```
#[derive(Debug, Clone)]
pub struct InvalidRequestBudget {
    threshold: u32,
    origin: Option<Instant>,
    /// `(slot number + 1, count)`; slot number `n` covers `origin + [10n, 10n + 10) s`;
    /// `0` marks an empty counter.
    slots: [(u64, u32); SLOTS],
    elsewhere: Option<(Instant, u32)>,
}

impl Default for InvalidRequestBudget {
    fn default() -> Self {
        Self::new(DEFAULT_INVALID_REQUEST_THRESHOLD)
    }
}

impl InvalidRequestBudget {
    /// An empty budget that closes once `threshold` invalid requests are in the window
    /// (`0` is treated as `1`).
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            origin: None,
            slots: [(0, 0); SLOTS],
            elsewhere: None,
        }
    }

    /// The threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Whether Discord counts an answer with this status and `X-RateLimit-Scope` as an
    /// invalid request: `401`, `403`, and `429` unless the scope is `shared`.
    pub fn counts(status: u16, scope: Option<&str>) -> bool {
        match status {
            401 | 403 => true,
            429 => !scope.is_some_and(|s| s.trim().eq_ignore_ascii_case("shared")),
            _ => false,
        }
    }

    /// Counts an answer Discord gave at `now` if it is an invalid request; returns whether it
    /// counted.
    pub fn record(&mut self, status: u16, scope: Option<&str>, now: Instant) -> bool {
        if !Self::counts(status, scope) {
            return false;
        }
        self.add(1, now);
        true
    }

    /// [`record`](Self::record), reading `X-RateLimit-Scope` from the answer's headers. A
    /// local answer from the global-429 breaker
    /// ([`held_answer`](crate::login::outbound::held_answer)) never reached Discord and does
    /// not count.
    pub fn record_answer(&mut self, status: u16, headers: &HeaderMap, now: Instant) -> bool {
        if headers.contains_key(HELD_HEADER) {
            return false;
        }
        let scope = headers.get("x-ratelimit-scope").and_then(|v| v.to_str().ok());
        self.record(status, scope, now)
    }

    /// Adds `count` invalid requests at `now` (e.g. counted by a part of this process that
    /// does not go through [`record`](Self::record)).
    pub fn add(&mut self, count: u32, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let slot = slot_number(origin, now);
        let cell = &mut self.slots[(slot % SLOTS as u64) as usize];
        if cell.0 != slot + 1 {
            *cell = (slot + 1, 0);
        }
        cell.1 = cell.1.saturating_add(count);
    }

    /// Sets what other processes on the same address counted in the window, as last read from
    /// a shared store at `now`; it replaces the previous figure and is dropped after one
    /// window unless set again.
    pub fn set_elsewhere(&mut self, count: u32, now: Instant) {
        self.elsewhere = Some((now, count));
    }

    /// Invalid requests this process counted in the window at `now` (without
    /// [`set_elsewhere`](Self::set_elsewhere)'s).
    pub fn local_count(&self, now: Instant) -> u32 {
        self.live_slots(now)
            .fold(0, |sum, (_, count)| sum.saturating_add(count))
    }

    /// Invalid requests in the window at `now`, this process's and the others'.
    pub fn count(&self, now: Instant) -> u32 {
        self.local_count(now).saturating_add(self.elsewhere_count(now))
    }

    /// `true` while fewer than the threshold are in the window: requests to Discord may go.
    pub fn allow(&self, now: Instant) -> bool {
        self.count(now) < self.threshold
    }

    /// How long until [`allow`](Self::allow) is `true` again (as the window drains, with
    /// nothing new counted), or `None` if it is now.
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        let mut total = self.count(now);
        if total < self.threshold {
            return None;
        }
        let origin = self.origin.or(self.elsewhere.map(|(t, _)| t))?;
        let mut leaving: Vec<(Instant, u32)> = self
            .live_slots(now)
            .map(|(slot, count)| (slot_end_of_window(origin, slot), count))
            .collect();
        if let Some((at, count)) = self.elsewhere.filter(|_| self.elsewhere_count(now) > 0) {
            leaving.push((at.checked_add(INVALID_REQUEST_WINDOW).unwrap_or(at), count));
        }
        leaving.sort_unstable_by_key(|(at, _)| *at);
        for (at, count) in leaving {
            total = total.saturating_sub(count);
            if total < self.threshold {
                return Some(at.saturating_duration_since(now).max(Duration::from_millis(1)));
            }
        }
        Some(INVALID_REQUEST_WINDOW)
    }

    /// `Ok` while requests may go, else [`Throttled::InvalidRequestBudget`] with the time
    /// until they may again.
    pub fn check(&self, now: Instant) -> Result<(), Throttled> {
        match self.retry_after(now) {
            None => Ok(()),
            Some(retry_after) => Err(Throttled::InvalidRequestBudget { retry_after }),
        }
    }

    /// The counts of the window at `now`, oldest first, as `(slot start, count)` for each
    /// 10-second slot that counted something: what an adapter mirrors into a shared store.
    pub fn slots(&self, now: Instant) -> Vec<(Instant, u32)> {
        let Some(origin) = self.origin else {
            return Vec::new();
        };
        let mut slots: Vec<(Instant, u32)> = self
            .live_slots(now)
            .filter(|(_, count)| *count > 0)
            .map(|(slot, count)| (slot_start(origin, slot), count))
            .collect();
        slots.sort_unstable_by_key(|(at, _)| *at);
        slots
    }

    fn elsewhere_count(&self, now: Instant) -> u32 {
        match self.elsewhere {
            Some((at, count)) if at.checked_add(INVALID_REQUEST_WINDOW).is_none_or(|end| now < end) => count,
            _ => 0,
        }
    }

    /// `(slot number, count)` of the counters inside the window at `now`.
    fn live_slots(&self, now: Instant) -> impl Iterator<Item = (u64, u32)> + '_ {
        let current = self.origin.map_or(0, |origin| slot_number(origin, now));
        self.slots.iter().filter_map(move |&(tag, count)| {
            let slot = tag.checked_sub(1)?;
            (slot <= current && current - slot < SLOTS as u64).then_some((slot, count))
        })
    }
}

fn slot_number(origin: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(origin).as_secs() / SLOT_SECS
}

fn slot_start(origin: Instant, slot: u64) -> Instant {
    origin
        .checked_add(Duration::from_secs(slot.saturating_mul(SLOT_SECS)))
        .unwrap_or(origin)
}

/// When slot `slot` stops counting: once the current slot is `slot + SLOTS`.
fn slot_end_of_window(origin: Instant, slot: u64) -> Instant {
    slot_start(origin, slot.saturating_add(SLOTS as u64))
}
