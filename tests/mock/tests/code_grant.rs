//! Authorization code grant: consent page, PKCE, single-use expiring codes, and every way an
//! exchange can fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use discord_oauth_mock::{Endpoint, MockClient, MockDiscord, TokenStatus, errors, fixture};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn full_code_grant_with_pkce_through_the_consent_page() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (verifier, challenge) = pkce();
    let q = get_code(&http, &mock, "identify email", Some(&challenge)).await;
    assert!(!q.contains_key("iss"), "iss is off by default");
    let code = &q["code"];
    assert_eq!(code.len(), 30);

    let (status, body) = json_of(exchange(&http, &mock, code, Some(&verifier)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 604_800);
    assert_eq!(body["scope"], "identify email");
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].is_string());
    assert!(body.get("id_token").is_none() && body.get("guild").is_none());

    let (status, me) = get_api(&http, &mock, "/users/@me", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], fixture::WUMPUS_ID);
    assert_eq!(me["email"], "wumpus@example.com");
    assert_eq!(me["verified"], true);
    assert!(me["avatar"].as_str().unwrap().starts_with("a_"));

    // What the client sent is on record.
    let calls = mock.requests_to(Endpoint::Token);
    assert_eq!(calls.len(), 1);
    let t = &calls[0];
    assert!(t.is_form());
    assert_eq!(t.method(), "POST");
    assert_eq!(t.path(), "/api/v10/oauth2/token");
    assert_eq!(
        t.basic_auth(),
        Some((fixture::CLIENT_ID.to_owned(), fixture::CLIENT_SECRET.to_owned()))
    );
    assert_eq!(t.form_param("code_verifier").as_deref(), Some(verifier.as_str()));
    assert_eq!(t.form_param("redirect_uri").as_deref(), Some(REDIRECT));
    assert_eq!(t.status(), Some(200));
    assert_eq!(mock.count_grant("authorization_code"), 1);
    let dbg = format!("{t:?}");
    assert!(!dbg.contains(&verifier) && !dbg.contains(code.as_str()));
    assert!(!dbg.contains(fixture::CLIENT_SECRET));
    mock.shutdown().await;
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let resp = consent(&http, &mock, &code_params("identify", "xyz", None), "deny", None).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = params_of(&location(&resp), false);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["error_description"], errors::ACCESS_DENIED);
    assert_eq!(q["state"], "xyz");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn auto_consent_and_iss_option() {
    let mock = MockDiscord::builder()
        .auto_consent(true)
        .include_iss(true)
        .start()
        .await
        .unwrap();
    let http = http();
    let resp = http
        .get(authorize_url(&mock, &code_params("identify", "s", None)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = params_of(&location(&resp), false);
    assert_eq!(q["iss"], "https://discord.com");
    assert!(q.contains_key("code"));
}

#[tokio::test]
async fn unversioned_and_v9_paths_work() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    for prefix in ["/api/oauth2/authorize", "/api/v10/oauth2/authorize"] {
        let mut u = url::Url::parse(&format!("{}{prefix}", mock.base_url())).unwrap();
        u.query_pairs_mut().extend_pairs(code_params("identify", "s", None));
        let resp = http.get(u).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND, "{prefix}");
    }
    mock.set_auto_consent(false);
    let q = get_code(&http, &mock, "identify", None).await;
    let resp = http
        .post(format!("{}/api/v9/oauth2/token", mock.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", fixture::CLIENT_ID),
            ("client_secret", fixture::CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_as_cookie_and_form_choose_the_user() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let login = http
        .get(format!("{}?next=/mock", mock.login_url(fixture::LENA_ID)))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&login), "/mock");
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("discord_mock_user=412345678901234567;"));
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let resp = http
        .get(authorize_url(&mock, &code_params("identify", "s", None)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let code = params_of(&location(&resp), false)["code"].clone();
    let (_, tokens) = json_of(exchange(&http, &mock, &code, None).await).await;
    let (_, me) = get_api(&http, &mock, "/users/@me", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["id"], fixture::LENA_ID);
    assert_eq!(me["discriminator"], "4821");
    assert!(me.get("email").is_none(), "no email without the email scope");

    // The consent form's user choice wins over the cookie, and is remembered.
    mock.set_auto_consent(false);
    let resp = consent(
        &http,
        &mock,
        &code_params("identify", "s", None),
        "approve",
        Some(fixture::NOVA_ID),
    )
    .await;
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("discord_mock_user=523456789012345678")
    );
    let code = params_of(&location(&resp), false)["code"].clone();
    let (_, tokens) = json_of(exchange(&http, &mock, &code, None).await).await;
    let (_, me) = get_api(&http, &mock, "/users/@me", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["id"], fixture::NOVA_ID);

    let unknown = http.get(mock.login_url("1")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn prompt_none_skips_consent_only_when_already_authorized() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let mut p = code_params("identify", "s", None);
    p.push(("prompt", "none"));
    // Not yet authorized: the consent page is shown.
    let first = http.get(authorize_url(&mock, &p)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    get_code(&http, &mock, "identify", None).await;
    let again = http.get(authorize_url(&mock, &p)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FOUND);
    assert!(params_of(&location(&again), false).contains_key("code"));
    // prompt=consent always asks.
    let mut c = code_params("identify", "s", None);
    c.push(("prompt", "consent"));
    assert_eq!(
        http.get(authorize_url(&mock, &c)).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_redirect_uri_uses_the_first_registered() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let resp = http
        .get(authorize_url(
            &mock,
            &[
                ("response_type", "code"),
                ("client_id", fixture::CLIENT_ID),
                ("scope", "identify"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with(&format!("{REDIRECT}?code=")));
}

#[tokio::test]
async fn invalid_client_or_redirect_uri_never_redirects() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("response_type", "code"),
            ("client_id", "42"),
            ("scope", "identify"),
            ("redirect_uri", REDIRECT),
        ],
        &[
            ("response_type", "code"),
            ("scope", "identify"),
            ("redirect_uri", REDIRECT),
        ],
        &[
            ("response_type", "code"),
            ("client_id", fixture::CLIENT_ID),
            ("scope", "identify"),
            ("redirect_uri", "https://evil.example/callback"),
        ],
    ];
    for params in cases {
        let resp = http.get(authorize_url(&mock, params)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains("id=\"mock-error\""));
    }
    // A near-miss (trailing slash) is not an exact match either.
    let mut p = code_params("identify", "s", None);
    p[4] = ("redirect_uri", "http://127.0.0.1:3000/auth/callback/");
    let resp = http.get(authorize_url(&mock, &p)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The page names the URI it got and the registered ones, so a test's author sees the fix.
    let page = resp.text().await.unwrap();
    let message = page
        .split("id=\"mock-error\">")
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap();
    assert!(
        message.starts_with("Invalid OAuth2 redirect_uri: got &quot;http://127.0.0.1:3000/auth/callback/&quot;;")
            && message.contains(&format!(
                "application {} has registered: &quot;{REDIRECT}&quot;",
                fixture::CLIENT_ID
            ))
            && message.contains("MockDiscord::add_redirect_uri"),
        "{message}"
    );
}

#[tokio::test]
async fn authorize_errors_redirect_to_a_valid_redirect_uri() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let check = |params: Vec<(&'static str, &'static str)>, error: &'static str, desc: &'static str| {
        let http = http.clone();
        let url = authorize_url(&mock, &params);
        async move {
            let resp = http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FOUND);
            let loc = location(&resp);
            let q = params_of(&loc, loc.contains('#'));
            assert_eq!(q["error"], error, "{params:?}");
            assert_eq!(q["error_description"], desc);
            assert_eq!(q["state"], "s");
        }
    };
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = code_params("identify", "s", None);
        p.extend_from_slice(extra);
        p
    };
    check(
        with(&[
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "plain"),
        ]),
        "invalid_request",
        errors::UNSUPPORTED_CHALLENGE_METHOD,
    )
    .await;
    check(
        with(&[("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")]),
        "invalid_request",
        errors::UNSUPPORTED_CHALLENGE_METHOD,
    )
    .await;
    check(
        with(&[("code_challenge", "short"), ("code_challenge_method", "S256")]),
        "invalid_request",
        errors::INVALID_CODE_CHALLENGE,
    )
    .await;
    check(with(&[("prompt", "login")]), "invalid_request", errors::INVALID_PROMPT).await;
    let mut unknown_scope = code_params("identify fly", "s", None);
    unknown_scope.truncate(5);
    check(unknown_scope, "invalid_scope", errors::INVALID_SCOPE).await;
    let mut bad_type = code_params("identify", "s", None);
    bad_type[0] = ("response_type", "id_token");
    check(bad_type, "unsupported_response_type", errors::UNSUPPORTED_RESPONSE_TYPE).await;
    let mut rc = code_params("identify role_connections.write", "s", None);
    rc.push(("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    rc.push(("code_challenge_method", "S256"));
    check(rc, "invalid_request", errors::ROLE_CONNECTIONS_WITH_PKCE).await;
    let mut implicit_rc = code_params("role_connections.write", "s", None);
    implicit_rc[0] = ("response_type", "token");
    check(implicit_rc, "invalid_request", errors::ROLE_CONNECTIONS_IMPLICIT).await;
}

#[tokio::test]
async fn implicit_grant_puts_the_token_in_the_fragment() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let mut p = code_params("identify", "frag", None);
    p[0] = ("response_type", "token");
    let resp = consent(&http, &mock, &p, "approve", None).await;
    let loc = location(&resp);
    assert!(loc.starts_with(&format!("{REDIRECT}#")), "{loc}");
    let f = params_of(&loc, true);
    assert_eq!(f["token_type"], "Bearer");
    assert_eq!(f["expires_in"], "604800");
    assert_eq!(f["scope"], "identify");
    assert_eq!(f["state"], "frag");
    assert!(!f.contains_key("refresh_token"));
    let (status, me) = get_api(&http, &mock, "/users/@me", &f["access_token"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "wumpus");
    // Deny in the implicit flow answers in the fragment too.
    let resp = consent(&http, &mock, &p, "deny", None).await;
    assert_eq!(params_of(&location(&resp), true)["error"], "access_denied");
}

#[tokio::test]
async fn reused_code_fails_and_revokes_the_grant() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let q = get_code(&http, &mock, "identify", None).await;
    let (_, tokens) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(mock.token_status(access), TokenStatus::Active);
    let (status, body) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, oauth_err("invalid_grant", errors::INVALID_CODE));
    assert_eq!(mock.token_status(access), TokenStatus::Revoked);
    let (status, body) = get_api(&http, &mock, "/users/@me", access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, api_err(errors::UNAUTHORIZED));
}

#[tokio::test]
async fn reused_code_can_keep_the_grant_when_configured() {
    let mock = MockDiscord::builder()
        .revoke_on_code_reuse(false)
        .start()
        .await
        .unwrap();
    let http = http();
    let q = get_code(&http, &mock, "identify", None).await;
    let (_, tokens) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    let (status, _) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        mock.token_status(tokens["access_token"].as_str().unwrap()),
        TokenStatus::Active
    );
}

