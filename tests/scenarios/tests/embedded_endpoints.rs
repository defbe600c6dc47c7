//! The Activity endpoints (token, refresh), the websocket-token extractor and the proxy
//! check, against the mock Discord over loopback: one suite, run on axum and on actix-web.
//!
//! Each test builds the same site on both frameworks ([`Site::new`]) and asserts the same
//! behaviour on each; `embedded_identical.rs` checks that the two also answer byte for byte
//! the same. What only one framework has (its state and registration, its body streams, a
//! real WebSocket upgrade) is tested in that crate's own `tests/embedded.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::test as actix_test;
use discord_oauth_actix::embedded as actix_embedded;
use discord_oauth_axum::embedded as axum_embedded;
use discord_oauth_axum::transport::{ReqwestTransport, Transport as _};
use discord_oauth_core::embedded::{
    Clock, EmbeddedConfig, ProxyAuth, ProxyCheck, ProxyPayload, ProxyPublicKey, ProxyVerifier, WebsocketAuth,
    WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier, sign_proxy_payload,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl, Scopes, Snowflake};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, RateLimitStyle, fixture};
use serde_json::Value;
use tower::ServiceExt as _;

/// The backends' fixed clock: every `expires_in` and websocket token is deterministic.
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn fixed_clock() -> Clock {
    Arc::new(now)
}

fn key(kid: &str, byte: u8) -> WebsocketKey {
    WebsocketKey::new(kid, vec![byte; 32]).unwrap()
}

// ------------------------------------------------------------------ the two sites

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
}

const FRAMEWORKS: [Framework; 2] = [Framework::Axum, Framework::Actix];

/// What a site serves: the endpoints of a configuration (`/api/token`, `/api/refresh`, `/ws`),
/// `/ws` with a [`WebsocketAuth`] alone, and with a [`ProxyCheck`] `/api/state` (behind the
/// middleware) and `/api/alone` (the extractor alone). Every probe answers the user id.
#[derive(Default)]
struct Serves {
    config: Option<EmbeddedConfig>,
    websocket: Option<WebsocketAuth>,
    proxy: Option<ProxyCheck>,
}

// One per test: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
enum Site {
    Axum(axum::Router),
    Actix {
        backend: Option<actix_embedded::EmbeddedBackend>,
        websocket: Option<WebsocketAuth>,
        proxy: Option<ProxyCheck>,
    },
}

async fn axum_ws(user: axum_embedded::WebsocketUser) -> String {
    user.0.sub.to_string()
}

async fn axum_proxy(proxy: axum_embedded::DiscordProxy) -> String {
    proxy.0.str_field("user_id").unwrap_or("").to_owned()
}

async fn actix_ws(user: actix_embedded::WebsocketUser) -> String {
    user.0.sub.to_string()
}

async fn actix_proxy(proxy: actix_embedded::DiscordProxy) -> String {
    proxy.0.str_field("user_id").unwrap_or("").to_owned()
}

impl Site {
    fn new(framework: Framework, serves: Serves) -> Self {
        let transport = || ReqwestTransport::new().unwrap();
        let actix_transport = || discord_oauth_actix::transport::ReqwestTransport::new().unwrap();
        match framework {
            Framework::Axum => {
                use axum::routing::{get, post};
                let mut app = axum::Router::new();
                if let Some(config) = serves.config {
                    let backend = axum_embedded::EmbeddedBackend::new(config, transport());
                    let api = axum::Router::new()
                        .route("/api/token", post(axum_embedded::token))
                        .route("/api/refresh", post(axum_embedded::refresh))
                        .route("/ws", get(axum_ws));
                    app = app.merge(api.with_state(backend));
                }
                if let Some(auth) = serves.websocket {
                    app = app.merge(axum::Router::new().route("/ws", get(axum_ws)).with_state(auth));
                }
                if let Some(check) = serves.proxy {
                    let middleware =
                        axum::middleware::from_fn_with_state(check.clone(), axum_embedded::require_discord_proxy);
                    let guarded = axum::Router::new()
                        .route("/api/state", get(axum_proxy))
                        .layer(middleware);
                    let alone = axum::Router::new().route("/api/alone", get(axum_proxy));
                    app = app.merge(guarded.merge(alone).with_state(check));
                }
                Site::Axum(app)
            }
            Framework::Actix => Site::Actix {
                backend: serves
                    .config
                    .map(|config| actix_embedded::EmbeddedBackend::with_transport(config, actix_transport())),
                websocket: serves.websocket,
                proxy: serves.proxy,
            },
        }
    }

