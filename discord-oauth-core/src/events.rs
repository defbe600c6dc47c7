//! Discord's webhook events, sans-IO: the signed `POST` Discord sends to an application's
//! "Events Webhook URL", verified and typed.
//!
//! An application that sets an Events Webhook URL in the Developer Portal (the spec's
//! `event_webhooks_url`, with `event_webhooks_types` naming the events it wants) receives:
//! - a **PING** (`"type": 0`) when the URL is saved, which must be answered `204` for Discord
//!   to keep the URL;
//! - **events** (`"type": 1`): `{"version": 1, "application_id": …, "type": 1, "event":
//!   {"type": "APPLICATION_DEAUTHORIZED", "timestamp": …, "data": {…}}}`.
//!
//! Every request carries `X-Signature-Ed25519` (hex) and `X-Signature-Timestamp`; the
//! signature covers the timestamp's bytes followed by the raw body, under the application's
//! public key ([`ApplicationPublicKey`], from the Developer Portal). Discord deliberately sends
//! requests with invalid signatures and removes URLs that accept them, so every failure is a
//! `401`. An answer must come within three seconds, a `204` with an empty body.
//!
//! [`EventVerifier::receive`] makes the whole decision — method, size, signature, then (only
//! for signed bytes) parsing — and returns a [`Receipt`]: the exact `http::Response<String>` to
//! send (so every framework answers byte for byte the same) and the parsed [`WebhookPayload`].
//!
//! # Delivery: at least once, in any order
//! Discord retries an event whose answer was not a `2xx` within three seconds (with backoff,
//! then it gives up), gives no delivery id, and does not order events. So the application's
//! handling must be **idempotent and order-independent**:
//! - acting on [`WebhookEvent::ApplicationDeauthorized`] twice must be harmless (ending the
//!   sessions of a user who has none left is a no-op);
//! - an `APPLICATION_DEAUTHORIZED` may arrive before the `APPLICATION_AUTHORIZED` it
//!   follows, or after the user authorized again: compare [`WebhookPayload::timestamp`] with
//!   what you stored if that matters;
//! - answer first, then do slow work (the answer does not depend on it); if the application
//!   cannot act at all (its session store is down), answer [`retry_later`] instead of the
//!   receipt's `204`, and Discord delivers again later.
//!
//! A request whose signature verifies is Discord's, but may be a replay of an earlier one by
//! whoever saw it (the timestamp is signed, not checked against a clock here): idempotent
//! handling makes a replay as harmless as Discord's own retries.
//!
//! ```
//! use discord_oauth_core::events::{EventVerifier, WebhookEvent, sign_event};
//!
//! // The Developer Portal's "Public Key"; here the key of a test seed.
//! let seed = [7u8; 32];
//! let public_key_hex = discord_oauth_core::ApplicationPublicKey::from_seed(&seed).to_hex();
//! let verifier = EventVerifier::from_hex(&public_key_hex)?;
//!
//! // What Discord sends (signed here with the test seed, as Discord signs with its key).
//! let body = br#"{"version":1,"application_id":"1234560123453231555","type":1,
//!     "event":{"type":"APPLICATION_DEAUTHORIZED","timestamp":"2024-10-18T14:42:53.064834",
//!     "data":{"user":{"id":"80351110224678912","username":"nelly","discriminator":"0"}}}}"#;
//! let timestamp = "1729262573";
//! let signature = sign_event(&seed, timestamp, body);
//!
//! let receipt = verifier.receive("POST", None, Some(signature.as_bytes()), Some(timestamp.as_bytes()), body);
//! assert_eq!(receipt.response.status(), 204);
//! assert!(receipt.response.body().is_empty());
//! match receipt.payload.map(|p| p.event) {
//!     Some(WebhookEvent::ApplicationDeauthorized(d)) => assert_eq!(d.user.id.get(), 80351110224678912),
//!     other => panic!("{other:?}"),
//! }
//!
//! // The same body under another timestamp (or changed by a byte) is refused.
//! let replayed = verifier.receive("POST", None, Some(signature.as_bytes()), Some(b"1729262574"), body);
//! assert_eq!(replayed.response.status(), 401);
//! assert!(replayed.payload.is_none());
//! # Ok::<(), discord_oauth_core::PublicKeyError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::Snowflake;
use crate::api::de::null_default;
use crate::api::{Guild, User};
use crate::authorize::IntegrationType;
use crate::scope::Scope;

