//! The layer's user-API driver against the mock Discord with tight rate-limit buckets: a burst
//! of calls for one user waits for its turns and never draws a 429.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_core::api::{self, GuildsQuery};
use discord_oauth_core::login::LoginConfig;
use discord_oauth_core::{AccessToken, Endpoints};
use discord_oauth_mock::{Endpoint, MockDiscord, fixture};
use discord_oauth_tower::DiscordOAuthLayer;
use discord_oauth_tower::transport::ReqwestTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_never_draws_a_429_from_tight_buckets() {
    let mock = MockDiscord::builder()
        .rate_limit_buckets(5, Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, "http://127.0.0.1:1/auth/callback")
        .client_secret(fixture::CLIENT_SECRET)
        .endpoints(Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap())
        .build()
        .unwrap();
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .api(ApiDriverConfig {
            cache_ttl: Duration::ZERO,
            ..ApiDriverConfig::default()
        })
        .build();
    let issued = mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds").unwrap();
    let token = AccessToken::new(issued.access_token);
    let user_api = layer.user_api();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (user_api, token) = (user_api.clone(), token.clone());
            tokio::spawn(async move {
                let call = api::current_user_guilds(user_api.endpoints(), &token, &GuildsQuery::default());
                user_api.call(&call, &token).await
            })
        })
        .collect();
    for call in calls {
        let result = call.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    let seen = mock.requests_to(Endpoint::CurrentUserGuilds);
    assert_eq!(seen.len(), 20, "every call reached Discord once");
    assert!(
        seen.iter().all(|r| r.status() == Some(200)),
        "no 429: {:?}",
        seen.iter()
            .map(discord_oauth_mock::RecordedRequest::status)
            .collect::<Vec<_>>()
    );
}
