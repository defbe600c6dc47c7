//! The gateway binary against the mock Discord and a real upstream, on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use discord_oauth_mock::{MockMember, fixture};
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use support::{Gateway, Upstream, api, browser, echoed, eventually, header, log_in, log_in_at, page};
use tokio_tungstenite::tungstenite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_identity_headers_at_the_upstream_and_spoofed_ones_removed() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let gw = Gateway::start(
        &mock,
        &upstream.url,
        &[("DISCORD_EXTRA_SCOPES", "email"), ("PASS_ACCESS_TOKEN", "true")],
    )
    .await;
    let url = gw.url.as_str();
    let (http, jar) = browser();

    // Not logged in: a page load goes to the login, coming back; an API client gets 401 JSON.
    let anonymous = page(&http, &format!("{url}/app/page?x=1")).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let login = support::location(&anonymous, url);
    assert_eq!(login, format!("{url}/auth/login?return_to=%2Fapp%2Fpage%3Fx%3D1"));
    let unauthorized = api(&http, &format!("{url}/app/data")).await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = unauthorized.json().await.unwrap();
    assert_eq!(body["login_url"], "/auth/login?return_to=%2Fapp%2Fdata");

    // Logging in through the mock's consent page comes back to the page.
    let back = log_in(&http, url, &login, fixture::WUMPUS_ID).await;
    assert_eq!(back, format!("{url}/app/page?x=1"));

    jar.add_cookie_str("theme=dark; Path=/", &url.parse().unwrap());
    let echo = echoed(
        http.get(format!("{url}/app/page?x=1"))
            .header("x-forwarded-user", "1")
            .header("X-Forwarded-Preferred-Username", "admin")
            .header("x-forwarded-email", "admin@example.com")
            .header("x-forwarded-groups", "guild:1")
            .header("x-forwarded-access-token", "forged")
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["uri"], "/app/page?x=1");
    assert_eq!(header(&echo, "x-forwarded-user").unwrap(), fixture::WUMPUS_ID);
    assert_eq!(header(&echo, "x-forwarded-preferred-username").unwrap(), "wumpus");
    assert_eq!(header(&echo, "x-forwarded-email").unwrap(), "wumpus@example.com");
    assert_eq!(header(&echo, "x-forwarded-groups"), None, "no guild or role is listed");
    let token = header(&echo, "x-forwarded-access-token").unwrap();
    assert_ne!(token, "forged");
    assert!(
        mock.token_status(&token) == discord_oauth_mock::TokenStatus::Active,
        "the user's real token: {token}"
    );
    assert_eq!(header(&echo, "x-forwarded-for").unwrap(), "203.0.113.9, 127.0.0.1");
    assert_eq!(header(&echo, "x-forwarded-proto").unwrap(), "http");
    assert_eq!(
        header(&echo, "x-forwarded-host").unwrap(),
        format!("127.0.0.1:{}", gw.port)
    );
    let cookies = header(&echo, "cookie").unwrap();
    let names: Vec<&str> = cookies.split("; ").filter_map(|c| c.split('=').next()).collect();
    assert!(names.contains(&"theme"), "{cookies}");
    assert!(
        !names.iter().any(|n| n.starts_with("discord_oauth")),
        "the session cookie stays at the gateway: {cookies}"
    );

    // userinfo says the same.
    let info: serde_json::Value = api(&http, &format!("{url}/oauth2/userinfo"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"], fixture::WUMPUS_ID);
    assert_eq!(info["preferredUsername"], "wumpus");
    assert_eq!(info["email"], "wumpus@example.com");

    // An unverified address is not passed on.
    let (lena, _) = browser();
    log_in_at(&lena, url, fixture::LENA_ID).await;
    let echo = echoed(api(&lena, &format!("{url}/x")).await).await;
    assert_eq!(header(&echo, "x-forwarded-user").unwrap(), fixture::LENA_ID);
    assert_eq!(header(&echo, "x-forwarded-email"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guilds_and_roles_gate_and_a_removed_role_is_refused_after_the_recheck() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let roles = format!("{}:{}", fixture::GUILD_ID, fixture::MEMBER_ROLE_ID);
    let gw = Gateway::start(
        &mock,
        &upstream.url,
        &[
            ("ALLOWED_GUILDS", fixture::THIRD_GUILD_ID),
            ("ALLOWED_ROLES", &roles),
            ("RECHECK_INTERVAL", "2s"),
        ],
    )
    .await;
    let url = gw.url.as_str();
    let role_group = format!("guild:{}:role:{}", fixture::GUILD_ID, fixture::MEMBER_ROLE_ID);

    // wumpus holds the Member role of the first guild.
    let (wumpus, _) = browser();
    log_in_at(&wumpus, url, fixture::WUMPUS_ID).await;
    let echo = echoed(api(&wumpus, &format!("{url}/app")).await).await;
    assert_eq!(header(&echo, "x-forwarded-groups").unwrap(), role_group);
    let auth = api(&wumpus, &format!("{url}/oauth2/auth")).await;
    assert_eq!(auth.status(), StatusCode::ACCEPTED);
    assert_eq!(auth.headers()["x-auth-request-user"], fixture::WUMPUS_ID);
    assert_eq!(auth.headers()["x-auth-request-preferred-username"], "wumpus");
    assert_eq!(auth.headers()["x-auth-request-groups"], role_group.as_str());

    // lena is in the listed guild and holds the role: both groups.
    let (lena, _) = browser();
    log_in_at(&lena, url, fixture::LENA_ID).await;
    let echo = echoed(api(&lena, &format!("{url}/app")).await).await;
    assert_eq!(
        header(&echo, "x-forwarded-groups").unwrap(),
        format!("guild:{},{role_group}", fixture::THIRD_GUILD_ID)
    );

    // nova is a member of the first guild without the role, and not in the listed guild.
    let (nova, _) = browser();
    log_in_at(&nova, url, fixture::NOVA_ID).await;
    let refused = page(&nova, &format!("{url}/app")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused.text().await.unwrap().contains("<html"),
        "a page for a page load"
    );
    assert_eq!(api(&nova, &format!("{url}/app")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        api(&nova, &format!("{url}/oauth2/auth")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api(&nova, &format!("{url}/oauth2/userinfo")).await.status(),
        StatusCode::FORBIDDEN
    );

    // Nobody logged in: forward auth says 401.
    let (anonymous, _) = browser();
    assert_eq!(
        api(&anonymous, &format!("{url}/oauth2/auth")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Once the decisions are older than the interval, a burst of wumpus's requests asks
    // Discord once (the re-check is single flight per user).
    let member_calls = mock.count(discord_oauth_mock::Endpoint::CurrentUserGuildMember);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let app = format!("{url}/app");
    let burst = futures_util::future::join_all((0..16).map(|_| api(&wumpus, &app))).await;
    assert!(burst.iter().all(|r| r.status() == StatusCode::OK));
    let asked = mock.count(discord_oauth_mock::Endpoint::CurrentUserGuildMember) - member_calls;
    // One call per re-check (two if the burst outlasted an interval), not one per request.
    assert!(
        (1..=2).contains(&asked),
        "{asked} member calls for 16 concurrent requests"
    );

    // The role is taken from wumpus at Discord: after the re-check interval, 403.
    let member_calls = mock.count(discord_oauth_mock::Endpoint::CurrentUserGuildMember);
    mock.add_member(MockMember::new(fixture::GUILD_ID, fixture::WUMPUS_ID));
    let refused =
        eventually(|| async { api(&wumpus, &format!("{url}/app")).await.status() == StatusCode::FORBIDDEN }).await;
    assert!(refused, "wumpus is still let in after losing the role:\n{}", gw.log());
    assert!(
        mock.count(discord_oauth_mock::Endpoint::CurrentUserGuildMember) > member_calls,
        "the re-check asked Discord"
    );
    assert_eq!(
        api(&wumpus, &format!("{url}/oauth2/auth")).await.status(),
        StatusCode::FORBIDDEN
    );
    // Given back, it lets wumpus in again.
    mock.add_member(MockMember::new(fixture::GUILD_ID, fixture::WUMPUS_ID).role(fixture::MEMBER_ROLE_ID));
    let admitted = eventually(|| async { api(&wumpus, &format!("{url}/app")).await.status() == StatusCode::OK }).await;
    assert!(admitted, "the role was given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_users_pass_without_guilds() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&mock, &upstream.url, &[("ALLOWED_USERS", fixture::NOVA_ID)]).await;
    let (nova, _) = browser();
    log_in_at(&nova, &gw.url, fixture::NOVA_ID).await;
    let echo = echoed(api(&nova, &format!("{}/x", gw.url)).await).await;
    assert_eq!(header(&echo, "x-forwarded-user").unwrap(), fixture::NOVA_ID);
    let (wumpus, _) = browser();
    log_in_at(&wumpus, &gw.url, fixture::WUMPUS_ID).await;
    assert_eq!(
        api(&wumpus, &format!("{}/x", gw.url)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_auth_routes_are_proxied_without_login() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&mock, &upstream.url, &[("SKIP_AUTH", "GET=^/public/,^/health$")]).await;
    let url = gw.url.as_str();
    let (http, _) = browser();
    let echo = echoed(
        http.get(format!("{url}/public/style.css"))
            .header("x-forwarded-user", "1")
            .header("x-forwarded-groups", "guild:1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["uri"], "/public/style.css");
    assert_eq!(header(&echo, "x-forwarded-user"), None, "spoofed identity is removed");
    assert_eq!(header(&echo, "x-forwarded-groups"), None);
    let health = http.post(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "any method");
    let post = http.post(format!("{url}/public/form")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED, "only GET skips on /public/");
    assert_eq!(
        page(&http, &format!("{url}/private")).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        page(&http, &format!("{url}/x/public/")).await.status(),
        StatusCode::SEE_OTHER,
        "the regex is anchored as written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_streams_both_ways_in_bounded_memory() {
    const TOTAL: u64 = 100 * 1024 * 1024;
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&mock, &upstream.url, &[]).await;
    let url = gw.url.clone();
    let (http, _) = browser();
    log_in_at(&http, &url, fixture::WUMPUS_ID).await;

    let upload = |bytes: u64| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let chunk = Bytes::from(vec![b'y'; support::CHUNK]);
            let chunks = (0..bytes / support::CHUNK as u64).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
            let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
            let response = http.post(format!("{url}/upload")).body(body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap().parse::<u64>().unwrap()
        }
    };
    let download = |bytes: u64| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut response = http.get(format!("{url}/download?bytes={bytes}")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let mut total = 0u64;
            while let Some(chunk) = response.chunk().await.unwrap() {
                total += chunk.len() as u64;
            }
            total
        }
    };
    // Warm up: connections, buffers, the allocator's pools.
    for _ in 0..3 {
        assert_eq!(upload(4 * 1024 * 1024).await, 4 * 1024 * 1024);
        assert_eq!(download(4 * 1024 * 1024).await, 4 * 1024 * 1024);
    }
    let before = support::proc_status_kib(gw.pid(), "VmHWM");
    assert_eq!(upload(TOTAL).await, TOTAL, "every byte reached the upstream");
    assert_eq!(download(TOTAL).await, TOTAL, "every byte came back");
    let after = support::proc_status_kib(gw.pid(), "VmHWM");
    let grown = after.saturating_sub(before);
    eprintln!("gateway peak RSS: {before} KiB before, {after} KiB after 2 x 100 MiB (+{grown} KiB)");
    assert!(
        grown < 8 * 1024,
        "the gateway's peak memory grew by {grown} KiB while streaming 100 MiB each way"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_proxied_for_logged_in_users() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&mock, &upstream.url, &[]).await;
    let ws_url = format!("ws://127.0.0.1:{}/ws", gw.port);

    // Not logged in: the handshake is refused with 401.
    match tokio_tungstenite::connect_async(ws_url.as_str()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!(
            "an anonymous WebSocket got through: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }

    let (http, jar) = browser();
    log_in_at(&http, &gw.url, fixture::WUMPUS_ID).await;
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &gw.url.parse().unwrap()).unwrap();
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(ws_url.as_str()).unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.to_str().unwrap().parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    for text in ["hello", "again"] {
        socket.send(tungstenite::Message::text(text)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            reply.into_text().unwrap().as_str(),
            format!("{}: {text}", fixture::WUMPUS_ID)
        );
    }
    let binary = vec![7u8; 200_000];
    socket.send(tungstenite::Message::binary(binary.clone())).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_data().as_ref(), binary.as_slice());
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_upstream_is_a_502() {
    let mock = support::mock().await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let gw = Gateway::start(&mock, &closed, &[]).await;
    let (http, _) = browser();
    log_in_at(&http, &gw.url, fixture::WUMPUS_ID).await;
    let html = page(&http, &format!("{}/app", gw.url)).await;
    assert_eq!(html.status(), StatusCode::BAD_GATEWAY);
    assert!(html.text().await.unwrap().contains("<html"), "a page for a page load");
    let json = api(&http, &format!("{}/app", gw.url)).await;
    assert_eq!(json.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(
        api(&http, &format!("{}/ready", gw.url)).await.status(),
        StatusCode::OK,
        "the gateway itself is ready"
    );
}

/// Runs the binary with `vars` (and `args`); it must exit with a failure and say `expected`.
fn fails_with(vars: &[(&str, &str)], args: &[&str], expected: &str) {
    let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let output = support::command(&vars).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started despite {vars:?}");
    assert!(
        stderr.contains(&format!("configuration error: {expected}")),
        "expected {expected:?} in:\n{stderr}"
    );
}

#[test]
fn configuration_errors_stop_startup_naming_the_key() {
    let up = ("UPSTREAM", "http://127.0.0.1:9");
    fails_with(&[], &[], "UPSTREAM is not set");
    fails_with(&[("UPSTREAM", "ftp://x")], &[], "UPSTREAM must be an http:// URL");
    fails_with(
        &[up, ("ALLOWED_ROLES", "1200000000000000001")],
        &[],
        "ALLOWED_ROLES: `1200000000000000001` is not `guild_id:role_id`",
    );
    fails_with(
        &[up, ("ALLOWED_GUILDS", "mock guild")],
        &[],
        "ALLOWED_GUILDS: `mock guild`",
    );
    fails_with(&[up, ("ALLOWED_USERS", "wumpus")], &[], "ALLOWED_USERS: `wumpus`");
    fails_with(
        &[up, ("SKIP_AUTH", "GET=^/(")],
        &[],
        "SKIP_AUTH: `^/(` is not a regular expression",
    );
    fails_with(&[up, ("RECHECK_INTERVAL", "-1")], &[], "RECHECK_INTERVAL: `-1`");
    fails_with(&[up, ("SESSION_KEY", "short")], &[], "SESSION_KEY");

    let dir = std::env::temp_dir().join(format!("gateway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(&file, "upstream = \"http://127.0.0.1:9\"\nallowed_guild = [\"1\"]\n").unwrap();
    fails_with(&[], &["--config", file.to_str().unwrap()], "allowed_guild (in ");
    std::fs::write(&file, "UPSTREAM = \"http://127.0.0.1:9\"\nALLOWED_ROLES = [\"1:x\"]\n").unwrap();
    fails_with(&[], &["--config", file.to_str().unwrap()], "ALLOWED_ROLES: `x`");
    fails_with(
        &[],
        &["--config", dir.join("missing.toml").to_str().unwrap()],
        "--config ",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
