//! Webhook events from the mock: signed so that `discord-oauth-core`'s receiver verifies them,
//! deliberately wrong signatures refused, and revocation sending `APPLICATION_DEAUTHORIZED`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use common::{http, json_of};
use discord_oauth_core::events::{EventVerifier, WebhookEvent, WebhookPayload};
use discord_oauth_core::{ApplicationPublicKey, Snowflake};
use discord_oauth_mock::{EventSignature, MockDiscord, MockError, fixture};

/// Long enough for a loopback delivery on a loaded machine; only bounds a failing test.
const WAIT: Duration = Duration::from_secs(10);

/// An application's events endpoint, built on the core's receiver: every verified payload is
/// kept.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<WebhookPayload>>>,
}

impl Receiver {
    async fn start(public_key_hex: &str) -> Self {
        let verifier = EventVerifier::from_hex(public_key_hex).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/discord/events",
            axum::routing::any(move |method: Method, headers: HeaderMap, body: Bytes| {
                let verifier = verifier.clone();
                let kept = Arc::clone(&kept);
                async move {
                    let get = |name: &str| headers.get(name).map(|v| v.as_bytes().to_vec());
                    let receipt = verifier.receive(
                        method.as_str(),
                        Some(body.len() as u64),
                        get("x-signature-ed25519").as_deref(),
                        get("x-signature-timestamp").as_deref(),
                        &body,
                    );
                    if let Some(p) = receipt.payload {
                        kept.lock().unwrap().push(p);
                    }
                    let (parts, body) = receipt.response.into_parts();
                    Response::from_parts(parts, Body::from(body))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/discord/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, received }
    }

    fn received(&self) -> Vec<WebhookPayload> {
        self.received.lock().unwrap().clone()
    }
}

async fn revoke(mock: &MockDiscord, token: &str) {
    let resp = http()
        .post(mock.revoke_url())
        .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn deauthorized_ids(payloads: &[WebhookPayload]) -> Vec<u64> {
    payloads
        .iter()
        .filter_map(|p| p.event.deauthorized_user_id())
        .map(Snowflake::get)
        .collect()
}

#[test]
fn the_published_public_key_is_the_signing_seeds() {
    assert_eq!(
        ApplicationPublicKey::from_seed(&fixture::EVENTS_SIGNING_SEED).to_hex(),
        fixture::EVENTS_PUBLIC_KEY_HEX
    );
    assert_ne!(fixture::EVENTS_WRONG_SEED, fixture::EVENTS_SIGNING_SEED);
}

#[tokio::test]
async fn sent_events_verify_with_the_core_receiver() {
    let mock = MockDiscord::start().await.unwrap();
    let receiver = Receiver::start(mock.events_public_key_hex()).await;

    assert_eq!(mock.send_ping(&receiver.url).await.unwrap(), 204);
    let payload = mock.deauthorized_payload(fixture::CLIENT_ID, fixture::LENA_ID).unwrap();
    assert_eq!(mock.send_event(&receiver.url, &payload).await.unwrap(), 204);
    let entitlement = mock.event_payload(
        fixture::CLIENT_ID,
        "ENTITLEMENT_CREATE",
        serde_json::json!({"id": "1", "sku_id": "2", "application_id": fixture::CLIENT_ID,
                           "user_id": fixture::NOVA_ID, "type": 8, "deleted": false}),
    );
    assert_eq!(mock.send_event(&receiver.url, &entitlement).await.unwrap(), 204);

    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].event, WebhookEvent::Ping);
    assert_eq!(got[0].application_id.to_string(), fixture::CLIENT_ID);
    let WebhookEvent::ApplicationDeauthorized(d) = &got[1].event else {
        panic!("{:?}", got[1].event)
    };
    assert_eq!(d.user.id.to_string(), fixture::LENA_ID);
    assert_eq!(d.user.tag(), "legacy_lena#4821");
    // Discord's timestamp shape (no timezone) reads as an instant
    let ts = got[1].timestamp.as_ref().unwrap();
    assert!(!ts.as_str().ends_with("+00:00") && ts.instant().is_some(), "{ts:?}");
    assert_eq!(
        got[2]
            .event
            .entitlement()
            .unwrap()
            .user_id
            .map(|u| u.to_string())
            .as_deref(),
        Some(fixture::NOVA_ID)
    );

    let log = mock.event_deliveries();
    assert_eq!(
        log.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>(),
        ["PING", "APPLICATION_DEAUTHORIZED", "ENTITLEMENT_CREATE"]
    );
    assert!(log.iter().all(|d| d.accepted() && d.signature == EventSignature::Valid));
    assert_eq!(log[1].json(), payload);
}

#[tokio::test]
async fn deliberately_wrong_signatures_are_refused() {
    let mock = MockDiscord::start().await.unwrap();
    let receiver = Receiver::start(fixture::EVENTS_PUBLIC_KEY_HEX).await;
    let payload = mock
        .deauthorized_payload(fixture::CLIENT_ID, fixture::WUMPUS_ID)
        .unwrap();
    for signature in [
        EventSignature::WrongKey,
        EventSignature::OtherTimestamp,
        EventSignature::Missing,
    ] {
        let status = mock
            .send_event_signed(&receiver.url, &payload, signature)
            .await
            .unwrap();
        assert_eq!(status, 401, "{signature:?}");
    }
    assert!(receiver.received().is_empty());
    // the same payload, validly signed, passes (the refusals were for the signature)
    assert_eq!(mock.send_event(&receiver.url, &payload).await.unwrap(), 204);
    assert_eq!(
        deauthorized_ids(&receiver.received()),
        [fixture::WUMPUS_ID.parse::<u64>().unwrap()]
    );
    let log = mock.event_deliveries();
    assert_eq!(log.iter().filter(|d| d.status == Some(401)).count(), 3);
}

#[tokio::test]
async fn revoking_a_token_sends_application_deauthorized() {
    let mock = MockDiscord::start().await.unwrap();
    let receiver = Receiver::start(mock.events_public_key_hex()).await;
    mock.set_event_webhook_url(fixture::CLIENT_ID, &receiver.url).unwrap();
    assert_eq!(
        mock.event_webhook_url(fixture::CLIENT_ID).as_deref(),
        Some(receiver.url.as_str())
    );

    let wumpus = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    revoke(&mock, &wumpus.access_token).await;
    let log = mock.wait_for_event_deliveries(1, WAIT).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_type, "APPLICATION_DEAUTHORIZED");
    assert_eq!(log[0].status, Some(204));
    let wumpus_id: u64 = fixture::WUMPUS_ID.parse().unwrap();
    assert_eq!(deauthorized_ids(&receiver.received()), [wumpus_id]);
    assert_eq!(receiver.received()[0].application_id.to_string(), fixture::CLIENT_ID);

