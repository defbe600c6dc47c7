//! The scenarios, each run against every sample site by `tests/sites.rs`.

use std::time::Duration;

use discord_oauth_mock::{Endpoint, Fault, fixture};
use futures::future::join_all;
use reqwest::StatusCode;

use crate::{
    Browser, Options, SiteKind, TestSite, extra_user_id, location, raw_get, seen, session_cookie_pair, state_of,
    urlencode,
};

/// Login → `/me` → logout → `/me` is 401; the mock saw a form-encoded token request with the
/// PKCE verifier, Basic client auth and the exact redirect URI, and a revoke at logout.
pub async fn full_login_me_logout(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    let done = b.login(Some("/me")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/me");
    // B-18: the callback's answer is a bare redirect nobody may cache or refer from.
    assert_eq!(done.headers()["cache-control"], "no-store");
    assert_eq!(done.headers()["referrer-policy"], "no-referrer");
    assert_eq!(done.text().await.unwrap(), "", "no page, so no third-party content");
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
    // Without `state` (B-02), or with an empty one (B-03): refused before any request too.
    let code_only = callback
        .split('&')
        .filter(|p| !p.contains("state="))
        .collect::<Vec<_>>()
        .join("&");
    for bad in [code_only.clone(), format!("{code_only}&state=")] {
        assert_eq!(b.get(&bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(site.mock.count(Endpoint::Token), 0);
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

/// The login cookie and the session cookie are HttpOnly, SameSite=Lax, `Path=/`, not Secure on
/// plain http; no session exists before the callback, and the callback starts one (a second
/// login's new id: [`h05_a_new_login_ends_the_previous_sessions_cookie`]).
pub async fn session_id_changes_and_cookie_flags(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let start = b.get("/auth/login").await;
    let set_cookies = |r: &reqwest::Response| -> Vec<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let login = set_cookies(&start);
    assert_eq!(login.len(), 1, "{login:?}");
    let authorize = location(&start);
    assert!(b.session_cookie().is_none(), "no session before the callback");
    let callback = b.consent(&authorize).await;
    let done = b.get(&callback).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let after = set_cookies(&done);
    let session = after.iter().find(|c| c.starts_with("discord_oauth=")).unwrap();
    let used = after.iter().find(|c| c.starts_with("discord_oauth_login.")).unwrap();
    assert!(used.contains("Max-Age=0"), "the used login cookie is deleted: {used}");
    for cookie in [&login[0], session] {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "no Secure on http: {cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
    }
    assert!(b.me().await.is_ok());
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
    assert!(cookie.starts_with("__Host-discord_oauth_login."), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.to_ascii_lowercase().contains("domain="),
        "a __Host- cookie has no Domain: {cookie}"
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
    // The rotated refresh token is the one kept: a second expiry refreshes with it. (Two
    // minutes short of 7 days: a session unused for the whole idle timeout ends instead.)
    site.clock.advance(Duration::from_secs(604_800 - 120));
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

/// The PKCE verifier never leaves the server (A-08): it is in neither the authorize URL (as
/// sent to Discord) nor the callback URL nor any cookie; the login's own answer is not cached
/// and sends no referrer (A-11).
pub async fn a08_a11_verifier_stays_server_side(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let start = b.get("/auth/login").await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    assert_eq!(start.headers()["cache-control"], "no-store");
    assert_eq!(start.headers()["referrer-policy"], "no-referrer");
    let cookies: Vec<String> = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    let authorize = location(&start);
    let callback = b.consent(&authorize).await;
    assert_eq!(b.get(&callback).await.status(), StatusCode::SEE_OTHER);
    let verifier = site.mock.requests_to(Endpoint::Token)[0]
        .form_param("code_verifier")
        .unwrap();
    assert_eq!(verifier.len(), 43);
    let sent: url::Url = authorize.parse().unwrap();
    assert!(
        sent.query_pairs()
            .all(|(k, v)| k != "code_verifier" && v != verifier.as_str())
    );
    assert!(!callback.contains(&verifier));
    for r in site.mock.requests_to(Endpoint::Authorize) {
        assert!(
            !r.query().unwrap_or_default().contains(&verifier),
            "Discord saw the verifier"
        );
    }
    for c in &cookies {
        assert!(!c.contains(&verifier), "verifier in a cookie: {c}");
        assert!(c.contains("HttpOnly"), "{c}");
    }
}

/// A spoofed `Host`, `X-Forwarded-Host`, `X-Forwarded-Proto` or `Forwarded` header changes
/// neither the redirect URI sent to Discord (A-13), nor where the callback sends the browser,
/// nor the origin the logout check accepts (J-02): all come from the configuration.
pub async fn a13_j02_spoofed_host_and_forwarded_headers_change_nothing(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let spoof = |r: reqwest::RequestBuilder| {
        r.header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-port", "443")
            .header("x-forwarded-for", "203.0.113.9")
            .header("forwarded", "for=203.0.113.9;host=evil.example;proto=https")
    };
    let configured = format!("{}/auth/callback", site.url);
    let start = spoof(b.http.get(b.url("/auth/login?return_to=%2Fme")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = location(&start);
    assert!(!authorize.contains("evil.example"), "{authorize}");
    let sent: url::Url = authorize.parse().unwrap();
    let redirect_uri = sent.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1;
    assert_eq!(redirect_uri, configured);
    let callback = b.consent(&authorize).await;
    let done = spoof(b.http.get(&callback)).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/me");
    assert_eq!(
        site.mock.requests_to(Endpoint::Token)[0].form_param("redirect_uri"),
        Some(configured)
    );
    // The logout origin check compares with the configured origin, not the Host header.
    let r = spoof(b.http.post(b.url("/auth/logout")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(b.me().await.is_ok(), "still logged in");
}

/// The session is only ever read from the session cookie (H-08): the same value in a query
/// parameter or another header is ignored.
pub async fn h08_session_id_is_only_read_from_the_cookie(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    let value = b.session_cookie().unwrap();
    let fresh = Browser::new(&site.url, &site.mock.base_url());
    let me = format!("{}/me", site.url);
    let attempts = [
        fresh.http.get(format!("{me}?session_id={}", urlencode(&value))),
        fresh.http.get(format!("{me}?discord_oauth={}", urlencode(&value))),
        fresh.http.get(&me).header("x-session-id", &value),
        fresh.http.get(&me).header("discord_oauth", &value),
        fresh.http.get(&me).header("authorization", format!("Bearer {value}")),
        fresh.http.get(&me).header("cookie2", session_cookie_pair(&value)),
    ];
    for (n, attempt) in attempts.into_iter().enumerate() {
        let r = attempt.header("accept", "application/json").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    // The cookie itself does work.
    let r = fresh
        .http
        .get(&me)
        .header("accept", "application/json")
        .header("cookie", session_cookie_pair(&value))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A CORS preflight (`OPTIONS`) is never sent to Discord's login (J-05) and creates no
/// session.
pub async fn j05_cors_preflight_is_not_redirected_to_login(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    for path in ["/me", "/", "/auth/login", "/auth/callback", "/auth/logout"] {
        let r = b
            .http
            .request(reqwest::Method::OPTIONS, b.url(path))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_redirection(), "{path}: {}", r.status());
        assert!(r.headers().get("location").is_none(), "{path}");
        assert!(r.headers().get("set-cookie").is_none(), "{path}");
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    assert_eq!(site.mock.count(Endpoint::Authorize), 0);
}

/// Logout completes locally whatever the revocation at Discord does (G-04): an error status,
/// a dropped connection or a hang (beyond the request timeout). One attempt each, no retry.
pub async fn g04_logout_completes_when_revocation_fails(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            timeout: Duration::from_secs(1),
            ..Options::default()
        },
    )
    .await;
    let faults = [
        Fault::status(Endpoint::Revoke, 503),
        Fault::status(Endpoint::Revoke, 400),
        Fault::html(Endpoint::Revoke, 502),
        Fault::close_connection(Endpoint::Revoke),
        Fault::delay(Endpoint::Revoke, Duration::from_secs(5)),
    ];
    let attempts = faults.len();
    for fault in faults {
        let b = site.browser();
        assert_eq!(b.login(None).await.status(), StatusCode::SEE_OTHER);
        assert!(b.me().await.is_ok());
        let described = format!("{:?}", fault.kind());
        site.mock.inject(fault.once());
        let out = b.logout().await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER, "{described}");
        assert_eq!(location(&out), "/");
        assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED, "{described}");
    }
    assert_eq!(
        site.mock.count(Endpoint::Revoke),
        attempts,
        "one revocation attempt per logout"
    );
}

/// No token ever reaches the browser (E-01): not in a cookie, a header, a redirect or a page,
/// through login, a refresh and logout. The tower site's cookie holds only an (encrypted)
/// session id; the actix sample's cookie store keeps tokens in the encrypted cookie, so there
/// only "never in plain text" holds.
pub async fn e01_tokens_never_reach_the_browser(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let mut transcript = Vec::new();
    let start = b.get("/auth/login?return_to=%2F").await;
    let authorize = location(&start);
    transcript.push(seen(start).await);
    let callback = b.consent(&authorize).await;
    transcript.push(seen(b.get(&callback).await).await);
    transcript.push(seen(b.get("/").await).await);
    transcript.push(seen(b.get_json("/me").await).await);
    site.clock.advance(Duration::from_secs(604_800 - 60));
    transcript.push(seen(b.get_json("/me").await).await);
    transcript.push(seen(b.get("/").await).await);
    assert_eq!(site.grants("refresh_token"), 1);
    let cookie = b.session_cookie().unwrap();
    transcript.push(seen(b.logout().await).await);

    // Every token Discord handed out: access tokens from the API calls, refresh tokens from
    // the refresh and the revocation.
    let mut secrets: Vec<String> = site
        .mock
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization")?.strip_prefix("Bearer ").map(str::to_owned))
        .collect();
    for r in site.mock.requests_to(Endpoint::Token) {
        secrets.extend(r.form_param("refresh_token"));
        secrets.extend(r.form_param("code"));
    }
    for r in site.mock.requests_to(Endpoint::Revoke) {
        secrets.extend(r.form_param("token"));
    }
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 4,
        "two access tokens, two refresh tokens, a code: {}",
        secrets.len()
    );
    for (n, text) in transcript.iter().enumerate() {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "response {n} shows a token: {text}");
        }
    }
    if kind == SiteKind::Axum {
        // AES-GCM of the id's 22 characters: nonce + id + tag, base64 (68 characters). No room
        // for a token.
        assert!(cookie.len() <= 100, "the tower cookie holds more than an id: {cookie}");
    }
}

/// The code exchange is sent exactly once (C-07, C-08): a token endpoint that hangs past the
/// timeout, or drops the connection, gets no second request; the answer is a 503 and a fresh
/// login works afterwards.
pub async fn c07_c08_code_exchange_is_not_retried_after_a_timeout_or_a_dropped_connection(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            timeout: Duration::from_secs(1),
            ..Options::default()
        },
    )
    .await;
    for fault in [
        Fault::delay(Endpoint::Token, Duration::from_secs(3)),
        Fault::close_connection(Endpoint::Token),
    ] {
        site.mock.clear_requests();
        site.mock.inject(fault.once());
        let b = site.browser();
        let r = b.login(None).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
        assert_eq!(site.mock.count(Endpoint::Token), 1, "no retry");
        // A fresh login works.
        assert_eq!(b.login(None).await.status(), StatusCode::SEE_OTHER);
        assert!(b.me().await.is_ok());
        assert_eq!(site.mock.count(Endpoint::Token), 2);
    }
}

/// Only the exact configured path is the callback (B-21): other spellings (case, trailing
/// slash, encoded slash or letter, dot segments, doubled slash, path parameters) neither run
/// the callback nor use up the login; the real callback still works afterwards.
pub async fn b21_only_the_exact_callback_path_is_the_callback(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    let query = callback.split_once('?').unwrap().1.to_owned();
    let cookie = b.cookie_header();
    for path in [
        "/auth/Callback",
        "/AUTH/CALLBACK",
        "/auth/callback/",
        "/auth/callback%2F",
        "/auth%2Fcallback",
        "/auth%2fcallback",
        "/auth/%63allback",
        "/auth/x/../callback",
        "/auth/./callback",
        "//auth/callback",
        "/auth//callback",
        "/auth/callback;x",
        "/auth/callback%00",
        "/auth/callback%20",
    ] {
        let (status, head) = raw_get(
            site.addr,
            &format!("{path}?{query}"),
            &[("cookie", &cookie), ("accept", "text/html")],
        )
        .await;
        assert_eq!(status, 404, "{path} answered {head}");
    }
    assert_eq!(site.mock.count(Endpoint::Token), 0);
    let r = b.get(&callback).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the login is still usable");
    assert!(b.me().await.is_ok());
}

/// Cookies an attacker forged or damaged are nobody (H-11): a flipped character anywhere, a
/// truncated or extended value, a cookie made with another key (another instance's, holding
/// another user), garbage. Pages answer as to a logged-out visitor: never a 500, never a user.
pub async fn h11_tampered_session_cookies_are_anonymous(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            extra_users: 1,
            ..Options::default()
        },
    )
    .await;
    let b = site.browser();
    b.login(None).await;
    let good = b.session_cookie().unwrap();
    // Another instance (another random key) with another user logged in.
    let other = site.start_instance().await;
    let ob = Browser::new(&other.url, &site.mock.base_url());
    ob.discord_user(&extra_user_id(0)).await;
    assert_eq!(ob.login(None).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(ob.me().await.unwrap()["id"], extra_user_id(0));
    let foreign = ob.session_cookie().unwrap();

    let flip = |i: usize| {
        let mut chars: Vec<char> = good.chars().collect();
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let mut variants = vec![
        flip(0),
        flip(good.len() / 2),
        flip(good.len() - 2),
        good[..good.len() - 1].to_owned(),
        good[..good.len() / 2].to_owned(),
        format!("{good}A"),
        format!("{good}{good}"),
        foreign,
        String::new(),
        "not-a-session".to_owned(),
        "%00%ff%fe".to_owned(),
        "A".repeat(3000),
    ];
    variants.dedup();
    for (n, value) in variants.iter().enumerate() {
        let cookie = session_cookie_pair(value);
        let fresh = Browser::new(&site.url, &site.mock.base_url());
        let r = fresh
            .http
            .get(format!("{}/me", site.url))
            .header("accept", "application/json")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "variant {n}: {value:?}");
        let r = fresh
            .http
            .get(format!("{}/", site.url))
            .header("accept", "text/html")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "variant {n}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("Log in with Discord"),
            "variant {n} is not anonymous: {page}"
        );
    }
    // The genuine cookie still belongs to its user.
    assert_eq!(b.me().await.unwrap()["id"], fixture::WUMPUS_ID);
}

/// A provider error whose description carries markup (B-11) is shown escaped, on a page that
/// forbids scripts and sniffing.
pub async fn b11_hostile_error_description_is_escaped(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    for error in ["invalid_scope", "server_error", "<b>x</b>"] {
        let url = format!(
            "{}/auth/callback?error={}&error_description={}&state={}",
            site.url,
            urlencode(error),
            urlencode(hostile),
            state_of(&authorize)
        );
        let r = b.get(&url).await;
        assert!(r.status().is_client_error(), "{error}: {}", r.status());
        let h = r.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let body = r.text().await.unwrap();
        for raw in ["<script", "<img", "<b>", "onerror=alert(2)>"] {
            assert!(!body.contains(raw), "{error}: raw {raw:?} in {body}");
        }
    }
    assert_eq!(site.mock.count(Endpoint::Token), 0);
}

/// Strict `iss` (B-15): a site that requires it refuses a callback without it before any
/// request to Discord; with Discord sending it, the same site logs in. A lenient site (the
/// default) still refuses a wrong one (B-14).
pub async fn b15_strict_issuer_needs_iss_on_the_callback(kind: SiteKind) {
    let strict = Options {
        require_issuer: true,
        ..Options::default()
    };
    let site = TestSite::start_with(kind, strict.clone()).await;
    let b = site.browser();
    let r = b.login(None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("iss"));
    assert_eq!(site.mock.count(Endpoint::Token), 0);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    let site = TestSite::start_with(
        kind,
        Options {
            mock_sends_iss: true,
            ..strict
        },
    )
    .await;
    let b = site.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    assert!(callback.contains("iss=https%3A%2F%2Fdiscord.com"), "{callback}");
    assert_eq!(b.get(&callback).await.status(), StatusCode::SEE_OTHER);
    assert!(b.me().await.is_ok());

    let lenient = TestSite::start_with(
        kind,
        Options {
            mock_sends_iss: true,
            ..Options::default()
        },
    )
    .await;
    let b = lenient.browser();
    let authorize = b.start_login(None).await;
    let callback = b.consent(&authorize).await;
    let wrong = callback.replace("iss=https%3A%2F%2Fdiscord.com", "iss=https%3A%2F%2Fevil.example");
    assert_eq!(b.get(&wrong).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(lenient.mock.count(Endpoint::Token), 0);
}

/// Idle timeout with a user who only reads (H-09): visits every 6 days keep the session
/// alive far past the 7-day idle timeout (reading is activity: the session is marked active
/// about once a day, which also renews its expiry); 8 days without a visit end it, on the
/// server, whatever the browser still holds. (The site's clock moves; the session cache is
/// off so that every request consults the store.)
pub async fn h09_reading_keeps_a_session_alive_and_idleness_ends_it(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            cache_ttl: Some(Duration::ZERO),
            ..Options::default()
        },
    )
    .await;
    let b = site.browser();
    b.login(None).await;
    let copy = b.copy();
    let day = Duration::from_secs(86_400);
    for n in 1..=3 {
        site.clock.advance(6 * day);
        assert!(b.me().await.is_ok(), "a visit {} days after login", 6 * n);
    }
    assert!(
        site.grants("refresh_token") >= 1,
        "the tokens were refreshed on the way"
    );
    site.clock.advance(8 * day);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED, "idle for 8 days");
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    // A copy of the cookie taken before is dead too (the actix cookie store included).
    assert_eq!(copy.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// Responses to a logged-in user default to `Cache-Control: private, no-store` (H-14); a
/// handler's own policy is kept; logged-out answers are not marked private.
pub async fn h14_responses_to_logged_in_users_are_private(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    let r = b.get_json("/me").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["cache-control"], "no-store", "the handler's own");
    b.login(None).await;
    let r = b.get_json("/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let r = b.get("/").await;
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "the handler's own policy wins"
    );
}

/// Discord's global rate limit (K-03): after a `429` with `global: true`, nothing more goes
/// to Discord until its `retry_after` is over. Logins meanwhile are answered locally with 503
/// and the time left; a logged-in user's API calls are held too (and the user stays logged
/// in). Afterwards everything flows again.
pub async fn k03_global_rate_limit_holds_every_request_until_it_is_over(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let reader = site.browser();
    reader.login(None).await;
    site.mock.clear_requests();
    site.mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .global(true)
            .retry_after(30.0)
            .once(),
    );
    let first = site.browser();
    let r = first.login(None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(site.mock.count(Endpoint::Token), 1);

    let second = site.browser();
    let r = second.login(None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(site.mock.count(Endpoint::Token), 1, "held, not sent");
    assert_eq!(second.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);

    let page = reader.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        site.mock.count(Endpoint::CurrentUserGuilds),
        0,
        "API calls are held too"
    );
    assert!(reader.me().await.is_ok(), "nobody is logged out by it");

    site.clock.advance(Duration::from_secs(31));
    let third = site.browser();
    assert_eq!(third.login(None).await.status(), StatusCode::SEE_OTHER);
    assert!(third.me().await.is_ok());
    assert_eq!(site.mock.count(Endpoint::Token), 2);
    assert!(reader.get("/").await.text().await.unwrap().contains("Your guilds"));
}

/// A burst of logins (K-04): with at most 2 requests to Discord in flight and a 300 ms token
/// endpoint, 20 callbacks at once never put more than 2 requests at Discord at a time; those
/// that cannot get a slot within the timeout (1 s) are shed with 503 and `Retry-After`, the
/// others log in. Nothing else happens to anyone.
pub async fn k04_a_burst_of_logins_never_exceeds_the_bound_at_discord(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            timeout: Duration::from_secs(1),
            max_concurrent_requests: Some(2),
            ..Options::default()
        },
    )
    .await;
    let mut ready = Vec::new();
    for _ in 0..20 {
        let b = site.browser();
        let authorize = b.start_login(None).await;
        let callback = b.consent(&authorize).await;
        ready.push((b, callback));
    }
    site.mock.clear_requests();
    site.mock
        .inject(Fault::delay(Endpoint::Token, Duration::from_millis(300)).times(20));
    let results = join_all(ready.iter().map(|(b, callback)| async move {
        let r = b.get(callback).await;
        let retry_after = r.headers().contains_key("retry-after");
        (r.status(), retry_after, b.me().await.is_ok())
    }))
    .await;
    assert!(
        site.mock.max_in_flight(None) <= 2,
        "{} requests at Discord at once",
        site.mock.max_in_flight(None)
    );
    let logged_in = results.iter().filter(|(s, _, _)| *s == StatusCode::SEE_OTHER).count();
    let shed = results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(logged_in + shed, 20, "{results:?}");
    assert!(logged_in >= 1 && shed >= 1, "{logged_in} logged in, {shed} shed");
    for (status, retry_after, me) in &results {
        assert_eq!(*me, *status == StatusCode::SEE_OTHER, "{results:?}");
        assert!(
            *status != StatusCode::SERVICE_UNAVAILABLE || *retry_after,
            "503 without Retry-After"
        );
    }
    assert!(
        site.mock.count(Endpoint::Token) < 20,
        "shed logins never reached Discord"
    );
}

