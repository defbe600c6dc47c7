//! `cargo run --release -p discord-oauth-bench --bin auth_overhead`
//!
//! Authenticated `GET /me` through the Discord login layer (the axum sample site, memory
//! store, logged in via the mock Discord) against the same JSON from a bare axum route, in
//! alternating rounds. Prints a table with the ratio. Options (env): `ROUNDS` (3), `SECONDS`
//! per round (3), `CONCURRENCY` (32).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use discord_oauth_bench::{Figures, Target, login, median, round};
use discord_oauth_mock::{MockDiscord, fixture};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let rounds = env("ROUNDS", 3) as usize;
    let seconds = env("SECONDS", 3);
    let concurrency = env("CONCURRENCY", 32) as usize;

    // Mock Discord + the sample site, logged in.
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let settings = axum_site::Settings::new(
        axum_site::Discord::Real {
            client_id: fixture::CLIENT_ID.into(),
            client_secret: Some(fixture::CLIENT_SECRET.into()),
            authorize_url: mock.authorize_url(),
            api_base: mock.api_base(),
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let site = axum_site::start(settings).await.unwrap();
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{}/auth/callback", site.url()))
        .unwrap();
    let cookie = login(&site.url()).await;

    // The same JSON from a bare axum route.
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/me", site.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bare = axum::Router::new().route("/me", get(move || async move { Json(me.clone()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/me", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bare).await.unwrap() });

    let targets = [
        Target {
            name: "bare axum /me".into(),
            url: bare_url,
            cookie: None,
            expect: 200,
        },
        Target {
            name: "axum-site /me, logged in (layer + memory store)".into(),
            url: format!("{}/me", site.url()),
            cookie: Some(cookie.clone()),
            expect: 200,
        },
        Target {
            name: "axum-site /me, anonymous (layer, 401)".into(),
            url: format!("{}/me", site.url()),
            cookie: None,
            expect: 401,
        },
    ];
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); targets.len()];
    // Warm-up, then alternating rounds.
    for t in &targets {
        round(t, concurrency, Duration::from_millis(500)).await;
    }
    for _ in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            results[i].push(round(t, concurrency, Duration::from_secs(seconds)).await);
        }
    }
    println!(
        "machine: {} cores; {rounds} alternating rounds of {seconds} s, {concurrency} connections, loopback",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!("| configuration | req/s (median) | p50 µs | p99 µs | errors | vs bare |");
    println!("|---|---|---|---|---|---|");
    let base = median(results[0].clone()).rps;
    for (t, r) in targets.iter().zip(results) {
        let m = median(r);
        println!(
            "| {} | {:.0} | {} | {} | {} | {:.1} % |",
            t.name,
            m.rps,
            m.p50_us,
            m.p99_us,
            m.errors,
            100.0 * m.rps / base
        );
    }
    mock.shutdown().await;
}
