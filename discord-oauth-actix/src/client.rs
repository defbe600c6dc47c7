//! [`DiscordClient`]: call Discord for the logged-in user.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use discord_oauth_core::api::BotToken;
use discord_oauth_core::api::client::{CallFailure, ClientError, NoRefresh, UserCalls};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};

use crate::DiscordOAuth;
use crate::extract::{DiscordUserRejection, here, state};
pub use discord_oauth_runtime::api::BotApi;

/// A client bound to the logged-in user: every call carries the user's access token and goes
/// through the integration's driver (`discord_oauth_core::api::client::ApiDriver`): the
/// invalid-request budget, per-token rate limits (waiting up to the configured bound) and the
/// read cache. The typed calls are [`UserCalls`]'s. Rejections as for
/// [`crate::DiscordToken`]; failed calls are [`DiscordClientError`]s, which answer the way the
/// core renders them, identically on axum.
///
/// # A `401` from Discord
/// Unlike `discord-oauth-axum`'s `DiscordClient`, this one does **not** refresh the login
/// when Discord answers `401`: the call fails with [`ClientError::TokenRejected`] (the answer
/// asks the user to log in again). The middleware refreshes tokens before they expire,
/// before the handler runs, so a `401` here means the grant was revoked or the token expired
/// early. Refreshing from a handler would need the middleware's per-request login state (an
/// `Rc`, absent on the fast path, written back by the middleware after the handler) to be
/// reachable from a `Send` client; that is not done yet.
///
/// ```
/// use discord_oauth_actix::{DiscordClient, DiscordClientError, UserCalls};
/// async fn guilds(client: DiscordClient) -> Result<String, DiscordClientError> {
///     let guilds = client.guilds(&Default::default()).await?;
///     Ok(guilds.into_iter().map(|g| g.name).collect::<Vec<_>>().join(", "))
/// }
/// ```
///
/// A whole app against the mock Discord is in this crate's `tests/client.rs`.
#[derive(Debug, Clone)]
pub struct DiscordClient {
    oauth: DiscordOAuth,
    token: AccessToken,
    login_url: String,
    html: bool,
}

discord_oauth_runtime::client_error!(DiscordClientError, "DiscordClient");

impl ResponseError for DiscordClientError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error_response().status()
    }

    fn error_response(&self) -> HttpResponse {
        crate::convert::response(self.0.answer())
    }
}

impl UserCalls for DiscordClient {
    type Error = DiscordClientError;

    fn endpoints(&self) -> &Endpoints {
        self.oauth.endpoints()
    }

    fn access_token(&self) -> &AccessToken {
        &self.token
    }

    async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, DiscordClientError> {
        let shared = &self.oauth.shared;
        // A 401 ends the token's use (`NoRefresh`): the middleware refreshes tokens before they
        // expire, before the handler runs; a 401 afterwards means the grant was revoked.
        let response = shared
            .driver
            .api()
            .send(&shared.io, call.request(), &self.token, &NoRefresh)
            .await;
        response
            .and_then(|r| call.parse(r).map_err(ClientError::from))
            .map_err(|error| DiscordClientError(CallFailure::new(error, self.login_url.clone(), self.html)))
    }
}

impl DiscordClient {
    /// The integration (its driver's statistics: `oauth().api_driver()`).
    ///
    /// ```
    /// use discord_oauth_actix::DiscordClient;
    /// async fn cached(client: DiscordClient) -> String {
    ///     client.oauth().api_driver().stats().cached_entries.to_string()
    /// }
    /// ```
    pub fn oauth(&self) -> &DiscordOAuth {
        &self.oauth
    }
}

impl DiscordOAuth {
    /// The application's bot client ([`BotApi`], calls of [`BotCalls`](discord_oauth_core::api::client::BotCalls)): the same driver as
    /// [`DiscordClient`]'s calls (budget, rate limits keyed by the bot token, read cache).
    /// Keep it in `app_data`.
    ///
    /// ```
    /// # #[actix_web::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_actix::{BotCalls, BotToken, DiscordOAuth, LoginConfig};
    /// # use discord_oauth_mock::{MockDiscord, fixture};
    /// # let discord = MockDiscord::start().await?;
    /// # let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:3000/auth/callback")
    /// #     .endpoints(discord_oauth_actix::core::Endpoints::new(discord.authorize_url().parse()?, discord.api_base().parse()?)?)
    /// #     .build()?;
    /// let bot = DiscordOAuth::new(config)?.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    /// assert!(!format!("{bot:?}").contains(fixture::BOT_TOKEN));
    /// let app = bot.current_application().await?;
    /// assert_eq!(app.id.to_string(), fixture::CLIENT_ID);
    /// # Ok(()) }
    /// ```
    pub fn bot_api(&self, token: BotToken) -> BotApi {
        BotApi::new(
            Arc::clone(&self.shared) as Arc<dyn discord_oauth_runtime::api::Site>,
            token,
        )
    }
}

impl FromRequest for DiscordClient {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let (here, html) = here(req);
        ready(state(req).and_then(|s| {
            let tokens = s.require_tokens(|| (here, html)).map_err(DiscordUserRejection)?;
            Ok(DiscordClient {
                oauth: s.oauth().clone(),
                token: tokens.access_token.clone(),
                login_url: s.login_url(here),
                html,
            })
        }))
    }
}
