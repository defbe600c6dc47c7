//! Calling Discord from an integration, written once: [`Site`] (what every integration's
//! shared state offers the API clients), [`UserApi`] and [`UserClient`] (calls with a user's
//! token, refreshed once after a `401` through the integration's [`LoginRefresh`]) and
//! [`BotApi`], the application's bot client.
//!
//! Each framework only says how a login held in its session is refreshed (tower: the
//! request's `tower_sessions::Session`; actix-web: the login part the middleware writes back
//! after the handler); what a client does with it is here.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use discord_oauth_core::api::BotToken;
use discord_oauth_core::api::client::{ApiDriver, BotCalls, ClientError, NoRefresh, TokenRefresh, UserCalls};
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};

use crate::Io;

/// The future of a [`LoginRefresh`].
pub type RefreshFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Arc<AuthSession>>> + Send + 'a>>;

/// An integration's shared state as the API clients see it: the login driver (with its
/// user-API driver: budget, rate limits, read cache) and the IO it runs on.
pub trait Site: Send + Sync + 'static {
    /// The login driver.
    fn driver(&self) -> &Driver;
    /// The transport, timeout, bound on requests in flight and clock.
    fn io(&self) -> &Io;
}

/// The application's bot client: the calls of [`BotCalls`] (`current_application`,
/// `add_guild_member`, and `call` for any [`ApiCall`]) sent with `Authorization: Bot …`
/// through the integration's driver — the same invalid-request budget and read cache as
/// users' calls, rate limits kept under the bot token's own key. A `401` fails with
/// [`ClientError::BotTokenRejected`] (answered as a `500`: the configuration is wrong).
/// `Debug` never shows the token. Made by each integration's `bot_api`; cheap to clone.
#[derive(Clone)]
pub struct BotApi {
    site: Arc<dyn Site>,
    token: BotToken,
}

impl fmt::Debug for BotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotApi")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl BotApi {
    /// The bot client of `site`, with `token` (the integrations' `bot_api` make these).
    ///
    /// ```
    /// use discord_oauth_core::api::BotToken;
    /// use discord_oauth_runtime::api::{BotApi, doc_support};
    /// let bot = BotApi::new(doc_support::site(), BotToken::new("bot-token-from-the-portal".into()));
    /// assert!(!format!("{bot:?}").contains("bot-token-from-the-portal"));
    /// ```
    pub fn new(site: Arc<dyn Site>, token: BotToken) -> Self {
        Self { site, token }
    }
}

impl BotCalls for BotApi {
    type Error = ClientError;

    fn endpoints(&self) -> &Endpoints {
        self.site.driver().config().client().endpoints()
    }

    fn bot_token(&self) -> &BotToken {
        &self.token
    }

    async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
        self.site
            .driver()
            .api()
            .call_bot(self.site.io(), call, &self.token)
            .await
    }
}

/// How an integration refreshes the login a [`UserClient`] is bound to, after Discord
/// answered `401` to its access token: under the integration's refresh lock
/// ([`crate::refresh::RefreshLocks::refresh`] with the rejected token), the new tokens stored
/// in the session before they are returned, the integration's caches told.
pub trait LoginRefresh: Send + Sync + 'static {
    /// The login after refreshing `stale`, whose access token `rejected` Discord refused;
    /// `None` when there is none (no refresh token, Discord refused the refresh, the session
    /// ended).
    fn refresh(&self, stale: Arc<AuthSession>, rejected: AccessToken) -> RefreshFuture<'_>;
}

