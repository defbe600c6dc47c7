//! `DiscordClient` and the bot client against the mock Discord, after a real login through
//! the middleware (`test::init_service`, the mock over loopback): tight buckets are waited
//! for, the invalid-request budget stops sending at its threshold, a `401` refreshes the login
//! once and retries once (on the fast path too), the plain `call` goes through the
//! driver, and the bot's calls carry the bot token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use discord_oauth_actix::transport::ReqwestTransport;
use discord_oauth_actix::{
    ApiDriverConfig, BotCalls, BotToken, DiscordClient, DiscordClientError, DiscordOAuth, UserCalls,
};
use discord_oauth_core::api::{self, GuildsQuery};
use discord_oauth_core::{Scope, Snowflake};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, RecordedRequest, fixture};

const REDIRECT_URI: &str = "http://127.0.0.1:1/auth/callback";

async fn guilds(client: DiscordClient) -> Result<HttpResponse, DiscordClientError> {
    let guilds = client.guilds(&GuildsQuery::default()).await?;
    Ok(HttpResponse::Ok().body(guilds.len().to_string()))
}

async fn member(client: DiscordClient) -> Result<HttpResponse, DiscordClientError> {
    let guild: Snowflake = fixture::GUILD_ID.parse().unwrap();
    let member = client.guild_member(guild).await?;
    Ok(HttpResponse::Ok().body(member.roles.len().to_string()))
}

fn oauth(mock: &MockDiscord, api: ApiDriverConfig) -> DiscordOAuth {
    let login = mock.login_config(REDIRECT_URI).unwrap();
    let config = login.scopes([Scope::Identify, Scope::Guilds]).build().unwrap();
    DiscordOAuth::builder(config, ReqwestTransport::new().unwrap())
        .api(api)
        .build()
}

macro_rules! app {
    ($discord:expr) => {{
        let d: DiscordOAuth = $discord;
        test::init_service(
            App::new()
                .configure(d.routes())
                .route("/guilds", web::get().to(guilds))
                .route("/member", web::get().to(member))
                .wrap(d.cookie_session(Key::from(&[7u8; 64]))),
        )
        .await
    }};
}

fn cookies<B>(resp: &ServiceResponse<B>) -> String {
    resp.headers()
        .get_all("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Logs in as the mock's default user (Wumpus): the session cookie. Fails saying where the
/// login stopped.
async fn log_in<S, B>(mock: &MockDiscord, app: &S) -> String
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let session = mock.log_in_actix(app, "/auth/login", fixture::WUMPUS_ID).await;
    session.unwrap().to_string()
}

async fn get<S, B>(app: &S, uri: &str, session: &str) -> (StatusCode, String)
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    get_keeping(app, uri, &mut session.to_owned()).await
}

fn statuses(seen: &[RecordedRequest]) -> Vec<Option<u16>> {
    seen.iter().map(RecordedRequest::status).collect()
}

#[actix_web::test]
async fn the_client_waits_for_an_exhausted_bucket_instead_of_drawing_a_429() {
    let mock = MockDiscord::builder()
        .auto_consent(true)
        .rate_limit_buckets(2, Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let app = app!(oauth(&mock, ApiDriverConfig::uncached()));
    let session = log_in(&mock, &app).await;
    for _ in 0..5 {
        let (status, body) = get(&app, "/guilds", &session).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A call sent before its bucket reset would have drawn a 429 (and been sent again).
    assert_eq!(statuses(&mock.requests_to(Endpoint::CurrentUserGuilds)), [Some(200); 5]);
}

#[actix_web::test]
async fn the_invalid_request_budget_stops_sending_at_its_threshold() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let discord = oauth(
        &mock,
        ApiDriverConfig {
            invalid_request_threshold: 2,
            ..ApiDriverConfig::uncached()
        },
    );
    let app = app!(discord.clone());
    let session = log_in(&mock, &app).await;
    // Wumpus's token lacks `guilds.members.read`: Discord answers 403, an invalid request.
    for _ in 0..2 {
        let (status, _) = get(&app, "/member", &session).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let sent = mock.requests().len();
    for uri in ["/member", "/guilds"] {
        let resp = send(&app, uri, &session).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key("retry-after"));
    }
    // The plain `call` goes through the same driver: refused too.
    let token = discord_oauth_core::AccessToken::new("unused".into());
    let e = discord
        .call(&api::current_user(discord.endpoints(), &token))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 503, "{e:?}");
    assert_eq!(mock.requests().len(), sent, "the mock counted no further request");
}

/// `GET uri` as an API client (JSON) with the cookie header `session`.
async fn send<S, B>(app: &S, uri: &str, session: &str) -> ServiceResponse<B>
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let request = test::TestRequest::get()
        .uri(uri)
        .insert_header(("cookie", session))
        .insert_header(("accept", "application/json"))
        .to_request();
    test::call_service(app, request).await
}

/// `GET uri` with `session`, which takes the session cookie the answer sets, if any.
async fn get_keeping<S, B>(app: &S, uri: &str, session: &mut String) -> (StatusCode, String)
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let resp = send(app, uri, session).await;
    let set = cookies(&resp);
    if !set.is_empty() {
        *session = set;
    }
    let status = resp.status();
    let body = test::read_body(resp).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The bearer tokens and statuses of the guild-list requests the mock saw.
