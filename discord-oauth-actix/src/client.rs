//! [`DiscordClient`]: call Discord for the logged-in user.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError};
use discord_oauth_core::AccessToken;
use discord_oauth_core::api::BotToken;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::revocation::{Revocation, login_key};
use discord_oauth_runtime::api::{LoginRefresh, RefreshFuture};

use crate::DiscordOAuth;
use crate::extract::{AuthState, DiscordUserRejection, here, state};
use crate::routes::ActixSession;
use crate::snapshot::LoginPart;
pub use discord_oauth_runtime::api::{BotApi, UserApi, UserClient};

discord_oauth_runtime::discord_client! {
/// A client bound to the logged-in user: every call carries the user's access token and goes
/// through the integration's driver (`discord_oauth_core::api::client::ApiDriver`): the
/// invalid-request budget, per-token rate limits (waiting up to the configured bound) and the
/// read cache. The typed calls are [`UserCalls`](crate::UserCalls)'s. Rejections as for
/// [`crate::DiscordToken`]; failed calls are [`DiscordClientError`]s, which answer the way the
/// core renders them, identically on axum.
///
/// When Discord answers `401` (the token was revoked or expired early), the login is
/// refreshed once — under the integration's refresh lock, single flight with the
/// middleware's own refreshes — and the call is sent once more with the new token; the new
/// tokens are written to the session with the response, as every change the middleware sees.
/// A second `401`, or a refresh Discord refuses (the session then ends), fails the call with
/// `ClientError::TokenRejected`: the answer asks the user to log in again.
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
pub struct DiscordClient;
}

impl ResponseError for DiscordClientError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error_response().status()
    }

    fn error_response(&self) -> HttpResponse {
        crate::convert::response(self.0.answer())
    }
}

impl DiscordOAuth {
    /// The integration's handle for calling Discord with a user's token outside a request (a
    /// background job with a stored token: [`UserApi::for_token`]); handlers use
    /// [`DiscordClient`], which goes through the same driver.
    ///
    /// ```
    /// # let config = discord_oauth_actix::LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// let discord = discord_oauth_actix::DiscordOAuth::new(config).unwrap();
    /// assert_eq!(discord.user_api().driver().stats().cached_entries, 0);
    /// ```
    pub fn user_api(&self) -> UserApi {
        UserApi::new(Arc::clone(&self.shared) as _)
    }

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
        self.user_api().bot(token)
    }
}

/// The request's login part ([`LoginPart`]), refreshed after a `401`: the middleware's, or
/// for a login served from the fast path one made now from the remembered session (the
/// middleware writes it after the handler if it changed).
struct PartLogin {
    oauth: DiscordOAuth,
    part: Arc<LoginPart>,
}

impl LoginRefresh for PartLogin {
    fn refresh(&self, stale: Arc<AuthSession>, rejected: AccessToken) -> RefreshFuture<'_> {
        Box::pin(async move {
            let shared = &self.oauth.shared;
            // Other `Cookie` headers of this login remembered with the rejected token.
            shared.fast.forget(&Revocation::Login(login_key(&stale)));
            let io = ActixSession {
                login: &self.part,
                shared,
            };
            let refreshing = shared
                .refresh
                .refresh(&shared.driver, &shared.io, &io, stale, Some(&rejected));
            Box::pin(refreshing).await.ok()?
        })
    }
}

/// The client for this request: bound to its login where there is one to refresh.
fn client(req: &HttpRequest, s: &AuthState, token: &AccessToken, here: &str, html: bool) -> DiscordClient {
    let api = s.oauth().user_api();
    let existing = req.extensions().get::<Arc<LoginPart>>().cloned();
    let part = existing.or_else(|| {
        let part = Arc::new(LoginPart::new(&s.remembered_login()?.login));
        req.extensions_mut().insert(Arc::clone(&part));
        Some(part)
    });
    let bound = part.and_then(|part| {
        let refresh = PartLogin {
            oauth: s.oauth().clone(),
            part,
        };
        api.for_login(Arc::clone(s.session()?), refresh)
    });
    DiscordClient {
        client: bound.unwrap_or_else(|| api.for_token(token.clone())),
        login_url: s.login_url(here),
        html,
    }
}

impl FromRequest for DiscordClient {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| {
            let tokens = DiscordUserRejection::check(s.tokens_if_logged_in(), &s, req)?;
            let (here, html) = here(req);
            Ok(client(req, &s, &tokens.access_token, here, html))
        }))
    }
}
