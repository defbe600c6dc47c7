//! Webhook events: every answer of the receiver (PING, each 401, 400, 413, 405, events), each
//! typed event from the shapes of Discord's documented examples, unknown types kept raw, and
//! lenient timestamps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use discord_oauth_core::events::{
    EntitlementType, EventRejection, EventVerifier, MAX_EVENT_BODY_BYTES, Receipt, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    WebhookEvent, WebhookPayload, event_type, retry_later, sign_event,
};
use discord_oauth_core::{ApplicationPublicKey, IntegrationType, PublicKeyError, Scope, Snowflake};
use http::StatusCode;

const SEED: [u8; 32] = [42; 32];
const TS: &str = "1729276881";
const APP: u64 = 1_234_560_123_453_231_555;

const PING: &str = r#"{"version":1,"application_id":"1234560123453231555","type":0}"#;

const AUTHORIZED_USER_INSTALL: &str = r#"{
  "version": 1,
  "application_id": "1234560123453231555",
  "type": 1,
  "event": {
    "type": "APPLICATION_AUTHORIZED",
    "timestamp": "2024-10-18T14:42:53.064834",
    "data": {
      "integration_type": 1,
      "scopes": ["applications.commands"],
      "user": {
        "id": "111178765189277770", "username": "nelly", "avatar": "8342729096ea3675442027381ff50dfe",
        "discriminator": "0", "public_flags": 0, "flags": 0, "banner": null, "accent_color": null,
        "global_name": "Nelly", "avatar_decoration_data": null, "collectibles": null,
        "banner_color": null, "clan": null, "primary_guild": null
      }
    }
  }
}"#;

const AUTHORIZED_GUILD_INSTALL: &str = r#"{
  "version": 1, "application_id": "1234560123453231555", "type": 1,
  "event": {
    "type": "APPLICATION_AUTHORIZED",
    "timestamp": "2024-10-18T14:42:53.064834",
    "data": {
      "integration_type": 0,
      "scopes": ["applications.commands", "bot"],
      "user": {"id": "111178765189277770", "username": "nelly", "discriminator": "0", "global_name": null, "avatar": null},
      "guild": {
        "id": "1200000000000000001", "name": "Mock Guild", "icon": null, "owner_id": "111178765189277770",
        "features": ["COMMUNITY"], "roles": [
          {"id": "1200000000000000001", "name": "@everyone", "permissions": "2248473465835073",
           "position": 0, "color": 0, "hoist": false, "managed": false, "mentionable": false, "flags": 0}
        ],
        "emojis": [], "verification_level": 1, "mfa_level": 0, "premium_tier": 0, "preferred_locale": "en-US",
        "stickers": [], "nsfw": false
      }
    }
  }
}"#;

const DEAUTHORIZED: &str = r#"{
  "version": 1, "application_id": "1234560123453231555", "type": 1,
  "event": {
    "type": "APPLICATION_DEAUTHORIZED",
    "timestamp": "2024-10-18T14:42:53.064834",
    "data": {"user": {"id": "111178765189277770", "username": "nelly", "discriminator": "0", "global_name": null, "avatar": null}}
  }
}"#;

const ENTITLEMENT_CREATE: &str = r#"{
  "version": 1,
  "application_id": "1234560123453231555",
  "type": 1,
  "event": {
    "type": "ENTITLEMENT_CREATE",
    "timestamp": "2024-10-18T18:41:21.109604",
    "data": {
      "application_id": "1234560123453231555",
      "consumed": false,
      "deleted": false,
      "gift_code_flags": 0,
      "id": "1234560123453231555",
      "promotion_id": null,
      "sku_id": "1234560123453231555",
      "type": 3,
      "user_id": "1234560123453231555"
    }
  }
}"#;

fn verifier() -> EventVerifier {
    EventVerifier::from_hex(&ApplicationPublicKey::from_seed(&SEED).to_hex()).unwrap()
}

/// A request signed like Discord signs it, received.
fn send(body: &str) -> Receipt {
    let sig = sign_event(&SEED, TS, body.as_bytes());
    verifier().receive(
        "POST",
        Some(body.len() as u64),
        Some(sig.as_bytes()),
        Some(TS.as_bytes()),
        body.as_bytes(),
    )
}

