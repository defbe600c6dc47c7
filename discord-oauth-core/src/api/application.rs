//! The application object (`GET /oauth2/applications/@me`) and the current authorization
//! (`GET /oauth2/@me`).

use std::collections::BTreeMap;

use oauth2::AccessToken;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use super::de::{lenient_u64, null_default};
use super::user::User;
use super::{ApiCall, BotToken, Credential, api_request};
use crate::cdn::{self, ImageSize};
use crate::response::parse_api_json;
use crate::{Endpoints, Permissions, Scope, Scopes, Snowflake};

/// A Discord application: the full object from `GET /oauth2/applications/@me` (the spec's
/// `PrivateApplicationResponse`) or the partial one inside `GET /oauth2/@me`.
///
/// Only `id` is required; every other field tolerates being absent or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Application {
    /// The application's id (also its OAuth2 client id).
    pub id: Snowflake,
    /// The name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The icon hash.
    #[serde(default)]
    pub icon: Option<String>,
    /// The description.
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// The application type, if any (4: guild role subscriptions).
    #[serde(default, rename = "type", deserialize_with = "lenient_u64")]
    pub kind: Option<u64>,
    /// The default rich presence invite cover image hash.
    #[serde(default)]
    pub cover_image: Option<String>,
    /// The SKU id of a game sold on Discord.
    #[serde(default)]
    pub primary_sku_id: Option<Snowflake>,
    /// The application's bot user.
    #[serde(default)]
    pub bot: Option<User>,
    /// The store page slug of a game sold on Discord.
    #[serde(default)]
    pub slug: Option<String>,
    /// The guild associated with the application.
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    /// RPC origin URLs.
    #[serde(default, deserialize_with = "null_default")]
    pub rpc_origins: Vec<String>,
    /// Whether anyone (not just the owner) can add the bot to guilds.
    #[serde(default)]
    pub bot_public: Option<bool>,
    /// Whether adding the bot needs the full authorization code grant.
    #[serde(default)]
    pub bot_require_code_grant: Option<bool>,
    /// The terms of service URL.
    #[serde(default)]
    pub terms_of_service_url: Option<String>,
    /// The privacy policy URL.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    /// The custom authorization URL.
    #[serde(default)]
    pub custom_install_url: Option<String>,
    /// The default in-app authorization settings.
    #[serde(default)]
    pub install_params: Option<InstallParams>,
    /// Per installation context (`"0"` guild, `"1"` user) settings.
    #[serde(default, deserialize_with = "null_default")]
    pub integration_types_config: BTreeMap<String, IntegrationTypeConfig>,
    /// The hex-encoded Ed25519 key for verifying interaction requests.
    #[serde(default, deserialize_with = "null_default")]
    pub verify_key: String,
    /// The application flags (a bit field; see Discord's application flags table).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub flags: Option<u64>,
    /// The maximum number of activity participants.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_participants: Option<u64>,
    /// Tags describing the application.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// The registered OAuth2 redirect URIs.
    #[serde(default, deserialize_with = "null_default")]
    pub redirect_uris: Vec<String>,
    /// The interactions endpoint URL.
    #[serde(default)]
    pub interactions_endpoint_url: Option<String>,
    /// The linked-roles verification URL.
    #[serde(default)]
    pub role_connections_verification_url: Option<String>,
    /// The owner (for team-owned apps, a pseudo-user standing for the team).
    #[serde(default)]
    pub owner: Option<User>,
    /// The team owning the application.
    #[serde(default)]
    pub team: Option<Team>,
    /// Approximate number of guilds the app is in.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_guild_count: Option<u64>,
    /// Approximate number of users who installed the app.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_user_install_count: Option<u64>,
    /// Approximate number of users who authorized the app with OAuth2.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_user_authorization_count: Option<u64>,
    /// The event webhooks URL.
    #[serde(default)]
    pub event_webhooks_url: Option<String>,
    /// The event webhooks status (1 disabled, 2 enabled, 3 disabled by Discord).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub event_webhooks_status: Option<u64>,
    /// The event webhook types subscribed to.
    #[serde(default, deserialize_with = "null_default")]
    pub event_webhooks_types: Vec<String>,
    /// The explicit content filter for interactions (0 inherit, 1 always).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub explicit_content_filter: Option<u64>,
    /// Scopes this application may request.
    #[serde(default, deserialize_with = "null_default")]
    pub eligible_oauth2_scopes: Vec<String>,
    /// Whether the application has a webhook (legacy field of the `/oauth2/@me` example).
    #[serde(default)]
    pub hook: Option<bool>,
}