#[tokio::test]
async fn expired_code_by_ttl_by_clock_and_by_call() {
    let http = http();
    // Clock moved past the default 10-minute TTL.
    let mock = MockDiscord::start().await.unwrap();
    let q = get_code(&http, &mock, "identify", None).await;
    mock.advance_time(Duration::from_secs(601));
    let (status, body) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_CODE)
        )
    );

    // Explicit expiry.
    let q = get_code(&http, &mock, "identify", None).await;
    mock.expire_codes();
    let (status, body) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_CODE)
        )
    );

    // A zero TTL.
    let mock = MockDiscord::builder().code_ttl(Duration::ZERO).start().await.unwrap();
    let q = get_code(&http, &mock, "identify", None).await;
    let (status, _) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_code_and_other_clients_code() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (status, body) = json_of(exchange(&http, &mock, "nope", None).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_CODE)
        )
    );
    let q = get_code(&http, &mock, "identify", None).await;
    let resp = http
        .post(mock.token_url())
        .basic_auth(fixture::TEAM_CLIENT_ID, Some(fixture::TEAM_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_CODE)
        )
    );
    // The rightful client can still use it: failed attempts do not consume the code.
    let (status, _) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_or_missing_redirect_uri() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let q = get_code(&http, &mock, "identify", None).await;
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", "http://localhost:3000/auth/callback"),
        ],
        vec![("grant_type", "authorization_code"), ("code", q["code"].as_str())],
    ] {
        let (status, body) = json_of(token_request(&http, &mock, &form).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, oauth_err("invalid_grant", errors::INVALID_REDIRECT_URI));
    }
}

