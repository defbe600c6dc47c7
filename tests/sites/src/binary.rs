//! Runs a sample site's binary the way `cargo run -p axum-site` does, with no Discord
//! credentials (the offline demo), and logs in through the mock Discord it starts in-process,
//! over HTTP like a browser.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discord_oauth_mock::fixture;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};

/// How long the binary may take to listen.
const STARTUP: Duration = Duration::from_secs(60);

/// A running sample binary, killed when dropped.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    child: Child,
    log: PathBuf,
}

impl Running {
    /// What the binary printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Starts `binary` with no `DISCORD_*` and no session settings in its environment, `BIND` on
/// a free loopback port, and waits until it accepts connections (another free port if the one
/// picked was taken meanwhile).
pub fn start(binary: &str) -> Running {
    for attempt in 0.. {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("sample-site-{}-{port}.log", std::process::id()));
        let out = File::create(&log).unwrap();
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("DISCORD_") || name.starts_with("SESSION_") || name == "REDIS_URL" {
                command.env_remove(name);
            }
        }
        let child = command
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stderr(out.try_clone().unwrap())
            .stdout(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} does not start: {e}"));
        let mut running = Running {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = running.child.try_wait().unwrap() {
                let log = running.log();
                assert!(
                    log.contains("in use") && attempt < 5,
                    "{binary} exited ({status}) before listening:\n{log}"
                );
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return running;
            }
            assert!(
                Instant::now() < deadline,
                "{binary} did not listen within {STARTUP:?}:\n{}",
                running.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the loop returns or panics")
}

/// A browser: a cookie jar, redirects followed by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    let location = response.headers().get(LOCATION);
    location
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Logs in at `site` as the mock user `user_id`, approving on the mock's consent page as a
/// person would; returns the home page afterwards.
async fn log_in(http: &reqwest::Client, site: &str, user_id: &str) -> String {
    let start = http
        .get(format!("{site}/auth/login?return_to=%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "the login starts");
    let authorize = location(&start);
    let callback = discord_oauth_mock::approve_as(http, &authorize, user_id).await.unwrap();
    assert!(callback.starts_with(&format!("{site}/auth/callback?")), "{callback}");
    let done = http.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "the callback logs in");
    assert_eq!(location(&done), "/");
    http.get(format!("{site}/")).send().await.unwrap().text().await.unwrap()
}

/// `GET {site}/me` as an API client.
async fn get_me(http: &reqwest::Client, site: &str) -> reqwest::Response {
    let request = http.get(format!("{site}/me")).header("accept", "application/json");
    request.send().await.unwrap()
}

/// Checks the sample binary at `binary` end to end in offline mode: the page says it is the
/// offline demo; logging in through the mock's consent page shows the user with an avatar
/// the mock's CDN serves (`200 image/png`), `/me` answers the user's id, and logging out ends
/// it. Twice: a user with an avatar and one with Discord's default avatar.
pub async fn check_offline_demo(binary: &str) {
    let site = start(binary);
    let url = site.url.as_str();
    for (user_id, username) in [(fixture::LENA_ID, "legacy_lena"), (fixture::NOVA_ID, "nova")] {
        let http = browser();
        let welcome = http.get(url).send().await.unwrap().text().await.unwrap();
        assert!(
            welcome.contains("Offline demo") && welcome.contains("Log in with Discord"),
            "{welcome}"
        );
        let me = get_me(&http, url).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

        let home = log_in(&http, url, user_id).await;
        assert!(home.contains(&format!("@{username}<")), "{home}");
        assert!(home.contains("Log out of all devices"), "{home}");
        let img = home
            .split("<img ")
            .nth(1)
            .unwrap_or_else(|| panic!("no avatar on {home}"));
        let avatar = discord_oauth_mock::html_attribute(img, "src").unwrap();
        let picture = reqwest::get(&avatar).await.unwrap();
        assert_eq!(picture.status(), StatusCode::OK, "{avatar}");
        assert_eq!(picture.headers()[CONTENT_TYPE], "image/png", "{avatar}");
        assert!(picture.bytes().await.unwrap().starts_with(b"\x89PNG"), "{avatar}");

        let me = get_me(&http, url).await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["id"], user_id);
        assert_eq!(me["avatar_url"], avatar.as_str());

        let logout = http
            .post(format!("{url}/auth/logout"))
            .header("origin", url)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::SEE_OTHER, "logout");
        let me = get_me(&http, url).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "logged out");
    }
    let log = site.log();
    assert!(log.contains("offline demo mode"), "{log}");
}
