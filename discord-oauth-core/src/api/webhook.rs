//! The webhook a `webhook.incoming` authorization creates (`webhook` in the token response).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::de::{lenient_u64, null_default};
use super::user::User;
use crate::Snowflake;

/// A webhook's own token: whoever has it can post to the channel.
///
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookToken(String);

impl WebhookToken {
    /// Wraps a webhook token.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The raw token.
    ///
    /// # Security
    /// Store it like a password; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken([redacted])")
    }
}

/// An incoming webhook, as the token response of a `webhook.incoming` authorization carries
/// it. Store `id` and `token`: together they let you execute the webhook
/// (`POST /webhooks/{id}/{token}`) without any OAuth token.
///
/// `Debug` hides `token` and `url` (which contains the token).
///
/// ```
/// use discord_oauth_core::api::IncomingWebhook;
/// let w: IncomingWebhook = serde_json::from_str(r#"{
///     "application_id": "310954232226357250", "name": "testwebhook",
///     "url": "https://discord.com/api/webhooks/347114750880120863/kKDd-secret",
///     "channel_id": "345626669224982402", "token": "kKDd-secret", "type": 1,
///     "avatar": null, "guild_id": "290926792226357250", "id": "347114750880120863"
/// }"#).unwrap();
/// assert_eq!(w.token.as_ref().unwrap().secret(), "kKDd-secret");
/// assert!(!format!("{w:?}").contains("kKDd-secret"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncomingWebhook {
    /// The webhook's id.
    pub id: Snowflake,
    /// The webhook type (1: incoming).
    #[serde(rename = "type", default, deserialize_with = "lenient_u64")]
    pub kind: Option<u64>,
    /// The guild of the channel.
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    /// The channel the webhook posts to.
    #[serde(default)]
    pub channel_id: Option<Snowflake>,
    /// The application that created the webhook.
    #[serde(default)]
    pub application_id: Option<Snowflake>,
    /// The default name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The default avatar hash.
    #[serde(default)]
    pub avatar: Option<String>,
    /// The user who created the webhook.
    #[serde(default)]
    pub user: Option<User>,
    /// The webhook's secure token.
    #[serde(default)]
    pub token: Option<WebhookToken>,
    /// The execute URL (contains the token).
    #[serde(default)]
    pub url: Option<String>,
}

impl fmt::Debug for IncomingWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingWebhook")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("guild_id", &self.guild_id)
            .field("channel_id", &self.channel_id)
            .field("application_id", &self.application_id)
            .field("name", &self.name)
            .field("avatar", &self.avatar)
            .field("user", &self.user)
            .field("token", &self.token)
            .field("url", &self.url.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}
