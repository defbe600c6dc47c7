//! End-to-end tests of the `discord-auth` binary against the mock Discord: login (the test
//! plays the browser), status, token, refresh single flight, export, run, logout, and the
//! failures that must store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use common::{Env, STEP, all_files, finish, follow_to_callback, http, output};
use discord_auth::vault::{KeyOptions, Vault};
use discord_oauth_mock::{Endpoint, TokenStatus, fixture};

fn file_keys() -> KeyOptions {
    KeyOptions {
        passphrase: None,
        keyring: false,
    }
}

/// Reads the stored connection the way the tool does (test-side check of what was stored).
fn stored(env: &Env, name: &str) -> Option<discord_auth::connection::Connection> {
    let keys = KeyOptions {
        passphrase: env.passphrase.clone().map(zeroize::Zeroizing::new),
        keyring: false,
    };
    Vault::open_existing(env.home(), &keys)
        .unwrap()
        .and_then(|v| v.load(name).unwrap())
}

/// Marks the stored access token as expired (as if a week had passed), at the mock too.
fn expire_stored_token(env: &Env, name: &str) {
    let vault = Vault::open_existing(env.home(), &file_keys()).unwrap().unwrap();
    let mut connection = vault.load(name).unwrap().unwrap();
    connection.tokens.expires_at = SystemTime::now() - Duration::from_secs(1);
    vault.store(name, &connection).unwrap();
    env.discord.expire_access_tokens();
}