    async fn call(&self, req: Req) -> Answer {
        match self {
            Site::Axum(app) => {
                let mut builder = http::Request::builder().method(req.method).uri(&req.uri);
                for (name, value) in &req.headers {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                let resp = app
                    .clone()
                    .oneshot(builder.body(axum::body::Body::from(req.body)).unwrap())
                    .await
                    .unwrap();
                let (parts, body) = resp.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
                Answer {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                }
            }
            Site::Actix {
                backend,
                websocket,
                proxy,
            } => {
                use actix_web::middleware::from_fn;
                use actix_web::web::{self, get, post};
                let mut app = actix_web::App::new()
                    .route("/api/token", post().to(actix_embedded::token))
                    .route("/api/refresh", post().to(actix_embedded::refresh))
                    .route("/ws", get().to(actix_ws));
                if let Some(backend) = backend {
                    app = app.app_data(web::Data::new(backend.clone()));
                }
                if let Some(auth) = websocket {
                    app = app.app_data(auth.clone());
                }
                if let Some(check) = proxy {
                    let guarded = web::scope("/api/state")
                        .app_data(check.clone())
                        .wrap(from_fn(actix_embedded::require_discord_proxy))
                        .route("", get().to(actix_proxy));
                    let alone = web::scope("/api/alone")
                        .app_data(check.clone())
                        .route("", get().to(actix_proxy));
                    app = app.service(guarded).service(alone);
                }
                let app = actix_test::init_service(app).await;
                let mut test = actix_test::TestRequest::default()
                    .method(req.method.parse().unwrap())
                    .uri(&req.uri);
                for (name, value) in req.headers {
                    test = test.insert_header((name, value));
                }
                let resp = actix_test::call_service(&app, test.set_payload(req.body).to_request()).await;
                let mut headers = http::HeaderMap::new();
                for (name, value) in resp.headers() {
                    headers.append(
                        http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                        http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
                    );
                }
                let status = resp.status().as_u16();
                let body = actix_test::read_body(resp).await.to_vec();
                Answer { status, headers, body }
            }
        }
    }

    /// `POST path` with a JSON body.
    async fn post(&self, path: &str, body: impl Into<String>) -> Answer {
        self.call(Req::post(path, "application/json", body)).await
    }

    /// `POST path` with a JSON body and `Authorization: Bearer <token>`.
    async fn post_bearer(&self, path: &str, body: impl Into<String>, token: &str) -> Answer {
        self.call(Req::post(path, "application/json", body).bearer(token)).await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call(Req::get(uri)).await
    }
}

struct Req {
    method: &'static str,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Req {
    fn post(uri: &str, content_type: &str, body: impl Into<String>) -> Self {
        Req {
            method: "POST",
            uri: uri.to_owned(),
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    fn get(uri: &str) -> Self {
        Req {
            method: "GET",
            uri: uri.to_owned(),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Sets header `name` (replacing it if set).
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    /// The JSON body (`null` when it is not JSON), after checking the headers every JSON
    /// answer carries.
    fn json(&self) -> Value {
        if self.header("content-type") != Some("application/json") {
            return Value::Null;
        }
        assert_eq!(self.header("cache-control"), Some("no-store"), "{self:?}");
        serde_json::from_slice(&self.body).unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The status and the `error` code of a JSON error answer.
    fn error(&self) -> (u16, String) {
        let v = self.json();
        assert!(
            v["message"].is_string(),
            "{framework_body}",
            framework_body = self.text()
        );
        (self.status, v["error"].as_str().unwrap_or_default().to_owned())
    }
}

// ------------------------------------------------------------------ the setup

fn config(mock: &MockDiscord) -> EmbeddedConfig {
    let endpoints = Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap();
    let client = Client::new(
        ClientId::new(fixture::CLIENT_ID.into()),
        Some(ClientSecret::new(fixture::CLIENT_SECRET.into())),
        RedirectUrl::new(fixture::REDIRECT_URIS[0].into()).unwrap(),
    )
    .with_endpoints(endpoints);
    // k2 signs; k1 (the previous key) is still accepted.
    let signer = WebsocketTokenSigner::new(key("k2", 2), "activity").unwrap();
    let verifier = WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap();
    EmbeddedConfig::new(client, signer, verifier).with_clock(fixed_clock())
}

async fn mock() -> MockDiscord {
    MockDiscord::builder().auto_consent(true).start().await.unwrap()
}

/// A mock Discord and the endpoints of `config(mock)`, adjusted by `adjust`.
async fn endpoints(framework: Framework, adjust: impl FnOnce(EmbeddedConfig) -> EmbeddedConfig) -> (MockDiscord, Site) {
    let mock = mock().await;
    let serves = Serves {
        config: Some(adjust(config(&mock))),
        ..Serves::default()
    };
    (mock, Site::new(framework, serves))
}

fn sdk_code(mock: &MockDiscord, user: &str, scopes: &str) -> String {
    mock.sdk_authorize(fixture::CLIENT_ID, user, scopes).unwrap()
}

fn code_body(code: &str) -> String {
    serde_json::json!({ "code": code }).to_string()
}

/// A code from the classic authorize redirect (auto-consent), bound to the redirect URI.
async fn redirect_code(mock: &MockDiscord, scopes: &str) -> String {
    let mut url: url::Url = mock.authorize_url().parse().unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", fixture::CLIENT_ID)
        .append_pair("scope", scopes)
        .append_pair("redirect_uri", fixture::REDIRECT_URIS[0])
        .append_pair("state", "s");
    let req = http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    let resp = ReqwestTransport::new()
        .unwrap()
        .send(req, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "authorize: {}", resp.status());
    let location: url::Url = resp.headers()["location"].to_str().unwrap().parse().unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.into_owned()
}

/// A websocket token of `user`, signed by the backend's current key, bound to `refresh_token`.
fn bound_token(user: &str, refresh_token: &str) -> String {
    WebsocketTokenSigner::new(key("k2", 2), "activity")
        .unwrap()
        .sign_for_session(
            user.parse::<Snowflake>().unwrap(),
            &Scopes::parse("identify"),
            Some(refresh_token),
            now(),
        )
}

/// Authorizes `user` through the token endpoint: its refresh token and websocket token.
async fn authorized(site: &Site, mock: &MockDiscord, user: &str) -> (String, String) {
    let answer = site
        .post("/api/token", code_body(&sdk_code(mock, user, "identify")))
        .await;
    let v = answer.json();
    assert_eq!(answer.status, 200, "{v}");
    (
        v["refresh_token"].as_str().unwrap().to_owned(),
        v["websocket_token"].as_str().unwrap().to_owned(),
    )
}

/// Every field of the SDK's `DISCORD_AUTHORIZE_SUCCESS`, by name and type.
fn assert_sdk_shape(v: &Value, email: bool) {
    assert_eq!(v.as_object().unwrap().len(), 7, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    for f in ["access_token", "refresh_token", "scope", "websocket_token"] {
        assert!(v[f].as_str().is_some_and(|s| !s.is_empty()), "{f}: {v}");
    }
    assert_eq!(v["expires_in"], 604_800, "fixed clock: exactly Discord's lifetime");
    let u = v["user_data"].as_object().unwrap();
    assert_eq!(u.len(), if email { 13 } else { 12 }, "{v}");
    assert_eq!(u["id"], fixture::WUMPUS_ID);
    assert_eq!(u["username"], "wumpus");
    assert_eq!(u["global_name"], "Wumpus");
    assert_eq!(u["discriminator"], "0");
    assert_eq!(
        u["avatar"],
        format!(
            "https://cdn.discordapp.com/avatars/{}/a_1269e74af4df7417b13759eae50c83dc.gif",
            fixture::WUMPUS_ID
        )
    );
    assert!(
        u["banner"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.discordapp.com/banners/")
    );
    // Discord tells `verified` only with the `email` scope; the SDK shape says `false` then.
    assert_eq!(u["verified"], email);
    assert_eq!(u["mfa_enabled"], true);
    for (f, n) in [
        ("flags", 64),
        ("public_flags", 64),
        ("accent_color", 5_793_266),
        ("premium_type", 2),
    ] {
        assert_eq!(u[f].as_u64(), Some(n), "{f}");
    }
    if email {
        assert_eq!(u["email"], "wumpus@example.com");
    } else {
        assert!(!u.contains_key("email"));
    }
}

// ------------------------------------------------------------------ the token endpoint

#[actix_web::test]
async fn sdk_code_without_redirect_uri_answers_the_sdk_shape() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c).await;
        let code = sdk_code(&mock, fixture::WUMPUS_ID, "identify email");
        let body = serde_json::json!({ "code": code, "scopes": ["identify", "email"] }).to_string();
        let answer = site.post("/api/token", body.clone()).await;
        let v = answer.json();
        assert_eq!(answer.status, 200, "{framework:?}: {v}");
        assert_sdk_shape(&v, true);
        assert_eq!(v["scope"], "identify email");
        let sent = mock.last_request(Endpoint::Token).unwrap();
        assert!(
            sent.form_param("redirect_uri").is_none(),
            "SDK codes carry no redirect_uri"
        );

        // the websocket token is for this user, with these scopes, for ten minutes
        let ws = v["websocket_token"].as_str().unwrap();
        let verifier = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
        let claims = verifier.verify(ws, now()).unwrap();
        assert_eq!(claims.sub.to_string(), fixture::WUMPUS_ID);
        assert_eq!(claims.scope, "identify email");
        assert_eq!((claims.iat, claims.exp), (NOW, NOW + 600));
        // and it opens the guarded route, by query and by header
        let by_query = site.get(&format!("/ws?token={ws}")).await;
        assert_eq!((by_query.status, by_query.text()), (200, fixture::WUMPUS_ID.to_owned()));
        let by_header = site.call(Req::get("/ws").bearer(ws)).await;
        assert_eq!(by_header.status, 200, "{framework:?}");

        // the code cannot be used twice
        let reused = site.post("/api/token", body).await;
        assert_eq!(reused.error(), (400, "invalid_grant".into()), "{framework:?}");
    }
}

#[actix_web::test]
async fn redirect_codes_work_with_a_configured_redirect_uri() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c.with_redirect_uri(fixture::REDIRECT_URIS[0])).await;
        let code = redirect_code(&mock, "identify").await;
        let body = serde_json::json!({ "code": code, "scopes": "identify" }).to_string();
        let answer = site.post("/api/token", body).await;
        let v = answer.json();
        assert_eq!(answer.status, 200, "{framework:?}: {v}");
        assert_sdk_shape(&v, false);
        // an SDK code is refused by a backend that sends a redirect_uri: configure one kind
        let sdk = site
            .post(
                "/api/token",
                code_body(&sdk_code(&mock, fixture::WUMPUS_ID, "identify")),
            )
            .await;
        assert_eq!(sdk.error(), (400, "invalid_grant".into()), "{framework:?}");
    }
}

#[actix_web::test]
async fn malformed_requests_get_4xx_json() {
    let json = "application/json";
    let cases: [(&str, &str, String, u16); 12] = [
        ("/api/token", json, r#"{"code":"nope"}"#.into(), 400),
        ("/api/token", json, "{}".into(), 400),
        ("/api/token", json, r#"{"code":"x","extra":1}"#.into(), 400),
        ("/api/token", json, r#"{"code":7}"#.into(), 400),
        ("/api/token", json, "not json".into(), 400),
        ("/api/token", json, format!(r#"{{"code":"{}"}}"#, "a".repeat(5000)), 413),
        ("/api/token", "text/plain", r#"{"code":"x"}"#.into(), 415),
        ("/api/token", "application/x-www-form-urlencoded", "code=x".into(), 415),
        ("/api/refresh", json, "{}".into(), 400),
        ("/api/refresh", json, "[]".into(), 400),
        ("/api/refresh", json, r#"{"refresh_token":"nope"}"#.into(), 401),
        ("/api/refresh", "text/plain", r#"{"refresh_token":"x"}"#.into(), 415),
    ];
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c).await;
        for (path, content_type, body, expected) in &cases {
            let answer = site.call(Req::post(path, content_type, body.clone())).await;
            assert_eq!(
                answer.status, *expected,
                "{framework:?} {path} {content_type} {body:.40}"
            );
            let v = answer.json();
            assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        }
        // only the bad code reached Discord (the refresh had no proof of a session)
        assert_eq!(mock.count(Endpoint::Token), 1, "{framework:?}");
    }
}

#[actix_web::test]
async fn discord_429_becomes_429_with_retry_after_from_the_body() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c).await;
        // token endpoint
        let body = code_body(&sdk_code(&mock, fixture::WUMPUS_ID, "identify"));
        mock.inject(Fault::rate_limited(Endpoint::Token).retry_after(2.5).once());
        let answer = site.post("/api/token", body.clone()).await;
        let v = answer.json();
        assert_eq!((answer.status, answer.header("retry-after")), (429, Some("3")), "{v}");
        assert_eq!(
            (v["error"].as_str(), v["retry_after"].as_f64()),
            (Some("rate_limited"), Some(2.5))
        );
        assert_eq!(mock.count(Endpoint::Token), 1, "no immediate retry");
        // the code was not spent: the client may try again after the wait
        assert_eq!(site.post("/api/token", body).await.status, 200);

        // /users/@me
        let body = code_body(&sdk_code(&mock, fixture::WUMPUS_ID, "identify"));
        let fault = Fault::rate_limited(Endpoint::CurrentUser).retry_after(0.75);
        mock.inject(fault.style(RateLimitStyle::BodyOnly).once());
        let answer = site.post("/api/token", body).await;
        assert_eq!(
            (answer.status, answer.json()["retry_after"].as_f64()),
            (429, Some(0.75))
        );

        // refresh, and a 429 that names no wait: null, never an invented one
        mock.inject(
            Fault::rate_limited(Endpoint::Token)
                .style(RateLimitStyle::CloudflareBan)
                .once(),
        );
        let before = mock.count(Endpoint::Token);
        let refresh = r#"{"refresh_token":"x"}"#;
        let answer = site
            .post_bearer("/api/refresh", refresh, &bound_token(fixture::WUMPUS_ID, "x"))
            .await;
        let v = answer.json();
        assert_eq!(
            (answer.status, answer.header("retry-after")),
            (429, None),
            "{framework:?}"
        );
        assert!(
            v.as_object().unwrap().contains_key("retry_after") && v["retry_after"].is_null(),
            "{v}"
        );
        assert_eq!(mock.count(Endpoint::Token), before + 1);
    }
}

// ------------------------------------------------------------------ the refresh endpoint

#[actix_web::test]
async fn refresh_rotates_and_a_reused_code_revokes_the_grant() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c).await;
        let code = sdk_code(&mock, fixture::WUMPUS_ID, "identify");
        let answer = site.post("/api/token", code_body(&code)).await;
        let v = answer.json();
        assert_eq!(answer.status, 200, "{v}");
        assert_sdk_shape(&v, false);
        let ws = v["websocket_token"].as_str().unwrap();
        let body = serde_json::json!({ "refresh_token": v["refresh_token"] }).to_string();
        let answer = site.post_bearer("/api/refresh", body.clone(), ws).await;
        let r = answer.json();
        assert_eq!(answer.status, 200, "{framework:?}: {r}");
        assert_eq!(r.as_object().unwrap().len(), 6);
        assert!(r["websocket_token"].is_string() && r["access_token"].is_string());
        assert_eq!(
            (r["token_type"].as_str(), r["scope"].as_str()),
            (Some("Bearer"), Some("identify"))
        );
        assert_eq!(r["expires_in"], 604_800);
        assert_ne!(r["refresh_token"], v["refresh_token"]);
        // the old refresh token was rotated away (its websocket token still matches it, so
        // Discord is asked and refuses)
        let again = site.post_bearer("/api/refresh", body, ws).await;
        assert_eq!(again.error(), (400, "invalid_grant".into()));
        // the new pair refreshes again
        let next = serde_json::json!({ "refresh_token": r["refresh_token"] }).to_string();
        let answer = site
            .post_bearer("/api/refresh", next, r["websocket_token"].as_str().unwrap())
            .await;
        let r = answer.json();
        assert_eq!(answer.status, 200, "{r}");

        // like Discord, a reused code is refused and revokes the grant it produced
        let reused = site.post("/api/token", code_body(&code)).await;
        assert_eq!(reused.error(), (400, "invalid_grant".into()));
        let rotated = serde_json::json!({ "refresh_token": r["refresh_token"] }).to_string();
        let revoked = site
            .post_bearer("/api/refresh", rotated, r["websocket_token"].as_str().unwrap())
            .await;
        assert_eq!(revoked.status, 400, "{framework:?}");
    }
}

#[actix_web::test]
async fn refresh_without_proof_of_the_session_never_reaches_discord() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c).await;
        let (wumpus_rt, wumpus_ws) = authorized(&site, &mock, fixture::WUMPUS_ID).await;
        let (_, lena_ws) = authorized(&site, &mock, fixture::LENA_ID).await;
        let before = mock.count(Endpoint::Token);
        let body = serde_json::json!({ "refresh_token": wumpus_rt }).to_string();

