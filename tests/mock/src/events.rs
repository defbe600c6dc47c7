//! Webhook events: the mock signs and POSTs them the way Discord does.
//!
//! Discord sends an application's webhook events to its Events Webhook URL: a JSON body
//! `{"version": 1, "application_id": …, "type": 0 | 1, "event": {"type", "timestamp",
//! "data"}}` with `X-Signature-Ed25519` (hex Ed25519 signature of the timestamp's bytes
//! followed by the body) and `X-Signature-Timestamp` (Unix seconds). The mock signs with the
//! key made from [`fixture::EVENTS_SIGNING_SEED`](crate::fixture::EVENTS_SIGNING_SEED); its
//! public key is [`fixture::EVENTS_PUBLIC_KEY_HEX`](crate::fixture::EVENTS_PUBLIC_KEY_HEX)
//! (one key for every mock application).
//!
//! The mock delivers each event once (Discord retries a non-`2xx` answer; the mock records
//! it and does not), and records every delivery ([`EventDelivery`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ed25519_dalek::Signer as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::fixture;
use crate::state::{Shared, State};
use crate::util::{hex, iso8601, unix_secs};

/// How a sent event is signed: validly, or broken in one of the ways a receiver must refuse
/// (Discord itself sends invalid signatures to check that receivers refuse them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EventSignature {
    /// Signed with the application's key over the sent timestamp and body.
    Valid,
    /// Signed with another key ([`fixture::EVENTS_WRONG_SEED`](crate::fixture::EVENTS_WRONG_SEED)).
    WrongKey,
    /// Signed with the right key, but over another timestamp than the one sent.
    OtherTimestamp,
    /// Both signature headers left out.
    Missing,
}

impl std::str::FromStr for EventSignature {
    type Err = String;

    /// `valid`, `wrong-key`, `other-timestamp` or `missing`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "valid" => Ok(Self::Valid),
            "wrong-key" | "invalid" => Ok(Self::WrongKey),
            "other-timestamp" => Ok(Self::OtherTimestamp),
            "missing" => Ok(Self::Missing),
            other => Err(format!(
                "unknown signature mode {other:?} (valid, wrong-key, other-timestamp, missing)"
            )),
        }
    }
}

/// One webhook request the mock sent (or tried to send).
///
/// Testing an Events Webhook receiver (here one made with the core's `EventVerifier`):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use axum::{Router, extract::Request, http::StatusCode, routing::post};
/// use discord_oauth_core::events::EventVerifier;
/// use discord_oauth_mock::{EventSignature, MockDiscord, fixture};
///
/// let discord = MockDiscord::start().await?;
///
/// // The receiver under test, verifying with the application's public key.
/// let verifier = EventVerifier::from_hex(discord.events_public_key_hex())?;
/// let receiver = Router::new().route(
///     "/discord/events",
///     post(move |request: Request| async move {
///         let (parts, body) = request.into_parts();
///         let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
///             return StatusCode::PAYLOAD_TOO_LARGE;
///         };
///         verifier.receive_request(&axum::http::Request::from_parts(parts, body)).response.status()
///     }),
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("http://{}/discord/events", listener.local_addr()?);
/// tokio::spawn(async move { axum::serve(listener, receiver).await });
///
/// // Revoking a grant sends APPLICATION_DEAUTHORIZED in the background.
/// discord.set_event_webhook_url(fixture::CLIENT_ID, url.as_str())?;
/// discord.issue_tokens(fixture::WUMPUS_ID, "identify")?;
/// discord.revoke_all_for(fixture::WUMPUS_ID);
/// let deliveries = discord.wait_for_event_deliveries(1, Duration::from_secs(5)).await;
/// assert_eq!(deliveries.len(), 1);
/// assert_eq!(deliveries[0].event_type, "APPLICATION_DEAUTHORIZED");
/// assert!(deliveries[0].accepted(), "answered {:?}", deliveries[0].status);
/// assert_eq!(deliveries[0].json()["event"]["data"]["user"]["id"], fixture::WUMPUS_ID);
///
/// // A forged signature must be refused.
/// let payload = discord.deauthorized_payload(fixture::CLIENT_ID, fixture::WUMPUS_ID)?;
/// assert_eq!(discord.send_event_signed(&url, &payload, EventSignature::WrongKey).await?, 401);
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EventDelivery {
    /// Where it was sent.
    pub url: String,
    /// `event.type`, or `"PING"` for a PING (payload type 0).
    pub event_type: String,
    /// The exact body sent.
    pub body: String,
    /// The `X-Signature-Timestamp` sent.
    pub timestamp: String,
    /// How it was signed.
    pub signature: EventSignature,
    /// The receiver's status code; `None` when no answer came (see `error`).
    pub status: Option<u16>,
    /// Why no answer came (connection refused, timeout, …).
    pub error: Option<String>,
}

impl EventDelivery {
    /// Whether the receiver accepted it (`2xx`).
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A signed request, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    url: String,
    event_type: String,
    body: String,
    timestamp: String,
    signature: EventSignature,
    signature_hex: Option<String>,
}

