//! Refresh rotation, revocation of the whole grant, client credentials, OpenID Connect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use discord_oauth_mock::{Endpoint, MockDiscord, TokenStatus, errors, fixture};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use reqwest::StatusCode;
use serde_json::Value;

async fn code_tokens(mock: &MockDiscord, scope: &str) -> Value {
    let http = http();
    let q = get_code(&http, mock, scope, None).await;
    let (status, body) = json_of(exchange(&http, mock, &q["code"], None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(mock: &MockDiscord, rt: &str) -> (StatusCode, Value) {
    json_of(token_request(&http(), mock, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await).await
}

async fn revoke(mock: &MockDiscord, token: &str, hint: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let resp = http()
        .post(mock.revoke_url())
        .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    json_of(resp).await
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_fails() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t1 = code_tokens(&mock, "identify guilds").await;
    let rt1 = t1["refresh_token"].as_str().unwrap();

    mock.expire_access_tokens();
    let (s, b) = get_api(&http, &mock, "/users/@me", t1["access_token"].as_str().unwrap()).await;
    assert_eq!((s, b), (StatusCode::UNAUTHORIZED, api_err(errors::UNAUTHORIZED)));
    assert_eq!(
        mock.token_status(t1["access_token"].as_str().unwrap()),
        TokenStatus::Expired
    );

    let (s, t2) = refresh(&mock, rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_ne!(t1["access_token"], t2["access_token"]);
    assert_eq!(t2["scope"], "identify guilds");
    assert_eq!(t2["token_type"], "Bearer");
    assert_eq!(mock.token_status(rt1), TokenStatus::Rotated);
    let (s, _) = get_api(&http, &mock, "/users/@me", t2["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = refresh(&mock, rt1).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_REFRESH_TOKEN)
        )
    );
    // The grant survives a stale refresh token by default.
    let (s, _) = refresh(&mock, rt2).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mock.count_grant("refresh_token"), 3);
    assert_eq!(mock.count_grant("authorization_code"), 1);
}

#[tokio::test]
async fn refresh_reuse_can_revoke_the_grant() {
    let mock = MockDiscord::builder()
        .revoke_on_refresh_reuse(true)
        .start()
        .await
        .unwrap();
    let t1 = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let rt1 = t1.refresh_token.clone().unwrap();
    let (_, t2) = refresh(&mock, &rt1).await;
    let (s, _) = refresh(&mock, &rt1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        mock.token_status(t2["access_token"].as_str().unwrap()),
        TokenStatus::Revoked
    );
    let (s, _) = refresh(&mock, t2["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refresh_scope_may_narrow_but_not_widen_and_other_clients_cannot_refresh() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds").unwrap();
    let rt = t.refresh_token.unwrap();
    let (s, b) = json_of(
        token_request(
            &http(),
            &mock,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "identify email"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_scope", errors::INVALID_SCOPE)
        )
    );
    let resp = http()
        .post(mock.token_url())
        .basic_auth(fixture::TEAM_CLIENT_ID, Some(fixture::TEAM_CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(resp).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_REFRESH_TOKEN)
        )
    );
    let (s, _) = json_of(
        token_request(
            &http(),
            &mock,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "identify"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn revoking_any_token_revokes_the_whole_grant() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    for (which, hint) in [
        ("access_token", Some("access_token")),
        ("refresh_token", Some("refresh_token")),
        ("access_token", None),
        ("refresh_token", Some("access_token")),
    ] {
        let t1 = code_tokens(&mock, "identify").await;
        // A second access token of the same grant, via refresh.
        let (_, t2) = refresh(&mock, t1["refresh_token"].as_str().unwrap()).await;
        let (s, b) = revoke(&mock, t1[which].as_str().unwrap(), hint).await;
        assert_eq!((s, b), (StatusCode::OK, serde_json::json!({})));
        for t in [&t1["access_token"], &t2["access_token"]] {
            let (s, b) = get_api(&http, &mock, "/users/@me", t.as_str().unwrap()).await;
            assert_eq!(
                (s, b),
                (StatusCode::UNAUTHORIZED, api_err(errors::UNAUTHORIZED)),
                "{which} {hint:?}"
            );
        }
        let (s, b) = refresh(&mock, t2["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            (s, b),
            (
                StatusCode::BAD_REQUEST,
                oauth_err("invalid_grant", errors::INVALID_REFRESH_TOKEN)
            )
        );
        assert_eq!(
            mock.token_status(t2["refresh_token"].as_str().unwrap()),
            TokenStatus::Revoked
        );
    }
    assert_eq!(mock.count(Endpoint::Revoke), 4);
    let r = mock.last_request(Endpoint::Revoke).unwrap();
    assert!(r.is_form());
    assert_eq!(r.form_param("token_type_hint").as_deref(), Some("access_token"));
}

#[tokio::test]
async fn revoke_unknown_token_is_ok_but_needs_client_auth_and_a_form() {
    let mock = MockDiscord::start().await.unwrap();
    let (s, b) = revoke(&mock, "never-issued", None).await;
    assert_eq!((s, b), (StatusCode::OK, serde_json::json!({})));
    let resp = http()
        .post(mock.revoke_url())
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(resp).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::UNAUTHORIZED,
            oauth_err("invalid_client", errors::INVALID_CLIENT)
        )
    );
    let resp = http()
        .post(mock.revoke_url())
        .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
        .json(&serde_json::json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(resp).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", &errors::missing_field("token"))
        )
    );
    // Another client cannot revoke our grant.
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let resp = http()
        .post(mock.revoke_url())
        .basic_auth(fixture::TEAM_CLIENT_ID, Some(fixture::TEAM_CLIENT_SECRET))
        .form(&[("token", t.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(mock.token_status(&t.access_token), TokenStatus::Active);
}

#[tokio::test]
async fn revoke_all_for_a_user() {
    let mock = MockDiscord::start().await.unwrap();
    let a = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let b = mock
        .issue_tokens_for(fixture::TEAM_CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    let c = mock.issue_tokens(fixture::LENA_ID, "identify").unwrap();
    assert_eq!(mock.revoke_all_for(fixture::WUMPUS_ID), 2);
    assert_eq!(mock.token_status(&a.access_token), TokenStatus::Revoked);
    assert_eq!(mock.token_status(&b.refresh_token.unwrap()), TokenStatus::Revoked);
    assert_eq!(mock.token_status(&c.access_token), TokenStatus::Active);
    assert_eq!(mock.token_status("nope"), TokenStatus::Unknown);
}

#[tokio::test]
async fn access_tokens_expire_with_the_clock_and_ttl() {
    let mock = MockDiscord::builder()
        .access_token_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    assert_eq!(t.expires_in, 60);
    let http = http();
    assert_eq!(
        get_api(&http, &mock, "/users/@me", &t.access_token).await.0,
        StatusCode::OK
    );
    mock.advance_time(Duration::from_secs(61));
    assert_eq!(
        get_api(&http, &mock, "/users/@me", &t.access_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, fresh) = refresh(&mock, t.refresh_token.as_deref().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fresh["expires_in"], 60);
}

#[tokio::test]
async fn client_credentials_grant() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (s, b) = json_of(
        token_request(
            &http,
            &mock,
            &[("grant_type", "client_credentials"), ("scope", "identify connections")],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "identify connections");
    assert_eq!(b["expires_in"], 604_800);
    assert!(b.get("refresh_token").is_none());
    // It acts as the application owner.
    let (_, me) = get_api(&http, &mock, "/users/@me", b["access_token"].as_str().unwrap()).await;
    assert_eq!(me["id"], fixture::WUMPUS_ID);

    for scope in [
        None,
        Some(""),
        Some("identify flying"),
        Some("bot"),
        Some("webhook.incoming"),
    ] {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (s, b) = json_of(token_request(&http, &mock, &form).await).await;
        assert_eq!(
            (s, b),
            (
                StatusCode::BAD_REQUEST,
                oauth_err("invalid_scope", errors::INVALID_SCOPE)
            ),
            "{scope:?}"
        );
    }

    // Team applications: identify and applications.commands.update only.
    let team = |scope: &'static str| {
        http.post(mock.token_url())
            .basic_auth(fixture::TEAM_CLIENT_ID, Some(fixture::TEAM_CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };
    let (s, b) = json_of(team("identify applications.commands.update").await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = json_of(team("identify guilds").await.unwrap()).await;
    assert_eq!(
        (s, b),
        (StatusCode::BAD_REQUEST, oauth_err("invalid_scope", errors::TEAM_SCOPE))
    );

    // A public client without a secret cannot use client credentials.
    let resp = http
        .post(mock.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "identify"),
            ("client_id", fixture::PUBLIC_CLIENT_ID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(mock.count_grant("client_credentials"), 9);
}

#[derive(Debug, serde::Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
}

#[tokio::test]
async fn openid_id_token_verifies_against_the_published_keys() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let mut params = code_params("openid identify email", "s", None);
    params.push(("nonce", "n-0S6_WzA2Mj"));
    let resp = http.get(authorize_url(&mock, &params)).send().await.unwrap();
    let code = params_of(&location(&resp), false)["code"].clone();
    let (s, t) = json_of(exchange(&http, &mock, &code, None).await).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let id_token = t["id_token"].as_str().unwrap();

    let jwks: Value = http.get(mock.keys_url()).send().await.unwrap().json().await.unwrap();
    let header = decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[fixture::CLIENT_ID]);
    validation.set_issuer(&["https://discord.com"]);
    let claims = decode::<IdClaims>(id_token, &key, &validation).unwrap().claims;
    assert_eq!(claims.iss, "https://discord.com");
    assert_eq!(claims.sub, fixture::WUMPUS_ID);
    assert_eq!(claims.aud, fixture::CLIENT_ID);
    assert_eq!(claims.exp, claims.iat + 604_800);
    assert_eq!(claims.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_eq!(claims.email.as_deref(), Some("wumpus@example.com"));
    assert_eq!(claims.email_verified, Some(true));

    // Wrong audience is rejected by a verifier.
    let mut wrong = Validation::new(Algorithm::RS256);
    wrong.set_audience(&["someone-else"]);
    assert!(decode::<IdClaims>(id_token, &key, &wrong).is_err());

    // userinfo
    let (s, info) = get_api(&http, &mock, "/oauth2/userinfo", t["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["sub"], fixture::WUMPUS_ID);
    assert_eq!(info["email"], "wumpus@example.com");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["preferred_username"], "wumpus");
    assert_eq!(info["nickname"], "Wumpus");
    assert!(
        info["picture"]
            .as_str()
            .unwrap()
            .ends_with("/a_1269e74af4df7417b13759eae50c83dc.gif")
    );

    // Without email: no email claims.
    let resp = http
        .get(authorize_url(&mock, &code_params("openid", "s", None)))
        .send()
        .await
        .unwrap();
    let code = params_of(&location(&resp), false)["code"].clone();
    let (_, t) = json_of(exchange(&http, &mock, &code, None).await).await;
    let claims = decode::<IdClaims>(t["id_token"].as_str().unwrap(), &key, &validation)
        .unwrap()
        .claims;
    assert!(claims.email.is_none() && claims.nonce.is_none());
    let (_, info) = get_api(&http, &mock, "/oauth2/userinfo", t["access_token"].as_str().unwrap()).await;
    assert!(info.get("email").is_none());

    // Discovery points at the mock.
    let d: Value = http
        .get(format!("{}/.well-known/openid-configuration", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["jwks_uri"], mock.keys_url());
    assert_eq!(d["token_endpoint"], mock.token_url());
    assert_eq!(d["issuer"], "https://discord.com");
    let m: Value = http
        .get(format!("{}/.well-known/oauth-authorization-server", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], false);
    assert_eq!(m["token_endpoint"], format!("{}/api/oauth2/token", mock.base_url()));
}

#[tokio::test]
async fn issue_tokens_validates_its_inputs() {
    let mock = MockDiscord::start().await.unwrap();
    assert!(matches!(
        mock.issue_tokens("0", "identify"),
        Err(discord_oauth_mock::MockError::UnknownUser(_))
    ));
    assert!(matches!(
        mock.issue_tokens(fixture::WUMPUS_ID, "identify nope"),
        Err(discord_oauth_mock::MockError::UnknownScope(_))
    ));
    assert!(matches!(
        mock.issue_tokens_for("0", fixture::WUMPUS_ID, "identify"),
        Err(discord_oauth_mock::MockError::UnknownClient(_))
    ));
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "openid email").unwrap();
    assert!(t.id_token.is_some());
    let dbg = format!("{t:?}");
    assert!(!dbg.contains(&t.access_token));
    let dbg = format!("{mock:?}");
    assert!(
        !dbg.contains(&t.access_token) && !dbg.contains(fixture::CLIENT_SECRET),
        "{dbg}"
    );
}
