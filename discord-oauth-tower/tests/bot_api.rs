//! The layer's bot client (`DiscordOAuthLayer::bot_api`) against the mock Discord: the bot
//! token in `Authorization: Bot …`, adding a user to a guild, the bot's own rate-limit
//! buckets, and the invalid-request budget it shares with users' calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use discord_oauth_core::api::client::{ApiDriverConfig, BotCalls, ClientError, UserCalls};
use discord_oauth_core::api::ratelimit::Throttled;
use discord_oauth_core::api::{AddGuildMember, AddGuildMemberOutcome, BotToken};
use discord_oauth_core::{AccessToken, Snowflake};
use discord_oauth_mock::{Endpoint, MockDiscord, RecordedRequest, fixture};

mod common;
use common::layer;

fn sf(s: &str) -> Snowflake {
    s.parse().unwrap()
}

#[tokio::test]
async fn the_bot_reads_its_application_and_adds_a_user_to_a_guild() {
    let mock = MockDiscord::start().await.unwrap();
    let bot = layer(&mock, ApiDriverConfig::uncached()).bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    assert!(!format!("{bot:?}").contains(fixture::BOT_TOKEN), "{bot:?}");

    let app = bot.current_application().await.unwrap();
    assert_eq!(app.id, sf(fixture::CLIENT_ID));
    let seen = mock.last_request(Endpoint::CurrentApplication).unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bot {}", fixture::BOT_TOKEN).as_str())
    );

    let nova = AccessToken::new(
        mock.issue_tokens(fixture::NOVA_ID, "identify guilds.join")
            .unwrap()
            .access_token,
    );
    let options = AddGuildMember {
        nick: Some("nova!".into()),
        ..AddGuildMember::default()
    };
    let added = bot
        .add_guild_member(sf(fixture::SECOND_GUILD_ID), sf(fixture::NOVA_ID), &nova, &options)
        .await
        .unwrap();
    let AddGuildMemberOutcome::Added(member) = added else {
        panic!("expected a new member, got {added:?}");
    };
    assert_eq!(member.nick.as_deref(), Some("nova!"));
    assert!(mock.is_member(fixture::SECOND_GUILD_ID, fixture::NOVA_ID));
    let put = mock.last_request(Endpoint::AddGuildMember).unwrap();
    assert_eq!(put.method(), "PUT");
    assert_eq!(
        put.path(),
        format!(
            "/api/v10/guilds/{}/members/{}",
            fixture::SECOND_GUILD_ID,
            fixture::NOVA_ID
        )
    );
    assert!(put.header("authorization").unwrap().starts_with("Bot "));
    let body = put.body_json().unwrap();
    assert_eq!(body["access_token"], nova.secret().as_str());
    assert_eq!(body["nick"], "nova!");

    let again = bot
        .add_guild_member(sf(fixture::SECOND_GUILD_ID), sf(fixture::NOVA_ID), &nova, &options)
        .await
        .unwrap();
    assert_eq!(again, AddGuildMemberOutcome::AlreadyMember);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_waits_for_its_own_bucket_and_a_wrong_bot_token_is_not_retried() {
    let mock = MockDiscord::builder()
        .rate_limit_buckets(1, Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let layer = layer(&mock, ApiDriverConfig::uncached());
    let bot = layer.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    for _ in 0..3 {
        bot.current_application().await.unwrap();
    }
    let statuses: Vec<_> = mock
        .requests_to(Endpoint::CurrentApplication)
        .iter()
        .map(RecordedRequest::status)
        .collect();
    assert_eq!(
        statuses,
        [Some(200); 3],
        "each call waited for the bot's bucket: no 429"
    );

    let wrong = layer.bot_api(BotToken::new("not-the-bot-token".into()));
    let e = wrong.current_application().await.unwrap_err();
    assert!(matches!(e, ClientError::BotTokenRejected), "{e:?}");
    assert_eq!(
        mock.count(Endpoint::CurrentApplication),
        4,
        "a rejected bot token is not retried"
    );
}

#[tokio::test]
async fn bot_calls_and_user_calls_share_the_invalid_request_budget() {
    let mock = MockDiscord::start().await.unwrap();
    let layer = layer(
        &mock,
        ApiDriverConfig {
            invalid_request_threshold: 2,
            ..ApiDriverConfig::uncached()
        },
    );
    let wrong = layer.bot_api(BotToken::new("not-the-bot-token".into()));
    let stale = layer.user_api().for_token(AccessToken::new("never-issued".into()));
    assert!(matches!(
        wrong.current_application().await,
        Err(ClientError::BotTokenRejected)
    ));
    assert!(matches!(stale.current_user().await, Err(ClientError::TokenRejected)));
    let sent = mock.requests().len();
    assert_eq!(sent, 2);
    let bot = layer.bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    let e = bot.current_application().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Throttled(Throttled::InvalidRequestBudget { .. })),
        "{e:?}"
    );
    assert_eq!(mock.requests().len(), sent, "nothing sent once the budget is spent");
}
