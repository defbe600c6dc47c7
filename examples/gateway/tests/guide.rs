//! The gateway's guide (`guides/gateway.md`) says what the gateway does: these tests hold it
//! to that. Every setting it names is one the gateway reads (`src/settings.rs`), every setting
//! is in its table, its configuration file runs against the mock Discord with the answers its
//! table gives, the offline start works as written, and the error it shows is the one printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use discord_oauth_mock::fixture;
use reqwest::StatusCode;
use support::{Upstream, api, browser, echoed, header, log_in_at, page};

const GUIDE: &str = include_str!("../guides/gateway.md");
const SETTINGS: &str = include_str!("../src/settings.rs");

/// The keys of `settings::KEYS`, read from its source (the binary has no library to import).
fn keys() -> BTreeSet<String> {
    let start = SETTINGS
        .find("pub(crate) const KEYS: &[&str] = &[")
        .expect("settings.rs declares KEYS");
    let list = &SETTINGS[start..];
    let list = &list[list.find('[').unwrap() + 1..];
    let list = &list[list.find('[').unwrap() + 1..list.find("];").unwrap()];
    list.split(',')
        .map(|k| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The blocks of the guide fenced as ```` ```lang ````.
fn blocks(lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in GUIDE.lines() {
        match (&mut current, line.trim_end()) {
            (None, fence) if fence == format!("```{lang}") => current = Some(String::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

fn is_name(word: &str) -> bool {
    word.len() > 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Every setting the guide names: assigned in its shell blocks (`NAME=`), keys of its TOML
/// blocks, settings of its table, and `NAME=…` in its prose.
fn named_settings() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for block in blocks("sh") {
        for word in block.split(|c: char| c.is_whitespace() || c == '`') {
            if let Some((name, _)) = word.split_once('=')
                && is_name(name)
            {
                names.insert(name.to_owned());
            }
        }
    }
    for block in blocks("toml") {
        let table: toml::Table = block.parse().expect("the guide's TOML parses");
        names.extend(table.keys().map(|k| k.to_ascii_uppercase()));
    }
    names.extend(table_settings());
    // In the prose: `NAME` and `NAME=value` (HTTP methods, as in `GET=^/health$`, are not
    // settings).
    for piece in GUIDE.split('`').skip(1).step_by(2) {
        let name = piece.split('=').next().unwrap_or_default();
        let method = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "METHOD"].contains(&name);
        if is_name(name) && !method && (piece.contains('=') || piece == name) {
            names.insert(name.to_owned());
        }
    }
    names
}

#[test]
fn every_setting_the_guide_names_is_read_by_the_gateway() {
    let keys = keys();
    assert!(keys.len() >= 20, "KEYS read from settings.rs: {keys:?}");
    let named = named_settings();
    assert!(
        named.contains("UPSTREAM") && named.contains("SESSION_KEY_PREVIOUS"),
        "{named:?}"
    );
    let unknown: Vec<_> = named.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "the guide names settings the gateway does not read: {unknown:?}"
    );
}

/// The first cells of the guide's table rows that are setting names (`| `NAME` | …`).
fn table_settings() -> BTreeSet<String> {
    GUIDE
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|cell| is_name(cell))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_setting_of_the_gateway_is_in_the_guides_table() {
    let missing: Vec<_> = keys().difference(&table_settings()).cloned().collect();
    assert!(
        missing.is_empty(),
        "settings missing from the guide's table: {missing:?}"
    );
}

