//! What the user-API tests share.

use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_mock::MockDiscord;
use discord_oauth_tower::DiscordOAuthLayer;
use discord_oauth_tower::transport::ReqwestTransport;

/// A layer pointed at `mock`, its user-API driver configured by `api`.
pub(crate) fn layer(mock: &MockDiscord, api: ApiDriverConfig) -> DiscordOAuthLayer {
    let config = mock
        .login_config("http://127.0.0.1:1/auth/callback")
        .unwrap()
        .build()
        .unwrap();
    DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .api(api)
        .build()
}
