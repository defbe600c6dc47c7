//! `cargo bench -p discord-oauth-gateway --bench proxy`: proxied, authenticated requests per
//! second through the gateway against nginx proxying alone, to the same upstream in the same
//! run (BENCHMARKS.md, "Gateway").
//!
//! Starts the mock Discord (in this process, idle during the load), one nginx (a temporary
//! directory, foreground) serving the upstream (`return 200`, a 3-byte body) and, on other
//! ports, proxying to it alone and with `auth_request` to the gateway; the gateway binary
//! (release) with `ALLOWED_GUILDS` set, so every request is also a guild decision (answered
//! from the gateway's decisions, re-checked every 60 s). Logs in through the mock, then drives
//! each configuration with `wrk` in alternating rounds and prints the medians as a Markdown
//! table. A second gateway process with `SKIP_AUTH=^/` (no login on any path) shows what the
//! proxying itself costs.
//!
//! Needs `wrk` and `nginx` (Debian: `apt-get install wrk nginx`). Options (env): `ROUNDS` (5),
//! `SECONDS` per round (5), `CONNECTIONS` (32), `THREADS` of wrk (1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use discord_oauth_mock::fixture;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Ports: the upstream, nginx proxying alone, nginx with `auth_request` to the gateway.
struct Ports {
    upstream: u16,
    proxy: u16,
    auth_request: u16,
    gateway: u16,
}

fn nginx_config(dir: &Path, p: &Ports) -> String {
    let dir = dir.display();
    format!(
        r"
daemon off;
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    upstream gateway {{ server 127.0.0.1:{gateway}; keepalive 64; }}

    # The upstream app.
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ return 200 'ok\n'; }}
    }}
    # nginx proxying alone.
    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection '';
        }}
    }}
    # nginx asking the gateway (forward auth), then proxying.
    server {{
        listen 127.0.0.1:{auth_request};
        location = /oauth2/auth {{
            internal;
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection '';
            proxy_pass_request_body off;
            proxy_set_header Content-Length '';
            proxy_set_header X-Original-URI $request_uri;
        }}
        location / {{
            auth_request /oauth2/auth;
            auth_request_set $user $upstream_http_x_auth_request_user;
            proxy_set_header X-Auth-Request-User $user;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection '';
        }}
    }}
}}
",
        upstream = p.upstream,
        proxy = p.proxy,
        auth_request = p.auth_request,
        gateway = p.gateway,
    )
}

fn start_nginx(nginx: &Path, ports: &Ports) -> Nginx {
    let dir = std::env::temp_dir().join(format!("gateway-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_config(&dir, ports)).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx { child, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in [ports.upstream, ports.proxy, ports.auth_request] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nginx
}

/// One `wrk` run: req/s, p50 and p99 latency (as wrk prints them).
#[derive(Debug, Clone)]
struct Figures {
    rps: f64,
    p50: String,
    p99: String,
}

fn wrk(url: &str, cookie: &str, seconds: u64, connections: u64, threads: u64) -> Figures {
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency"])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("Non-2xx"), "{url} answered errors under load:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|rest| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {prefix} in wrk's output:\n{text}"))
    };
    Figures {
        rps: field("Requests/sec:").parse().unwrap(),
        p50: field("50%"),
        p99: field("99%"),
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks
    }
    let (Some(nginx), Some(_)) = (find("nginx"), find("wrk")) else {
        eprintln!("the gateway benchmark needs nginx and wrk: apt-get install nginx wrk");
        std::process::exit(1);
    };
    let rounds = env("ROUNDS", 5);
    let seconds = env("SECONDS", 5);
    let connections = env("CONNECTIONS", 32);
    let threads = env("THREADS", 1);

    let mock = support::mock().await;
    let ports = Ports {
        upstream: support::free_port(),
        proxy: support::free_port(),
        auth_request: support::free_port(),
        gateway: support::free_port(),
    };
    let upstream = format!("http://127.0.0.1:{}", ports.upstream);
    let gateway_url = format!("http://127.0.0.1:{}", ports.gateway);
    let gateway = support::Gateway::start_behind(
        &mock,
        &upstream,
        &[("ALLOWED_GUILDS", fixture::SECOND_GUILD_ID), ("RUST_LOG", "warn")],
        ports.gateway,
        &gateway_url,
    )
    .await;
    // The same binary proxying without login (every path skips it): what the proxy costs.
    let open_port = support::free_port();
    let open_url = format!("http://127.0.0.1:{open_port}");
    let open = support::Gateway::start_behind(
        &mock,
        &upstream,
        &[("SKIP_AUTH", "^/"), ("RUST_LOG", "warn")],
        open_port,
        &open_url,
    )
    .await;
    let _nginx = start_nginx(&nginx, &ports);

    let (http, jar) = support::browser();
    support::log_in_at(&http, &gateway.url, fixture::WUMPUS_ID).await;
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &gateway.url.parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // The session cookie only (the mock's own cookie shares the host).
    let cookie = cookie
        .split("; ")
        .find(|c| c.starts_with("discord_oauth="))
        .expect("logged in")
        .to_owned();

    let targets = [
        (
            "nginx → upstream (proxy only)",
            format!("http://127.0.0.1:{}/app", ports.proxy),
        ),
        (
            "gateway → upstream, `SKIP_AUTH=^/` (proxy only, no login)",
            format!("{}/app", open.url),
        ),
        (
            "gateway → upstream (logged in, guild-gated)",
            format!("{}/app", gateway.url),
        ),
        (
            "nginx auth_request → gateway `/oauth2/auth`, nginx → upstream",
            format!("http://127.0.0.1:{}/app", ports.auth_request),
        ),
    ];
    for (_, url) in &targets {
        let check = http.get(url).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(check.status(), 200, "{url} does not answer 200 for the logged-in user");
        // Warm-up: connections, the gateway's guild decision.
        wrk(url, &cookie, 1, connections, threads);
    }
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (i, (name, url)) in targets.iter().enumerate() {
            let figures = wrk(url, &cookie, seconds, connections, threads);
            eprintln!("round {round}: {name}: {:.0} req/s", figures.rps);
            results[i].push(figures);
        }
    }
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "{rounds} alternating rounds of `wrk -t{threads} -c{connections} -d{seconds}s`, median round; {cores} cores ({machine}); nginx 2 workers, gateway release build (tokio, {cores} workers)\n"
    );
    println!("| path | req/s | vs nginx alone | p50 | p99 |");
    println!("|---|---|---|---|---|");
    let mut base = 0.0;
    for (i, (name, _)) in targets.iter().enumerate() {
        let mut rounds: Vec<&Figures> = results[i].iter().collect();
        rounds.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let mid = rounds[rounds.len() / 2];
        let m = mid.rps;
        if i == 0 {
            base = m;
        }
        println!(
            "| {name} | {m:.0} | {:.0} % | {} | {} |",
            100.0 * m / base,
            mid.p50,
            mid.p99
        );
    }
}
