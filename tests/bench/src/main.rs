//! `cargo run --release -p discord-oauth-bench`: the load benchmark of `BENCHMARKS.md`.
//!
//! Starts, in this process and on loopback, the mock Discord, bare axum and bare actix-web
//! serving the sample sites' `/me` JSON, the axum sample site (memory store, then Redis), the
//! actix sample site, and the axum-login + tower-sessions + oauth2 baseline; logs in to each
//! through the mock; then drives each with `wrk` (a separate process) in alternating rounds and
//! prints req/s, p50/p99 latency and the ratio to the bare framework. Also measured: login
//! redirects/s, full logins/s, a refresh storm, and memory per stored session. Writes the
//! tables (`results.md`) and the chart (`req-per-s.svg`) to `BENCH_OUT` (default
//! `target/bench`).
//!
//! Needs `wrk` (Debian: `apt-get install wrk`). Redis rows use `REDIS_URL`, or start a private
//! `redis-server` when one is installed, or are left out. Options (env): `ROUNDS` (11),
//! `SECONDS` per round (3), `CONNECTIONS` (64), `STORM` (1000), `SESSIONS` (100000), `IN_PROCESS`
//! (requests per in-process batch, 30000), `IN_PROCESS_ONLY=1` (only the in-process table, for
//! profilers); `SERVE=1`
//! logs in, prints each configuration's URL and cookie, and keeps serving (for profilers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_bench::{
    Figures, Load, Redis, ShiftClock, Target, bare, baseline, chart, machine, median, median_of, rss_bytes, wrk,
};
use discord_oauth_core::api::User;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::{Scope, Scopes, TokenSet};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use discord_oauth_test_sites::SessionStore;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn axum_site(
    mock: &MockDiscord,
    store: discord_oauth_test_sites::SessionStore,
    clock: Option<ShiftClock>,
) -> discord_oauth_test_sites::axum::Site {
    discord_oauth_bench::start_axum_site(mock, store, clock).await.unwrap()
}

async fn actix_site(
    mock: &MockDiscord,
    store: discord_oauth_test_sites::SessionStore,
    clock: Option<ShiftClock>,
) -> discord_oauth_test_sites::actix::Site {
    discord_oauth_bench::start_actix_site(mock, store, clock).await.unwrap()
}

async fn baseline_site(mock: &MockDiscord) -> (String, axum::Router) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let redirect = format!("{url}/auth/callback");
    mock.add_redirect_uri(fixture::CLIENT_ID, redirect.clone()).unwrap();
    let app = baseline::app(
        &mock.authorize_url(),
        &mock.api_base(),
        fixture::CLIENT_ID,
        fixture::CLIENT_SECRET,
        &redirect,
    );
    let router = app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, router)
}

/// One row of the `/me` table.
struct Row {
    target: Target,
    /// Index of the bare row this one is compared with.
    bare: usize,
    rounds: Vec<Figures>,
}

/// The median over rounds of `row`'s req/s divided by `other`'s in the same round: the rounds
/// alternate, so each pair ran seconds apart, under the same conditions.
fn per_round_ratio(row: &Row, other: &Row) -> f64 {
    median_of(
        row.rounds
            .iter()
            .zip(&other.rounds)
            .map(|(a, b)| if b.rps > 0.0 { a.rps / b.rps } else { 0.0 })
            .collect(),
    )
}

