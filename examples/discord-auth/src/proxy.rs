//! `discord-auth run -- CMD`: a reverse proxy on 127.0.0.1 that lends CMD the connection's
//! access token without ever showing it.
//!
//! CMD gets `DISCORD_API_BASE=http://127.0.0.1:PORT/api/v10` and
//! `DISCORD_ACCESS_TOKEN=<placeholder>`, a random value made for this run alone. For each
//! request the proxy:
//! - refuses (401, nothing forwarded) any request whose `Authorization` is not exactly
//!   `Bearer <placeholder>`: another local process, or a web page that found the port, does not
//!   know it;
//! - refuses (400) paths with dot segments or encoded separators, so no spelling reaches an
//!   endpoint the rules below exclude; and requests whose `Host` is not the proxy's own;
//! - refuses (403) Discord's OAuth2 token, revocation and authorization endpoints: the
//!   connection's refresh token and client secret are never sent on CMD's behalf;
//! - forwards webhook and interaction token paths (`/webhooks/{id}/{token}…`,
//!   `/interactions/{id}/{token}…`) **without** any `Authorization`: their own token is in
//!   the path, and the user's token has no business there;
//! - forwards every other `/api/…` request to the connection's real API base, with
//!   `Authorization: Bearer <real token>`, refreshing the token first when it is close to
//!   expiry (under the same file lock as `discord-auth token`). If Discord answers 401 and the
//!   vault holds a newer token (another process refreshed), the request is retried once.
//!
//! Unlike a TLS-intercepting proxy, nothing needs a local CA and only CMD (or whoever CMD
//! hands the placeholder to) can use the proxy. It is not a sandbox: any process running as the
//! same user can read the vault's key file or ask the keyring, as it could run
//! `discord-auth token`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::{AccessToken, constant_time_eq};
use rand::RngExt as _;
use url::Url;

use crate::connection::{Connection, REFRESH_MARGIN};
use crate::error::{Error, Result};
use crate::tokens::{fresh_connection, refresh_locked};
use crate::transport::{Http, without_url};
use crate::vault::Vault;

/// The largest request body the proxy accepts from CMD (Discord's own upload limits are below).
pub const MAX_REQUEST_BYTES: usize = 512 * 1024 * 1024;

/// Environment variables removed from CMD's environment: secrets CMD must not see.
pub const SCRUBBED_ENV: &[&str] = &[
    "DISCORD_AUTH_PASSPHRASE",
    "DISCORD_CLIENT_SECRET",
    "DISCORD_REFRESH_TOKEN",
];

/// Where a request path goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward with the real token; the upstream URL (without the query).
    Inject(String),
    /// Forward without any `Authorization` (webhook and interaction token paths).
    NoAuth(String),
    /// The OAuth2 token, revocation or authorization endpoints: refused.
    TokenEndpoint,
    /// Dot segments, encoded separators, backslashes or empty segments: refused.
    Suspicious,
    /// Not under `/api/`: not found.
    NotApi,
}

