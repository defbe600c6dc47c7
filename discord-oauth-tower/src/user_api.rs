//! [`UserApi`]: the layer's handle on the core's [`ApiDriver`], for calling Discord with a
//! logged-in user's token (what `discord-oauth-axum`'s `DiscordClient` extractor uses);
//! [`UserClient`], a client bound to one login that refreshes its token once after a `401`;
//! [`BotApi`], the same driver with the application's bot token.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use discord_oauth_core::api::BotToken;
use discord_oauth_core::api::client::{ApiDriver, ClientError, NoRefresh, TokenRefresh, UserCalls};
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};
use tower_sessions::Session;

use discord_oauth_core::login::driver::Driver;
use discord_oauth_runtime::Io;
use discord_oauth_runtime::api::Site;

use crate::service::Shared;

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

type Fresh = Pin<Box<dyn Future<Output = Option<Arc<AuthSession>>> + Send + 'static>>;

impl Site for Shared {
    fn driver(&self) -> &Driver {
        &self.driver
    }

    fn io(&self) -> &Io {
        &self.io
    }
}

impl Shared {
    /// Refreshes the login `stale` of `session` after Discord rejected its access token
    /// `rejected`: the new login, or `None` if there is none to retry with.
    fn refresh_session(self: Arc<Self>, session: Session, stale: Arc<AuthSession>, rejected: AccessToken) -> Fresh {
        Box::pin(async move {
            let id = session.id()?;
            let refreshed = Arc::clone(&self).refresh_in_task(session, stale, Some(rejected.clone()));
            let fresh = refreshed.await?.ok()??;
            // The cached login (and so the fast path) still holds the rejected token.
            self.index.remove_owner(&id);
            let token = &fresh.tokens.as_ref()?.access_token;
            (token.secret() != rejected.secret()).then_some(fresh)
        })
    }
}

/// What a [`UserClient`] does after a `401`.
pub(crate) enum Refresh<'a> {
    /// Nothing: the `401` ends the call.
    Not,
    /// Refreshes the login held in `session`, keeping the newest record in `login`.
    Session {
        shared: &'a Arc<Shared>,
        session: &'a Session,
        login: &'a Mutex<Arc<AuthSession>>,
    },
}

impl TokenRefresh for Refresh<'_> {
    async fn refresh(&self, rejected: &AccessToken) -> Option<AccessToken> {
        let Refresh::Session { shared, session, login } = self else {
            return NoRefresh.refresh(rejected).await;
        };
        let stale = Arc::clone(&login.lock().unwrap_or_else(PoisonError::into_inner));
        let fresh = Arc::clone(shared)
            .refresh_session((*session).clone(), stale, rejected.clone())
            .await?;
        let token = fresh.tokens.as_ref()?.access_token.clone();
        *login.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Some(token)
    }
}

/// Calls Discord's API for logged-in users through the layer's [`ApiDriver`]: the
/// invalid-request budget, the per-token rate limits (waiting up to the configured bound,
/// else refusing with `503` and `Retry-After`) and the read cache
/// ([`DiscordOAuthLayerBuilder::api`](crate::DiscordOAuthLayerBuilder::api)). Cheap to clone;
/// one per layer, in every logged-in request's [`AuthState`](crate::AuthState).
///
/// In a handler, bind it to the request's login with [`UserApi::for_session`]: that client
/// refreshes the login once when Discord answers `401`. [`UserApi::call`] and
/// [`UserApi::for_token`] send with a bare token (a background job's), and a `401` ends the
/// call with [`ClientError::TokenRejected`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// use discord_oauth_mock::{MockDiscord, fixture};
/// use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
///
/// let discord = MockDiscord::start().await?; // a mock Discord on loopback
/// let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
///     .client_secret(fixture::CLIENT_SECRET)
///     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?)
///     .build()?;
/// let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
/// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify guilds")?.access_token);
///
/// let user_api = layer.user_api();
/// let call = api::current_user_guilds(user_api.endpoints(), &token, &api::GuildsQuery::default());
/// let guilds = user_api.call(&call, &token).await?;
/// assert!(!guilds.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UserApi(pub(crate) Arc<Shared>);

impl fmt::Debug for UserApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserApi").field(self.0.driver.api()).finish()
    }
}

