//! Deterministic tests of every OAuth2 flow: fixed time, seeded RNG, exact requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use discord_oauth_core::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const SECRET: &str = "937it3ow87i4ery69876wqire";

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5eed)
}

fn client() -> Client {
    Client::new(
        ClientId::new("332269999912132097".into()),
        Some(ClientSecret::new(SECRET.into())),
        RedirectUrl::new("https://nicememe.website/auth/callback".into()).unwrap(),
    )
}

fn public_client() -> Client {
    Client::new(
        ClientId::new("332269999912132097".into()),
        None,
        RedirectUrl::new("http://127.0.0.1:8123/callback".into()).unwrap(),
    )
}

fn query_map(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_map(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn json_response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// Runs a login up to the callback and returns (pending, callback query with the right state).
fn started() -> (url::Url, PendingAuthorization) {
    client()
        .authorize([Scope::Identify, Scope::Guilds])
        .start(&mut rng(), now())
        .unwrap()
}

fn callback_query(pending: &PendingAuthorization, extra: &str) -> String {
    format!(
        "code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}{extra}",
        pending.state().secret()
    )
}

const SEED_TOKEN_RESPONSE: &str = r#"{
  "access_token": "6qrZcUqja7812RVdnEKjpzOL4CvHBFG",
  "token_type": "Bearer",
  "expires_in": 604800,
  "refresh_token": "D43f5y0ahjqew82jZ4NViEr2YafMKhue",
  "scope": "identify"
}"#;

// ---------------------------------------------------------------- authorize URL

#[test]
fn a01_authorize_url_has_every_required_parameter() {
    let (url, pending) = started();
    assert_eq!(url.origin().ascii_serialization(), "https://discord.com");
    assert_eq!(url.path(), "/oauth2/authorize");
    let q = query_map(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "332269999912132097");
    assert_eq!(q["scope"], "identify guilds");
    assert_eq!(q["redirect_uri"], "https://nicememe.website/auth/callback");
    assert_eq!(q["state"], pending.state().secret().as_str());
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(!q.contains_key("prompt"));
    // Scopes are %20-separated as Discord documents, never `+`.
    assert!(url.as_str().contains("scope=identify%20guilds"), "{url}");
    assert!(!url.as_str().contains('+'));
}

#[test]
fn authorize_url_is_deterministic_for_a_seeded_rng() {
    let (a, _) = started();
    let (b, _) = started();
    assert_eq!(a, b);
}

#[test]
fn prompt_and_integration_type_are_rendered() {
    let (url, _) = client()
        .authorize(Scope::Identify)
        .prompt(Prompt::None)
        .integration_type(IntegrationType::UserInstall)
        .start(&mut rng(), now())
        .unwrap();
    let q = query_map(&url);
    assert_eq!(q["prompt"], "none");
    assert_eq!(q["integration_type"], "1");
    let (url, _) = client()
        .authorize(Scope::Identify)
        .prompt(Prompt::Consent)
        .integration_type(IntegrationType::GuildInstall)
        .start(&mut rng(), now())
        .unwrap();
    let q = query_map(&url);
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["integration_type"], "0");
}

#[test]
fn a02_login_flow_never_uses_response_type_token() {
    for pkce in [true, false] {
        let (url, _) = client()
            .authorize(Scope::Identify)
            .pkce(pkce)
            .start(&mut rng(), now())
            .unwrap();
        assert_eq!(query_map(&url)["response_type"], "code");
    }
}

#[test]
fn a03_state_has_256_bits_and_never_repeats() {
    let mut r = StdRng::seed_from_u64(1);
    let mut seen = HashSet::new();
    let client = client();
    for _ in 0..20_000 {
        let (_, p) = client
            .authorize(Scope::Identify)
            .pkce(false)
            .start(&mut r, now())
            .unwrap();
        let s = p.state().secret().clone();
        assert_eq!(s.len(), 43);
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).unwrap();
        assert_eq!(raw.len(), 32);
        assert!(seen.insert(s), "state repeated");
    }
}

#[test]
fn a04_pkce_verifier_is_43_unreserved_chars() {
    let (_, pending) = started();
    let json = serde_json::to_value(&pending).unwrap();
    let verifier = json["pkce_verifier"].as_str().unwrap();
    assert_eq!(verifier.len(), 43);
    assert!(
        verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    );
}

