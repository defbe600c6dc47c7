//! Bot authorization: the invite link that adds the app's bot to a guild.
//!
//! This flow has no callback and no token: Discord adds the bot and shows the user a
//! confirmation. For a bot invite that also logs the user in (advanced bot authorization),
//! use [`Client::authorize`] with [`crate::AuthorizeRequest::bot`].

use url::Url;

use crate::authorize::{IntegrationType, Query};
use crate::permissions::Permissions;
use crate::{Client, ConfigError, Scope, Scopes};

/// The parameters of a bot invite link.
///
/// ```
/// use discord_oauth_core::{BotAuthorization, Client, ClientId, Permissions};
/// let client = Client::without_redirect(ClientId::new("157730590492196864".into()), None);
/// let url = client.bot_authorization_url(&BotAuthorization {
///     permissions: Permissions::from_bits_retain(1),
///     ..BotAuthorization::default()
/// }).unwrap();
/// assert_eq!(url.as_str(),
///     "https://discord.com/oauth2/authorize?client_id=157730590492196864&scope=bot%20applications.commands&permissions=1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAuthorization {
    /// Scopes; must contain only `bot` and/or `applications.commands`
    /// (default: both).
    pub scopes: Scopes,
    /// The permissions requested for the bot (rendered as a decimal string).
    pub permissions: Permissions,
    /// Pre-selects this guild in the picker.
    pub guild_id: Option<u64>,
    /// Stops the user from picking another guild.
    pub disable_guild_select: bool,
    /// The installation context.
    pub integration_type: Option<IntegrationType>,
}

impl Default for BotAuthorization {
    fn default() -> Self {
        Self {
            scopes: Scopes::from([Scope::Bot, Scope::ApplicationsCommands]),
            permissions: Permissions::empty(),
            guild_id: None,
            disable_guild_select: false,
            integration_type: None,
        }
    }
}

impl Client {
    /// Builds a bot invite URL: `client_id`, `scope`, `permissions`, and optionally
    /// `guild_id`, `disable_guild_select`, `integration_type`. No `response_type`,
    /// `redirect_uri` or `state`: nothing comes back.
    pub fn bot_authorization_url(&self, bot: &BotAuthorization) -> Result<Url, ConfigError> {
        if !bot.scopes.is_bot_only() {
            return Err(ConfigError::Invalid(format!(
                "a bot invite takes only `bot` and `applications.commands`, not `{}`; for more scopes use \
                 `Client::authorize(..).bot(..)` (advanced bot authorization)",
                bot.scopes
            )));
        }
        let mut url = self.endpoints.authorize.clone();
        let mut q = Query::after(url.query());
        q.pair("client_id", self.client_id.as_str());
        q.pair("scope", &bot.scopes.to_string());
        q.pair("permissions", &bot.permissions.bits().to_string());
        if let Some(g) = bot.guild_id {
            q.pair("guild_id", &g.to_string());
        }
        if bot.disable_guild_select {
            q.pair("disable_guild_select", "true");
        }
        if let Some(it) = bot.integration_type {
            q.pair("integration_type", it.as_str());
        }
        q.set_on(&mut url);
        Ok(url)
    }
}