        // no proof: 401 saying what to send
        let answer = site.post("/api/refresh", body.clone()).await;
        assert_eq!(answer.error(), (401, "missing_proof".into()));
        let message = answer.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("Authorization: Bearer <websocket_token>"), "{message}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        // another user's genuine websocket token, a forged one, one bound to a made-up
        // refresh token
        let other_user = site.post_bearer("/api/refresh", body.clone(), &lena_ws).await;
        assert_eq!(other_user.error(), (403, "session_mismatch".into()));
        let forged = site
            .post_bearer("/api/refresh", body.clone(), &format!("{wumpus_ws}x"))
            .await;
        assert_eq!(forged.error(), (401, "invalid_token".into()));
        let other_rt = bound_token(fixture::WUMPUS_ID, "another-refresh-token");
        assert_eq!(
            site.post_bearer("/api/refresh", body.clone(), &other_rt).await.status,
            403
        );
        // anonymous garbage, many times
        for n in 0..20 {
            let junk = serde_json::json!({ "refresh_token": format!("guess{n}") }).to_string();
            assert_eq!(site.post("/api/refresh", junk).await.status, 401);
        }
        assert_eq!(
            mock.count(Endpoint::Token),
            before,
            "{framework:?}: nothing reached Discord"
        );

        // the owner's own websocket token: refreshed, for that user
        let answer = site.post_bearer("/api/refresh", body, &wumpus_ws).await;
        let r = answer.json();
        assert_eq!(answer.status, 200, "{r}");
        assert_eq!(mock.count(Endpoint::Token), before + 1);
        let verifier = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
        let claims = verifier.verify(r["websocket_token"].as_str().unwrap(), now()).unwrap();
        assert_eq!(claims.sub.to_string(), fixture::WUMPUS_ID);
    }
}