pub use crate::public_key::{ApplicationPublicKey, PublicKeyError};

mod receiver;
mod timestamp;

pub use receiver::{
    EventRejection, EventVerifier, MAX_EVENT_BODY_BYTES, Receipt, SIGNATURE_HEADER, TIMESTAMP_HEADER, retry_later,
    sign_event,
};
pub use timestamp::EventTimestamp;

/// The names of the event types Discord documents (the values of `event.type`, and of the
/// application's `event_webhooks_types`).
pub mod event_type {
    /// A user authorized the application (user or guild install).
    pub const APPLICATION_AUTHORIZED: &str = "APPLICATION_AUTHORIZED";
    /// A user removed the application's authorization.
    pub const APPLICATION_DEAUTHORIZED: &str = "APPLICATION_DEAUTHORIZED";
    /// An entitlement was created (a purchase, a subscription, a gift, …).
    pub const ENTITLEMENT_CREATE: &str = "ENTITLEMENT_CREATE";
    /// An entitlement was updated (e.g. a subscription renewed or ended).
    pub const ENTITLEMENT_UPDATE: &str = "ENTITLEMENT_UPDATE";
    /// An entitlement was deleted.
    pub const ENTITLEMENT_DELETE: &str = "ENTITLEMENT_DELETE";
    /// A user enrolled in one of the application's Quests.
    pub const QUEST_USER_ENROLLMENT: &str = "QUEST_USER_ENROLLMENT";
    /// A message was sent in a lobby.
    pub const LOBBY_MESSAGE_CREATE: &str = "LOBBY_MESSAGE_CREATE";
    /// A lobby message was edited.
    pub const LOBBY_MESSAGE_UPDATE: &str = "LOBBY_MESSAGE_UPDATE";
    /// A lobby message was deleted.
    pub const LOBBY_MESSAGE_DELETE: &str = "LOBBY_MESSAGE_DELETE";
    /// A direct message was sent through the game SDK.
    pub const GAME_DIRECT_MESSAGE_CREATE: &str = "GAME_DIRECT_MESSAGE_CREATE";
    /// A game direct message was edited.
    pub const GAME_DIRECT_MESSAGE_UPDATE: &str = "GAME_DIRECT_MESSAGE_UPDATE";
    /// A game direct message was deleted.
    pub const GAME_DIRECT_MESSAGE_DELETE: &str = "GAME_DIRECT_MESSAGE_DELETE";
}

/// The payload type of a PING (`"type": 0`).
pub const PAYLOAD_PING: u64 = 0;
/// The payload type of an event (`"type": 1`).
pub const PAYLOAD_EVENT: u64 = 1;

/// A webhook request's body: Discord's webhook event payload, typed.
///
/// Serializes back to Discord's shape (`version`, `application_id`, `type`, `event`), and
/// what it serializes to reads back equal.
///
/// ```
/// use discord_oauth_core::events::{WebhookEvent, WebhookPayload};
/// let ping = WebhookPayload::from_slice(br#"{"version":1,"application_id":"1234560123453231555","type":0}"#)?;
/// assert_eq!(ping.event, WebhookEvent::Ping);
/// assert_eq!(ping.timestamp, None);
///
/// let lobby = WebhookPayload::from_slice(br#"{"version":1,"application_id":"1234560123453231555","type":1,
///     "event":{"type":"LOBBY_MESSAGE_CREATE","timestamp":"2025-01-02T03:04:05.678","data":{"id":"1","content":"hi"}}}"#)?;
/// assert_eq!(lobby.event.event_type(), "LOBBY_MESSAGE_CREATE");
/// assert!(matches!(&lobby.event, WebhookEvent::Other { data, .. } if data["content"] == "hi"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPayload", into = "RawPayload")]
#[non_exhaustive]
pub struct WebhookPayload {
    /// The payload format's version (`1`).
    pub version: u64,
    /// The application the event is for.
    pub application_id: Snowflake,
    /// When the event happened (`event.timestamp`); `None` for a PING.
    pub timestamp: Option<EventTimestamp>,
    /// What happened.
    pub event: WebhookEvent,
}