#[tokio::test]
async fn pkce_failures() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (verifier, challenge) = pkce();
    let q = get_code(&http, &mock, "identify", Some(&challenge)).await;
    let code = q["code"].as_str();

    let other = format!("{}x", "a".repeat(50));
    let (s, b) = json_of(exchange(&http, &mock, code, Some(&other)).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::CODE_VERIFIER_MISMATCH)
        )
    );

    let (s, b) = json_of(exchange(&http, &mock, code, Some(&"a".repeat(42))).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", errors::MALFORMED_CODE_VERIFIER)
        )
    );

    let (s, b) = json_of(exchange(&http, &mock, code, Some(&"a".repeat(129))).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", errors::MALFORMED_CODE_VERIFIER)
        )
    );

    let (s, b) = json_of(exchange(&http, &mock, code, Some(&format!("{}+", "a".repeat(50)))).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", errors::MALFORMED_CODE_VERIFIER)
        )
    );

    let (s, b) = json_of(exchange(&http, &mock, code, None).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::MISSING_CODE_VERIFIER)
        )
    );

    let (s, _) = json_of(exchange(&http, &mock, code, Some(&verifier)).await).await;
    assert_eq!(s, StatusCode::OK);

    // A verifier for an authorization that had no challenge.
    let q = get_code(&http, &mock, "identify", None).await;
    let (s, b) = json_of(exchange(&http, &mock, &q["code"], Some(&verifier)).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", errors::UNEXPECTED_CODE_VERIFIER)
        )
    );
}

