//! Load-benchmark support: the servers under test, a `wrk` driver, logins through the mock
//! Discord, a Redis server for the Redis rows, and the chart.
//!
//! The benchmark itself is the crate's main binary: `cargo run --release -p discord-oauth-bench`
//! (see `BENCHMARKS.md`). The anonymous login flood ([`flood`]) is the `flood` binary:
//! `cargo run --release -p discord-oauth-bench --bin flood` floods each sample site's
//! `GET /auth/login` from anonymous visitors for `FLOOD_SECONDS` (60) and checks that the
//! process's memory and the Redis key count stay put and that a real user's login started
//! before the flood completes after it; it exits non-zero when one does not. Instructions per
//! request are the `instructions` binary: `cargo run --release -p discord-oauth-bench --bin
//! instructions` (needs `valgrind`) serves each configuration alone in a child process under
//! `valgrind --tool=callgrind`, sends it `N1` and then `N2` keep-alive `GET /me` from outside
//! valgrind, and reports (total(N2) − total(N1)) / (N2 − N1) instructions per request, start-up
//! and login cancelled out. Everything here runs on loopback and is bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bare;
#[cfg(feature = "baseline")]
pub mod baseline;
pub mod chart;
pub mod flood;
pub mod floor;
pub mod layered;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_mock::{MockDiscord, fixture};

/// One configuration under load.
#[derive(Debug, Clone)]
pub struct Target {
    /// Table label.
    pub name: String,
    /// The URL to GET.
    pub url: String,
    /// `Cookie` header to send, if any.
    pub cookie: Option<String>,
}

/// The figures of one `wrk` round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Answers that were not 2xx/3xx, plus socket errors.
    pub errors: u64,
    /// Requests completed in the round (`wrk`'s "N requests in …").
    pub requests: u64,
    /// CPU time this process (the servers; `wrk` is another process) spent per request, in
    /// microseconds: steadier than req/s on a busy machine.
    pub cpu_us: f64,
}

/// `wrk`'s settings for every round.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Open connections.
    pub connections: u32,
    /// `wrk` threads.
    pub threads: u32,
    /// Seconds per round.
    pub seconds: u32,
}

/// Fails with instructions when `wrk` is not installed.
pub fn check_wrk() -> Result<(), String> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err("`wrk` is not installed: `apt-get install wrk` (Debian), then run again".into()),
    }
}

/// Runs `wrk` once against `target` and parses its report.
pub fn wrk(target: &Target, load: Load) -> Figures {
    try_wrk(target, load).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `wrk` once against `target` and parses its report; says why when `wrk` does not run
/// or reports something unexpected.
pub fn try_wrk(target: &Target, load: Load) -> Result<Figures, String> {
    let mut cmd = Command::new("wrk");
    cmd.arg("--latency")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg("-H")
        .arg("Accept: application/json");
    if let Some(cookie) = &target.cookie {
        cmd.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    let cpu_before = cpu_seconds();
    let out = cmd
        .arg(&target.url)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("wrk does not run: {e}"))?;
    let cpu = cpu_seconds() - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = parse_wrk(&text).ok_or_else(|| format!("unexpected wrk output for {}:\n{text}", target.name))?;
    let requests = f.rps * f64::from(load.seconds);
    if requests > 0.0 {
        f.cpu_us = cpu * 1e6 / requests;
    }
    Ok(f)
}

/// User + system CPU seconds this process (the servers; `wrk` is another process) has used,
/// from `/proc/self/stat` (Linux; 0 elsewhere). Clock ticks are 1/100 s on Linux.
pub fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").map_or(0.0, |stat| parse_cpu_seconds(&stat))
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds.
pub fn parse_cpu_seconds(stat: &str) -> f64 {
    // The command name may hold spaces; the fields after it start at the last ')'. There,
    // index 0 is field 3 (state), so utime (field 14) and stime (15) are indices 11 and 12.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(text: &str) -> Option<Figures> {
    let mut f = Figures::default();
    let mut seen_rps = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => {
                f.rps = n.parse().ok()?;
                seen_rps = true;
            }
            ["50%", v] => f.p50_us = duration_us(v)?,
            ["99%", v] => f.p99_us = duration_us(v)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => f.errors += n.parse::<u64>().ok()?,
            [n, "requests", "in", ..] => f.requests = n.parse().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                for pair in rest.chunks(2) {
                    if let [_, n] = pair {
                        f.errors += n.trim_end_matches(',').parse::<u64>().ok()?;
                    }
                }
            }
            _ => {}
        }
    }
    seen_rps.then_some(f)
}

fn duration_us(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        return None;
    };
    Some(num.parse::<f64>().ok()? * scale)
}

