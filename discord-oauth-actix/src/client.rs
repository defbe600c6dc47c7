//! [`DiscordClient`]: call Discord for the logged-in user.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use discord_oauth_core::api::client::{CallFailure, ClientError, NoRefresh, UserCalls};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};

use crate::DiscordOAuth;
use crate::extract::{DiscordUserRejection, here, state};

/// A client bound to the logged-in user: every call carries the user's access token and goes
/// through the integration's driver (`discord_oauth_core::api::client::ApiDriver`): the
/// invalid-request budget, per-token rate limits (waiting up to the configured bound) and the
/// read cache. The typed calls are [`UserCalls`]'s. Rejections as for
/// [`crate::DiscordToken`]; failed calls are [`DiscordClientError`]s, which answer the way the
/// core renders them, identically on axum.
///
/// ```no_run
/// use discord_oauth_actix::{DiscordClient, DiscordClientError, UserCalls};
/// async fn guilds(client: DiscordClient) -> Result<String, DiscordClientError> {
///     let guilds = client.guilds(&Default::default()).await?;
///     Ok(guilds.into_iter().map(|g| g.name).collect::<Vec<_>>().join(", "))
/// }
/// ```
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
    pub fn oauth(&self) -> &DiscordOAuth {
        &self.oauth
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
