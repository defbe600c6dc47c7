//! `discord-oauth-gateway`: "Log in with Discord", and guild/role gating, in front of any web
//! app — a reverse proxy in the manner of oauth2-proxy, Discord-specific.
//!
//! ```sh
//! UPSTREAM=http://127.0.0.1:8080 ALLOWED_GUILDS=1200000000000000001 \
//! DISCORD_CLIENT_ID=… DISCORD_CLIENT_SECRET=… DISCORD_REDIRECT_URI=https://app.example/auth/callback \
//! BIND=0.0.0.0:4180 cargo run --release -p discord-oauth-gateway
//! ```
//!
//! Built from the library: the login routes, sessions (memory or Redis, shared by instances
//! exactly as the sample sites share them), token refresh and the authenticated fast path are
//! `discord-oauth-axum`'s mounting of `DiscordOAuthLayer`; the answers to visitors who are not
//! logged in or not allowed are the core's [`Refusal`]s (`303` to `/auth/login?return_to=…` for
//! page loads, `401` JSON for API clients, `403`); guild and role decisions are the core's
//! `GuildRequirement` judgements, asked of Discord through the layer's user-bound client
//! (`UserApi`: rate limits, invalid-request budget). The proxy is hyper's client.
//!
//! The guide `guides/gateway.md` walks from the offline demo to production; `tests/guide.rs` checks it.
//!
//! # Settings
//! The sample sites' (see `sample-common`: `DISCORD_*`, `BIND`, `SESSION_STORE`, `REDIS_URL`,
//! `SESSION_KEY`, `SESSION_KEY_PREVIOUS`; offline demo against the in-process mock Discord
//! when `DISCORD_CLIENT_ID` is unset), and:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `UPSTREAM` | the app behind the gateway, `http://host:port[/base]` | required |
//! | `ALLOWED_USERS` | Discord user ids, comma-separated | — |
//! | `ALLOWED_GUILDS` | guild ids: members pass (asks for `guilds`) | — |
//! | `ALLOWED_ROLES` | `guild_id:role_id` pairs: holders pass (asks for `guilds.members.read`) | — |
//! | `SKIP_AUTH` | routes proxied without login: `METHOD=path-regex` or `path-regex`, comma-separated | — |
//! | `RECHECK_INTERVAL` | how long a guild/role decision is trusted: `60`, `30s`, `500ms`, `5m` | `60s` |
//! | `PASS_ACCESS_TOKEN` | send the user's Discord token as `X-Forwarded-Access-Token` | `false` |
//! | `DISCORD_EXTRA_SCOPES` | more scopes to ask for, e.g. `email` (for `X-Forwarded-Email`) | — |
//!
//! `--config gateway.toml` reads the same keys from a TOML file (any case; lists may be TOML
//! arrays, whose items may then contain commas); the environment wins over the file. A
//! mistake stops startup with a sentence that starts with the key.
//!
//! # What was chosen where the issue was silent
//! - **Lists combine with "any"**: a user passes when ANY listed user id, guild or role
//!   matches. With no list set, every Discord user who logs in passes.
//! - **Re-check interval 60 s** (`RECHECK_INTERVAL`), the library guards' own TTL: a member
//!   removed from a guild, or whose role is removed, is refused at most that long after.
//!   Decisions are kept per user and requirement in the core's bounded `GuardDecisions`
//!   (10,000); a user's concurrent requests re-check once (single flight per user); the
//!   user-bound client's read cache is off, so a re-check really asks Discord:
//!   the guild list once (`GET /users/@me/guilds`) for all listed guilds, the member record
//!   once per listed guild with roles (`GET /users/@me/guilds/{id}/member`). When Discord
//!   cannot be asked (rate limited beyond the client's wait bound, down), the answer is `503`
//!   with `Retry-After`, never a pass; a user in `ALLOWED_USERS` still passes, without groups.
//! - **Scopes**: `identify`, plus `guilds` when `ALLOWED_GUILDS` is set and
//!   `guilds.members.read` when `ALLOWED_ROLES` is set. `X-Forwarded-Email` needs `email` in
//!   `DISCORD_EXTRA_SCOPES` and is sent only for a verified address.
//! - **Headers to the upstream**: `X-Forwarded-User` (Discord id),
//!   `X-Forwarded-Preferred-Username` (Discord username), `X-Forwarded-Email`,
//!   `X-Forwarded-Groups` (comma-separated `guild:ID` and `guild:ID:role:ID`, only the listed
//!   ones the user holds), `X-Forwarded-Access-Token` (with `PASS_ACCESS_TOKEN`). A client's
//!   headers of these names (and `X-Auth-Request-*`) are removed from every request, skip-auth
//!   routes included. The gateway's session and login cookies are removed from `Cookie`.
//!   `X-Forwarded-For` gets the peer appended; `X-Forwarded-Proto` is `https` when
//!   `DISCORD_REDIRECT_URI` is, else `http`; `X-Forwarded-Host` is the request's `Host`, which
//!   is passed on unchanged. Hop-by-hop headers are dropped.
//! - **Skip-auth routes** are matched on the path (not the query), unanchored as written (use
//!   `^…$`), and get no identity headers. A path with dot segments (`/./`, `/../`, also
//!   percent-encoded) or an encoded slash never skips login: the upstream could normalise it
//!   into a protected path.
//! - **The gateway's own routes** come first: `/auth/login`, `/auth/callback`,
//!   `POST /auth/logout`, `GET /oauth2/auth` (forward auth: `202` with `X-Auth-Request-User`,
//!   `-Preferred-Username`, `-Email`, `-Groups`; `401`; `403`), `GET /oauth2/start` (`303` to
//!   the login, coming back to `?rd=` or the `X-Original-URI` / `X-Forwarded-Uri` header: for
//!   nginx's `error_page 401`), `GET /oauth2/userinfo` (JSON), `GET /ready`, and with
//!   `DISCORD_PUBLIC_KEY` `POST /discord/events` (deauthorized users' sessions end).
//!   Everything else is proxied.
//! - **Upstream**: plain `http://` (the app next to the gateway); connecting may take 10 s,
//!   then `502` (a page for page loads, JSON otherwise). No time limit once it answers
//!   (streams, WebSockets).
#![forbid(unsafe_code)]