/// The median of a list of figures, by requests/s.
pub fn median(mut v: Vec<Figures>) -> Figures {
    v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// An HTTP client that keeps cookies and never follows redirects.
pub fn browser() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    try_browser().unwrap()
}

/// [`browser`], saying why when the client cannot be built.
pub fn try_browser() -> Result<(reqwest::Client, Arc<reqwest::cookie::Jar>), String> {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok((http, jar))
}

/// A visitor with its own cookie jar that never follows redirects, like a browser tab: starts
/// a login, and finishes it later (consent at the mock Discord, callback, `/me`).
#[derive(Debug)]
pub struct Visitor {
    http: reqwest::Client,
    site: String,
}

impl Visitor {
    /// A visitor of the site at `site` (`http://host:port`), with no cookies yet.
    pub fn new(site: &str) -> Result<Self, String> {
        let (http, _jar) = try_browser()?;
        Ok(Self {
            http,
            site: site.to_owned(),
        })
    }

    /// `GET /auth/login?return_to=…`: the site answers a redirect to Discord and the pending
    /// login's cookie, which the jar keeps. Returns the authorize URL.
    pub async fn start_login(&self, return_to: &str) -> Result<String, String> {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        let r = self
            .http
            .get(format!("{}/auth/login?return_to={encoded}", self.site))
            .header("accept", "text/html")
            .send()
            .await
            .map_err(|e| format!("GET /auth/login: {e}"))?;
        if !r.status().is_redirection() {
            return Err(format!("GET /auth/login answered {}, not a redirect", r.status()));
        }
        location(&r).ok_or_else(|| "GET /auth/login: a redirect without Location".to_owned())
    }

    /// Finishes the login started with [`Visitor::start_login`]: the consent at the mock
    /// Discord (which must approve at once: `auto_consent`), `GET` the callback with the jar's
    /// cookies (must answer `303`), then `GET /me` (must answer `200`). Returns the user's
    /// Discord `id` from `/me`.
    pub async fn finish_login(&self, authorize: &str) -> Result<String, String> {
        let r = self
            .http
            .get(authorize)
            .send()
            .await
            .map_err(|e| format!("consent at the mock: {e}"))?;
        if !r.status().is_redirection() {
            return Err(format!("the mock's consent answered {}, not a redirect", r.status()));
        }
        let callback = location(&r).ok_or_else(|| "the mock's consent: a redirect without Location".to_owned())?;
        let r = self
            .http
            .get(&callback)
            .header("accept", "text/html")
            .send()
            .await
            .map_err(|e| format!("GET the callback: {e}"))?;
        if r.status() != reqwest::StatusCode::SEE_OTHER {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(format!("the callback answered {status}, not 303: {body}"));
        }
        let r = self
            .http
            .get(format!("{}/me", self.site))
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET /me: {e}"))?;
        if r.status() != reqwest::StatusCode::OK {
            return Err(format!("GET /me answered {}, not 200", r.status()));
        }
        let me: serde_json::Value = r.json().await.map_err(|e| format!("GET /me: not JSON: {e}"))?;
        me.get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("GET /me: no `id` in {me}"))
    }
}

/// A response's `Location`, as a string.
fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Logs in on the site at `site` as the mock's default user (`{site}{login_path}` → the
/// mock's consent → the callback, [`MockDiscord::log_in_at`]) and returns the `Cookie` header
/// of the session.
pub async fn login(mock: &MockDiscord, site: &str, login_path: &str) -> String {
    let (http, _jar) = browser();
    let cookie = mock
        .log_in_at(&http, &format!("{site}{login_path}"), fixture::WUMPUS_ID)
        .await;
    cookie.unwrap_or_else(|e| panic!("{e}")).to_string()
}

/// GETs `url` with `cookie` and returns status and body.
pub async fn get(url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url).header("accept", "application/json");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Starts the axum sample site (as `discord-oauth-test-sites` rebuilds it) on a free loopback
/// port against `mock` (its callback registered there), with sessions in `store` and, if
/// given, `clock` as its clock.
pub async fn start_axum_site(
    mock: &MockDiscord,
    store: discord_oauth_test_sites::SessionStore,
    clock: Option<ShiftClock>,
) -> Result<discord_oauth_test_sites::axum::Site, String> {
    let (settings, switches) = site_settings(mock, store, clock);
    let site = discord_oauth_test_sites::axum::start(settings, &switches)
        .await
        .map_err(|e| format!("axum-site does not start: {e}"))?;
    discord_oauth_test_sites::register(mock, &site.url())
        .map_err(|e| format!("the mock refuses the callback URL: {e}"))?;
    Ok(site)
}

