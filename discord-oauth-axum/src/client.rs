//! [`DiscordClient`]: call Discord for the logged-in user.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::api::client::{CallFailure, UserCalls};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};
use discord_oauth_tower::UserApi;
use http::request::Parts;

use discord_oauth_core::login::answer::Refusal;

use crate::extract::{DiscordUserRejection, here, state};

/// Calls Discord's API with the logged-in user's token, through the layer's one driver: the
/// invalid-request budget, the token's rate limits (waiting up to the configured bound) and
/// the read cache ([`DiscordOAuthLayerBuilder::api`](crate::DiscordOAuthLayerBuilder::api)).
///
/// The typed calls come from [`UserCalls`] (`current_user`, `guilds`, `all_guilds`,
/// `guild_member`, `connections`, `role_connection`, `update_role_connection`,
/// `authorization`, `userinfo`), and [`UserCalls::call`] sends any [`ApiCall`]. Errors are
/// [`DiscordClientError`]s, which answer the way the core renders them (`503` with
/// `Retry-After` when throttled, login again when the token is rejected, …), identically on
/// actix-web.
///
/// A `401` from Discord ends the call with [`ClientError::TokenRejected`](discord_oauth_core::api::client::ClientError::TokenRejected): the layer refreshes
/// tokens before they expire, before the handler runs, so a `401` means the grant was revoked.
///
/// Rejections as for [`crate::DiscordToken`].
///
/// ```
/// use discord_oauth_axum::{DiscordClient, DiscordClientError, UserCalls};
/// async fn guilds(client: DiscordClient) -> Result<String, DiscordClientError> {
///     let guilds = client.guilds(&Default::default()).await?;
///     Ok(guilds.into_iter().map(|g| g.name).collect::<Vec<_>>().join(", "))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DiscordClient {
    api: UserApi,
    token: AccessToken,
    login_url: String,
    html: bool,
}

discord_oauth_runtime::client_error!(DiscordClientError, "DiscordClient");

impl IntoResponse for DiscordClientError {
    fn into_response(self) -> Response {
        self.0.answer().map(axum::body::Body::from)
    }
}

impl UserCalls for DiscordClient {
    type Error = DiscordClientError;

    fn endpoints(&self) -> &Endpoints {
        self.api.endpoints()
    }

    fn access_token(&self) -> &AccessToken {
        &self.token
    }

    async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, DiscordClientError> {
        self.api
            .call(call, &self.token)
            .await
            .map_err(|error| DiscordClientError(CallFailure::new(error, self.login_url.clone(), self.html)))
    }
}

impl DiscordClient {
    /// The layer's handle (its driver's statistics, cache invalidation).
    pub fn user_api(&self) -> &UserApi {
        &self.api
    }
}

fn client(parts: &Parts, tokens: &discord_oauth_core::TokenSet) -> Result<DiscordClient, DiscordUserRejection> {
    let (here, html) = here(parts);
    let auth = state(parts)?;
    let api = auth.user_api().ok_or(DiscordUserRejection(Refusal::Misconfigured {
        message: "DiscordClient needs the login layer's user API (a state built for tests has none)",
    }))?;
    Ok(DiscordClient {
        api: api.clone(),
        token: tokens.access_token.clone(),
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