#[tokio::test]
async fn login_status_token_export_list_and_logout_against_the_mock() {
    let env = Env::start(true).await;
    let page = env.login(&["--scopes", "identify,email,guilds"]).await;
    assert!(page.contains("Logged in as wumpus"), "{page}");
    let tokens = stored(&env, "default").unwrap().tokens;
    assert!(
        !page.contains(tokens.access_token.secret().as_str()),
        "I-08: no token on the page"
    );
    assert!(!page.contains(tokens.refresh_token.unwrap().secret().as_str()));

    // The authorization request: code flow, PKCE S256, state, our redirect URI.
    let authorize = env.discord.last_request(Endpoint::Authorize).unwrap();
    assert_eq!(authorize.query_param("response_type").as_deref(), Some("code"));
    assert_eq!(authorize.query_param("code_challenge_method").as_deref(), Some("S256"));
    assert!(authorize.query_param("state").is_some_and(|s| s.len() >= 16));
    assert_eq!(
        authorize.query_param("redirect_uri").as_deref(),
        Some(env.redirect_uri.as_str())
    );
    let exchange = env.discord.last_request(Endpoint::Token).unwrap();
    assert_eq!(exchange.grant_type().as_deref(), Some("authorization_code"));
    assert!(exchange.form_param("code_verifier").is_some_and(|v| v.len() >= 43));
    assert_eq!(exchange.basic_auth().unwrap().0, fixture::CLIENT_ID);

    let status = env.run(&["status"]).await;
    assert!(status.ok(), "{}", status.stderr);
    assert!(status.stdout.contains("state:      connected"), "{}", status.stdout);
    assert!(
        status.stdout.contains(&format!("{} (wumpus)", fixture::WUMPUS_ID)),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("identify email guilds"), "{}", status.stdout);

    let json = env.run(&["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["state"], "connected");
    assert_eq!(v["user"]["id"], fixture::WUMPUS_ID);
    assert_eq!(v["user"]["username"], "wumpus");
    assert_eq!(v["scopes"], serde_json::json!(["identify", "email", "guilds"]));
    assert!(v["expires_at_unix"].as_u64().unwrap() > 0);

    let token = env.run(&["token"]).await;
    assert!(token.ok(), "{}", token.stderr);
    let access = token.stdout.trim().to_owned();
    assert_eq!(env.discord.token_status(&access), TokenStatus::Active);
    let refresh = stored(&env, "default")
        .unwrap()
        .tokens
        .refresh_token
        .unwrap()
        .secret()
        .clone();

    let export = env.run(&["export", "--format", "env"]).await;
    assert!(export.ok(), "{}", export.stderr);
    assert!(export.stdout.contains(&format!("DISCORD_ACCESS_TOKEN={access}\n")));
    assert!(
        export
            .stdout
            .contains(&format!("DISCORD_USER_ID={}\n", fixture::WUMPUS_ID))
    );
    assert!(!export.stdout.contains(&refresh), "export leaked the refresh token");
    let export = env.run(&["export", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&export.stdout).unwrap();
    assert_eq!(v["access_token"], access.as_str());
    assert_eq!(v["user_id"], fixture::WUMPUS_ID);
    assert!(!export.stdout.contains(&refresh), "export leaked the refresh token");
    assert!(!export.stdout.contains("refresh"), "{}", export.stdout);

    let list = env.run(&["list"]).await;
    assert!(list.ok());
    assert!(list.stdout.starts_with("default\tconnected\twumpus"), "{}", list.stdout);

    // Logout revokes at Discord, then forgets the connection.
    assert_eq!(env.discord.count(Endpoint::Revoke), 0);
    let logout = env.run(&["logout"]).await;
    assert!(logout.ok(), "{}", logout.stderr);
    assert_eq!(env.discord.count(Endpoint::Revoke), 1);
    assert_eq!(env.discord.token_status(&access), TokenStatus::Revoked);
    assert_eq!(env.discord.token_status(&refresh), TokenStatus::Revoked);
    assert!(!env.connection_file("default").exists());
    let status = env.run(&["status"]).await;
    assert!(!status.ok());
    assert!(status.stdout.contains("not logged in"), "{}", status.stdout);
    let token = env.run(&["token"]).await;
    assert!(!token.ok());
    assert!(token.stderr.contains("not logged in"), "{}", token.stderr);
}

#[tokio::test]
async fn i07_public_client_login_sends_the_client_id_and_pkce_only() {
    let mut env = Env::start(true).await;
    env.client_id = fixture::PUBLIC_CLIENT_ID.to_owned();
    env.client_secret = None;
    env.login(&[]).await;
    let exchange = env.discord.last_request(Endpoint::Token).unwrap();
    assert!(exchange.basic_auth().is_none());
    assert_eq!(
        exchange.form_param("client_id").as_deref(),
        Some(fixture::PUBLIC_CLIENT_ID)
    );
    assert!(exchange.form_param("client_secret").is_none());
    assert!(exchange.form_param("code_verifier").is_some());
    let connection = stored(&env, "default").unwrap();
    assert!(connection.client_secret.is_none());
    // Refresh works as a public client too.
    expire_stored_token(&env, "default");
    let token = env.run(&["token"]).await;
    assert!(token.ok(), "{}", token.stderr);
    assert_eq!(env.discord.count_grant("refresh_token"), 1);
    assert!(
        env.discord
            .last_request(Endpoint::Token)
            .unwrap()
            .basic_auth()
            .is_none()
    );
}

#[tokio::test]
async fn f_eight_concurrent_token_calls_refresh_once() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    let before = stored(&env, "default").unwrap();
    let old_access = before.tokens.access_token.secret().clone();
    let old_refresh = before.tokens.refresh_token.unwrap().secret().clone();
    expire_stored_token(&env, "default");
    assert_eq!(env.discord.count_grant("refresh_token"), 0);

    let calls: Vec<_> = (0..8).map(|_| tokio::spawn(output(env.command(&["token"])))).collect();
    let mut tokens = HashSet::new();
    for call in calls {
        let out = call.await.unwrap();
        assert!(out.ok(), "token failed: {}", out.stderr);
        tokens.insert(out.stdout.trim().to_owned());
    }
    assert_eq!(
        env.discord.count_grant("refresh_token"),
        1,
        "one refresh for eight callers"
    );
    assert_eq!(tokens.len(), 1, "every caller printed the same token");
    let new_access = tokens.into_iter().next().unwrap();
    assert_ne!(new_access, old_access);
    assert_eq!(env.discord.token_status(&new_access), TokenStatus::Active);
    assert_eq!(env.discord.token_status(&old_refresh), TokenStatus::Rotated);
    // The rotated refresh token was stored.
    let after = stored(&env, "default").unwrap();
    assert_eq!(after.tokens.access_token.secret(), &new_access);
    assert_ne!(after.tokens.refresh_token.unwrap().secret(), &old_refresh);

    // A fresh token is not refreshed again.
    let again = env.run(&["token"]).await;
    assert_eq!(again.stdout.trim(), new_access);
    assert_eq!(env.discord.count_grant("refresh_token"), 1);
}

#[tokio::test]
async fn f_a_revoked_grant_asks_for_a_new_login() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    expire_stored_token(&env, "default");
    env.discord.revoke_all_for(fixture::WUMPUS_ID);
    let token = env.run(&["token"]).await;
    assert!(!token.ok());
    assert!(token.stderr.contains("no longer valid at Discord"), "{}", token.stderr);
    assert!(token.stderr.contains("discord-auth login"), "{}", token.stderr);
    assert!(token.stdout.is_empty());
}

/// The child of `discord-auth run` in the tests below: this test binary itself, run with
/// `--ignored --exact`. It reports what it saw to the file named by `CHILD_OUT`.
#[tokio::test]
#[ignore = "runs only as the child of `discord-auth run`"]
async fn run_child() {
    let Ok(out) = std::env::var("CHILD_OUT") else {
        return;
    };
    if std::env::var("CHILD_MODE").as_deref() == Ok("sleep") {
        std::fs::write(&out, "ready").unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        return;
    }
    let base = std::env::var("DISCORD_API_BASE").unwrap();
    let token = std::env::var("DISCORD_ACCESS_TOKEN").unwrap();
    let http = http();
    if std::env::var("CHILD_MODE").as_deref() == Ok("twice") {
        // Two calls to /users/@me; between them the test changes the token behind the proxy.
        let me = || http.get(format!("{base}/users/@me")).bearer_auth(&token).send();
        let first = me().await.unwrap().status().as_u16();
        std::fs::write(format!("{out}.first"), first.to_string()).unwrap();
        let go = format!("{out}.go");
        while !std::path::Path::new(&go).exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let second = me().await.unwrap().status().as_u16();
        std::fs::write(
            &out,
            serde_json::json!({ "first": first, "second": second }).to_string(),
        )
        .unwrap();
        return;
    }
    let me = http
        .get(format!("{base}/users/@me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let me_status = me.status().as_u16();
    let me_body: serde_json::Value = me.json().await.unwrap_or_default();
    let anonymous = http.get(format!("{base}/users/@me")).send().await.unwrap().status();
    let wrong = http
        .get(format!("{base}/users/@me"))
        .bearer_auth("discord-auth-run-guess")
        .send()
        .await
        .unwrap()
        .status();
    let token_endpoint = http
        .post(format!("{base}/oauth2/token"))
        .bearer_auth(&token)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap()
        .status();
    // Sent raw: HTTP clients resolve `%2e%2e` themselves before sending.
    let dotted = raw_status(&base, "/api/v10/users/%2e%2e/oauth2/token", &token).await;
    let report = serde_json::json!({
        "token": token,
        "base": base,
        "me_status": me_status,
        "me": me_body,
        "anonymous": anonymous.as_u16(),
        "wrong": wrong.as_u16(),
        "token_endpoint": token_endpoint.as_u16(),
        "dotted": dotted,
        "secret_in_env": std::env::var_os("DISCORD_CLIENT_SECRET").is_some(),
        "passphrase_in_env": std::env::var_os("DISCORD_AUTH_PASSPHRASE").is_some(),
    });
    std::fs::write(&out, report.to_string()).unwrap();
    let code: i32 = std::env::var("CHILD_EXIT").map_or(0, |c| c.parse().unwrap());
    std::process::exit(code);
}

/// Sends `GET path` as written (no client-side normalization) and returns the status code.
async fn raw_status(base: &str, path: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let authority = base.trim_start_matches("http://").split('/').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

fn child_args() -> Vec<String> {
    let me = std::env::current_exe().unwrap();
    vec![
        "run".into(),
        "--".into(),
        me.to_str().unwrap().into(),
        "run_child".into(),
        "--exact".into(),
        "--ignored".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

#[tokio::test]
async fn l12_run_lends_the_token_to_the_child_without_showing_it() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    let real = stored(&env, "default").unwrap().tokens.access_token.secret().clone();
    let report_file = env.home().join("child-report.json");
    env.discord.clear_requests();

    let args = child_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = env.command(&args);
    cmd.env("CHILD_OUT", &report_file).env("CHILD_EXIT", "7");
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(7), "exit code passes through: {}", out.stderr);

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let placeholder = report["token"].as_str().unwrap();
    assert!(placeholder.starts_with("discord-auth-run-"), "{placeholder}");
    assert_ne!(placeholder, real, "the child never sees the real token");
    assert!(report["base"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(report["me_status"], 200);
    assert_eq!(report["me"]["id"], fixture::WUMPUS_ID);
    assert_eq!(report["anonymous"], 401, "no placeholder: refused");
    assert_eq!(report["wrong"], 401, "a guessed placeholder: refused");
    assert_eq!(report["token_endpoint"], 403, "token endpoint never proxied");
    assert_eq!(report["dotted"], 400, "encoded dot segments refused");
    assert_eq!(report["secret_in_env"], false);
    assert_eq!(report["passphrase_in_env"], false);

    // Only the one authorized request reached Discord, with the real token.
    let seen = env.discord.requests_to(Endpoint::CurrentUser);
    assert_eq!(seen.len(), 1, "refused requests are not forwarded");
    assert_eq!(seen[0].bearer_token(), Some(real.as_str()));
    assert_eq!(env.discord.count(Endpoint::Token), 0);
    assert!(
        env.discord
            .requests()
            .iter()
            .all(|r| r.bearer_token() != Some(placeholder)),
        "the placeholder never reaches Discord"
    );
}

#[tokio::test]
async fn run_refreshes_an_expired_token_before_forwarding() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    expire_stored_token(&env, "default");
    let report_file = env.home().join("child-report.json");
    let args = child_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = env.command(&args);
    cmd.env("CHILD_OUT", &report_file);
    let out = output(cmd).await;
    assert!(out.ok(), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(report["me_status"], 200);
    assert_eq!(env.discord.count_grant("refresh_token"), 1);
    let fresh = stored(&env, "default").unwrap().tokens.access_token.secret().clone();
    assert_eq!(
        env.discord.last_request(Endpoint::CurrentUser).unwrap().bearer_token(),
        Some(fresh.as_str())
    );
}

#[tokio::test]
async fn run_retries_once_with_the_token_another_process_refreshed() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    env.discord.clear_requests();
    let report = env.home().join("child-report.json");
    let args = child_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = env.command(&args);
    cmd.env("CHILD_OUT", &report).env("CHILD_MODE", "twice");
    let child = cmd.spawn().unwrap();
    let first = std::path::PathBuf::from(format!("{}.first", report.display()));
    tokio::time::timeout(STEP, async {
        while !first.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the child made its first call");
    let old = stored(&env, "default").unwrap().tokens.access_token.secret().clone();
    // Discord stops accepting the proxy's token, and another process refreshes.
    env.discord.expire_access_tokens();
    let vault = Vault::open_existing(env.home(), &file_keys()).unwrap().unwrap();
    let mut connection = vault.load("default").unwrap().unwrap();
    connection.tokens.expires_at = SystemTime::now() - Duration::from_secs(1);
    vault.store("default", &connection).unwrap();
    let refreshed = env.run(&["token"]).await;
    assert!(refreshed.ok(), "{}", refreshed.stderr);
    let new = refreshed.stdout.trim().to_owned();
    assert_ne!(new, old);
    std::fs::write(format!("{}.go", report.display()), "").unwrap();
    let out = finish(child).await;
    assert!(out.ok(), "{}", out.stderr);
    let seen: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(seen["first"], 200);
    assert_eq!(seen["second"], 200, "the 401 was retried with the stored token");
    let calls = env.discord.requests_to(Endpoint::CurrentUser);
    let bearers: Vec<_> = calls.iter().map(|r| r.bearer_token().unwrap().to_owned()).collect();
    assert_eq!(
        bearers,
        [old.clone(), old, new],
        "first call, the refused one, the retry"
    );
    assert_eq!(
        env.discord.count_grant("refresh_token"),
        1,
        "the proxy did not refresh again"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn run_forwards_sigterm_and_reports_the_childs_death() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    let ready = env.home().join("child-ready");
    let args = child_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = env.command(&args);
    cmd.env("CHILD_OUT", &ready).env("CHILD_MODE", "sleep");
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    tokio::time::timeout(STEP, async {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the child started");
    let kill = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = finish(child).await;
    assert_eq!(out.status.code(), Some(128 + 15), "{}", out.stderr);
}

#[tokio::test]
async fn run_without_a_command_that_exists_exits_127() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    let out = env.run(&["run", "--", "/nonexistent/discord-auth-test-command"]).await;
    assert_eq!(out.status.code(), Some(127));
    assert!(out.stderr.contains("cannot run"), "{}", out.stderr);
}

#[tokio::test]
async fn login_denied_consent_exits_nonzero_and_stores_nothing() {
    let env = Env::start(false).await;
    let (child, url) = env.start_login(&[]).await;
    // Press "Cancel" on the mock's consent page: its form posts the authorization parameters.
    let query = url.split_once('?').unwrap().1;
    let http = http();
    let denied = http
        .post(env.discord.authorize_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&action=deny"))
        .send()
        .await
        .unwrap();
    assert!(denied.status().is_redirection());
    let callback = denied.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.contains("error=access_denied"));
    let page = http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let page = page.text().await.unwrap();
    assert!(page.contains("You cancelled"), "{page}");
    // I-08: Discord's free-text description is not echoed on the page.
    assert!(!page.contains(discord_oauth_mock::errors::ACCESS_DENIED), "{page}");
    let out = finish(child).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("denied"), "{}", out.stderr);
    assert_eq!(env.discord.count(Endpoint::Token), 0);
    assert!(!env.connection_file("default").exists());
    assert!(stored(&env, "default").is_none());
}

#[tokio::test]
async fn i06_login_with_a_wrong_state_exits_nonzero_and_stores_nothing() {
    let env = Env::start(true).await;
    let (child, _url) = env.start_login(&[]).await;
    let forged = format!("{}?code=forged-code&state=not-the-state", env.redirect_uri);
    let page = http().get(&forged).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("state check failed"));
    let out = finish(child).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("state"), "{}", out.stderr);
    assert_eq!(
        env.discord.count(Endpoint::Token),
        0,
        "no token request for a forged callback"
    );
    assert!(!env.connection_file("default").exists());
}

#[tokio::test]
async fn i04_login_timeout_exits_nonzero_closes_the_listener_and_stores_nothing() {
    let env = Env::start(true).await;
    let (child, _url) = env.start_login(&["--timeout", "1"]).await;
    let out = finish(child).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("no answer from the browser"), "{}", out.stderr);
    assert!(!env.connection_file("default").exists());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", env.port)).await.is_err(),
        "the listener is closed"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn i04_ctrl_c_ends_the_login_closes_the_listener_and_stores_nothing() {
    let env = Env::start(true).await;
    let (child, url) = env.start_login(&[]).await;
    let pid = child.id().unwrap();
    let kill = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = finish(child).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean exit, not death by signal: {}",
        out.stderr
    );
    assert!(out.stderr.contains("interrupted; nothing was stored"), "{}", out.stderr);
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", env.port)).await.is_err());
    // The authorization URL leads nowhere now: Discord's redirect finds no listener.
    let consent = http().get(&url).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(http().get(&callback).send().await.is_err());
    assert_eq!(env.discord.count(Endpoint::Token), 0);
    assert!(!env.connection_file("default").exists());
}

#[tokio::test]
async fn i04_i05_the_listener_answers_only_the_callback() {
    let env = Env::start(true).await;
    let (child, url) = env.start_login(&[]).await;
    let http = http();
    // I-02: the listener is on loopback only; the machine's other addresses do not answer.
    if let Some(ip) = non_loopback_address() {
        assert!(
            tokio::net::TcpStream::connect((ip, env.port)).await.is_err(),
            "the listener answered on {ip}"
        );
    } else {
        eprintln!("no non-loopback address on this machine: the wildcard check is skipped");
    }
    let base = format!("http://127.0.0.1:{}", env.port);
    let other = http.get(format!("{base}/other")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let post = http.post(&env.redirect_uri).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let rebound = http
        .get(format!("{}?code=x&state=y", env.redirect_uri))
        .header("host", format!("attacker.example:{}", env.port))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 400, "a foreign Host header is refused");
    // None of these ended the login: the real answer still completes it.
    let page = follow_to_callback(&url).await;
    assert!(page.contains("Logged in"), "{page}");
    let out = finish(child).await;
    assert!(out.ok(), "{}", out.stderr);
    // A second callback after the first gets nothing: the listener is gone.
    assert!(http.get(&env.redirect_uri).send().await.is_err());
}

/// An address of this machine other than loopback, if it has one (the source address the
/// system would use towards a documentation-only address; nothing is sent).
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn i01_without_a_display_the_authorize_url_is_printed() {
    let env = Env::start(true).await;
    // No --no-browser, but no DISPLAY or WAYLAND_DISPLAY (the test environment removes them).
    let out = env
        .run(&["login", "--redirect-uri", &env.redirect_uri, "--timeout", "1"])
        .await;
    assert!(!out.ok(), "nobody answered");
    let urls: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("http")).collect();
    assert_eq!(urls.len(), 1, "{}", out.stdout);
    assert!(urls[0].starts_with(&env.discord.authorize_url()), "{}", urls[0]);
    assert!(urls[0].contains("code_challenge_method=S256"));
}

#[tokio::test]
async fn i02_i10_the_listener_binds_loopback_and_a_busy_port_is_a_clear_error() {
    let env = Env::start(true).await;
    let busy = std::net::TcpListener::bind(("127.0.0.1", env.port)).unwrap();
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--redirect-uri",
            &env.redirect_uri,
            "--timeout",
            "5",
        ])
        .await;
    assert!(!out.ok());
    assert!(out.stderr.contains("already in use"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "no URL is shown when nothing listens");
    drop(busy);
    let wildcard = env
        .run(&[
            "login",
            "--no-browser",
            "--redirect-uri",
            &format!("http://0.0.0.0:{}/callback", env.port),
        ])
        .await;
    assert_eq!(wildcard.status.code(), Some(2));
    assert!(wildcard.stderr.contains("127.0.0.1"), "{}", wildcard.stderr);
}

#[tokio::test]
async fn e_vault_files_never_hold_the_tokens_or_the_client_secret() {
    let env = Env::start(true).await;
    env.login(&["--scopes", "identify,guilds"]).await;
    let mut secrets = vec![fixture::CLIENT_SECRET.to_owned()];
    let first = stored(&env, "default").unwrap();
    secrets.push(first.tokens.access_token.secret().clone());
    secrets.push(first.tokens.refresh_token.unwrap().secret().clone());
    // A refresh writes the vault again: check the second generation too.
    expire_stored_token(&env, "default");
    assert!(env.run(&["token"]).await.ok());
    let second = stored(&env, "default").unwrap();
    secrets.push(second.tokens.access_token.secret().clone());
    secrets.push(second.tokens.refresh_token.unwrap().secret().clone());

    let files = all_files(env.home());
    assert!(
        files.iter().any(|f| f.ends_with("connections/default.vault")),
        "{files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} holds a secret in plaintext",
                file.display()
            );
        }
        assert!(
            !file.to_string_lossy().ends_with(".tmp"),
            "temporary file left: {}",
            file.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in &files {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", file.display());
        }
    }
}

#[tokio::test]
async fn a_truncated_vault_file_is_a_clear_error_and_is_left_alone() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    let file = env.connection_file("default");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = std::fs::read(&file).unwrap();
    for args in [&["status"][..], &["token"], &["export"], &["list"]] {
        let out = env.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(file.to_str().unwrap()), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("damaged or truncated"), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // A new login refuses to overwrite it.
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--redirect-uri",
            &env.redirect_uri,
            "--timeout",
            "5",
        ])
        .await;
    assert!(!out.ok());
    assert!(out.stderr.contains(file.to_str().unwrap()), "{}", out.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), truncated, "never silently replaced");

    // A file of another vault (another key) is refused the same way.
    let other = Env::start(true).await;
    other.login(&[]).await;
    std::fs::copy(other.connection_file("default"), &file).unwrap();
    let out = env.run(&["status"]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("cannot be decrypted"), "{}", out.stderr);
}

