//! Linked third-party accounts: `GET /users/@me/connections` (`connections` scope).

use oauth2::AccessToken;
use serde::{Deserialize, Serialize};

use super::de::{lenient_u64, null_default};
use super::guild::parse_list;
use super::{ApiCall, Credential, api_request};
use crate::{Endpoints, Snowflake};

/// An account the user linked to Discord (the spec's `ConnectedAccountResponse`).
///
/// ```
/// use discord_oauth_core::api::Connection;
/// let c: Connection = serde_json::from_str(r#"{
///     "id": "12345", "name": "octocat", "type": "github", "friend_sync": false,
///     "integrations": [], "show_activity": true, "two_way_link": false,
///     "verified": true, "visibility": 1
/// }"#).unwrap();
/// assert_eq!(c.kind, "github");
/// assert!(c.is_public());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// The account's id on the other service.
    pub id: String,
    /// The account's name on the other service.
    #[serde(default)]
    pub name: Option<String>,
    /// The service: `github`, `steam`, `twitch`, `youtube`, `xbox`, `domain`, …
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// Whether the connection is revoked.
    #[serde(default, deserialize_with = "null_default")]
    pub revoked: bool,
    /// The server integrations of this connection.
    #[serde(default, deserialize_with = "null_default")]
    pub integrations: Vec<ConnectionIntegration>,
    /// Whether the connection is verified.
    #[serde(default, deserialize_with = "null_default")]
    pub verified: bool,
    /// Whether friend sync is on.
    #[serde(default, deserialize_with = "null_default")]
    pub friend_sync: bool,
    /// Whether activities from this connection show in presence.
    #[serde(default, deserialize_with = "null_default")]
    pub show_activity: bool,
    /// Whether the connection has a matching third-party OAuth2 token.
    #[serde(default, deserialize_with = "null_default")]
    pub two_way_link: bool,
    /// 0: only the user can see it; 1: everyone.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub visibility: Option<u64>,
}

impl Connection {
    /// `true` if the connection is visible to everyone (`visibility` 1).
    pub fn is_public(&self) -> bool {
        self.visibility == Some(1)
    }
}

/// A server integration attached to a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionIntegration {
    /// The integration's id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `twitch`, `youtube`, `discord` or `guild_subscription`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// The integration's account.
    #[serde(default)]
    pub account: Option<IntegrationAccount>,
    /// The guild of the integration.
    #[serde(default)]
    pub guild: Option<IntegrationGuild>,
}

/// The account of a connection's integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IntegrationAccount {
    /// The account id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// The account name.
    #[serde(default)]
    pub name: Option<String>,
}

/// The guild of a connection's integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IntegrationGuild {
    /// The guild's id.
    pub id: Snowflake,
    /// The guild's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The guild's icon hash.
    #[serde(default)]
    pub icon: Option<String>,
}

/// `GET /users/@me/connections`: the user's linked accounts. Needs the `connections` scope.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// let call = api::current_user_connections(&Endpoints::discord(), &AccessToken::new("t".into()));
/// assert_eq!(call.request().uri(), "https://discord.com/api/v10/users/@me/connections");
/// ```
pub fn current_user_connections(endpoints: &Endpoints, token: &AccessToken) -> ApiCall<Vec<Connection>> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            "users/@me/connections",
            Credential::Bearer(token),
            None,
        ),
        parse_list,
    )
}