impl WebhookPayload {
    /// Parses a body. Only parse bodies whose signature verified ([`EventVerifier::receive`]
    /// does both, in that order).
    pub fn from_slice(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The body as Discord's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What a webhook request says happened.
///
/// ```
/// use discord_oauth_core::events::{WebhookEvent, WebhookPayload};
///
/// let body = br#"{"version":1,"application_id":"1234560123453231555","type":1,
///     "event":{"type":"APPLICATION_DEAUTHORIZED","timestamp":"2024-10-18T18:41:21.109604",
///     "data":{"user":{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}}}}"#;
/// let payload = WebhookPayload::from_slice(body)?; // after the signature verified
///
/// match &payload.event {
///     WebhookEvent::Ping => {} // answer 204
///     WebhookEvent::ApplicationDeauthorized(event) => {
///         // End every session of this user.
///         assert_eq!(event.user.username, "nelly");
///     }
///     WebhookEvent::ApplicationAuthorized(_) => {}
///     WebhookEvent::EntitlementCreate(e) | WebhookEvent::EntitlementUpdate(e) | WebhookEvent::EntitlementDelete(e) => {
///         let _sku = &e.sku_id;
///     }
///     other => println!("ignoring {}", other.event_type()),
/// }
/// assert_eq!(payload.event.deauthorized_user_id().map(u64::from), Some(80351110224678912));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// Discord checking the URL (payload type 0): nothing happened; answer `204`.
    Ping,
    /// `APPLICATION_AUTHORIZED`: a user installed the application to their account or to a
    /// guild.
    ApplicationAuthorized(ApplicationAuthorized),
    /// `APPLICATION_DEAUTHORIZED`: a user removed the application; end their sessions.
    ApplicationDeauthorized(ApplicationDeauthorized),
    /// `ENTITLEMENT_CREATE`.
    EntitlementCreate(Entitlement),
    /// `ENTITLEMENT_UPDATE`.
    EntitlementUpdate(Entitlement),
    /// `ENTITLEMENT_DELETE`.
    EntitlementDelete(Entitlement),
    /// Any other event type (the lobby and game direct message events,
    /// `QUEST_USER_ENROLLMENT`, and types Discord adds later), with its `data` as sent.
    Other {
        /// `event.type`, e.g. `"LOBBY_MESSAGE_CREATE"`.
        kind: String,
        /// `event.data` (`null` when absent).
        data: serde_json::Value,
    },
}

impl WebhookEvent {
    /// The event type's name (`event.type`), or `"PING"` for a PING.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Ping => "PING",
            Self::ApplicationAuthorized(_) => event_type::APPLICATION_AUTHORIZED,
            Self::ApplicationDeauthorized(_) => event_type::APPLICATION_DEAUTHORIZED,
            Self::EntitlementCreate(_) => event_type::ENTITLEMENT_CREATE,
            Self::EntitlementUpdate(_) => event_type::ENTITLEMENT_UPDATE,
            Self::EntitlementDelete(_) => event_type::ENTITLEMENT_DELETE,
            Self::Other { kind, .. } => kind,
        }
    }

    /// The user of an `APPLICATION_AUTHORIZED` or `APPLICATION_DEAUTHORIZED` event.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::ApplicationAuthorized(a) => Some(&a.user),
            Self::ApplicationDeauthorized(d) => Some(&d.user),
            _ => None,
        }
    }

    /// The id of the user whose sessions should end: `Some` only for
    /// `APPLICATION_DEAUTHORIZED`.
    pub fn deauthorized_user_id(&self) -> Option<Snowflake> {
        match self {
            Self::ApplicationDeauthorized(d) => Some(d.user.id),
            _ => None,
        }
    }

    /// The entitlement of an `ENTITLEMENT_*` event.
    pub fn entitlement(&self) -> Option<&Entitlement> {
        match self {
            Self::EntitlementCreate(e) | Self::EntitlementUpdate(e) | Self::EntitlementDelete(e) => Some(e),
            _ => None,
        }
    }
}

