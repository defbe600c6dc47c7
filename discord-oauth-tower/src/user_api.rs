//! Calling Discord from the layer: the runtime's [`UserApi`] (the layer's handle on the
//! core's `ApiDriver`), [`UserClient`] (a client bound to one login that refreshes its token
//! once after a `401`: [`AuthState::user_client`](crate::AuthState::user_client)) and
//! [`BotApi`] (the same driver with the application's bot token), on the layer's state. This
//! module only says how a login held in a `tower_sessions::Session` is refreshed.

use std::sync::Arc;

use discord_oauth_core::AccessToken;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::driver::Driver;
use discord_oauth_runtime::Io;
use discord_oauth_runtime::api::{LoginRefresh, RefreshFuture, Site};
use tower_sessions::Session;

use crate::shared::Shared;

/// Made by [`DiscordOAuthLayer::bot_api`](crate::DiscordOAuthLayer::bot_api) or
/// [`UserApi::bot`]:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_core::api::BotToken;
/// use discord_oauth_core::api::client::BotCalls;
/// use discord_oauth_core::{AccessToken, Endpoints, Snowflake, api::AddGuildMemberOutcome};
/// use discord_oauth_mock::{MockDiscord, fixture};
/// use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
///
/// let discord = MockDiscord::start().await?;
/// let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
///     .client_secret(fixture::CLIENT_SECRET)
///     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?)
///     .build()?;
/// let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
/// let bot = layer.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
/// assert!(!format!("{bot:?}").contains(fixture::BOT_TOKEN));
///
/// let app = bot.current_application().await?;
/// assert_eq!(app.id.to_string(), fixture::CLIENT_ID);
///
/// // Nova granted `guilds.join`: the bot puts her in a guild it is in.
/// let nova = discord.issue_tokens(fixture::NOVA_ID, "identify guilds.join")?;
/// let outcome = bot
///     .add_guild_member(
///         fixture::SECOND_GUILD_ID.parse::<Snowflake>()?,
///         fixture::NOVA_ID.parse::<Snowflake>()?,
///         &AccessToken::new(nova.access_token),
///         &Default::default(),
///     )
///     .await?;
/// assert!(matches!(outcome, AddGuildMemberOutcome::Added(_)));
/// assert!(discord.is_member(fixture::SECOND_GUILD_ID, fixture::NOVA_ID));
/// # Ok(()) }
/// ```
#[doc(inline)]
pub use discord_oauth_runtime::api::BotApi;
pub use discord_oauth_runtime::api::{UserApi, UserClient};

impl Site for Shared {
    fn driver(&self) -> &Driver {
        &self.driver
    }

    fn io(&self) -> &Io {
        &self.io
    }
}

/// The login held in a request's `Session`, refreshed under the layer's refresh lock.
pub(crate) struct SessionLogin {
    pub(crate) shared: Arc<Shared>,
    pub(crate) session: Session,
}

impl LoginRefresh for SessionLogin {
    fn refresh(&self, stale: Arc<AuthSession>, rejected: AccessToken) -> RefreshFuture<'_> {
        Box::pin(async move {
            let id = self.session.id()?;
            let shared = Arc::clone(&self.shared);
            let fresh = shared
                .refresh_in_task(self.session.clone(), stale, Some(rejected))
                .await?
                .ok()??;
            // The cached login (and so the fast path) still holds the rejected token.
            self.shared.index.remove_owner(&id);
            Some(fresh)
        })
    }
}
