//! What only the actix-web integration of the Activity endpoints has: a real WebSocket
//! upgrade behind the websocket-token extractor, registration through `app_data` (plain or
//! `web::Data`, and the opaque `500` when nothing is registered), and its errors. Everything
//! both frameworks share is tested once, on both, in
//! `tests/scenarios/tests/embedded_endpoints.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use actix_web::dev::Payload;
use actix_web::middleware::from_fn;
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, test, web};
use discord_oauth_actix::embedded::{self, DiscordProxy, EmbeddedBackend, ProxyCheck, WebsocketAuth, WebsocketUser};
use discord_oauth_core::embedded::{
    EmbeddedConfig, ProxyAuth, ProxyPublicKey, ProxyVerifier, WebsocketKey, WebsocketTokenSigner,
    WebsocketTokenVerifier,
};
use discord_oauth_core::{Client, ClientId, ClientSecret, RedirectUrl, Scopes, Snowflake};
use futures_util::StreamExt as _;
use serde_json::Value;

fn key(kid: &str, byte: u8) -> WebsocketKey {
    WebsocketKey::new(kid, vec![byte; 32]).unwrap()
}

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

// ------------------------------------------------------------------ registration

fn config() -> EmbeddedConfig {
    let client = Client::new(
        ClientId::new("1100000000000000001".into()),
        Some(ClientSecret::new("s".into())),
        RedirectUrl::new("http://127.0.0.1/unused".into()).unwrap(),
    );
    let signer = WebsocketTokenSigner::new(key("k1", 1), "activity").unwrap();
    EmbeddedConfig::new(
        client,
        signer,
        WebsocketTokenVerifier::new([key("k1", 1)], "activity").unwrap(),
    )
}

async fn ws_probe(user: WebsocketUser) -> HttpResponse {
    HttpResponse::Ok().body(user.0.sub.to_string())
}

async fn proxy_probe(proxy: DiscordProxy) -> HttpResponse {
    HttpResponse::Ok().body(proxy.0.created_at.to_string())
}

#[actix_web::test]
async fn nothing_registered_is_an_opaque_500_and_nothing_is_sent() {
    let check = ProxyCheck::new(ProxyAuth::new(ProxyVerifier::new(ProxyPublicKey::from_seed(&[1; 32]))));
    let app = test::init_service(
        App::new()
            .route("/api/token", web::post().to(embedded::token))
            .route("/api/refresh", web::post().to(embedded::refresh))
            .route("/ws", web::get().to(ws_probe))
            .route("/api/alone", web::get().to(proxy_probe))
            .service(
                web::scope("/api/state")
                    .wrap(from_fn(embedded::require_discord_proxy))
                    .route("", web::get().to(proxy_probe)),
            )
            // registered, but on another scope: not this app's
            .service(web::scope("/other").app_data(check)),
    )
    .await;
    for (method, uri) in [
        ("POST", "/api/token"),
        ("POST", "/api/refresh"),
        ("GET", "/ws?token=x"),
        ("GET", "/api/alone"),
        ("GET", "/api/state"),
    ] {
        let req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"code":"c"}"#)
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), 500, "{method} {uri}");
        let body = test::read_body(resp).await;
        assert!(!String::from_utf8_lossy(&body).contains("app_data"), "opaque: {body:?}");
    }
}

#[actix_web::test]
async fn a_plain_app_data_backend_serves_and_refusals_carry_the_cores_rejection() {
    let transport = |_req: http::Request<Vec<u8>>| async {
        Err::<http::Response<Vec<u8>>, _>(discord_oauth_actix::TransportError::Failed("offline".into()))
    };
    let backend = EmbeddedBackend::with_transport(config(), discord_oauth_actix::transport::from_fn(transport));
    let config = config();
    let app = test::init_service(
        App::new()
            .app_data(backend.clone())
            .route("/api/token", web::post().to(embedded::token))
            .route("/ws", web::get().to(ws_probe)),
    )
    .await;
    let req = test::TestRequest::post()
        .uri("/api/token")
        .insert_header(("content-type", "application/json"))
        .set_payload(r#"{"code":"c"}"#)
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 502, "the transport failed: Discord unreachable");
    let v: Value = serde_json::from_slice(&test::read_body(resp).await).unwrap();
    assert_eq!(v["error"], "discord_unavailable");
    let token = config
        .signer()
        .sign(Snowflake::from(7), &Scopes::parse("identify"), SystemTime::now());
    let req = test::TestRequest::get().uri(&format!("/ws?token={token}")).to_request();
    assert_eq!(test::read_body(test::call_service(&app, req).await).await, "7");

    // the extractor's error is an actix_web::Error rendering the core's answer
    let req = test::TestRequest::get()
        .app_data(config.websocket_auth())
        .to_http_request();
    let error = WebsocketUser::from_request(&req, &mut Payload::None).await.unwrap_err();
    assert!(error.to_string().contains("websocket token is required"), "{error}");
    let response = error.error_response();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
    assert!(format!("{backend:?}").contains("EmbeddedBackend"));
}

#[actix_web::test]
async fn the_payload_of_the_middleware_reaches_the_extractor_without_a_second_check() {
    let seed = [2; 32];
    let check = ProxyCheck::new(ProxyAuth::new(ProxyVerifier::new(ProxyPublicKey::from_seed(&seed))));
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(check))
            .wrap(from_fn(embedded::require_discord_proxy))
            .route("/api/state", web::get().to(proxy_probe)),
    )
    .await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payload = discord_oauth_core::embedded::ProxyPayload {
        created_at: now,
        expires_at: now + 60,
        fields: serde_json::Map::new(),
    };
    let mut req = test::TestRequest::get().uri("/api/state");
    for header in discord_oauth_core::embedded::sign_proxy_payload(&seed, &payload) {
        req = req.insert_header(header);
    }
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(test::read_body(resp).await, now.to_string());
    let unsigned = test::call_service(&app, test::TestRequest::get().uri("/api/state").to_request()).await;
    assert_eq!(unsigned.status(), 401);
}
