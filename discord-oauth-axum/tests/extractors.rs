//! The extractors and their rejections, driven with `oneshot` (no network).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use discord_oauth_axum::{AuthState, DiscordToken, DiscordUser};
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::{Scopes, TokenSet};
use http::{Request, StatusCode};
use tower::ServiceExt;

async fn who(user: DiscordUser) -> String {
    format!("{} {}", user.id, user.display_name())
}

async fn maybe(user: Option<DiscordUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.username.clone())
}

async fn token(t: DiscordToken) -> String {
    t.scopes().to_string()
}

fn session(with_tokens: bool) -> AuthSession {
    let user = serde_json::from_value(serde_json::json!({
        "id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "discriminator": "0"
    }))
    .unwrap();
    let now = SystemTime::now();
    let tokens = with_tokens.then(|| {
        TokenSet::parse(
            br#"{"access_token":"at","token_type":"Bearer","expires_in":600,"scope":"identify guilds"}"#,
            &Scopes::new(),
            now,
        )
        .unwrap()
    });
    AuthSession {
        user,
        tokens,
        authenticated_at: now - Duration::from_secs(5),
        login_id: 0,
    }
}

fn app(state: Option<AuthState>) -> Router {
    let router = Router::new()
        .route("/who", get(who).post(who))
        .route("/maybe", get(maybe))
        .route("/token", post(token).get(token));
    match state {
        Some(s) => router.layer(axum::Extension(s)),
        None => router,
    }
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get_html(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("accept", "text/html,application/xhtml+xml")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn missing_layer_is_an_opaque_500() {
    // The fix goes to the log; the browser gets a generic page (checklist E-05), as on actix.
    let (status, _, body) = send(app(None), get_html("/who")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "Internal Server Error");
}

#[tokio::test]
async fn browser_page_load_redirects_to_login_and_back() {
    let (status, headers, _) = send(
        app(Some(AuthState::for_tests_anonymous("/auth/login"))),
        get_html("/who?tab=2"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/auth/login?return_to=%2Fwho%3Ftab%3D2");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn a14_api_and_xhr_requests_get_401_json_not_a_redirect() {
    let anon = || app(Some(AuthState::for_tests_anonymous("/auth/login")));
    let json = Request::get("/who")
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(anon(), json).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "unauthorized");
    assert_eq!(v["login_url"], "/auth/login?return_to=%2Fwho");
    let cors = Request::get("/who")
        .header("accept", "text/html")
        .header("sec-fetch-mode", "cors")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(anon(), cors).await.0, StatusCode::UNAUTHORIZED);
    let post = Request::post("/who")
        .header("accept", "text/html")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(anon(), post).await.0, StatusCode::UNAUTHORIZED);
    let no_accept = Request::get("/who").body(Body::empty()).unwrap();
    assert_eq!(send(anon(), no_accept).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn h15_store_failure_is_503_never_anonymous() {
    let down = || app(Some(AuthState::for_tests_unavailable("/auth/login")));
    let (status, headers, _) = send(down(), get_html("/who")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    // Even the optional extractor refuses to guess.
    let (status, _, _) = send(down(), get_html("/maybe")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn authenticated_user_is_extracted() {
    let authed = || app(Some(AuthState::for_tests_authenticated(session(true), "/auth/login")));
    let (status, _, body) = send(authed(), get_html("/who")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "80351110224678912 Nelly");
    let (_, _, body) = send(authed(), get_html("/maybe")).await;
    assert_eq!(body, "nelly");
    let (status, _, body) = send(authed(), get_html("/token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "identify guilds");
}

#[tokio::test]
async fn optional_user_is_none_when_logged_out() {
    let (status, _, body) = send(
        app(Some(AuthState::for_tests_anonymous("/auth/login"))),
        get_html("/maybe"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "anonymous");
}

#[tokio::test]
async fn token_extractor_refuses_identity_only_sessions() {
    let identity_only = app(Some(AuthState::for_tests_authenticated(session(false), "/auth/login")));
    let (status, _, body) = send(identity_only, get_html("/token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("identity-only"), "{body}");
}
