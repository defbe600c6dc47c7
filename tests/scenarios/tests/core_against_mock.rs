//! The sans-IO core's flows, run end to end over real loopback HTTP against the mock Discord
//! with a minimal reqwest executor: code grant with PKCE, refresh with rotation, revocation of
//! the whole grant, client credentials, advanced bot and webhook grants, OpenID Connect with
//! the id_token verified against `/oauth2/keys`, and every scope-gated endpoint with and
//! without its scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use discord_oauth_core::api::{self, AddGuildMember, AddGuildMemberOutcome, BotToken, GuildsQuery};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::*;
use discord_oauth_mock::{MockDiscord, fixture};
use rand::SeedableRng;

/// Sends a core request with reqwest (no redirects) and returns the answer as core expects it.
async fn send(http: &reqwest::Client, req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let resp = http.execute(reqwest::Request::try_from(req).unwrap()).await.unwrap();
    let mut out = http::Response::new(Vec::new());
    *out.status_mut() = resp.status();
    *out.headers_mut() = resp.headers().clone();
    *out.body_mut() = resp.bytes().await.unwrap().to_vec();
    out
}

async fn call<T>(http: &reqwest::Client, c: &ApiCall<T>) -> Result<T, ApiError> {
    c.parse(send(http, c.request()).await)
}

struct Env {
    mock: MockDiscord,
    http: reqwest::Client,
    client: Client,
}

async fn env() -> Env {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let endpoints = Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap();
    let client = Client::new(
        ClientId::new(fixture::CLIENT_ID.into()),
        Some(ClientSecret::new(fixture::CLIENT_SECRET.into())),
        RedirectUrl::new(fixture::REDIRECT_URIS[0].into()).unwrap(),
    )
    .with_endpoints(endpoints);
    Env { mock, http, client }
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// Authorize (auto-consent) and return the grant from the callback.
async fn authorize(env: &Env, request: AuthorizeRequest<'_>) -> AuthorizationGrant {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (url, pending) = request.start(&mut rng, now()).unwrap();
    let resp = env.http.get(url.as_str()).send().await.unwrap();
    assert!(resp.status().is_redirection(), "authorize: {}", resp.status());
    let callback: url::Url = resp.headers()["location"].to_str().unwrap().parse().unwrap();
    assert!(callback.as_str().starts_with(fixture::REDIRECT_URIS[0]));
    pending.callback(callback.query().unwrap_or(""), now()).unwrap()
}

async fn login(env: &Env, scopes: &[Scope]) -> TokenSet {
    let grant = authorize(env, env.client.authorize(scopes.iter().cloned().collect::<Scopes>())).await;
    let exchange = env.client.exchange_code(grant);
    exchange
        .finish(send(&env.http, exchange.request()).await, now())
        .unwrap()
}

#[tokio::test]
async fn code_grant_with_pkce_then_user() {
    let env = env().await;
    let tokens = login(&env, &[Scope::Identify, Scope::Email]).await;
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.has_scope(&Scope::Email));
    let req = env.mock.requests_to(discord_oauth_mock::Endpoint::Token);
    assert_eq!(req[0].form_param("code_verifier").map(|v| v.len()), Some(43));
    let user = call(
        &env.http,
        &api::current_user(env.client.endpoints(), &tokens.access_token),
    )
    .await
    .unwrap();
    assert_eq!(user.id.to_string(), fixture::WUMPUS_ID);
    assert!(user.email.is_some(), "email scope granted");
}