#[tokio::test]
async fn public_client_needs_pkce_and_no_secret() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (verifier, challenge) = pkce();
    let mut p = code_params("identify", "s", Some(&challenge));
    p[1] = ("client_id", fixture::PUBLIC_CLIENT_ID);
    let resp = consent(&http, &mock, &p, "approve", None).await;
    let code = params_of(&location(&resp), false)["code"].clone();
    let resp = http
        .post(mock.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", fixture::PUBLIC_CLIENT_ID),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Basic auth with an empty secret is a public client too.
    let (verifier, challenge) = pkce();
    let mut p = code_params("identify", "s", Some(&challenge));
    p[1] = ("client_id", fixture::PUBLIC_CLIENT_ID);
    let resp = consent(&http, &mock, &p, "approve", None).await;
    let code = params_of(&location(&resp), false)["code"].clone();
    let resp = http
        .post(mock.token_url())
        .basic_auth(fixture::PUBLIC_CLIENT_ID, Some(""))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Without PKCE a public client is refused.
    let mut p = code_params("identify", "s", None);
    p[1] = ("client_id", fixture::PUBLIC_CLIENT_ID);
    let resp = consent(&http, &mock, &p, "approve", None).await;
    let code = params_of(&location(&resp), false)["code"].clone();
    let resp = http
        .post(mock.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", fixture::PUBLIC_CLIENT_ID),
        ])
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(resp).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", errors::PKCE_REQUIRED)
        )
    );

    // A confidential client without its secret is not a public client.
    let resp = http
        .post(mock.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", fixture::CLIENT_ID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let form = [("grant_type", "client_credentials"), ("scope", "identify")];
    let reqs = [
        http.post(mock.token_url())
            .basic_auth(fixture::CLIENT_ID, Some("wrong"))
            .form(&form),
        http.post(mock.token_url())
            .basic_auth("999", Some(fixture::CLIENT_SECRET))
            .form(&form),
        http.post(mock.token_url())
            .header("authorization", "Basic %%%")
            .form(&form),
        http.post(mock.token_url()).form(&form),
        http.post(mock.token_url()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", fixture::CLIENT_ID),
            ("client_secret", "wrong"),
        ]),
    ];
    for r in reqs {
        let resp = r.send().await.unwrap();
        assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"discord\"");
        let (s, b) = json_of(resp).await;
        assert_eq!(
            (s, b),
            (
                StatusCode::UNAUTHORIZED,
                oauth_err("invalid_client", errors::INVALID_CLIENT)
            )
        );
    }
    // Secret in the body works as well as Basic.
    let resp = http
        .post(mock.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "identify"),
            ("client_id", fixture::CLIENT_ID),
            ("client_secret", fixture::CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn json_bodies_are_not_read() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let q = get_code(&http, &mock, "identify", None).await;
    // With Basic auth: the form is empty, so there is no grant_type.
    let resp = http
        .post(mock.token_url())
        .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
        .json(&json!({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT}))
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(resp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b,
        oauth_err("unsupported_grant_type", "Grant type None is not supported")
    );
    // With credentials in the JSON: no client at all.
    let resp = http
        .post(mock.token_url())
        .json(
            &json!({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT,
                      "client_id": fixture::CLIENT_ID, "client_secret": fixture::CLIENT_SECRET}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!mock.requests_to(Endpoint::Token)[0].is_form());
    // The code is still good.
    assert_eq!(exchange(&http, &mock, &q["code"], None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unsupported_and_missing_grant_fields() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (s, b) = json_of(token_request(&http, &mock, &[("grant_type", "password")]).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("unsupported_grant_type", "Grant type password is not supported")
        )
    );
    let (s, b) = json_of(token_request(&http, &mock, &[("grant_type", "authorization_code")]).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", &errors::missing_field("code"))
        )
    );
    let (s, b) = json_of(token_request(&http, &mock, &[("grant_type", "refresh_token")]).await).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_request", &errors::missing_field("refresh_token"))
        )
    );
}