/// Calls Discord's API for logged-in users through the integration's [`ApiDriver`]: the
/// invalid-request budget, the per-token rate limits (waiting up to the configured bound,
/// else refusing with `503` and `Retry-After`) and the read cache. Cheap to clone; one per
/// integration (tower: `DiscordOAuthLayer::user_api`, `AuthState::user_api`; actix-web:
/// `DiscordOAuth::user_api`).
///
/// In a handler, use the framework's `DiscordClient` extractor: its client is bound to the
/// request's login ([`UserApi::for_login`]) and refreshes it once when Discord answers `401`.
/// [`UserApi::call`] and [`UserApi::for_token`] send with a bare token (a background job's),
/// and a `401` ends the call with [`ClientError::TokenRejected`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use discord_oauth_core::api::client::{ApiDriverConfig, UserCalls};
/// use discord_oauth_core::login::{LoginConfig, driver::Driver};
/// use discord_oauth_core::AccessToken;
/// use discord_oauth_runtime::api::{Site, UserApi};
/// use discord_oauth_runtime::{Io, Outbound};
///
/// /// An integration's shared state (each framework has its own).
/// struct App { driver: Driver, io: Io }
/// impl Site for App {
///     fn driver(&self) -> &Driver { &self.driver }
///     fn io(&self) -> &Io { &self.io }
/// }
///
/// // Discord, as far as this example needs it: `GET /users/@me`.
/// let discord = tower::service_fn(|req: http::Request<Vec<u8>>| async move {
///     assert_eq!(req.headers()["authorization"], "Bearer user-token");
///     let me = br#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":null,"avatar":null}"#;
///     Ok::<_, std::convert::Infallible>(http::Response::new(me.to_vec()))
/// });
/// let config = LoginConfig::builder("1", "https://app.example/auth/callback").build()?;
/// let io = Io::new(discord, std::time::Duration::from_secs(10), Outbound::new(8));
/// let api = UserApi::new(Arc::new(App { driver: Driver::new(config, ApiDriverConfig::default()), io }));
///
/// let client = api.for_token(AccessToken::new("user-token".into()));
/// assert_eq!(client.current_user().await?.username, "nelly");
/// assert_eq!(api.driver().stats().cached_entries, 1, "the read is cached");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UserApi(Arc<dyn Site>);

impl fmt::Debug for UserApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserApi").field(self.driver()).finish()
    }
}

impl UserApi {
    /// The user API of `site` (the integrations' `user_api` make these; the type's example
    /// shows a whole [`Site`]).
    ///
    /// ```
    /// use discord_oauth_runtime::api::{UserApi, doc_support};
    /// let api = UserApi::new(doc_support::site());
    /// assert_eq!(api.driver().stats().cached_entries, 0);
    /// ```
    pub fn new(site: Arc<dyn Site>) -> Self {
        Self(site)
    }

    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// assert_eq!(api.endpoints().api_base.as_str(), "https://discord.com/api/v10");
    /// # Ok(()) }
    /// ```
    pub fn endpoints(&self) -> &Endpoints {
        self.0.driver().config().client().endpoints()
    }

    /// The driver (for its statistics, or to drop a token's cached reads).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::{AccessToken, api::client::UserCalls};
    /// let token = AccessToken::new("user-token".into());
    /// api.for_token(token.clone()).current_user().await?;
    /// assert_eq!(api.driver().stats().cached_entries, 1, "the read is cached");
    /// api.driver().invalidate_token(&token); // e.g. when the user changed something at Discord
    /// assert_eq!(api.driver().stats().cached_entries, 0);
    /// # Ok(()) }
    /// ```
    pub fn driver(&self) -> &ApiDriver {
        self.0.driver().api()
    }

    /// Sends `call` with `token` through the driver and parses the answer. A `401` ends the
    /// call with [`ClientError::TokenRejected`] (a bare token has no login to refresh).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::{AccessToken, api};
    /// let token = AccessToken::new("user-token".into());
    /// let me = api.call(&api::current_user(api.endpoints(), &token), &token).await?;
    /// assert_eq!(me.username, "nelly");
    /// let revoked = AccessToken::new("revoked-token".into());
    /// let e = api.call(&api::current_user(api.endpoints(), &revoked), &revoked).await.unwrap_err();
    /// assert!(matches!(e, discord_oauth_core::api::client::ClientError::TokenRejected));
    /// # Ok(()) }
    /// ```
    pub async fn call<R>(&self, call: &ApiCall<R>, token: &AccessToken) -> Result<R, ClientError> {
        self.driver().call(self.0.io(), call, token, &NoRefresh).await
    }

