//! ID token signature verification (`jwt-verify` feature) against a fixed test key.
//!
//! Run with `cargo test -p discord-oauth-core --features jwt-verify`.
#![cfg(feature = "jwt-verify")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use discord_oauth_core::oidc::{IdToken, IdTokenError, Jwks};
use discord_oauth_core::{ClientId, DISCORD_ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const KEY_PEM: &[u8] = include_bytes!("data/oidc-test-key.pem");
const JWKS: &str = include_str!("data/oidc-test-jwks.json");
const CLIENT: &str = "157730590492196864";

fn jwks() -> Jwks {
    serde_json::from_str(JWKS).unwrap()
}

fn sign(claims: &serde_json::Value, kid: Option<&str>) -> IdToken {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(KEY_PEM).unwrap();
    IdToken::new(jsonwebtoken::encode(&header, claims, &key).unwrap())
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": DISCORD_ISSUER,
        "sub": "80351110224678912",
        "aud": CLIENT,
        "exp": 1_700_000_600,
        "iat": 1_700_000_000,
        "nonce": "n1",
        "email": "nelly@discord.com",
        "email_verified": true,
    })
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_100)
}

fn verify(token: &IdToken, at: SystemTime) -> Result<discord_oauth_core::oidc::IdTokenClaims, IdTokenError> {
    token.verify(
        &jwks(),
        &ClientId::new(CLIENT.into()),
        DISCORD_ISSUER,
        at,
        Some("n1"),
        Duration::from_secs(30),
    )
}

#[test]
fn valid_signature_and_claims() {
    let token = sign(&claims(), Some("test-key-1"));
    let c = verify(&token, now()).unwrap();
    assert_eq!(c.sub, "80351110224678912");
    assert_eq!(c.email_verified, Some(true));
    // Without a kid, the only RSA key is used.
    assert!(verify(&sign(&claims(), None), now()).is_ok());
}

#[test]
fn signature_is_checked_before_claims() {
    let token = sign(&claims(), Some("test-key-1"));
    let mut parts: Vec<String> = token.as_str().split('.').map(str::to_owned).collect();
    let mut forged = claims();
    forged["sub"] = "1".into();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = IdToken::new(parts.join("."));
    // The unverified path would accept it (the claims are fine) …
    assert!(
        tampered
            .validate(
                &ClientId::new(CLIENT.into()),
                DISCORD_ISSUER,
                now(),
                Some("n1"),
                Duration::ZERO
            )
            .is_ok()
    );
    // … the verified path does not.
    assert!(matches!(verify(&tampered, now()), Err(IdTokenError::BadSignature(_))));
}

#[test]
fn claims_are_still_checked_after_a_good_signature() {
    let token = sign(&claims(), Some("test-key-1"));
    let late = UNIX_EPOCH + Duration::from_secs(1_700_001_000);
    assert!(matches!(verify(&token, late), Err(IdTokenError::Expired { .. })));
    let mut other_aud = claims();
    other_aud["aud"] = "42".into();
    assert!(matches!(
        verify(&sign(&other_aud, Some("test-key-1")), now()),
        Err(IdTokenError::WrongAudience { .. })
    ));
}

#[test]
fn unknown_keys_and_algorithms_are_refused() {
    assert_eq!(
        verify(&sign(&claims(), Some("rotated")), now()).unwrap_err(),
        IdTokenError::UnknownKey(Some("rotated".into()))
    );
    // An HMAC token keyed with anything must not pass, nor an unsigned one.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(JWKS.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verify(&IdToken::new(hs), now()).unwrap_err(),
        IdTokenError::UnsupportedAlgorithm("HS256".into())
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap())
    );
    assert_eq!(
        verify(&IdToken::new(none), now()).unwrap_err(),
        IdTokenError::UnsupportedAlgorithm("none".into())
    );
}