#[tokio::main]
async fn main() {
    if let Err(e) = discord_oauth_bench::check_wrk() {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let started = Instant::now();
    let rounds = env("ROUNDS", 11) as usize;
    let load = Load {
        connections: env("CONNECTIONS", 64) as u32,
        threads: 1,
        seconds: env("SECONDS", 3) as u32,
    };
    let storm = env("STORM", 1000) as usize;
    let sessions = env("SESSIONS", 100_000) as usize;
    let out_dir = PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench".into()));
    std::fs::create_dir_all(&out_dir).unwrap();

    let redis = match Redis::find_or_start() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("Redis rows left out: {e}");
            None
        }
    };
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();

    // -- servers
    let axum_memory = axum_site(&mock, SessionStore::Memory, None).await;
    let axum_redis = match &redis {
        Some(r) => Some(axum_site(&mock, SessionStore::Redis { url: r.url.clone() }, None).await),
        None => None,
    };
    let actix = actix_site(&mock, SessionStore::Memory, None).await;
    let actix_cookie = actix_site(&mock, SessionStore::Cookie, None).await;
    let actix_redis = match &redis {
        Some(r) => Some(actix_site(&mock, SessionStore::Redis { url: r.url.clone() }, None).await),
        None => None,
    };
    let (baseline, baseline_router) = baseline_site(&mock).await;

    // The user the sites show, for the bare servers' identical JSON.
    let cookie_axum = discord_oauth_bench::login(&mock, &axum_memory.url(), "/auth/login").await;
    let issued = mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds").unwrap();
    let user: User = reqwest::Client::new()
        .get(format!("{}/users/@me", mock.api_base()))
        .bearer_auth(&issued.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes: Scopes = [Scope::Identify, Scope::Guilds].into_iter().collect();
    let bare_axum = bare::axum(user.clone(), scopes.clone()).await;
    let bare_axum_router = bare::axum_router(user.clone(), scopes.clone());
    let (bare_actix, bare_actix_handle) = bare::actix(user.clone(), scopes.clone(), 2);

    let mut rows = vec![
        Row {
            target: Target {
                name: "bare axum".into(),
                url: bare_axum,
                cookie: None,
            },
            bare: 0,
            rounds: vec![],
        },
        Row {
            target: Target {
                name: "axum-site, memory store".into(),
                url: format!("{}/me", axum_memory.url()),
                cookie: Some(cookie_axum),
            },
            bare: 0,
            rounds: vec![],
        },
    ];
    if let Some(site) = &axum_redis {
        rows.push(Row {
            target: Target {
                name: "axum-site, Redis store".into(),
                url: format!("{}/me", site.url()),
                cookie: Some(discord_oauth_bench::login(&mock, &site.url(), "/auth/login").await),
            },
            bare: 0,
            rounds: vec![],
        });
    }
    rows.push(Row {
        target: Target {
            name: "axum-login + tower-sessions + oauth2 (baseline)".into(),
            url: format!("{baseline}/me"),
            cookie: Some(discord_oauth_bench::login(&mock, &baseline, "/auth/login").await),
        },
        bare: 0,
        rounds: vec![],
    });
    let actix_bare_index = rows.len();
    rows.push(Row {
        target: Target {
            name: "bare actix-web".into(),
            url: bare_actix,
            cookie: None,
        },
        bare: actix_bare_index,
        rounds: vec![],
    });
    rows.push(Row {
        target: Target {
            name: "actix-site, memory store".into(),
            url: format!("{}/me", actix.url()),
            cookie: Some(discord_oauth_bench::login(&mock, &actix.url(), "/auth/login").await),
        },
        bare: actix_bare_index,
        rounds: vec![],
    });
    rows.push(Row {
        target: Target {
            name: "actix-site, cookie store".into(),
            url: format!("{}/me", actix_cookie.url()),
            cookie: Some(discord_oauth_bench::login(&mock, &actix_cookie.url(), "/auth/login").await),
        },
        bare: actix_bare_index,
        rounds: vec![],
    });

    if let Some(site) = &actix_redis {
        rows.push(Row {
            target: Target {
                name: "actix-site, Redis store".into(),
                url: format!("{}/me", site.url()),
                cookie: Some(discord_oauth_bench::login(&mock, &site.url(), "/auth/login").await),
            },
            bare: actix_bare_index,
            rounds: vec![],
        });
    }

    // Every configuration answers the same JSON, logged in.
    let expected = discord_oauth_bench::get(&rows[0].target.url, None).await;
    for row in &rows {
        let got = discord_oauth_bench::get(&row.target.url, row.target.cookie.as_deref()).await;
        assert_eq!(
            got, expected,
            "{} must answer the same /me as bare axum",
            row.target.name
        );
    }

    // `SERVE=1`: keep the servers up for profiling with outside tools instead of measuring.
    if std::env::var_os("SERVE").is_some() {
        for row in &rows {
            println!(
                "{}\t{}\t{}",
                row.target.name,
                row.target.url,
                row.target.cookie.as_deref().unwrap_or("")
            );
        }
        eprintln!("serving until interrupted");
        let _ = tokio::signal::ctrl_c().await;
        return;
    }

    // `IN_PROCESS_ONLY=1`: only the in-process table (for profilers: no sockets, no `wrk`).
    let in_process_only = std::env::var_os("IN_PROCESS_ONLY").is_some();

    let mut report = String::new();
    if !in_process_only {
        // -- authenticated /me, alternating rounds
        eprintln!("warming up");
        for row in &rows {
            wrk(&row.target, Load { seconds: 1, ..load });
        }
        // Every other round runs the rows in reverse order, so that a drift of the machine's speed
        // within a round does not always favour the same rows.
        for round in 0..rounds {
            eprintln!("/me round {}/{rounds}", round + 1);
            let order: Vec<usize> = if round % 2 == 0 {
                (0..rows.len()).collect()
            } else {
                (0..rows.len()).rev().collect()
            };
            for i in order {
                let f = wrk(&rows[i].target, load);
                rows[i].rounds.push(f);
            }
        }
        writeln!(
            report,
            "Machine: {}. `/me` load: {rounds} alternating rounds of {} s (every other round in reverse \
             order), {} connections, 1 `wrk` thread, servers with 2 worker threads, everything on loopback \
             in one run.\n",
            machine(),
            load.seconds,
            load.connections
        )
        .unwrap();
        writeln!(report, "### Authenticated `GET /me`\n").unwrap();
        writeln!(
            report,
            "| configuration | req/s (median) | p50 µs | p99 µs | errors | vs bare framework | vs bare, round by round | server CPU µs/req | every round (req/s) |"
        )
        .unwrap();
        writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|---|").unwrap();
        let medians: Vec<Figures> = rows.iter().map(|r| median(r.rounds.clone())).collect();
        let mut bars = Vec::new();
        for (row, m) in rows.iter().zip(&medians) {
            let base = medians[row.bare].rps;
            let all = row
                .rounds
                .iter()
                .map(|f| format!("{:.0}", f.rps))
                .collect::<Vec<_>>()
                .join(", ");
            let cpu = median_of(row.rounds.iter().map(|f| f.cpu_us).collect());
            let paired = 100.0 * per_round_ratio(row, &rows[row.bare]);
            writeln!(
                report,
                "| {} | {:.0} | {:.0} | {:.0} | {} | {:.1} % | {paired:.1} % | {cpu:.1} | {all} |",
                row.target.name,
                m.rps,
                m.p50_us,
                m.p99_us,
                m.errors,
                100.0 * m.rps / base
            )
            .unwrap();
            bars.push((row.target.name.clone(), m.rps));
        }
        if let Some((baseline_row, baseline)) = rows
            .iter()
            .zip(&medians)
            .find(|(r, _)| r.target.name.contains("baseline"))
            && baseline.rps > 0.0
        {
            let baseline_rps = baseline.rps;
            writeln!(
                report,
                "\nAgainst the axum-login baseline (medians; round by round in brackets):"
            )
            .unwrap();
            for (row, m) in rows.iter().zip(&medians) {
                if row.target.name.contains("-site") || row.target.name.starts_with("bare") {
                    writeln!(
                        report,
                        "- {}: {:.2}× ({:.2}×)",
                        row.target.name,
                        m.rps / baseline_rps,
                        per_round_ratio(row, baseline_row)
                    )
                    .unwrap();
                }
            }
        }
        chart::draw(
            &out_dir.join("req-per-s.svg"),
            "Authenticated GET /me, requests per second",
            &bars,
        )
        .unwrap();
        eprintln!("{report}");
    }

    // -- the same /me in-process: the application's own cost, without sockets or a load generator
    eprintln!("in-process /me");
    let axum_cookie = rows[1].target.cookie.clone();
    let baseline_cookie = rows
        .iter()
        .find(|r| r.target.name.contains("baseline"))
        .and_then(|r| r.target.cookie.clone());
    let n = env("IN_PROCESS", 30_000) as usize;
    let in_process_rounds = 9;
    // Rows: bare axum, axum-site, baseline (against bare axum), bare actix-web, actix-site
    // (against bare actix-web); each round measures every row once, seconds apart.
    let mut measured: Vec<Vec<f64>> = Vec::new();
    // What `axum::serve` does first: handlers added without state become routes once, instead
    // of on every request.
    let bare_axum_router = bare_axum_router.with_state::<()>(());
    let baseline_router = baseline_router.with_state::<()>(());
    for _ in 0..in_process_rounds {
        measured.push(vec![
            discord_oauth_bench::in_process(&bare_axum_router, None, n).await,
            discord_oauth_bench::in_process(&axum_memory.app(), axum_cookie.as_deref(), n).await,
            discord_oauth_bench::in_process(&baseline_router, baseline_cookie.as_deref(), n).await,
        ]);
    }
    let actix_rounds = tokio::task::LocalSet::new()
        .run_until(actix_in_process_rounds(
            &mock,
            user.clone(),
            scopes.clone(),
            n,
            in_process_rounds,
        ))
        .await;
    for (round, [bare, site]) in measured.iter_mut().zip(actix_rounds) {
        round.extend([bare, site]);
    }
    writeln!(
        report,
        "\n### Authenticated `GET /me` in-process (no sockets, no load generator)\n\n\
         The applications called directly (axum: `tower::ServiceExt::oneshot`; actix-web: \
         `actix_web::test::call_service`), one task, {in_process_rounds} alternating rounds of 3 \
         batches of {n} requests: what the application itself costs per request, without the \
         kernel's and the load generator's share. The actix rows are an in-process copy of the \
         actix sample site's application (memory store), logged in in-process. The machine's speed \
         drifts between rounds, so the last two columns pair each row with its bare framework in \
         the same round.\n"
    )
    .unwrap();
    writeln!(
        report,
        "| application | ns per request (median) | over bare, same round (median) | vs bare, same round (bare ns / ns, median) |"
    )
    .unwrap();
    writeln!(report, "|---|---:|---:|---:|").unwrap();
    let column = |i: usize| median_of(measured.iter().map(|r| r[i]).collect());
    let paired = |i: usize, base: usize| {
        (
            median_of(measured.iter().map(|r| r[i] - r[base]).collect()),
            median_of(measured.iter().map(|r| r[base] / r[i]).collect()),
        )
    };
    for (i, name, base) in [
        (0, "bare axum", 0),
        (1, "axum-site, memory store", 0),
        (2, "axum-login + tower-sessions + oauth2 (baseline)", 0),
        (3, "bare actix-web", 3),
        (4, "actix-site, memory store", 3),
    ] {
        let (over, ratio) = paired(i, base);
        writeln!(
            report,
            "| {name} | {:.0} | {over:+.0} | {:.1} % |",
            column(i),
            100.0 * ratio
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nIn-process, the baseline costs {:.2}× what axum-site does per request (median of same-round \
         ratios).",
        median_of(measured.iter().map(|r| r[2] / r[1]).collect())
    )
    .unwrap();

    if in_process_only {
        println!("{report}");
        return;
    }

    // -- /auth/login redirects per second
    eprintln!("login redirects");
    let redirect_targets = [
        Target {
            name: "axum-site, memory store".into(),
            url: format!("{}/auth/login", axum_memory.url()),
            cookie: None,
        },
        Target {
            name: "actix-site, memory store".into(),
            url: format!("{}/auth/login", actix.url()),
            cookie: None,
        },
        Target {
            name: "actix-site, cookie store".into(),
            url: format!("{}/auth/login", actix_cookie.url()),
            cookie: None,
        },
        Target {
            name: "axum-login + oauth2 (baseline)".into(),
            url: format!("{baseline}/auth/login"),
            cookie: None,
        },
    ];
    let mut redirect_rounds: Vec<Vec<Figures>> = vec![Vec::new(); redirect_targets.len()];
    for _ in 0..3 {
        for (i, t) in redirect_targets.iter().enumerate() {
            redirect_rounds[i].push(wrk(t, Load { seconds: 2, ..load }));
        }
    }
    writeln!(
        report,
        "\n### `GET /auth/login` (new login: state, PKCE, session write, 303)\n"
    )
    .unwrap();
    writeln!(
        report,
        "| configuration | redirects/s (median of 3) | p50 µs | p99 µs | errors |"
    )
    .unwrap();
    writeln!(report, "|---|---:|---:|---:|---:|").unwrap();
    for (t, r) in redirect_targets.iter().zip(redirect_rounds) {
        let m = median(r);
        writeln!(
            report,
            "| {} | {:.0} | {:.0} | {:.0} | {} |",
            t.name, m.rps, m.p50_us, m.p99_us, m.errors
        )
        .unwrap();
    }

    // -- full logins per second
    eprintln!("full logins");
    writeln!(
        report,
        "\n### Full login: `/auth/login` → mock consent → `/auth/callback` (code exchange + `/users/@me` at the \
         in-process mock) → `/me`\n"
    )
    .unwrap();
    writeln!(report, "| configuration | logins/s | failures |").unwrap();
    writeln!(report, "|---|---:|---:|").unwrap();
    for (name, site) in [
        ("axum-site, memory store", axum_memory.url()),
        ("actix-site, memory store", actix.url()),
        ("actix-site, cookie store", actix_cookie.url()),
        ("axum-login + oauth2 (baseline)", baseline.clone()),
    ] {
        let (ok, failed, secs) = full_logins(&mock, &site, 16, Duration::from_secs(3)).await;
        writeln!(report, "| {name} | {:.0} | {failed} |", ok as f64 / secs).unwrap();
    }

    // -- refresh storm
    eprintln!("refresh storm");
    writeln!(
        report,
        "\n### Refresh storm: {storm} concurrent `/me` on one session whose access token expired (the token \
         endpoint answers after 200 ms)\n"
    )
    .unwrap();
    writeln!(report, "| site | token requests | answers 200 | other answers |").unwrap();
    writeln!(report, "|---|---:|---:|---:|").unwrap();
    for kind in ["axum-site", "actix-site"] {
        let (refreshes, ok, other) = refresh_storm(kind, storm).await;
        writeln!(report, "| {kind} | {refreshes} | {ok} | {other} |").unwrap();
    }

    // -- memory per session
    eprintln!("memory per session");
    let (store_bytes, cache_bytes, record_json) = memory_per_session(&mock, sessions).await;
    let cookie_len = rows
        .iter()
        .find(|r| r.target.name == "actix-site, cookie store")
        .and_then(|r| r.target.cookie.as_ref())
        .map_or(0, String::len);
    writeln!(report, "\n### Memory per session ({sessions} sessions, RSS delta)\n").unwrap();
    writeln!(report, "| where | bytes per session |").unwrap();
    writeln!(report, "|---|---:|").unwrap();
    writeln!(
        report,
        "| tower-sessions `MemoryStore` record (user + tokens; {record_json} bytes as JSON) | {store_bytes:.0} |"
    )
    .unwrap();
    writeln!(
        report,
        "| decoded session in the layer's in-process cache | {cache_bytes:.0} |"
    )
    .unwrap();
    writeln!(
        report,
        "| actix cookie store: none on the server; the encrypted cookie is {cookie_len} bytes |  0 |"
    )
    .unwrap();

    writeln!(report, "\nWhole run: {:.0} s.", started.elapsed().as_secs_f64()).unwrap();
    std::fs::write(out_dir.join("results.md"), &report).unwrap();
    println!("{report}");
    println!(
        "Wrote {} and {}",
        out_dir.join("results.md").display(),
        out_dir.join("req-per-s.svg").display()
    );

    axum_memory.stop();
    if let Some(s) = &axum_redis {
        s.stop();
    }
    actix.stop();
    bare_actix_handle.stop(false).await;
    mock.shutdown().await;
}

/// The actix in-process rows: bare actix-web and the actix sample site's application (memory
/// store, logged in in-process through the mock), `rounds` alternating rounds of `[bare, site]`
/// nanoseconds per request. Runs on a `LocalSet`: actix services are not `Send`.
async fn actix_in_process_rounds(
    mock: &MockDiscord,
    user: User,
    scopes: Scopes,
    n: usize,
    rounds: usize,
) -> Vec<[f64; 2]> {
    use actix_web::{App, test, web};
    use discord_oauth_actix::{DiscordOAuth, LoginConfig, MemoryStore, transport::ReqwestTransport};
    // Never connected to: the in-process callback is called with the code the mock hands over.
    let redirect = "http://127.0.0.1:9/auth/callback";
    mock.add_redirect_uri(fixture::CLIENT_ID, redirect).unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, redirect)
        .client_secret(fixture::CLIENT_SECRET)
        .scopes([Scope::Identify, Scope::Guilds])
        .endpoints(
            discord_oauth_core::Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    let discord = DiscordOAuth::builder(config, ReqwestTransport::new().unwrap()).build();
    let site = test::init_service(discord_oauth_test_sites::actix::app(
        discord,
        MemoryStore::default(),
        (actix_web::cookie::Key::generate(), Vec::new()),
        discord_oauth_test_sites::discord_page("actix"),
        false,
    ))
    .await;
    let bare = test::init_service(
        App::new()
            .app_data(web::Data::new((user, scopes)))
            .configure(bare::actix_routes),
    )
    .await;
    let cookie = discord_oauth_bench::actix_in_process_login(&site).await;
    let mut measured = Vec::new();
    for _ in 0..rounds {
        measured.push([
            discord_oauth_bench::actix_in_process(&bare, None, n).await,
            discord_oauth_bench::actix_in_process(&site, Some(&cookie), n).await,
        ]);
    }
    measured
}

/// `workers` clients, each logging in again and again for `duration`; (successes, failures,
/// seconds).
async fn full_logins(mock: &MockDiscord, site: &str, workers: usize, duration: Duration) -> (u64, u64, f64) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (ok, failed, site, mock) = (ok.clone(), failed.clone(), site.to_owned(), mock.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let (http, _jar) = discord_oauth_bench::browser();
                let login = format!("{site}/auth/login");
                if mock.log_in_at(&http, &login, fixture::WUMPUS_ID).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let me = http
                    .get(format!("{site}/me"))
                    .header("accept", "application/json")
                    .send()
                    .await;
                if me.is_ok_and(|r| r.status() == 200) {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
    )
}

/// A fresh site and mock; log in, move the site's clock to just before the access token
/// expires, and send `n` concurrent `/me`. (token requests for refresh, 200s, others)
async fn refresh_storm(kind: &str, n: usize) -> (usize, usize, usize) {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let clock = ShiftClock::default();
    let (url, axum_site, actix_site) = if kind == "axum-site" {
        let s = axum_site(&mock, SessionStore::Memory, Some(clock.clone())).await;
        (s.url(), Some(s), None)
    } else {
        let s = actix_site(&mock, SessionStore::Memory, Some(clock.clone())).await;
        (s.url(), None, Some(s))
    };
    let cookie = discord_oauth_bench::login(&mock, &url, "/auth/login").await;
    let before = mock.count_grant("refresh_token");
    mock.inject(Fault::delay(Endpoint::Token, Duration::from_millis(200)).once());
    clock.advance(Duration::from_secs(604_800 - 60));
    let http = reqwest::Client::builder().pool_max_idle_per_host(n).build().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
        tasks.spawn(async move {
            http.get(format!("{url}/me"))
                .header("accept", "application/json")
                .header("cookie", cookie)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
    }
    let (mut ok, mut other) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(200)) => ok += 1,
            _ => other += 1,
        }
    }
    let refreshes = mock.count_grant("refresh_token") - before;
    if let Some(s) = axum_site {
        s.stop();
    }
    if let Some(s) = actix_site {
        s.stop();
    }
    mock.shutdown().await;
    (refreshes, ok, other)
}

