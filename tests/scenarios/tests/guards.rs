//! Guild and role guards (tower `RequireGuildLayer`, used from axum) against the mock Discord:
//! members pass, others get 403 (HTML page or JSON), logged-out users are sent to login,
//! answers are cached per user, and a Discord failure never lets anyone in. IDs are compared
//! as snowflakes (checklist J-06).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::get;
use discord_oauth_axum::tower_sessions::MemoryStore;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, LoginConfig};
use discord_oauth_core::{Scope, Scopes};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use discord_oauth_scenarios::{Browser, location};
use reqwest::StatusCode;

fn id(s: &str) -> u64 {
    s.parse().unwrap()
}

async fn start(scopes: Scopes) -> (Browser, MockDiscord) {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .scopes(scopes)
        .discord_base(&mock.base_url())
        .build()
        .unwrap();
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap()).build();
    let ok = || async { "welcome" };
    let app = Router::new()
        .route("/plain", get(ok))
        .route(
            "/cached",
            get(|| async { ([("cache-control", "public, max-age=60")], "shared") }),
        )
        .route(
            "/members",
            get(ok).route_layer(layer.require_guild(id(fixture::GUILD_ID))),
        )
        .route(
            "/third",
            get(ok).route_layer(layer.require_guild(id(fixture::THIRD_GUILD_ID))),
        )
        .route(
            "/mods",
            get(ok).route_layer(layer.require_role(id(fixture::GUILD_ID), id(fixture::MODERATOR_ROLE_ID))),
        );
    let app = DiscordOAuth::from_layer(layer).mount(app, MemoryStore::default());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Browser::new(&url, &mock.base_url()), mock)
}

fn member_scopes() -> Scopes {
    Scopes::from([Scope::Identify, Scope::Guilds, Scope::GuildsMembersRead])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j06_members_pass_others_get_403() {
    let (b, mock) = start(member_scopes()).await;
    b.login(None).await; // wumpus: member of guild 1 (no moderator role), not of guild 3
    let r = b.get("/members").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "welcome");

    let r = b.get("/third").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("Access denied"));
    let r = b.get_json("/mods").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");

    // Decisions are cached per user and guild: no second call to Discord.
    let calls = mock.count(Endpoint::CurrentUserGuildMember);
    assert_eq!(b.get("/members").await.status(), StatusCode::OK);
    assert_eq!(b.get("/third").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(mock.count(Endpoint::CurrentUserGuildMember), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_holders_pass_the_role_guard() {
    let (b, _mock) = start(member_scopes()).await;
    b.discord_user(fixture::LENA_ID).await; // moderator in guild 1, member of guild 3
    b.login(None).await;
    assert_eq!(b.get("/mods").await.status(), StatusCode::OK);
    assert_eq!(b.get("/third").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_out_users_are_sent_to_login() {
    let (b, _mock) = start(member_scopes()).await;
    let r = b.get("/members").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/auth/login?return_to=%2Fmembers");
    assert_eq!(b.get_json("/members").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_failure_never_lets_anyone_in() {
    let (b, mock) = start(member_scopes()).await;
    b.login(None).await;
    mock.inject(Fault::status(Endpoint::CurrentUserGuildMember, 502).once());
    let r = b.get("/members").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    // Once Discord answers again, the member gets in.
    assert_eq!(b.get("/members").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guild_guard_works_with_the_guilds_scope_alone() {
    let (b, mock) = start(Scopes::from([Scope::Identify, Scope::Guilds])).await;
    b.login(None).await;
    assert_eq!(b.get("/members").await.status(), StatusCode::OK);
    assert_eq!(b.get("/third").await.status(), StatusCode::FORBIDDEN);
    assert!(mock.count(Endpoint::CurrentUserGuilds) >= 1);
    assert_eq!(mock.count(Endpoint::CurrentUserGuildMember), 0);
    // A role cannot be checked without guilds.members.read: refused, not waved through.
    assert_eq!(b.get("/mods").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h14_responses_to_logged_in_users_are_not_cached() {
    let (b, _mock) = start(member_scopes()).await;
    let anonymous = b.get("/plain").await;
    assert!(
        anonymous.headers().get("cache-control").is_none(),
        "public pages keep their own policy"
    );
    b.login(None).await;
    let r = b.get("/plain").await;
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let r = b.get("/members").await;
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let r = b.get("/cached").await;
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=60",
        "a handler's explicit policy wins"
    );
}