fn assert_204(r: &Receipt) {
    assert_eq!(r.response.status(), StatusCode::NO_CONTENT, "{:?}", r.rejection);
    assert!(r.response.body().is_empty());
    assert!(r.rejection.is_none());
    assert!(r.payload.is_some());
    assert!(r.response.headers().get("content-type").is_none());
}

fn assert_401(r: &Receipt, why: &EventRejection) {
    assert_eq!(r.response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.response.body(),
        r#"{"error":"invalid_signature","message":"invalid request signature"}"#
    );
    assert_eq!(r.response.headers()["content-type"], "application/json");
    assert!(r.payload.is_none());
    assert_eq!(r.rejection.as_ref(), Some(why));
}

#[test]
fn ping_is_answered_204_and_empty() {
    let r = send(PING);
    assert_204(&r);
    let p = r.payload.unwrap();
    assert_eq!(p.event, WebhookEvent::Ping);
    assert_eq!(p.version, 1);
    assert_eq!(p.application_id, Snowflake::new(APP));
    assert_eq!(p.timestamp, None);
}

#[test]
fn application_authorized_user_install() {
    let r = send(AUTHORIZED_USER_INSTALL);
    assert_204(&r);
    let p = r.payload.unwrap();
    assert_eq!(
        p.timestamp.as_ref().unwrap().instant(),
        Some(UNIX_EPOCH + Duration::from_micros(1_729_262_573_064_834))
    );
    let WebhookEvent::ApplicationAuthorized(a) = &p.event else {
        panic!("{:?}", p.event)
    };
    assert_eq!(a.install(), Some(IntegrationType::UserInstall));
    assert_eq!(a.scopes, [Scope::ApplicationsCommands]);
    assert_eq!(a.user.id, Snowflake::new(111_178_765_189_277_770));
    assert_eq!(a.user.display_name(), "Nelly");
    assert!(a.guild.is_none());
    assert_eq!(p.event.event_type(), event_type::APPLICATION_AUTHORIZED);
    assert_eq!(p.event.user().map(|u| u.username.as_str()), Some("nelly"));
    assert_eq!(p.event.deauthorized_user_id(), None);
}

#[test]
fn application_authorized_guild_install() {
    let p = send(AUTHORIZED_GUILD_INSTALL).payload.unwrap();
    let WebhookEvent::ApplicationAuthorized(a) = &p.event else {
        panic!("{:?}", p.event)
    };
    assert_eq!(a.install(), Some(IntegrationType::GuildInstall));
    assert_eq!(a.scopes, [Scope::ApplicationsCommands, Scope::Bot]);
    let guild = a.guild.as_ref().unwrap();
    assert_eq!(guild.id, Snowflake::new(1_200_000_000_000_000_001));
    assert_eq!(guild.name, "Mock Guild");
    assert_eq!(guild.roles.len(), 1);
    assert_eq!(guild.features, ["COMMUNITY"]);
}

#[test]
fn application_deauthorized_names_the_user() {
    let r = send(DEAUTHORIZED);
    assert_204(&r);
    let event = r.event().unwrap();
    assert_eq!(
        event.deauthorized_user_id(),
        Some(Snowflake::new(111_178_765_189_277_770))
    );
    assert_eq!(event.event_type(), "APPLICATION_DEAUTHORIZED");
    assert!(matches!(event, WebhookEvent::ApplicationDeauthorized(d) if d.user.username == "nelly"));
}