#[test]
fn a05_code_challenge_matches_rfc7636_appendix_b() {
    let v = PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    assert_eq!(
        PkceCodeChallenge::from_code_verifier_sha256(&v).as_str(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn a05_challenge_in_url_is_sha256_of_stored_verifier() {
    let (url, pending) = started();
    let json = serde_json::to_value(&pending).unwrap();
    let v = PkceCodeVerifier::new(json["pkce_verifier"].as_str().unwrap().to_owned());
    assert_eq!(
        query_map(&url)["code_challenge"],
        PkceCodeChallenge::from_code_verifier_sha256(&v).as_str()
    );
}

#[test]
fn a07_two_logins_get_distinct_state_and_verifier() {
    let mut r = rng();
    let (u1, p1) = client().authorize(Scope::Identify).start(&mut r, now()).unwrap();
    let (u2, p2) = client().authorize(Scope::Identify).start(&mut r, now()).unwrap();
    assert_ne!(p1.state().secret(), p2.state().secret());
    assert_ne!(query_map(&u1)["code_challenge"], query_map(&u2)["code_challenge"]);
    // Each callback works with its own pending authorization only.
    let q1 = callback_query(&p1, "");
    assert!(p2.callback(&q1, now()).is_err());
    assert!(p1.callback(&q1, now()).is_ok());
}

#[test]
fn role_connections_write_with_pkce_is_refused_before_sending() {
    let err = client()
        .authorize([Scope::Identify, Scope::RoleConnectionsWrite])
        .start(&mut rng(), now())
        .unwrap_err();
    assert!(matches!(err, ConfigError::ScopeNotAllowed { ref scope, .. } if scope == "role_connections.write"));
    assert!(err.to_string().contains("PKCE"));
    // A confidential client may opt out of PKCE for it.
    let (url, _) = client()
        .authorize([Scope::Identify, Scope::RoleConnectionsWrite])
        .pkce(false)
        .start(&mut rng(), now())
        .unwrap();
    assert!(!query_map(&url).contains_key("code_challenge"));
    // A public client may not.
    assert!(
        public_client()
            .authorize(Scope::Identify)
            .pkce(false)
            .start(&mut rng(), now())
            .is_err()
    );
}

#[test]
fn login_scope_mistakes_are_config_errors() {
    let c = client();
    assert_eq!(
        c.authorize(Scopes::new()).start(&mut rng(), now()).unwrap_err(),
        ConfigError::NoScopes
    );
    assert!(matches!(
        c.authorize([Scope::Bot]).start(&mut rng(), now()).unwrap_err(),
        ConfigError::ScopeNotAllowed { .. }
    ));
    assert!(matches!(
        c.authorize([Scope::Identify, Scope::ApplicationsCommandsUpdate])
            .start(&mut rng(), now())
            .unwrap_err(),
        ConfigError::ScopeNotAllowed { .. }
    ));
    let no_redirect = Client::without_redirect(ClientId::new("1".into()), None);
    assert_eq!(
        no_redirect
            .authorize(Scope::Identify)
            .start(&mut rng(), now())
            .unwrap_err(),
        ConfigError::MissingRedirectUri
    );
}

#[test]
fn endpoints_are_overridable_for_the_legacy_host_and_a_mock() {
    let legacy = client().with_endpoints(Endpoints::legacy_discordapp());
    let (url, _) = legacy.authorize(Scope::Identify).start(&mut rng(), now()).unwrap();
    assert!(url.as_str().starts_with("https://discordapp.com/api/oauth2/authorize?"));
    let mock = client().with_endpoints(Endpoints::from_base("http://127.0.0.1:7999".parse().unwrap()).unwrap());
    let (url, pending) = mock.authorize(Scope::Identify).start(&mut rng(), now()).unwrap();
    assert!(url.as_str().starts_with("http://127.0.0.1:7999/oauth2/authorize?"));
    let grant = pending.callback(&callback_query_for(url.as_str()), now()).unwrap();
    let req = mock.exchange_code(grant).request();
    assert_eq!(req.uri().to_string(), "http://127.0.0.1:7999/api/v10/oauth2/token");
}

fn callback_query_for(authorize_url: &str) -> String {
    let url: url::Url = authorize_url.parse().unwrap();
    format!("code=abc&state={}", query_map(&url)["state"])
}

// ---------------------------------------------------------------- callback

#[test]
fn b01_valid_callback_yields_a_grant() {
    let (_, pending) = started();
    let q = callback_query(&pending, "");
    let grant = pending.callback(&q, now() + Duration::from_secs(30)).unwrap();
    assert_eq!(grant.requested_scopes().to_string(), "identify guilds");
    assert!(grant.guild_id.is_none());
}

#[test]
fn b02_missing_state_is_rejected() {
    let (_, pending) = started();
    assert_eq!(
        pending.callback("code=abc", now()).unwrap_err(),
        CallbackError::MissingState
    );
}

#[test]
fn b03_empty_state_is_rejected() {
    let (_, pending) = started();
    assert_eq!(
        pending.callback("code=abc&state=", now()).unwrap_err(),
        CallbackError::MissingState
    );
}

#[test]
fn b04_state_with_one_char_flipped_is_rejected() {
    let (_, pending) = started();
    let mut state = pending.state().secret().clone().into_bytes();
    state[10] = if state[10] == b'A' { b'B' } else { b'A' };
    let q = format!("code=abc&state={}", String::from_utf8(state).unwrap());
    assert_eq!(pending.callback(&q, now()).unwrap_err(), CallbackError::StateMismatch);
}

#[test]
fn b05_state_from_another_login_is_rejected() {
    let mut r = rng();
    let (_, browser_a) = client().authorize(Scope::Identify).start(&mut r, now()).unwrap();
    let (_, browser_b) = client().authorize(Scope::Identify).start(&mut r, now()).unwrap();
    let from_a = callback_query(&browser_a, "");
    assert_eq!(
        browser_b.callback(&from_a, now()).unwrap_err(),
        CallbackError::StateMismatch
    );
}

#[test]
fn a09_expired_pending_authorization_is_rejected() {
    let (_, pending) = started();
    let q = callback_query(&pending, "");
    let late = now() + DEFAULT_AUTHORIZATION_TTL + Duration::from_secs(1);
    assert_eq!(pending.callback(&q, late).unwrap_err(), CallbackError::Expired);
    // A custom TTL is honoured.
    let (_, short) = client()
        .authorize(Scope::Identify)
        .ttl(Duration::from_secs(5))
        .start(&mut rng(), now())
        .unwrap();
    let q = callback_query(&short, "");
    assert_eq!(
        short.callback(&q, now() + Duration::from_secs(6)).unwrap_err(),
        CallbackError::Expired
    );
}

#[test]
fn k06_clock_skew_within_ttl_is_tolerated() {
    let (_, pending) = started();
    let q = callback_query(&pending, "");
    // A callback handled by a server whose clock is 5 minutes ahead still succeeds.
    assert!(pending.callback(&q, now() + Duration::from_secs(300)).is_ok());
}

#[test]
fn b10_access_denied_is_a_friendly_typed_error() {
    let (_, pending) = started();
    let q = format!(
        "error=access_denied&error_description=The+resource+owner+or+authorization+server+denied+the+request&state={}",
        pending.state().secret()
    );
    let err = pending.callback(&q, now()).unwrap_err();
    assert!(err.is_access_denied());
    assert_eq!(err.to_string(), "login was cancelled on Discord");
    match err {
        CallbackError::AccessDenied { description } => {
            assert_eq!(
                description.as_deref(),
                Some("The resource owner or authorization server denied the request")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_provider_errors_keep_code_and_description() {
    let (_, pending) = started();
    let q = format!(
        "error=invalid_scope&error_description=bad&state={}",
        pending.state().secret()
    );
    assert_eq!(
        pending.callback(&q, now()).unwrap_err(),
        CallbackError::Provider(OAuthError {
            error: OAuthErrorCode::InvalidScope,
            error_description: Some("bad".into())
        })
    );
}

#[test]
fn b12_error_without_valid_state_is_not_attributed_to_the_login() {
    let (_, pending) = started();
    assert_eq!(
        pending.callback("error=access_denied&state=forged", now()).unwrap_err(),
        CallbackError::StateMismatch
    );
}

#[test]
fn b14_wrong_issuer_is_rejected() {
    for iss in [
        "https://evil.example",
        "https://discord.com/",
        "http://discord.com",
        "https://DISCORD.com",
    ] {
        let (_, pending) = started();
        let q = callback_query(&pending, &format!("&iss={}", urlencode(iss)));
        assert_eq!(
            pending.callback(&q, now()).unwrap_err(),
            CallbackError::IssuerMismatch,
            "{iss}"
        );
    }
    let (_, pending) = started();
    let q = callback_query(&pending, "&iss=https%3A%2F%2Fdiscord.com");
    assert!(pending.callback(&q, now()).is_ok());
}

#[test]
fn b15_missing_issuer_is_rejected_only_in_strict_mode() {
    let (_, strict) = client()
        .authorize(Scope::Identify)
        .require_issuer(true)
        .start(&mut rng(), now())
        .unwrap();
    let q = callback_query(&strict, "");
    assert_eq!(strict.callback(&q, now()).unwrap_err(), CallbackError::MissingIssuer);
    let (_, lenient) = started();
    let q = callback_query(&lenient, "");
    assert!(lenient.callback(&q, now()).is_ok());
}

#[test]
fn missing_code_is_rejected() {
    let (_, pending) = started();
    let q = format!("state={}", pending.state().secret());
    assert_eq!(pending.callback(&q, now()).unwrap_err(), CallbackError::MissingCode);
}

#[test]
fn b09_repeated_state_or_code_is_rejected() {
    let (_, pending) = started();
    let s = pending.state().secret().clone();
    let q = format!("code=a&state={s}&state={s}");
    assert_eq!(
        pending.callback(&q, now()).unwrap_err(),
        CallbackError::DuplicateParameter("state")
    );
}

#[test]
fn pending_authorization_survives_serde_and_still_validates() {
    let (_, pending) = started();
    let q = callback_query(&pending, "");
    let json = serde_json::to_string(&pending).unwrap();
    let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
    assert_eq!(back.expires_at(), pending.expires_at());
    assert!(back.callback(&q, now()).is_ok());
}

#[test]
fn e02_pending_and_grant_debug_redact_secrets() {
    let (_, pending) = started();
    let state = pending.state().secret().clone();
    let json = serde_json::to_value(&pending).unwrap();
    let verifier = json["pkce_verifier"].as_str().unwrap().to_owned();
    let dbg = format!("{pending:?}");
    assert!(!dbg.contains(&state) && !dbg.contains(&verifier), "{dbg}");
    let q = callback_query(&pending, "");
    let grant = pending.callback(&q, now()).unwrap();
    let dbg = format!("{grant:?}");
    assert!(
        !dbg.contains("NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee") && !dbg.contains(&verifier),
        "{dbg}"
    );
}

// ---------------------------------------------------------------- code exchange

#[test]
fn c01_code_exchange_request_is_form_encoded_with_basic_auth() {
    let (_, pending) = started();
    let json = serde_json::to_value(&pending).unwrap();
    let verifier = json["pkce_verifier"].as_str().unwrap().to_owned();
    let grant = pending
        .callback(&callback_query(&pending_clone_state(&json), ""), now())
        .unwrap();
    let req = client().exchange_code(grant).request();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().to_string(), "https://discord.com/api/v10/oauth2/token");
    assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("332269999912132097:{SECRET}"));
    assert_eq!(req.headers()["authorization"], format!("Basic {expected}").as_str());
    assert!(req.headers()["authorization"].is_sensitive());
    let form = form_map(req.body());
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee");
    assert_eq!(form["redirect_uri"], "https://nicememe.website/auth/callback");
    assert_eq!(form["code_verifier"], verifier);
    assert!(!form.contains_key("client_secret"));
}

/// Builds a stand-in with the same state, for tests that consumed `pending` via JSON first.
fn pending_clone_state(json: &serde_json::Value) -> PendingAuthorization {
    serde_json::from_value(json.clone()).unwrap()
}

#[test]
fn client_secret_in_body_when_configured() {
    let c = client().with_client_auth(ClientAuth::RequestBody);
    let (_, pending) = c.authorize(Scope::Identify).start(&mut rng(), now()).unwrap();
    let q = callback_query(&pending, "");
    let req = c.exchange_code(pending.callback(&q, now()).unwrap()).request();
    assert!(req.headers().get("authorization").is_none());
    let form = form_map(req.body());
    assert_eq!(form["client_id"], "332269999912132097");
    assert_eq!(form["client_secret"], SECRET);
}

#[test]
fn i07_public_client_sends_only_client_id() {
    let c = public_client();
    let (_, pending) = c.authorize(Scope::Identify).start(&mut rng(), now()).unwrap();
    let q = callback_query(&pending, "");
    let req = c.exchange_code(pending.callback(&q, now()).unwrap()).request();
    assert!(req.headers().get("authorization").is_none());
    let form = form_map(req.body());
    assert_eq!(form["client_id"], "332269999912132097");
    assert!(!form.contains_key("client_secret"));
    assert_eq!(form["code_verifier"].len(), 43);
}

#[test]
fn basic_auth_urlencodes_credentials() {
    let c = Client::new(
        ClientId::new("id:1".into()),
        Some(ClientSecret::new("p@ss w:rd".into())),
        RedirectUrl::new("https://x.example/cb".into()).unwrap(),
    );
    let req = c.revoke(RevocableToken::Access(AccessToken::new("t".into()))).request();
    let expected = base64::engine::general_purpose::STANDARD.encode("id%3A1:p%40ss+w%3Ard");
    assert_eq!(req.headers()["authorization"], format!("Basic {expected}").as_str());
}

#[test]
fn embedded_app_exchange_has_no_redirect_uri() {
    let grant = AuthorizationGrant::from_code(
        AuthorizationCode::new("sdk-code".into()),
        None,
        Scopes::from(Scope::Identify),
    );
    let req = client().exchange_code(grant).request();
    let form = form_map(req.body());
    assert_eq!(form["code"], "sdk-code");
    assert!(!form.contains_key("redirect_uri"));
    assert!(!form.contains_key("code_verifier"));
}

fn exchange() -> CodeExchange {
    let (_, pending) = started();
    let q = callback_query(&pending, "");
    client().exchange_code(pending.callback(&q, now()).unwrap())
}

#[test]
fn seed_access_token_response_parses() {
    let tokens = exchange()
        .finish(json_response(200, SEED_TOKEN_RESPONSE), now())
        .unwrap();
    assert_eq!(tokens.access_token.secret(), "6qrZcUqja7812RVdnEKjpzOL4CvHBFG");
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().secret(),
        "D43f5y0ahjqew82jZ4NViEr2YafMKhue"
    );
    assert_eq!(tokens.expires_at, now() + Duration::from_secs(604_800));
    assert_eq!(tokens.scopes.to_string(), "identify");
    assert!(tokens.guild.is_none() && tokens.webhook.is_none() && tokens.id_token.is_none());
}

#[test]
fn c04_token_type_case_missing_expiry_and_unknown_fields_are_accepted() {
    for tt in ["Bearer", "bearer", "BEARER"] {
        let body = format!(r#"{{"access_token":"a","token_type":"{tt}","expires_in":10,"scope":"identify","x":1}}"#);
        assert!(exchange().finish(json_response(200, &body), now()).is_ok(), "{tt}");
    }
    let t = exchange()
        .finish(
            json_response(200, r#"{"access_token":"a","token_type":"Bearer"}"#),
            now(),
        )
        .unwrap();
    assert_eq!(t.expires_at, now() + DEFAULT_TOKEN_LIFETIME);
    // Without `scope`, the requested scopes are assumed granted (RFC 6749 §5.1).
    assert_eq!(t.scopes.to_string(), "identify guilds");
    let t = exchange()
        .finish(
            json_response(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#),
            now(),
        )
        .unwrap();
    assert_eq!(t.expires_at, now() + Duration::from_secs(3600));
}

#[test]
fn c05_bad_token_responses_are_typed_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"{"access_token":"sekrit","token_type":"mac"}"#, "type"),
        (r#"{"token_type":"Bearer"}"#, "access_token"),
        (r#"{"access_token":42,"token_type":"Bearer"}"#, "access_token"),
        (
            r#"{"access_token":"sekrit","token_type":"Bearer","expires_in":-5}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"sekrit","token_type":"Bearer","expires_in":"soon"}"#,
            "expires_in",
        ),
        (r#"{"access_token":"sekrit","#, "read"),
        ("<html>oops sekrit</html>", "read"),
        ("[]", "object"),
    ];
    for (body, needle) in cases {
        let err = exchange().finish(json_response(200, body), now()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{body}: {msg}");
        assert!(!msg.contains("sekrit"), "error text leaks the token: {msg}");
    }
    let huge = vec![b' '; discord_oauth_core::response::MAX_BODY_BYTES + 1];
    let resp = http::Response::builder().status(200).body(huge).unwrap();
    assert!(matches!(
        exchange().finish(resp, now()).unwrap_err(),
        TokenError::Response(ResponseError::BodyTooLarge { .. })
    ));
}

#[test]
fn c02_invalid_grant_is_rejected_and_not_transient() {
    let err = exchange()
        .finish(
            json_response(
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid \"code\" in request."}"#,
            ),
            now(),
        )
        .unwrap_err();
    assert!(err.is_invalid_grant());
    assert!(!err.is_transient());
    assert!(err.to_string().contains("invalid_grant"));
}

#[test]
fn c03_redirect_from_token_endpoint_is_an_error() {
    let resp = http::Response::builder()
        .status(302)
        .header("location", "http://169.254.169.254/")
        .body(Vec::new())
        .unwrap();
    let err = exchange().finish(resp, now()).unwrap_err();
    assert!(matches!(err, TokenError::Response(ResponseError::UnexpectedStatus { status, .. }) if status == 302));
}

#[test]
fn server_errors_are_transient_and_never_quote_the_body() {
    let err = exchange()
        .finish(json_response(502, "<html>bad gateway sekrit</html>"), now())
        .unwrap_err();
    assert!(err.is_transient());
    assert!(!err.to_string().contains("sekrit"));
}

#[test]
fn k03_token_endpoint_429_is_rate_limited() {
    let resp = http::Response::builder()
        .status(429)
        .header("retry-after", "2")
        .body(br#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#.to_vec())
        .unwrap();
    let err = exchange().finish(resp, now()).unwrap_err();
    let rl = err.rate_limit().unwrap();
    assert_eq!(rl.retry_after, Some(Duration::from_millis(1500)));
    assert!(!rl.global);
    assert!(err.is_transient());
}

#[test]
fn c06_granted_scopes_are_reported_as_granted_not_as_requested() {
    let t = exchange()
        .finish(
            json_response(
                200,
                r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"scope":"guilds"}"#,
            ),
            now(),
        )
        .unwrap();
    assert!(!t.has_scope(&Scope::Identify));
    assert_eq!(
        t.scopes.missing_from(&Scopes::parse("identify guilds")).to_string(),
        "identify"
    );
}

#[test]
fn token_set_serde_round_trip_and_expiry() {
    let t = exchange()
        .finish(json_response(200, SEED_TOKEN_RESPONSE), now())
        .unwrap();
    let json = serde_json::to_string(&t).unwrap();
    let back: TokenSet = serde_json::from_str(&json).unwrap();
    assert_eq!(back.access_token.secret(), t.access_token.secret());
    assert_eq!(back.expires_at, t.expires_at);
    assert!(!back.expires_within(now(), Duration::from_secs(60)));
    assert!(back.expires_within(now() + Duration::from_secs(604_800 - 30), Duration::from_secs(60)));
}

#[test]
fn e02_token_set_debug_redacts_tokens() {
    let t = exchange()
        .finish(json_response(200, SEED_TOKEN_RESPONSE), now())
        .unwrap();
    let dbg = format!("{t:?}");
    assert!(!dbg.contains("6qrZcUqja7812RVdnEKjpzOL4CvHBFG") && !dbg.contains("D43f5y0ahjqew82jZ4NViEr2YafMKhue"));
    let c = format!("{:?}", client());
    assert!(!c.contains(SECRET), "{c}");
}

// ---------------------------------------------------------------- refresh

fn tokens() -> TokenSet {
    exchange()
        .finish(json_response(200, SEED_TOKEN_RESPONSE), now())
        .unwrap()
}

#[test]
fn f02_refresh_request_has_no_scope() {
    let r = client().refresh(tokens()).unwrap();
    let req = r.request();
    let form = form_map(req.body());
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "D43f5y0ahjqew82jZ4NViEr2YafMKhue");
    assert!(!form.contains_key("scope"));
    assert!(req.headers()["authorization"].to_str().unwrap().starts_with("Basic "));
}

#[test]
fn f03_refresh_returns_the_rotated_refresh_token() {
    let r = client().refresh(tokens()).unwrap();
    let later = now() + Duration::from_secs(3600);
    let next = r
        .finish(
            json_response(200, r#"{"access_token":"new-at","token_type":"Bearer","expires_in":604800,"refresh_token":"new-rt","scope":"identify"}"#),
            later,
        )
        .unwrap();
    assert_eq!(next.access_token.secret(), "new-at");
    assert_eq!(next.refresh_token.unwrap().secret(), "new-rt");
    assert_eq!(next.expires_at, later + Duration::from_secs(604_800));
}

#[test]
fn f04_refresh_without_new_refresh_token_keeps_the_old_one() {
    let r = client().refresh(tokens()).unwrap();
    let next = r
        .finish(
            json_response(
                200,
                r#"{"access_token":"new-at","token_type":"Bearer","expires_in":60}"#,
            ),
            now(),
        )
        .unwrap();
    assert_eq!(next.refresh_token.unwrap().secret(), "D43f5y0ahjqew82jZ4NViEr2YafMKhue");
    assert_eq!(next.scopes.to_string(), "identify");
}

#[test]
fn f08_refresh_invalid_grant_and_f09_transient_failure() {
    let r = client().refresh(tokens()).unwrap();
    let err = r
        .finish(json_response(400, r#"{"error":"invalid_grant"}"#), now())
        .unwrap_err();
    assert!(err.is_invalid_grant());
    let err = r.finish(json_response(503, "unavailable"), now()).unwrap_err();
    assert!(err.is_transient());
    // After a transient failure the old set can be restored.
    let old = r.into_previous();
    assert_eq!(old.access_token.secret(), "6qrZcUqja7812RVdnEKjpzOL4CvHBFG");
}

#[test]
fn refresh_needs_a_refresh_token() {
    let mut t = tokens();
    t.refresh_token = None;
    assert_eq!(client().refresh(t).unwrap_err(), TokenError::NoRefreshToken);
}

// ---------------------------------------------------------------- revoke

#[test]
fn g03_revoke_sends_refresh_token_with_hint() {
    let req = client().revoke(RevocableToken::from_set(&tokens())).request();
    assert_eq!(req.uri().to_string(), "https://discord.com/api/v10/oauth2/token/revoke");
    assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
    let form = form_map(req.body());
    assert_eq!(form["token"], "D43f5y0ahjqew82jZ4NViEr2YafMKhue");
    assert_eq!(form["token_type_hint"], "refresh_token");
    let req = client()
        .revoke(RevocableToken::Access(AccessToken::new("at".into())))
        .request();
    assert_eq!(form_map(req.body())["token_type_hint"], "access_token");
}

#[test]
fn g04_revoke_answers() {
    let r = client().revoke(RevocableToken::from_set(&tokens()));
    assert!(r.finish(json_response(200, "{}")).is_ok());
    assert!(r.finish(json_response(200, "")).is_ok());
    assert!(r.finish(json_response(503, "")).unwrap_err().is_transient());
    assert!(matches!(
        r.finish(json_response(401, r#"{"error":"invalid_client"}"#))
            .unwrap_err(),
        TokenError::Rejected(OAuthError {
            error: OAuthErrorCode::InvalidClient,
            ..
        })
    ));
}

// ---------------------------------------------------------------- client credentials

#[test]
fn client_credentials_request_and_seed_response() {
    let cc = client()
        .client_credentials(Scopes::parse("identify connections"), false)
        .unwrap();
    let req = cc.request();
    let form = form_map(req.body());
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "identify connections");
    assert!(req.headers()["authorization"].to_str().unwrap().starts_with("Basic "));
    let t = cc
        .finish(
            json_response(200, r#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer","expires_in":604800,"scope":"identify connections"}"#),
            now(),
        )
        .unwrap();
    assert!(t.refresh_token.is_none());
    assert_eq!(t.scopes.to_string(), "identify connections");
}

#[test]
fn client_credentials_rules() {
    assert_eq!(
        public_client().client_credentials(Scope::Identify, false).unwrap_err(),
        ConfigError::MissingClientSecret
    );
    assert!(
        client()
            .client_credentials(Scopes::parse("identify connections"), true)
            .is_err()
    );
    assert!(
        client()
            .client_credentials(Scopes::parse("identify applications.commands.update"), true)
            .is_ok()
    );
    assert_eq!(
        client().client_credentials(Scopes::new(), false).unwrap_err(),
        ConfigError::NoScopes
    );
}

// ---------------------------------------------------------------- implicit

#[test]
fn implicit_url_and_seed_fragment() {
    let c = client();
    let (url, pending) = c.implicit_authorize(Scope::Identify, &mut rng(), now()).unwrap();
    let q = query_map(&url);
    assert_eq!(q["response_type"], "token");
    assert_eq!(q["scope"], "identify");
    let fragment = format!(
        "#access_token=RTfP0OK99U3kbRtHOoKLmJbOn45PjL&token_type=Bearer&expires_in=604800&scope=identify&state={}",
        pending.state().secret()
    );
    let t = pending.parse_fragment(&fragment, now()).unwrap();
    assert_eq!(t.access_token.secret(), "RTfP0OK99U3kbRtHOoKLmJbOn45PjL");
    assert!(t.refresh_token.is_none());
    assert_eq!(t.expires_at, now() + Duration::from_secs(604_800));
}

#[test]
fn implicit_rejects_bad_fragments_and_scopes() {
    let c = client();
    assert!(
        c.implicit_authorize([Scope::Identify, Scope::RoleConnectionsWrite], &mut rng(), now())
            .is_err()
    );
    let (_, p) = c.implicit_authorize(Scope::Identify, &mut rng(), now()).unwrap();
    assert_eq!(
        p.parse_fragment("access_token=x&state=wrong", now()).unwrap_err(),
        CallbackError::StateMismatch
    );
    let (_, p) = c.implicit_authorize(Scope::Identify, &mut rng(), now()).unwrap();
    let s = p.state().secret().clone();
    assert_eq!(
        p.parse_fragment(&format!("access_token=x&access_token=y&state={s}"), now())
            .unwrap_err(),
        CallbackError::DuplicateParameter("access_token")
    );
    let (_, p) = c.implicit_authorize(Scope::Identify, &mut rng(), now()).unwrap();
    let s = p.state().secret().clone();
    assert!(
        p.parse_fragment(&format!("error=access_denied&state={s}"), now())
            .unwrap_err()
            .is_access_denied()
    );
}

// ---------------------------------------------------------------- bot

#[test]
fn bot_authorization_url_matches_the_seed_example() {
    let c = Client::without_redirect(ClientId::new("157730590492196864".into()), None);
    let url = c
        .bot_authorization_url(&BotAuthorization {
            scopes: Scopes::from(Scope::Bot),
            permissions: Permissions::from_bits_retain(1),
            ..BotAuthorization::default()
        })
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://discord.com/oauth2/authorize?client_id=157730590492196864&scope=bot&permissions=1"
    );
}

#[test]
fn bot_authorization_options_and_rules() {
    let c = Client::without_redirect(ClientId::new("1".into()), None);
    let url = c
        .bot_authorization_url(&BotAuthorization {
            guild_id: Some(290_926_798_626_357_250),
            disable_guild_select: true,
            integration_type: Some(IntegrationType::GuildInstall),
            permissions: Permissions::from_bits_retain(8),
            ..BotAuthorization::default()
        })
        .unwrap();
    let q = query_map(&url);
    assert_eq!(q["guild_id"], "290926798626357250");
    assert_eq!(q["disable_guild_select"], "true");
    assert_eq!(q["integration_type"], "0");
    assert_eq!(q["permissions"], "8");
    assert!(!q.contains_key("response_type") && !q.contains_key("state") && !q.contains_key("redirect_uri"));
    let bad = BotAuthorization {
        scopes: Scopes::parse("bot identify"),
        ..BotAuthorization::default()
    };
    assert!(c.bot_authorization_url(&bad).is_err());
}

#[test]
fn advanced_bot_authorization_is_a_code_grant_with_guild_hints() {
    let c = client();
    let (url, pending) = c
        .authorize(Scope::Identify)
        .bot(BotOptions {
            permissions: Permissions::from_bits_retain(2048),
            guild_id: Some(42),
            disable_guild_select: false,
        })
        .start(&mut rng(), now())
        .unwrap();
    let q = query_map(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "identify bot");
    assert_eq!(q["permissions"], "2048");
    assert_eq!(q["guild_id"], "42");
    let query = callback_query(&pending, "&guild_id=290926798626357250&permissions=2048");
    let grant = pending.callback(&query, now()).unwrap();
    assert_eq!(grant.guild_id, Some(290_926_798_626_357_250));
    assert_eq!(grant.permissions, Some(Permissions::from_bits_retain(2048)));
}

#[test]
fn advanced_bot_callback_with_bad_guild_id_is_malformed() {
    let (_, pending) = started();
    let q = callback_query(&pending, "&guild_id=not-a-number");
    assert!(matches!(
        pending.callback(&q, now()).unwrap_err(),
        CallbackError::Malformed(_)
    ));
}

// ---------------------------------------------------------------- rate limits

#[test]
fn k03_rate_limit_variants_parse() {
    let headers_only = {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        h.insert("x-ratelimit-scope", "global".parse().unwrap());
        RateLimit::from_parts(&h, b"")
    };
    assert_eq!(headers_only.retry_after, Some(Duration::from_secs(2)));
    assert!(headers_only.global);
    let body_only = RateLimit::from_parts(&http::HeaderMap::new(), br#"{"retry_after":1.5,"global":false}"#);
    assert_eq!(body_only.retry_after, Some(Duration::from_millis(1500)));
    let html = RateLimit::from_parts(&http::HeaderMap::new(), b"<html>You are being rate limited</html>");
    assert_eq!(html.retry_after, None);
    let cloudflare = RateLimit::from_parts(
        &http::HeaderMap::new(),
        br#"{"code":40333,"message":"internal network error"}"#,
    );
    assert_eq!(cloudflare.code, Some(40333));
    let absurd = RateLimit::from_parts(&http::HeaderMap::new(), br#"{"retry_after":1e300}"#);
    assert_eq!(absurd.retry_after, Some(Duration::from_secs(3600)));
    let negative = RateLimit::from_parts(&http::HeaderMap::new(), br#"{"retry_after":-1}"#);
    assert_eq!(negative.retry_after, None);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------- properties

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn k01_callback_parser_never_panics(q in ".{0,400}") {
            let _ = CallbackParams::parse(&q);
            let (_, pending) = started();
            let _ = pending.callback(&q, now());
        }

        #[test]
        fn k01_fragment_parser_never_panics(f in ".{0,400}") {
            let (_, p) = client().implicit_authorize(Scope::Identify, &mut rng(), now()).unwrap();
            let _ = p.parse_fragment(&f, now());
        }

        #[test]
        fn callback_parser_handles_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let q = String::from_utf8_lossy(&bytes);
            let _ = CallbackParams::parse(&q);
        }

        #[test]
        fn state_and_verifier_round_trip_through_serde(seed in any::<u64>()) {
            let mut r = StdRng::seed_from_u64(seed);
            let (url, pending) = client().authorize(Scope::Identify).start(&mut r, now()).unwrap();
            let json = serde_json::to_string(&pending).unwrap();
            let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.state().secret(), pending.state().secret());
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            let verifier = PkceCodeVerifier::new(v["pkce_verifier"].as_str().unwrap().to_owned());
            let sent = query_map(&url)["code_challenge"].clone();
            let expected = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
            prop_assert_eq!(sent.as_str(), expected.as_str());
            let q = format!("code=c&state={}", pending.state().secret());
            prop_assert!(back.callback(&q, now()).is_ok());
        }

        #[test]
        fn scope_set_round_trips(names in proptest::collection::vec("[a-z_.]{1,20}", 0..8)) {
            let set: Scopes = names.iter().map(|n| Scope::parse(n)).collect();
            let text = set.to_string();
            prop_assert_eq!(Scopes::parse(&text), set.clone());
            let json = serde_json::to_string(&set).unwrap();
            prop_assert_eq!(serde_json::from_str::<Scopes>(&json).unwrap(), set);
        }

        #[test]
        fn d04_accepted_return_to_stays_on_origin(s in "\\PC{0,64}") {
            if let Some(r) = ReturnTo::parse(&s) {
                let base = url::Url::parse("https://app.example:8443/base/").unwrap();
                let joined = base.join(r.as_str()).unwrap();
                prop_assert_eq!(joined.origin(), base.origin());
                prop_assert!(!joined.as_str().contains('\\'));
                prop_assert!(!joined.as_str().chars().any(char::is_control));
            }
        }

        #[test]
        fn d04_return_to_invariant_on_slash_heavy_input(s in "[/\\\\%a-z0-9:@.?#\\t]{0,24}") {
            if let Some(r) = ReturnTo::parse(&s) {
                let base = url::Url::parse("https://app.example/").unwrap();
                let joined = base.join(r.as_str()).unwrap();
                prop_assert_eq!(joined.origin(), base.origin());
            }
        }

        #[test]
        fn rate_limit_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), h in "\\PC{0,20}") {
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = h.parse() {
                headers.insert("retry-after", v);
            }
            let _ = RateLimit::from_parts(&headers, &body);
        }

        #[test]
        fn token_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = TokenSet::parse(&body, &Scopes::new(), now());
        }
    }
}
