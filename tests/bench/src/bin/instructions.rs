//! `cargo run --release -p discord-oauth-bench --bin instructions`: instructions per
//! authenticated `GET /me`, counted by callgrind, for a measure that does not move with the
//! machine's load.
//!
//! For each configuration (bare axum, the axum sample site with the memory store, the
//! axum-login + tower-sessions + oauth2 baseline, bare actix-web, the actix sample site with
//! the memory store and with the cookie store), this binary starts itself twice (per repeat) under
//! `valgrind --tool=callgrind` in a mode that serves that one configuration only: the child
//! starts the mock Discord and the one server, logs in through the mock, prints the `/me` URL
//! and the session cookie on stdout, and serves until its stdin is closed. The parent, outside
//! valgrind, sends `N1` (2000) sequential keep-alive `GET /me` over one loopback connection to
//! the first child and `N2` (4000) to the second, checks every answer, closes the child's stdin
//! and reads the total instruction count (`Ir`) from the child's `callgrind.out`. Start-up,
//! login and shut-down are the same in both runs, so
//!
//! instructions per request = (total(N2) − total(N1)) / (N2 − N1)
//!
//! counts only the serving of requests: the server's whole process (every thread: the
//! framework, the session layer, the runtime, the kernel calls' user-space side), and not the
//! client. Every request carries a `Cookie` header: the site's session cookie, and for the bare
//! frameworks (which ignore it) one of the same length as the site they are compared with
//! (82 bytes for axum, 144 for actix-web's memory store, whose cookie is within a few bytes of
//! that), so that the bare rows parse requests
//! of the same size and the difference is the login's work. Prints a table with the ratio of each to its bare framework (the baseline against
//! bare axum) and writes it to `BENCH_OUT/instructions.md` (default `target/bench`).
//!
//! Needs `valgrind` (Debian: `apt-get install valgrind`). Options (env): `N1` (2000), `N2`
//! (4000), `REPEATS` (3 pairs of runs per configuration; the table gives the median and every
//! run), `CONFIGS` (comma-separated keys to run, of `bare-axum`, `axum-site`, `axum-site-redis`,
//! `baseline`, `bare-actix`, `actix-site`, `actix-site-cookie`, `actix-site-redis`,
//! `floor-axum`, `floor-actix` (the bare frameworks with the least a login layer does, see
//! `discord_oauth_bench::floor`), and for requests without a cookie `bare-axum-home`,
//! `floor-axum-home`, `axum-site-home`, `bare-actix-home`, `floor-actix-home`,
//! `actix-site-home` (the home page an anonymous visitor gets), `layer-axum-home`,
//! `layer-actix-home` (bare's home page through the login layer: a page that does not read
//! the login, see `discord_oauth_bench::layered`) and `axum-site-login`,
//! `actix-site-login` (`GET /auth/login`, a `303` to Discord); all by default; the Redis rows
//! need `REDIS_URL` or `redis-server`), `VALGRIND` (the valgrind
//! command, `valgrind`), `INSTRUCTIONS_BIN` (the servers to measure: another build of this
//! binary, e.g. the previous commit's, so that a before/after runs in one command; this one by
//! default).
//!
//! Two tables: all instructions, and the same runs without glibc's allocator (the self cost of
//! `malloc`, `free` and their internals, read from the `callgrind.out` files). The allocator's
//! share depends on the state of the heap, which differs from process to process of the same
//! binary: it moves a configuration's figure by up to ±1,000 instructions per request in two or
//! three distinct levels, while the rest repeats within a few instructions. Changes to our code
//! show in the second table; what they do to the number of allocations shows in both.
//! `INSTRUCTIONS_SERVE=<key>` is the child's mode; it also works without valgrind, for
//! trying the protocol by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use discord_oauth_bench::{bare, floor, median_of};
use discord_oauth_core::api::User;
use discord_oauth_core::{Scope, Scopes};
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_test_sites::SessionStore;

