//! `cargo run --release -p discord-oauth-bench --bin session_stores`
//!
//! Authenticated `GET /me` on the axum sample site with each session store, against the same
//! JSON from a bare axum route (no auth), in alternating rounds:
//! - memory store (the default);
//! - Redis store with the layer's in-process session cache (30 s TTL, the default): Redis is
//!   read once per TTL per session;
//! - Redis store with the cache off (TTL 0): every request reads Redis.
//!
//! Needs Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`). Options (env): `ROUNDS` (3),
//! `SECONDS` per round (3), `CONCURRENCY` (32).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use discord_oauth_bench::{Figures, Target, login, median, round};
use discord_oauth_mock::{MockDiscord, fixture};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The sample site with `store`; `cache_ttl` `None` keeps the default (30 s).
async fn site(mock: &MockDiscord, store: axum_site::SessionStoreKind, cache_ttl: Option<Duration>) -> axum_site::Site {
    let mut settings = axum_site::Settings::new(
        axum_site::Discord::Real {
            client_id: fixture::CLIENT_ID.into(),
            client_secret: Some(fixture::CLIENT_SECRET.into()),
            authorize_url: mock.authorize_url(),
            api_base: mock.api_base(),
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    settings.session_store = store;
    if let Some(ttl) = cache_ttl {
        settings.cache_ttl = ttl;
    }
    let site = axum_site::start(settings).await.unwrap();
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{}/auth/callback", site.url()))
        .unwrap();
    site
}

#[tokio::main]
async fn main() {
    let rounds = env("ROUNDS", 3) as usize;
    let seconds = env("SECONDS", 3);
    let concurrency = env("CONCURRENCY", 32) as usize;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| axum_site::DEFAULT_REDIS_URL.to_owned());
    let redis = axum_site::SessionStoreKind::Redis { url: redis_url };

    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let memory = site(&mock, axum_site::SessionStoreKind::Memory, None).await;
    let cached = site(&mock, redis.clone(), None).await;
    let uncached = site(&mock, redis, Some(Duration::ZERO)).await;
    let sites = [
        ("axum-site /me, logged in, memory store", &memory),
        ("axum-site /me, logged in, Redis store (cache 30 s)", &cached),
        ("axum-site /me, logged in, Redis store (cache off)", &uncached),
    ];

    // The same JSON from a bare axum route.
    let cookie = login(&memory.url()).await;
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/me", memory.url()))
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

    let mut targets = vec![Target {
        name: "bare axum /me (no auth)".into(),
        url: bare_url,
        cookie: None,
        expect: 200,
    }];
    for (name, site) in sites {
        targets.push(Target {
            name: name.into(),
            url: format!("{}/me", site.url()),
            cookie: Some(login(&site.url()).await),
            expect: 200,
        });
    }
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); targets.len()];
    for t in &targets {
        round(t, concurrency, Duration::from_millis(500)).await;
    }
    for _ in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            results[i].push(round(t, concurrency, Duration::from_secs(seconds)).await);
        }
    }
    println!(
        "machine: {} cores; {rounds} alternating rounds of {seconds} s, {concurrency} connections, loopback; \
         Redis on loopback",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!("| configuration | req/s (median) | p50 µs | p99 µs | errors | vs no auth |");
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
    for site in [&memory, &cached, &uncached] {
        site.stop();
    }
    mock.shutdown().await;
}