#[test]
fn entitlement_events() {
    for (name, expect) in [
        ("ENTITLEMENT_CREATE", event_type::ENTITLEMENT_CREATE),
        ("ENTITLEMENT_UPDATE", event_type::ENTITLEMENT_UPDATE),
        ("ENTITLEMENT_DELETE", event_type::ENTITLEMENT_DELETE),
    ] {
        let body = ENTITLEMENT_CREATE.replace("ENTITLEMENT_CREATE", name);
        let p = send(&body).payload.unwrap();
        assert_eq!(p.event.event_type(), expect);
        let e = p.event.entitlement().unwrap();
        assert_eq!(e.id, Snowflake::new(APP));
        assert_eq!(e.sku_id, Snowflake::new(APP));
        assert_eq!(e.user_id, Some(Snowflake::new(APP)));
        assert_eq!(e.guild_id, None);
        assert_eq!(e.kind, EntitlementType::DEVELOPER_GIFT);
        assert!(!e.deleted);
        assert_eq!(e.consumed, Some(false));
        assert_eq!(e.extra["gift_code_flags"], 0);
        assert!(e.extra["promotion_id"].is_null());
        match (name, &p.event) {
            ("ENTITLEMENT_CREATE", WebhookEvent::EntitlementCreate(_))
            | ("ENTITLEMENT_UPDATE", WebhookEvent::EntitlementUpdate(_))
            | ("ENTITLEMENT_DELETE", WebhookEvent::EntitlementDelete(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    // A guild subscription as the spec describes it (dates with offsets, nulls, more fields).
    let body = r#"{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"ENTITLEMENT_UPDATE",
        "timestamp":"2024-11-18T18:41:21.109604","data":{"id":"1","sku_id":"2","application_id":"1234560123453231555",
        "user_id":null,"guild_id":"3","deleted":false,"type":8,"starts_at":"2024-10-18T18:41:21.109604+00:00",
        "ends_at":"2024-11-18T18:41:21.109604+00:00","fulfilled_at":null,"fulfillment_status":null,"consumed":null,
        "gifter_user_id":null,"parent_id":null}}}"#;
    let p = send(body).payload.unwrap();
    let e = p.event.entitlement().unwrap();
    assert_eq!(e.kind, EntitlementType::APPLICATION_SUBSCRIPTION);
    assert_eq!((e.user_id, e.guild_id), (None, Some(Snowflake::new(3))));
    assert_eq!(e.consumed, None);
    let (start, end) = (e.starts_at.as_ref().unwrap(), e.ends_at.as_ref().unwrap());
    assert_eq!(start.as_str(), "2024-10-18T18:41:21.109604+00:00");
    assert_eq!(
        end.instant().unwrap().duration_since(start.instant().unwrap()).unwrap(),
        Duration::from_secs(31 * 86_400)
    );
}

#[test]
fn other_event_types_are_kept_raw() {
    for kind in [
        event_type::LOBBY_MESSAGE_CREATE,
        event_type::GAME_DIRECT_MESSAGE_UPDATE,
        event_type::QUEST_USER_ENROLLMENT,
        "SOMETHING_DISCORD_ADDS_LATER",
    ] {
        let body = format!(
            r#"{{"version":1,"application_id":"1234560123453231555","type":1,"event":{{"type":"{kind}",
                "timestamp":"2025-01-02T03:04:05.678","data":{{"id":"99","content":"gg","nested":{{"a":[1,2]}}}}}}}}"#
        );
        let r = send(&body);
        assert_204(&r);
        let p = r.payload.unwrap();
        match &p.event {
            WebhookEvent::Other { kind: k, data } => {
                assert_eq!(k, kind);
                assert_eq!(data["content"], "gg");
                assert_eq!(data["nested"]["a"][1], 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.event.event_type(), kind);
        assert_eq!(p.event.user(), None);
    }
    // no data at all
    let body = r#"{"version":1,"application_id":"1","type":1,"event":{"type":"X","timestamp":"t"}}"#;
    let p = send(body).payload.unwrap();
    assert_eq!(
        p.event,
        WebhookEvent::Other {
            kind: "X".into(),
            data: serde_json::Value::Null
        }
    );
    assert_eq!(p.timestamp.unwrap().instant(), None);
}

#[test]
fn lenient_timestamps_keep_their_text() {
    for (raw, micros) in [
        ("2024-10-18T18:41:21.109604", Some(1_729_276_881_109_604)),
        ("2024-10-18T18:41:21.109604+00:00", Some(1_729_276_881_109_604)),
        ("2024-10-18T18:41:21Z", Some(1_729_276_881_000_000)),
        ("2024-10-18T20:41:21.5+02:00", Some(1_729_276_881_500_000)),
        ("2024-10-18", None),
        ("", None),
    ] {
        let body = format!(
            r#"{{"version":1,"application_id":"1","type":1,"event":{{"type":"QUEST_USER_ENROLLMENT","timestamp":"{raw}","data":{{}}}}}}"#
        );
        let p = send(&body).payload.unwrap();
        let t = p.timestamp.unwrap();
        assert_eq!(t.as_str(), raw);
        assert_eq!(
            t.instant(),
            micros.map(|m| UNIX_EPOCH + Duration::from_micros(m)),
            "{raw}"
        );
    }
}