    // Revoking the already revoked grant again deauthorizes nothing new; the next event is
    // lena's.
    revoke(&mock, &wumpus.access_token).await;
    revoke(&mock, wumpus.refresh_token.as_deref().unwrap()).await;
    let lena = mock.issue_tokens(fixture::LENA_ID, "identify").unwrap();
    revoke(&mock, &lena.refresh_token.unwrap()).await;
    let log = mock.wait_for_event_deliveries(2, WAIT).await;
    assert_eq!(log.len(), 2);
    let lena_id: u64 = fixture::LENA_ID.parse().unwrap();
    assert_eq!(deauthorized_ids(&receiver.received()), [wumpus_id, lena_id]);
}

#[tokio::test]
async fn revoke_all_for_sends_one_event_per_application_with_a_url() {
    let mock = MockDiscord::start().await.unwrap();
    let receiver = Receiver::start(mock.events_public_key_hex()).await;
    // No URL yet: revoking sends nothing.
    mock.issue_tokens(fixture::NOVA_ID, "identify").unwrap();
    assert_eq!(mock.revoke_all_for(fixture::NOVA_ID), 1);

    mock.set_event_webhook_url(fixture::CLIENT_ID, &receiver.url).unwrap();
    // two grants to the fixture client, one to the team client (no URL)
    mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.issue_tokens(fixture::WUMPUS_ID, "identify email").unwrap();
    mock.issue_tokens_for(fixture::TEAM_CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    assert_eq!(mock.revoke_all_for(fixture::WUMPUS_ID), 3);
    let log = mock.wait_for_event_deliveries(1, WAIT).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].url, receiver.url);
    assert_eq!(
        deauthorized_ids(&receiver.received()),
        [fixture::WUMPUS_ID.parse::<u64>().unwrap()]
    );
    // nothing live left: nothing to send
    assert_eq!(mock.revoke_all_for(fixture::WUMPUS_ID), 0);

    assert!(mock.clear_event_webhook_url(fixture::CLIENT_ID));
    assert!(!mock.clear_event_webhook_url(fixture::CLIENT_ID));
    assert!(matches!(
        mock.set_event_webhook_url("404", "http://127.0.0.1:1/"),
        Err(MockError::UnknownClient(_))
    ));
}