impl Application {
    /// The URL of the application's icon, if it has one.
    pub fn icon_url(&self, size: Option<ImageSize>) -> Option<Url> {
        self.icon
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| cdn::application_icon(self.id, h, size))
    }
}

/// Default authorization settings (`install_params`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstallParams {
    /// The scopes to add the application with.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    /// The permissions to ask for the bot.
    #[serde(default, deserialize_with = "null_default")]
    pub permissions: Permissions,
}

/// Settings for one installation context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IntegrationTypeConfig {
    /// The install parameters for this context.
    #[serde(default)]
    pub oauth2_install_params: Option<InstallParams>,
}

/// A developer team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Team {
    /// The team's id.
    pub id: Snowflake,
    /// The icon hash.
    #[serde(default)]
    pub icon: Option<String>,
    /// The name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The owner's user id.
    #[serde(default)]
    pub owner_user_id: Option<Snowflake>,
    /// The members.
    #[serde(default, deserialize_with = "null_default")]
    pub members: Vec<TeamMember>,
}

/// A member of a developer team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeamMember {
    /// The user.
    pub user: User,
    /// The team's id.
    #[serde(default)]
    pub team_id: Option<Snowflake>,
    /// 1 invited, 2 accepted.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub membership_state: Option<u64>,
    /// `admin`, `developer` or `read_only`.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// Always `["*"]`.
    #[serde(default, deserialize_with = "null_default")]
    pub permissions: Vec<String>,
}

/// What `GET /oauth2/@me` says about the current authorization.
///
/// ```
/// use discord_oauth_core::{Scope, api::AuthorizationInfo};
/// let info: AuthorizationInfo = serde_json::from_str(r#"{
///     "application": {"id": "159799960412356608", "name": "AIRHORN SOLUTIONS"},
///     "scopes": ["guilds.join", "identify"],
///     "expires": "2021-01-23T02:33:17.017000+00:00",
///     "user": {"id": "268473310986240001", "username": "discord", "discriminator": "0"}
/// }"#).unwrap();
/// assert!(info.scopes.contains(&Scope::GuildsJoin));
/// assert_eq!(info.user.unwrap().username, "discord");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationInfo {
    /// The (partial) application the token was issued to.
    pub application: Application,
    /// The scopes granted (a JSON array on the wire).
    #[serde(default, deserialize_with = "scopes_array", serialize_with = "scopes_to_array")]
    pub scopes: Scopes,
    /// When the access token expires, as an ISO 8601 timestamp.
    #[serde(default)]
    pub expires: Option<String>,
    /// The user, if the `identify` scope was granted.
    #[serde(default)]
    pub user: Option<User>,
}

fn scopes_array<'de, D: Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
    let list: Vec<Scope> = null_default(d)?;
    Ok(list.into_iter().collect())
}

fn scopes_to_array<S: Serializer>(scopes: &Scopes, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(scopes.iter())
}

/// `GET /oauth2/@me`: the application, granted scopes, expiry and (with `identify`) user of
/// the current access token. Works with any scope; a cheap way to check a token is still valid.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// let call = api::current_authorization(&Endpoints::discord(), &AccessToken::new("t".into()));
/// assert_eq!(call.request().uri(), "https://discord.com/api/v10/oauth2/@me");
/// ```
pub fn current_authorization(endpoints: &Endpoints, token: &AccessToken) -> ApiCall<AuthorizationInfo> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            "oauth2/@me",
            Credential::Bearer(token),
            None,
        ),
        parse_api_json,
    )
}

/// `GET /oauth2/applications/@me`: the bot's own application, with the bot token.
///
/// ```
/// use discord_oauth_core::{Endpoints, api::{self, BotToken}};
/// let call = api::current_application(&Endpoints::discord(), &BotToken::new("b".into()));
/// let req = call.request();
/// assert_eq!(req.uri(), "https://discord.com/api/v10/oauth2/applications/@me");
/// assert_eq!(req.headers()["authorization"], "Bot b");
/// ```
pub fn current_application(endpoints: &Endpoints, bot: &BotToken) -> ApiCall<Application> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            "oauth2/applications/@me",
            Credential::Bot(bot),
            None,
        ),
        parse_api_json,
    )
}
