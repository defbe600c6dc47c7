//! The scenarios, each run against every sample site by `tests/sites.rs`.

use std::time::Duration;

use discord_oauth_mock::{Endpoint, Fault, fixture};
use futures::future::join_all;
use reqwest::StatusCode;

use crate::{Browser, Options, SiteKind, TestSite, extra_user_id, location, state_of, urlencode};

/// Login → `/me` → logout → `/me` is 401; the mock saw a form-encoded token request with the
/// PKCE verifier, Basic client auth and the exact redirect URI, and a revoke at logout.
pub async fn full_login_me_logout(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    let done = b.login(Some("/me")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/me");
    let me = b.me().await.unwrap();
    assert_eq!(me["id"], fixture::WUMPUS_ID);
    assert_eq!(me["username"], "wumpus");

    let tokens = site.mock.requests_to(Endpoint::Token);
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(t.method(), "POST");
    assert!(t.is_form(), "token request must be form-encoded");
    assert_eq!(t.grant_type().as_deref(), Some("authorization_code"));
    assert_eq!(
        t.basic_auth(),
        Some((fixture::CLIENT_ID.to_owned(), fixture::CLIENT_SECRET.to_owned()))
    );
    assert_eq!(t.form_param("code_verifier").map(|v| v.len()), Some(43));
    assert_eq!(
        t.form_param("redirect_uri"),
        Some(format!("{}/auth/callback", site.url))
    );
    assert!(
        t.form_param("client_secret").is_none(),
        "secret only in the Basic header"
    );

    let out = b.logout().await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/");
    let revokes = site.mock.requests_to(Endpoint::Revoke);
    assert_eq!(revokes.len(), 1, "logout revokes at Discord");
    assert_eq!(
        revokes[0].form_param("token_type_hint").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// The home page shows the user, their guilds and a logout button once logged in.
pub async fn home_page_shows_user_and_guilds(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let page = b.get("/").await.text().await.unwrap();
    assert!(page.contains("Log in with Discord"));
    b.login(None).await;
    let page = b.get("/").await.text().await.unwrap();
    assert!(page.contains("id=\"display-name\">Wumpus<"), "{page}");
    assert!(page.contains("@wumpus"));
    assert!(
        page.contains("https://cdn.discordapp.com/avatars/"),
        "avatar from the CDN"
    );
    assert!(page.contains("Your guilds"), "{page}");
    assert!(page.contains("action=\"/auth/logout\""));
}

/// A forged `state` gets a 400 page, no token request, no session.
pub async fn forged_state_is_rejected(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    let forged = callback.replace(&state_of(&authorize), "forged-state-value-0000000000000000000000");
    let r = b.get(&forged).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        site.mock.count(Endpoint::Token),
        0,
        "no token request for a forged state"
    );
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// The same callback URL twice: the second is refused (single-use state).
pub async fn replayed_callback_is_rejected(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    assert_eq!(b.get(&callback).await.status(), StatusCode::SEE_OTHER);
    let replay = b.get(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(site.mock.count(Endpoint::Token), 1);
    // Replayed in another browser: refused as well.
    let other = site.browser();
    assert_eq!(other.get(&callback).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(other.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// A login older than its time to live is refused.
pub async fn expired_pending_login_is_rejected(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    site.clock.advance(Duration::from_secs(601));
    let r = b.get(&callback).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(site.mock.count(Endpoint::Token), 0);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// Cancel on Discord → a friendly 4xx page, no token request, no session.
pub async fn access_denied_gets_a_friendly_page(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let denied = format!(
        "{}/auth/callback?error=access_denied&error_description={}&state={}",
        site.url,
        urlencode("The resource owner or authorization server denied the request"),
        state_of(&authorize)
    );
    let r = b.get(&denied).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    assert!(body.contains("Login cancelled"), "{body}");
    assert_eq!(site.mock.count(Endpoint::Token), 0);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// Token endpoint 500 → 502 page; long 429 → 503 with Retry-After; a hang → 503 within the
/// configured timeout. No session in any case.
pub async fn token_endpoint_failures(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            timeout: Duration::from_secs(1),
            ..Options::default()
        },
    )
    .await;

    site.mock.inject(Fault::status(Endpoint::Token, 500).once());
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    site.mock
        .inject(Fault::rate_limited(Endpoint::Token).retry_after(30.0).once());
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 29, "Retry-After {retry}");
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    site.mock
        .inject(Fault::delay(Endpoint::Token, Duration::from_secs(5)).once());
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// A short 429 on the token endpoint is waited out and retried once: the login succeeds.
pub async fn short_rate_limit_is_retried_once(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    site.mock
        .inject(Fault::rate_limited(Endpoint::Token).retry_after(0.2).once());
    let b = site.browser();
    assert_eq!(b.login(None).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(site.mock.count(Endpoint::Token), 2);
    assert!(b.me().await.is_ok());
}

/// `/users/@me` failing after the exchange leaves no half session, and the tokens are revoked.
pub async fn user_fetch_failure_leaves_no_session(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    site.mock.inject(Fault::status(Endpoint::CurrentUser, 500).once());
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(site.mock.count(Endpoint::Revoke), 1, "the orphaned tokens are revoked");
}

/// Open redirects in `return_to` all end on this site.
pub async fn open_redirects_end_on_this_site(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    for evil in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "/%2f%2fevil.example",
    ] {
        let b = site.browser();
        let r = b.login(Some(evil)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/", "return_to {evil:?}");
    }
    let b = site.browser();
    let r = b.login(Some("/me?x=1")).await;
    assert_eq!(location(&r), "/me?x=1");
}

/// The session id changes at login; the cookie is HttpOnly and SameSite=Lax, not Secure on
/// plain http.
pub async fn session_id_changes_and_cookie_flags(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let start = b.get("/auth/login").await;
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no Secure on http: {cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let authorize = location(&start);
    let before = b.session_cookie().unwrap();
    let callback = b.consent(&authorize).await;
    let done = b.get(&callback).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let after = b.session_cookie().unwrap();
    assert_ne!(before, after, "session id must change at login");
    // The old id is worthless now.
    let old = Browser::new(&site.url, &site.mock.base_url());
    let r = old
        .http
        .get(format!("{}/me", site.url))
        .header("cookie", format!("discord_oauth={before}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// With an https redirect URI the cookie is `Secure` and `__Host-` prefixed.
pub async fn https_site_gets_secure_cookie(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            redirect_uri: Some("https://app.example/auth/callback".into()),
            ..Options::default()
        },
    )
    .await;
    let b = site.browser();
    let r = b.get("/auth/login").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-discord_oauth="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

/// 100 concurrent requests on a session whose token expired: exactly one refresh at Discord,
/// every request succeeds, and the rotated token is used afterwards.
pub async fn concurrent_requests_refresh_once(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    assert!(b.me().await.is_ok());
    site.clock.advance(Duration::from_secs(604_800 - 60));
    let results = join_all((0..100).map(|_| {
        let b = b.clone();
        async move { b.me().await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "every request succeeds");
    assert_eq!(site.grants("refresh_token"), 1, "exactly one refresh");
    // The rotated refresh token is the one kept: a second expiry refreshes with it.
    site.clock.advance(Duration::from_secs(604_800));
    assert!(b.me().await.is_ok());
    assert_eq!(site.grants("refresh_token"), 2);
    let refreshes = site.mock.requests_to(Endpoint::Token);
    let rts: Vec<_> = refreshes.iter().filter_map(|r| r.form_param("refresh_token")).collect();
    assert_eq!(rts.len(), 2);
    assert_ne!(rts[0], rts[1], "the old refresh token is never sent again");
}

/// A revoked grant makes the refresh fail with invalid_grant: the user is logged out.
pub async fn revoked_grant_logs_out_on_refresh(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    site.mock.revoke_all_for(fixture::WUMPUS_ID);
    site.clock.advance(Duration::from_secs(604_800 - 60));
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(site.grants("refresh_token"), 1);
    // And the session is gone, not retried on every request.
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(site.grants("refresh_token"), 1);
}

/// 64 browsers log in as 64 different users at once: each sees its own user.
pub async fn concurrent_logins_do_not_mix_up(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            extra_users: 64,
            ..Options::default()
        },
    )
    .await;
    let results = join_all((0..64).map(|n| {
        let b = site.browser();
        async move {
            b.discord_user(&extra_user_id(n)).await;
            let r = b.login(None).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            (n, b.me().await.unwrap())
        }
    }))
    .await;
    for (n, me) in results {
        assert_eq!(me["id"], extra_user_id(n), "browser {n} sees its own user");
    }
    assert_eq!(site.mock.count(Endpoint::Token), 64);
}

/// Two logins started in the same browser before either finishes: both callbacks succeed.
pub async fn two_tabs_log_in_at_once(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let first = b.start_login(Some("/one")).await;
    let second = b.start_login(Some("/two")).await;
    let cb1 = b.consent(&first).await;
    let cb2 = b.consent(&second).await;
    let r2 = b.get(&cb2).await;
    assert_eq!(r2.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r2), "/two");
    let r1 = b.get(&cb1).await;
    assert_eq!(
        r1.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r1.text().await.unwrap_or_default()
    );
    assert!(b.me().await.is_ok());
}

/// Logout is POST only; a cross-site POST is refused.
pub async fn logout_is_post_only_and_same_origin(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    let r = b.get("/auth/logout").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "POST");
    let r = b
        .http
        .post(b.url("/auth/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(b.me().await.is_ok(), "still logged in");
    assert_eq!(site.mock.count(Endpoint::Revoke), 0);
}

/// A logged-out browser asking for a protected page as HTML is sent to login with a way back;
/// JSON clients get 401.
pub async fn unauthenticated_html_vs_json(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let r = b.get_json("/me").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session created for an API 401"
    );
}

/// Every shape of 429 Discord (or its edge) sends on the token endpoint: a long wait is not
/// retried inline (503 with `Retry-After` from whichever place carried it); a 429 that says
/// nothing about waiting (Cloudflare's `{"code":40333}`) is retried once after a second, then
/// answered with 503. Never a session, never a 500.
pub async fn rate_limit_variants_on_token_endpoint(kind: SiteKind) {
    use discord_oauth_mock::RateLimitStyle;
    let site = TestSite::start(kind).await;
    for style in [
        RateLimitStyle::Full,
        RateLimitStyle::HeadersOnly,
        RateLimitStyle::BodyOnly,
        RateLimitStyle::Html,
    ] {
        site.mock.clear_requests();
        site.mock.inject(
            Fault::rate_limited(Endpoint::Token)
                .retry_after(30.0)
                .style(style)
                .once(),
        );
        let b = site.browser();
        let r = b.login(None).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{style:?}");
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((29..=30).contains(&retry), "{style:?}: Retry-After {retry}");
        assert_eq!(
            site.mock.count(Endpoint::Token),
            1,
            "{style:?}: a long wait is not retried inline"
        );
        assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    }
    site.mock.clear_requests();
    site.mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .style(RateLimitStyle::CloudflareBan)
            .times(2),
    );
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(site.mock.count(Endpoint::Token), 2, "one retry, then give up");
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// The site's clock 5 minutes ahead of or behind Discord's: login, `/me` and the pending
/// login's expiry still work, and no premature refresh or logout happens.
pub async fn clock_skew_of_five_minutes_is_tolerated(kind: SiteKind) {
    for offset in [300_i64, -300] {
        let site = TestSite::start(kind).await;
        site.clock.set_offset(offset);
        let b = site.browser();
        let r = b.login(Some("/me")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "offset {offset}");
        assert!(b.me().await.is_ok(), "offset {offset}");
        assert_eq!(
            site.grants("refresh_token"),
            0,
            "no premature refresh at offset {offset}"
        );
        // An hour later (site time), still logged in without a refresh.
        site.clock.set_offset(offset + 3600);
        assert!(b.me().await.is_ok());
        assert_eq!(site.grants("refresh_token"), 0);
    }
}