mod access;
mod proxy;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use discord_oauth_axum::core::login::revocation::channel_for;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    AuthState, DiscordOAuth, DiscordOAuthLayer, MemoryStore, RedisRefreshLock, RedisRevocations,
    SessionKeyRotationLayer,
};
use discord_oauth_core::Scope;
use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_core::login::answer::{Refusal, request_context};
use discord_oauth_core::login::flow::{GuardDecisions, GuildRequirement};
use discord_oauth_core::login::{AuthSession, LoginConfig};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sample_common::redis::FredRedis;
use sample_common::{BoxError, Sample, SessionStore};
use tower_sessions::cookie::Key;
use tower_sessions_redis_store::RedisStore;

use crate::access::{Policy, Verdict};
use crate::proxy::{Identity, Proxy, remove_identity_headers};
use crate::settings::{GatewaySettings, SkipRule, Sources};

const USAGE: &str = "usage: discord-oauth-gateway [--config gateway.toml]\n\
    Settings come from the environment (and the file): UPSTREAM, ALLOWED_USERS, ALLOWED_GUILDS,\n\
    ALLOWED_ROLES, SKIP_AUTH, RECHECK_INTERVAL, PASS_ACCESS_TOKEN, DISCORD_EXTRA_SCOPES, and the\n\
    sample sites' DISCORD_*, BIND, SESSION_STORE, REDIS_URL, SESSION_KEY. See README.md.";

