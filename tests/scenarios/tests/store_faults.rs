//! Session-store faults (checklist K-05, H-15) through the tower layer and the actix
//! integration: a store that fails on demand. Protected requests get 503 with `Retry-After` —
//! never "logged out", never a redirect loop, cookies untouched — and everything recovers when
//! the store does, without a restart. With the tower layer's in-process cache on (the
//! default), a user already seen keeps being served during an outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use discord_oauth_axum::tower_sessions::MemoryStore;
use discord_oauth_axum::tower_sessions::session::{Id, Record};
use discord_oauth_axum::tower_sessions::session_store::{self, SessionStore};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, DiscordUser, LoginConfig};
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_scenarios::{Browser, location, me_status_with_cookie_header, session_cookie_pair};
use reqwest::StatusCode;

#[derive(Debug, Clone, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
    /// Reads never answer.
    hangs: Arc<AtomicBool>,
}

impl FlakyStore {
    fn check(&self) -> session_store::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(session_store::Error::Backend("store is down (injected)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SessionStore for FlakyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.check()?;
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.check()?;
        self.inner.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.check()?;
        if self.hangs.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.check()?;
        self.inner.delete(id).await
    }
}

async fn me(user: DiscordUser) -> String {
    user.id.to_string()
}

async fn start(cache_ttl: Duration) -> (Browser, FlakyStore, MockDiscord) {
    start_with(cache_ttl, Duration::from_secs(2)).await
}

async fn start_with(cache_ttl: Duration, store_timeout: Duration) -> (Browser, FlakyStore, MockDiscord) {
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
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .cache_ttl(cache_ttl)
        .store_timeout(store_timeout)
        .build();
    let store = FlakyStore::default();
    let oauth = DiscordOAuth::from_layer(layer);
    let app = oauth.mount(Router::new().route("/me", get(me)), store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Browser::new(&url, &mock.base_url()), store, mock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k05_store_outage_gives_503_and_recovers() {
    let (b, store, _mock) = start(Duration::ZERO).await;
    assert_eq!(location(&b.login(Some("/me")).await), "/me");
    assert_eq!(b.get("/me").await.status(), StatusCode::OK);

    store.down.store(true, Ordering::SeqCst);
    // Starting a login needs no store: the login in progress is in its own cookie.
    assert_eq!(b.get("/auth/login").await.status(), StatusCode::SEE_OTHER);
    for path in ["/me"] {
        let r = b.get(path).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path} during the outage");
        assert!(r.headers().contains_key("retry-after"), "{path}");
        assert!(
            r.headers().get("location").is_none(),
            "{path}: no redirect (no login loop)"
        );
        assert!(r.headers().get("set-cookie").is_none(), "{path}: cookies untouched");
    }
    let api = b.get_json("/me").await;
    assert_eq!(
        api.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "API clients get 503, not 401"
    );

    store.down.store(false, Ordering::SeqCst);
    let r = b.get("/me").await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "recovers without a restart, still logged in"
    );
    assert_eq!(r.text().await.unwrap(), fixture::WUMPUS_ID);
}

/// A store that never answers costs a request the store timeout, then `503` with
/// `Retry-After` (K-05), the same bound as actix's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_hanging_store_gives_503_after_the_store_timeout() {
    let (b, store, _mock) = start_with(Duration::ZERO, Duration::from_millis(200)).await;
    b.login(None).await;
    store.hangs.store(true, Ordering::SeqCst);
    // Without the bound the request would never end: fail instead of hanging the suite.
    let r = tokio::time::timeout(Duration::from_secs(60), b.get_json("/me"))
        .await
        .expect("the request ends although the store never answers");
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "bounded by the store timeout"
    );
    assert!(r.headers().contains_key("retry-after"));
    store.hangs.store(false, Ordering::SeqCst);
    assert_eq!(b.get("/me").await.status(), StatusCode::OK, "still logged in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_sessions_survive_a_store_outage() {
    let (b, store, _mock) = start(Duration::from_secs(30)).await;
    b.login(None).await;
    assert_eq!(b.get("/me").await.status(), StatusCode::OK);
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(
        b.get("/me").await.status(),
        StatusCode::OK,
        "served from the in-process cache"
    );
    // A browser without a session cookie has nothing to load: the usual login redirect.
    let stranger = Browser::new(&b.site, &b.mock);
    let r = stranger.get("/me").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/auth/login?return_to="));
}

/// The same faults through the actix integration (`DiscordSessions`): where actix-session's
/// own middleware would answer an empty 500, these requests get 503 with `Retry-After`, an HTML
/// page or JSON as the client reads, the cookie untouched, and recover without a restart.
mod actix {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU8;

    use actix_web::HttpServer;
    use actix_web::cookie::Key;
    use discord_oauth_actix::actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
    use discord_oauth_actix::transport::ReqwestTransport;
    use discord_oauth_actix::{DiscordOAuth, MemoryStore};

    use super::*;

    const UP: u8 = 0;
    const DOWN: u8 = 1;
    const WRITES_FAIL: u8 = 2;
    const HANGS: u8 = 3;

    type State = HashMap<String, String>;

    /// The in-process `MemoryStore`, failing on demand.
    #[derive(Clone, Default)]
    struct FlakyStore {
        inner: MemoryStore,
        mode: Arc<AtomicU8>,
    }

    impl FlakyStore {
        fn set(&self, mode: u8) {
            self.mode.store(mode, Ordering::SeqCst);
        }

        async fn check(&self, write: bool) -> anyhow::Result<()> {
            match self.mode.load(Ordering::SeqCst) {
                DOWN => Err(anyhow::anyhow!("store is down (injected)")),
                WRITES_FAIL if write => Err(anyhow::anyhow!("store refuses writes (injected)")),
                HANGS => std::future::pending().await,
                _ => Ok(()),
            }
        }
    }

