//! A real nginx in front, asking the gateway with `auth_request` (forward auth): started by the
//! test on loopback with a generated configuration in a temporary directory, in the
//! foreground, as the current user, its pid file and logs in that directory.
//!
//! Without nginx the test skips with a printed reason, except in CI (`CI` set), where a missing
//! nginx fails it: `.ci/run` installs it (`apt-get install nginx`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use discord_oauth_mock::fixture;
use reqwest::StatusCode;
use support::{Gateway, Upstream, browser, echoed, header, log_in, page};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// nginx's path, if installed (`PATH`, then Debian's `/usr/sbin`).
fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// nginx in the foreground; stopped (and its directory removed) when dropped.
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

impl Nginx {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn config(dir: &Path, port: u16, gateway: u16, upstream: u16) -> String {
    let dir = dir.display();
    format!(
        r"
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    server {{
        listen 127.0.0.1:{port};

        # Forward auth: only nginx asks, with the original request's cookies.
        location = /oauth2/auth {{
            internal;
            proxy_pass http://127.0.0.1:{gateway};
            proxy_pass_request_body off;
            proxy_set_header Content-Length '';
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URI $request_uri;
        }}
        # The gateway's login routes, and /oauth2/start for nginx's 401 below.
        location /auth/ {{
            proxy_pass http://127.0.0.1:{gateway};
            proxy_set_header Host $http_host;
        }}
        location /oauth2/ {{
            proxy_pass http://127.0.0.1:{gateway};
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URI $request_uri;
        }}
        # The protected app, served by nginx's own proxy.
        location / {{
            auth_request /oauth2/auth;
            error_page 401 = /oauth2/start;
            auth_request_set $user $upstream_http_x_auth_request_user;
            auth_request_set $username $upstream_http_x_auth_request_preferred_username;
            auth_request_set $groups $upstream_http_x_auth_request_groups;
            proxy_set_header X-Auth-Request-User $user;
            proxy_set_header X-Auth-Request-Preferred-Username $username;
            proxy_set_header X-Auth-Request-Groups $groups;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"
    )
}

fn start_nginx(nginx: &Path, port: u16, gateway: u16, upstream: u16) -> Nginx {
    let dir = std::env::temp_dir().join(format!("gateway-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(&dir, port, gateway, upstream)).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut nginx = Nginx { child, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = nginx.child.try_wait().unwrap() {
            panic!("nginx exited ({status}):\n{}", nginx.log());
        }
        assert!(Instant::now() < deadline, "nginx did not listen:\n{}", nginx.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_sends_browsers_to_login_and_passes_the_user() {
    let Some(nginx) = find_nginx() else {
        assert!(
            !in_ci(),
            "nginx is required in CI (.ci/run installs it: apt-get install nginx)"
        );
        eprintln!("skipping: nginx is not installed (apt-get install nginx)");
        return;
    };
    let mock = support::mock().await;
    let upstream = Upstream::start().await;
    let nginx_port = support::free_port();
    let site = format!("http://127.0.0.1:{nginx_port}");
    // Browsers see nginx; the gateway's callback is reached through it.
    let gateway_port = support::free_port();
    let gw = Gateway::start_behind(
        &mock,
        &upstream.url,
        &[("ALLOWED_GUILDS", fixture::SECOND_GUILD_ID)],
        gateway_port,
        &site,
    )
    .await;
    let nginx = start_nginx(&nginx, nginx_port, gw.port, upstream.port);

    let (http, _) = browser();
    let anonymous = page(&http, &format!("{site}/protected/page?a=1&b=2")).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "nginx log:\n{}", nginx.log());
    let login = support::location(&anonymous, &site);
    assert_eq!(
        login,
        format!("{site}/auth/login?return_to=%2Fprotected%2Fpage%3Fa%3D1%26b%3D2")
    );
    let back = log_in(&http, &site, &login, fixture::WUMPUS_ID).await;
    assert_eq!(back, format!("{site}/protected/page?a=1&b=2"));

    let echo = echoed(http.get(&back).header("x-auth-request-user", "1").send().await.unwrap()).await;
    assert_eq!(echo["uri"], "/protected/page?a=1&b=2");
    assert_eq!(header(&echo, "x-auth-request-user").unwrap(), fixture::WUMPUS_ID);
    assert_eq!(header(&echo, "x-auth-request-preferred-username").unwrap(), "wumpus");
    assert_eq!(
        header(&echo, "x-auth-request-groups").unwrap(),
        format!("guild:{}", fixture::SECOND_GUILD_ID)
    );

    // Other methods are asked about too (auth_request keeps the method).
    let posted = http.post(&back).body("form=1").send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::OK, "nginx log:\n{}", nginx.log());
    let echo: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(header(&echo, "x-auth-request-user").unwrap(), fixture::WUMPUS_ID);

    // nova is not in the guild: nginx answers 403.
    let (nova, _) = browser();
    let start = page(&nova, &format!("{site}/protected/")).await;
    let login = support::location(&start, &site);
    log_in(&nova, &site, &login, fixture::NOVA_ID).await;
    let refused = page(&nova, &format!("{site}/protected/")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "gateway log:\n{}", gw.log());
    drop(nginx);
}
