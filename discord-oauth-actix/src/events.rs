//! The receiver of Discord's webhook events (`POST /discord/events` in the sample sites).
//!
//! Discord signs every delivery with the application's Ed25519 key; the core
//! ([`discord_oauth_core::events`]) verifies it and decides the answer, byte for byte the one
//! the tower/axum integration sends: `204` for a PING and for every verified event, `401` for
//! any signature problem, `400` for a signed body that is not an event, `413` over
//! [`MAX_EVENT_BODY_BYTES`] (from `Content-Length` before reading, and while reading), `405`
//! for other methods.
//!
//! On `APPLICATION_DEAUTHORIZED` the receiver ends every session of that user (on every
//! instance, with a [revocation broadcast](crate::DiscordOAuthBuilder::revocation_broadcast))
//! before it answers; then it hands every verified event to your callback. Discord may deliver
//! an event more than once and in any order: both are idempotent here, keep your callback so.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use discord_oauth_core::events::{
    EventRejection, EventVerifier, MAX_EVENT_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookPayload,
};

use crate::DiscordOAuth;
use crate::convert;

impl DiscordOAuth {
    /// Registers the webhook events receiver at `path` (every method: others than `POST` get
    /// `405`), for [`actix_web::App::configure`]. `on_event` is called with every verified
    /// event (PING included) after the receiver has done its own part (ending a deauthorized
    /// user's sessions).
    ///
    /// ```no_run
    /// # fn f(discord: discord_oauth_actix::DiscordOAuth) -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_core::events::EventVerifier;
    /// let verifier = EventVerifier::from_hex(&std::env::var("DISCORD_PUBLIC_KEY")?)?;
    /// let app = actix_web::App::new().configure(discord.events_receiver("/discord/events", verifier, |payload| {
    ///     tracing::info!(event = payload.event.event_type(), "Discord event");
    /// }));
    /// # let _ = app; Ok(()) }
    /// ```
    pub fn events_receiver(
        &self,
        path: &str,
        verifier: EventVerifier,
        on_event: impl Fn(&WebhookPayload) + Clone + 'static,
    ) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
        let discord = self.clone();
        let path = path.to_owned();
        move |cfg: &mut web::ServiceConfig| {
            cfg.service(web::resource(path).to(move |req: HttpRequest, body: web::Payload| {
                let (discord, verifier, on_event) = (discord.clone(), verifier.clone(), on_event.clone());
                async move { receive(&discord, &verifier, &on_event, &req, body).await }
            }));
        }
    }
}

async fn receive(
    discord: &DiscordOAuth,
    verifier: &EventVerifier,
    on_event: &impl Fn(&WebhookPayload),
    req: &HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(actix_web::http::header::HeaderValue::as_bytes)
    };
    let content_length = header(CONTENT_LENGTH.as_str())
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(refused) = verifier.precheck(req.method().as_str(), content_length) {
        return convert::response(refused);
    }
    let Ok(Ok(body)) = body.to_bytes_limited(MAX_EVENT_BODY_BYTES).await else {
        return convert::response(EventRejection::TooLarge.answer());
    };
    let receipt = verifier.receive(
        req.method().as_str(),
        content_length,
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        &body,
    );
    if let Some(user) = receipt.deauthorized_user() {
        discord.end_sessions_of(user).await;
    }
    receipt.payload.as_ref().map(on_event);
    convert::response(receipt.response)
}