/// The data of `APPLICATION_AUTHORIZED`.
///
/// ```
/// use discord_oauth_core::IntegrationType;
/// use discord_oauth_core::events::ApplicationAuthorized;
/// let data: ApplicationAuthorized = serde_json::from_str(r#"{
///     "integration_type": 1, "scopes": ["applications.commands"],
///     "user": {"id": "80351110224678912", "username": "nelly", "discriminator": "0"}
/// }"#)?;
/// assert_eq!(data.install(), Some(IntegrationType::UserInstall));
/// assert_eq!(data.scopes[0].as_str(), "applications.commands");
/// assert!(data.guild.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApplicationAuthorized {
    /// Where the application was installed: `0` a guild, `1` the user's account (see
    /// [`install`](Self::install)); absent in some payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_type: Option<u64>,
    /// The user who authorized the application.
    pub user: User,
    /// The scopes granted.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<Scope>,
    /// The guild the application was installed to (guild installs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild: Option<Box<Guild>>,
}

impl ApplicationAuthorized {
    /// [`integration_type`](Self::integration_type) as an [`IntegrationType`], when it is one
    /// of the two Discord documents.
    pub fn install(&self) -> Option<IntegrationType> {
        match self.integration_type? {
            0 => Some(IntegrationType::GuildInstall),
            1 => Some(IntegrationType::UserInstall),
            _ => None,
        }
    }
}

/// The data of `APPLICATION_DEAUTHORIZED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApplicationDeauthorized {
    /// The user who removed the application.
    pub user: User,
}

/// An entitlement (the data of `ENTITLEMENT_CREATE`, `_UPDATE` and `_DELETE`): what a user or
/// guild has access to through a purchase, a subscription, a gift, ….
///
/// Fields Discord sends beyond the typed ones (`gift_code_flags`, `promotion_id`,
/// `fulfillment_status`, …) are kept in [`extra`](Self::extra).
///
/// ```
/// use discord_oauth_core::events::{Entitlement, EntitlementType};
/// let e: Entitlement = serde_json::from_str(r#"{
///     "application_id": "1234560123453231555", "consumed": false, "deleted": false,
///     "gift_code_flags": 0, "id": "1234560123453231555", "promotion_id": null,
///     "sku_id": "1234560123453231555", "type": 3, "user_id": "1234560123453231555"
/// }"#)?;
/// assert_eq!(e.kind, EntitlementType::DEVELOPER_GIFT);
/// assert_eq!(e.extra["gift_code_flags"], 0);
/// assert!(e.guild_id.is_none() && e.starts_at.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entitlement {
    /// The entitlement's id.
    pub id: Snowflake,
    /// The SKU it grants.
    pub sku_id: Snowflake,
    /// The application it belongs to.
    pub application_id: Snowflake,
    /// The user it is for (user entitlements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Snowflake>,
    /// The guild it is for (guild entitlements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<Snowflake>,
    /// How it was acquired.
    #[serde(rename = "type")]
    pub kind: EntitlementType,
    /// Whether it was deleted.
    #[serde(default, deserialize_with = "null_default")]
    pub deleted: bool,
    /// Start of validity (subscriptions); `None` for entitlements without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<EventTimestamp>,
    /// End of validity (subscriptions); `None` for entitlements without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<EventTimestamp>,
    /// For consumable items, whether it was consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed: Option<bool>,
    /// Every other field, as Discord sent it.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An entitlement's `type`. Unknown values are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntitlementType(pub u64);

