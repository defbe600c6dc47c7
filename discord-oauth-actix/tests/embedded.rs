//! The Activity token and refresh endpoints, the websocket-token extractor and the proxy
//! signature check on actix-web, against the mock Discord over loopback; and a real
//! WebSocket upgrade guarded by the websocket token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, HttpRequest, HttpResponse, test, web};
use discord_oauth_actix::embedded::{self, DiscordProxy, EmbeddedBackend, ProxyCheck, WebsocketAuth, WebsocketUser};
use discord_oauth_actix::transport::ReqwestTransport;
use discord_oauth_core::embedded::{
    EmbeddedConfig, ProxyAuth, ProxyPayload, ProxyPublicKey, ProxyVerifier, WebsocketKey, WebsocketTokenSigner,
    WebsocketTokenVerifier, sign_proxy_payload,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl, Scopes, Snowflake};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, RateLimitStyle, fixture};
use futures_util::StreamExt as _;
use serde_json::Value;

const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn key(kid: &str, byte: u8) -> WebsocketKey {
    WebsocketKey::new(kid, vec![byte; 32]).unwrap()
}

fn config(mock: &MockDiscord) -> EmbeddedConfig {
    let endpoints = Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap();
    let client = Client::new(
        ClientId::new(fixture::CLIENT_ID.into()),
        Some(ClientSecret::new(fixture::CLIENT_SECRET.into())),
        RedirectUrl::new(fixture::REDIRECT_URIS[0].into()).unwrap(),
    )
    .with_endpoints(endpoints);
    let signer = WebsocketTokenSigner::new(key("k2", 2), "activity").unwrap();
    let verifier = WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap();
    EmbeddedConfig::new(client, signer, verifier)
}

fn backend(config: EmbeddedConfig) -> EmbeddedBackend {
    EmbeddedBackend::builder(config, ReqwestTransport::new().unwrap())
        .clock(Arc::new(now))
        .build()
}

async fn ws_probe(user: WebsocketUser) -> HttpResponse {
    HttpResponse::Ok().body(user.0.sub.to_string())
}

macro_rules! app {
    ($backend:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($backend))
                .route("/api/token", web::post().to(embedded::token))
                .route("/api/refresh", web::post().to(embedded::refresh))
                .route("/ws", web::get().to(ws_probe)),
        )
        .await
    };
}

async fn call<S, B>(app: &S, req: actix_http::Request) -> (StatusCode, Value, HeaderMap)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let json = headers.get("content-type").is_some_and(|v| v == "application/json");
    let Ok(bytes) = actix_web::body::to_bytes(resp.into_body()).await else {
        panic!("unreadable body")
    };
    let value = if json {
        serde_json::from_slice(&bytes).unwrap()
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into())
    };
    (status, value, headers)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

fn post(path: &str, content_type: &str, body: impl Into<String>) -> actix_http::Request {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", content_type))
        .set_payload(body.into())
        .to_request()
}

/// A JSON `POST` with `Authorization: Bearer <token>`.
fn post_bearer(path: &str, body: impl Into<String>, token: &str) -> actix_http::Request {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .set_payload(body.into())
        .to_request()
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

fn sdk_code(mock: &MockDiscord, scopes: &str) -> String {
    mock.sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, scopes)
        .unwrap()
}