// ------------------------------------------------------------------ hostile traffic

#[actix_web::test]
async fn a_flood_of_token_requests_never_exceeds_the_bound_at_discord() {
    for framework in FRAMEWORKS {
        let (mock, site) = endpoints(framework, |c| c.with_max_concurrent_requests(2)).await;
        // a slow token endpoint: every request is still at Discord when the others arrive
        mock.inject(Fault::delay(Endpoint::Token, Duration::from_millis(1500)));
        let flood = (0..10).map(|_| {
            site.post(
                "/api/token",
                code_body(&sdk_code(&mock, fixture::WUMPUS_ID, "identify")),
            )
        });
        let answers = futures::future::join_all(flood).await;
        let at_once = mock.max_in_flight(None);
        assert!(at_once <= 2, "{framework:?}: {at_once} at once");
        let ok = answers.iter().filter(|a| a.status == 200).count();
        let busy: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
        assert_eq!(ok + busy.len(), answers.len(), "only 200 or 503");
        assert!((1..=2).contains(&ok), "{ok} logged in");
        for answer in busy {
            assert_eq!(answer.header("retry-after"), Some("1"));
            assert_eq!(answer.json()["error"], "busy");
        }
        assert_eq!(mock.count(Endpoint::Token), ok, "the refused ones were never sent");
        // the slots come free again
        mock.clear_faults();
        let code = sdk_code(&mock, fixture::WUMPUS_ID, "identify");
        assert_eq!(site.post("/api/token", code_body(&code)).await.status, 200);
    }
}

