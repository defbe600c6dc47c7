//! A login completed in a real browser: headless Chromium (through ChromeDriver) opens the
//! authorization URL that `discord-auth login --no-browser` prints, clicks **Authorize** on the
//! mock Discord's consent page, and lands on the tool's loopback listener.
//!
//! Without Chromium and ChromeDriver the test prints why and passes; with `CI` set, a missing
//! browser fails it (`.ci/run` installs both).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, STEP, finish, free_port};
use discord_oauth_mock::{Endpoint, fixture};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// ChromeDriver and one WebDriver session; the driver process dies with this value.
struct Browser {
    _driver: tokio::process::Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Option<Browser> {
        if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: the browser test needs Debian's chromium and chromium-driver");
            return None;
        }
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::timeout(STEP, async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("chromedriver listens");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Some(Browser {
            _driver: driver,
            client,
            _profile: profile,
        })
    }
}

/// The text of the element matching `css`. Polls: a page that is still navigating (a stale or
/// missing element) is simply read again.
async fn text(client: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..100 {
        match client.find(Locator::Css(css)).await {
            Ok(el) => match el.text().await {
                Ok(text) => return text,
                Err(e) => last = Some(e.to_string()),
            },
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(STEP / 100).await;
    }
    panic!("no readable {css}: {last:?}");
}

#[tokio::test]
async fn browser_login_by_clicking_authorize_on_the_consent_page() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let env = Env::start(false).await;
    let (child, url) = env.start_login(&["--scopes", "identify,guilds"]).await;
    let c = &browser.client;
    c.goto(&url).await.unwrap();
    // The mock's consent page, as the default user.
    assert!(text(c, "body").await.contains("wumpus"));
    c.wait()
        .at_most(STEP)
        .for_element(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Discord redirects to the loopback listener, which answers with its result page.
    let mut title = String::new();
    for _ in 0..200 {
        title = text(c, "h1").await;
        if title == "Logged in" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(title, "Logged in");
    assert!(text(c, "#message").await.contains("Logged in as wumpus"));
    assert!(c.current_url().await.unwrap().as_str().starts_with(&env.redirect_uri));
    let _ = c.clone().close().await;

    let out = finish(child).await;
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(env.discord.count_grant("authorization_code"), 1);
    assert_eq!(env.discord.count(Endpoint::CurrentUser), 1);
    let status = env.run(&["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["state"], "connected");
    assert_eq!(v["user"]["id"], fixture::WUMPUS_ID);
    assert_eq!(v["scopes"], serde_json::json!(["identify", "guilds"]));
}