/// The configurations: key, name in the table, key of the bare framework it is compared with
/// (none for the login redirect, which a bare framework does not serve).
const CONFIGS: &[(&str, &str, &str)] = &[
    ("bare-axum", "bare axum", "bare-axum"),
    (
        "floor-axum",
        "floor: bare axum + the least a login layer does",
        "bare-axum",
    ),
    ("axum-site", "axum-site, memory store", "bare-axum"),
    ("axum-site-redis", "axum-site, Redis store", "bare-axum"),
    (
        "baseline",
        "axum-login + tower-sessions + oauth2 (baseline)",
        "bare-axum",
    ),
    ("bare-actix", "bare actix-web", "bare-actix"),
    (
        "floor-actix",
        "floor: bare actix-web + the least a login layer does",
        "bare-actix",
    ),
    ("actix-site", "actix-site, memory store", "bare-actix"),
    ("actix-site-cookie", "actix-site, cookie store", "bare-actix"),
    ("actix-site-redis", "actix-site, Redis store", "bare-actix"),
    ("bare-axum-home", "bare axum, anonymous `GET /`", "bare-axum-home"),
    ("floor-axum-home", "floor axum, anonymous `GET /`", "bare-axum-home"),
    ("axum-site-home", "axum-site, anonymous `GET /`", "bare-axum-home"),
    (
        "bare-actix-home",
        "bare actix-web, anonymous `GET /`",
        "bare-actix-home",
    ),
    (
        "floor-actix-home",
        "floor actix-web, anonymous `GET /`",
        "bare-actix-home",
    ),
    ("actix-site-home", "actix-site, anonymous `GET /`", "bare-actix-home"),
    (
        "layer-axum-home",
        "bare axum + the login layer, anonymous `GET /` (a page that does not read the login)",
        "bare-axum-home",
    ),
    (
        "layer-actix-home",
        "bare actix-web + the login middleware, anonymous `GET /` (a page that does not read the login)",
        "bare-actix-home",
    ),
    ("axum-site-login", "axum-site, `GET /auth/login` (303)", ""),
    ("actix-site-login", "actix-site, `GET /auth/login` (303)", ""),
];

/// What a configuration's requests are: a logged-in `/me` (200), the home page without a
/// cookie (200), or a new login (303 to Discord, without a cookie).
fn expected_status(key: &str) -> u16 {
    if key.ends_with("-login") { 303 } else { 200 }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if let Some(key) = std::env::var_os("INSTRUCTIONS_SERVE") {
        serve(key.to_str().expect("INSTRUCTIONS_SERVE is UTF-8"));
        return;
    }
    let valgrind = std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".into());
    if !Command::new(&valgrind)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("`{valgrind}` not found: install valgrind (Debian: apt-get install valgrind)");
        std::process::exit(2);
    }
    let n1 = env("N1", 2000);
    let n2 = env("N2", 4000);
    let repeats = env("REPEATS", 3).max(1) as usize;
    assert!(n2 > n1, "N2 must be larger than N1");
    let chosen: Vec<String> = std::env::var("CONFIGS").map_or_else(
        |_| CONFIGS.iter().map(|c| c.0.to_owned()).collect(),
        |s| s.split(',').map(|k| k.trim().to_owned()).collect(),
    );
    let out_dir = PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench".into()));
    let raw_dir = out_dir.join("callgrind");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let server = std::env::var_os("INSTRUCTIONS_BIN").map_or_else(|| std::env::current_exe().unwrap(), PathBuf::from);
    // The baseline's server: a build with the `baseline` feature (see `Cargo.toml`).
    let baseline_server = std::env::var_os("INSTRUCTIONS_BASELINE_BIN").map_or_else(|| server.clone(), PathBuf::from);
    // The Redis rows need a Redis: `REDIS_URL`, else a private `redis-server`, else they are
    // left out. Redis runs outside valgrind: its own work is not counted (nor is the kernel's).
    let redis = if chosen.iter().any(|c| c.ends_with("-redis")) {
        match discord_oauth_bench::Redis::find_or_start() {
            Ok(redis) => Some(redis),
            Err(e) => {
                eprintln!("Redis rows left out: {e}");
                None
            }
        }
    } else {
        None
    };
    let redis_url = redis.as_ref().map(|r| r.url.clone());
    let started = Instant::now();

    // (key, per request of each repeat: all instructions, those outside the allocator)
    let mut measured: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut outside: Vec<(&str, Vec<f64>)> = Vec::new();
    for &(key, name, _) in CONFIGS {
        if !chosen.iter().any(|c| c == key) || (key.ends_with("-redis") && redis_url.is_none()) {
            continue;
        }
        eprintln!("== {name}");
        let (mut runs, mut runs_outside) = (Vec::new(), Vec::new());
        let server = if key == "baseline" { &baseline_server } else { &server };
        for _ in 0..repeats {
            let c1 = run_child(&valgrind, server, key, n1, &raw_dir, redis_url.as_deref());
            let c2 = run_child(&valgrind, server, key, n2, &raw_dir, redis_url.as_deref());
            let per_request = c2.total.saturating_sub(c1.total) as f64 / (n2 - n1) as f64;
            let (o1, o2) = (c1.total - c1.allocator, c2.total - c2.allocator);
            let per_request_outside = o2.saturating_sub(o1) as f64 / (n2 - n1) as f64;
            eprintln!(
                "   {} Ir after {n1} requests, {} after {n2}: {per_request:.0} per request, \
                 {per_request_outside:.0} outside the allocator",
                c1.total, c2.total
            );
            runs.push(per_request);
            runs_outside.push(per_request_outside);
        }
        measured.push((key, runs));
        outside.push((key, runs_outside));
    }

    let mut report = String::new();
    writeln!(
        report,
        "Machine: {}. Valgrind: {}. Each configuration served alone in a process under callgrind, \
         {n1} and then {n2} sequential keep-alive `GET /me` on one loopback connection from a client \
         outside valgrind; instructions per request = (total({n2}) − total({n1})) / {}: the server's \
         whole process, start-up and login cancelled out.\n",
        discord_oauth_bench::machine(),
        valgrind_version(&valgrind),
        n2 - n1
    )
    .unwrap();
    table(
        &mut report,
        &format!("instructions per request (median of {repeats})"),
        &measured,
    );
    writeln!(
        report,
        "\nThe same runs without glibc's allocator (`malloc`, `free` and their internals), whose \
         count moves by up to ±1,000 per request between processes of one binary with the state of \
         the heap; every other instruction repeats within a few per request:\n"
    )
    .unwrap();
    table(
        &mut report,
        &format!("instructions per request outside the allocator (median of {repeats})"),
        &outside,
    );
    writeln!(report, "\nWhole run: {:.0} s.", started.elapsed().as_secs_f64()).unwrap();
    let path = out_dir.join("instructions.md");
    std::fs::write(&path, &report).unwrap();
    println!("{report}");
    println!("Wrote {}", path.display());
}