    /// A client for a bare access token (a background job's, stored elsewhere): the typed
    /// calls of [`UserCalls`], without a refresh on `401`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::{AccessToken, api::client::UserCalls};
    /// let client = api.for_token(AccessToken::new("user-token".into()));
    /// assert_eq!(client.current_user().await?.username, "nelly");
    /// assert!(client.guilds(&Default::default()).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn for_token(&self, token: AccessToken) -> UserClient {
        UserClient {
            api: self.clone(),
            token,
            login: None,
        }
    }

    /// A client for the login `login`, refreshed through `refresh` when Discord answers `401`
    /// to its access token: once, and the call is sent once more with the new token. A second
    /// `401`, or no refresh possible, ends the call with [`ClientError::TokenRejected`]. `None`
    /// when the login keeps no token. The frameworks' `DiscordClient` extractors make these.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use std::sync::Arc;
    /// use discord_oauth_core::{AccessToken, api::client::UserCalls, login::AuthSession};
    /// use discord_oauth_runtime::api::{LoginRefresh, RefreshFuture, doc_support::login};
    ///
    /// /// Where a framework refreshes the login held in its session; here, a fixed new token.
    /// struct Refresher;
    /// impl LoginRefresh for Refresher {
    ///     fn refresh(&self, _stale: Arc<AuthSession>, _rejected: AccessToken) -> RefreshFuture<'_> {
    ///         Box::pin(async { Some(login("fresh-token")) })
    ///     }
    /// }
    ///
    /// // Discord no longer takes the login's token: the client refreshes once and sends again.
    /// let client = api.for_login(login("revoked-token"), Refresher).expect("the login has a token");
    /// assert_eq!(client.current_user().await?.username, "nelly");
    /// assert_eq!(client.current_token().secret(), "fresh-token");
    /// # Ok(()) }
    /// ```
    pub fn for_login(&self, login: Arc<AuthSession>, refresh: impl LoginRefresh) -> Option<UserClient> {
        let token = login.tokens.as_ref()?.access_token.clone();
        Some(UserClient {
            api: self.clone(),
            token,
            login: Some(Arc::new(Bound {
                refresh: Box::new(refresh),
                login: Mutex::new(login),
            })),
        })
    }

    /// A client with the application's bot token through the same driver: see [`BotApi`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::api::BotToken;
    /// let bot = api.bot(BotToken::new("bot-token-from-the-portal".into()));
    /// assert!(!format!("{bot:?}").contains("bot-token-from-the-portal"));
    /// # Ok(()) }
    /// ```
    pub fn bot(&self, token: BotToken) -> BotApi {
        BotApi::new(Arc::clone(&self.0), token)
    }
}

/// The login a [`UserClient`] refreshes.
struct Bound {
    refresh: Box<dyn LoginRefresh>,
    /// The newest record: the request's, then what a refresh stored.
    login: Mutex<Arc<AuthSession>>,
}

impl TokenRefresh for Bound {
    async fn refresh(&self, rejected: &AccessToken) -> Option<AccessToken> {
        let stale = Arc::clone(&self.login.lock().unwrap_or_else(PoisonError::into_inner));
        let fresh = self.refresh.refresh(stale, rejected.clone()).await?;
        let token = fresh.tokens.as_ref()?.access_token.clone();
        // The same token: someone else's refresh did not help, nothing fresher to retry with.
        if token.secret() == rejected.secret() {
            return None;
        }
        *self.login.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Some(token)
    }
}

/// A client bound to one user's token: the typed calls of [`UserCalls`] (`current_user`,
/// `guilds`, `all_guilds`, `guild_member`, `connections`, `role_connection`,
/// `update_role_connection`, `authorization`, `userinfo`, and `call` for any [`ApiCall`]),
/// each through the integration's [`ApiDriver`]. Made by [`UserApi::for_login`] (refreshes
/// once after a `401`) or [`UserApi::for_token`] (does not); the frameworks' `DiscordClient`
/// wraps one. Cheap to clone; clones share the refreshed login.
///
/// ```
/// use discord_oauth_core::api::client::{ClientError, UserCalls};
/// async fn names(client: &discord_oauth_runtime::api::UserClient) -> Result<Vec<String>, ClientError> {
///     Ok(client.all_guilds(5).await?.into_iter().map(|g| g.name).collect())
/// }
/// ```
#[derive(Clone)]
pub struct UserClient {
    api: UserApi,
    /// The token the client was made with (calls are built with it; the driver sends the
    /// newest one).
    token: AccessToken,
    login: Option<Arc<Bound>>,
}

