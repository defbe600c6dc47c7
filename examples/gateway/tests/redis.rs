//! Two gateway instances sharing sessions through Redis, as the sample sites do
//! (`SESSION_STORE=redis`, the same `SESSION_KEY`): a login on one is valid on the other, and
//! a logout on one ends the session on both.
//!
//! The test runs its own `redis-server` on a free loopback port. Without it the test skips
//! with a printed reason, except in CI (`CI` set), where it fails: `.ci/run` installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use discord_oauth_mock::fixture;
use reqwest::StatusCode;
use support::{Gateway, Upstream, api, browser, echoed, eventually, header, log_in_at};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let port = support::free_port();
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(!in_ci(), "redis-server is required in CI ({e}); .ci/run installs it");
            eprintln!("skipping: cannot run redis-server ({e}); apt-get install redis-server");
            return None;
        }
    };
    let redis = Redis { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_sessions_and_logouts_through_redis() {
    let Some(redis) = start_redis() else { return };
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let key = "ab".repeat(64);
    let vars = [
        ("SESSION_STORE", "redis"),
        ("REDIS_URL", url.as_str()),
        ("SESSION_KEY", key.as_str()),
        ("ALLOWED_GUILDS", fixture::SECOND_GUILD_ID),
    ];
    let a = Gateway::start(&mock, &upstream.url, &vars).await;
    let b = Gateway::start(&mock, &upstream.url, &vars).await;

    // The cookie jar sends 127.0.0.1's cookies to both ports: logged in at A, known at B.
    let (http, jar) = browser();
    log_in_at(&http, &a.url, fixture::WUMPUS_ID).await;
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &a.url.parse().unwrap()).unwrap();
    let echo = echoed(api(&http, &format!("{}/app", b.url)).await).await;
    assert_eq!(header(&echo, "x-forwarded-user").unwrap(), fixture::WUMPUS_ID);
    assert_eq!(
        header(&echo, "x-forwarded-groups").unwrap(),
        format!("guild:{}", fixture::SECOND_GUILD_ID)
    );

    // A logout at A ends the session at B too: a copy of the cookie is refused there.
    let logout = http
        .post(format!("{}/auth/logout", a.url))
        .header("origin", &a.url)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER, "{}", a.log());
    let copy = reqwest::Client::new();
    let ended = eventually(|| async {
        let response = copy
            .get(format!("{}/app", b.url))
            .header("accept", "application/json")
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap();
        response.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(ended, "B still serves the session after the logout at A:\n{}", b.log());
}
