//! The receiver of Discord's webhook events (`POST /discord/events` in the sample sites).
//!
//! Discord signs every delivery with the application's Ed25519 key; the core
//! ([`discord_oauth_core::events`]) verifies it and decides the answer, byte for byte the one
//! the actix-web integration sends: `204` for a PING and for every verified event, `401` for
//! any signature problem (Discord sends bad signatures on purpose and removes URLs that accept
//! them), `400` for a signed body that is not an event, `413` over
//! [`MAX_EVENT_BODY_BYTES`] (checked from `Content-Length` before reading, and while reading),
//! `405` for other methods.
//!
//! On `APPLICATION_DEAUTHORIZED` the receiver ends every session of that user (on every
//! instance, with a revocation broadcast: see [`discord_oauth_tower::revocation`]) before it
//! answers; then it hands every verified event to your callback. Discord may deliver an
//! event more than once and in any order: both are idempotent here, keep your callback so.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::MethodRouter;
use discord_oauth_core::events::{
    EventRejection, EventVerifier, MAX_EVENT_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookPayload,
};
use http::header::CONTENT_LENGTH;

use crate::DiscordOAuth;

impl DiscordOAuth {
    /// The webhook events receiver as a route (any method: others than `POST` get `405`).
    /// `on_event` is called with every verified event (PING included) after the receiver has
    /// done its own part (ending a deauthorized user's sessions).
    ///
    /// ```no_run
    /// use axum::Router;
    /// use discord_oauth_axum::{DiscordOAuth, LoginConfig, MemoryStore};
    /// use discord_oauth_core::events::EventVerifier;
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://app.example/auth/callback").build()?;
    /// let discord = DiscordOAuth::new(config)?;
    /// let verifier = EventVerifier::from_hex(&std::env::var("DISCORD_PUBLIC_KEY")?)?;
    /// let events = discord.events_receiver(verifier, |payload| {
    ///     tracing::info!(event = payload.event.event_type(), "Discord event");
    /// });
    /// let app = discord.mount(Router::new().route("/discord/events", events), MemoryStore::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn events_receiver(
        &self,
        verifier: EventVerifier,
        on_event: impl Fn(&WebhookPayload) + Clone + Send + Sync + 'static,
    ) -> MethodRouter {
        let layer = self.layer();
        axum::routing::any(move |request: Request| {
            let (verifier, layer, on_event) = (verifier.clone(), layer.clone(), on_event.clone());
            async move {
                let (parts, body) = request.into_parts();
                let content_length = parts
                    .headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if let Some(refused) = verifier.precheck(parts.method.as_str(), content_length) {
                    return refused.map(Body::from);
                }
                let Ok(body) = axum::body::to_bytes(body, MAX_EVENT_BODY_BYTES).await else {
                    return EventRejection::TooLarge.answer().map(Body::from);
                };
                let receipt = verifier.receive(
                    parts.method.as_str(),
                    content_length,
                    parts.headers.get(SIGNATURE_HEADER).map(http::HeaderValue::as_bytes),
                    parts.headers.get(TIMESTAMP_HEADER).map(http::HeaderValue::as_bytes),
                    &body,
                );
                if let Some(user) = receipt.deauthorized_user() {
                    layer.end_sessions_of(user).await;
                }
                receipt.payload.as_ref().map(&on_event);
                let response: Response = receipt.response.map(Body::from);
                response
            }
        })
    }
}