/// A refresh cut short (K-08): the browser gives up while the refresh is at Discord. The
/// session is then whole, never half-written: the tower layer finishes the refresh in its own
/// task and stores it (the next request uses it, no second refresh); with the actix cookie
/// store the result can only travel in the abandoned response, so the next request is either
/// still logged in or cleanly logged out (401), never an error.
pub async fn k08_refresh_cut_short_leaves_a_whole_session(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    assert!(b.me().await.is_ok());
    site.clock.advance(Duration::from_secs(604_800 - 60));
    site.mock
        .inject(Fault::delay(Endpoint::Token, Duration::from_millis(800)).once());
    let cut = b
        .http
        .get(b.url("/me"))
        .header("accept", "application/json")
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(cut.is_err(), "the request was cut short");
    // Wait until Discord has answered the refresh (or dropped it with the connection).
    for _ in 0..60 {
        let answered = site.mock.refreshes().iter().any(|r| r.status().is_some());
        if answered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = b.me().await;
    match kind {
        SiteKind::Axum => {
            assert_eq!(after.unwrap()["id"], fixture::WUMPUS_ID);
            assert_eq!(site.grants("refresh_token"), 1, "the stored refresh was used");
        }
        SiteKind::Actix => match after {
            Ok(me) => assert_eq!(me["id"], fixture::WUMPUS_ID),
            Err(status) => assert_eq!(status, StatusCode::UNAUTHORIZED),
        },
    }
    // Either way the browser can go on: logged in, or after logging in again.
    if b.me().await.is_err() {
        assert_eq!(b.login(None).await.status(), StatusCode::SEE_OTHER);
    }
    assert!(b.me().await.is_ok());
}

/// Rotating the session cookie key (H-12). Instances running with the new key and the old
/// one as "previous" accept the cookies made before the rotation; instances that no longer
/// know the old key refuse them. A session used during the rotation gets a cookie under the
/// new key when it is next marked active (a day later here), after which the old key is not
/// needed for it. (The tower site keeps sessions in a Redis of its own here, shared by its
/// instances; skipped without `redis-server`. The actix sample's sessions live in the cookie.)
pub async fn h12_cookies_under_the_previous_key_work_during_a_rotation(kind: SiteKind) {
    let redis = match kind {
        SiteKind::Axum => match crate::redis::RedisServer::start().await {
            Some(redis) => Some(redis),
            None => return,
        },
        SiteKind::Actix => None,
    };
    let (old, new, unknown) = ([0x11_u8; 64].to_vec(), [0x22_u8; 64].to_vec(), [0x33_u8; 64].to_vec());
    let options = |key: &[u8], previous: &[&[u8]]| Options {
        store: redis
            .as_ref()
            .map_or(crate::Store::Cookie, |r| crate::Store::Redis(r.url())),
        session_key: Some(key.to_vec()),
        previous_session_keys: previous.iter().map(|k| k.to_vec()).collect(),
        cache_ttl: Some(Duration::ZERO),
        ..Options::default()
    };
    let before = TestSite::start_with(kind, options(&old, &[])).await;
    let b = before.browser();
    b.login(None).await;
    assert_eq!(b.me().await.unwrap()["id"], fixture::WUMPUS_ID);
    let rotating = before.start_instance_with(options(&new, &[&old])).await;
    let after = before.start_instance_with(options(&new, &[])).await;
    let stranger = before.start_instance_with(options(&unknown, &[&old])).await;

    let frozen = b.copy();
    assert_eq!(
        b.at(&rotating.url).me().await.unwrap()["id"],
        fixture::WUMPUS_ID,
        "the old cookie is accepted during the rotation"
    );
    assert_eq!(
        frozen.at(&after.url).me().await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "and refused once the old key is gone"
    );
    // A day later the session is marked active: its cookie comes back under the new key.
    before.clock.advance(Duration::from_secs(86_400 + 60));
    assert!(b.at(&rotating.url).me().await.is_ok());
    assert_ne!(b.session_cookie(), frozen.session_cookie(), "a new cookie was sent");
    assert_eq!(
        b.at(&after.url).me().await.unwrap()["id"],
        fixture::WUMPUS_ID,
        "the new cookie needs no old key"
    );
    // A cookie under a key nobody lists stays refused; the stranger's own key is not the
    // current one of the others.
    assert_eq!(b.at(&stranger.url).me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// An anonymous `/auth/login` costs the server nothing: the answer sets the login's own sealed
/// cookie and no session cookie, whatever the visitor sends (here a 500-byte `return_to`, and
/// a flood of 100 fresh visitors); a `return_to` over 512 bytes is a `400` naming the limit.
pub async fn anonymous_logins_store_nothing(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let long = format!("/{}", "a".repeat(499));
    let target = format!("/auth/login?return_to={}", urlencode(&long));
    for _ in 0..100 {
        let r = site.browser().get(&target).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(set[0].starts_with("discord_oauth_login."), "{}", set[0]);
        assert!(set[0].contains("HttpOnly") && set[0].contains("SameSite=Lax"));
        assert!(
            !set[0].contains(&"a".repeat(100)),
            "the return_to is sealed, not readable"
        );
    }
    // The login still works, and lands on the long return_to.
    let b = site.browser();
    let done = b.login(Some(&long)).await;
    assert_eq!(location(&done), long);
    // Over the limit: a clear 400, and no cookie.
    let too_long = format!("/{}", "a".repeat(512));
    let r = b.get(&format!("/auth/login?return_to={}", urlencode(&too_long))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("512 bytes"));
}

/// Logout holds at once: a copy of the session cookie (served a moment before, so cached) is
/// refused while the revocation at Discord is still under way, and afterwards.
pub async fn g05_logout_holds_while_the_revocation_is_slow(kind: SiteKind) {
    logout_holds_while_the_revocation_is_slow_with(kind, Options::default()).await;
}

/// [`g05_logout_holds_while_the_revocation_is_slow`] with other options (e.g. Redis).
pub async fn logout_holds_while_the_revocation_is_slow_with(kind: SiteKind, options: Options) {
    let site = TestSite::start_with(kind, options).await;
    let b = site.browser();
    b.login(None).await;
    let copy = b.copy();
    for _ in 0..3 {
        assert!(copy.me().await.is_ok(), "the copy works before logout");
    }
    site.mock
        .inject(Fault::delay(Endpoint::Revoke, Duration::from_secs(2)).times(1));
    let logout = tokio::spawn(async move { b.logout().await.status() });
    // The logout reaches the slow revocation.
    for _ in 0..100 {
        if site.mock.max_in_flight(Some(Endpoint::Revoke)) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        site.mock.max_in_flight(Some(Endpoint::Revoke)),
        1,
        "the revocation is under way"
    );
    assert_eq!(
        copy.me().await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "refused while the revocation is still running"
    );
    assert!(!logout.is_finished(), "the logout was still waiting for Discord");
    assert_eq!(logout.await.unwrap(), StatusCode::SEE_OTHER);
    for _ in 0..3 {
        assert_eq!(copy.me().await.unwrap_err(), StatusCode::UNAUTHORIZED, "and after it");
    }
}

/// A second login in the same browser gives a new session id (H-05), and the previous
/// session's cookie (served a moment before, so cached) is dead at once.
pub async fn h05_a_new_login_ends_the_previous_sessions_cookie(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    let before = b.session_cookie().unwrap();
    for _ in 0..3 {
        assert_eq!(
            crate::me_status_with_cookie_header(&site.url, session_cookie_pair(&before)).await,
            StatusCode::OK
        );
    }
    b.login(None).await;
    let after = b.session_cookie().unwrap();
    assert_ne!(after, before, "a new session id at login");
    assert!(b.me().await.is_ok());
    assert_eq!(
        crate::me_status_with_cookie_header(&site.url, session_cookie_pair(&before)).await,
        StatusCode::UNAUTHORIZED,
        "the previous cookie is dead"
    );
}

/// "Log out of all devices" ends every session of that user (two browsers, each served from
/// the cache a moment before) and leaves another user logged in.
pub async fn logout_everywhere_ends_every_session_of_the_user(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            extra_users: 1,
            ..Options::default()
        },
    )
    .await;
    let first = site.browser();
    first.login(None).await;
    let second = site.browser();
    second.login(None).await;
    let other = site.browser();
    other.discord_user(&extra_user_id(0)).await;
    other.login(None).await;
    for b in [&first, &second, &other] {
        for _ in 0..2 {
            assert!(b.me().await.is_ok());
        }
    }
    assert_ne!(first.session_cookie(), second.session_cookie(), "two sessions");
    let out = first.logout_everywhere().await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        second.me().await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "the other browser of the same user is logged out too"
    );
    assert_eq!(
        other.me().await.unwrap()["id"],
        extra_user_id(0),
        "another user is untouched"
    );
    // A new login of that user afterwards works.
    second.login(None).await;
    assert!(second.me().await.is_ok());
}

