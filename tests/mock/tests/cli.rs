//! The standalone binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_discord-oauth-mock");

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--bind",
        "--client-id",
        "--client-secret",
        "--public-client",
        "--redirect-uri",
        "--bot-token",
        "--auto-consent",
        "--code-ttl",
        "--access-token-ttl",
        "--include-iss",
        "--public-base-url",
        "--fault",
        "--help",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn standalone_server_prints_its_urls_and_serves_a_code_grant() {
    let mut child = Command::new(BIN)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--client-id",
            "999000000000000001",
            "--client-secret",
            "cli-secret",
            "--redirect-uri",
            "http://127.0.0.1:4000/cb",
            "--auto-consent",
            "--fault",
            "token:429*1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Kill(child);
    // Read the banner on a thread that keeps draining stdout until the process exits.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut authorize = None;
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(u) = line.trim().strip_prefix("authorize URL") {
                authorize = Some(u.trim().to_owned());
            }
            if let Some(u) = line.trim().strip_prefix("token URL")
                && let (Some(a), Some(tx)) = (authorize.clone(), tx.take())
            {
                let _ = tx.send((a, u.trim().to_owned()));
            }
        }
    });
    let (authorize, token) = tokio::task::spawn_blocking(move || rx.recv().unwrap()).await.unwrap();
    assert!(authorize.starts_with("http://127.0.0.1:") && authorize.ends_with("/oauth2/authorize"));
    assert!(token.ends_with("/api/v10/oauth2/token"));

    let http = http();
    let mut u = url::Url::parse(&authorize).unwrap();
    u.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "999000000000000001"),
        ("scope", "identify"),
        ("redirect_uri", "http://127.0.0.1:4000/cb"),
    ]);
    let resp = http.get(u).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let code = params_of(&location(&resp), false)["code"].clone();
    let exchange = || {
        http.post(&token)
            .basic_auth("999000000000000001", Some("cli-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:4000/cb"),
            ])
            .send()
    };
    // --fault token:429*1 answers the first exchange with a rate limit.
    let limited = exchange().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "2");
    let resp = http
        .post(&token)
        .basic_auth("999000000000000001", Some("cli-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:4000/cb"),
        ])
        .send()
        .await
        .unwrap();
    let (s, body) = json_of(resp).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    drop(guard);
}
