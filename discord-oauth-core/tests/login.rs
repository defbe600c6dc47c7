//! The shared server-side login driver: configuration rules, pending logins, session status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use discord_oauth_core::login::{
    AuthSession, IdleCheck, LoginConfig, LoginError, PendingLogins, SessionStatus, error_page, html_escape,
};
use discord_oauth_core::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn config() -> LoginConfig {
    LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
        .client_secret("secret")
        .build()
        .unwrap()
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

fn user() -> api::User {
    serde_json::from_value(serde_json::json!({
        "id": "80351110224678912", "username": "nelly", "discriminator": "0", "global_name": "Nelly",
        "avatar": "8342729096ea3675442027381ff50dfe"
    }))
    .unwrap()
}

fn tokens(expires_in: u64, with_refresh: bool, at: SystemTime) -> TokenSet {
    let rt = if with_refresh { r#","refresh_token":"rt""# } else { "" };
    let body =
        format!(r#"{{"access_token":"at","token_type":"Bearer","expires_in":{expires_in},"scope":"identify"{rt}}}"#);
    TokenSet::parse(body.as_bytes(), &Scopes::new(), at).unwrap()
}

#[test]
fn config_mistakes_are_reported_at_startup_with_a_fix() {
    let cases = [
        (LoginConfig::builder("1", "/auth/callback"), "absolute"),
        (
            LoginConfig::builder("", "https://a.example/auth/callback"),
            "client id is empty",
        ),
        (LoginConfig::builder("abc", "https://a.example/auth/callback"), "digits"),
        (
            LoginConfig::builder("1", "https://a.example/oauth/cb"),
            "does not match the callback route",
        ),
        (LoginConfig::builder("1", "ftp://a.example/auth/callback"), "http(s)"),
        (
            LoginConfig::builder("1", "https://a.example/auth/callback").scopes([Scope::Bot]),
            "bot",
        ),
        (
            LoginConfig::builder("1", "https://a.example/auth/callback").client_secret("  "),
            "secret is empty",
        ),
        (
            LoginConfig::builder("1", "https://a.example/auth/callback").default_return_to("//evil"),
            "same-site",
        ),
        (
            LoginConfig::builder("1", "https://a.example/auth/callback").disable_pkce(),
            "public client",
        ),
    ];
    for (builder, needle) in cases {
        let err = builder.build().unwrap_err().to_string();
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
}

#[test]
fn a12_identify_is_always_requested_and_nothing_else_by_default() {
    assert_eq!(config().scopes().to_string(), "identify");
    let c = LoginConfig::builder("1", "https://a.example/auth/callback")
        .scopes([Scope::Guilds])
        .build()
        .unwrap();
    assert_eq!(c.scopes().to_string(), "guilds identify");
}

#[test]
fn h01_h02_secure_cookies_follow_the_redirect_scheme() {
    assert!(config().secure_cookies());
    let local = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback")
        .build()
        .unwrap();
    assert!(!local.secure_cookies());
    let opted_out = LoginConfig::builder("1", "https://a.example/auth/callback")
        .allow_insecure_cookies()
        .build()
        .unwrap();
    assert!(!opted_out.secure_cookies());
    assert_eq!(local.origin(), "http://127.0.0.1:3000");
}

#[test]
fn login_then_callback_round_trip_keeps_return_to() {
    let c = config();
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(
            Some("/dashboard?tab=2"),
            &mut pending,
            &mut StdRng::seed_from_u64(1),
            now(),
        )
        .unwrap();
    assert_eq!(pending.len(), 1);
    let q = format!("code=abc&state={}", state_of(&url));
    let (exchange, return_to) = c.complete_callback(&q, &mut pending, now()).unwrap();
    assert_eq!(return_to.as_str(), "/dashboard?tab=2");
    assert!(pending.is_empty(), "the pending login is single use");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(exchange.request().body())
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert!(
        form.iter()
            .any(|(k, v)| k == "redirect_uri" && v == "https://site.example/auth/callback")
    );
}

#[test]
fn d02_bad_return_to_falls_back_to_default() {
    let c = config();
    for evil in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
    ] {
        let mut pending = PendingLogins::default();
        let url = c
            .begin_login(Some(evil), &mut pending, &mut StdRng::seed_from_u64(2), now())
            .unwrap();
        let q = format!("code=abc&state={}", state_of(&url));
        let (_, return_to) = c.complete_callback(&q, &mut pending, now()).unwrap();
        assert_eq!(return_to.as_str(), "/", "{evil}");
    }
}

#[test]
fn b06_replayed_callback_is_rejected() {
    let c = config();
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(None, &mut pending, &mut StdRng::seed_from_u64(3), now())
        .unwrap();
    let q = format!("code=abc&state={}", state_of(&url));
    assert!(c.complete_callback(&q, &mut pending, now()).is_ok());
    let err = c.complete_callback(&q, &mut pending, now()).unwrap_err();
    assert!(matches!(err, LoginError::Callback(CallbackError::UnknownState)));
    assert_eq!(err.status(), 400);
}

#[test]
fn b07_callback_without_any_login_is_rejected() {
    let err = config()
        .complete_callback("code=abc&state=whatever", &mut PendingLogins::default(), now())
        .unwrap_err();
    assert!(matches!(err, LoginError::Callback(CallbackError::UnknownState)));
}

#[test]
fn two_tabs_can_log_in_at_once() {
    let c = config();
    let mut pending = PendingLogins::default();
    let mut rng = StdRng::seed_from_u64(4);
    let tab1 = c.begin_login(Some("/one"), &mut pending, &mut rng, now()).unwrap();
    let tab2 = c.begin_login(Some("/two"), &mut pending, &mut rng, now()).unwrap();
    let (_, r2) = c
        .complete_callback(&format!("code=b&state={}", state_of(&tab2)), &mut pending, now())
        .unwrap();
    let (_, r1) = c
        .complete_callback(&format!("code=a&state={}", state_of(&tab1)), &mut pending, now())
        .unwrap();
    assert_eq!((r1.as_str(), r2.as_str()), ("/one", "/two"));
}

#[test]
fn a10_pending_logins_are_bounded_oldest_first() {
    let c = config();
    let mut pending = PendingLogins::default();
    let mut rng = StdRng::seed_from_u64(5);
    let first = c.begin_login(None, &mut pending, &mut rng, now()).unwrap();
    for _ in 0..99 {
        c.begin_login(None, &mut pending, &mut rng, now()).unwrap();
    }
    assert_eq!(pending.len(), 5);
    let err = c
        .complete_callback(&format!("code=a&state={}", state_of(&first)), &mut pending, now())
        .unwrap_err();
    assert!(matches!(err, LoginError::Callback(CallbackError::UnknownState)));
}

#[test]
fn expired_pending_logins_are_pruned_on_next_login() {
    let c = config();
    let mut pending = PendingLogins::default();
    let mut rng = StdRng::seed_from_u64(6);
    c.begin_login(None, &mut pending, &mut rng, now()).unwrap();
    c.begin_login(None, &mut pending, &mut rng, now() + Duration::from_secs(601))
        .unwrap();
    assert_eq!(pending.len(), 1);
}

#[test]
fn b12_forged_error_callback_does_not_cancel_a_real_login() {
    let c = config();
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(None, &mut pending, &mut StdRng::seed_from_u64(7), now())
        .unwrap();
    assert!(
        c.complete_callback("error=access_denied&state=forged", &mut pending, now())
            .is_err()
    );
    assert_eq!(pending.len(), 1);
    assert!(
        c.complete_callback(&format!("code=a&state={}", state_of(&url)), &mut pending, now())
            .is_ok()
    );
}

#[test]
fn b10_access_denied_clears_the_login_and_reads_friendly() {
    let c = config();
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(None, &mut pending, &mut StdRng::seed_from_u64(8), now())
        .unwrap();
    let err = c
        .complete_callback(
            &format!("error=access_denied&state={}", state_of(&url)),
            &mut pending,
            now(),
        )
        .unwrap_err();
    assert!(pending.is_empty());
    assert_eq!(err.status(), 400);
    assert_eq!(err.page().0, "Login cancelled");
}

#[test]
fn a09_expired_login_has_its_own_page() {
    let c = config();
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(None, &mut pending, &mut StdRng::seed_from_u64(9), now())
        .unwrap();
    let err = c
        .complete_callback(
            &format!("code=a&state={}", state_of(&url)),
            &mut pending,
            now() + Duration::from_secs(601),
        )
        .unwrap_err();
    assert_eq!(err.page().0, "Login expired");
}

#[test]
fn c06_login_requires_identify_to_be_granted() {
    let c = config();
    let mut t = tokens(600, true, now());
    assert!(c.check_granted(&t).is_ok());
    t.scopes = Scopes::parse("guilds");
    let err = c.check_granted(&t).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn f01_session_status_refreshes_within_skew_and_f12_ends_after_lifetime() {
    let c = config();
    let s = c.new_session(user(), tokens(3600, true, now()), now());
    assert_eq!(c.session_status(&s, now()), SessionStatus::Valid);
    assert_eq!(
        c.session_status(&s, now() + Duration::from_secs(3600 - 299)),
        SessionStatus::NeedsRefresh
    );
    assert_eq!(
        c.session_status(&s, now() + Duration::from_secs(30 * 24 * 3600)),
        SessionStatus::Ended
    );
    // A token without a refresh token is used until it expires, then the session ends.
    let s = c.new_session(user(), tokens(3600, false, now()), now());
    assert_eq!(
        c.session_status(&s, now() + Duration::from_secs(3500)),
        SessionStatus::Valid
    );
    assert_eq!(
        c.session_status(&s, now() + Duration::from_secs(3600)),
        SessionStatus::Ended
    );
}

/// `valid_until` is where `session_status` stops answering `Valid`, and `active_until` where
/// `idle_check` stops answering `Active`: what the fast paths keep with a cached login agrees
/// with the checks they replace, for every kind of session, one second either side.
#[test]
fn valid_until_and_active_until_are_where_the_checks_change() {
    let second = Duration::from_secs(1);
    let identity_only = LoginConfig::builder("1", "https://a.example/auth/callback")
        .identity_only(true)
        .build()
        .unwrap();
    let short_life = LoginConfig::builder("1", "https://a.example/auth/callback")
        .session_lifetime(Duration::from_secs(1800))
        .build()
        .unwrap();
    let c = config();
    let sessions = [
        (&c, c.new_session(user(), tokens(3600, true, now()), now())),
        (&c, c.new_session(user(), tokens(3600, false, now()), now())),
        (&c, c.new_session(user(), tokens(60, true, now()), now())),
        (
            &identity_only,
            identity_only.new_session(user(), tokens(3600, true, now()), now()),
        ),
        (
            &short_life,
            short_life.new_session(user(), tokens(3600, true, now()), now()),
        ),
    ];
    for (config, session) in &sessions {
        let Some(until) = config.valid_until(session) else {
            assert_ne!(config.session_status(session, now()), SessionStatus::Valid);
            continue;
        };
        assert_eq!(config.session_status(session, until - second), SessionStatus::Valid);
        assert_ne!(config.session_status(session, until), SessionStatus::Valid);
        assert_ne!(config.session_status(session, until + second), SessionStatus::Valid);
    }
    // A token that needs a refresh at once is never valid.
    let s = c.new_session(user(), tokens(60, true, now()), now());
    assert!(c.valid_until(&s).is_some_and(|u| u <= now()));
    // A lifetime past what `SystemTime` holds: never valid either way.
    let forever = LoginConfig::builder("1", "https://a.example/auth/callback")
        .session_lifetime(Duration::MAX)
        .build()
        .unwrap();
    let s = forever.new_session(user(), tokens(3600, true, now()), now());
    assert_eq!(forever.valid_until(&s), None);
    assert_eq!(forever.session_status(&s, now()), SessionStatus::Ended);

    let until = c.active_until(Some(now())).unwrap();
    assert_eq!(c.idle_check(Some(now()), now()), IdleCheck::Active);
    assert_eq!(c.idle_check(Some(now()), until - second), IdleCheck::Active);
    assert_eq!(c.idle_check(Some(now()), until), IdleCheck::Touch);
    assert_eq!(c.active_until(None), None, "never marked: touched at once");
}

#[test]
fn identity_only_sessions_keep_no_tokens() {
    let c = LoginConfig::builder("1", "https://a.example/auth/callback")
        .identity_only(true)
        .build()
        .unwrap();
    let s = c.new_session(user(), tokens(3600, true, now()), now());
    assert!(s.tokens.is_none());
    assert_eq!(
        c.session_status(&s, now() + Duration::from_secs(10 * 24 * 3600)),
        SessionStatus::Valid
    );
}

#[test]
fn stored_session_is_compact_and_redacted() {
    let c = config();
    let s = c.new_session(user(), tokens(604_800, true, now()), now());
    let json = serde_json::to_vec(&s).unwrap();
    assert!(json.len() < 1024, "{} bytes", json.len());
    let back: AuthSession = serde_json::from_slice(&json).unwrap();
    assert_eq!(back.authenticated_at, s.authenticated_at);
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("\"at\"") && !dbg.contains("rt"), "{dbg}");
}

#[test]
fn b11_error_page_escapes_everything() {
    let page = error_page("<b>", "\"><script>alert(1)</script>", "/\"onmouseover=x");
    assert!(!page.contains("<script>"));
    assert!(!page.contains("\"onmouseover"));
    assert!(page.contains("&lt;script&gt;"));
    assert!(!page.contains("<img") && !page.contains("src="));
    assert_eq!(html_escape("a&b"), "a&amp;b");
}

#[test]
fn login_error_statuses() {
    let rejected = LoginError::Token(TokenError::Rejected(OAuthError {
        error: OAuthErrorCode::InvalidGrant,
        error_description: None,
    }));
    assert_eq!(rejected.status(), 400);
    let limited = LoginError::Token(TokenError::RateLimited(RateLimit::default()));
    assert_eq!(limited.status(), 503);
    assert_eq!(limited.retry_after(), Some(5));
    let server = LoginError::Token(TokenError::Response(ResponseError::UnexpectedStatus {
        status: http::StatusCode::INTERNAL_SERVER_ERROR,
        excerpt: None,
    }));
    assert_eq!(server.status(), 502);
    assert_eq!(LoginError::Unreachable("timeout".into()).status(), 503);
    assert_eq!(LoginError::User(ApiError::Unauthorized).status(), 502);
}

#[test]
fn b15_strict_issuer_refuses_a_callback_without_iss() {
    let strict = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
        .client_secret("secret")
        .require_issuer(true)
        .build()
        .unwrap();
    assert!(strict.require_issuer());
    assert!(!config().require_issuer(), "off by default");
    let mut rng = StdRng::seed_from_u64(15);
    for (c, iss, expected) in [
        (&strict, "", Some(CallbackError::MissingIssuer)),
        (
            &strict,
            "&iss=https%3A%2F%2Fevil.example",
            Some(CallbackError::IssuerMismatch),
        ),
        (&strict, "&iss=https%3A%2F%2Fdiscord.com", None),
        (&config(), "", None),
        (
            &config(),
            "&iss=https%3A%2F%2Fevil.example",
            Some(CallbackError::IssuerMismatch),
        ),
    ] {
        let mut pending = PendingLogins::default();
        let url = c.begin_login(None, &mut pending, &mut rng, now()).unwrap();
        let query = format!("code=c0de&state={}{iss}", state_of(&url));
        match (c.complete_callback(&query, &mut pending, now()), expected) {
            (Ok(_), None) => {}
            (Err(LoginError::Callback(e)), Some(expected)) => assert_eq!(e, expected, "{iss}"),
            (other, expected) => panic!("{iss}: {other:?}, expected {expected:?}"),
        }
        assert!(pending.is_empty(), "single use either way");
    }
}

#[test]
fn h09_idle_check_touches_about_daily_and_expires_after_the_idle_timeout() {
    use discord_oauth_core::login::IdleCheck;
    let c = config();
    let day = Duration::from_secs(86_400);
    assert_eq!(c.idle_timeout(), 7 * day);
    assert_eq!(c.touch_interval(), 7 * day / 8);
    let t0 = now();
    assert_eq!(c.idle_check(Some(t0), t0), IdleCheck::Active);
    assert_eq!(
        c.idle_check(Some(t0), t0 + 7 * day / 8 - Duration::from_secs(1)),
        IdleCheck::Active
    );
    assert_eq!(c.idle_check(Some(t0), t0 + 7 * day / 8), IdleCheck::Touch);
    assert_eq!(
        c.idle_check(Some(t0), t0 + 7 * day - Duration::from_secs(1)),
        IdleCheck::Touch
    );
    assert_eq!(c.idle_check(Some(t0), t0 + 7 * day), IdleCheck::Expired);
    assert_eq!(c.idle_check(None, t0), IdleCheck::Touch, "never marked: mark it");
    assert_eq!(
        c.idle_check(Some(t0 + day), t0),
        IdleCheck::Touch,
        "a mark from the future"
    );
    let short = LoginConfig::builder("1", "https://a.example/auth/callback")
        .idle_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(
        short.idle_check(Some(t0), t0 + Duration::from_secs(3600)),
        IdleCheck::Expired
    );
    let err = LoginConfig::builder("1", "https://a.example/auth/callback")
        .idle_timeout(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("idle timeout"), "{err}");
}

#[test]
fn d08_a_stored_login_with_a_tampered_return_to_is_never_used() {
    let c = config();
    let mut pending = PendingLogins::default();
    let mut rng = StdRng::seed_from_u64(8);
    let url = c.begin_login(Some("/me"), &mut pending, &mut rng, now()).unwrap();
    let stored = serde_json::to_value(&pending).unwrap();
    assert_eq!(stored[0]["return_to"], "/me");
    for evil in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%2f%2fevil",
    ] {
        let mut tampered = stored.clone();
        tampered[0]["return_to"] = evil.into();
        assert!(
            serde_json::from_value::<PendingLogins>(tampered).is_err(),
            "{evil} was read back from the store"
        );
    }
    // The genuine record round-trips, and the callback re-validates it before redirecting.
    let mut back: PendingLogins = serde_json::from_value(stored).unwrap();
    let (_, return_to) = c
        .complete_callback(&format!("code=c0de&state={}", state_of(&url)), &mut back, now())
        .unwrap();
    assert_eq!(return_to.as_str(), "/me");
}
