//! The actix integration's authenticated fast path (`discord_oauth_actix::fast`): requests of
//! a logged-in user whose session was recently seen skip the session store — and every security
//! property holds: logout ends the session on the next request, only the exact cookie header
//! is served, a login needing a refresh or past its idle timeout goes the normal way, and
//! session changes made by handlers on the fast path are written (insert, purge, renew). A
//! server-side store that counts its loads shows which path served what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use discord_oauth_actix::actix_session::Session;
use discord_oauth_actix::actix_session::storage::CookieSessionStore;
use discord_oauth_actix::actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use discord_oauth_actix::transport::ReqwestTransport;
use discord_oauth_actix::{DiscordOAuth, DiscordUser, LoginConfig, MemoryStore};
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_scenarios::{Browser, ShiftClock, me_status_with_cookie_header};
use reqwest::StatusCode;

type State = HashMap<String, String>;

/// The in-process `MemoryStore`, counting its loads.
#[derive(Clone, Default)]
struct CountingStore {
    inner: MemoryStore,
    loads: Arc<AtomicUsize>,
}

impl SessionStore for CountingStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key).await
    }

    async fn save(&self, state: State, ttl: &actix_web::cookie::time::Duration) -> Result<SessionKey, SaveError> {
        self.inner.save(state, ttl).await
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.inner.update(key, state, ttl).await
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &actix_web::cookie::time::Duration) -> anyhow::Result<()> {
        self.inner.update_ttl(key, ttl).await
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        self.inner.delete(key).await
    }
}

#[derive(serde::Deserialize)]
struct Note {
    v: String,
}

async fn me(user: DiscordUser) -> String {
    user.id.to_string()
}

async fn set_note(_user: DiscordUser, session: Session, note: web::Query<Note>) -> &'static str {
    session.insert("note", &note.v).unwrap();
    "saved"
}

async fn get_note(_user: DiscordUser, session: Session) -> String {
    session.get::<String>("note").unwrap().unwrap_or_default()
}

async fn forget(_user: DiscordUser, session: Session) -> &'static str {
    session.purge();
    "forgotten"
}

async fn renew(_user: DiscordUser, session: Session) -> &'static str {
    session.renew();
    "renewed"
}

