//! The axum and actix-web integrations give the same answer to every login route and every
//! rejection: the same status, the same security headers, the same body. Each framework serves
//! the same small app, built from the library as a user would (`/me` takes a `DiscordUser`,
//! `/third` is guarded by a guild the mock user is not in, `/guilds` calls Discord through a
//! `DiscordClient`), against its own mock Discord; the per-run parts of an answer (the ports,
//! the login's random `state`, challenge and cookie id, cookie values) are masked, nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use discord_oauth_core::api::GuildsQuery;
use discord_oauth_core::api::client::UserCalls as _;
use discord_oauth_core::{Scope, Scopes};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use discord_oauth_scenarios::Browser;

#[derive(Debug, Clone, Copy)]
enum Framework {
    Axum,
    Actix,
}

/// What is compared of an answer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// The headers an answer is compared on: the security ones, and those that say what the
/// answer is.
const HEADERS: [&str; 9] = [
    "content-type",
    "cache-control",
    "location",
    "allow",
    "retry-after",
    "referrer-policy",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
];

fn config(mock: &MockDiscord, url: &str) -> discord_oauth_core::login::LoginConfig {
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    discord_oauth_core::login::LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .scopes(Scopes::from([Scope::Identify, Scope::Guilds, Scope::GuildsMembersRead]))
        .discord_base(&mock.base_url())
        .build()
        .unwrap()
}

fn third_guild() -> u64 {
    fixture::THIRD_GUILD_ID.parse().unwrap()
}

/// Starts the app on `framework`, answering for `mock`; returns its URL.
fn start(framework: Framework, mock: &MockDiscord) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = config(mock, &url);
    match framework {
        Framework::Axum => {
            use axum::Router;
            use axum::routing::get;
            use discord_oauth_axum::transport::ReqwestTransport;
            use discord_oauth_axum::{DiscordClient, DiscordClientError, DiscordOAuth, DiscordOAuthLayer, DiscordUser};

            let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap()).build();
            let app = Router::new()
                .route("/me", get(|user: DiscordUser| async move { user.id.to_string() }))
                .route(
                    "/third",
                    get(|| async { "welcome" }).route_layer(layer.require_guild(third_guild())),
                )
                .route(
                    "/guilds",
                    get(|client: DiscordClient| async move {
                        let guilds = client.guilds(&GuildsQuery::default()).await?;
                        Ok::<_, DiscordClientError>(guilds.len().to_string())
                    }),
                );
            let app = DiscordOAuth::from_layer(layer).mount(app, discord_oauth_axum::MemoryStore::default());
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        Framework::Actix => {
            use actix_web::{App, HttpServer, web};
            use discord_oauth_actix::transport::ReqwestTransport;
            use discord_oauth_actix::{DiscordClient, DiscordClientError, DiscordOAuth, DiscordUser, MemoryStore};

            let oauth = DiscordOAuth::builder(config, ReqwestTransport::new().unwrap()).build();
            let key = actix_web::cookie::Key::generate();
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(oauth.session_middleware(MemoryStore::default(), key.clone()))
                    .configure(oauth.routes())
                    .route(
                        "/me",
                        web::get().to(|user: DiscordUser| async move { user.id.to_string() }),
                    )
                    .service(
                        web::resource("/third")
                            .wrap(oauth.require_guild(third_guild()))
                            .route(web::get().to(|| async { "welcome" })),
                    )
                    .route(
                        "/guilds",
                        web::get().to(|client: DiscordClient| async move {
                            let guilds = client.guilds(&GuildsQuery::default()).await?;
                            Ok::<_, DiscordClientError>(guilds.len().to_string())
                        }),
                    )
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            tokio::spawn(server);
        }
    }
    url
}

/// Masks what differs between two runs of the same answer.
fn mask(text: &str, url: &str, mock: &str) -> String {
    let encoded = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    let mut out = text
        .replace(mock, "{mock}")
        .replace(url, "{site}")
        .replace(&encoded(url), "{site}");
    for param in ["state=", "code_challenge=", "nonce="] {
        let mut masked = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find(param) {
            let (before, after) = rest.split_at(at + param.len());
            masked.push_str(before);
            masked.push('…');
            rest = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || "-_.~%".contains(c));
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}

/// A `Set-Cookie` with its value (and a login cookie's random id) masked.
fn mask_cookie(cookie: &str) -> String {
    let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
    let name = pair.split('=').next().unwrap_or("");
    let name = match name.split_once("discord_oauth_login.") {
        Some((prefix, _)) => format!("{prefix}discord_oauth_login.…"),
        None => name.to_owned(),
    };
    let mut attributes: Vec<String> = attributes
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty() && !a.starts_with("expires="))
        .collect();
    attributes.sort();
    format!("{name}=…; {}", attributes.join("; "))
}

async fn answer(response: reqwest::Response, url: &str, mock: &str) -> Answer {
    let mut headers = BTreeMap::new();
    for name in HEADERS {
        if let Some(v) = response.headers().get(name) {
            headers.insert(name.to_owned(), mask(v.to_str().unwrap(), url, mock));
        }
    }
    let mut cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| mask_cookie(v.to_str().unwrap()))
        .collect();
    cookies.sort();
    if !cookies.is_empty() {
        headers.insert("set-cookie".to_owned(), cookies.join(" | "));
    }
    let status = response.status().as_u16();
    let body = mask(&response.text().await.unwrap(), url, mock);
    Answer { status, headers, body }
}