#[tokio::main]
async fn main() -> ExitCode {
    let mut config_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                let Some(path) = args.next() else {
                    eprintln!("configuration error: --config needs a file name\n{USAGE}");
                    return ExitCode::FAILURE;
                };
                config_file = Some(path.into());
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("configuration error: unknown argument `{other}`\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    let settings = match read_settings(config_file) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let site = settings.site.clone();
    sample_common::run_with("gateway", site, move |sample| serve(sample, settings)).await
}

fn read_settings(config_file: Option<PathBuf>) -> Result<GatewaySettings, String> {
    let text = match &config_file {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| format!("--config {}: cannot read it: {e}", path.display()))?,
        ),
        None => None,
    };
    let file = config_file.as_deref().zip(text.as_deref());
    let sources = Sources::new(|key| std::env::var(key).ok(), file)?;
    GatewaySettings::read(&sources)
}

/// The gateway's state, shared by its handlers.
#[derive(Debug)]
struct Gateway {
    proxy: Proxy,
    policy: Policy,
    skip_auth: Vec<SkipRule>,
    pass_access_token: bool,
    config: LoginConfig,
}

type Shared = Arc<Gateway>;

/// The login layer, the gateway's routes, the proxy, the session store.
async fn serve(sample: Sample, settings: GatewaySettings) -> Result<(), BoxError> {
    let config = sample
        .login
        .clone()
        .scopes(settings.scopes.iter().cloned().collect::<discord_oauth_core::Scopes>())
        .build()?;
    let (key, previous_keys) = sample.cookie_keys::<Key>()?;
    // The gateway's membership decisions are its cache; the client's read cache is off, so a
    // re-check asks Discord.
    let api = ApiDriverConfig {
        cache_ttl: Duration::ZERO,
        ..ApiDriverConfig::default()
    };
    let layer = DiscordOAuthLayer::builder(config.clone(), ReqwestTransport::new()?).api(api);
    let gateway = Arc::new(Gateway {
        proxy: Proxy::new(
            settings.upstream.clone(),
            config.secure_cookies(),
            config.session_cookie_name(),
            config.login_cookie_prefix(),
        ),
        policy: Policy::new(
            settings.allowed_users.clone(),
            settings.requirements.clone(),
            GuardDecisions::with_ttl(settings.recheck_interval),
        ),
        skip_auth: settings.skip_auth.clone(),
        pass_access_token: settings.pass_access_token,
        config: config.clone(),
    });
    let routes = Router::new()
        // Any method: nginx's auth_request asks with the original request's method.
        .route("/oauth2/auth", any(forward_auth))
        .route("/oauth2/start", get(start))
        .route("/oauth2/userinfo", get(userinfo))
        .route("/ready", get(|| async { "OK" }))
        .fallback(proxy_request)
        .with_state(gateway);
    let (oauth, app) = match &sample.session_store {
        SessionStore::Memory => {
            let oauth = DiscordOAuth::from_layer(layer.build());
            let app = oauth.mount_with(routes, MemoryStore::default(), |s| s.with_private(key.clone()));
            (oauth, app)
        }
        SessionStore::Redis { url } => {
            // Several instances share sessions, token refreshes and logouts through Redis.
            let redis = FredRedis::connect(url).await?;
            let channel = channel_for(config.client().client_id().as_str());
            let revocations = RedisRevocations::connect_to(redis.pool.clone(), redis.subscriber, &channel).await?;
            let layer = layer
                .refresh_lock(RedisRefreshLock::new(redis.client.clone()))
                .revocation_broadcast(revocations);
            let oauth = DiscordOAuth::from_layer(layer.build());
            let app = oauth.mount_with(routes, RedisStore::new(redis.client), |s| s.with_private(key.clone()));
            (oauth, app)
        }
        SessionStore::Cookie => {
            return Err("SESSION_STORE=cookie: the gateway keeps sessions in `memory` or `redis`".into());
        }
    };
    let mut app = match sample.events.clone() {
        Some(verifier) => app.route(
            "/discord/events",
            oauth.events_receiver(verifier, sample_common::log_event),
        ),
        None => app,
    };
    if !previous_keys.is_empty() {
        app = app.layer(SessionKeyRotationLayer::new(&config, key, previous_keys));
    }
    tracing::info!(
        upstream = %settings.upstream.authority,
        scopes = %settings.scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
        recheck_interval = ?settings.recheck_interval,
        "gateway: sessions are kept in {}",
        sample.session_store.redacted()
    );
    sample.listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(sample.listener)?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

/// A logged-in user the policy lets through, with the listed guilds and roles they hold.
struct Allowed {
    session: Arc<AuthSession>,
    held: Vec<GuildRequirement>,
}

impl Gateway {
    /// The decision for a request to `here`: the user and groups, or the answer (`303`/`401`
    /// when not logged in, `403` when not allowed, `503` when Discord cannot be asked).
    async fn authorize(&self, state: Option<&AuthState>, here: &str, html: bool) -> Result<Allowed, Response> {
        let Some(state) = state else {
            let refusal = Refusal::Misconfigured {
                message: "the gateway's routes must be inside DiscordOAuthLayer",
            };
            return Err(refusal.answer("/").into_response());
        };
        let session = state
            .require(|| (here, html))
            .map_err(|refusal| refusal.answer("/").into_response())?
            .clone();
        match self.policy.decide(&session, state.user_api().as_ref()).await {
            Ok(Verdict::Allowed(held)) => Ok(Allowed { session, held }),
            Ok(Verdict::Denied) => {
                tracing::info!(user_id = %session.user.id, "not on the allow lists: 403");
                let refusal = Refusal::Forbidden {
                    html,
                    reason: "Your Discord account is not allowed here: it is not in the servers or roles this site admits.",
                };
                Err(refusal.answer("/").into_response())
            }
            Err(e) => Err(e.refusal(state.login_url(here), html).answer("/").into_response()),
        }
    }

    /// The identity headers (names start with `prefix`) for `allowed`.
    fn identity(&self, allowed: &Allowed, prefix: &str) -> Vec<(HeaderName, HeaderValue)> {
        let user = &allowed.session.user;
        let tokens = allowed.session.tokens.as_ref();
        let email = user
            .email
            .as_deref()
            .filter(|_| user.verified == Some(true))
            .filter(|_| tokens.is_some_and(|t| t.has_scope(&Scope::Email)));
        let groups = Policy::groups(&allowed.held).join(",");
        let token = tokens
            .filter(|_| self.pass_access_token)
            .map(|t| t.access_token.secret().as_str());
        let values = [
            ("user", Some(user.id.to_string())),
            ("preferred-username", Some(user.username.clone())),
            ("email", email.map(str::to_owned)),
            ("groups", (!groups.is_empty()).then_some(groups)),
            ("access-token", token.map(str::to_owned)),
        ];
        values
            .into_iter()
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(format!("{prefix}{name}").as_bytes()).ok()?;
                let value = HeaderValue::from_str(&value?).ok()?;
                Some((name, value))
            })
            .collect()
    }

    fn skips_auth(&self, method: &http::Method, path: &str) -> bool {
        !self.skip_auth.is_empty() && plain_path(path) && self.skip_auth.iter().any(|r| r.matches(method, path))
    }
}