#[tokio::test]
async fn custom_clients_and_users() {
    let mock = MockDiscord::builder()
        .without_fixture()
        .client(
            MockClient::confidential("77", "sekrit")
                .redirect_uri("https://app.test/cb")
                .name("Custom"),
        )
        .user(discord_oauth_mock::MockUser::new("5", "solo").email("solo@x.y", true))
        .auto_consent(true)
        .start()
        .await
        .unwrap();
    let http = http();
    let resp = http
        .get(authorize_url(
            &mock,
            &[
                ("response_type", "code"),
                ("client_id", "77"),
                ("scope", "identify email"),
            ],
        ))
        .send()
        .await
        .unwrap();
    let loc = location(&resp);
    assert!(loc.starts_with("https://app.test/cb?code="));
    let code = params_of(&loc, false)["code"].clone();
    let resp = http
        .post(mock.token_url())
        .basic_auth("77", Some("sekrit"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://app.test/cb"),
        ])
        .send()
        .await
        .unwrap();
    let (_, t) = json_of(resp).await;
    let (_, me) = get_api(&http, &mock, "/users/@me", t["access_token"].as_str().unwrap()).await;
    assert_eq!(me["username"], "solo");
    assert_eq!(me["email"], "solo@x.y");
}

#[tokio::test]
async fn absurd_times_do_not_break_the_mock() {
    let mock = MockDiscord::builder()
        .access_token_ttl(Duration::MAX)
        .code_ttl(Duration::MAX)
        .start()
        .await
        .unwrap();
    let http = http();
    let q = get_code(&http, &mock, "identify openid", None).await;
    let (s, t) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    mock.advance_time(Duration::MAX);
    mock.advance_time(Duration::MAX);
    let (s, _) = get_api(&http, &mock, "/oauth2/@me", t["access_token"].as_str().unwrap()).await;
    assert!(s == StatusCode::OK || s == StatusCode::UNAUTHORIZED);
    let resp = http
        .post(format!("{}/mock/advance-time", mock.base_url()))
        .form(&[("seconds", u64::MAX.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(http.get(mock.keys_url()).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn consent_page_escapes_and_round_trips_hostile_state() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let state = "\"><script>alert(1)</script>&x='y'";
    let params = code_params("identify", state, None);
    let page = http.get(authorize_url(&mock, &params)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"));
    let resp = consent(&http, &mock, &params, "approve", None).await;
    assert_eq!(params_of(&location(&resp), false)["state"], state);
}

#[tokio::test]
async fn sdk_codes_are_exchanged_without_redirect_uri() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let sdk = |code: &str, redirect: Option<&str>| {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        form.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    // Rust API: a code bound to no redirect_uri
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::LENA_ID, "identify email")
        .unwrap();
    let form = sdk(&code, None);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = json_of(token_request(&http, &mock, &pairs).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "identify email");
    let (_, me) = get_api(&http, &mock, "/users/@me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(me["id"], fixture::LENA_ID);
    // single use
    let (status, body) = json_of(token_request(&http, &mock, &pairs).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_CODE)
        )
    );

    // an SDK code sent with a redirect_uri is refused (and stays unused)
    let code = mock
        .sdk_authorize(fixture::CLIENT_ID, fixture::WUMPUS_ID, "identify")
        .unwrap();
    let form = sdk(&code, Some(REDIRECT));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = json_of(token_request(&http, &mock, &pairs).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            oauth_err("invalid_grant", errors::INVALID_REDIRECT_URI)
        )
    );
    // a redirect-flow code still needs its redirect_uri
    let q = get_code(&http, &mock, "identify", None).await;
    let form = sdk(&q["code"], None);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _) = json_of(token_request(&http, &mock, &pairs).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // over HTTP, from any origin, comma-separated scopes like the SDK's
    let resp = http
        .post(format!("{}/mock/sdk/authorize", mock.base_url()))
        .form(&[
            ("client_id", fixture::CLIENT_ID),
            ("scope", "identify,guilds"),
            ("user_id", fixture::NOVA_ID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let (status, body) = json_of(resp).await;
    assert_eq!(status, StatusCode::OK);
    let form = sdk(body["code"].as_str().unwrap(), None);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = json_of(token_request(&http, &mock, &pairs).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "identify guilds");
    // unknown scope, bot scope, unknown client
    for (client, scope) in [
        (fixture::CLIENT_ID, "identify nope"),
        (fixture::CLIENT_ID, "bot"),
        ("1", "identify"),
    ] {
        let resp = http
            .post(format!("{}/mock/sdk/authorize", mock.base_url()))
            .form(&[("client_id", client), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{client} {scope}");
    }
    assert!(mock.sdk_authorize(fixture::CLIENT_ID, "1", "identify").is_err());
}