/// Starts the actix sample site (2 workers, as `discord-oauth-test-sites` rebuilds it) on a
/// free loopback port against `mock` (its callback registered there), with sessions in `store`
/// and, if given, `clock` as its clock.
pub async fn start_actix_site(
    mock: &MockDiscord,
    store: discord_oauth_test_sites::SessionStore,
    clock: Option<ShiftClock>,
) -> Result<discord_oauth_test_sites::actix::Site, String> {
    let (settings, switches) = site_settings(mock, store, clock);
    let site = discord_oauth_test_sites::actix::start(settings, &switches)
        .await
        .map_err(|e| format!("actix-site does not start: {e}"))?;
    discord_oauth_test_sites::register(mock, &site.url())
        .map_err(|e| format!("the mock refuses the callback URL: {e}"))?;
    Ok(site)
}

/// A sample site's settings against `mock`, with sessions in `store` and `clock`.
fn site_settings(
    mock: &MockDiscord,
    store: discord_oauth_test_sites::SessionStore,
    clock: Option<ShiftClock>,
) -> (discord_oauth_test_sites::Settings, discord_oauth_test_sites::Switches) {
    let mut settings = discord_oauth_test_sites::settings_for(mock);
    settings.session_store = store;
    let switches = discord_oauth_test_sites::Switches {
        clock: clock.map(|clock| -> discord_oauth_test_sites::Clock { Arc::new(move || clock.now()) }),
        workers: 2,
        ..discord_oauth_test_sites::Switches::default()
    };
    (settings, switches)
}

/// One line about this machine for the reports: CPU model, cores, RAM, `wrk` version.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(String::new, |kb| format!(", {:.0} GiB RAM", kb as f64 / 1_048_576.0));
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .split(" [")
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    format!("{cpu}, {cores} cores{mem}; {wrk}")
}

/// A wall clock that can be moved forward, for the refresh storm.
#[derive(Debug, Clone, Default)]
pub struct ShiftClock(Arc<AtomicU64>);

impl ShiftClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Now, shifted.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// The resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A Redis server for the Redis rows: the one at `REDIS_URL` if set, else a private
/// `redis-server` on a free loopback port (stopped on drop), else none.
#[derive(Debug)]
pub struct Redis {
    /// Its URL.
    pub url: String,
    child: Option<Child>,
}

impl Redis {
    /// Finds or starts one; `None` (with the reason) when there is none to be had.
    pub fn find_or_start() -> Result<Self, String> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok(Self { url, child: None });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("REDIS_URL is unset and redis-server could not start ({e})"))?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self {
                    url: format!("redis://127.0.0.1:{port}"),
                    child: Some(child),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("redis-server did not start listening".into())
    }
}

impl Redis {
    /// The number of keys in the database the URL names (`DBSIZE`), over a plain connection
    /// (`redis://`, with the URL's user, password and database number if any).
    pub fn dbsize(&self) -> Result<u64, String> {
        dbsize(&self.url)
    }
}

/// `DBSIZE` of the database `url` names: `AUTH` and `SELECT` as the URL says, then `DBSIZE`,
/// over one short-lived connection.
pub fn dbsize(url: &str) -> Result<u64, String> {
    use std::fmt::Write as _;
    use std::io::{BufRead as _, BufReader, Write as _};
    let parsed: url::Url = url.parse().map_err(|e| format!("REDIS_URL is not a URL: {e}"))?;
    if parsed.scheme() != "redis" {
        return Err(format!(
            "DBSIZE: only redis:// URLs are read here, not {}://",
            parsed.scheme()
        ));
    }
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(6379);
    let stream = std::net::TcpStream::connect((host, port)).map_err(|e| format!("Redis at {host}:{port}: {e}"))?;
    let timeout = Some(Duration::from_secs(5));
    stream.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    stream.set_write_timeout(timeout).map_err(|e| e.to_string())?;
    let mut conn = BufReader::new(stream);
    let mut command = |args: &[&str]| -> Result<String, String> {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            let _ = write!(out, "${}\r\n{a}\r\n", a.len());
        }
        conn.get_mut()
            .write_all(out.as_bytes())
            .map_err(|e| format!("Redis: {e}"))?;
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| format!("Redis: {e}"))?;
        match line.split_at_checked(1) {
            Some(("+" | ":", rest)) => Ok(rest.trim_end().to_owned()),
            _ => Err(format!(
                "Redis answered {:?} to {}",
                line.trim_end(),
                args.first().unwrap_or(&"")
            )),
        }
    };
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    if let Some(password) = parsed.password() {
        let password = decode(password);
        let user = decode(parsed.username());
        if user.is_empty() {
            command(&["AUTH", &password])?;
        } else {
            command(&["AUTH", &user, &password])?;
        }
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() {
        command(&["SELECT", db])?;
    }
    command(&["DBSIZE"])?
        .parse()
        .map_err(|e| format!("DBSIZE: not a number: {e}"))
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The median of `v` (the upper one of an even count; 0 for none).
pub fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Median nanoseconds per call of `n` sequential calls of `one`, in 3 batches.
async fn per_call_ns<F: Future<Output = ()>>(n: usize, mut one: impl FnMut() -> F) -> f64 {
    let mut batches = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..n {
            one().await;
        }
        batches.push(started.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    median_of(batches)
}

/// Median nanoseconds per request of `n` sequential `GET /me` calls made directly on `app`
/// (no sockets), with `cookie`, in 3 batches; every answer must be `200`.
pub async fn in_process<A>(app: &A, cookie: Option<&str>, n: usize) -> f64
where
    A: tower::Service<axum::extract::Request, Response = axum::response::Response, Error = std::convert::Infallible>
        + Clone,
{
    use tower::ServiceExt as _;
    per_call_ns(n, || async {
        let mut req = http::Request::get("/me");
        if let Some(c) = cookie {
            req = req.header(http::header::COOKIE, c);
        }
        let res = app
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "in-process /me must be served");
    })
    .await
}

/// Median nanoseconds per request of `n` sequential `GET /me` calls made directly on the
/// actix-web service `app` (no sockets), with `cookie`, in 3 batches; every answer must be
/// `200`. Runs on the current thread (actix services are not `Send`).
pub async fn actix_in_process<S, B>(app: &S, cookie: Option<&str>, n: usize) -> f64
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    per_call_ns(n, || async {
        let mut req = actix_web::test::TestRequest::get().uri("/me");
        if let Some(c) = cookie {
            req = req.insert_header(("cookie", c));
        }
        let res = actix_web::test::call_service(app, req.to_request()).await;
        assert_eq!(res.status(), 200, "in-process /me must be served");
    })
    .await
}

