//! The authenticated fast path (`discord_oauth_tower::fast`): requests of a logged-in user
//! whose session is cached skip the session layer — and every security property holds: logout
//! ends the session on the next request, a changed or tampered cookie is never served from the
//! index, a session needing a refresh goes through the refresh path, and session writes by
//! handlers are kept. The "slow" side is wrapped in a counter to see which path served what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use discord_oauth_axum::tower_sessions::{MemoryStore, Session};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{DiscordOAuthLayer, DiscordUser, LoginConfig, session_layer};
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_scenarios::{Browser, ShiftClock, me_status_with_cookie_header};
use reqwest::StatusCode;
use tower::{Layer, ServiceBuilder};

async fn me(user: DiscordUser) -> String {
    user.id.to_string()
}

#[derive(serde::Deserialize)]
struct Note {
    v: String,
}

async fn set_note(session: Session, Query(n): Query<Note>) -> &'static str {
    session.insert("note", n.v).await.unwrap();
    "saved"
}

async fn get_note(_user: DiscordUser, session: Session) -> String {
    session.get::<String>("note").await.unwrap().unwrap_or_default()
}

struct Site {
    browser: Browser,
    slow: Arc<AtomicUsize>,
    clock: ShiftClock,
    mock: MockDiscord,
    url: String,
}

async fn start() -> Site {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .discord_base(&mock.base_url())
        .build()
        .unwrap();
    let clock = ShiftClock::default();
    let layer = DiscordOAuthLayer::builder(config.clone(), ReqwestTransport::new().unwrap())
        .clock(clock.clock())
        .build();
    let app = Router::new()
        .route("/me", get(me))
        .route("/note/set", get(set_note))
        .route("/note", get(get_note));
    let store = MemoryStore::default();
    let slow = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&slow);
    let slow_service = ServiceBuilder::new()
        .map_request(move |req: http::Request<axum::body::Body>| {
            counter.fetch_add(1, Ordering::SeqCst);
            req
        })
        .layer(session_layer(store.clone(), &config))
        .service(layer.layer(app.clone()));
    let service = layer.fast_path(app, slow_service, store);
    let router = Router::new().fallback_service(service);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Site {
        browser: Browser::new(&url, &mock.base_url()),
        slow,
        clock,
        mock,
        url,
    }
}

impl Site {
    fn slow_calls(&self) -> usize {
        self.slow.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_sessions_skip_the_session_layer_and_logout_ends_them() {
    let site = start().await;
    let b = &site.browser;
    assert_eq!(b.login(Some("/me")).await.status(), StatusCode::SEE_OTHER);
    // The first /me goes through the session layer and records the cookie.
    assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
    let before = site.slow_calls();
    for _ in 0..5 {
        let r = b.get_json("/me").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["cache-control"],
            "private, no-store",
            "fast answers are personal"
        );
        assert_eq!(r.text().await.unwrap(), fixture::WUMPUS_ID);
    }
    assert_eq!(site.slow_calls(), before, "cached sessions take the fast path");

    // Logout goes through the login layer, and the next request is anonymous.
    assert_eq!(b.logout().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
    assert!(
        site.slow_calls() > before + 1,
        "after logout, requests take the normal path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_exact_cookie_header_is_served_from_the_index() {
    let site = start().await;
    let b = &site.browser;
    b.login(Some("/me")).await;
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    let cookie = format!(
        "{}={}",
        if site.url.starts_with("https") {
            "__Host-discord_oauth"
        } else {
            "discord_oauth"
        },
        b.session_cookie().unwrap()
    );
    let send = |cookie: String| me_status_with_cookie_header(&site.url, cookie);

    // The same session cookie next to another cookie: a new header, checked by the session
    // layer once, then served fast too.
    let before = site.slow_calls();
    assert_eq!(send(format!("{cookie}; theme=dark")).await, StatusCode::OK);
    assert_eq!(site.slow_calls(), before + 1, "an unseen header takes the normal path");
    assert_eq!(send(format!("{cookie}; theme=dark")).await, StatusCode::OK);
    assert_eq!(
        site.slow_calls(),
        before + 1,
        "and is indexed once it was authenticated"
    );

    // A tampered session cookie is never served from the index: the session layer refuses it.
    let mut tampered = cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(send(tampered.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(tampered).await,
        StatusCode::UNAUTHORIZED,
        "and is not indexed either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_writes_by_handlers_are_kept() {
    let site = start().await;
    let b = &site.browser;
    b.login(Some("/me")).await;
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    let before = site.slow_calls();
    assert_eq!(b.get("/note/set?v=hello").await.text().await.unwrap(), "saved");
    assert_eq!(site.slow_calls(), before, "the write was served by the fast path");
    // The write is in the store: the next read (now through the session layer, since the
    // cached session was dropped) sees it, and the user is still logged in.
    assert_eq!(b.get("/note").await.text().await.unwrap(), "hello");
    assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_needing_refresh_leaves_the_fast_path_and_refreshes_once() {
    let site = start().await;
    let b = &site.browser;
    b.login(Some("/me")).await;
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    site.clock.advance(Duration::from_secs(604_800 - 60));
    let before = site.slow_calls();
    assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
    assert_eq!(site.slow_calls(), before + 1, "refresh happens on the normal path");
    assert_eq!(site.mock.count_grant("refresh_token"), 1);
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    assert_eq!(site.mock.count_grant("refresh_token"), 1);
    assert_eq!(
        site.slow_calls(),
        before + 1,
        "the refreshed session is fast again at once"
    );
}

/// The cache runs on the layer's clock: a step of that clock, back or forward, never makes a
/// cached login served longer. The request after the step reads the session layer again;
/// the login is kept, and the next request is fast again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_step_takes_the_normal_path_once_and_keeps_the_login() {
    let site = start().await;
    let b = &site.browser;
    b.login(Some("/me")).await;
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    // Back an hour (entries kept "later" are not served), then forward again (an hour past
    // the 30 s the entry kept at the earlier time is served for).
    for offset in [-3600, 0] {
        site.clock.set_offset(offset);
        let before = site.slow_calls();
        assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
        assert_eq!(
            site.slow_calls(),
            before + 1,
            "offset {offset}: the session layer again"
        );
        assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
        assert_eq!(site.slow_calls(), before + 1, "offset {offset}: fast again");
    }
    assert_eq!(site.mock.count_grant("refresh_token"), 0);
}
