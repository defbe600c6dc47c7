//! The Activity token and refresh endpoints, the websocket-token extractor and the proxy
//! signature check, against the mock Discord over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use discord_oauth_axum::embedded::{
    DiscordProxy, EmbeddedBackend, ProxyCheck, WebsocketAuth, WebsocketUser, refresh, require_discord_proxy, token,
};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_core::embedded::{
    EmbeddedConfig, ProxyAuth, ProxyPayload, ProxyPublicKey, ProxyVerifier, WebsocketKey, WebsocketTokenSigner,
    WebsocketTokenVerifier, sign_proxy_payload,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl, Scopes, Snowflake};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, RateLimitStyle, fixture};
use discord_oauth_tower::Transport;
use http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The backend's fixed clock: every `expires_in` and websocket token is deterministic.
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn key(kid: &str, byte: u8) -> WebsocketKey {
    WebsocketKey::new(kid, vec![byte; 32]).unwrap()
}

struct Env {
    mock: MockDiscord,
    app: Router,
}

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
    EmbeddedConfig::new(client, signer, verifier)
}

fn app(backend: EmbeddedBackend<ReqwestTransport>) -> Router {
    Router::new()
        .route("/api/token", post(token))
        .route("/api/refresh", post(refresh))
        .route(
            "/ws",
            get(|WebsocketUser(c): WebsocketUser| async move { c.sub.to_string() }),
        )
        .with_state(backend)
}

async fn env_with(redirect: bool) -> Env {
    env_built(|config| {
        let config = if redirect {
            config.with_redirect_uri(fixture::REDIRECT_URIS[0])
        } else {
            config
        };
        EmbeddedBackend::new(config, ReqwestTransport::new().unwrap()).with_clock(Arc::new(now))
    })
    .await
}

async fn env_built(build: impl FnOnce(EmbeddedConfig) -> EmbeddedBackend<ReqwestTransport>) -> Env {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let backend = build(config(&mock));
    Env {
        app: app(backend),
        mock,
    }
}

async fn env() -> Env {
    env_with(false).await
}

fn sdk_code(env: &Env, scopes: &str) -> String {
    env.mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, scopes)
        .unwrap()
}