fn guild_calls(mock: &MockDiscord) -> Vec<(String, Option<u16>)> {
    mock.requests_to(Endpoint::CurrentUserGuilds)
        .iter()
        .map(|r| (r.bearer_token().unwrap().to_owned(), r.status()))
        .collect()
}

#[actix_web::test]
async fn a_401_refreshes_the_login_once_and_retries_once_with_the_new_token() {
    // `warm`: the login is first served once, so that the 401 comes on the fast path.
    for warm in [false, true] {
        let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
        let app = app!(oauth(&mock, ApiDriverConfig::uncached()));
        let mut session = log_in(&mock, &app).await;
        if warm {
            assert_eq!(get_keeping(&app, "/guilds", &mut session).await.0, StatusCode::OK);
        }
        // Discord stops accepting the access token before the expiry the login recorded.
        mock.expire_access_tokens();
        let before = session.clone();
        let (status, body) = get_keeping(&app, "/guilds", &mut session).await;
        assert_eq!(status, StatusCode::OK, "warm {warm}: {body}");
        let calls = guild_calls(&mock);
        let seen: Vec<_> = calls.iter().map(|c| c.1).collect();
        let expected: &[Option<u16>] = if warm {
            &[Some(200), Some(401), Some(200)]
        } else {
            &[Some(401), Some(200)]
        };
        assert_eq!(seen, expected, "warm {warm}");
        assert_eq!(mock.count_grant("refresh_token"), 1, "one refresh");
        let (rejected, retried) = (&calls[calls.len() - 2].0, &calls[calls.len() - 1].0);
        assert_ne!(rejected, retried, "the retry carried the refreshed token");
        assert_ne!(session, before, "the refreshed login went into the session cookie");

        // The refreshed login was stored: the next request uses the new token at once.
        assert_eq!(get_keeping(&app, "/guilds", &mut session).await.0, StatusCode::OK);
        let calls = guild_calls(&mock);
        assert_eq!(calls.last().unwrap(), &(retried.clone(), Some(200)), "warm {warm}");
        assert_eq!(mock.count_grant("refresh_token"), 1, "no second refresh");
    }
}

#[actix_web::test]
async fn a_second_401_ends_the_tokens_use() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let app = app!(oauth(&mock, ApiDriverConfig::uncached()));
    let session = log_in(&mock, &app).await;
    mock.inject(Fault::status(Endpoint::CurrentUserGuilds, 401).times(2));
    let (status, body) = get(&app, "/guilds", &session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "log in again: {body}");
    assert!(body.contains("/auth/login"), "{body}");
    let seen: Vec<_> = guild_calls(&mock).iter().map(|c| c.1).collect();
    assert_eq!(seen, [Some(401), Some(401)], "one retry only");
    assert_eq!(mock.count_grant("refresh_token"), 1, "one refresh only");
}

#[actix_web::test]
async fn a_refused_refresh_ends_the_session() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let app = app!(oauth(&mock, ApiDriverConfig::uncached()));
    let mut session = log_in(&mock, &app).await;
    // The user removed the app in Discord: the access and the refresh token are dead.
    mock.revoke_all_for(fixture::WUMPUS_ID);
    let (status, _) = get_keeping(&app, "/guilds", &mut session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let seen: Vec<_> = guild_calls(&mock).iter().map(|c| c.1).collect();
    assert_eq!(seen, [Some(401)], "no retry without a new token");
    let refreshes: Vec<_> = mock.refreshes().iter().map(RecordedRequest::status).collect();
    assert_eq!(refreshes, [Some(400)], "Discord refused the refresh");
    // The session ended with it: the next request is anonymous, and calls nothing.
    let (status, body) = get_keeping(&app, "/guilds", &mut session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(guild_calls(&mock).len(), 1);
}

#[actix_web::test]
async fn the_bot_client_carries_the_bot_token_and_adds_a_member() {
    let mock = MockDiscord::start().await.unwrap();
    let bot = oauth(&mock, ApiDriverConfig::uncached()).bot_api(BotToken::new(fixture::BOT_TOKEN.into()));
    assert!(!format!("{bot:?}").contains(fixture::BOT_TOKEN));
    assert_eq!(
        bot.current_application().await.unwrap().id.to_string(),
        fixture::CLIENT_ID
    );
    let nova = mock.issue_tokens(fixture::NOVA_ID, "identify guilds.join").unwrap();
    let outcome = bot
        .add_guild_member(
            fixture::SECOND_GUILD_ID.parse().unwrap(),
            fixture::NOVA_ID.parse().unwrap(),
            &discord_oauth_core::AccessToken::new(nova.access_token),
            &api::AddGuildMember::default(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, api::AddGuildMemberOutcome::Added(_)), "{outcome:?}");
    assert!(mock.is_member(fixture::SECOND_GUILD_ID, fixture::NOVA_ID));
    for r in mock.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bot {}", fixture::BOT_TOKEN).as_str())
        );
    }
    let wrong = oauth(&mock, ApiDriverConfig::uncached()).bot_api(BotToken::new("wrong".into()));
    let e = wrong.current_application().await.unwrap_err();
    assert!(matches!(e, discord_oauth_actix::ClientError::BotTokenRejected), "{e:?}");
}