#[actix_web::test]
async fn after_a_global_429_nothing_reaches_discord_until_it_is_over() {
    for framework in FRAMEWORKS {
        let clock = Arc::new(AtomicU64::new(NOW));
        let at = Arc::clone(&clock);
        let moving: Clock = Arc::new(move || UNIX_EPOCH + Duration::from_secs(at.load(Ordering::SeqCst)));
        let (mock, site) = endpoints(framework, |c| c.with_clock(moving)).await;
        let (rt, ws) = authorized(&site, &mock, fixture::WUMPUS_ID).await;
        let global = Fault::rate_limited(Endpoint::Token).retry_after(30.0).global(true);
        mock.inject(global.once());
        let token = || {
            site.post(
                "/api/token",
                code_body(&sdk_code(&mock, fixture::WUMPUS_ID, "identify")),
            )
        };
        // Discord's global 429 is passed on
        let answer = token().await;
        assert_eq!((answer.status, answer.json()["global"].as_bool()), (429, Some(true)));
        let sent = mock.count(Endpoint::Token);
        // then nothing is sent: token and refresh get 503 with the time left
        let answer = token().await;
        let v = answer.json();
        assert_eq!((answer.status, answer.header("retry-after")), (503, Some("30")), "{v}");
        assert_eq!(
            (v["error"].as_str(), v["retry_after"].as_u64()),
            (Some("rate_limited"), Some(30))
        );
        clock.fetch_add(10, Ordering::SeqCst);
        let body = serde_json::json!({ "refresh_token": rt }).to_string();
        let answer = site.post_bearer("/api/refresh", body, &ws).await;
        assert_eq!((answer.status, answer.header("retry-after")), (503, Some("20")));
        assert_eq!(
            mock.count(Endpoint::Token),
            sent,
            "{framework:?}: nothing reached Discord"
        );
        // once the wait is over, requests flow again
        clock.fetch_add(21, Ordering::SeqCst);
        assert_eq!(token().await.status, 200, "{framework:?}");
    }
}