/// The gateway binary with `env` (nothing inherited) and `args`; killed when dropped.
struct Running {
    url: String,
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn start(env: &[(&str, String)], args: &[&str], port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("gateway-guide-{}-{port}.log", std::process::id()));
        let out = File::create(&log).unwrap();
        let child = support::command(env)
            .args(args)
            .stdin(Stdio::null())
            .stderr(out.try_clone().unwrap())
            .stdout(out)
            .spawn()
            .unwrap();
        let mut running = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            if let Some(status) = running.child.try_wait().unwrap() {
                panic!("the gateway exited ({status}):\n{}", running.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && let Ok(r) = http.get(format!("{}/ready", running.url)).send().await
                && r.status() == StatusCode::OK
            {
                return running;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not start:\n{}",
                running.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_configuration_file_answers_as_its_table_says() {
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let file = blocks("toml")
        .into_iter()
        .next()
        .expect("the guide has a configuration file");
    let path = std::env::temp_dir().join(format!("gateway-guide-{}.toml", std::process::id()));
    std::fs::write(&path, &file).unwrap();

    // The Discord settings, BIND and UPSTREAM from the environment, which wins over the file.
    let port = support::free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/callback");
    mock.add_redirect_uri(fixture::CLIENT_ID, redirect.clone()).unwrap();
    let env = [
        ("DISCORD_CLIENT_ID", fixture::CLIENT_ID.to_owned()),
        ("DISCORD_CLIENT_SECRET", fixture::CLIENT_SECRET.to_owned()),
        ("DISCORD_API_BASE", mock.api_base()),
        ("DISCORD_AUTHORIZE_URL", mock.authorize_url()),
        ("DISCORD_REDIRECT_URI", redirect),
        ("BIND", format!("127.0.0.1:{port}")),
        ("UPSTREAM", upstream.url.clone()),
    ];
    let gw = Running::start(&env, &["--config", path.to_str().unwrap()], port).await;
    let _ = std::fs::remove_file(&path);
    let url = gw.url.as_str();

    // Skip-auth routes: proxied without login and without identity.
    let (anonymous, _) = browser();
    let health = echoed(anonymous.get(format!("{url}/health")).send().await.unwrap()).await;
    assert_eq!(header(&health, "x-forwarded-user"), None);
    echoed(anonymous.get(format!("{url}/static/app.css")).send().await.unwrap()).await;
    let post = anonymous.post(format!("{url}/health")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED, "the rule is for GET only");

    // Not logged in: a page load goes to the login, an API call gets 401 JSON.
    let home = page(&anonymous, &format!("{url}/")).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(support::location(&home, url), format!("{url}/auth/login?return_to=%2F"));
    let data = api(&anonymous, &format!("{url}/data")).await;
    assert_eq!(data.status(), StatusCode::UNAUTHORIZED);
    assert!(data.json::<serde_json::Value>().await.unwrap()["login_url"].is_string());

    // Who passes, with which groups.
    let cases = [
        (fixture::LENA_ID, Some("guild:1200000000000000200")),
        (
            fixture::WUMPUS_ID,
            Some("guild:1200000000000000100:role:1200000000000000111"),
        ),
        (fixture::NOVA_ID, None),
    ];
    for (user, groups) in cases {
        let (http, _) = browser();
        log_in_at(&http, url, user).await;
        let answer = api(&http, &format!("{url}/app")).await;
        match groups {
            Some(groups) => {
                let echo = echoed(answer).await;
                assert_eq!(header(&echo, "x-forwarded-user").as_deref(), Some(user));
                assert_eq!(header(&echo, "x-forwarded-groups").as_deref(), Some(groups), "{user}");
            }
            None => assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{user}"),
        }
    }
    for row in ["| logged in as lena", "| logged in as wumpus", "| logged in as nova"] {
        assert!(GUIDE.contains(row), "the guide's table has the row {row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_start_serves_the_login() {
    let upstream = Upstream::start().await;
    let first = blocks("sh").into_iter().next().unwrap();
    assert!(
        first.contains("UPSTREAM=http://127.0.0.1:8080 BIND=127.0.0.1:4180 discord-oauth-gateway"),
        "{first}"
    );
    // The same command, on free ports: no DISCORD_CLIENT_ID, so the mock runs in-process.
    let port = support::free_port();
    let env = [
        ("UPSTREAM", upstream.url.clone()),
        ("BIND", format!("127.0.0.1:{port}")),
    ];
    let gw = Running::start(&env, &[], port).await;
    assert!(gw.log().contains("offline demo mode"), "{}", gw.log());
    let (http, _) = browser();
    let home = page(&http, &format!("{}/", gw.url)).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    let login = http.get(support::location(&home, &gw.url)).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let consent = support::location(&login, &gw.url);
    assert!(
        consent.contains("/oauth2/authorize?"),
        "to the in-process mock: {consent}"
    );
}

#[test]
fn the_error_shown_is_the_one_printed() {
    let shown = blocks("text")
        .into_iter()
        .find(|b| b.starts_with("configuration error:"))
        .expect("the guide shows a configuration error");
    let output = support::command(&[
        ("UPSTREAM", "http://127.0.0.1:8080".to_owned()),
        ("ALLOWED_ROLES", "1200000000000000100".to_owned()),
    ])
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(shown.trim()),
        "the guide shows {shown:?}; the gateway printed {stderr:?}"
    );
}
