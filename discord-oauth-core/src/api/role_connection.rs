//! Linked roles: the user's role connection for an application
//! (`/users/@me/applications/{id}/role-connection`, `role_connections.write` scope) and the
//! application's role connection metadata records (`/applications/{id}/role-connections/metadata`,
//! bot token).

use std::collections::BTreeMap;

use oauth2::AccessToken;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::{lenient_u64, null_default};
use super::guild::parse_list;
use super::{ApiCall, BotToken, Credential, api_request};
use crate::response::parse_api_json;
use crate::{Endpoints, Snowflake};

/// A user's role connection for an application: what the application says about the user on
/// its platform, checked by guilds' linked roles against the application's
/// [`RoleConnectionMetadata`].
///
/// Discord's limits: `platform_name` up to 50 characters, `platform_username` up to 100, at
/// most 5 `metadata` entries whose keys match metadata records and whose values are 1–100
/// characters (integers and booleans as decimal strings, `"1"`/`"0"`; dates as ISO 8601).
/// This crate does not check them; Discord answers 400 with details
/// ([`crate::ResponseError::Discord`]) when they are exceeded.
///
/// ```
/// use discord_oauth_core::api::RoleConnection;
/// let rc = RoleConnection::new("Example Game")
///     .with_username("player1")
///     .with_metadata("level", "42")
///     .with_metadata("verified", "1");
/// assert_eq!(
///     serde_json::to_string(&rc).unwrap(),
///     r#"{"platform_name":"Example Game","platform_username":"player1","metadata":{"level":"42","verified":"1"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleConnection {
    /// The vanity name of the platform the application links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
    /// The user's name on that platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_username: Option<String>,
    /// Metadata values by metadata key (all values are strings on the wire).
    #[serde(default, deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
}

impl RoleConnection {
    /// A role connection naming the platform.
    pub fn new(platform_name: impl Into<String>) -> Self {
        Self {
            platform_name: Some(platform_name.into()),
            ..Self::default()
        }
    }

    /// Sets the user's name on the platform.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.platform_username = Some(username.into());
        self
    }

    /// Sets one metadata value.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A map whose values should be strings; numbers and booleans are turned into strings, `null`
/// values and a `null` map are dropped.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, if b { "1" } else { "0" }.to_owned())),
            _ => None,
        })
        .collect())
}

/// `GET /users/@me/applications/{application_id}/role-connection`: the user's role
/// connection for the application. Needs the `role_connections.write` scope.
pub fn get_role_connection(
    endpoints: &Endpoints,
    token: &AccessToken,
    application_id: Snowflake,
) -> ApiCall<RoleConnection> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            &format!("users/@me/applications/{application_id}/role-connection"),
            Credential::Bearer(token),
            None,
        ),
        parse_api_json,
    )
}

/// `PUT /users/@me/applications/{application_id}/role-connection`: replaces the user's role
/// connection for the application and returns what Discord stored. Needs the
/// `role_connections.write` scope.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, Snowflake, api::{self, RoleConnection}};
/// let call = api::update_role_connection(
///     &Endpoints::discord(),
///     &AccessToken::new("t".into()),
///     Snowflake::new(159799960412356608),
///     &RoleConnection::new("Example Game").with_metadata("level", "3"),
/// );
/// let req = call.request();
/// assert_eq!(req.method(), "PUT");
/// assert_eq!(
///     req.uri(),
///     "https://discord.com/api/v10/users/@me/applications/159799960412356608/role-connection"
/// );
/// assert_eq!(req.headers()["content-type"], "application/json");
/// ```
pub fn update_role_connection(
    endpoints: &Endpoints,
    token: &AccessToken,
    application_id: Snowflake,
    connection: &RoleConnection,
) -> ApiCall<RoleConnection> {
    let body = serde_json::to_vec(connection).unwrap_or_default();
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::PUT,
            &format!("users/@me/applications/{application_id}/role-connection"),
            Credential::Bearer(token),
            Some(body),
        ),
        parse_api_json,
    )
}

