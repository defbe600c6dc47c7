//! The invalid-request budget shared through Redis (checklist K-04): two instances of a site
//! (two tower layers, two actix-web integrations, or one of each) on one Redis count
//! Discord's invalid requests together. Instance A draws `401`s from the mock Discord with a
//! stale token; instance B, which sent nothing invalid, then refuses to send
//! (`Throttled::InvalidRequestBudget`) and the mock sees nothing from it. Needs the shared
//! Redis at `REDIS_URL` (default `redis://127.0.0.1:6379/15`): skipped without it, failing in
//! CI. Each test keeps its counts under a hash of its own, which expires 10 s after the test. Waits are for conditions, with a
//! generous deadline, never for a duration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use discord_oauth_actix::{DiscordOAuth, deadpool_redis};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    ApiDriverConfig, BotCalls as _, BotToken, ClientError, DiscordOAuthLayer, RedisBudget, UserCalls as _,
};
use discord_oauth_core::api::client::ApiDriver;
use discord_oauth_core::api::ratelimit::Throttled;
use discord_oauth_core::login::LoginError;
use discord_oauth_core::{AccessToken, ApiError, api};
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_scenarios::redis::shared_redis;
use fred::prelude::{Builder, ClientLike as _, Config, Pool};

/// The threshold both instances run with.
const THRESHOLD: u32 = 3;
/// How often the instances exchange their counts in these tests.
const SYNC: Duration = Duration::from_millis(100);

fn api_config() -> ApiDriverConfig {
    ApiDriverConfig {
        invalid_request_threshold: THRESHOLD,
        ..ApiDriverConfig::uncached()
    }
}

/// A hash of this test's own (it expires by itself once the instances are gone).
struct Key {
    name: String,
    pool: Pool,
}

impl Key {
    async fn new(url: &str) -> Self {
        let pool = Builder::from_config(Config::from_url(url).unwrap())
            .build_pool(2)
            .unwrap();
        pool.init().await.unwrap();
        let suffix: u64 = rand::random();
        Self {
            name: format!("discord_oauth:test:budget:{suffix:016x}"),
            pool,
        }
    }

    fn tower_budget(&self) -> RedisBudget {
        RedisBudget::new(self.pool.clone()).key(&self.name).sync_every(SYNC)
    }

    fn actix_budget(&self, url: &str) -> discord_oauth_actix::RedisBudget {
        let pool = deadpool_redis::Config::from_url(url)
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .unwrap();
        discord_oauth_actix::RedisBudget::new(pool)
            .key(&self.name)
            .sync_every(SYNC)
    }
}

fn tower_instance(mock: &MockDiscord, key: &Key) -> DiscordOAuthLayer {
    let config = mock
        .login_config("http://127.0.0.1:1/auth/callback")
        .unwrap()
        .build()
        .unwrap();
    DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .api(api_config())
        .shared_budget(key.tower_budget())
        .build()
}

fn actix_instance(mock: &MockDiscord, key: &Key, url: &str) -> DiscordOAuth {
    let config = mock
        .login_config("http://127.0.0.1:1/auth/callback")
        .unwrap()
        .build()
        .unwrap();
    DiscordOAuth::builder(config, discord_oauth_actix::transport::ReqwestTransport::new().unwrap())
        .api(api_config())
        .shared_budget(key.actix_budget(url))
        .build()
}

/// Waits (up to a generous deadline) until `driver` counts at least `count` invalid requests
/// in all, none of them its own.
async fn hears_of(driver: &ApiDriver, count: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while driver.invalid_requests(Instant::now()) < count {
        assert!(
            Instant::now() < deadline,
            "the other instance's count never arrived (counted {})",
            driver.invalid_requests(Instant::now())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(driver.invalid_requests_here(Instant::now()), 0, "nothing counted here");
}

/// A tower instance's stale tokens, answered `401` by Discord.
async fn tower_draws_401s(a: &DiscordOAuthLayer) {
    let stale = AccessToken::new("never-issued".into());
    for _ in 0..THRESHOLD {
        let e = a.user_api().for_token(stale.clone()).current_user().await.unwrap_err();
        assert!(matches!(e, ClientError::TokenRejected), "{e:?}");
    }
}

/// An actix-web instance's stale tokens, answered `401` by Discord.
async fn actix_draws_401s(a: &DiscordOAuth) {
    let stale = AccessToken::new("never-issued".into());
    for _ in 0..THRESHOLD {
        let e = a.call(&api::current_user(a.endpoints(), &stale)).await.unwrap_err();
        assert!(matches!(e, LoginError::User(ApiError::Unauthorized)), "{e:?}");
    }
}

fn assert_budget_refusal(result: Result<impl std::fmt::Debug, ClientError>) {
    let e = result.unwrap_err();
    let ClientError::Throttled(Throttled::InvalidRequestBudget { retry_after }) = e else {
        panic!("expected the shared budget's refusal, got {e:?}");
    };
    assert!(retry_after > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k04_one_tower_instances_invalid_answers_close_the_others_budget() {
    let Some(url) = shared_redis().await else { return };
    let mock = MockDiscord::start().await.unwrap();
    let key = Key::new(&url).await;
    let (a, b) = (tower_instance(&mock, &key), tower_instance(&mock, &key));
    let good = AccessToken::new(mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap().access_token);
    let b_client = b.user_api().for_token(good);
    b_client
        .current_user()
        .await
        .expect("b sends while the budget has room");

    tower_draws_401s(&a).await;
    hears_of(b.user_api().driver(), THRESHOLD).await;
    let sent = mock.requests().len();
    assert_budget_refusal(b_client.current_user().await);
    assert_eq!(mock.requests().len(), sent, "b sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k04_one_actix_instances_invalid_answers_close_the_others_budget() {
    let Some(url) = shared_redis().await else { return };
    let mock = MockDiscord::start().await.unwrap();
    let key = Key::new(&url).await;
    let (a, b) = (actix_instance(&mock, &key, &url), actix_instance(&mock, &key, &url));
    let bot = b.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    bot.current_application()
        .await
        .expect("b sends while the budget has room");

    actix_draws_401s(&a).await;
    hears_of(b.api_driver(), THRESHOLD).await;
    let sent = mock.requests().len();
    assert_budget_refusal(bot.current_application().await);
    assert_eq!(mock.requests().len(), sent, "b sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k04_tower_and_actix_instances_share_one_budget() {
    let Some(url) = shared_redis().await else { return };
    let mock = MockDiscord::start().await.unwrap();
    let key = Key::new(&url).await;
    let (tower, actix) = (tower_instance(&mock, &key), actix_instance(&mock, &key, &url));
    let good = AccessToken::new(mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap().access_token);

    // The actix instance's invalid answers close the tower instance's budget …
    actix_draws_401s(&actix).await;
    hears_of(tower.user_api().driver(), THRESHOLD).await;
    let sent = mock.requests().len();
    assert_budget_refusal(tower.user_api().for_token(good).current_user().await);
    assert_eq!(mock.requests().len(), sent, "the tower instance sent nothing");
    // … and the actix instance, past the threshold itself, refuses too.
    let bot = actix.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    assert_budget_refusal(bot.current_application().await);
}
