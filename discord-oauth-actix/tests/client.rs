//! `DiscordClient` and the bot client against the mock Discord, after a real login through
//! the middleware (`test::init_service`, the mock over loopback): tight buckets are waited
//! for, the invalid-request budget stops sending at its threshold, a `401` ends the token's
//! use without a refresh (see `DiscordClient`'s docs), the plain `call` goes through the
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
    let config = mock
        .login_config(REDIRECT_URI)
        .unwrap()
        .scopes([Scope::Identify, Scope::Guilds])
        .build()
        .unwrap();
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

/// Logs in as the mock's default user (Wumpus): the session cookie.
async fn log_in<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let resp = test::call_service(app, test::TestRequest::get().uri("/auth/login").to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let pending = cookies(&resp);
    let authorize = resp.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = http.get(authorize).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let resp = test::call_service(
        app,
        test::TestRequest::get()
            .uri(callback.strip_prefix("http://127.0.0.1:1").unwrap())
            .insert_header(("cookie", pending))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "logged in");
    cookies(&resp)
}

async fn get<S, B>(app: &S, uri: &str, session: &str) -> (StatusCode, String)
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let resp = test::call_service(
        app,
        test::TestRequest::get()
            .uri(uri)
            .insert_header(("cookie", session))
            .insert_header(("accept", "application/json"))
            .to_request(),
    )
    .await;
    let status = resp.status();
    let body = test::read_body(resp).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
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
    let session = log_in(&app).await;
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
    let session = log_in(&app).await;
    // Wumpus's token lacks `guilds.members.read`: Discord answers 403, an invalid request.
    for _ in 0..2 {
        let (status, _) = get(&app, "/member", &session).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let sent = mock.requests().len();
    for uri in ["/member", "/guilds"] {
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(uri)
                .insert_header(("cookie", session.as_str()))
                .insert_header(("accept", "application/json"))
                .to_request(),
        )
        .await;
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

#[actix_web::test]
async fn a_401_ends_the_tokens_use_without_a_refresh() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let app = app!(oauth(&mock, ApiDriverConfig::uncached()));
    let session = log_in(&app).await;
    mock.inject(Fault::status(Endpoint::CurrentUserGuilds, 401).once());
    let (status, body) = get(&app, "/guilds", &session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("/auth/login"), "{body}");
    assert_eq!(mock.count(Endpoint::CurrentUserGuilds), 1);
    assert_eq!(
        mock.count_grant("refresh_token"),
        0,
        "actix does not refresh from a handler (yet)"
    );
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