/// How a guild compares a user's metadata value with its configured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetadataType {
    /// 1: integer, user value ≤ guild value.
    IntegerLessThanOrEqual,
    /// 2: integer, user value ≥ guild value.
    IntegerGreaterThanOrEqual,
    /// 3: integer, equal.
    IntegerEqual,
    /// 4: integer, not equal.
    IntegerNotEqual,
    /// 5: ISO 8601 date, at most the guild's number of days ago.
    DatetimeLessThanOrEqual,
    /// 6: ISO 8601 date, at least the guild's number of days ago.
    DatetimeGreaterThanOrEqual,
    /// 7: boolean, equal to the guild's value.
    BooleanEqual,
    /// 8: boolean, not equal to the guild's value.
    BooleanNotEqual,
    /// A value this version does not know.
    Other(u64),
}

impl From<u64> for MetadataType {
    fn from(v: u64) -> Self {
        match v {
            1 => Self::IntegerLessThanOrEqual,
            2 => Self::IntegerGreaterThanOrEqual,
            3 => Self::IntegerEqual,
            4 => Self::IntegerNotEqual,
            5 => Self::DatetimeLessThanOrEqual,
            6 => Self::DatetimeGreaterThanOrEqual,
            7 => Self::BooleanEqual,
            8 => Self::BooleanNotEqual,
            other => Self::Other(other),
        }
    }
}

impl From<MetadataType> for u64 {
    fn from(t: MetadataType) -> Self {
        match t {
            MetadataType::IntegerLessThanOrEqual => 1,
            MetadataType::IntegerGreaterThanOrEqual => 2,
            MetadataType::IntegerEqual => 3,
            MetadataType::IntegerNotEqual => 4,
            MetadataType::DatetimeLessThanOrEqual => 5,
            MetadataType::DatetimeGreaterThanOrEqual => 6,
            MetadataType::BooleanEqual => 7,
            MetadataType::BooleanNotEqual => 8,
            MetadataType::Other(v) => v,
        }
    }
}

impl Serialize for MetadataType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::from(*self))
    }
}

impl<'de> Deserialize<'de> for MetadataType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(lenient_u64(d)?.unwrap_or_default()))
    }
}

/// One metadata record of an application: a value its role connections may carry, and how
/// guilds compare it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleConnectionMetadata {
    /// The comparison.
    #[serde(rename = "type")]
    pub kind: MetadataType,
    /// The key (`a-z`, `0-9`, `_`; 1–50 characters).
    pub key: String,
    /// The name (1–100 characters).
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Localized names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_localizations: Option<BTreeMap<String, String>>,
    /// The description (1–200 characters).
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// Localized descriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_localizations: Option<BTreeMap<String, String>>,
}

impl RoleConnectionMetadata {
    /// A record without localizations.
    pub fn new(
        kind: MetadataType,
        key: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            key: key.into(),
            name: name.into(),
            name_localizations: None,
            description: description.into(),
            description_localizations: None,
        }
    }
}

/// `GET /applications/{application_id}/role-connections/metadata` with the bot token.
pub fn role_connection_metadata(
    endpoints: &Endpoints,
    bot: &BotToken,
    application_id: Snowflake,
) -> ApiCall<Vec<RoleConnectionMetadata>> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            &format!("applications/{application_id}/role-connections/metadata"),
            Credential::Bot(bot),
            None,
        ),
        parse_list,
    )
}

/// `PUT /applications/{application_id}/role-connections/metadata` with the bot token:
/// replaces all records (at most 5).
pub fn update_role_connection_metadata(
    endpoints: &Endpoints,
    bot: &BotToken,
    application_id: Snowflake,
    records: &[RoleConnectionMetadata],
) -> ApiCall<Vec<RoleConnectionMetadata>> {
    let body = serde_json::to_vec(records).unwrap_or_default();
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::PUT,
            &format!("applications/{application_id}/role-connections/metadata"),
            Credential::Bot(bot),
            Some(body),
        ),
        parse_list,
    )
}