#[test]
fn every_signature_failure_is_the_same_401() {
    let v = verifier();
    let body = DEAUTHORIZED.as_bytes();
    let sig = sign_event(&SEED, TS, body);
    let recv = |sig: Option<&[u8]>, ts: Option<&[u8]>, body: &[u8]| v.receive("POST", None, sig, ts, body);

    assert_401(
        &recv(None, Some(TS.as_bytes()), body),
        &EventRejection::MissingSignature,
    );
    assert_401(
        &recv(Some(sig.as_bytes()), None, body),
        &EventRejection::MissingTimestamp,
    );
    assert_401(
        &recv(Some(b"not-a-signature"), Some(TS.as_bytes()), body),
        &EventRejection::MalformedSignature,
    );
    assert_401(
        &recv(Some(&sig.as_bytes()[..126]), Some(TS.as_bytes()), body),
        &EventRejection::MalformedSignature,
    );
    assert_401(
        &recv(Some(&[0xff, 0xfe]), Some(TS.as_bytes()), body),
        &EventRejection::MalformedSignature,
    );
    // the body changed after signing (one byte: another user id)
    let changed = DEAUTHORIZED.replace("111178765189277770", "111178765189277771");
    assert_401(
        &recv(Some(sig.as_bytes()), Some(TS.as_bytes()), changed.as_bytes()),
        &EventRejection::BadSignature,
    );
    // a trailing byte added
    let mut longer = body.to_vec();
    longer.push(b' ');
    assert_401(
        &recv(Some(sig.as_bytes()), Some(TS.as_bytes()), &longer),
        &EventRejection::BadSignature,
    );
    // the signature was made over another timestamp
    let other_ts = sign_event(&SEED, "1729276880", body);
    assert_401(
        &recv(Some(other_ts.as_bytes()), Some(TS.as_bytes()), body),
        &EventRejection::BadSignature,
    );
    // another application's key
    let other_key = sign_event(&[1; 32], TS, body);
    assert_401(
        &recv(Some(other_key.as_bytes()), Some(TS.as_bytes()), body),
        &EventRejection::BadSignature,
    );
    // a well-formed but invalid signature (Discord's own probes), and all zeros
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    assert_401(
        &recv(Some(&flipped), Some(TS.as_bytes()), body),
        &EventRejection::BadSignature,
    );
    assert_401(
        &recv(Some("0".repeat(128).as_bytes()), Some(TS.as_bytes()), body),
        &EventRejection::BadSignature,
    );
    // the right signature passes (the same helper, so the cases above fail for their reason)
    assert_204(&recv(Some(sig.as_bytes()), Some(TS.as_bytes()), body));
    // upper-case hex is the same signature
    assert_204(&recv(Some(sig.to_uppercase().as_bytes()), Some(TS.as_bytes()), body));
}

#[test]
fn signature_is_checked_before_the_body_is_parsed() {
    // An unsigned body that is not even JSON is a 401, not a 400.
    let r = verifier().receive("POST", None, Some(&[b'a'; 128]), Some(b"1"), b"{not json");
    assert_401(&r, &EventRejection::BadSignature);
}