/// The `name=value` of a response's first `Set-Cookie`.
fn set_cookie<B>(res: &actix_web::dev::ServiceResponse<B>) -> String {
    let header = res
        .headers()
        .get("set-cookie")
        .expect("a session cookie is set")
        .to_str()
        .unwrap();
    header.split(';').next().unwrap().to_owned()
}

/// Logs in to the actix-web service `app` in-process, against a mock Discord whose consent
/// page approves at once: `/auth/login` in-process, the consent over
/// loopback, `/auth/callback` in-process. Returns the `Cookie` header of the session.
pub async fn actix_in_process_login<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    use actix_web::test::{TestRequest, call_service};
    let login = call_service(app, TestRequest::get().uri("/auth/login").to_request()).await;
    assert!(
        login.status().is_redirection(),
        "login answers a redirect, got {}",
        login.status()
    );
    let pending = set_cookie(&login);
    let authorize = login.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let consent = browser().0.get(&authorize).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let callback: url::Url = callback.parse().unwrap();
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let done = call_service(
        app,
        TestRequest::get()
            .uri(&path)
            .insert_header(("cookie", pending))
            .to_request(),
    )
    .await;
    assert!(
        done.status().is_redirection(),
        "callback answers a redirect, got {}",
        done.status()
    );
    // The callback also clears the login-in-progress cookie: pick the session's.
    done.headers()
        .get_all("set-cookie")
        .filter_map(|h| h.to_str().ok()?.split(';').next())
        .find(|pair| pair.starts_with("discord_oauth=") || pair.starts_with("__Host-discord_oauth="))
        .expect("the callback sets the session cookie")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_reports() {
        let text = "Running 3s test @ http://127.0.0.1:1/me\n  1 threads and 64 connections\n  \
                    Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   400.12us  1.2ms  20.00ms   95.00%\n  \
                    Latency Distribution\n     50%  350.00us\n     75%  420.00us\n     90%  500.00us\n     99%    1.50ms\n  \
                    300000 requests in 3.00s, 40.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  \
                    Non-2xx or 3xx responses: 4\nRequests/sec: 100000.50\nTransfer/sec:     13.33MB\n";
        let f = parse_wrk(text).unwrap();
        assert!((f.rps - 100_000.5).abs() < 1e-6);
        assert!((f.p50_us - 350.0).abs() < 1e-6);
        assert!((f.p99_us - 1_500.0).abs() < 1e-6);
        assert_eq!(f.errors, 7);
        assert_eq!(f.requests, 300_000);
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn cpu_time_is_utime_plus_stime() {
        let stat = "2950 (a b) R 2944 2944 13197 0 -1 4194304 124 0 0 0 250 50 0 0 20 0 1 0";
        assert!((parse_cpu_seconds(stat) - 3.0).abs() < 1e-9);
        assert!(parse_cpu_seconds("garbage").abs() < 1e-9);
    }

    #[test]
    fn median_is_by_rps() {
        let f = |rps| Figures {
            rps,
            ..Figures::default()
        };
        assert!((median(vec![f(3.0), f(1.0), f(2.0)]).rps - 2.0).abs() < 1e-9);
    }
}
