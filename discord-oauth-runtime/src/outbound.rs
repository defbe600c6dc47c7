//! Every request an integration sends to Discord goes through [`Outbound`]: the global
//! rate-limit breaker and the bound on concurrent requests of
//! [`discord_oauth_core::login::outbound`] (checklist K-03, K-04). The Activity endpoints use
//! it too: they take one slot per request they serve ([`Outbound::admit`]) and send through it
//! ([`Outbound::send_admitted`]).

use std::time::{Duration, SystemTime};

use discord_oauth_core::login::outbound::{DEFAULT_MAX_CONCURRENT_REQUESTS, GlobalBreaker, NotSent};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::transport::{Transport, TransportError};

/// The global-429 breaker and the request slots of one integration instance (shared by the
/// layer's clones, guards and API handle; by an Activity backend's clones).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::login::outbound::NotSent;
/// use discord_oauth_runtime::Outbound;
///
/// let discord = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(b"{}".to_vec()))
/// });
/// let outbound = Outbound::new(1);
/// let timeout = Duration::from_secs(10);
///
/// // An endpoint that serves a request takes a slot first…
/// let Ok(slot) = outbound.admit(SystemTime::now()) else {
///     return Err("not sent: answer 503 with Retry-After".into());
/// };
/// let request = http::Request::new(Vec::new());
/// let response = outbound.send_admitted(&slot, &discord, request, timeout, SystemTime::now).await?;
/// assert_eq!(response.status(), 200);
///
/// // …and while it holds the only one, the next is refused at once: answer `503`.
/// let busy = outbound.admit(SystemTime::now());
/// assert!(matches!(busy, Err(NotSent::Busy)));
/// assert_eq!(busy.err().map(|e| e.retry_after_secs()), Some(1));
/// drop(slot);
///
/// // `send` waits up to `timeout` for a free slot instead.
/// let response = outbound.send(&discord, http::Request::new(Vec::new()), timeout, SystemTime::now).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Outbound {
    breaker: GlobalBreaker,
    slots: Semaphore,
    max: usize,
}

impl Default for Outbound {
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`] slots.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT_REQUESTS)
    }
}

/// One request slot of an [`Outbound`], taken by [`Outbound::admit`]; dropping it frees the
/// slot.
#[derive(Debug)]
pub struct OutboundSlot<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Outbound {
    /// At most `max_concurrent` requests in flight (clamped to at least 1).
    pub fn new(max_concurrent: usize) -> Self {
        let max = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            breaker: GlobalBreaker::default(),
            slots: Semaphore::new(max),
            max,
        }
    }

    /// The bound on requests in flight.
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// Takes a free slot at once, unless Discord's global rate limit is in effect at `now`
    /// ([`NotSent::GlobalRateLimit`]) or every slot is taken ([`NotSent::Busy`]): then
    /// nothing may be sent, and the caller answers `503` with `Retry-After`.
    pub fn admit(&self, now: SystemTime) -> Result<OutboundSlot<'_>, NotSent> {
        if let Some(left) = self.breaker.closed_for(now) {
            tracing::info!("request to Discord refused: the global rate limit is in effect");
            return Err(NotSent::GlobalRateLimit(left));
        }
        let Ok(permit) = self.slots.try_acquire() else {
            tracing::warn!(
                max_concurrent = self.max,
                "too many requests to Discord in flight; request refused"
            );
            return Err(NotSent::Busy);
        };
        Ok(OutboundSlot { _permit: permit })
    }

    /// Sends `request` (bounded by `timeout`) in the slot the caller holds, unless Discord's
    /// global rate limit came into effect meanwhile (then the local `429`,
    /// [`held_answer`](discord_oauth_core::login::outbound::held_answer), goes to the flow
    /// instead); a global `429` from Discord closes the breaker.
    pub async fn send_admitted<T: Transport + ?Sized>(
        &self,
        _slot: &OutboundSlot<'_>,
        transport: &T,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
        now: impl Fn() -> SystemTime,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.send_in_slot(transport, request, timeout, now).await
    }

    /// Sends `request` unless Discord's global rate limit is in effect (then the local `429`
    /// goes to the flow instead), after waiting for a free slot at most `timeout` (then the
    /// request is shed: [`TransportError::Busy`]).
    pub async fn send<T: Transport + ?Sized>(
        &self,
        transport: &T,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
        now: impl Fn() -> SystemTime,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if let Some(held) = self.held(now()) {
            return Ok(held);
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(timeout, self.slots.acquire()).await else {
            tracing::warn!(
                max_concurrent = self.max,
                "too many requests to Discord in flight; request shed"
            );
            return Err(TransportError::Busy(timeout));
        };
        self.send_in_slot(transport, request, timeout, now).await
    }

    async fn send_in_slot<T: Transport + ?Sized>(
        &self,
        transport: &T,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
        now: impl Fn() -> SystemTime,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        // The breaker may have closed while this request waited for its slot.
        if let Some(held) = self.held(now()) {
            return Ok(held);
        }
        let response = transport.send(request, timeout).await?;
        if self.breaker.observe(&response, now()) {
            tracing::warn!(
                closed_for_ms = self.breaker.closed_for(now()).map_or(0, |d| d.as_millis() as u64),
                "Discord's global rate limit: holding every request to Discord until it is over"
            );
        }
        Ok(response)
    }

    fn held(&self, now: SystemTime) -> Option<http::Response<Vec<u8>>> {
        let held = self.breaker.check(now)?;
        tracing::info!("request to Discord held back: the global rate limit is in effect");
        Some(held)
    }
}