/// A code from the classic authorize redirect (auto-consent), bound to the redirect URI.
async fn redirect_code(env: &Env, scopes: &str) -> String {
    let mut url: url::Url = env.mock.authorize_url().parse().unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", fixture::CLIENT_ID)
        .append_pair("scope", scopes)
        .append_pair("redirect_uri", fixture::REDIRECT_URIS[0])
        .append_pair("state", "s");
    let req = Request::get(url.as_str()).body(Vec::new()).unwrap();
    let resp = ReqwestTransport::new()
        .unwrap()
        .send(req, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "authorize: {}", resp.status());
    let location: url::Url = resp.headers()["location"].to_str().unwrap().parse().unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn post_json(app: &Router, path: &str, content_type: &str, body: String) -> (StatusCode, Value) {
    post_with(app, path, content_type, body, None).await
}

/// `POST` with `Authorization: Bearer <bearer>` when given.
async fn post_with(
    app: &Router,
    path: &str,
    content_type: &str,
    body: String,
    bearer: Option<&str>,
) -> (StatusCode, Value) {
    let (status, v, _) = post_full(app, path, content_type, body, bearer).await;
    (status, v)
}

async fn post_full(
    app: &Router,
    path: &str,
    content_type: &str,
    body: String,
    bearer: Option<&str>,
) -> (StatusCode, Value, http::HeaderMap) {
    let mut req = Request::post(path).header("content-type", content_type);
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    if status != StatusCode::OK || path == "/api/token" {
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
}

/// Every field of the SDK's `DISCORD_AUTHORIZE_SUCCESS`, by name and type.
fn assert_sdk_shape(v: &Value, email: bool) {
    let top = v.as_object().unwrap();
    assert_eq!(top.len(), 7, "{v}");
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
    assert_eq!(u["flags"], 64);
    assert_eq!(u["public_flags"], 64);
    assert_eq!(u["accent_color"], 5_793_266);
    assert_eq!(u["premium_type"], 2);
    if email {
        assert_eq!(u["email"], "wumpus@example.com");
    } else {
        assert!(!u.contains_key("email"));
    }
}

#[tokio::test]
async fn sdk_code_without_redirect_uri_answers_the_sdk_shape() {
    let env = env().await;
    let code = sdk_code(&env, "identify email");
    let body = serde_json::json!({ "code": code, "scopes": ["identify", "email"] }).to_string();
    let (status, v) = post_json(&env.app, "/api/token", "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_sdk_shape(&v, true);
    assert_eq!(v["scope"], "identify email");
    let sent = env.mock.last_request(Endpoint::Token).unwrap();
    assert!(
        sent.form_param("redirect_uri").is_none(),
        "SDK codes carry no redirect_uri"
    );

    // the websocket token is for this user, with these scopes, for ten minutes
    let verifier = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
    let claims = verifier.verify(v["websocket_token"].as_str().unwrap(), now()).unwrap();
    assert_eq!(claims.sub.to_string(), fixture::WUMPUS_ID);
    assert_eq!(claims.scope, "identify email");
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 600));

    // the code cannot be used twice
    let (status, e) = post_json(&env.app, "/api/token", "application/json", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert!(e["message"].is_string());
}

#[tokio::test]
async fn redirect_codes_work_with_a_configured_redirect_uri() {
    let env = env_with(true).await;
    let code = redirect_code(&env, "identify").await;
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code, "scopes": "identify" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_sdk_shape(&v, false);
    // an SDK code is refused by a backend that sends a redirect_uri: configure one kind
    let code = sdk_code(&env, "identify");
    let (status, e) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn email_absent_without_the_scope_and_refresh_rotates() {
    let env = env().await;
    let code = sdk_code(&env, "identify");
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_sdk_shape(&v, false);
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    let ws = v["websocket_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "refresh_token": rt }).to_string();
    let (status, r) = post_with(&env.app, "/api/refresh", "application/json", body.clone(), Some(&ws)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r.as_object().unwrap().len(), 6);
    assert!(r["websocket_token"].is_string());
    assert_eq!(r["token_type"], "Bearer");
    assert_eq!(r["scope"], "identify");
    assert_eq!(r["expires_in"], 604_800);
    assert!(r["access_token"].is_string());
    assert_ne!(r["refresh_token"], v["refresh_token"]);
    // the old refresh token was rotated away (its websocket token still matches it, so
    // Discord is asked and refuses)
    let (status, e) = post_with(&env.app, "/api/refresh", "application/json", body, Some(&ws)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // the new pair refreshes again
    let next = serde_json::json!({ "refresh_token": r["refresh_token"] }).to_string();
    let (status, _) = post_with(
        &env.app,
        "/api/refresh",
        "application/json",
        next,
        r["websocket_token"].as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_requests_get_4xx_json() {
    let env = env().await;
    let cases: [(&str, &str, String, StatusCode); 11] = [
        (
            "/api/token",
            "application/json",
            r#"{"code":"nope"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/token", "application/json", "{}".into(), StatusCode::BAD_REQUEST),
        (
            "/api/token",
            "application/json",
            r#"{"code":"x","extra":1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/token",
            "application/json",
            r#"{"code":7}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/token",
            "application/json",
            "not json".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/token",
            "application/json",
            format!(r#"{{"code":"{}"}}"#, "a".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "/api/token",
            "text/plain",
            r#"{"code":"x"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/api/token",
            "application/x-www-form-urlencoded",
            "code=x".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("/api/refresh", "application/json", "{}".into(), StatusCode::BAD_REQUEST),
        (
            "/api/refresh",
            "application/json",
            r#"{"refresh_token":"nope"}"#.into(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/refresh",
            "text/plain",
            r#"{"refresh_token":"x"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (path, ct, body, expected) in cases {
        let (status, v) = post_json(&env.app, path, ct, body.clone()).await;
        assert_eq!(status, expected, "{path} {ct} {body:.40}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
    // only the bad code reached Discord (the refresh had no proof of a session)
    assert_eq!(env.mock.count(Endpoint::Token), 1);
}

#[tokio::test]
async fn discord_429_becomes_429_with_retry_after_from_the_body() {
    let env = env().await;
    // token endpoint
    let code = sdk_code(&env, "identify");
    env.mock
        .inject(Fault::rate_limited(Endpoint::Token).retry_after(2.5).once());
    let body = serde_json::json!({ "code": code }).to_string();
    let (status, v) = post_json(&env.app, "/api/token", "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["retry_after"], 2.5, "{v}");
    assert_eq!(v["error"], "rate_limited");
    assert_eq!(env.mock.count(Endpoint::Token), 1, "no immediate retry");
    // the code was not spent: the client may try again after the wait
    let (status, _) = post_json(&env.app, "/api/token", "application/json", body).await;
    assert_eq!(status, StatusCode::OK);

    // /users/@me
    let code = sdk_code(&env, "identify");
    env.mock.inject(
        Fault::rate_limited(Endpoint::CurrentUser)
            .retry_after(0.75)
            .style(RateLimitStyle::BodyOnly)
            .once(),
    );
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(
        (status, v["retry_after"].as_f64()),
        (StatusCode::TOO_MANY_REQUESTS, Some(0.75))
    );

    // refresh, and a 429 that names no wait: null, never an invented one
    env.mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .style(RateLimitStyle::CloudflareBan)
            .once(),
    );
    let before = env.mock.count(Endpoint::Token);
    let (status, v) = post_with(
        &env.app,
        "/api/refresh",
        "application/json",
        r#"{"refresh_token":"x"}"#.into(),
        Some(&bound_token(fixture::WUMPUS_ID, "x")),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        v.as_object().unwrap().contains_key("retry_after") && v["retry_after"].is_null(),
        "{v}"
    );
    assert_eq!(env.mock.count(Endpoint::Token), before + 1);
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

fn ws_app(backend_clock: SystemTime) -> Router {
    let verifier = WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap();
    let auth = WebsocketAuth::new(verifier).with_clock(Arc::new(move || backend_clock));
    Router::new()
        .route(
            "/ws",
            get(|WebsocketUser(c): WebsocketUser| async move { c.sub.to_string() }),
        )
        .with_state(auth)
}

async fn ws_status(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let json = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/json");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    if json {
        (status, serde_json::from_slice(&bytes).unwrap())
    } else {
        (status, Value::String(String::from_utf8_lossy(&bytes).into()))
    }
}

#[tokio::test]
async fn websocket_token_verifies_and_bad_ones_are_refused() {
    let app = ws_app(now());
    let sign = |kid: &str, byte: u8, aud: &str, at: SystemTime| {
        WebsocketTokenSigner::new(key(kid, byte), aud).unwrap().sign(
            Snowflake::from(42),
            &Scopes::parse("identify"),
            at,
        )
    };
    let good = sign("k2", 2, "activity", now());
    let by_header = Request::get("/ws")
        .header("authorization", format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        ws_status(&app, by_header).await,
        (StatusCode::OK, Value::String("42".into()))
    );
    let by_query = Request::get(format!("/ws?token={good}")).body(Body::empty()).unwrap();
    assert_eq!(ws_status(&app, by_query).await.0, StatusCode::OK);
    // the previous key still verifies during a rotation
    let old = sign("k1", 1, "activity", now());
    let req = Request::get(format!("/ws?token={old}")).body(Body::empty()).unwrap();
    assert_eq!(ws_status(&app, req).await.0, StatusCode::OK);

    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let refused = [
        ("tampered", tampered, "signature"),
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
    for (what, t, needle) in refused {
        let req = Request::get(format!("/ws?token={t}")).body(Body::empty()).unwrap();
        let (status, v) = ws_status(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(v["error"], "invalid_token", "{what}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{what}: {v}");
    }
    let none = Request::get("/ws").body(Body::empty()).unwrap();
    let (status, v) = ws_status(&app, none).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_token"))
    );
}

#[tokio::test]
async fn websocket_token_from_the_token_endpoint_opens_the_route() {
    let env = env().await;
    let code = sdk_code(&env, "identify");
    let (_, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    let ws = v["websocket_token"].as_str().unwrap();
    let req = Request::get(format!("/ws?token={ws}")).body(Body::empty()).unwrap();
    assert_eq!(
        ws_status(&env.app, req).await,
        (StatusCode::OK, Value::String(fixture::WUMPUS_ID.into()))
    );
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

fn signed(seed: &[u8; 32], payload: &ProxyPayload) -> Request<Body> {
    let mut req = Request::get("/api/state");
    for (k, v) in sign_proxy_payload(seed, payload) {
        req = req.header(k, v);
    }
    req.body(Body::empty()).unwrap()
}

fn proxy_app() -> Router {
    let auth = ProxyAuth::new(ProxyVerifier::new(ProxyPublicKey::from_seed(&SEED))).with_instance_check(
        |p: &ProxyPayload, _req: &http::request::Parts| {
            let banned = p.str_field("user_id") == Some("666");
            async move {
                if banned {
                    Err("not in a live instance of this activity".to_owned())
                } else {
                    Ok(())
                }
            }
        },
    );
    let check = ProxyCheck::new(auth).with_clock(Arc::new(now));
    Router::new()
        .route(
            "/api/state",
            get(|DiscordProxy(p): DiscordProxy| async move { p.str_field("user_id").unwrap_or("").to_owned() }),
        )
        .layer(axum::middleware::from_fn_with_state(
            check.clone(),
            require_discord_proxy,
        ))
        .with_state(check)
}

#[tokio::test]
async fn proxy_signature_middleware() {
    let app = proxy_app();
    let good = proxy_payload(NOW - 10, "42");
    assert_eq!(
        ws_status(&app, signed(&SEED, &good)).await,
        (StatusCode::OK, Value::String("42".into()))
    );
    // a changed payload under the original signature
    let mut changed = signed(&SEED, &good);
    let other = sign_proxy_payload(&SEED, &proxy_payload(NOW - 10, "43"));
    changed.headers_mut().insert(other[2].0, other[2].1.parse().unwrap());
    // a timestamp outside the window (expired; and from the future)
    let expired = signed(&SEED, &proxy_payload(NOW - 400, "42"));
    let future = signed(&SEED, &proxy_payload(NOW + 120, "42"));
    // another key
    let other_key = signed(&[6; 32], &good);
    let unsigned = Request::get("/api/state").body(Body::empty()).unwrap();
    for (what, req, reason) in [
        ("changed payload", changed, "bad_signature"),
        ("expired", expired, "expired"),
        ("future", future, "not_yet_valid"),
        ("other key", other_key, "bad_signature"),
        ("unsigned", unsigned, "missing_header"),
    ] {
        let (status, v) = ws_status(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(v["error"], "invalid_proxy_signature", "{what}");
        assert_eq!(v["reason"], reason, "{what}");
    }
    // signed correctly, but the instance check refuses
    let (status, v) = ws_status(&app, signed(&SEED, &proxy_payload(NOW, "666"))).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("activity_instance_refused"))
    );
}

// ------------------------------------------------------------------ hostile traffic

/// Authorizes `user` through the token endpoint: its refresh token and websocket token.
async fn authorized(env: &Env, user: &str) -> (String, String) {
    let code = env.mock.sdk_authorize(fixture::CLIENT_ID, user, "identify").unwrap();
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (
        v["refresh_token"].as_str().unwrap().to_owned(),
        v["websocket_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn refresh_without_proof_of_the_session_never_reaches_discord() {
    let env = env().await;
    let (wumpus_rt, wumpus_ws) = authorized(&env, fixture::WUMPUS_ID).await;
    let (_, lena_ws) = authorized(&env, fixture::LENA_ID).await;
    let before = env.mock.count(Endpoint::Token);
    let body = serde_json::json!({ "refresh_token": wumpus_rt }).to_string();

    // no proof: 401 saying what to send
    let (status, v, headers) = post_full(&env.app, "/api/refresh", "application/json", body.clone(), None).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_proof"))
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer <websocket_token>"),
        "{v}"
    );
    assert_eq!(headers["www-authenticate"], "Bearer");
    // another user's genuine websocket token, a forged one, one bound to a made-up refresh token
    let (status, v) = post_with(
        &env.app,
        "/api/refresh",
        "application/json",
        body.clone(),
        Some(&lena_ws),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("session_mismatch"))
    );
    let forged = format!("{wumpus_ws}x");
    let (status, v) = post_with(
        &env.app,
        "/api/refresh",
        "application/json",
        body.clone(),
        Some(&forged),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let other_rt = bound_token(fixture::WUMPUS_ID, "another-refresh-token");
    let (status, _) = post_with(
        &env.app,
        "/api/refresh",
        "application/json",
        body.clone(),
        Some(&other_rt),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // anonymous garbage, many times
    for n in 0..20 {
        let junk = serde_json::json!({ "refresh_token": format!("guess{n}") }).to_string();
        let (status, _) = post_json(&env.app, "/api/refresh", "application/json", junk).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(env.mock.count(Endpoint::Token), before, "nothing reached Discord");

    // the owner's own websocket token: refreshed, for that user
    let (status, r) = post_with(&env.app, "/api/refresh", "application/json", body, Some(&wumpus_ws)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(env.mock.count(Endpoint::Token), before + 1);
    let verifier = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
    let claims = verifier.verify(r["websocket_token"].as_str().unwrap(), now()).unwrap();
    assert_eq!(claims.sub.to_string(), fixture::WUMPUS_ID);
}

#[tokio::test]
async fn a_flood_of_token_requests_never_exceeds_the_bound_at_discord() {
    let env = env_built(|config| {
        EmbeddedBackend::new(config, ReqwestTransport::new().unwrap())
            .with_clock(Arc::new(now))
            .with_max_concurrent_requests(2)
    })
    .await;
    // a slow token endpoint: every request is still at Discord when the others arrive
    env.mock
        .inject(Fault::delay(Endpoint::Token, Duration::from_millis(1500)));
    let codes: Vec<String> = (0..10).map(|_| sdk_code(&env, "identify")).collect();
    let mut flood = tokio::task::JoinSet::new();
    for code in codes {
        let app = env.app.clone();
        let body = serde_json::json!({ "code": code }).to_string();
        flood.spawn(async move { post_full(&app, "/api/token", "application/json", body, None).await });
    }
    let answers = flood.join_all().await;
    assert!(
        env.mock.max_in_flight(None) <= 2,
        "{} at once",
        env.mock.max_in_flight(None)
    );
    let ok = answers.iter().filter(|(s, _, _)| *s == StatusCode::OK).count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(ok + busy.len(), answers.len(), "only 200 or 503");
    assert!((1..=2).contains(&ok), "{ok} logged in");
    for (_, v, headers) in &busy {
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(v["error"], "busy", "{v}");
    }
    assert_eq!(env.mock.count(Endpoint::Token), ok, "the refused ones were never sent");
    // the slots come free again
    env.mock.clear_faults();
    let code = sdk_code(&env, "identify");
    let (status, _) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn after_a_global_429_nothing_reaches_discord_until_it_is_over() {
    let clock = Arc::new(std::sync::atomic::AtomicU64::new(NOW));
    let at = Arc::clone(&clock);
    let env = env_built(move |config| {
        EmbeddedBackend::new(config, ReqwestTransport::new().unwrap()).with_clock(Arc::new(move || {
            UNIX_EPOCH + Duration::from_secs(at.load(std::sync::atomic::Ordering::SeqCst))
        }))
    })
    .await;
    let (rt, ws) = authorized(&env, fixture::WUMPUS_ID).await;
    env.mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .retry_after(30.0)
            .global(true)
            .once(),
    );
    let token_post = |code: String| {
        post_full(
            &env.app,
            "/api/token",
            "application/json",
            serde_json::json!({ "code": code }).to_string(),
            None,
        )
    };
    // Discord's global 429 is passed on
    let (status, v, _) = token_post(sdk_code(&env, "identify")).await;
    assert_eq!(
        (status, v["global"].as_bool()),
        (StatusCode::TOO_MANY_REQUESTS, Some(true))
    );
    let sent = env.mock.count(Endpoint::Token);
    // then nothing is sent: token and refresh get 503 with the time left
    let (status, v, headers) = token_post(sdk_code(&env, "identify")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(headers["retry-after"], "30");
    assert_eq!(
        (v["error"].as_str(), v["retry_after"].as_u64()),
        (Some("rate_limited"), Some(30))
    );
    clock.fetch_add(10, std::sync::atomic::Ordering::SeqCst);
    let body = serde_json::json!({ "refresh_token": rt }).to_string();
    let (status, _, headers) = post_full(&env.app, "/api/refresh", "application/json", body, Some(&ws)).await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            &"20".parse::<http::HeaderValue>().unwrap()
        )
    );
    assert_eq!(env.mock.count(Endpoint::Token), sent, "nothing reached Discord");
    // once the wait is over, requests flow again
    clock.fetch_add(21, std::sync::atomic::Ordering::SeqCst);
    let (status, v, _) = token_post(sdk_code(&env, "identify")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}
