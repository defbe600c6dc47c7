//! Session cookies an attacker holds: a copy taken before logout (checklist G-05) and a
//! cookie the attacker chose before the victim logged in (H-06), for both sample sites.
//!
//! Both sites keep sessions server-side by default: logout deletes the record, so a copied
//! cookie is worthless. The actix site can also keep the whole session in one encrypted cookie
//! (actix-session `CookieSessionStore`, `SESSION_STORE=cookie`): there is nothing server-side
//! to delete, so the instance that served the logout refuses the copy from its list of ended
//! logins, and another instance (without a revocation broadcast) still accepts it until the
//! cookie expires. That is the documented limitation of the cookie store (see
//! `DiscordOAuth::cookie_session`); the tests pin both halves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use discord_oauth_scenarios::{Options, SiteKind, Store, TestSite, me_status_with_cookie_header, session_cookie_pair};
use reqwest::StatusCode;

/// `GET /me` as JSON with exactly this session cookie, from a fresh client.
async fn me_with_cookie(site: &TestSite, cookie: &str) -> StatusCode {
    me_status_with_cookie_header(&site.url, session_cookie_pair(cookie)).await
}

/// Logs in, copies the session cookie, logs out, and replays the copy.
async fn replay_after_logout(kind: SiteKind) -> StatusCode {
    replay_after_logout_with(kind, Options::default()).await
}

async fn replay_after_logout_with(kind: SiteKind, options: Options) -> StatusCode {
    let site = TestSite::start_with(kind, options).await;
    let b = site.browser();
    b.login(None).await;
    assert!(b.me().await.is_ok());
    let copied = b.session_cookie().unwrap();
    assert_eq!(
        me_with_cookie(&site, &copied).await,
        StatusCode::OK,
        "the copy works before logout"
    );
    assert_eq!(b.logout().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    me_with_cookie(&site, &copied).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g05_axum_session_cookie_copied_before_logout_is_dead_after_it() {
    assert_eq!(replay_after_logout(SiteKind::Axum).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g05_actix_default_store_copy_is_dead_after_logout() {
    assert_eq!(replay_after_logout(SiteKind::Actix).await, StatusCode::UNAUTHORIZED);
}

/// The cookie store: the instance that served the logout refuses the copy (its list of ended
/// logins); another instance sharing the key but no revocation broadcast accepts it (the
/// documented limitation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g05_actix_cookie_store_copy_is_refused_where_the_logout_happened() {
    let options = Options {
        store: Store::Cookie,
        session_key: Some(vec![7u8; 64]),
        ..Options::default()
    };
    let site = TestSite::start_with(SiteKind::Actix, options.clone()).await;
    let other = site.start_instance_with(options).await;
    let b = site.browser();
    b.login(None).await;
    let copied = b.session_cookie().unwrap();
    assert_eq!(me_with_cookie(&site, &copied).await, StatusCode::OK);
    assert_eq!(b.logout().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me_with_cookie(&site, &copied).await,
        StatusCode::UNAUTHORIZED,
        "refused by the instance that served the logout"
    );
    assert_eq!(
        me_status_with_cookie_header(&other.url, session_cookie_pair(&copied)).await,
        StatusCode::OK,
        "documented limitation: another instance without a broadcast still accepts the copy"
    );
}

/// The actix site with `SESSION_STORE=memory` (`discord_oauth_actix::MemoryStore`, server-side):
/// logout deletes the session, so the copy is dead — also on the authenticated fast path, which
/// had served that very cookie a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g05_actix_memory_store_copy_is_dead_after_logout() {
    let options = Options {
        store: Store::Process,
        ..Options::default()
    };
    assert_eq!(
        replay_after_logout_with(SiteKind::Actix, options).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A session cookie chosen by an attacker (well-formed for tower-sessions: 16 zero bytes,
/// base64url; for the actix cookie store, any value is an undecryptable cookie) is not
/// adopted: the login runs on a new session id, and the attacker's cookie stays anonymous.
async fn fixated_cookie_is_not_adopted(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let chosen = "AAAAAAAAAAAAAAAAAAAAAA";
    let b = site.browser();
    let start = b
        .http
        .get(format!("{}/auth/login", site.url))
        .header("cookie", format!("discord_oauth={chosen}"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    for set in start.headers().get_all("set-cookie") {
        let set = set.to_str().unwrap();
        assert!(
            set.starts_with("discord_oauth_login."),
            "starting a login sets only its own cookie: {set}"
        );
    }
    // The victim's browser holds the attacker's cookie and logs in; the session gets a new
    // id, and the attacker's cookie is still nobody.
    b.plant_cookie(&format!("discord_oauth={chosen}"));
    b.login(None).await;
    assert!(b.me().await.is_ok());
    assert_ne!(b.session_cookie().unwrap(), chosen);
    assert_eq!(me_with_cookie(&site, chosen).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h06_axum_attacker_chosen_session_id_is_not_adopted() {
    fixated_cookie_is_not_adopted(SiteKind::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h06_actix_attacker_chosen_session_cookie_is_not_adopted() {
    fixated_cookie_is_not_adopted(SiteKind::Actix).await;
}