/// `false` for paths an upstream might normalise into another one: dot segments (also
/// percent-encoded), encoded slashes or backslashes.
fn plain_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return false;
    }
    lower.split('/').all(|segment| {
        let segment = segment.replace("%2e", ".");
        segment != "." && segment != ".."
    })
}

/// Every request that is not the gateway's own: proxied, after the login and the allow lists.
async fn proxy_request(
    State(gateway): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    remove_identity_headers(&mut parts.headers);
    let (here, html) = request_context(&parts.method, &parts.uri, &parts.headers);
    if gateway.skips_auth(&parts.method, parts.uri.path()) {
        return gateway.proxy.forward(parts, body, peer, None, html).await;
    }
    let here = here.to_owned();
    let allowed = match gateway
        .authorize(parts.extensions.get::<AuthState>(), &here, html)
        .await
    {
        Ok(allowed) => allowed,
        Err(answer) => return answer,
    };
    let identity = Identity {
        headers: gateway.identity(&allowed, "x-forwarded-"),
    };
    gateway.proxy.forward(parts, body, peer, Some(identity), html).await
}

/// Where the original request was for, as a reverse proxy in front tells it (`X-Original-URI`
/// from nginx, `X-Forwarded-Uri` from Traefik); `/` when absent or not a local path.
fn original_uri(headers: &HeaderMap) -> String {
    ["x-original-uri", "x-forwarded-uri"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find(|uri| uri.starts_with('/') && !uri.starts_with("//"))
        .unwrap_or("/")
        .to_owned()
}

/// `GET /oauth2/auth`: forward auth for nginx `auth_request`, Traefik `forwardAuth`, Caddy
/// `forward_auth`. `202` with `X-Auth-Request-*` headers, `401` (JSON, with the login URL),
/// `403`.
async fn forward_auth(State(gateway): State<Shared>, request: Request) -> Response {
    let here = original_uri(request.headers());
    let state = request.extensions().get::<AuthState>();
    match gateway.authorize(state, &here, false).await {
        Ok(allowed) => {
            let mut response = StatusCode::ACCEPTED.into_response();
            for (name, value) in gateway.identity(&allowed, "x-auth-request-") {
                response.headers_mut().insert(name, value);
            }
            response
                .headers_mut()
                .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(answer) => answer,
    }
}

/// `GET /oauth2/start?rd=/path`: `303` to the login, coming back to `rd` (or the original URI
/// a reverse proxy names), with a page that goes there too. For nginx:
/// `error_page 401 = /oauth2/start;`; for Traefik's `errors` middleware.
async fn start(State(gateway): State<Shared>, request: Request) -> Response {
    let rd = request
        .uri()
        .query()
        .and_then(|q| url_decode_param(q, "rd"))
        .filter(|rd| rd.starts_with('/') && !rd.starts_with("//"))
        .unwrap_or_else(|| original_uri(request.headers()));
    let login = gateway.config.login_url(&rd);
    // The page is for proxies that keep their own status and show this body (Traefik's
    // `errors` middleware): it sends the browser on by itself.
    let shown = login.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    let page = format!(
        "<!doctype html><html><head><meta http-equiv=\"refresh\" content=\"0;url={shown}\">\
         <title>Log in</title></head><body><a href=\"{shown}\">Log in with Discord</a></body></html>"
    );
    let mut response = (StatusCode::SEE_OTHER, axum::response::Html(page)).into_response();
    if let Ok(location) = HeaderValue::from_str(&login) {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn url_decode_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /oauth2/userinfo`: `{"user", "preferredUsername", "email", "groups"}` for an allowed
/// user (`401`, `403` otherwise).
async fn userinfo(State(gateway): State<Shared>, request: Request) -> Response {
    let state = request.extensions().get::<AuthState>();
    match gateway.authorize(state, "/", false).await {
        Ok(allowed) => {
            let headers: std::collections::HashMap<String, String> = gateway
                .identity(&allowed, "")
                .into_iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect();
            let body = serde_json::json!({
                "user": headers.get("user"),
                "preferredUsername": headers.get("preferred-username"),
                "email": headers.get("email"),
                "groups": Policy::groups(&allowed.held),
            });
            let mut response = axum::Json(body).into_response();
            response
                .headers_mut()
                .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(answer) => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_be_normalised_never_skip_login() {
        assert!(plain_path("/public/style.css"));
        assert!(plain_path("/a.b/c..d"));
        for path in [
            "/public/../admin",
            "/public/%2e%2E/admin",
            "/public/./x",
            "/public%2fadmin",
            "/a\\b",
        ] {
            assert!(!plain_path(path), "{path}");
        }
    }

    #[test]
    fn original_uri_is_a_local_path() {
        let mut headers = HeaderMap::new();
        assert_eq!(original_uri(&headers), "/");
        headers.insert("x-forwarded-uri", HeaderValue::from_static("//evil.example/"));
        assert_eq!(original_uri(&headers), "/");
        headers.insert("x-original-uri", HeaderValue::from_static("/p?a=1&b=2"));
        assert_eq!(original_uri(&headers), "/p?a=1&b=2");
    }
}
