//! The layer's user-API driver against the mock Discord: tight rate-limit buckets are waited
//! for (never a 429), a global 429 pauses that token's calls only, and the invalid-request
//! budget stops sending at its threshold. Assertions are on what the mock saw and in which
//! order, never on durations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use discord_oauth_core::AccessToken;
use discord_oauth_core::ApiError;
use discord_oauth_core::api::client::{ApiDriverConfig, CallFailure, ClientError, UserCalls};
use discord_oauth_core::api::ratelimit::{Throttled, TokenKey};
use discord_oauth_core::api::{self, GuildsQuery};
use discord_oauth_core::login::LoginError;
use discord_oauth_mock::{Endpoint, MockDiscord, RecordedRequest, fixture};
use discord_oauth_tower::DiscordOAuthLayer;
use discord_oauth_tower::transport::ReqwestTransport;

mod common;
use common::layer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_never_draws_a_429_from_tight_buckets() {
    let mock = MockDiscord::builder()
        .rate_limit_buckets(5, Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let config = mock
        .login_config("http://127.0.0.1:1/auth/callback")
        .unwrap()
        .build()
        .unwrap();
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .api(ApiDriverConfig::uncached())
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

fn statuses(seen: &[RecordedRequest]) -> Vec<Option<u16>> {
    seen.iter().map(RecordedRequest::status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_bucket_makes_the_next_call_wait_until_the_reset() {
    // Two turns per 400 ms: the third call in a row finds the bucket empty.
    let mock = MockDiscord::builder()
        .rate_limit_buckets(2, Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let layer = layer(&mock, ApiDriverConfig::uncached());
    let token = AccessToken::new(mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap().access_token);
    let client = layer.user_api().for_token(token);
    for _ in 0..5 {
        let me = client.current_user().await.unwrap();
        assert_eq!(me.id.to_string(), fixture::WUMPUS_ID);
    }
    let seen = mock.requests_to(Endpoint::CurrentUser);
    // Had any call gone before its bucket reset, the mock would have answered 429 (and the
    // driver would have sent it again): one request per call, each answered 200, means every
    // call past the second of a window waited for the reset the mock announced.
    assert_eq!(statuses(&seen), vec![Some(200); 5], "no 429, no resend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_429_pauses_every_call_of_that_token_until_its_retry_after() {
    let mock = MockDiscord::start().await.unwrap();
    let layer = layer(&mock, ApiDriverConfig::uncached());
    let user_api = layer.user_api();
    let wumpus = AccessToken::new(
        mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds")
            .unwrap()
            .access_token,
    );
    let lena = AccessToken::new(
        mock.issue_tokens(fixture::LENA_ID, "identify guilds")
            .unwrap()
            .access_token,
    );
    // Discord puts the application over its global limit for 1.5 s: every request that
    // arrives before that is over draws another global 429.
    mock.global_rate_limit(Duration::from_millis(1500));
    let first = {
        let client = user_api.for_token(wumpus.clone());
        tokio::spawn(async move { client.guilds(&GuildsQuery::default()).await })
    };
    // Wait until the driver has recorded the pause (the limiter's state, not the clock).
    let key = TokenKey::bearer(&wumpus);
    while user_api.driver().token_paused_for(key, Instant::now()).is_none() {
        assert!(!first.is_finished(), "the first call ended before the pause was seen");
        tokio::task::yield_now().await;
    }
    // Another route of the paused token, and (the process's breaker holds every call after a
    // global 429) another token's call.
    let second = {
        let client = user_api.for_token(wumpus.clone());
        tokio::spawn(async move { client.current_user().await })
    };
    let other = {
        let client = user_api.for_token(lena.clone());
        tokio::spawn(async move { client.guilds(&GuildsQuery::default()).await })
    };
    assert!(
        first.await.unwrap().is_ok(),
        "the 429'd call was sent again after the pause"
    );
    assert_eq!(second.await.unwrap().unwrap().id.to_string(), fixture::WUMPUS_ID);
    assert!(other.await.unwrap().is_ok());

    // Any call sent before the pause was over would have drawn a 429 of its own.
    let seen = mock.requests();
    assert_eq!(
        seen.first().and_then(RecordedRequest::status),
        Some(429),
        "the first answer was the global 429"
    );
    assert_eq!(
        seen.iter().filter(|r| r.status() == Some(429)).count(),
        1,
        "nothing was sent during the pause: {:?}",
        statuses(&seen)
    );
    let of = |token: &AccessToken, endpoint| -> Vec<Option<u16>> {
        seen.iter()
            .filter(|r| r.endpoint() == endpoint && r.bearer_token() == Some(token.secret().as_str()))
            .map(RecordedRequest::status)
            .collect()
    };
    assert_eq!(
        of(&wumpus, Endpoint::CurrentUserGuilds),
        [Some(429), Some(200)],
        "one 429, one resend"
    );
    assert_eq!(of(&wumpus, Endpoint::CurrentUser), [Some(200)]);
    assert_eq!(of(&lena, Endpoint::CurrentUserGuilds), [Some(200)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invalid_request_budget_refuses_to_send_once_its_threshold_is_reached() {
    let mock = MockDiscord::start().await.unwrap();
    let layer = layer(
        &mock,
        ApiDriverConfig {
            invalid_request_threshold: 3,
            ..ApiDriverConfig::uncached()
        },
    );
    let user_api = layer.user_api();
    // Stale tokens (401) and a missing scope (403) are invalid requests.
    let stale = AccessToken::new("never-issued".into());
    let no_scope = AccessToken::new(mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap().access_token);
    for _ in 0..2 {
        let e = user_api.for_token(stale.clone()).current_user().await.unwrap_err();
        assert!(matches!(e, ClientError::TokenRejected), "{e:?}");
    }
    let e = user_api.for_token(no_scope.clone()).connections().await.unwrap_err();
    assert!(matches!(e, ClientError::Api(ApiError::Forbidden(_))), "{e:?}");
    let sent = mock.requests().len();
    assert_eq!(sent, 3);
    assert_eq!(user_api.driver().invalid_requests(Instant::now()), 3);

    // The threshold is reached: nothing goes, for any token, even a valid call.
    for _ in 0..3 {
        let e = user_api.for_token(no_scope.clone()).current_user().await.unwrap_err();
        let ClientError::Throttled(Throttled::InvalidRequestBudget { retry_after }) = e else {
            panic!("expected the budget's refusal, got {e:?}");
        };
        assert!(retry_after > Duration::ZERO);
        let answer =
            CallFailure::from(ClientError::Throttled(Throttled::InvalidRequestBudget { retry_after })).answer();
        assert_eq!(answer.status(), 503);
        assert!(answer.headers().contains_key("retry-after"));
    }
    // The layer's plain `DiscordApi::call` goes through the same driver and budget.
    let plain = layer.api();
    let e = plain
        .call(&api::current_user(plain.endpoints(), &no_scope))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 503, "{e:?}");
    assert!(e.retry_after().is_some());
    assert_eq!(mock.requests().len(), sent, "the mock counted no further request");
}

#[tokio::test]
async fn the_plain_api_handle_goes_through_the_driver() {
    let mock = MockDiscord::start().await.unwrap();
    let layer = layer(&mock, ApiDriverConfig::default());
    let token = AccessToken::new(mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap().access_token);
    let plain = layer.api();
    let call = api::current_user(plain.endpoints(), &token);
    for _ in 0..3 {
        assert_eq!(plain.call(&call).await.unwrap().id.to_string(), fixture::WUMPUS_ID);
    }
    assert_eq!(
        mock.count(Endpoint::CurrentUser),
        1,
        "the driver's read cache answered twice"
    );
    assert_eq!(layer.user_api().driver().stats().cached_entries, 1);
    // A rejected token is an Unauthorized API error, as before.
    let stale = AccessToken::new("never-issued".into());
    let e = plain
        .call(&api::current_user(plain.endpoints(), &stale))
        .await
        .unwrap_err();
    assert!(matches!(e, LoginError::User(ApiError::Unauthorized)), "{e:?}");
}
