//! Every request the integration sends to Discord goes through [`Outbound`]: the global
//! rate-limit breaker and the bound on concurrent requests of
//! [`discord_oauth_core::login::outbound`] (checklist K-03, K-04), shared by every worker. The
//! Activity endpoints ([`crate::embedded`]) take one slot per request they serve
//! ([`Outbound::admit`]) and send through it ([`Outbound::send_admitted`]).

use std::time::{Duration, SystemTime};

use discord_oauth_core::login::outbound::{GlobalBreaker, NotSent};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::transport::{Transport, TransportError};

/// The breaker and the request slots of one [`crate::DiscordOAuth`] (or one
/// [`crate::embedded::EmbeddedBackend`]).
#[derive(Debug)]
pub(crate) struct Outbound {
    breaker: GlobalBreaker,
    slots: Semaphore,
    max: usize,
}

/// One request slot, taken by [`Outbound::admit`]; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct OutboundSlot<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Outbound {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        let max = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            breaker: GlobalBreaker::default(),
            slots: Semaphore::new(max),
            max,
        }
    }

    /// The bound on requests in flight.
    pub(crate) fn max_concurrent(&self) -> usize {
        self.max
    }

    /// Takes a free slot at once, unless Discord's global rate limit is in effect at `now`
    /// ([`NotSent::GlobalRateLimit`]) or every slot is taken ([`NotSent::Busy`]): then
    /// nothing may be sent, and the caller answers `503` with `Retry-After`.
    pub(crate) fn admit(&self, now: SystemTime) -> Result<OutboundSlot<'_>, NotSent> {
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

    /// Sends `request` in the slot the caller holds; see [`Outbound::send`].
    pub(crate) async fn send_admitted(
        &self,
        _slot: &OutboundSlot<'_>,
        transport: &dyn Transport,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
        now: impl Fn() -> SystemTime,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.send_in_slot(transport, request, timeout, now).await
    }

    /// Sends `request` (bounded by `timeout`) unless Discord's global rate limit is in effect
    /// (then the local `429` goes to the flow instead), after waiting for a free slot at most
    /// `timeout` (then the request is shed: [`TransportError::Busy`]).
    pub(crate) async fn send(
        &self,
        transport: &dyn Transport,
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

    async fn send_in_slot(
        &self,
        transport: &dyn Transport,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
        now: impl Fn() -> SystemTime,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        // The breaker may have closed while this request waited for its slot.
        if let Some(held) = self.held(now()) {
            return Ok(held);
        }
        let response = tokio::time::timeout(timeout, transport.send(request))
            .await
            .map_err(|_| TransportError::Timeout(timeout))??;
        discord_oauth_core::http_client::check_body_size(&response).map_err(TransportError::Failed)?;
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
