//! The sample Activity backend, offline against its in-process mock Discord, driven over
//! loopback the way its page does it: a code from the mock's `authorize` stand-in, the token
//! endpoint, then a real WebSocket with the `websocket_token`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use activity_backend::{
    AUDIENCE, Discord, MAX_WEBSOCKET_FRAME_BYTES, MAX_WEBSOCKET_MESSAGE_BYTES, Settings, Site, parse_key,
};
use discord_oauth_core::embedded::{
    ProxyPayload, ProxyPublicKey, WebsocketKey, WebsocketTokenSigner, sign_proxy_payload,
};
use discord_oauth_core::{Scopes, Snowflake};
use discord_oauth_mock::{Endpoint, fixture};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

const KEY_HEX: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const OLD_KEY_HEX: &str = "0202020202020202020202020202020202020202020202020202020202020202";

async fn site() -> Site {
    let mut settings = Settings::new(Discord::OfflineMock, local());
    settings.websocket_key = Some(parse_key(&format!("k2:{KEY_HEX}")).unwrap());
    settings.previous_websocket_keys = vec![parse_key(&format!("k1:{OLD_KEY_HEX}")).unwrap()];
    activity_backend::start(settings).await.unwrap()
}

/// What the page does: the SDK's `authorize` (the mock plays the Discord client), then
/// `POST /api/token`.
async fn authorize(http: &reqwest::Client, site: &Site, user: &str) -> Value {
    let config: Value = http
        .get(format!("{}/api/sdk-config", site.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes: Vec<String> = serde_json::from_value(config["scopes"].clone()).unwrap();
    let resp = http
        .post(config["mock_authorize"].as_str().unwrap())
        .form(&[
            ("client_id", config["client_id"].as_str().unwrap()),
            ("scope", &scopes.join(",")),
            ("user_id", user),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let code: Value = resp.json().await.unwrap();
    let resp = http
        .post(format!("{}/api/token", site.url()))
        .json(&serde_json::json!({ "code": code["code"], "scopes": scopes }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn ws_url(site: &Site, token: &str) -> String {
    format!("ws://{}/ws?token={token}", site.addr)
}

async fn next_text<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a message within 10 s")
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.into_text().unwrap().as_str()).unwrap()
}

#[tokio::test]
async fn the_page_and_its_config_are_served_offline() {
    let site = site().await;
    let http = reqwest::Client::new();
    let page = http.get(site.url()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains(&site.mock.as_ref().unwrap().base_url()));
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"authorize\"") && html.contains("/app.js"));
    let js = http.get(format!("{}/app.js", site.url())).send().await.unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("/api/token"));
    let config: Value = http
        .get(format!("{}/api/sdk-config", site.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["client_id"], fixture::CLIENT_ID);
    assert_eq!(config["scopes"], serde_json::json!(["identify", "email", "guilds"]));
    assert_eq!(config["mock_users"].as_array().unwrap().len(), 3);
    site.stop();
}

#[tokio::test]
async fn token_then_websocket_chat_with_the_websocket_token() {
    let site = site().await;
    let http = reqwest::Client::new();
    let auth = authorize(&http, &site, fixture::WUMPUS_ID).await;
    assert_eq!(auth["token_type"], "Bearer");
    assert_eq!(auth["scope"], "identify email guilds");
    assert_eq!(auth["user_data"]["id"], fixture::WUMPUS_ID);
    assert_eq!(auth["user_data"]["email"], "wumpus@example.com");
    let token = auth["websocket_token"].as_str().unwrap();

    let (mut wumpus, response) = tokio_tungstenite::connect_async(ws_url(&site, token)).await.unwrap();
    assert_eq!(response.status(), 101);
    let welcome = next_text(&mut wumpus).await;
    assert_eq!(welcome["from"], "server");
    assert!(welcome["text"].as_str().unwrap().contains(fixture::WUMPUS_ID));

    // a second user joins; a message reaches both (the sender's echo included)
    let lena = authorize(&http, &site, fixture::LENA_ID).await;
    let (mut lena_ws, _) = tokio_tungstenite::connect_async(ws_url(&site, lena["websocket_token"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut lena_ws).await["from"], "server");
    wumpus.send(Message::Text("hello".into())).await.unwrap();
    let expected = serde_json::json!({ "from": fixture::WUMPUS_ID, "text": "hello" });
    assert_eq!(next_text(&mut wumpus).await, expected);
    assert_eq!(next_text(&mut lena_ws).await, expected);
    // too long: refused, not relayed
    wumpus.send(Message::Text("x".repeat(1001).into())).await.unwrap();
    assert_eq!(next_text(&mut wumpus).await["text"], "message too long");
    wumpus.close(None).await.unwrap();
    site.stop();
}

fn sign(kid: &str, byte: u8, aud: &str, at: SystemTime) -> String {
    WebsocketTokenSigner::new(WebsocketKey::new(kid, vec![byte; 32]).unwrap(), aud)
        .unwrap()
        .sign(Snowflake::from(42), &Scopes::parse("identify"), at)
}

#[tokio::test]
async fn websocket_refuses_bad_tokens_with_401_before_upgrade() {
    let site = site().await;
    // the previous key still works during a rotation
    let (mut old, _) = tokio_tungstenite::connect_async(ws_url(&site, &sign("k1", 2, AUDIENCE, SystemTime::now())))
        .await
        .unwrap();
    assert!(next_text(&mut old).await["text"].as_str().unwrap().contains("42"));

    let good = sign("k2", 1, AUDIENCE, SystemTime::now());
    let refused = [
        ("tampered", format!("{good}A"), "invalid_token"),
        (
            "expired",
            sign("k2", 1, AUDIENCE, SystemTime::now() - Duration::from_secs(3600)),
            "invalid_token",
        ),
        (
            "wrong audience",
            sign("k2", 1, "another-app", SystemTime::now()),
            "invalid_token",
        ),
        ("wrong key", sign("k2", 7, AUDIENCE, SystemTime::now()), "invalid_token"),
        ("none", String::new(), "missing_token"),
    ];
    for (what, token, error) in refused {
        let err = tokio_tungstenite::connect_async(ws_url(&site, &token))
            .await
            .unwrap_err();
        let tungstenite::Error::Http(resp) = err else {
            panic!("{what}: expected an HTTP refusal, got {err:?}")
        };
        assert_eq!(resp.status(), 401, "{what}");
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
        assert_eq!(body["error"], error, "{what}");
    }
    // a Bearer header works too (non-browser clients)
    let mut req =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/ws", site.addr)).unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {good}").parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.status(), 101);
    site.stop();
}

#[tokio::test]
async fn with_a_public_key_the_api_requires_the_proxy_signature() {
    let seed = [3; 32];
    let mut settings = Settings::new(Discord::OfflineMock, local());
    settings.proxy_public_key = Some(ProxyPublicKey::from_seed(&seed));
    let site = activity_backend::start(settings).await.unwrap();
    let http = reqwest::Client::new();
    let unsigned = http
        .post(format!("{}/api/token", site.url()))
        .json(&serde_json::json!({ "code": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["reason"], "missing_header");

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payload = ProxyPayload {
        created_at: now,
        expires_at: now + 300,
        fields: serde_json::Map::new(),
    };
    let mut req = http
        .post(format!("{}/api/token", site.url()))
        .json(&serde_json::json!({ "code": "nope" }));
    for (k, v) in sign_proxy_payload(&seed, &payload) {
        req = req.header(k, v);
    }
    let signed = req.send().await.unwrap();
    // past the proxy check: the token endpoint itself answers (the code is bad)
    assert_eq!(signed.status(), 400);
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // another key
    let mut req = http
        .post(format!("{}/api/token", site.url()))
        .json(&serde_json::json!({ "code": "nope" }));
    for (k, v) in sign_proxy_payload(&[4; 32], &payload) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    // the page itself is not behind the check
    assert_eq!(http.get(site.url()).send().await.unwrap().status(), 200);
    site.stop();
}

/// Reads until the server ends the connection; a text message meanwhile is a failure (the
/// server answered instead of closing). The 10 s limit only keeps a broken server from
/// hanging the test.
async fn assert_closed<S>(socket: &mut S, what: &str)
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("{what}: still open after 10 s"));
        match next {
            None | Some(Err(_) | Ok(Message::Close(_))) => return,
            Some(Ok(Message::Text(t))) => panic!("{what}: answered {t} instead of closing"),
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn oversized_websocket_messages_close_that_connection_and_the_server_keeps_serving() {
    let site = site().await;
    let http = reqwest::Client::new();
    let auth = authorize(&http, &site, fixture::WUMPUS_ID).await;
    let token = auth["websocket_token"].as_str().unwrap();
    let connect = || async {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(&site, token)).await.unwrap();
        assert_eq!(next_text(&mut socket).await["from"], "server");
        socket
    };

    // at the limit: read, answered "message too long" (it is over the chat's own limit)
    let mut socket = connect().await;
    socket
        .send(Message::Text("x".repeat(MAX_WEBSOCKET_MESSAGE_BYTES).into()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut socket).await["text"], "message too long");

    // one byte over, in one frame: the connection is closed
    socket
        .send(Message::Text("x".repeat(MAX_WEBSOCKET_FRAME_BYTES + 1).into()))
        .await
        .unwrap();
    assert_closed(&mut socket, "oversized frame").await;

    // frames under the frame limit adding up to more than the message limit: closed too
    let mut socket = connect().await;
    let half = "x".repeat(MAX_WEBSOCKET_MESSAGE_BYTES / 2 + 1);
    socket
        .send(Message::Frame(Frame::message(
            half.clone(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await
        .unwrap();
    socket
        .send(Message::Frame(Frame::message(half, OpCode::Data(Data::Continue), true)))
        .await
        .unwrap();
    assert_closed(&mut socket, "oversized fragmented message").await;

    // the server goes on: a new connection chats
    let mut socket = connect().await;
    socket.send(Message::Text("still here".into())).await.unwrap();
    assert_eq!(
        next_text(&mut socket).await,
        serde_json::json!({ "from": fixture::WUMPUS_ID, "text": "still here" })
    );
    site.stop();
}

#[tokio::test]
async fn refresh_needs_the_websocket_token_of_that_session() {
    let site = site().await;
    let mock = site.mock.as_ref().unwrap();
    let http = reqwest::Client::new();
    let auth = authorize(&http, &site, fixture::WUMPUS_ID).await;
    let lena = authorize(&http, &site, fixture::LENA_ID).await;
    let body = serde_json::json!({ "refresh_token": auth["refresh_token"] });
    let refresh = |bearer: Option<&str>| {
        let mut req = http.post(format!("{}/api/refresh", site.url())).json(&body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let before = mock.count(Endpoint::Token);
    let refused = refresh(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    let v: Value = refused.json().await.unwrap();
    assert_eq!(v["error"], "missing_proof");
    let other = refresh(lena["websocket_token"].as_str()).await.unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(mock.count(Endpoint::Token), before, "nothing reached Discord");

    let ok = refresh(auth["websocket_token"].as_str()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert!(
        v["refresh_token"].is_string() && v["websocket_token"].is_string(),
        "{v}"
    );
    assert_eq!(mock.count(Endpoint::Token), before + 1);
    // the page sends the websocket token with its refresh
    let js = http
        .get(format!("{}/app.js", site.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        js.contains("\"authorization\": \"Bearer \" + session.websocket_token"),
        "app.js"
    );
    site.stop();
}

#[test]
fn settings_follow_the_sample_site_contract() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    };
    let s = Settings::from_vars(vars(&[])).unwrap();
    assert!(matches!(s.discord, Discord::OfflineMock));
    assert_eq!(s.bind, "127.0.0.1:3000".parse().unwrap());
    assert!(s.websocket_key.is_none() && s.redirect_uri.is_none() && s.proxy_public_key.is_none());

    let s = Settings::from_vars(vars(&[
        ("DISCORD_CLIENT_ID", "123"),
        ("DISCORD_CLIENT_SECRET", "shh"),
        ("BIND", "0.0.0.0:8080"),
        ("WEBSOCKET_KEY", "2025-06:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
        ("WEBSOCKET_PREVIOUS_KEYS", "a:0202020202020202020202020202020202020202020202020202020202020202, b:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM"),
        ("DISCORD_PUBLIC_KEY", "c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8"),
    ]))
    .unwrap();
    let Discord::Real {
        client_id, api_base, ..
    } = &s.discord
    else {
        panic!("credentials given")
    };
    assert_eq!(
        (client_id.as_str(), api_base.as_str()),
        ("123", "https://discord.com/api/v10")
    );
    assert!(!format!("{s:?}").contains("shh"));
    assert_eq!(s.websocket_key.unwrap().kid(), "2025-06");
    assert_eq!(s.previous_websocket_keys.len(), 2);
    assert!(s.proxy_public_key.is_some());

    for bad in [
        &[("WEBSOCKET_KEY", "no-colon")][..],
        &[("WEBSOCKET_KEY", "k:0101")],
        &[("DISCORD_PUBLIC_KEY", "abc")],
        &[("BIND", "nope")],
    ] {
        let bad: &'static [(&'static str, &'static str)] = bad;
        assert!(Settings::from_vars(vars(bad)).is_err(), "{bad:?}");
    }
}
