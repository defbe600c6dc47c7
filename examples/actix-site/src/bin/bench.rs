//! `cargo run --release -p actix-site --bin bench`: requests per second of an authenticated
//! `GET /me` against the same JSON handler without authentication, on one actix worker, over
//! loopback, against the in-process mock Discord (used only to log in once).
//!
//! Bounded: each phase runs `BENCH_SECS` seconds (default 5) or 2 000 000 requests, whichever
//! comes first, with `BENCH_CONCURRENCY` (default 64) keep-alive connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use discord_oauth_actix::{DiscordOAuth, LoginConfig, MaybeDiscordUser};
use discord_oauth_core::Endpoints;
use discord_oauth_mock::{MockDiscord, fixture};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MAX_REQUESTS: u64 = 2_000_000;

fn user_json(id: &str, username: &str) -> serde_json::Value {
    serde_json::json!({ "id": id, "username": username, "global_name": "Wumpus" })
}

async fn me(user: MaybeDiscordUser) -> HttpResponse {
    match user.0 {
        Some(u) => HttpResponse::Ok().json(user_json(&u.id.to_string(), &u.username)),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn anon() -> HttpResponse {
    HttpResponse::Ok().json(user_json(fixture::WUMPUS_ID, "wumpus"))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .min(60);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
        .clamp(1, 512);
    let mock = MockDiscord::builder().auto_consent(true).start().await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let site = format!("http://{addr}");
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{site}/auth/callback"))?;
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{site}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .endpoints(Endpoints::new(mock.authorize_url().parse()?, mock.api_base().parse()?)?)
        .build()?;
    let discord = DiscordOAuth::new(config)?;
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .configure(discord.routes())
            .route("/me", web::get().to(me))
            .route("/anon", web::get().to(anon))
            .wrap(discord.middleware())
            .wrap(discord.cookie_session(key.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    // Log in once, like a browser.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let start = http.get(format!("{site}/auth/login")).send().await?;
    let cookie = |r: &reqwest::Response| -> Result<String, BoxError> {
        let sc = r.headers().get("set-cookie").ok_or("no session cookie")?.to_str()?;
        Ok(sc.split(';').next().unwrap_or_default().to_owned())
    };
    let pre = cookie(&start)?;
    let authorize = start
        .headers()
        .get("location")
        .ok_or("no redirect")?
        .to_str()?
        .to_owned();
    let consent = http.get(&authorize).send().await?;
    let callback = consent
        .headers()
        .get("location")
        .ok_or("no consent redirect")?
        .to_str()?
        .to_owned();
    let done = http.get(&callback).header("cookie", &pre).send().await?;
    let session = cookie(&done)?;
    let check = http.get(format!("{site}/me")).header("cookie", &session).send().await?;
    if !check.status().is_success() {
        return Err(format!("login failed: /me answered {}", check.status()).into());
    }
    println!(
        "session cookie: {} bytes; {concurrency} connections, {secs} s per phase, 1 server worker",
        session.len()
    );

    let phases = [
        (
            "GET /me, authenticated (cookie decrypted, AuthSession decoded)",
            "/me",
            Some(session.clone()),
        ),
        ("GET /anon, same JSON, no auth, no cookie", "/anon", None),
        (
            "GET /anon, same JSON, no auth, with the session cookie",
            "/anon",
            Some(session.clone()),
        ),
    ];
    let mut results = Vec::new();
    for (name, path, cookie) in phases {
        let rps = run(&format!("{site}{path}"), cookie, concurrency, Duration::from_secs(secs)).await?;
        println!("{name}: {rps:.0} req/s");
        results.push(rps);
    }
    println!(
        "authenticated /me = {:.0} % of the no-auth handler without cookie, {:.0} % with the cookie",
        100.0 * results[0] / results[1],
        100.0 * results[0] / results[2]
    );
    handle.stop(false).await;
    Ok(())
}

async fn run(url: &str, cookie: Option<String>, concurrency: usize, duration: Duration) -> Result<f64, BoxError> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let count = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, cookie) = (client.clone(), url.to_owned(), cookie.clone());
            let (count, failures) = (Arc::clone(&count), Arc::clone(&failures));
            tokio::spawn(async move {
                while Instant::now() < deadline && count.load(Ordering::Relaxed) < MAX_REQUESTS {
                    let mut req = client.get(&url);
                    if let Some(c) = &cookie {
                        req = req.header("cookie", c);
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} requests failed").into());
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