impl EntitlementType {
    /// Bought by the user.
    pub const PURCHASE: Self = Self(1);
    /// A Discord Nitro subscription.
    pub const PREMIUM_SUBSCRIPTION: Self = Self(2);
    /// A gift from the developer.
    pub const DEVELOPER_GIFT: Self = Self(3);
    /// A test-mode purchase by a developer.
    pub const TEST_MODE_PURCHASE: Self = Self(4);
    /// Granted while the SKU was free.
    pub const FREE_PURCHASE: Self = Self(5);
    /// A gift from another user.
    pub const USER_GIFT: Self = Self(6);
    /// Claimed for free through Nitro.
    pub const PREMIUM_PURCHASE: Self = Self(7);
    /// An application subscription.
    pub const APPLICATION_SUBSCRIPTION: Self = Self(8);
    /// A Quest reward.
    pub const QUEST_REWARD: Self = Self(10);
}

// ---------------------------------------------------------------------------------------------
// The wire shape
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Serialize, Deserialize)]
struct RawPayload {
    version: u64,
    application_id: Snowflake,
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<RawEvent>,
}

#[derive(Clone, Serialize, Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<EventTimestamp>,
    #[serde(default)]
    data: serde_json::Value,
}

/// An event's `data` as the type its `type` names.
fn typed<T: serde::de::DeserializeOwned>(event: &RawEvent) -> Result<T, String> {
    T::deserialize(&event.data).map_err(|e| format!("invalid {} data: {e}", event.kind))
}

impl TryFrom<RawPayload> for WebhookPayload {
    type Error = String;

    fn try_from(raw: RawPayload) -> Result<Self, String> {
        let (timestamp, event) = match (raw.kind, raw.event) {
            (PAYLOAD_PING, _) => (None, WebhookEvent::Ping),
            (PAYLOAD_EVENT, Some(e)) => {
                let event = match e.kind.as_str() {
                    event_type::APPLICATION_AUTHORIZED => WebhookEvent::ApplicationAuthorized(typed(&e)?),
                    event_type::APPLICATION_DEAUTHORIZED => WebhookEvent::ApplicationDeauthorized(typed(&e)?),
                    event_type::ENTITLEMENT_CREATE => WebhookEvent::EntitlementCreate(typed(&e)?),
                    event_type::ENTITLEMENT_UPDATE => WebhookEvent::EntitlementUpdate(typed(&e)?),
                    event_type::ENTITLEMENT_DELETE => WebhookEvent::EntitlementDelete(typed(&e)?),
                    _ => WebhookEvent::Other {
                        kind: e.kind,
                        data: e.data,
                    },
                };
                (e.timestamp, event)
            }
            (PAYLOAD_EVENT, None) => return Err("an event payload (type 1) without an \"event\"".to_owned()),
            (other, _) => return Err(format!("unknown webhook payload type {other}")),
        };
        Ok(Self {
            version: raw.version,
            application_id: raw.application_id,
            timestamp,
            event,
        })
    }
}

impl From<WebhookPayload> for RawPayload {
    fn from(p: WebhookPayload) -> Self {
        // The typed data are plain structs and JSON values: serializing them cannot fail.
        let value = |r: Result<serde_json::Value, serde_json::Error>| r.unwrap_or(serde_json::Value::Null);
        let kind = p.event.event_type().to_owned();
        let data = match p.event {
            WebhookEvent::Ping => {
                return Self {
                    version: p.version,
                    application_id: p.application_id,
                    kind: PAYLOAD_PING,
                    event: None,
                };
            }
            WebhookEvent::ApplicationAuthorized(a) => value(serde_json::to_value(a)),
            WebhookEvent::ApplicationDeauthorized(d) => value(serde_json::to_value(d)),
            WebhookEvent::EntitlementCreate(e)
            | WebhookEvent::EntitlementUpdate(e)
            | WebhookEvent::EntitlementDelete(e) => value(serde_json::to_value(e)),
            WebhookEvent::Other { data, .. } => data,
        };
        Self {
            version: p.version,
            application_id: p.application_id,
            kind: PAYLOAD_EVENT,
            event: Some(RawEvent {
                kind,
                timestamp: p.timestamp,
                data,
            }),
        }
    }
}