/// The test app over the store `make` builds (one per worker).
fn serve<S: SessionStore + 'static>(
    discord: DiscordOAuth,
    listener: std::net::TcpListener,
    make: impl Fn() -> S + Clone + Send + 'static,
) -> actix_web::dev::Server {
    HttpServer::new(move || {
        App::new()
            .configure(discord.routes())
            .route("/me", web::get().to(me))
            .route("/note/set", web::get().to(set_note))
            .route("/note", web::get().to(get_note))
            .route("/forget", web::get().to(forget))
            .route("/renew", web::get().to(renew))
            .default_service(web::to(HttpResponse::NotFound))
            .wrap(discord.session_middleware(make(), Key::from(&[7u8; 64])))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run()
}

struct Site {
    browser: Browser,
    store: CountingStore,
    clock: ShiftClock,
    mock: MockDiscord,
    url: String,
}

/// A site over a [`CountingStore`] (`cookie_store`: actix-session's cookie store instead).
async fn start(cookie_store: bool) -> Site {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .discord_base(&mock.base_url())
        .build()
        .unwrap();
    let clock = ShiftClock::default();
    let discord = DiscordOAuth::builder(config, ReqwestTransport::new().unwrap())
        .clock(clock.clock())
        .build();
    let store = CountingStore::default();
    let server = if cookie_store {
        serve(discord, listener, CookieSessionStore::default)
    } else {
        let store = store.clone();
        serve(discord, listener, move || store.clone())
    };
    tokio::spawn(server);
    Site {
        browser: Browser::new(&url, &mock.base_url()),
        store,
        clock,
        mock,
        url,
    }
}

impl Site {
    fn loads(&self) -> usize {
        self.store.loads.load(Ordering::SeqCst)
    }

    /// Logs in and makes one request, which remembers the session.
    async fn logged_in(&self) {
        assert_eq!(self.browser.login(Some("/me")).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            self.browser.get_json("/me").await.text().await.unwrap(),
            fixture::WUMPUS_ID
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_sessions_skip_the_store_and_logout_ends_them() {
    let site = start(false).await;
    let b = &site.browser;
    site.logged_in().await;
    let before = site.loads();
    for _ in 0..5 {
        let r = b.get_json("/me").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["cache-control"],
            "private, no-store",
            "fast answers are personal"
        );
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(r.text().await.unwrap(), fixture::WUMPUS_ID);
    }
    assert_eq!(site.loads(), before, "remembered sessions do not read the store");

    let replay = b.copy();
    // The same session cookie in another `Cookie` header (another cookie beside it): a second
    // remembered header of the same login.
    let other_header = format!("discord_oauth={}; theme=dark", b.session_cookie().unwrap());
    let with_other_header = || me_status_with_cookie_header(&site.url, &other_header);
    assert_eq!(with_other_header().await, StatusCode::OK);
    let remembered = site.loads();
    assert_eq!(with_other_header().await, StatusCode::OK);
    assert_eq!(site.loads(), remembered, "that header is remembered too");

    assert_eq!(b.logout().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        replay.get_json("/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "a copy of the logged-out cookie is not served from memory"
    );
    assert_eq!(
        with_other_header().await,
        StatusCode::UNAUTHORIZED,
        "nor is any other remembered header of that login"
    );
    assert!(site.loads() > before, "after logout, requests read the store again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_exact_cookie_header_is_served_fast() {
    let site = start(false).await;
    site.logged_in().await;
    let cookie = format!("discord_oauth={}", site.browser.session_cookie().unwrap());
    let send = |cookie: String| me_status_with_cookie_header(&site.url, cookie);

    let before = site.loads();
    assert_eq!(send(format!("{cookie}; theme=dark")).await, StatusCode::OK);
    assert_eq!(site.loads(), before + 1, "an unseen header takes the normal path");
    assert_eq!(send(format!("{cookie}; theme=dark")).await, StatusCode::OK);
    assert_eq!(site.loads(), before + 1, "and is remembered once it was authenticated");

    let mut tampered = cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(send(tampered.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(tampered).await,
        StatusCode::UNAUTHORIZED,
        "and is not remembered either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_changes_made_on_the_fast_path_are_written() {
    let site = start(false).await;
    let b = &site.browser;
    site.logged_in().await;
    assert_eq!(
        b.get("/note").await.text().await.unwrap(),
        "",
        "no note yet (served fast)"
    );

    // Insert: written after the handler, in the same pass; the only load is the check that
    // the session is still in the store before it is updated.
    let before = site.loads();
    let r = b.get("/note/set?v=hello").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "saved");
    assert_eq!(
        site.loads(),
        before + 1,
        "the change was written without reloading the session"
    );
    assert_eq!(b.get("/note").await.text().await.unwrap(), "hello", "and is read back");
    assert_eq!(b.get("/note").await.text().await.unwrap(), "hello", "from memory too");
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK, "still logged in");

    // Renew: a new session key and cookie; the old cookie names nothing any more.
    let old = b.copy();
    let old_cookie = b.session_cookie().unwrap();
    let r = b.get("/renew").await;
    assert_eq!(r.text().await.unwrap(), "renewed");
    assert_ne!(b.session_cookie().unwrap(), old_cookie, "a new cookie was sent");
    assert_eq!(
        b.get("/note").await.text().await.unwrap(),
        "hello",
        "the content moved along"
    );
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    assert_eq!(old.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);

    // Purge: the session ends, store and cookie.
    assert_eq!(b.get("/forget").await.text().await.unwrap(), "forgotten");
    assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
    assert!(site.store.inner.is_empty(), "nothing left in the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cookie_store_changes_are_written_into_the_cookie() {
    let site = start(true).await;
    let b = &site.browser;
    site.logged_in().await;
    let cookie = b.session_cookie().unwrap();
    assert_eq!(b.get("/note/set?v=cookie").await.text().await.unwrap(), "saved");
    assert_ne!(b.session_cookie().unwrap(), cookie, "the cookie carries the change");
    assert_eq!(b.get("/note").await.text().await.unwrap(), "cookie");
    assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_needing_refresh_leaves_the_fast_path_and_refreshes_once() {
    let site = start(false).await;
    let b = &site.browser;
    site.logged_in().await;
    let before = site.loads();
    site.clock.advance(Duration::from_secs(604_800 - 60));
    assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
    // The session's load, and the check that it still exists before it is updated.
    assert_eq!(site.loads(), before + 2, "the refresh happens on the normal path");
    assert_eq!(site.mock.count_grant("refresh_token"), 1);
    // The refresh changed the session, so it is read once more, then remembered again.
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    let settled = site.loads();
    assert_eq!(b.get_json("/me").await.status(), StatusCode::OK);
    assert_eq!(site.loads(), settled, "the refreshed session is fast again");
    assert_eq!(site.mock.count_grant("refresh_token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_even_when_remembered() {
    let site = start(false).await;
    let b = &site.browser;
    site.logged_in().await;
    // Past the idle timeout (7 days) within the fast path's memory (30 s of real time).
    site.clock.advance(Duration::from_secs(7 * 24 * 3600 + 60));
    assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(site.mock.count_grant("refresh_token"), 0, "ended, not refreshed");
}

/// The remembered sessions run on the middleware's clock: a step of that clock, back or
/// forward, never makes a remembered login served longer. The requests after the step read
/// the store again (after a step back the activity mark is ahead of the clock and is
/// written anew first); the login is kept, and it is soon served fast again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_step_reads_the_store_again_and_keeps_the_login() {
    let site = start(false).await;
    let b = &site.browser;
    site.logged_in().await;
    for offset in [-3600, 0] {
        site.clock.set_offset(offset);
        let before = site.loads();
        assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
        assert!(site.loads() > before, "offset {offset}: the store is read again");
        for _ in 0..2 {
            assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
        }
        let settled = site.loads();
        assert_eq!(b.get_json("/me").await.text().await.unwrap(), fixture::WUMPUS_ID);
        assert_eq!(site.loads(), settled, "offset {offset}: fast again");
    }
    assert_eq!(site.mock.count_grant("refresh_token"), 0);
}