/// Every field of the SDK's `DISCORD_AUTHORIZE_SUCCESS`, by name and type.
fn assert_sdk_shape(v: &Value, email: bool) {
    assert_eq!(v.as_object().unwrap().len(), 7, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    for f in ["access_token", "refresh_token", "scope", "websocket_token"] {
        assert!(v[f].as_str().is_some_and(|s| !s.is_empty()), "{f}: {v}");
    }
    assert_eq!(v["expires_in"], 604_800);
    let u = v["user_data"].as_object().unwrap();
    assert_eq!(u.len(), if email { 13 } else { 12 }, "{v}");
    assert_eq!(u["id"], fixture::WUMPUS_ID);
    assert_eq!(u["username"], "wumpus");
    assert_eq!(u["global_name"], "Wumpus");
    assert_eq!(u["discriminator"], "0");
    assert!(
        u["avatar"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.discordapp.com/avatars/")
    );
    assert!(
        u["banner"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.discordapp.com/banners/")
    );
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
    assert_eq!(u.contains_key("email"), email);
}

#[actix_web::test]
async fn sdk_code_answers_the_sdk_shape_and_refresh_rotates() {
    let mock = MockDiscord::start().await.unwrap();
    let app = app!(backend(config(&mock)));
    let code = sdk_code(&mock, "identify email");
    let body = serde_json::json!({ "code": code, "scopes": "identify,email" }).to_string();
    let (status, v, resp) = call(&app, post("/api/token", "application/json", body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(header(&resp, "cache-control"), "no-store");
    assert_sdk_shape(&v, true);
    assert!(
        mock.last_request(Endpoint::Token)
            .unwrap()
            .form_param("redirect_uri")
            .is_none()
    );

    // the websocket token opens the guarded route, by query and by header
    let ws = v["websocket_token"].as_str().unwrap();
    let req = test::TestRequest::get().uri(&format!("/ws?token={ws}")).to_request();
    assert_eq!(call(&app, req).await.1, Value::String(fixture::WUMPUS_ID.into()));
    let req = test::TestRequest::get()
        .uri("/ws")
        .insert_header(("authorization", format!("Bearer {ws}")))
        .to_request();
    assert_eq!(call(&app, req).await.0, StatusCode::OK);

    // refresh rotates (proven with the websocket token of the same answer)
    let rt = serde_json::json!({ "refresh_token": v["refresh_token"] }).to_string();
    let (status, r, _) = call(&app, post_bearer("/api/refresh", rt.clone(), ws)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r.as_object().unwrap().len(), 6);
    assert_eq!(r["expires_in"], 604_800);
    assert_ne!(r["refresh_token"], v["refresh_token"]);
    let (status, _, _) = call(&app, post_bearer("/api/refresh", rt, ws)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // reuse is refused
    let (status, e, _) = call(&app, post("/api/token", "application/json", body)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // and, like Discord, a reused code revokes the grant it produced
    let rotated = serde_json::json!({ "refresh_token": r["refresh_token"] }).to_string();
    let next_ws = r["websocket_token"].as_str().unwrap();
    let (status, _, _) = call(&app, post_bearer("/api/refresh", rotated, next_ws)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn redirect_codes_work_with_a_configured_redirect_uri() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let app = app!(backend(config(&mock).with_redirect_uri(fixture::REDIRECT_URIS[0])));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut authorize = url::Url::parse(&mock.authorize_url()).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", fixture::CLIENT_ID),
        ("scope", "identify"),
        ("redirect_uri", fixture::REDIRECT_URIS[0]),
    ]);
    let resp = http.get(authorize.as_str()).send().await.unwrap();
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, v, _) = call(
        &app,
        post(
            "/api/token",
            "application/json",
            serde_json::json!({ "code": code }).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_sdk_shape(&v, false);
}

#[actix_web::test]
async fn malformed_requests_get_4xx_json() {
    let mock = MockDiscord::start().await.unwrap();
    let app = app!(backend(config(&mock)));
    let cases: [(&str, &str, String, StatusCode); 9] = [
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
        ("/api/refresh", "application/json", "[]".into(), StatusCode::BAD_REQUEST),
        (
            "/api/refresh",
            "application/json",
            r#"{"refresh_token":"nope"}"#.into(),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (path, ct, body, expected) in cases {
        let (status, v, _) = call(&app, post(path, ct, body.clone())).await;
        assert_eq!(status, expected, "{path} {ct} {body:.40}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
    // only the bad code reached Discord (the refresh had no proof of a session)
    assert_eq!(mock.count(Endpoint::Token), 1);
}

#[actix_web::test]
async fn discord_429_becomes_429_with_retry_after_from_the_body() {
    let mock = MockDiscord::start().await.unwrap();
    let app = app!(backend(config(&mock)));
    let code = sdk_code(&mock, "identify");
    mock.inject(Fault::rate_limited(Endpoint::Token).retry_after(2.5).once());
    let body = serde_json::json!({ "code": code }).to_string();
    let (status, v, resp) = call(&app, post("/api/token", "application/json", body.clone())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["retry_after"], 2.5);
    assert_eq!(header(&resp, "retry-after"), "3");
    assert_eq!(mock.count(Endpoint::Token), 1, "no immediate retry");
    let (status, _, _) = call(&app, post("/api/token", "application/json", body)).await;
    assert_eq!(status, StatusCode::OK);

    mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .style(RateLimitStyle::CloudflareBan)
            .once(),
    );
    let (status, v, _) = call(
        &app,
        post_bearer(
            "/api/refresh",
            r#"{"refresh_token":"x"}"#,
            &bound_token(fixture::WUMPUS_ID, "x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(v["retry_after"].is_null());
}

#[actix_web::test]
async fn websocket_token_refusals() {
    let auth = WebsocketAuth::new(WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap())
        .with_clock(Arc::new(now));
    let app = test::init_service(App::new().app_data(auth).route("/ws", web::get().to(ws_probe))).await;
    let sign = |kid: &str, byte: u8, aud: &str, at: SystemTime| {
        WebsocketTokenSigner::new(key(kid, byte), aud).unwrap().sign(
            Snowflake::from(42),
            &Scopes::parse("identify"),
            at,
        )
    };
    let good = sign("k1", 1, "activity", now());
    let req = test::TestRequest::get().uri(&format!("/ws?token={good}")).to_request();
    assert_eq!(call(&app, req).await.1, Value::String("42".into()));
    let mut tampered = good.clone();
    tampered.insert(good.find('.').unwrap() + 3, 'x');
    for (what, t, needle) in [
        ("tampered", tampered, ""),
        (
            "expired",
            sign("k2", 2, "activity", now() - Duration::from_secs(601)),
            "expired",
        ),
        ("wrong audience", sign("k2", 2, "other", now()), "audience"),
        ("wrong key", sign("k2", 3, "activity", now()), "signature"),
    ] {
        let req = test::TestRequest::get().uri(&format!("/ws?token={t}")).to_request();
        let (status, v, resp) = call(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(v["error"], "invalid_token", "{what}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{what}: {v}");
        assert_eq!(header(&resp, "www-authenticate"), "Bearer error=\"invalid_token\"");
    }
    let req = test::TestRequest::get().uri("/ws").to_request();
    let (status, v, _) = call(&app, req).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_token"))
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

fn signed(seed: &[u8; 32], payload: &ProxyPayload) -> test::TestRequest {
    let mut req = test::TestRequest::get().uri("/api/state");
    for (k, v) in sign_proxy_payload(seed, payload) {
        req = req.insert_header((k, v));
    }
    req
}

async fn state(p: DiscordProxy) -> HttpResponse {
    HttpResponse::Ok().body(p.0.str_field("user_id").unwrap_or("").to_owned())
}

#[actix_web::test]
async fn proxy_signature_middleware_and_extractor() {
    let auth = ProxyAuth::new(ProxyVerifier::new(ProxyPublicKey::from_seed(&SEED))).with_instance_check(
        |p: &ProxyPayload, req: &http::request::Parts| {
            let ok = p.str_field("user_id") != Some("666") && req.uri.path() == "/api/state";
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("not in a live instance of this activity".to_owned())
                }
            }
        },
    );
    let check = ProxyCheck::new(auth).with_clock(Arc::new(now));
    // as middleware, and as an extractor alone
    let wrapped = test::init_service(App::new().wrap(check.clone()).route("/api/state", web::get().to(state))).await;
    let alone = test::init_service(App::new().app_data(check).route("/api/state", web::get().to(state))).await;

    let good = proxy_payload(NOW - 10, "42");
    let other = sign_proxy_payload(&SEED, &proxy_payload(NOW - 10, "43"));
    let cases = || {
        [
            ("good", signed(&SEED, &good), StatusCode::OK, ""),
            (
                "changed payload",
                signed(&SEED, &good).insert_header((other[2].0, other[2].1.clone())),
                StatusCode::UNAUTHORIZED,
                "bad_signature",
            ),
            (
                "expired",
                signed(&SEED, &proxy_payload(NOW - 400, "42")),
                StatusCode::UNAUTHORIZED,
                "expired",
            ),
            (
                "future",
                signed(&SEED, &proxy_payload(NOW + 120, "42")),
                StatusCode::UNAUTHORIZED,
                "not_yet_valid",
            ),
            (
                "other key",
                signed(&[6; 32], &good),
                StatusCode::UNAUTHORIZED,
                "bad_signature",
            ),
            (
                "unsigned",
                test::TestRequest::get().uri("/api/state"),
                StatusCode::UNAUTHORIZED,
                "missing_header",
            ),
            (
                "instance",
                signed(&SEED, &proxy_payload(NOW, "666")),
                StatusCode::FORBIDDEN,
                "",
            ),
        ]
    };
    for (what, req, expected, reason) in cases() {
        let (status, v, _) = call(&wrapped, req.to_request()).await;
        assert_eq!(status, expected, "middleware: {what}");
        if expected == StatusCode::UNAUTHORIZED {
            assert_eq!(
                (v["error"].as_str(), v["reason"].as_str()),
                (Some("invalid_proxy_signature"), Some(reason))
            );
        } else if expected == StatusCode::FORBIDDEN {
            assert_eq!(v["error"], "activity_instance_refused");
        } else {
            assert_eq!(v, Value::String("42".into()));
        }
    }
    for (what, req, expected, _) in cases() {
        assert_eq!(call(&alone, req.to_request()).await.0, expected, "extractor: {what}");
    }
}

// ------------------------------------------------------------------ a real WebSocket

/// Upgrades only after `WebsocketUser` was extracted, then sends one greeting frame.
async fn ws_upgrade(user: WebsocketUser, req: HttpRequest) -> HttpResponse {
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut frame = bytes::BytesMut::new();
    let greeting = actix_http::ws::Message::Text(format!("hello {}", user.0.sub).into());
    actix_codec::Encoder::encode(&mut actix_http::ws::Codec::new(), greeting, &mut frame).unwrap();
    let stream = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(frame.freeze()) })
        .chain(futures_util::stream::pending());
    HttpResponse::from(response.body(actix_web::body::BodyStream::new(stream))).map_into_boxed_body()
}

#[actix_web::test]
async fn websocket_connects_with_a_good_token_and_is_refused_before_upgrade_otherwise() {
    let verifier = WebsocketTokenVerifier::new([key("k1", 1)], "activity").unwrap();
    let auth = WebsocketAuth::new(verifier);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .route("/ws", web::get().to(ws_upgrade))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let token = WebsocketTokenSigner::new(key("k1", 1), "activity").unwrap().sign(
        Snowflake::from(42),
        &Scopes::parse("identify"),
        SystemTime::now(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    let first = socket.next().await.unwrap().unwrap();
    assert_eq!(first.into_text().unwrap().as_str(), "hello 42");
    socket.close(None).await.unwrap();

    for bad in [format!("{token}x"), String::new()] {
        let err = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={bad}"))
            .await
            .unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
            panic!("expected an HTTP refusal, got {err:?}")
        };
        assert_eq!(resp.status(), 401);
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
        assert!(
            body["error"] == "invalid_token" || body["error"] == "missing_token",
            "{body}"
        );
    }
    handle.stop(false).await;
}

// ------------------------------------------------------------------ hostile traffic

/// Authorizes `user` through the token endpoint: its refresh token and websocket token.
async fn authorized<S, B>(app: &S, mock: &MockDiscord, user: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let code = mock.sdk_authorize(fixture::CLIENT_ID, user, "identify").unwrap();
    let body = serde_json::json!({ "code": code }).to_string();
    let (status, v, _) = call(app, post("/api/token", "application/json", body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (
        v["refresh_token"].as_str().unwrap().to_owned(),
        v["websocket_token"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn refresh_without_proof_of_the_session_never_reaches_discord() {
    let mock = MockDiscord::start().await.unwrap();
    let app = app!(backend(config(&mock)));
    let (wumpus_rt, wumpus_ws) = authorized(&app, &mock, fixture::WUMPUS_ID).await;
    let (_, lena_ws) = authorized(&app, &mock, fixture::LENA_ID).await;
    let before = mock.count(Endpoint::Token);
    let body = serde_json::json!({ "refresh_token": wumpus_rt }).to_string();

    // no proof: 401 saying what to send
    let (status, v, headers) = call(&app, post("/api/refresh", "application/json", body.clone())).await;
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
    assert_eq!(header(&headers, "www-authenticate"), "Bearer");
    // another user's genuine websocket token, a forged one, one bound to a made-up refresh token
    let (status, v, _) = call(&app, post_bearer("/api/refresh", body.clone(), &lena_ws)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("session_mismatch"))
    );
    let (status, v, _) = call(
        &app,
        post_bearer("/api/refresh", body.clone(), &format!("{wumpus_ws}x")),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let other_rt = bound_token(fixture::WUMPUS_ID, "another-refresh-token");
    let (status, _, _) = call(&app, post_bearer("/api/refresh", body.clone(), &other_rt)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // anonymous garbage, many times
    for n in 0..20 {
        let junk = serde_json::json!({ "refresh_token": format!("guess{n}") }).to_string();
        let (status, _, _) = call(&app, post("/api/refresh", "application/json", junk)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(mock.count(Endpoint::Token), before, "nothing reached Discord");

    // the owner's own websocket token: refreshed, for that user
    let (status, r, _) = call(&app, post_bearer("/api/refresh", body, &wumpus_ws)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(mock.count(Endpoint::Token), before + 1);
    let verifier = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
    let claims = verifier.verify(r["websocket_token"].as_str().unwrap(), now()).unwrap();
    assert_eq!(claims.sub.to_string(), fixture::WUMPUS_ID);
}

#[actix_web::test]
async fn a_flood_of_token_requests_never_exceeds_the_bound_at_discord() {
    let mock = MockDiscord::start().await.unwrap();
    let backend = EmbeddedBackend::builder(config(&mock), ReqwestTransport::new().unwrap())
        .clock(Arc::new(now))
        .max_concurrent_requests(2)
        .build();
    let app = app!(backend);
    // a slow token endpoint: every request is still at Discord when the others arrive
    mock.inject(Fault::delay(Endpoint::Token, Duration::from_millis(1500)));
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let body = serde_json::json!({ "code": sdk_code(&mock, "identify") }).to_string();
            call(&app, post("/api/token", "application/json", body))
        })
        .collect();
    let answers = futures_util::future::join_all(requests).await;
    assert!(mock.max_in_flight(None) <= 2, "{} at once", mock.max_in_flight(None));
    let ok = answers.iter().filter(|(s, _, _)| *s == StatusCode::OK).count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(ok + busy.len(), answers.len(), "only 200 or 503");
    assert!((1..=2).contains(&ok), "{ok} logged in");
    for (_, v, headers) in &busy {
        assert_eq!(header(headers, "retry-after"), "1");
        assert_eq!(v["error"], "busy", "{v}");
    }
    assert_eq!(mock.count(Endpoint::Token), ok, "the refused ones were never sent");
    // the slots come free again
    mock.clear_faults();
    let body = serde_json::json!({ "code": sdk_code(&mock, "identify") }).to_string();
    assert_eq!(
        call(&app, post("/api/token", "application/json", body)).await.0,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn after_a_global_429_nothing_reaches_discord_until_it_is_over() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let mock = MockDiscord::start().await.unwrap();
    let clock = Arc::new(AtomicU64::new(NOW));
    let at = Arc::clone(&clock);
    let backend = EmbeddedBackend::builder(config(&mock), ReqwestTransport::new().unwrap())
        .clock(Arc::new(move || {
            UNIX_EPOCH + Duration::from_secs(at.load(Ordering::SeqCst))
        }))
        .build();
    let app = app!(backend);
    let (rt, ws) = authorized(&app, &mock, fixture::WUMPUS_ID).await;
    mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .retry_after(30.0)
            .global(true)
            .once(),
    );
    let token_post = || {
        let body = serde_json::json!({ "code": sdk_code(&mock, "identify") }).to_string();
        post("/api/token", "application/json", body)
    };
    // Discord's global 429 is passed on
    let (status, v, _) = call(&app, token_post()).await;
    assert_eq!(
        (status, v["global"].as_bool()),
        (StatusCode::TOO_MANY_REQUESTS, Some(true))
    );
    let sent = mock.count(Endpoint::Token);
    // then nothing is sent: token and refresh get 503 with the time left
    let (status, v, headers) = call(&app, token_post()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(header(&headers, "retry-after"), "30");
    assert_eq!(
        (v["error"].as_str(), v["retry_after"].as_u64()),
        (Some("rate_limited"), Some(30))
    );
    clock.fetch_add(10, Ordering::SeqCst);
    let body = serde_json::json!({ "refresh_token": rt }).to_string();
    let (status, _, headers) = call(&app, post_bearer("/api/refresh", body, &ws)).await;
    assert_eq!(
        (status, header(&headers, "retry-after")),
        (StatusCode::SERVICE_UNAVAILABLE, "20")
    );
    assert_eq!(mock.count(Endpoint::Token), sent, "nothing reached Discord");
    // once the wait is over, requests flow again
    clock.fetch_add(21, Ordering::SeqCst);
    let (status, v, _) = call(&app, token_post()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}
