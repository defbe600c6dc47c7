//! Shared set-up for the end-to-end tests: a mock Discord on loopback, a vault in a temporary
//! directory (key file, no keyring), and the real `discord-auth` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use discord_oauth_mock::{MockDiscord, fixture};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_discord-auth");

/// How long any single step may take before the test gives up (a hang is a failure, not a
/// timing assertion).
pub const STEP: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Env {
    pub discord: MockDiscord,
    pub home: tempfile::TempDir,
    pub redirect_uri: String,
    pub port: u16,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub passphrase: Option<String>,
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

impl Env {
    /// A mock with the consent page shown (`auto_consent` false) or skipped.
    pub async fn start(auto_consent: bool) -> Env {
        let discord = MockDiscord::builder().auto_consent(auto_consent).start().await.unwrap();
        let port = free_port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        for client in [fixture::CLIENT_ID, fixture::PUBLIC_CLIENT_ID] {
            discord.add_redirect_uri(client, redirect_uri.clone()).unwrap();
        }
        Env {
            discord,
            home: tempfile::tempdir().unwrap(),
            redirect_uri,
            port,
            client_id: fixture::CLIENT_ID.to_owned(),
            client_secret: Some(fixture::CLIENT_SECRET.to_owned()),
            passphrase: None,
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn connection_file(&self, name: &str) -> PathBuf {
        self.home().join("connections").join(format!("{name}.vault"))
    }

    /// The binary with this environment's settings and nothing inherited that could change
    /// its behaviour (display, keyring, passphrase, other Discord settings).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("DISCORD_AUTH_HOME", self.home())
            .env("DISCORD_AUTH_KEYRING", "off")
            .env("DISCORD_CLIENT_ID", &self.client_id)
            .env("DISCORD_API_BASE", self.discord.api_base())
            .env("DISCORD_AUTHORIZE_URL", self.discord.authorize_url())
            .env_remove("DISCORD_CLIENT_SECRET")
            .env_remove("DISCORD_AUTH_PASSPHRASE")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(secret) = &self.client_secret {
            cmd.env("DISCORD_CLIENT_SECRET", secret);
        }
        if let Some(p) = &self.passphrase {
            cmd.env("DISCORD_AUTH_PASSPHRASE", p);
        }
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        output(self.command(args)).await
    }

    /// Starts `login --no-browser` and reads the authorize URL it prints on its own line.
    pub async fn start_login(&self, extra: &[&str]) -> (Child, String) {
        let mut args = vec!["login", "--no-browser", "--redirect-uri", &self.redirect_uri];
        args.extend_from_slice(extra);
        let mut child = self.command(&args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(STEP, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("http") {
                    return line;
                }
            }
            panic!("login printed no authorize URL");
        })
        .await
        .expect("authorize URL within the step limit");
        (child, url)
    }

    /// A login played to the end: the mock consents (auto consent on) and the browser's
    /// redirect is followed to the listener. Returns the listener's page.
    pub async fn login(&self, extra: &[&str]) -> String {
        let (child, url) = self.start_login(extra).await;
        let page = follow_to_callback(&url).await;
        let out = finish(child).await;
        assert!(out.ok(), "login failed: {}", out.stderr);
        page
    }
}

/// An HTTP client that, like these tests need, does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs the authorize URL (auto consent) and then the callback it redirects to; returns the
/// listener's page.
pub async fn follow_to_callback(authorize_url: &str) -> String {
    let http = http();
    let consent = http.get(authorize_url).send().await.unwrap();
    assert!(consent.status().is_redirection(), "mock answered {}", consent.status());
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let page = http.get(&callback).send().await.unwrap();
    page.text().await.unwrap()
}

pub async fn output(mut cmd: Command) -> Output {
    let out = tokio::time::timeout(STEP, cmd.output())
        .await
        .expect("command finished within the step limit")
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits for a spawned command and collects what is left of its output.
pub async fn finish(child: Child) -> Output {
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("command finished within the step limit")
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