/// Bytes per session: a real logged-in record (the mock's user, a token set as Discord sends
/// it) saved `n` times through tower-sessions into a `MemoryStore`, the way the layer saves it;
/// and `n` decoded sessions held the way the layer's cache holds them. (store, cache, JSON
/// size of one record)
async fn memory_per_session(mock: &MockDiscord, n: usize) -> (f64, f64, usize) {
    use tower_sessions::session::Id;
    use tower_sessions::{Expiry, MemoryStore, Session};

    let issued = mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds").unwrap();
    let user: User = reqwest::Client::new()
        .get(format!("{}/users/@me", mock.api_base()))
        .bearer_auth(&issued.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = serde_json::json!({
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
        "token_type": "Bearer",
    });
    let requested: Scopes = [Scope::Identify, Scope::Guilds].into_iter().collect();
    let tokens = TokenSet::parse(body.to_string().as_bytes(), &requested, SystemTime::now()).unwrap();
    let auth = AuthSession {
        user,
        tokens: Some(tokens),
        authenticated_at: SystemTime::now(),
        login_id: 0,
    };
    let record_json = serde_json::to_string(&auth).unwrap().len();

    let store = Arc::new(MemoryStore::default());
    let before = rss_bytes().unwrap_or(0);
    for _ in 0..n {
        let session = Session::new(
            None,
            store.clone(),
            Some(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(7))),
        );
        session.insert("discord_oauth.auth", &auth).await.unwrap();
        session.save().await.unwrap();
    }
    let store_bytes = rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / n as f64;

    let before = rss_bytes().unwrap_or(0);
    let mut cache: std::collections::HashMap<Id, (Arc<AuthSession>, Instant)> = std::collections::HashMap::new();
    for _ in 0..n {
        let decoded: AuthSession = serde_json::from_str(&serde_json::to_string(&auth).unwrap()).unwrap();
        cache.insert(Id::default(), (Arc::new(decoded), Instant::now()));
    }
    let cache_bytes = rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / n as f64;
    drop(cache);
    drop(store);
    (store_bytes, cache_bytes, record_json)
}