// ------------------------------------------------------------------ websocket tokens

#[actix_web::test]
async fn websocket_token_verifies_and_bad_ones_are_refused() {
    let sign = |kid: &str, byte: u8, aud: &str, at: SystemTime| {
        let signer = WebsocketTokenSigner::new(key(kid, byte), aud).unwrap();
        signer.sign(Snowflake::from(42), &Scopes::parse("identify"), at)
    };
    let good = sign("k2", 2, "activity", now());
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let mut tampered_claims = good.clone();
    tampered_claims.insert(good.find('.').unwrap() + 3, 'x');
    let refused = [
        ("tampered signature", tampered, "signature"),
        ("tampered claims", tampered_claims, ""),
        (
            "expired",
            sign("k2", 2, "activity", now() - Duration::from_secs(601)),
            "expired",
        ),
        ("wrong audience", sign("k2", 2, "other-app", now()), "audience"),
        ("wrong key", sign("k2", 9, "activity", now()), "signature"),
        ("unknown key id", sign("k3", 2, "activity", now()), "unknown key"),
        ("garbage", "abc".into(), "malformed"),
    ];
    for framework in FRAMEWORKS {
        // a WebsocketAuth alone, no endpoints
        let verifier = WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap();
        let serves = Serves {
            websocket: Some(WebsocketAuth::new(verifier).with_clock(fixed_clock())),
            ..Serves::default()
        };
        let site = Site::new(framework, serves);
        let by_header = site.call(Req::get("/ws").bearer(&good)).await;
        assert_eq!(
            (by_header.status, by_header.text()),
            (200, "42".to_owned()),
            "{framework:?}"
        );
        assert_eq!(site.get(&format!("/ws?token={good}")).await.status, 200);
        // the previous key still verifies during a rotation
        let old = sign("k1", 1, "activity", now());
        assert_eq!(site.get(&format!("/ws?token={old}")).await.status, 200);
        for (what, token, needle) in &refused {
            let answer = site.get(&format!("/ws?token={token}")).await;
            assert_eq!(answer.error(), (401, "invalid_token".into()), "{framework:?} {what}");
            let message = answer.json()["message"].as_str().unwrap().to_owned();
            assert!(message.contains(needle), "{what}: {message}");
            assert_eq!(
                answer.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\"")
            );
        }
        let none = site.get("/ws").await;
        assert_eq!(none.error(), (401, "missing_token".into()));
        assert_eq!(none.header("www-authenticate"), Some("Bearer"));
        let empty = site.get("/ws?token=").await;
        assert_eq!(empty.error(), (401, "missing_token".into()));
    }
}