/// The webhook events receiver (`POST /discord/events`): PING → 204 empty; every signature
/// problem (another key, another timestamp, none, a body changed after signing) → 401; a valid
/// signature on a body that is not an event → 400; an oversized body → 413; `GET` → 405.
pub async fn webhook_events_are_verified(kind: SiteKind) {
    use discord_oauth_core::events::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_event};
    use discord_oauth_mock::EventSignature;

    let site = TestSite::start_with(
        kind,
        Options {
            events: true,
            ..Options::default()
        },
    )
    .await;
    let url = format!("{}/discord/events", site.url);
    assert_eq!(site.mock.send_ping(&url).await.unwrap(), 204);
    let http = reqwest::Client::new();
    let ping = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"version":1,"application_id":"1","type":0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::UNAUTHORIZED, "unsigned");
    let event = site.mock.event_payload(
        fixture::CLIENT_ID,
        "ENTITLEMENT_CREATE",
        serde_json::json!({"id": "1", "sku_id": "2", "application_id": fixture::CLIENT_ID, "type": 8, "deleted": false}),
    );
    for signature in [
        EventSignature::WrongKey,
        EventSignature::OtherTimestamp,
        EventSignature::Missing,
    ] {
        let status = site.mock.send_event_signed(&url, &event, signature).await.unwrap();
        assert_eq!(status, 401, "{signature:?}");
    }
    let seed = discord_oauth_mock::fixture::EVENTS_SIGNING_SEED;
    let signed = |body: &[u8]| {
        let ts = "1700000000";
        (ts, sign_event(&seed, ts, body))
    };
    let send = |body: Vec<u8>, ts: &'static str, sig: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(url)
                .header(SIGNATURE_HEADER, sig)
                .header(TIMESTAMP_HEADER, ts)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let body = serde_json::to_vec(&event).unwrap();
    let (ts, sig) = signed(&body);
    assert_eq!(
        send(body.clone(), ts, sig.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let mut changed = body.clone();
    changed[body.len() / 2] ^= 1;
    assert_eq!(
        send(changed, ts, sig).await.status(),
        StatusCode::UNAUTHORIZED,
        "changed after signing"
    );
    let (ts, sig) = signed(b"not json");
    assert_eq!(
        send(b"not json".to_vec(), ts, sig).await.status(),
        StatusCode::BAD_REQUEST
    );
    let big = vec![b' '; discord_oauth_core::events::MAX_EVENT_BODY_BYTES + 1];
    let (ts, sig) = signed(&big);
    assert_eq!(send(big, ts, sig).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// `APPLICATION_DEAUTHORIZED` for a user logged in from two browsers ends both sessions
/// (served from the cache a moment before) and leaves another user logged in; the answer is
/// 204, and the same event delivered again is 204 too.
pub async fn deauthorization_ends_every_session_of_the_user(kind: SiteKind) {
    let site = TestSite::start_with(
        kind,
        Options {
            events: true,
            extra_users: 1,
            ..Options::default()
        },
    )
    .await;
    let url = format!("{}/discord/events", site.url);
    let first = site.browser();
    first.login(None).await;
    let second = site.browser();
    second.login(None).await;
    let other = site.browser();
    other.discord_user(&extra_user_id(0)).await;
    other.login(None).await;
    for b in [&first, &second, &other] {
        for _ in 0..2 {
            assert!(b.me().await.is_ok());
        }
    }
    let event = site
        .mock
        .deauthorized_payload(fixture::CLIENT_ID, fixture::WUMPUS_ID)
        .unwrap();
    assert_eq!(site.mock.send_event(&url, &event).await.unwrap(), 204);
    assert_eq!(first.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(second.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(other.me().await.unwrap()["id"], extra_user_id(0));
    assert_eq!(
        site.mock.send_event(&url, &event).await.unwrap(),
        204,
        "a replayed event is answered the same"
    );
    assert_eq!(other.me().await.unwrap()["id"], extra_user_id(0));
}

/// 50 reloads of `/` by one logged-in user (as fast as they come) ask Discord for the guilds
/// once: the page is answered from the read cache (`GUILDS_CACHE_TTL`, 60 s), and it still
/// shows the guilds every time; the mock never answered 429.
pub async fn reloading_the_home_page_asks_discord_once_per_cache_ttl(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    let before = site.mock.count(Endpoint::CurrentUserGuilds);
    for _ in 0..50 {
        let page = b.get("/").await.text().await.unwrap();
        assert!(page.contains("Your guilds"), "{page}");
    }
    assert_eq!(
        site.mock.count(Endpoint::CurrentUserGuilds) - before,
        1,
        "one guilds request for 50 reloads"
    );
    let throttled = site
        .mock
        .requests_to(Endpoint::CurrentUserGuilds)
        .iter()
        .filter(|r| r.status() == Some(429))
        .count();
    assert_eq!(throttled, 0);
}