/// Writes one table: each configuration's median, its ratio to its bare framework, every run.
fn table(report: &mut String, column: &str, measured: &[(&str, Vec<f64>)]) {
    writeln!(report, "| configuration | {column} | vs bare framework | every run |").unwrap();
    writeln!(report, "|---|---:|---:|---|").unwrap();
    let medians: Vec<(&str, f64)> = measured
        .iter()
        .map(|(key, runs)| (*key, median_of(runs.clone())))
        .collect();
    for &(key, name, bare_key) in CONFIGS {
        let Some((_, runs)) = measured.iter().find(|m| m.0 == key) else {
            continue;
        };
        let per_request = median_of(runs.clone());
        let ratio = medians
            .iter()
            .find(|m| m.0 == bare_key)
            .map_or_else(|| "–".to_owned(), |b| format!("{:.3}×", per_request / b.1));
        let every = runs.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
        writeln!(report, "| {name} | {per_request:.0} | {ratio} | {every} |").unwrap();
    }
}

fn valgrind_version(valgrind: &str) -> String {
    Command::new(valgrind)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A child's instruction counts: its whole process, and the part spent inside glibc's
/// allocator (`malloc`, `free` and their internals).
#[derive(Clone, Copy, Debug)]
struct Counts {
    total: u64,
    allocator: u64,
}

/// Runs `server` (this binary, or `INSTRUCTIONS_BIN`) under callgrind serving `key`, sends it
/// `n` requests and returns the child's instruction counts.
fn run_child(valgrind: &str, server: &Path, key: &str, n: u64, raw_dir: &Path, redis_url: Option<&str>) -> Counts {
    let out = raw_dir.join(format!("callgrind.out.{key}.{n}"));
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(valgrind)
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(server)
        .env("INSTRUCTIONS_SERVE", key)
        .env("REDIS_URL", redis_url.unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("valgrind starts");
    // Drain stderr all along, so that the child never blocks on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let mut fields = line.trim_end_matches('\n').splitn(2, '\t');
    let (Some(url), Some(cookie)) = (fields.next(), fields.next()) else {
        let _ = child.kill();
        let _ = child.wait();
        let err = stderr.join().unwrap();
        panic!("the {key} child did not announce its URL (got {line:?}); its stderr:\n{err}");
    };
    let started = Instant::now();
    // The bare servers announce no cookie (they have no login); the client sends them one of
    // the length of the site they are compared with, which they ignore.
    let bare = match key {
        "bare-axum" => bare_cookie(AXUM_COOKIE_LEN),
        "bare-actix" => bare_cookie(ACTIX_COOKIE_LEN),
        _ => String::new(),
    };
    drive(
        url,
        if cookie.is_empty() { &bare } else { cookie },
        n,
        expected_status(key),
    );
    eprintln!(
        "   {n} requests in {:.1} s under callgrind",
        started.elapsed().as_secs_f64()
    );
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let err = stderr.join().unwrap();
    assert!(status.success(), "the {key} child failed ({status}):\n{err}");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    Counts {
        total: total_ir(&text).unwrap_or_else(|| panic!("no totals in {}", out.display())),
        allocator: allocator_ir(&text),
    }
}

/// glibc's allocator functions (in `libc.so`): their instruction counts depend on the state of
/// the heap, which differs from process to process of the same binary.
fn is_allocator(function: &str) -> bool {
    const EXACT: [&str; 7] = [
        "malloc",
        "free",
        "realloc",
        "calloc",
        "memalign",
        "posix_memalign",
        "aligned_alloc",
    ];
    const PREFIXES: [&str; 12] = [
        "_int_",
        "malloc_",
        "unlink_chunk",
        "alloc_perturb",
        "free_perturb",
        "_mid_memalign",
        "sysmalloc",
        "systrim",
        "tcache",
        "arena_",
        "ptmalloc_",
        "munmap_chunk",
    ];
    EXACT.contains(&function) || PREFIXES.iter().any(|p| function.starts_with(p))
}

/// The self cost of glibc's allocator in a `callgrind.out` file: the cost lines of functions of
/// `libc.so` that [`is_allocator`], leaving out the inclusive cost lines of the calls they make.
/// Reads callgrind's format with name compression (`fn=(id) name`, then `fn=(id)`).
fn allocator_ir(text: &str) -> u64 {
    use std::collections::HashMap;
    let mut objects: HashMap<String, String> = HashMap::new();
    let mut functions: HashMap<String, String> = HashMap::new();
    // Resolves `(id) name` or `(id)` against the table, remembering new names.
    let resolve = |table: &mut HashMap<String, String>, spec: &str| -> String {
        let spec = spec.trim();
        match spec.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((id, name)) if !name.trim().is_empty() => {
                table.insert(id.to_owned(), name.trim().to_owned());
                name.trim().to_owned()
            }
            Some((id, _)) => table.get(id).cloned().unwrap_or_default(),
            None => spec.to_owned(),
        }
    };
    let (mut object, mut in_allocator, mut skip_next, mut sum) = (String::new(), false, false, 0u64);
    for line in text.lines() {
        if let Some(spec) = line.strip_prefix("ob=") {
            object = resolve(&mut objects, spec);
        } else if let Some(spec) = line.strip_prefix("fn=") {
            let function = resolve(&mut functions, spec);
            in_allocator = object.contains("libc.so") && is_allocator(&function);
        } else if let Some(spec) = line.strip_prefix("cob=") {
            resolve(&mut objects, spec);
        } else if let Some(spec) = line.strip_prefix("cfn=") {
            resolve(&mut functions, spec);
        } else if line.starts_with("calls=") {
            skip_next = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-' || c == '*') {
            if std::mem::take(&mut skip_next) || !in_allocator {
                continue;
            }
            sum += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sum
}

/// The `Ir` total of a `callgrind.out` file (its `totals:` line, else `summary:`).
fn total_ir(text: &str) -> Option<u64> {
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    find("totals:").or_else(|| find("summary:"))
}

/// `n` sequential `GET` of `url` with `cookie` (none if empty) on one keep-alive HTTP/1.1
/// connection; every answer must have the status `expect`, and the same body.
fn drive(url: &str, cookie: &str, n: u64, expect: u16) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let stream = TcpStream::connect(authority).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n");
    if !cookie.is_empty() {
        write!(request, "Cookie: {cookie}\r\n").unwrap();
    }
    request.push_str("\r\n");
    let mut first: Option<Vec<u8>> = None;
    let mut line = String::new();
    for i in 0..n {
        writer.write_all(request.as_bytes()).unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(
            line.starts_with(&format!("HTTP/1.1 {expect} ")),
            "request {i} answered {line:?}, not {expect}"
        );
        let mut length = None;
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a Content-Length")];
        reader.read_exact(&mut body).unwrap();
        match &first {
            None => first = Some(body),
            Some(f) => assert_eq!(f, &body, "request {i} answered another body"),
        }
    }
}

/// The child: serve the one configuration `key` until stdin closes.
fn serve(key: &str) {
    // One runtime thread: fewer threads for callgrind to serialise and no work stealing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
        let mut stops: Vec<Box<dyn FnOnce()>> = Vec::new();
        // The home and login rows ask without a cookie; the others log in first.
        let path = if key.ends_with("-home") {
            "/"
        } else if key.ends_with("-login") {
            "/auth/login?return_to=%2F"
        } else {
            "/me"
        };
        let store = if key.ends_with("-redis") {
            let url = std::env::var("REDIS_URL").unwrap_or_default();
            assert!(!url.is_empty(), "{key} needs REDIS_URL");
            SessionStore::Redis { url }
        } else if key.ends_with("-cookie") {
            SessionStore::Cookie
        } else {
            SessionStore::Memory
        };
        let logs_in = path == "/me";
        let (url, cookie) = match key {
            "bare-axum" | "bare-axum-home" => {
                let (user, scopes) = user(&mock).await;
                let me = bare::axum(user, scopes).await;
                (me.replace("/me", path), String::new())
            }
            "bare-actix" | "bare-actix-home" => {
                let (user, scopes) = user(&mock).await;
                let (me, handle) = bare::actix(user, scopes, 1);
                stops.push(Box::new(move || drop(handle.stop(false))));
                (me.replace("/me", path), String::new())
            }
            "floor-axum" | "floor-axum-home" => {
                let (user, scopes) = user(&mock).await;
                let cookie = floor::cookie(AXUM_COOKIE_LEN);
                let me = floor::axum(&cookie, user, scopes).await;
                (me.replace("/me", path), if logs_in { cookie } else { String::new() })
            }
            "floor-actix" | "floor-actix-home" => {
                let (user, scopes) = user(&mock).await;
                let cookie = floor::cookie(ACTIX_COOKIE_LEN);
                let (me, handle) = floor::actix(&cookie, user, scopes);
                stops.push(Box::new(move || drop(handle.stop(false))));
                (me.replace("/me", path), if logs_in { cookie } else { String::new() })
            }
            "layer-axum-home" => (discord_oauth_bench::layered::axum(&mock).await, String::new()),
            "layer-actix-home" => {
                let (url, handle) = discord_oauth_bench::layered::actix(&mock);
                stops.push(Box::new(move || drop(handle.stop(false))));
                (url, String::new())
            }
            _ if key.starts_with("axum-site") => {
                let site = discord_oauth_bench::start_axum_site(&mock, store, None).await.unwrap();
                let cookie = if logs_in {
                    discord_oauth_bench::login(&mock, &site.url(), "/auth/login").await
                } else {
                    String::new()
                };
                let url = format!("{}{path}", site.url());
                stops.push(Box::new(move || site.stop()));
                (url, cookie)
            }
            _ if key.starts_with("actix-site") => {
                let site = discord_oauth_bench::start_actix_site(&mock, store, None).await.unwrap();
                let cookie = if logs_in {
                    discord_oauth_bench::login(&mock, &site.url(), "/auth/login").await
                } else {
                    String::new()
                };
                let url = format!("{}{path}", site.url());
                stops.push(Box::new(move || site.stop()));
                (url, cookie)
            }
            #[cfg(feature = "baseline")]
            "baseline" => {
                let base = baseline_site(&mock).await;
                let cookie = discord_oauth_bench::login(&mock, &base, "/auth/login").await;
                (format!("{base}/me"), cookie)
            }
            other => panic!("unknown configuration {other:?}"),
        };
        // The same answer as the table's other rows: a logged-in 200.
        if key == "axum-site" {
            assert_eq!(
                cookie.len(),
                AXUM_COOKIE_LEN,
                "axum-site's session cookie has the bare row's length"
            );
        } else if key == "actix-site" {
            // Percent-encoding of the base64 value moves it by a few bytes from login to login.
            assert!(
                cookie.len().abs_diff(ACTIX_COOKIE_LEN) <= 16,
                "actix-site's session cookie is {} bytes, the bare row's {ACTIX_COOKIE_LEN}",
                cookie.len()
            );
        }
        if logs_in {
            let (status, _) =
                discord_oauth_bench::get(&url, Some(&cookie).filter(|c| !c.is_empty()).map(String::as_str)).await;
            assert_eq!(status, 200, "{key} answers /me");
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{url}\t{cookie}").unwrap();
        stdout.flush().unwrap();
        drop(stdout);
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await
            .unwrap()
            .unwrap();
        for stop in stops {
            stop();
        }
    });
    // Exit at once: callgrind writes its counts at exit; nothing left to wait for.
    std::process::exit(0);
}

/// Length of the axum sample's `Cookie` header (`discord_oauth=` and the session id,
/// encrypted: always 82 bytes).
const AXUM_COOKIE_LEN: usize = 82;
/// Typical length of the actix sample's `Cookie` header with the memory store (144 bytes, give
/// or take the percent-encoding of a few characters of its base64 value).
const ACTIX_COOKIE_LEN: usize = 144;

/// A `Cookie` header of `len` bytes for a bare framework, which ignores it: the bare rows
/// receive requests of the same size as the sample sites', so that parsing the header is not
/// counted as the login's cost.
fn bare_cookie(len: usize) -> String {
    let name = "discord_oauth=";
    let value: String = (0..len - name.len())
        .map(|i| char::from(b'A' + (i % 26) as u8))
        .collect();
    format!("{name}{value}")
}

/// The user the sites show, fetched from the mock, with the sites' scopes: for the bare
/// frameworks' identical JSON.
async fn user(mock: &MockDiscord) -> (User, Scopes) {
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
    (user, [Scope::Identify, Scope::Guilds].into_iter().collect())
}

#[cfg(feature = "baseline")]
/// The axum-login + tower-sessions + oauth2 baseline on a free loopback port against `mock`;
/// returns its base URL.
async fn baseline_site(mock: &MockDiscord) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let redirect = format!("{url}/auth/callback");
    mock.add_redirect_uri(fixture::CLIENT_ID, redirect.clone()).unwrap();
    let app = discord_oauth_bench::baseline::app(
        &mock.authorize_url(),
        &mock.api_base(),
        fixture::CLIENT_ID,
        fixture::CLIENT_SECRET,
        &redirect,
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[cfg(test)]
mod tests {
    use super::{allocator_ir, total_ir};

    #[test]
    fn reads_the_totals_line_else_the_summary() {
        let out = "# callgrind format\nversion: 1\nevents: Ir\nsummary: 120\nfn=main\n5 7\ntotals: 123456\n";
        assert_eq!(total_ir(out), Some(123_456));
        assert_eq!(total_ir("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(total_ir("events: Ir\n"), None);
    }

    #[test]
    fn the_allocators_self_cost_is_counted_without_the_calls_it_makes() {
        let text = "events: Ir\nob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6\nfl=(1) ./malloc/malloc.c\n\
            fn=(1) _int_malloc\n10 100\n+2 50\ncfn=(2) memcpy\ncalls=1 0\n0 7000\n\
            fn=(2)\n0 30\nfn=(3) malloc\n0 5\nob=(2) /work/instructions\nfn=(4) malloc\n0 9999\n\
            ob=(1)\nfn=(1)\n0 1\n";
        // `_int_malloc` 100 + 50 (not the 7,000 of its call), `memcpy` is not the allocator,
        // `malloc` 5 in libc (not the one in the binary), then `_int_malloc` again by its id.
        assert_eq!(allocator_ir(text), 156);
    }
}
