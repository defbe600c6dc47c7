//! The Activity token and refresh endpoints and the websocket-token extractor, against the mock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use discord_oauth_axum::embedded::{refresh, token};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{EmbeddedBackend, WebsocketUser};
use discord_oauth_core::embedded::{WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use discord_oauth_tower::Transport;
use http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

struct Env {
    mock: MockDiscord,
    transport: ReqwestTransport,
    app: Router,
}

async fn env() -> Env {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let endpoints = Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap();
    let client = Client::new(
        ClientId::new(fixture::CLIENT_ID.into()),
        Some(ClientSecret::new(fixture::CLIENT_SECRET.into())),
        RedirectUrl::new(fixture::REDIRECT_URIS[0].into()).unwrap(),
    )
    .with_endpoints(endpoints);
    let key = || WebsocketKey::new("k1", vec![7; 32]).unwrap();
    let signer = WebsocketTokenSigner::new(key(), "activity").unwrap();
    let verifier = WebsocketTokenVerifier::new([key()], "activity").unwrap();
    let transport = ReqwestTransport::new().unwrap();
    // The mock checks redirect_uri against the authorize request's, so send it here.
    let backend =
        EmbeddedBackend::new(client, transport.clone(), signer, verifier).with_redirect_uri(fixture::REDIRECT_URIS[0]);
    let app = Router::new()
        .route("/api/token", post(token))
        .route("/api/refresh", post(refresh))
        .route(
            "/ws",
            get(|WebsocketUser(c): WebsocketUser| async move { c.sub.to_string() }),
        )
        .with_state(backend);
    Env { mock, transport, app }
}

/// Authorizes over loopback (auto-consent) and returns the code.
async fn code(env: &Env, scopes: &str) -> String {
    let mut url: url::Url = env.mock.authorize_url().parse().unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", fixture::CLIENT_ID)
        .append_pair("scope", scopes)
        .append_pair("redirect_uri", fixture::REDIRECT_URIS[0])
        .append_pair("state", "s");
    let req = Request::get(url.as_str()).body(Vec::new()).unwrap();
    let resp = env.transport.send(req, Duration::from_secs(10)).await.unwrap();
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
    let req = Request::post(path)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn good_code_answers_the_sdk_shape_and_reuse_is_refused() {
    let env = env().await;
    let code = code(&env, "identify email").await;
    let body = serde_json::json!({ "code": code, "scopes": ["identify", "email"] }).to_string();
    let (status, v) = post_json(&env.app, "/api/token", "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["access_token"].is_string() && v["refresh_token"].is_string() && v["websocket_token"].is_string());
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    assert!(v["scope"].as_str().unwrap().contains("email"));
    let u = v["user_data"].as_object().unwrap();
    assert_eq!(u["id"], fixture::WUMPUS_ID);
    for f in ["username", "discriminator", "email"] {
        assert!(u[f].is_string(), "{f}");
    }
    for f in ["global_name", "avatar", "banner"] {
        assert!(u[f].is_string() || u[f].is_null(), "{f}");
    }
    assert!(
        u["avatar"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.discordapp.com/avatars/")
    );
    for f in ["verified", "mfa_enabled"] {
        assert!(u[f].is_boolean(), "{f}");
    }
    for f in ["flags", "accent_color", "premium_type", "public_flags"] {
        assert!(u[f].is_u64(), "{f}");
    }
    assert_eq!(u.len(), 13);

    // the websocket token opens /ws, by header and by query parameter
    let ws = v["websocket_token"].as_str().unwrap();
    let by_header = Request::get("/ws")
        .header("authorization", format!("Bearer {ws}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        env.app.clone().oneshot(by_header).await.unwrap().status(),
        StatusCode::OK
    );
    let by_query = Request::get(format!("/ws?token={ws}")).body(Body::empty()).unwrap();
    assert_eq!(
        env.app.clone().oneshot(by_query).await.unwrap().status(),
        StatusCode::OK
    );
    let tampered = Request::get(format!("/ws?token={ws}x")).body(Body::empty()).unwrap();
    assert_eq!(
        env.app.clone().oneshot(tampered).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let none = Request::get("/ws").body(Body::empty()).unwrap();
    assert_eq!(
        env.app.clone().oneshot(none).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // the code cannot be used twice
    let (status, v) = post_json(&env.app, "/api/token", "application/json", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
}

#[tokio::test]
async fn email_absent_without_the_scope_and_refresh_rotates() {
    let env = env().await;
    let code = code(&env, "identify").await;
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(!v["user_data"].as_object().unwrap().contains_key("email"));
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "refresh_token": rt }).to_string();
    let (status, r) = post_json(&env.app, "/api/refresh", "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["token_type"], "Bearer");
    assert_ne!(r["refresh_token"], v["refresh_token"]);
    assert!(r["expires_in"].as_u64().unwrap() > 0);
    // the old refresh token was rotated away
    let (status, e) = post_json(&env.app, "/api/refresh", "application/json", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn malformed_requests_get_4xx_json() {
    let env = env().await;
    let cases: [(&str, String, StatusCode); 7] = [
        ("application/json", r#"{"code":"nope"}"#.into(), StatusCode::BAD_REQUEST),
        ("application/json", "{}".into(), StatusCode::BAD_REQUEST),
        (
            "application/json",
            r#"{"code":"x","extra":1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", "not json".into(), StatusCode::BAD_REQUEST),
        (
            "application/json",
            format!(r#"{{"code":"{}"}}"#, "a".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "text/plain",
            r#"{"code":"x"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/x-www-form-urlencoded",
            "code=x".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (ct, body, expected) in cases {
        let (status, v) = post_json(&env.app, "/api/token", ct, body.clone()).await;
        assert_eq!(status, expected, "{ct} {body:.40}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn discord_429_becomes_429_with_retry_after_from_the_body() {
    let env = env().await;
    let code = code(&env, "identify").await;
    env.mock
        .inject(Fault::rate_limited(Endpoint::Token).retry_after(2.5).once());
    let (status, v) = post_json(
        &env.app,
        "/api/token",
        "application/json",
        serde_json::json!({ "code": code }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!((v["retry_after"].as_f64().unwrap() - 2.5).abs() < 1e-9, "{v}");
    assert_eq!(env.mock.count(Endpoint::Token), 1, "no immediate retry");
}