fn is_version(segment: &str) -> bool {
    segment.len() > 1 && segment.starts_with('v') && segment[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Classifies a request path and builds its upstream URL under `api_base`
/// (`https://discord.com/api/v10`). `/api/vN/rest` keeps its version when the base has one;
/// `/api/rest` goes to the base as is.
pub fn route(path: &str, api_base: &Url) -> Route {
    let Some(after_api) = path.strip_prefix("/api/") else {
        return Route::NotApi;
    };
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
        return Route::Suspicious;
    }
    let mut segments: Vec<&str> = after_api.split('/').collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Route::Suspicious;
    }
    let version = segments.first().copied().filter(|s| is_version(s));
    let rest: Vec<&str> = if version.is_some() {
        segments[1..].to_vec()
    } else {
        segments.clone()
    };
    let lowered: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let first = lowered.first().map(String::as_str);
    let second = lowered.get(1).map(String::as_str);
    if first == Some("oauth2") && matches!(second, Some("token" | "authorize")) {
        return Route::TokenEndpoint;
    }
    let base = api_base.as_str().trim_end_matches('/');
    let base_root = match base.rsplit_once('/') {
        Some((root, last)) if is_version(last) => Some(root),
        _ => None,
    };
    let tail = if rest.is_empty() {
        String::new()
    } else {
        format!("/{}", rest.join("/"))
    };
    let tail = if path.ends_with('/') && !tail.is_empty() {
        format!("{tail}/")
    } else {
        tail
    };
    let upstream = match (version, base_root) {
        (Some(v), Some(root)) => format!("{root}/{v}{tail}"),
        _ => format!("{base}{tail}"),
    };
    if matches!(first, Some("webhooks" | "interactions")) && rest.len() >= 3 {
        Route::NoAuth(upstream)
    } else {
        Route::Inject(upstream)
    }
}

struct Proxy {
    placeholder: String,
    hosts: [String; 2],
    vault: Arc<Vault>,
    name: String,
    http: Http,
    connection: tokio::sync::Mutex<Connection>,
}

impl Proxy {
    /// The current token, refreshed first when close to expiry (single flight: the mutex within
    /// this process, the file lock across processes).
    async fn token(&self) -> Result<AccessToken> {
        let mut current = self.connection.lock().await;
        if current.tokens.expires_within(SystemTime::now(), REFRESH_MARGIN) {
            let (fresh, _) =
                refresh_locked(&self.vault, &self.name, &self.http, REFRESH_MARGIN, Some(&current)).await?;
            *current = fresh;
        }
        Ok(current.tokens.access_token.clone())
    }

    /// After a 401 with `used`: if the vault holds another token now, adopt it and return it.
    async fn newer_token(&self, used: &AccessToken) -> Option<AccessToken> {
        let stored = self.vault.load(&self.name).ok().flatten()?;
        if stored.tokens.access_token.secret() == used.secret() {
            return None;
        }
        let token = stored.tokens.access_token.clone();
        *self.connection.lock().await = stored;
        Some(token)
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message, "code": 0 }).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn forwardable(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str())
        && name != header::HOST
        && name != header::AUTHORIZATION
        && name != header::CONTENT_LENGTH
}

fn has_placeholder(headers: &HeaderMap, placeholder: &str) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(token.trim(), placeholder)
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let host_ok = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| proxy.hosts.iter().any(|ok| h.eq_ignore_ascii_case(ok)));
    if !host_ok {
        return json_error(StatusCode::BAD_REQUEST, "discord-auth run: wrong Host header");
    }
    if !has_placeholder(&parts.headers, &proxy.placeholder) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "401: Unauthorized (discord-auth run: send Authorization: Bearer $DISCORD_ACCESS_TOKEN)",
        );
    }
    let api_base = proxy.connection.lock().await.api_base.clone();
    let (upstream, inject) = match route(parts.uri.path(), &api_base) {
        Route::Inject(u) => (u, true),
        Route::NoAuth(u) => (u, false),
        Route::TokenEndpoint => {
            return json_error(
                StatusCode::FORBIDDEN,
                "discord-auth run: the OAuth2 token, revocation and authorization endpoints are not proxied",
            );
        }
        Route::Suspicious => {
            return json_error(StatusCode::BAD_REQUEST, "discord-auth run: malformed path");
        }
        Route::NotApi => {
            return json_error(
                StatusCode::NOT_FOUND,
                "404: Not Found (discord-auth run serves /api/ only)",
            );
        }
    };
    let upstream = match parts.uri.query() {
        Some(q) => format!("{upstream}?{q}"),
        None => upstream,
    };
    let body: Bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "discord-auth run: request body too large",
            );
        }
    };
    let mut token = if inject {
        match proxy.token().await {
            Ok(t) => Some(t),
            Err(e) => return json_error(StatusCode::BAD_GATEWAY, &format!("discord-auth run: {e}")),
        }
    } else {
        None
    };
    let mut retried = false;
    loop {
        let mut builder = proxy.http.reqwest().request(parts.method.clone(), &upstream);
        for (name, value) in &parts.headers {
            if forwardable(name) {
                builder = builder.header(name, value);
            }
        }
        if let Some(t) = &token {
            let Ok(mut value) = HeaderValue::try_from(format!("Bearer {}", t.secret())) else {
                return json_error(StatusCode::BAD_GATEWAY, "discord-auth run: unusable stored token");
            };
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let response = match builder.body(body.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_GATEWAY,
                    &format!("discord-auth run: cannot reach Discord: {}", without_url(&e)),
                );
            }
        };
        if response.status() == StatusCode::UNAUTHORIZED
            && !retried
            && let Some(used) = &token
            && let Some(newer) = proxy.newer_token(used).await
        {
            retried = true;
            token = Some(newer);
            continue;
        }
        return stream_back(response);
    }
}