impl UserApi {
    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    ///
    /// ```
    /// # let config = discord_oauth_tower::LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// # let layer = discord_oauth_tower::DiscordOAuthLayer::new(config).unwrap();
    /// assert_eq!(layer.user_api().endpoints().api_base.as_str(), "https://discord.com/api/v10");
    /// ```
    pub fn endpoints(&self) -> &Endpoints {
        self.0.config().client().endpoints()
    }

    /// The driver (for its statistics, or to drop a token's cached reads).
    ///
    /// ```
    /// # let config = discord_oauth_tower::LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// # let layer = discord_oauth_tower::DiscordOAuthLayer::new(config).unwrap();
    /// assert_eq!(layer.user_api().driver().stats().cached_entries, 0);
    /// ```
    pub fn driver(&self) -> &ApiDriver {
        self.0.driver.api()
    }

    /// Sends `call` with `token` through the driver and parses the answer. A `401` ends the
    /// call with [`ClientError::TokenRejected`] (a bare token has no login to refresh: use
    /// [`for_session`](Self::for_session) in handlers).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::{AccessToken, Endpoints, api};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?).build()?;
    /// # let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
    /// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify")?.access_token);
    /// let user_api = layer.user_api();
    /// let me = user_api.call(&api::current_user(user_api.endpoints(), &token), &token).await?;
    /// assert_eq!(me.id.to_string(), fixture::WUMPUS_ID);
    /// # Ok(()) }
    /// ```
    pub async fn call<R>(&self, call: &ApiCall<R>, token: &AccessToken) -> Result<R, ClientError> {
        self.send(call, token, &Refresh::Not).await
    }

    /// A client for a bare access token (a background job's, stored elsewhere): the typed
    /// calls of [`UserCalls`], without a refresh on `401`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::{AccessToken, Endpoints};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?).build()?;
    /// # let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
    /// use discord_oauth_core::api::client::UserCalls;
    /// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify connections")?.access_token);
    /// let client = layer.user_api().for_token(token);
    /// assert_eq!(client.current_user().await?.id.to_string(), fixture::WUMPUS_ID);
    /// let _connections = client.connections().await?;
    /// # Ok(()) }
    /// ```
    pub fn for_token(&self, token: AccessToken) -> UserClient {
        UserClient {
            api: self.clone(),
            token,
            login: None,
        }
    }

    /// A client for the login `login` held in `session` (the request's
    /// `tower_sessions::Session` and [`AuthState::session`](crate::AuthState)): when Discord
    /// answers `401` to its access token, the login is refreshed once — under the layer's
    /// refresh lock, single flight with the layer's own refreshes, the new tokens stored in
    /// the session before they are used — and the call is sent once more with the new token.
    /// A second `401`, or no refresh possible (no refresh token, Discord rejected it: the
    /// session is then ended), ends the call with [`ClientError::TokenRejected`]. `None` when
    /// the login keeps no token.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use discord_oauth_core::api::client::{ClientError, UserCalls};
    /// use discord_oauth_tower::AuthState;
    /// use tower_sessions::Session;
    ///
    /// /// The user's guild names, from a handler given the request's extensions.
    /// async fn guild_names(state: &AuthState, session: &Session) -> Result<Vec<String>, ClientError> {
    ///     let (Some(api), Some(login)) = (state.user_api(), state.session()) else {
    ///         return Ok(Vec::new()); // not logged in
    ///     };
    ///     let Some(client) = api.for_session(session.clone(), Arc::clone(login)) else {
    ///         return Ok(Vec::new()); // identity-only login: no token
    ///     };
    ///     Ok(client.guilds(&Default::default()).await?.into_iter().map(|g| g.name).collect())
    /// }
    /// ```
    pub fn for_session(&self, session: Session, login: Arc<AuthSession>) -> Option<UserClient> {
        let token = login.tokens.as_ref()?.access_token.clone();
        Some(UserClient {
            api: self.clone(),
            token,
            login: Some(Arc::new(LoginRef {
                session,
                login: Mutex::new(login),
            })),
        })
    }

    /// A client with the application's bot token through the same driver: see [`BotApi`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::{AccessToken, Endpoints};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?).build()?;
    /// # let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
    /// use discord_oauth_core::api::{BotToken, client::BotCalls};
    /// let bot = layer.user_api().bot(BotToken::new(fixture::BOT_TOKEN.into()));
    /// assert_eq!(bot.current_application().await?.id.to_string(), fixture::CLIENT_ID);
    /// # Ok(()) }
    /// ```
    pub fn bot(&self, token: BotToken) -> BotApi {
        BotApi::new(Arc::clone(&self.0) as Arc<dyn Site>, token)
    }