/// How long a delivery may take before the mock gives up on it.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The event timestamp Discord's examples show: microseconds, no timezone (UTC).
pub(crate) fn event_timestamp(t: SystemTime) -> String {
    let s = iso8601(t);
    s.strip_suffix("+00:00").map(str::to_owned).unwrap_or(s)
}

/// A PING payload for an application.
pub(crate) fn ping_payload(application_id: &str) -> Value {
    json!({ "version": 1, "application_id": application_id, "type": 0 })
}

/// An event payload (`type` 1).
pub(crate) fn event_payload(application_id: &str, event_type: &str, timestamp: &str, data: Value) -> Value {
    json!({
        "version": 1,
        "application_id": application_id,
        "type": 1,
        "event": { "type": event_type, "timestamp": timestamp, "data": data },
    })
}

fn sign(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    hex(&key.sign(&message).to_bytes())
}

impl Outgoing {
    /// Signs `body` at the mock's current time.
    pub(crate) fn new(st: &State, url: &str, body: String, signature: EventSignature) -> Self {
        let timestamp = unix_secs(st.now()).to_string();
        let event_type = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| match v["type"].as_u64() {
                Some(0) => Some("PING".to_owned()),
                _ => v["event"]["type"].as_str().map(str::to_owned),
            })
            .unwrap_or_default();
        let signature_hex = match signature {
            EventSignature::Valid => Some(sign(&fixture::EVENTS_SIGNING_SEED, &timestamp, body.as_bytes())),
            EventSignature::WrongKey => Some(sign(&fixture::EVENTS_WRONG_SEED, &timestamp, body.as_bytes())),
            EventSignature::OtherTimestamp => {
                let other = unix_secs(st.now()).saturating_sub(1).to_string();
                Some(sign(&fixture::EVENTS_SIGNING_SEED, &other, body.as_bytes()))
            }
            EventSignature::Missing => None,
        };
        Self {
            url: url.to_owned(),
            event_type,
            body,
            timestamp,
            signature,
            signature_hex,
        }
    }
}

/// The `APPLICATION_DEAUTHORIZED` a revoked grant causes, if the application has an events
/// URL and the user exists.
pub(crate) fn deauthorized(st: &State, client_id: &str, user_id: &str) -> Option<Outgoing> {
    let url = st.event_webhook_urls.get(client_id)?;
    let user = st.users.get(user_id)?;
    let body = event_payload(
        client_id,
        "APPLICATION_DEAUTHORIZED",
        &event_timestamp(st.now()),
        json!({ "user": user.public_json() }),
    );
    Some(Outgoing::new(st, url, body.to_string(), EventSignature::Valid))
}

/// Sends and records one request; the receiver's status, or why there was none.
pub(crate) async fn deliver(shared: &Shared, out: Outgoing) -> Result<u16, String> {
    let result = post(shared, &out).await;
    let (status, error) = match &result {
        Ok(s) => (Some(*s), None),
        Err(e) => (None, Some(e.clone())),
    };
    tracing::debug!(url = %out.url, event_type = %out.event_type, ?status, "mock Discord webhook event");
    record(
        shared,
        EventDelivery {
            url: out.url,
            event_type: out.event_type,
            body: out.body,
            timestamp: out.timestamp,
            signature: out.signature,
            status,
            error,
        },
    );
    result
}

fn record(shared: &Shared, delivery: EventDelivery) {
    let n = {
        let mut st = shared.lock();
        st.event_deliveries.push(delivery);
        st.event_deliveries.len()
    };
    shared.deliveries.send_replace(n);
}

async fn post(shared: &Shared, out: &Outgoing) -> Result<u16, String> {
    let client = shared.http_client()?;
    let mut request = client
        .post(&out.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "Discord-Webhook/1.0 (+https://discord.com) discord-oauth-mock",
        )
        .timeout(DELIVERY_TIMEOUT)
        .body(out.body.clone());
    if let Some(sig) = &out.signature_hex {
        request = request
            .header("x-signature-ed25519", sig)
            .header("x-signature-timestamp", &out.timestamp);
    }
    match request.send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) => Err(e.to_string()),
    }
}

/// Fire and forget: delivers in the background on the current tokio runtime. Without one,
/// records the delivery as failed (so [`wait_for_event_deliveries`] does not wait for it).
///
/// [`wait_for_event_deliveries`]: crate::MockDiscord::wait_for_event_deliveries
pub(crate) fn spawn(shared: &Arc<Shared>, out: Outgoing) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let shared = Arc::clone(shared);
            handle.spawn(async move {
                let _ = deliver(&shared, out).await;
            });
        }
        Err(_) => record(
            shared,
            EventDelivery {
                url: out.url,
                event_type: out.event_type,
                body: out.body,
                timestamp: out.timestamp,
                signature: out.signature,
                status: None,
                error: Some("no tokio runtime to deliver the event on".to_owned()),
            },
        ),
    }
}