#[tokio::test]
async fn a_passphrase_vault_needs_the_passphrase() {
    let mut env = Env::start(true).await;
    env.passphrase = Some("correct horse battery staple".into());
    env.login(&[]).await;
    assert!(!env.home().join("vault.key").exists(), "no key file with a passphrase");
    let token = env.run(&["token"]).await;
    assert!(token.ok(), "{}", token.stderr);
    env.passphrase = None;
    let out = env.run(&["token"]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("DISCORD_AUTH_PASSPHRASE"), "{}", out.stderr);
    env.passphrase = Some("wrong".into());
    let out = env.run(&["status"]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
}

#[tokio::test]
async fn two_named_connections_live_side_by_side() {
    let env = Env::start(true).await;
    env.login(&[]).await;
    env.discord.set_default_user(fixture::LENA_ID).unwrap();
    env.login(&["--connection", "work"]).await;
    let list = env.run(&["list"]).await;
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", list.stdout);
    assert!(lines[0].starts_with("default\tconnected\twumpus"), "{}", list.stdout);
    assert!(lines[1].starts_with("work\tconnected\tlegacy_lena"), "{}", list.stdout);
    let work = env.run(&["--connection", "work", "status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&work.stdout).unwrap();
    assert_eq!(v["user"]["id"], fixture::LENA_ID);
    assert!(env.run(&["logout", "--connection", "work"]).await.ok());
    assert!(env.run(&["status"]).await.ok(), "the other connection is untouched");
    let bad = env.run(&["--connection", "../x", "status"]).await;
    assert_eq!(bad.status.code(), Some(2));
}