impl fmt::Debug for UserClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserClient")
            .field("refreshes", &self.login.is_some())
            .finish_non_exhaustive()
    }
}

impl UserClient {
    /// The integration's user API (its driver's statistics, cache invalidation).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::AccessToken;
    /// let client = api.for_token(AccessToken::new("user-token".into()));
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
    /// # let api = discord_oauth_runtime::api::doc_support::user_api();
    /// use discord_oauth_core::AccessToken;
    /// let client = api.for_token(AccessToken::new("user-token".into()));
    /// assert_eq!(client.current_token().secret(), "user-token", "a bare token is never replaced");
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
        let (driver, io, token) = (self.api.driver(), self.api.0.io(), self.current_token());
        match &self.login {
            Some(bound) => driver.call(io, call, &token, bound.as_ref()).await,
            None => driver.call(io, call, &token, &NoRefresh).await,
        }
    }
}

/// What the examples of this module run on: a [`UserApi`] whose "Discord" answers
/// `GET /users/@me` and `GET /users/@me/guilds` for the tokens `user-token` and
/// `fresh-token`, and `401` for any other.
#[doc(hidden)]
pub mod doc_support {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use discord_oauth_core::api::client::ApiDriverConfig;
    use discord_oauth_core::login::driver::Driver;
    use discord_oauth_core::login::{AuthSession, LoginConfig};
    use discord_oauth_core::{Scopes, TokenSet};

    use super::{Site, UserApi};
    use crate::{Io, Outbound};

    const USER: &str =
        r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":null,"avatar":null}"#;

    /// The smallest integration: a driver and its IO (the examples' and the tests').
    #[derive(Debug)]
    pub struct App {
        /// The login driver.
        pub driver: Driver,
        /// Its transport and clock.
        pub io: Io,
    }

    impl Site for App {
        fn driver(&self) -> &Driver {
            &self.driver
        }

        fn io(&self) -> &Io {
            &self.io
        }
    }

    /// The example's user API.
    pub fn user_api() -> UserApi {
        UserApi::new(site())
    }

    /// The example's integration.
    pub fn site() -> Arc<dyn Site> {
        let discord = tower::service_fn(|req: http::Request<Vec<u8>>| async move {
            let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
            let (status, body) = match auth {
                Some("Bearer user-token" | "Bearer fresh-token") if req.uri().path().ends_with("/guilds") => {
                    (200, "[]")
                }
                Some("Bearer user-token" | "Bearer fresh-token") => (200, USER),
                _ => (401, r#"{"message":"401: Unauthorized","code":0}"#),
            };
            let mut response = http::Response::new(body.as_bytes().to_vec());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
            Ok::<_, std::convert::Infallible>(response)
        });
        let driver = LoginConfig::builder("1", "https://app.example/auth/callback")
            .build()
            .map(|config| Driver::new(config, ApiDriverConfig::default()));
        let Ok(driver) = driver else {
            unreachable!("the example's configuration is valid");
        };
        let io = Io::new(discord, Duration::from_secs(10), Outbound::new(8));
        Arc::new(App { driver, io })
    }

    /// A login of the example's user holding `access_token`.
    pub fn login(access_token: &str) -> Arc<AuthSession> {
        let Ok(user) = serde_json::from_str(USER) else {
            unreachable!("the example's user parses");
        };
        let body = format!(
            r#"{{"access_token":"{access_token}","token_type":"Bearer","expires_in":3600,"scope":"identify guilds"}}"#
        );
        Arc::new(AuthSession {
            user,
            tokens: TokenSet::parse(body.as_bytes(), &Scopes::parse("identify guilds"), SystemTime::now()).ok(),
            authenticated_at: SystemTime::now(),
            login_id: 1,
        })
    }
}
