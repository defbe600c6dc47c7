//! The axum and actix-web Activity endpoints answer byte-for-byte the same.
//!
//! How this is made honest: one SDK code is minted by the mock Discord; the axum handler
//! exchanges it over loopback through a recording transport (every request to Discord and its
//! answer are kept); the actix handler then gets the same code, with a transport that answers
//! a request only if it is byte-identical (method, URI, headers that matter, body) to one the
//! axum handler sent, from the recording; anything else goes to the mock, where the spent code
//! would fail. Both backends use the same fixed clock and keys. Equal bodies therefore mean
//! equal requests to Discord *and* equal answers to the client, for the same Discord answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use actix_web::test as actix_test;
use discord_oauth_actix::embedded as actix_embedded;
use discord_oauth_axum::embedded as axum_embedded;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::transport::Transport as _;
use discord_oauth_core::embedded::{EmbeddedConfig, WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use tower::ServiceExt as _;

type Key = (String, String, Option<Vec<u8>>, Vec<u8>);
type Recording = Arc<Mutex<HashMap<Key, http::Response<Vec<u8>>>>>;

fn key_of(req: &http::Request<Vec<u8>>) -> Key {
    (
        req.method().to_string(),
        req.uri().to_string(),
        req.headers().get("authorization").map(|v| v.as_bytes().to_vec()),
        req.body().clone(),
    )
}

/// Replays a recorded answer for an identical request, else sends it and records the answer.
async fn replay_or_send(recording: Recording, req: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> {
    let key = key_of(&req);
    if let Some(r) = recording.lock().unwrap().get(&key) {
        let mut out = http::Response::new(r.body().clone());
        *out.status_mut() = r.status();
        *out.headers_mut() = r.headers().clone();
        return Ok(out);
    }
    let resp = ReqwestTransport::new()
        .unwrap()
        .send(req, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let mut copy = http::Response::new(resp.body().clone());
    *copy.status_mut() = resp.status();
    *copy.headers_mut() = resp.headers().clone();
    recording.lock().unwrap().insert(key, copy);
    Ok(resp)
}

const NOW: u64 = 1_700_000_000;

fn config(mock: &MockDiscord) -> EmbeddedConfig {
    let endpoints = Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap();
    let client = Client::new(
        ClientId::new(fixture::CLIENT_ID.into()),
        Some(ClientSecret::new(fixture::CLIENT_SECRET.into())),
        RedirectUrl::new(fixture::REDIRECT_URIS[0].into()).unwrap(),
    )
    .with_endpoints(endpoints);
    let key = || WebsocketKey::new("k1", vec![9; 32]).unwrap();
    EmbeddedConfig::new(
        client,
        WebsocketTokenSigner::new(key(), "activity").unwrap(),
        WebsocketTokenVerifier::new([key()], "activity").unwrap(),
    )
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    cache_control: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

struct Sites {
    axum: axum::Router,
    actix_backend: actix_embedded::EmbeddedBackend,
    /// Requests for the code `hold` wait here until released (then fail), keeping their
    /// request slot taken meanwhile.
    gate: Arc<tokio::sync::Semaphore>,
    /// How many requests are waiting at the gate.
    holding: Arc<std::sync::atomic::AtomicUsize>,
}

/// A request of the code `hold` waits for a permit of `gate`, then fails; any other is
/// replayed or sent.
async fn gated(
    recording: Recording,
    gate: Arc<tokio::sync::Semaphore>,
    holding: Arc<std::sync::atomic::AtomicUsize>,
    req: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, String> {
    if req.body().windows(9).any(|w| w == b"code=hold") {
        holding.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let permit = gate.acquire().await.map_err(|e| e.to_string())?;
        permit.forget();
        holding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        return Err("released".to_owned());
    }
    replay_or_send(recording, req).await
}

fn sites(mock: &MockDiscord, recording: &Recording) -> Sites {
    let clock: discord_oauth_axum::Clock = Arc::new(|| UNIX_EPOCH + Duration::from_secs(NOW));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let holding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (rec, g, h) = (recording.clone(), gate.clone(), holding.clone());
    let tower_transport = tower::service_fn(move |req| gated(rec.clone(), g.clone(), h.clone(), req));
    // One request to Discord at a time, on both.
    let config = || config(mock).with_clock(clock.clone()).with_max_concurrent_requests(1);
    let axum_backend = axum_embedded::EmbeddedBackend::new(config(), tower_transport);
    let axum = axum::Router::new()
        .route("/api/token", axum::routing::post(axum_embedded::token))
        .route("/api/refresh", axum::routing::post(axum_embedded::refresh))
        .route(
            "/ws",
            axum::routing::get(|u: axum_embedded::WebsocketUser| async move { u.0.sub.to_string() }),
        )
        .with_state(axum_backend);
    let (rec, g, h) = (recording.clone(), gate.clone(), holding.clone());
    let actix_transport = move |req: http::Request<Vec<u8>>| {
        let (rec, g, h) = (rec.clone(), g.clone(), h.clone());
        async move {
            gated(rec, g, h, req)
                .await
                .map_err(discord_oauth_actix::transport::TransportError::Failed)
        }
    };
    let actix_backend = actix_embedded::EmbeddedBackend::with_transport(
        config(),
        discord_oauth_actix::transport::from_fn(actix_transport),
    );
    Sites {
        axum,
        actix_backend,
        gate,
        holding,
    }
}

async fn axum_answer(app: &axum::Router, method: &str, uri: &str, content_type: &str, body: &str) -> Answer {
    axum_answer_as(app, method, uri, content_type, body, None).await
}

/// With `Authorization: Bearer <bearer>` when given.
async fn axum_answer_as(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
    bearer: Option<&str>,
) -> Answer {
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type);
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req.body(axum::body::Body::from(body.to_owned())).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let h = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let (content_type, cache_control, retry_after) = (h("content-type"), h("cache-control"), h("retry-after"));
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
    Answer {
        status,
        content_type,
        cache_control,
        retry_after,
        body,
    }
}

async fn actix_answer(
    backend: &actix_embedded::EmbeddedBackend,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> Answer {
    actix_answer_as(backend, method, uri, content_type, body, None).await
}

/// With `Authorization: Bearer <bearer>` when given.
async fn actix_answer_as(
    backend: &actix_embedded::EmbeddedBackend,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
    bearer: Option<&str>,
) -> Answer {
    use actix_web::{App, web};
    let app = actix_test::init_service(
        App::new()
            .app_data(web::Data::new(backend.clone()))
            .route("/api/token", web::post().to(actix_embedded::token))
            .route("/api/refresh", web::post().to(actix_embedded::refresh))
            .route(
                "/ws",
                web::get().to(|u: actix_embedded::WebsocketUser| async move { u.0.sub.to_string() }),
            ),
    )
    .await;
    let mut req = actix_test::TestRequest::default()
        .method(method.parse().unwrap())
        .uri(uri)
        .insert_header(("content-type", content_type));
    if let Some(token) = bearer {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    let req = req.set_payload(body.to_owned()).to_request();
    let resp = actix_test::call_service(&app, req).await;
    let h = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let (content_type, cache_control, retry_after) = (h("content-type"), h("cache-control"), h("retry-after"));
    let status = resp.status().as_u16();
    let body = actix_test::read_body(resp).await.to_vec();
    Answer {
        status,
        content_type,
        cache_control,
        retry_after,
        body,
    }
}

fn assert_same(what: &str, a: &Answer, b: &Answer) {
    assert_eq!(
        a.body,
        b.body,
        "{what}: bodies differ\naxum:  {}\nactix: {}",
        String::from_utf8_lossy(&a.body),
        String::from_utf8_lossy(&b.body)
    );
    assert_eq!(a.status, b.status, "{what}");
    assert_eq!(a.content_type, b.content_type, "{what}");
    assert_eq!(a.cache_control, b.cache_control, "{what}");
    assert_eq!(a.retry_after, b.retry_after, "{what}");
}

#[actix_web::test]
async fn axum_and_actix_answer_byte_identical_json() {
    let mock = MockDiscord::start().await.unwrap();
    let recording = Recording::default();
    let s = sites(&mock, &recording);
    let json = "application/json";

    // the same SDK code, the same Discord answers, the same clock
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify email")
        .unwrap();
    let body = serde_json::json!({ "code": code, "scopes": ["identify", "email"] }).to_string();
    let a = axum_answer(&s.axum, "POST", "/api/token", json, &body).await;
    let b = actix_answer(&s.actix_backend, "POST", "/api/token", json, &body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_same("token", &a, &b);
    assert_eq!(mock.count(Endpoint::Token), 1, "actix sent the very same exchange");
    assert_eq!(mock.count(Endpoint::CurrentUser), 1, "and the very same user request");
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["expires_in"], 604_800);

    // the websocket token from that answer, on both extractors, good and bad
    let ws = v["websocket_token"].as_str().unwrap();
    for uri in [format!("/ws?token={ws}"), format!("/ws?token={ws}x"), "/ws".to_owned()] {
        let a = axum_answer(&s.axum, "GET", &uri, json, "").await;
        let b = actix_answer(&s.actix_backend, "GET", &uri, json, "").await;
        assert_same(&uri, &a, &b);
    }

    // refresh, proven with that websocket token; and every refusal of a refresh: no proof,
    // a forged token, a genuine token of another session
    let rt = serde_json::json!({ "refresh_token": v["refresh_token"] }).to_string();
    let a = axum_answer_as(&s.axum, "POST", "/api/refresh", json, &rt, Some(ws)).await;
    let b = actix_answer_as(&s.actix_backend, "POST", "/api/refresh", json, &rt, Some(ws)).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_same("refresh", &a, &b);
    let forged = format!("{ws}x");
    let refreshed: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let next_rt = serde_json::json!({ "refresh_token": refreshed["refresh_token"] }).to_string();
    let before = mock.count(Endpoint::Token);
    for (what, bearer, status) in [
        ("refresh without proof", None, 401),
        ("refresh with a forged token", Some(forged.as_str()), 401),
        ("refresh with a token of the previous session", Some(ws), 403),
    ] {
        let a = axum_answer_as(&s.axum, "POST", "/api/refresh", json, &next_rt, bearer).await;
        let b = actix_answer_as(&s.actix_backend, "POST", "/api/refresh", json, &next_rt, bearer).await;
        assert_eq!(a.status, status, "{what}: {}", String::from_utf8_lossy(&a.body));
        assert_same(what, &a, &b);
    }
    assert_eq!(mock.count(Endpoint::Token), before, "no refusal reached Discord");

    // every refusal (the recording is cleared so the reused code reaches Discord again)
    recording.lock().unwrap().clear();
    let big = format!(r#"{{"code":"{}"}}"#, "a".repeat(5000));
    for (what, ct, body) in [
        ("reused code", json, body.as_str()),
        ("bad code", json, r#"{"code":"nope"}"#),
        ("missing field", json, "{}"),
        ("extra field", json, r#"{"code":"x","more":1}"#),
        ("not json", json, "nope"),
        ("oversized", json, big.as_str()),
        ("wrong content type", "text/plain", r#"{"code":"x"}"#),
    ] {
        let a = axum_answer(&s.axum, "POST", "/api/token", ct, body).await;
        let b = actix_answer(&s.actix_backend, "POST", "/api/token", ct, body).await;
        assert!((400..500).contains(&a.status), "{what}: {}", a.status);
        assert_same(what, &a, &b);
    }

    // a Discord 429, recorded once and replayed to actix
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    mock.inject(Fault::rate_limited(Endpoint::Token).retry_after(1.75).once());
    let body = serde_json::json!({ "code": code }).to_string();
    let a = axum_answer(&s.axum, "POST", "/api/token", json, &body).await;
    let b = actix_answer(&s.actix_backend, "POST", "/api/token", json, &body).await;
    assert_eq!(a.status, 429);
    assert_same("429", &a, &b);

    // every request slot taken (one, held at the gate): 503 busy, nothing sent
    let hold = r#"{"code":"hold"}"#;
    let app = s.axum.clone();
    let held_axum = actix_web::rt::spawn(async move { axum_answer(&app, "POST", "/api/token", json, hold).await });
    let backend = s.actix_backend.clone();
    let held_actix =
        actix_web::rt::spawn(async move { actix_answer(&backend, "POST", "/api/token", json, hold).await });
    while s.holding.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    let body = serde_json::json!({ "code": code }).to_string();
    let before = mock.count(Endpoint::Token);
    let a = axum_answer(&s.axum, "POST", "/api/token", json, &body).await;
    let b = actix_answer(&s.actix_backend, "POST", "/api/token", json, &body).await;
    assert_eq!((a.status, a.retry_after.as_deref()), (503, Some("1")));
    assert_same("busy", &a, &b);
    assert_eq!(mock.count(Endpoint::Token), before, "nothing sent while busy");
    s.gate.add_permits(2);
    let (a, b) = (held_axum.await.unwrap(), held_actix.await.unwrap());
    assert_same("released", &a, &b);

    // Discord's global 429 (recorded once, replayed to actix), then the breaker's 503
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .retry_after(30.0)
            .global(true)
            .once(),
    );
    let body = serde_json::json!({ "code": code }).to_string();
    let a = axum_answer(&s.axum, "POST", "/api/token", json, &body).await;
    let b = actix_answer(&s.actix_backend, "POST", "/api/token", json, &body).await;
    assert_eq!(a.status, 429);
    assert_same("global 429", &a, &b);
    let before = mock.count(Endpoint::Token);
    let a = axum_answer(&s.axum, "POST", "/api/token", json, &body).await;
    let b = actix_answer(&s.actix_backend, "POST", "/api/token", json, &body).await;
    assert_eq!((a.status, a.retry_after.as_deref()), (503, Some("30")));
    assert_same("breaker closed", &a, &b);
    assert_eq!(
        mock.count(Endpoint::Token),
        before,
        "nothing sent while the breaker is closed"
    );
}