const HTML: &str = "text/html,application/xhtml+xml";
const JSON: &str = "application/json";

/// Every case, answered by one framework: `(case, answer)`.
async fn answers(framework: Framework) -> Vec<(&'static str, Answer)> {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let url = start(framework, &mock);
    let mock_url = mock.base_url();
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut out = Vec::new();
    let long = format!("%2F{}", "a".repeat(600));
    let anonymous: Vec<(&'static str, reqwest::RequestBuilder)> = vec![
        (
            "login redirect",
            raw.get(format!("{url}/auth/login?return_to=%2Fme"))
                .header("accept", HTML),
        ),
        (
            "login, return_to too long",
            raw.get(format!("{url}/auth/login?return_to={long}")),
        ),
        ("login, wrong method", raw.post(format!("{url}/auth/login"))),
        ("callback without parameters", raw.get(format!("{url}/auth/callback"))),
        (
            "callback, forged state",
            raw.get(format!("{url}/auth/callback?code=abc&state=forged")),
        ),
        (
            "callback, access denied",
            raw.get(format!("{url}/auth/callback?error=access_denied&state=x")),
        ),
        ("callback, wrong method", raw.post(format!("{url}/auth/callback"))),
        ("logout, wrong method", raw.get(format!("{url}/auth/logout"))),
        (
            "logout, cross-site",
            raw.post(format!("{url}/auth/logout"))
                .header("origin", "https://evil.example"),
        ),
        (
            "logout, anonymous",
            raw.post(format!("{url}/auth/logout")).header("origin", &url),
        ),
        ("401 JSON", raw.get(format!("{url}/me")).header("accept", JSON)),
        (
            "page load sent to login",
            raw.get(format!("{url}/me")).header("accept", HTML),
        ),
        (
            "CORS fetch gets 401",
            raw.get(format!("{url}/me"))
                .header("accept", HTML)
                .header("sec-fetch-mode", "cors"),
        ),
        (
            "guard, anonymous",
            raw.get(format!("{url}/third")).header("accept", JSON),
        ),
        (
            "client, anonymous",
            raw.get(format!("{url}/guilds")).header("accept", JSON),
        ),
    ];
    for (case, request) in anonymous {
        out.push((case, answer(request.send().await.unwrap(), &url, &mock_url).await));
    }

    // Discord rate-limits the token exchange for longer than is worth waiting: 503.
    mock.inject(Fault::rate_limited(Endpoint::Token).retry_after(30.0).once());
    let browser = Browser::new(&url, &mock_url);
    out.push((
        "callback, Discord rate limited",
        answer(browser.login(None).await, &url, &mock_url).await,
    ));

    let browser = Browser::new(&url, &mock_url);
    let done = browser.login(Some("/me")).await;
    out.push(("callback, logged in", answer(done, &url, &mock_url).await));
    out.push((
        "logged in",
        answer(browser.get_json("/me").await, &url, &mock_url).await,
    ));
    out.push((
        "403 JSON",
        answer(browser.get_json("/third").await, &url, &mock_url).await,
    ));
    out.push(("403 page", answer(browser.get("/third").await, &url, &mock_url).await));
    out.push((
        "client",
        answer(browser.get_json("/guilds").await, &url, &mock_url).await,
    ));
    mock.inject(
        Fault::rate_limited(Endpoint::CurrentUserGuilds)
            .retry_after(30.0)
            .once(),
    );
    out.push((
        "client, 429 passed on",
        answer(browser.get_json("/guilds").await, &url, &mock_url).await,
    ));
    mock.inject(Fault::status(Endpoint::CurrentUserGuilds, 500).times(2));
    out.push((
        "client, Discord failing",
        answer(browser.get_json("/guilds").await, &url, &mock_url).await,
    ));
    out.push(("logout", answer(browser.logout().await, &url, &mock_url).await));
    out.push((
        "after logout",
        answer(browser.get_json("/me").await, &url, &mock_url).await,
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_actix_answer_the_same() {
    let axum = answers(Framework::Axum).await;
    let actix = answers(Framework::Actix).await;
    assert_eq!(axum.len(), actix.len());
    let mut differences = Vec::new();
    for ((case, a), (_, b)) in axum.iter().zip(&actix) {
        if a != b {
            differences.push(format!("{case}:\n  axum:  {a:?}\n  actix: {b:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The comparison compares something: the cases answer what they should.
    let status = |case: &str| axum.iter().find(|(c, _)| *c == case).unwrap().1.status;
    assert_eq!(status("login redirect"), 303);
    assert_eq!(status("login, wrong method"), 405);
    assert_eq!(status("logout, cross-site"), 403);
    assert_eq!(status("401 JSON"), 401);
    assert_eq!(status("callback, Discord rate limited"), 503);
    assert_eq!(status("logged in"), 200);
    assert_eq!(status("403 JSON"), 403);
    assert_eq!(status("client"), 200);
    assert_eq!(status("after logout"), 401);
}
