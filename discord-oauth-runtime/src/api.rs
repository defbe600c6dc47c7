//! Calling Discord from an integration, written once: [`Site`] (what every integration's
//! shared state offers the API clients) and [`BotApi`], the application's bot client.

use std::fmt;
use std::sync::Arc;

use discord_oauth_core::Endpoints;
use discord_oauth_core::api::BotToken;
use discord_oauth_core::api::client::{BotCalls, ClientError};
use discord_oauth_core::login::driver::Driver;
use discord_oauth_core::response::ApiCall;

use crate::Io;

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
    /// The bot client of `site`, with `token`.
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