    async fn send<R>(&self, call: &ApiCall<R>, token: &AccessToken, refresh: &Refresh<'_>) -> Result<R, ClientError> {
        let response = self
            .0
            .driver
            .api()
            .send(&self.0.io, call.request(), token, refresh)
            .await?;
        call.parse(response).map_err(ClientError::from)
    }
}

/// The login a [`UserClient`] refreshes.
struct LoginRef {
    session: Session,
    /// The newest record: the request's, then what a refresh stored.
    login: Mutex<Arc<AuthSession>>,
}

/// A client bound to one user's token: the typed calls of [`UserCalls`] (`current_user`,
/// `guilds`, `all_guilds`, `guild_member`, `connections`, `role_connection`,
/// `update_role_connection`, `authorization`, `userinfo`, and `call` for any [`ApiCall`]),
/// each through the layer's [`ApiDriver`]. Made by [`UserApi::for_session`] (refreshes once
/// after a `401`) or [`UserApi::for_token`] (does not). `discord-oauth-axum`'s
/// `DiscordClient` wraps one. Cheap to clone; clones share the refreshed login.
///
/// ```
/// use discord_oauth_core::api::client::{ClientError, UserCalls};
/// async fn names(client: &discord_oauth_tower::UserClient) -> Result<Vec<String>, ClientError> {
///     Ok(client.all_guilds(5).await?.into_iter().map(|g| g.name).collect())
/// }
/// ```
#[derive(Clone)]
pub struct UserClient {
    api: UserApi,
    /// The token the client was made with (calls are built with it; the driver sends the
    /// newest one).
    token: AccessToken,
    login: Option<Arc<LoginRef>>,
}

impl fmt::Debug for UserClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserClient")
            .field("refreshes", &self.login.is_some())
            .finish_non_exhaustive()
    }
}

impl UserClient {
    /// The layer's handle (its driver's statistics, cache invalidation).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::{AccessToken, Endpoints};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?).build()?;
    /// # let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
    /// use discord_oauth_core::api::client::UserCalls;
    /// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify")?.access_token);
    /// let client = layer.user_api().for_token(token.clone());
    /// client.current_user().await?;
    /// assert_eq!(client.user_api().driver().stats().cached_entries, 1, "the read is cached");
    /// client.user_api().driver().invalidate_token(&token);
    /// assert_eq!(client.user_api().driver().stats().cached_entries, 0);
    /// # Ok(()) }
    /// ```
    pub fn user_api(&self) -> &UserApi {
        &self.api
    }

    /// The access token calls are sent with now: the newest one if a refresh replaced it.
    ///
    /// # Security
    /// Never log or display this value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use discord_oauth_core::{AccessToken, Endpoints};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # use discord_oauth_tower::{DiscordOAuthLayer, LoginConfig, transport::ReqwestTransport};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?).build()?;
    /// # let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new()?).build();
    /// let token = AccessToken::new(discord.issue_tokens(fixture::WUMPUS_ID, "identify")?.access_token);
    /// let client = layer.user_api().for_token(token.clone());
    /// assert_eq!(client.current_token().secret(), token.secret(), "a bare token is never replaced");
    /// # Ok(()) }
    /// ```
    pub fn current_token(&self) -> AccessToken {
        self.login
            .as_ref()
            .and_then(|l| {
                let login = l.login.lock().unwrap_or_else(PoisonError::into_inner);
                login.tokens.as_ref().map(|t| t.access_token.clone())
            })
            .unwrap_or_else(|| self.token.clone())
    }
}

impl UserCalls for UserClient {
    type Error = ClientError;

    fn endpoints(&self) -> &Endpoints {
        self.api.endpoints()
    }

    fn access_token(&self) -> &AccessToken {
        &self.token
    }

    async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
        let token = self.current_token();
        let refresh = match &self.login {
            Some(l) => Refresh::Session {
                shared: &self.api.0,
                session: &l.session,
                login: &l.login,
            },
            None => Refresh::Not,
        };
        self.api.send(call, &token, &refresh).await
    }
}
