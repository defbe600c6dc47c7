//! [`UserApi`]: the layer's handle on the core's [`ApiDriver`], for calling Discord with a
//! logged-in user's token (what `discord-oauth-axum`'s `DiscordClient` extractor uses).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use discord_oauth_core::api::client::{ApiDriver, ClientError, NoRefresh};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints};

use crate::service::Shared;

type Answer<'a> = Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, ClientError>> + Send + 'a>>;

/// The layer's state, with its transport type erased.
pub(crate) trait Backend: Send + Sync {
    fn endpoints(&self) -> &Endpoints;
    fn driver(&self) -> &ApiDriver;
    fn send<'a>(&'a self, request: http::Request<Vec<u8>>, token: &'a AccessToken) -> Answer<'a>;
}

impl Backend for Shared {
    fn endpoints(&self) -> &Endpoints {
        self.config().client().endpoints()
    }

    fn driver(&self) -> &ApiDriver {
        self.driver.api()
    }

    fn send<'a>(&'a self, request: http::Request<Vec<u8>>, token: &'a AccessToken) -> Answer<'a> {
        // A 401 ends the token's use (`NoRefresh`): the layer refreshes tokens before they
        // expire, before the handler runs; a 401 afterwards means the grant was revoked.
        Box::pin(self.driver.api().send(&self.io, request, token, &NoRefresh))
    }
}

/// Calls Discord's API for logged-in users through the layer's [`ApiDriver`]: the
/// invalid-request budget, the per-token rate limits (waiting up to the configured bound,
/// else refusing with `503` and `Retry-After`) and the read cache
/// ([`DiscordOAuthLayerBuilder::api`](crate::DiscordOAuthLayerBuilder::api)). Cheap to clone;
/// one per layer, in every logged-in request's [`AuthState`](crate::AuthState).
///
/// ```no_run
/// # async fn f(state: discord_oauth_tower::AuthState) -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_core::api;
/// if let (Some(user_api), Some(token)) = (state.user_api(), state.access_token()) {
///     let call = api::current_user_guilds(user_api.endpoints(), token, &api::GuildsQuery::default());
///     let guilds = user_api.call(&call, token).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UserApi(pub(crate) Arc<dyn Backend>);

impl fmt::Debug for UserApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserApi").field(self.0.driver()).finish()
    }
}

impl UserApi {
    /// Discord's endpoints (for building calls with [`discord_oauth_core::api`]).
    pub fn endpoints(&self) -> &Endpoints {
        self.0.endpoints()
    }

    /// The driver (for its statistics, or to drop a token's cached reads).
    pub fn driver(&self) -> &ApiDriver {
        self.0.driver()
    }

    /// Sends `call` with `token` through the driver and parses the answer.
    pub async fn call<R>(&self, call: &ApiCall<R>, token: &AccessToken) -> Result<R, ClientError> {
        let response = self.0.send(call.request(), token).await?;
        call.parse(response).map_err(ClientError::from)
    }
}