#[tokio::test]
async fn reused_code_is_invalid_grant() {
    let env = env().await;
    let grant = authorize(&env, env.client.authorize(Scope::Identify)).await;
    let exchange = env.client.exchange_code(grant);
    assert!(
        exchange
            .finish(send(&env.http, exchange.request()).await, now())
            .is_ok()
    );
    let again = exchange
        .finish(send(&env.http, exchange.request()).await, now())
        .unwrap_err();
    assert!(again.is_invalid_grant(), "{again}");
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_dies() {
    let env = env().await;
    let tokens = login(&env, &[Scope::Identify]).await;
    let old = tokens.clone();
    let refresh = env.client.refresh(tokens).unwrap();
    let fresh = refresh.finish(send(&env.http, refresh.request()).await, now()).unwrap();
    assert_ne!(
        fresh.refresh_token.as_ref().unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret()
    );
    assert_ne!(fresh.access_token.secret(), old.access_token.secret());
    let stale = env.client.refresh(old).unwrap();
    let err = stale.finish(send(&env.http, stale.request()).await, now()).unwrap_err();
    assert!(err.is_invalid_grant(), "old refresh token must fail: {err}");
    // The new one works.
    let again = env.client.refresh(fresh).unwrap();
    assert!(again.finish(send(&env.http, again.request()).await, now()).is_ok());
}

#[tokio::test]
async fn revoke_kills_the_whole_grant() {
    let env = env().await;
    let tokens = login(&env, &[Scope::Identify]).await;
    let revoke = env.client.revoke(RevocableToken::Access(tokens.access_token.clone()));
    revoke.finish(send(&env.http, revoke.request()).await).unwrap();
    let me = call(
        &env.http,
        &api::current_user(env.client.endpoints(), &tokens.access_token),
    )
    .await;
    assert_eq!(me.unwrap_err(), ApiError::Unauthorized);
    // Revoking the access token also killed the refresh token of the same grant.
    let refresh = env.client.refresh(tokens).unwrap();
    assert!(
        refresh
            .finish(send(&env.http, refresh.request()).await, now())
            .unwrap_err()
            .is_invalid_grant()
    );
}

#[tokio::test]
async fn client_credentials_has_no_refresh_token() {
    let env = env().await;
    let cc = env
        .client
        .client_credentials(Scopes::parse("identify connections"), false)
        .unwrap();
    let tokens = cc.finish(send(&env.http, cc.request()).await, now()).unwrap();
    assert!(tokens.refresh_token.is_none());
    assert_eq!(tokens.scopes.to_string(), "identify connections");
    assert!(
        call(
            &env.http,
            &api::current_user(env.client.endpoints(), &tokens.access_token)
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn advanced_bot_authorization_returns_the_guild() {
    let env = env().await;
    let guild: u64 = fixture::GUILD_ID.parse().unwrap();
    let options = BotOptions {
        permissions: Permissions::from_bits_retain(2048),
        guild_id: Some(guild),
        disable_guild_select: true,
    };
    let grant = authorize(&env, env.client.authorize(Scope::Identify).bot(options)).await;
    assert_eq!(grant.guild_id, Some(guild));
    assert_eq!(grant.permissions, Some(Permissions::from_bits_retain(2048)));
    let exchange = env.client.exchange_code(grant);
    let tokens = exchange
        .finish(send(&env.http, exchange.request()).await, now())
        .unwrap();
    let g = tokens.guild.expect("guild in the token response");
    assert_eq!(g.id.get(), guild);
}

#[tokio::test]
async fn webhook_incoming_returns_the_webhook() {
    let env = env().await;
    let tokens = login(&env, &[Scope::WebhookIncoming]).await;
    assert!(tokens.has_scope(&Scope::WebhookIncoming));
    let hook = tokens.webhook.expect("webhook in the token response");
    assert!(
        hook.url.as_deref().is_some_and(|u| u.contains("/webhooks/")),
        "{:?}",
        hook.url
    );
    assert!(
        !format!("{hook:?}").contains(hook.token.as_ref().map_or("-", |t| t.secret())),
        "webhook token redacted"
    );
}

#[tokio::test]
async fn openid_id_token_verifies_against_the_published_keys() {
    let env = env().await;
    let grant = authorize(
        &env,
        env.client.authorize([Scope::OpenId, Scope::Identify, Scope::Email]),
    )
    .await;
    let nonce = grant.nonce().map(str::to_owned);
    assert!(nonce.is_some(), "a nonce is sent with openid");
    let exchange = env.client.exchange_code(grant);
    let tokens = exchange
        .finish(send(&env.http, exchange.request()).await, now())
        .unwrap();
    let id_token = tokens.id_token.clone().expect("id_token with openid");
    let jwks = call(&env.http, &api::keys(env.client.endpoints())).await.unwrap();
    let claims = id_token
        .verify(
            &jwks,
            env.client.client_id(),
            DISCORD_ISSUER,
            now(),
            nonce.as_deref(),
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(claims.sub, fixture::WUMPUS_ID);
    // A wrong nonce or another client id is refused.
    assert!(
        id_token
            .verify(
                &jwks,
                env.client.client_id(),
                DISCORD_ISSUER,
                now(),
                Some("other"),
                Duration::from_secs(60)
            )
            .is_err()
    );
    assert!(
        id_token
            .verify(
                &jwks,
                &ClientId::new("1".into()),
                DISCORD_ISSUER,
                now(),
                nonce.as_deref(),
                Duration::from_secs(60)
            )
            .is_err()
    );
    let info = call(&env.http, &api::userinfo(env.client.endpoints(), &tokens.access_token))
        .await
        .unwrap();
    assert_eq!(info.sub, fixture::WUMPUS_ID);
}

fn is_missing_scope(e: &ApiError) -> bool {
    matches!(e, ApiError::Forbidden(Some(d)) if d.code == 50001)
}

#[tokio::test]
async fn every_scope_gated_endpoint_with_and_without_its_scope() {
    let env = env().await;
    let e = env.client.endpoints();
    let token =
        |scopes: &str| AccessToken::new(env.mock.issue_tokens(fixture::WUMPUS_ID, scopes).unwrap().access_token);
    let guild: api::Snowflake = fixture::GUILD_ID.parse().unwrap();
    let app: api::Snowflake = fixture::CLIENT_ID.parse().unwrap();

    assert!(call(&env.http, &api::current_user(e, &token("identify"))).await.is_ok());
    assert!(is_missing_scope(
        &call(&env.http, &api::current_user(e, &token("guilds")))
            .await
            .unwrap_err()
    ));

    let q = GuildsQuery::default();
    assert!(
        !call(&env.http, &api::current_user_guilds(e, &token("guilds"), &q))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(is_missing_scope(
        &call(&env.http, &api::current_user_guilds(e, &token("identify"), &q))
            .await
            .unwrap_err()
    ));

    assert!(
        call(
            &env.http,
            &api::current_user_guild_member(e, &token("guilds.members.read"), guild)
        )
        .await
        .is_ok()
    );
    assert!(is_missing_scope(
        &call(&env.http, &api::current_user_guild_member(e, &token("identify"), guild))
            .await
            .unwrap_err()
    ));

    assert!(
        call(&env.http, &api::current_user_connections(e, &token("connections")))
            .await
            .is_ok()
    );
    assert!(is_missing_scope(
        &call(&env.http, &api::current_user_connections(e, &token("identify")))
            .await
            .unwrap_err()
    ));

    assert!(
        call(&env.http, &api::userinfo(e, &token("openid identify")))
            .await
            .is_ok()
    );
    assert!(call(&env.http, &api::userinfo(e, &token("identify"))).await.is_err());

    let rc = call(
        &env.http,
        &api::get_role_connection(e, &token("role_connections.write"), app),
    )
    .await;
    assert!(!matches!(rc, Err(ref err) if is_missing_scope(err)), "{rc:?}");
    assert!(is_missing_scope(
        &call(&env.http, &api::get_role_connection(e, &token("identify"), app))
            .await
            .unwrap_err()
    ));

    // /oauth2/@me works with any valid token.
    let info = call(&env.http, &api::current_authorization(e, &token("identify")))
        .await
        .unwrap();
    assert!(info.user.is_some());

    // Adding a member needs the bot token and the user's guilds.join.
    let bot = BotToken::new(fixture::BOT_TOKEN.into());
    let user: api::Snowflake = fixture::NOVA_ID.parse().unwrap();
    let second: api::Snowflake = fixture::SECOND_GUILD_ID.parse().unwrap();
    let nova = |scopes: &str| AccessToken::new(env.mock.issue_tokens(fixture::NOVA_ID, scopes).unwrap().access_token);
    // (Checked before the user joins: for a member, Discord answers 204 whatever the token.)
    let refused = call(
        &env.http,
        &api::add_guild_member(e, &bot, second, user, &nova("identify"), &AddGuildMember::default()),
    )
    .await;
    assert!(refused.is_err(), "guilds.join is required: {refused:?}");
    let added = call(
        &env.http,
        &api::add_guild_member(e, &bot, second, user, &nova("guilds.join"), &AddGuildMember::default()),
    )
    .await;
    assert!(matches!(added, Ok(AddGuildMemberOutcome::Added(_))), "{added:?}");
    let again = call(
        &env.http,
        &api::add_guild_member(e, &bot, second, user, &nova("guilds.join"), &AddGuildMember::default()),
    )
    .await;
    assert_eq!(again.unwrap(), AddGuildMemberOutcome::AlreadyMember);

    // A bad token is 401.
    assert_eq!(
        call(&env.http, &api::current_user(e, &AccessToken::new("nope".into())))
            .await
            .unwrap_err(),
        ApiError::Unauthorized
    );
}
