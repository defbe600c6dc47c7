//! Discord API calls that OAuth2 scopes unlock, as sans-IO [`ApiCall`] values, and the types
//! they return.
//!
//! Each function builds the request; send [`ApiCall::request`] with any HTTP client and give
//! the answer to [`ApiCall::parse`]. User tokens travel only in the `Authorization: Bearer`
//! header (never in a query string); bot tokens as `Authorization: Bot …`.
//!
//! Around every call, [`ratelimit`] keeps each token within Discord's rate limits and the
//! whole process within its invalid-request limit, and [`cache`] keeps per-user reads that
//! change slowly for a short while.

use std::fmt;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use oauth2::AccessToken;

use crate::client::{Endpoints, to_uri};
pub use crate::response::{ApiCall, ApiError};
pub use crate::snowflake::Snowflake;

mod application;
pub mod cache;
pub mod client;
mod connection;
pub(crate) mod de;
mod guild;
mod openid;
pub mod ratelimit;
mod role_connection;
mod user;
mod webhook;

pub use application::{
    Application, AuthorizationInfo, InstallParams, IntegrationTypeConfig, Team, TeamMember, current_application,
    current_authorization,
};
pub use connection::{
    Connection, ConnectionIntegration, IntegrationAccount, IntegrationGuild, current_user_connections,
};
pub use guild::{
    AddGuildMember, AddGuildMemberOutcome, CurrentUserGuild, Emoji, Guild, GuildsQuery, MAX_GUILDS_PAGE, Member, Role,
    RoleColors, RoleTags, add_guild_member, current_user_guild_member, current_user_guilds,
};
pub use openid::{keys, userinfo};
pub use role_connection::{
    MetadataType, RoleConnection, RoleConnectionMetadata, get_role_connection, role_connection_metadata,
    update_role_connection, update_role_connection_metadata,
};
pub use user::{AvatarDecoration, Collectibles, Nameplate, PremiumType, PrimaryGuild, User, current_user};
pub use webhook::{IncomingWebhook, WebhookToken};

/// A bot token (from the developer portal), for the few calls that need the bot's identity
/// (`/oauth2/applications/@me`, adding a member to a guild).
///
/// `Debug` never shows the token.
///
/// ```
/// use discord_oauth_core::{Endpoints, api::{self, BotToken}};
///
/// let bot = BotToken::new("bot-token-from-the-portal".into());
/// assert_eq!(format!("{bot:?}"), "BotToken([redacted])");
/// let request = api::current_application(&Endpoints::discord(), &bot).request();
/// assert_eq!(request.headers()["authorization"], "Bot bot-token-from-the-portal");
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct BotToken(String);

impl BotToken {
    /// Wraps a bot token.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The raw token.
    ///
    /// # Security
    /// Never log or display this value.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken([redacted])")
    }
}

/// Which credential authorizes an API request.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A user's OAuth2 access token: `Authorization: Bearer …`.
    Bearer(&'a AccessToken),
    /// The application's bot token: `Authorization: Bot …`.
    Bot(&'a BotToken),
    /// No credential (public endpoints such as `/oauth2/keys`).
    None,
}

/// Builds a request to `{api_base}/{path}` (no leading slash in `path`), with the credential
/// in the `Authorization` header (marked sensitive) and an optional JSON body.
pub(crate) fn api_request(
    endpoints: &Endpoints,
    method: http::Method,
    path: &str,
    credential: Credential<'_>,
    json_body: Option<Vec<u8>>,
) -> http::Request<Vec<u8>> {
    let url = endpoints.api_url(path);
    let has_body = json_body.is_some();
    let mut req = http::Request::new(json_body.unwrap_or_default());
    *req.method_mut() = method;
    *req.uri_mut() = to_uri(&url);
    let headers = req.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let auth = match credential {
        Credential::Bearer(t) => Some(format!("Bearer {}", t.secret())),
        Credential::Bot(t) => Some(format!("Bot {}", t.secret())),
        Credential::None => None,
    };
    if let Some(mut value) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    req
}