// ------------------------------------------------------------------ proxy signatures

const SEED: [u8; 32] = [5; 32];

fn proxy_payload(created_at: u64, user: &str) -> ProxyPayload {
    let mut fields = serde_json::Map::new();
    fields.insert("user_id".into(), user.into());
    ProxyPayload {
        created_at,
        expires_at: created_at + 300,
        fields,
    }
}

fn signed(uri: &str, seed: &[u8; 32], payload: &ProxyPayload) -> Req {
    let mut req = Req::get(uri);
    for (k, v) in sign_proxy_payload(seed, payload) {
        req = req.header(k, v);
    }
    req
}

fn proxy_check() -> ProxyCheck {
    let verifier = ProxyVerifier::new(ProxyPublicKey::from_seed(&SEED));
    let auth = ProxyAuth::new(verifier).with_instance_check(|p: &ProxyPayload, req: &http::request::Parts| {
        let ok = p.str_field("user_id") != Some("666") && req.uri.path().starts_with("/api/");
        async move {
            if ok {
                Ok(())
            } else {
                Err("not in a live instance of this activity".to_owned())
            }
        }
    });
    ProxyCheck::new(auth).with_clock(fixed_clock())
}

#[actix_web::test]
async fn proxy_signature_middleware_and_extractor() {
    let good = proxy_payload(NOW - 10, "42");
    let other = sign_proxy_payload(&SEED, &proxy_payload(NOW - 10, "43"));
    let cases = |uri: &str| {
        [
            ("good", signed(uri, &SEED, &good), 200, ""),
            (
                "changed payload",
                signed(uri, &SEED, &good).header(other[2].0, other[2].1.clone()),
                401,
                "bad_signature",
            ),
            (
                "expired",
                signed(uri, &SEED, &proxy_payload(NOW - 400, "42")),
                401,
                "expired",
            ),
            (
                "future",
                signed(uri, &SEED, &proxy_payload(NOW + 120, "42")),
                401,
                "not_yet_valid",
            ),
            ("other key", signed(uri, &[6; 32], &good), 401, "bad_signature"),
            ("unsigned", Req::get(uri), 401, "missing_header"),
            ("instance", signed(uri, &SEED, &proxy_payload(NOW, "666")), 403, ""),
        ]
    };
    for framework in FRAMEWORKS {
        let serves = Serves {
            proxy: Some(proxy_check()),
            ..Serves::default()
        };
        let site = Site::new(framework, serves);
        // behind the middleware, and with the extractor alone
        for uri in ["/api/state", "/api/alone"] {
            for (what, req, status, reason) in cases(uri) {
                let answer = site.call(req).await;
                assert_eq!(answer.status, status, "{framework:?} {uri}: {what}");
                let v = answer.json();
                match status {
                    401 => assert_eq!(
                        (v["error"].as_str(), v["reason"].as_str()),
                        (Some("invalid_proxy_signature"), Some(reason))
                    ),
                    403 => assert_eq!(v["error"], "activity_instance_refused"),
                    _ => assert_eq!(answer.text(), "42"),
                }
            }
        }
    }
}