#[tokio::test]
async fn an_unreachable_url_is_an_error_and_recorded() {
    let mock = MockDiscord::start().await.unwrap();
    // a port that was just free
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/discord/events", listener.local_addr().unwrap());
    drop(listener);
    let err = mock.send_ping(&url).await.unwrap_err();
    assert!(matches!(err, MockError::EventDelivery(_)), "{err:?}");
    let log = mock.event_deliveries();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, None);
    assert!(log[0].error.is_some());
    assert!(!log[0].accepted());
}

#[tokio::test]
async fn control_routes_send_events_over_http() {
    let mock = MockDiscord::start().await.unwrap();
    let receiver = Receiver::start(fixture::EVENTS_PUBLIC_KEY_HEX).await;
    let http = http();
    let control = |path: &str| format!("{}/mock/events{path}", mock.base_url());

    let resp = http
        .post(control("/webhook-url"))
        .form(&[("client_id", fixture::CLIENT_ID), ("url", receiver.url.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let send = |form: Vec<(&'static str, &'static str)>| {
        let http = http.clone();
        let url = control("/send");
        async move { json_of(http.post(url).form(&form).send().await.unwrap()).await }
    };
    let (s, body) = send(vec![]).await; // a PING to the configured URL
    assert_eq!((s.as_u16(), body["status"].as_u64()), (200, Some(204)));
    let (_, body) = send(vec![("type", "APPLICATION_AUTHORIZED"), ("user_id", fixture::NOVA_ID)]).await;
    assert_eq!(body["status"], 204);
    let (_, body) = send(vec![("type", "LOBBY_MESSAGE_CREATE"), ("data", r#"{"content":"gg"}"#)]).await;
    assert_eq!(body["status"], 204);
    let (_, body) = send(vec![
        ("type", "APPLICATION_DEAUTHORIZED"),
        ("user_id", fixture::NOVA_ID),
        ("signature", "wrong-key"),
    ])
    .await;
    assert_eq!(body["status"], 401);
    let (s, _) = send(vec![("signature", "sideways")]).await;
    assert_eq!(s, 400);
    let (s, _) = send(vec![("type", "APPLICATION_AUTHORIZED"), ("user_id", "1")]).await;
    assert_eq!(s, 400);

    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].event, WebhookEvent::Ping);
    let WebhookEvent::ApplicationAuthorized(a) = &got[1].event else {
        panic!("{:?}", got[1].event)
    };
    assert_eq!(a.user.id.to_string(), fixture::NOVA_ID);
    assert_eq!(a.integration_type, Some(1));
    assert!(
        matches!(&got[2].event, WebhookEvent::Other { kind, data } if kind == "LOBBY_MESSAGE_CREATE" && data["content"] == "gg")
    );

    let (_, index) = json_of(http.get(control("")).send().await.unwrap()).await;
    assert_eq!(index["public_key"], fixture::EVENTS_PUBLIC_KEY_HEX);
    assert_eq!(index["webhook_urls"][fixture::CLIENT_ID], receiver.url);
    assert_eq!(index["deliveries"].as_array().unwrap().len(), 4);
    assert_eq!(index["deliveries"][3]["signature"], "wrong-key");
    assert_eq!(index["deliveries"][3]["status"], 401);

    // an empty url clears it; sending without one is refused
    let resp = http
        .post(control("/webhook-url"))
        .form(&[("url", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(mock.event_webhook_url(fixture::CLIENT_ID), None);
    let (s, _) = send(vec![]).await;
    assert_eq!(s, 400);
}