fn stream_back(response: reqwest::Response) -> Response {
    let status = response.status();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let stream = futures_util::stream::unfold(Some(response), |state| async move {
        let mut response = state?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<Bytes, std::io::Error>(chunk), Some(response))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(without_url(&e))), None)),
        }
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn placeholder() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    let mut out = String::from("discord-auth-run-");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Runs `command` behind the proxy and returns its exit status as a process exit code
/// (128 + N when it was killed by signal N).
pub async fn run(vault: Arc<Vault>, http: Http, name: &str, command: &[OsString]) -> Result<u8> {
    let Some((program, args)) = command.split_first() else {
        return Err(Error::Usage(
            "run needs a command: discord-auth run -- CMD ARGS…".into(),
        ));
    };
    let (connection, _) = fresh_connection(&vault, name, &http, Duration::ZERO).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot read the proxy's address: {e}")))?;
    let secret = placeholder();
    let proxy = Arc::new(Proxy {
        placeholder: secret.clone(),
        hosts: [
            format!("127.0.0.1:{}", addr.port()),
            format!("localhost:{}", addr.port()),
        ],
        vault,
        name: name.to_owned(),
        http,
        connection: tokio::sync::Mutex::new(connection),
    });
    let app = axum::Router::new().fallback(handle).with_state(proxy);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("DISCORD_API_BASE", format!("http://{addr}/api/v10"))
        .env("DISCORD_ACCESS_TOKEN", &secret);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let child = cmd.spawn().map_err(|e| Error::Spawn {
        program: program.to_string_lossy().into_owned(),
        source: e,
    });
    let code = match child {
        Ok(child) => wait_forwarding_signals(child).await,
        Err(e) => Err(e),
    };
    server.abort();
    code
}

#[cfg(unix)]
async fn wait_forwarding_signals(mut child: tokio::process::Child) -> Result<u8> {
    use std::io::IsTerminal as _;
    use std::os::unix::process::ExitStatusExt as _;

    use rustix::process::{Pid, Signal, kill_process};
    use tokio::signal::unix::{SignalKind, signal};

    let pid = child.id().and_then(|id| i32::try_from(id).ok().and_then(Pid::from_raw));
    let listen = |kind: SignalKind| signal(kind).map_err(|e| Error::Usage(format!("cannot handle signals: {e}")));
    let mut term = listen(SignalKind::terminate())?;
    let mut int = listen(SignalKind::interrupt())?;
    let mut hup = listen(SignalKind::hangup())?;
    let mut quit = listen(SignalKind::quit())?;
    let mut usr1 = listen(SignalKind::user_defined1())?;
    let mut usr2 = listen(SignalKind::user_defined2())?;
    // Ctrl-C in a terminal already reaches CMD (same foreground process group): forwarding it
    // too would deliver it twice.
    let forward_int = !std::io::stdin().is_terminal();
    let forward = |sig: Signal| {
        if let Some(pid) = pid {
            let _ = kill_process(pid, sig);
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = term.recv() => forward(Signal::TERM),
            _ = int.recv() => if forward_int { forward(Signal::INT) },
            _ = hup.recv() => forward(Signal::HUP),
            _ = quit.recv() => forward(Signal::QUIT),
            _ = usr1.recv() => forward(Signal::USR1),
            _ = usr2.recv() => forward(Signal::USR2),
        }
    }
    .map_err(|e| Error::Usage(format!("cannot wait for the command: {e}")))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).min(255) as u8,
        (None, None) => 1,
    })
}