    impl SessionStore for FlakyStore {
        async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
            self.check(false).await.map_err(LoadError::Other)?;
            self.inner.load(key).await
        }

        async fn save(&self, state: State, ttl: &actix_web::cookie::time::Duration) -> Result<SessionKey, SaveError> {
            self.check(true).await.map_err(SaveError::Other)?;
            self.inner.save(state, ttl).await
        }

        async fn update(
            &self,
            key: SessionKey,
            state: State,
            ttl: &actix_web::cookie::time::Duration,
        ) -> Result<SessionKey, UpdateError> {
            self.check(true).await.map_err(UpdateError::Other)?;
            self.inner.update(key, state, ttl).await
        }

        async fn update_ttl(&self, key: &SessionKey, ttl: &actix_web::cookie::time::Duration) -> anyhow::Result<()> {
            self.check(true).await?;
            self.inner.update_ttl(key, ttl).await
        }

        async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
            self.check(true).await?;
            self.inner.delete(key).await
        }
    }

    /// The actix sample's app (as the test sites rebuild it) over a [`FlakyStore`], against the mock Discord.
    /// `fast_path`: the fast path's TTL (zero: every request reads the store).
    async fn start(store_timeout: Duration, fast_path: Duration) -> (Browser, FlakyStore, MockDiscord) {
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
        let discord = DiscordOAuth::builder(config, ReqwestTransport::new().unwrap())
            .store_timeout(store_timeout)
            .cache_ttl(fast_path)
            .cache_capacity(100)
            .build();
        let store = FlakyStore::default();
        let server = {
            let store = store.clone();
            let page = discord_oauth_test_sites::discord_page("actix");
            HttpServer::new(move || {
                let key = Key::from(&[7u8; 64]);
                discord_oauth_test_sites::actix::app(
                    discord.clone(),
                    store.clone(),
                    (key, Vec::new()),
                    page.clone(),
                    false,
                )
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run()
        };
        tokio::spawn(server);
        (Browser::new(&url, &mock.base_url()), store, mock)
    }

    fn content_type(r: &reqwest::Response) -> &str {
        r.headers()["content-type"].to_str().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn k05_actix_store_outage_gives_503_and_recovers() {
        let (b, store, _mock) = start(Duration::from_secs(2), Duration::ZERO).await;
        assert_eq!(location(&b.login(Some("/me")).await), "/me");
        let before = b.me().await.unwrap();

        store.set(DOWN);
        // Starting a login needs no store: the login in progress is in its own cookie.
        assert_eq!(b.get("/auth/login").await.status(), StatusCode::SEE_OTHER);
        for (path, html) in [("/me", true), ("/", true)] {
            let r = b.get(path).await;
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path} during the outage");
            assert_eq!(r.headers()["retry-after"], "5", "{path}");
            assert!(
                r.headers().get("location").is_none(),
                "{path}: no redirect (no login loop)"
            );
            assert!(r.headers().get("set-cookie").is_none(), "{path}: cookies untouched");
            let expected = if html { "text/html" } else { "text/plain" };
            assert!(content_type(&r).starts_with(expected), "{path}: {}", content_type(&r));
            assert!(r.text().await.unwrap().contains("try again"), "{path}");
        }
        let api = b.get_json("/me").await;
        assert_eq!(
            api.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "API clients get 503, not 401"
        );
        assert_eq!(content_type(&api), "application/json");
        let body: serde_json::Value = api.json().await.unwrap();
        assert_eq!(body["error"], "unavailable");

        store.set(UP);
        assert_eq!(
            b.me().await.unwrap(),
            before,
            "recovers without a restart, still logged in"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actix_store_refusing_writes_gives_503_not_the_handlers_answer() {
        let (b, store, mock) = start(Duration::from_secs(2), Duration::ZERO).await;
        b.login(None).await;
        store.set(WRITES_FAIL);
        // Reading works: a logged-in user is served.
        assert!(b.me().await.is_ok());
        // Completing a login writes the session after the handler: the redirect would promise
        // a session the store never kept, so the answer is 503 instead.
        let fresh = Browser::new(&b.url(""), &mock.base_url());
        let authorize = fresh.start_login(None).await;
        let callback = fresh.consent(&authorize).await;
        let r = fresh.get(&callback).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get("location").is_none());
        assert!(r.headers().contains_key("retry-after"));
        store.set(UP);
        assert_eq!(fresh.login(None).await.status(), StatusCode::SEE_OTHER);
        assert!(fresh.me().await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actix_hanging_store_gives_503_after_the_store_timeout() {
        let (b, store, _mock) = start(Duration::from_millis(200), Duration::ZERO).await;
        b.login(None).await;
        store.set(HANGS);
        let r = b.get_json("/me").await;
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "bounded by the store timeout"
        );
        assert!(r.headers().contains_key("retry-after"));
        store.set(UP);
        assert!(b.me().await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actix_remembered_sessions_survive_a_store_outage() {
        let (b, store, _mock) = start(Duration::from_secs(2), Duration::from_secs(30)).await;
        b.login(None).await;
        assert_eq!(b.get("/me").await.status(), StatusCode::OK);
        store.set(DOWN);
        assert_eq!(
            b.get("/me").await.status(),
            StatusCode::OK,
            "served by the fast path, which does not read the store"
        );
        // Anything that needs the store still gets 503: the same session with another Cookie
        // header is not remembered, so it is read from the store.
        let other_header = format!("{}; x=1", session_cookie_pair(&b.session_cookie().unwrap()));
        assert_eq!(
            me_status_with_cookie_header(&b.url(""), other_header).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        store.set(UP);
        assert!(b.me().await.is_ok());
    }
}
