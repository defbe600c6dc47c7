//! [`DiscordClient`]: call Discord for the logged-in user.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use discord_oauth_tower::tower_sessions::Session;
use http::request::Parts;

use discord_oauth_core::login::answer::Refusal;

use crate::extract::{DiscordUserRejection, here, state};

discord_oauth_runtime::discord_client! {
/// Calls Discord's API with the logged-in user's token, through the layer's one driver: the
/// invalid-request budget, the token's rate limits (waiting up to the configured bound) and
/// the read cache ([`DiscordOAuthLayerBuilder::api`](discord_oauth_tower::DiscordOAuthLayerBuilder::api)).
///
/// The typed calls come from [`UserCalls`](crate::UserCalls) (`current_user`, `guilds`, `all_guilds`,
/// `guild_member`, `connections`, `role_connection`, `update_role_connection`,
/// `authorization`, `userinfo`), and [`UserCalls::call`](crate::UserCalls::call) sends any
/// [`ApiCall`](discord_oauth_core::response::ApiCall). Errors are
/// [`DiscordClientError`]s, which answer the way the core renders them (`503` with
/// `Retry-After` when throttled, login again when the token is rejected, …), identically on
/// actix-web.
///
/// When Discord answers `401` (the token was revoked or expired early), the login is
/// refreshed once — under the layer's refresh lock, the new tokens stored in the session
/// before they are used — and the call is sent once more
/// ([`AuthState::user_client`](discord_oauth_tower::AuthState::user_client)). A second `401`,
/// or a refresh Discord refuses (the session then ends), fails the call with
/// [`ClientError::TokenRejected`](discord_oauth_core::api::client::ClientError::TokenRejected):
/// the user has to log in again.
///
/// Rejections as for [`crate::DiscordToken`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use discord_oauth_axum::{DiscordClient, DiscordClientError, DiscordOAuth, MemoryStore, UserCalls};
///
/// async fn guilds(client: DiscordClient) -> Result<String, DiscordClientError> {
///     let guilds = client.guilds(&Default::default()).await?;
///     Ok(guilds.into_iter().map(|g| g.name).collect::<Vec<_>>().join(", "))
/// }
///
/// # use discord_oauth_mock::{MockDiscord, fixture};
/// # use tower::ServiceExt as _;
/// # let discord = MockDiscord::builder().auto_consent(true).start().await?;
/// # let config = discord.login_config("http://127.0.0.1:1/auth/callback")?
/// #     .scopes([discord_oauth_axum::core::Scope::Identify, discord_oauth_axum::core::Scope::Guilds])
/// #     .build()?;
/// let app = DiscordOAuth::new(config)?.mount(Router::new().route("/guilds", get(guilds)), MemoryStore::default());
/// # // Log in as the mock's default user: login, consent, callback.
/// # let session = discord.log_in(&app, "/auth/login?return_to=/guilds", fixture::WUMPUS_ID).await?;
/// # let get = |uri: &str, cookie: &str| http::Request::get(uri).header("cookie", cookie).body(axum::body::Body::empty()).unwrap();
/// let answer = app.oneshot(get("/guilds", session.as_str())).await?;
/// assert_eq!(answer.status(), 200);
/// # let body = axum::body::to_bytes(answer.into_body(), 1 << 16).await?;
/// # assert!(String::from_utf8(body.to_vec())?.contains("Mock Guild"));
/// # Ok(()) }
/// ```
pub struct DiscordClient;
}

impl IntoResponse for DiscordClientError {
    fn into_response(self) -> Response {
        self.0.answer().map(axum::body::Body::from)
    }
}

fn client(parts: &Parts, tokens: &discord_oauth_core::TokenSet) -> Result<DiscordClient, DiscordUserRejection> {
    let (here, html) = here(parts);
    let auth = state(parts)?;
    let api = auth.user_api().ok_or(DiscordUserRejection(Refusal::Misconfigured {
        message: "DiscordClient needs the login layer's user API (a state built for tests has none)",
    }))?;
    // Bound to the login in the request's session, so that a 401 refreshes it; a bare token
    // where there is none (a state inserted by hand).
    let bound = parts.extensions.get::<Session>().and_then(|s| auth.user_client(s));
    Ok(DiscordClient {
        client: bound.unwrap_or_else(|| api.for_token(tokens.access_token.clone())),
        login_url: auth.login_url(here),
        html,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordClient {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let tokens = state(parts)?
            .require_tokens(|| here(parts))
            .map_err(DiscordUserRejection)?;
        client(parts, tokens)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DiscordClient {
    type Rejection = DiscordUserRejection;

    /// `None` when nobody is logged in or the session keeps no token.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        match state(parts)?.optional_tokens().map_err(DiscordUserRejection)? {
            Some(tokens) => client(parts, tokens).map(Some),
            None => Ok(None),
        }
    }
}