#[cfg(not(unix))]
async fn wait_forwarding_signals(mut child: tokio::process::Child) -> Result<u8> {
    let status = child
        .wait()
        .await
        .map_err(|e| Error::Usage(format!("cannot wait for the command: {e}")))?;
    Ok(status.code().map_or(1, |c| (c & 0xff) as u8))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn base() -> Url {
        "https://discord.com/api/v10".parse().unwrap()
    }

    #[test]
    fn l12_routes_keep_tokens_away_from_token_and_webhook_paths() {
        let b = base();
        assert_eq!(
            route("/api/v10/users/@me", &b),
            Route::Inject("https://discord.com/api/v10/users/@me".into())
        );
        assert_eq!(
            route("/api/v9/users/@me/guilds", &b),
            Route::Inject("https://discord.com/api/v9/users/@me/guilds".into())
        );
        assert_eq!(
            route("/api/users/@me", &b),
            Route::Inject("https://discord.com/api/v10/users/@me".into())
        );
        assert_eq!(
            route("/api/v10/oauth2/@me", &b),
            Route::Inject("https://discord.com/api/v10/oauth2/@me".into())
        );
        for token_path in [
            "/api/v10/oauth2/token",
            "/api/v10/oauth2/token/revoke",
            "/api/oauth2/token",
            "/api/v10/OAuth2/Token",
            "/api/v10/oauth2/authorize",
        ] {
            assert_eq!(route(token_path, &b), Route::TokenEndpoint, "{token_path}");
        }
        assert_eq!(
            route("/api/v10/webhooks/123/tok-en", &b),
            Route::NoAuth("https://discord.com/api/v10/webhooks/123/tok-en".into())
        );
        assert_eq!(
            route("/api/v10/interactions/1/tok/callback", &b),
            Route::NoAuth("https://discord.com/api/v10/interactions/1/tok/callback".into())
        );
        for odd in [
            "/api/v10/users/../oauth2/token",
            "/api/v10/users/%2e%2e/oauth2/token",
            "/api/v10/oauth2%2ftoken",
            "/api/v10//oauth2/token",
            "/api/v10/./oauth2/token",
            "/api/v10/users\\x",
        ] {
            assert_eq!(route(odd, &b), Route::Suspicious, "{odd}");
        }
        assert_eq!(route("/users/@me", &b), Route::NotApi);
        assert_eq!(route("/oauth2/token", &b), Route::NotApi);
    }

    #[test]
    fn l12_only_the_exact_placeholder_is_accepted() {
        let p = "discord-auth-run-abc";
        let mut h = HeaderMap::new();
        assert!(!has_placeholder(&h, p));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer discord-auth-run-abc"),
        );
        assert!(has_placeholder(&h, p));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bot discord-auth-run-abc"),
        );
        assert!(!has_placeholder(&h, p));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer discord-auth-run-abd"),
        );
        assert!(!has_placeholder(&h, p));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer discord-auth-run-abc"),
        );
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer other"));
        assert!(!has_placeholder(&h, p), "two Authorization headers");
        let a = placeholder();
        assert!(a.starts_with("discord-auth-run-") && a.len() == 17 + 64);
        assert_ne!(a, placeholder());
    }
}
