//! The sites' logs (every crate, TRACE level) never contain the client secret, a code, a
//! state, or any token, through login, refresh, failure pages and logout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discord_oauth_mock::{Endpoint, Fault, fixture};
use discord_oauth_scenarios::{SiteKind, TestSite, state_of};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e03_logs_contain_no_secret_and_no_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    for kind in [SiteKind::Axum, SiteKind::Actix] {
        let site = TestSite::start(kind).await;
        let b = site.browser();
        // A login, a refresh, a failed login, a cancelled login, and a logout.
        let authorize = b.start_login(Some("/me")).await;
        let mut secrets = vec![state_of(&authorize)];
        let callback = b.consent(&authorize).await;
        b.get(&callback).await;
        assert!(b.me().await.is_ok());
        site.clock.advance(Duration::from_secs(604_800 - 60));
        assert!(b.me().await.is_ok());
        site.mock.inject(Fault::status(Endpoint::Token, 500).once());
        let other = site.browser();
        other.login(None).await;
        b.logout().await;

        secrets.push(fixture::CLIENT_SECRET.to_owned());
        for r in site.mock.requests() {
            for name in ["code", "code_verifier", "refresh_token", "token", "client_secret"] {
                secrets.extend(r.form_param(name));
            }
            secrets.extend(r.bearer_token().map(str::to_owned));
            secrets.extend(r.query_param("state"));
            secrets.extend(r.query_param("code_challenge"));
        }
        secrets.sort();
        secrets.dedup();
        assert!(secrets.len() >= 8, "collected {} secrets", secrets.len());

        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("user logged in"), "logging is captured");
        assert!(logs.contains("tokens refreshed"));
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "a secret appears in the logs: {}…",
                &secret[..4.min(secret.len())]
            );
        }
    }
}