#[test]
fn signed_but_not_a_payload_is_400() {
    for body in [
        "{not json",
        "[]",
        r#"{"version":1,"application_id":"1","type":1}"#,
        r#"{"version":1,"application_id":"1","type":7}"#,
        r#"{"application_id":"1","type":0}"#,
        r#"{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_DEAUTHORIZED","timestamp":"t","data":{}}}"#,
        r#"{"version":1,"application_id":"1","type":1,"event":{"type":"ENTITLEMENT_CREATE","timestamp":"t","data":{"id":"1"}}}"#,
    ] {
        let r = send(body);
        assert_eq!(r.response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(matches!(r.rejection, Some(EventRejection::InvalidPayload(_))), "{body}");
        assert!(r.payload.is_none());
        let json: serde_json::Value = serde_json::from_str(r.response.body()).unwrap();
        assert_eq!(json["error"], "invalid_payload");
    }
}

#[test]
fn bodies_over_the_limit_are_413() {
    let v = verifier();
    // announced by Content-Length, before reading
    assert_eq!(
        v.precheck("POST", Some(MAX_EVENT_BODY_BYTES as u64 + 1))
            .unwrap()
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(v.precheck("POST", Some(MAX_EVENT_BODY_BYTES as u64)).is_none());
    let r = v.receive("POST", Some(u64::MAX), None, None, b"");
    assert_eq!(r.response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.rejection, Some(EventRejection::TooLarge));
    // a body over the limit without a Content-Length, even correctly signed
    let big = format!(
        r#"{{"version":1,"application_id":"1","type":1,"event":{{"type":"X","timestamp":"t","data":"{}"}}}}"#,
        "a".repeat(MAX_EVENT_BODY_BYTES)
    );
    let sig = sign_event(&SEED, TS, big.as_bytes());
    let r = v.receive("POST", None, Some(sig.as_bytes()), Some(TS.as_bytes()), big.as_bytes());
    assert_eq!(r.response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.payload.is_none());
    // exactly at the limit is read
    let pad = MAX_EVENT_BODY_BYTES - PING.len();
    let at_limit = format!("{PING}{}", " ".repeat(pad));
    assert_eq!(at_limit.len(), MAX_EVENT_BODY_BYTES);
    assert_204(&send(&at_limit));
}

#[test]
fn other_methods_are_405_with_allow() {
    let v = verifier();
    for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "post"] {
        let r = v.receive(method, None, None, None, b"");
        assert_eq!(r.response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.response.headers()["allow"], "POST");
        assert_eq!(r.rejection, Some(EventRejection::MethodNotAllowed(method.to_owned())));
        assert_eq!(
            v.precheck(method, None).unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}

#[test]
fn receive_request_reads_the_headers() {
    let body = DEAUTHORIZED.as_bytes().to_vec();
    let sig = sign_event(&SEED, TS, &body);
    let request = http::Request::post("/discord/events")
        .header(SIGNATURE_HEADER, &sig)
        .header(TIMESTAMP_HEADER, TS)
        .header("content-length", body.len())
        .body(body.clone())
        .unwrap();
    let r = verifier().receive_request(&request);
    assert_204(&r);
    assert!(r.event().unwrap().deauthorized_user_id().is_some());
    let unsigned = http::Request::post("/discord/events").body(body).unwrap();
    assert_401(
        &verifier().receive_request(&unsigned),
        &EventRejection::MissingSignature,
    );
}

#[test]
fn payloads_serialize_back_to_discords_shape() {
    for body in [
        PING,
        AUTHORIZED_USER_INSTALL,
        AUTHORIZED_GUILD_INSTALL,
        DEAUTHORIZED,
        ENTITLEMENT_CREATE,
    ] {
        let p = WebhookPayload::from_slice(body.as_bytes()).unwrap();
        let json = p.to_json();
        assert_eq!(json["version"], 1);
        assert_eq!(json["application_id"], "1234560123453231555");
        let back = WebhookPayload::from_slice(json.to_string().as_bytes()).unwrap();
        assert_eq!(back, p);
        let original: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["type"], original["type"]);
        assert_eq!(json["event"]["type"], original["event"]["type"]);
        assert_eq!(json["event"]["timestamp"], original["event"]["timestamp"]);
    }
}

#[test]
fn public_keys_and_debug() {
    assert!(matches!(EventVerifier::from_hex("xyz"), Err(PublicKeyError::NotHex)));
    assert!(matches!(
        EventVerifier::from_hex("00ff"),
        Err(PublicKeyError::WrongLength(2))
    ));
    let v = verifier();
    assert_eq!(v.public_key(), &ApplicationPublicKey::from_seed(&SEED));
    // Debug shows the (public) key and nothing derived from the seed beyond it.
    let debug = format!("{v:?}");
    assert!(debug.contains(&ApplicationPublicKey::from_seed(&SEED).to_hex()));
    assert!(!debug.contains(&"2a".repeat(32)));
}

#[test]
fn retry_later_is_a_503_with_retry_after() {
    let r = retry_later();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
}
