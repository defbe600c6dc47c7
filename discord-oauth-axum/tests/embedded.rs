//! What only the axum integration of the Activity endpoints has: its state (`FromRef`
//! composition), its middleware's request extension and its rejection types. Everything both
//! frameworks share is tested once, on both, in `tests/scenarios/tests/embedded_endpoints.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use discord_oauth_axum::embedded::{
    self, EmbeddedBackend, ProxyCheck, WebsocketAuth, WebsocketUser, WebsocketUserRejection,
};
use discord_oauth_core::embedded::{
    EmbeddedConfig, ProxyAuth, ProxyPayload, ProxyPublicKey, ProxyVerifier, WebsocketKey, WebsocketRejection,
    WebsocketTokenSigner, WebsocketTokenVerifier, sign_proxy_payload,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, RedirectUrl};
use serde_json::Value;
use tower::ServiceExt;

const T0: u64 = 1_700_000_000;

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

type Sent = Arc<Mutex<Vec<String>>>;

/// Discord played by a script: a token answer, then the user; every request path is kept.
fn scripted(sent: &Sent) -> impl discord_oauth_axum::transport::Transport + Clone {
    let sent = Arc::clone(sent);
    tower::service_fn(move |req: http::Request<Vec<u8>>| {
        sent.lock().unwrap().push(req.uri().path().to_owned());
        let body = if req.uri().path().ends_with("/token") {
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r","scope":"identify"}"#
        } else {
            r#"{"id":"42","username":"x","discriminator":"0","avatar":null}"#
        };
        let answer = http::Response::builder()
            .status(200)
            .header("content-type", "application/json");
        std::future::ready(Ok::<_, String>(answer.body(body.as_bytes().to_vec()).unwrap()))
    })
}

/// An application state with the backend and the proxy check in it, as an app composes them.
#[derive(Clone)]
struct AppState<T> {
    backend: EmbeddedBackend<T>,
    check: ProxyCheck,
}

impl<T: Clone> FromRef<AppState<T>> for EmbeddedBackend<T> {
    fn from_ref(state: &AppState<T>) -> Self {
        state.backend.clone()
    }
}

impl<T: discord_oauth_axum::transport::Transport> FromRef<AppState<T>> for WebsocketAuth {
    fn from_ref(state: &AppState<T>) -> Self {
        state.backend.websocket_auth()
    }
}

impl<T> FromRef<AppState<T>> for ProxyCheck {
    fn from_ref(state: &AppState<T>) -> Self {
        state.check.clone()
    }
}

fn config() -> EmbeddedConfig {
    let client = Client::new(
        ClientId::new("1100000000000000001".into()),
        Some(ClientSecret::new("s".into())),
        RedirectUrl::new("http://127.0.0.1/unused".into()).unwrap(),
    );
    let key = || WebsocketKey::new("k1", vec![3; 32]).unwrap();
    let signer = WebsocketTokenSigner::new(key(), "activity").unwrap();
    let verifier = WebsocketTokenVerifier::new([key()], "activity").unwrap();
    EmbeddedConfig::new(client, signer, verifier).with_clock(Arc::new(at))
}

async fn answer(app: &Router, req: http::Request<Body>) -> (u16, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn the_endpoints_and_extractors_take_their_parts_from_a_composed_state() {
    let sent = Sent::default();
    let seed = [4; 32];
    let check =
        ProxyCheck::new(ProxyAuth::new(ProxyVerifier::new(ProxyPublicKey::from_seed(&seed)))).with_clock(Arc::new(at));
    let state = AppState {
        backend: EmbeddedBackend::new(config(), scripted(&sent)),
        check: check.clone(),
    };
    // the proxy payload reaches a handler as a plain request extension too
    let signed_only = Router::new()
        .route(
            "/api/who",
            get(|axum::Extension(p): axum::Extension<ProxyPayload>| async move { p.created_at.to_string() }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            check,
            embedded::require_discord_proxy,
        ));
    let app = Router::new()
        .route("/api/token", post(embedded::token))
        .route("/ws", get(|u: WebsocketUser| async move { u.0.scope }))
        .merge(signed_only)
        .with_state(state);

    let token = http::Request::post("/api/token")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"code":"c"}"#))
        .unwrap();
    let (status, body) = answer(&app, token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(*sent.lock().unwrap(), ["/api/v10/oauth2/token", "/api/v10/users/@me"]);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["expires_in"], 60, "the configuration's clock");
    let ws = v["websocket_token"].as_str().unwrap();
    let (status, scope) = answer(
        &app,
        http::Request::get(format!("/ws?token={ws}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((status, scope.as_str()), (200, "identify"));

    let payload = ProxyPayload {
        created_at: T0,
        expires_at: T0 + 60,
        fields: serde_json::Map::new(),
    };
    let mut who = http::Request::get("/api/who");
    for (name, value) in sign_proxy_payload(&seed, &payload) {
        who = who.header(name, value);
    }
    assert_eq!(
        answer(&app, who.body(Body::empty()).unwrap()).await,
        (200, T0.to_string())
    );
    let (status, _) = answer(&app, http::Request::get("/api/who").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_rejection_is_the_cores_and_renders_its_answer() {
    let rejection: WebsocketUserRejection = embedded::EmbeddedRejection(WebsocketRejection::Missing);
    assert_eq!(rejection.to_string(), WebsocketRejection::Missing.to_string());
    let std_error: &dyn std::error::Error = &rejection;
    assert!(std_error.source().is_none(), "transparent: the core's error itself");
    let response = rejection.into_response();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["error"], "missing_token");
}
