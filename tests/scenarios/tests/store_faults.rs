//! Session-store faults (checklist K-05, H-15) through the tower layer: a store that fails on
//! demand. Protected requests get 503 with `Retry-After` — never "logged out", never a
//! redirect loop, cookies untouched — and everything recovers when the store does, without a
//! restart. With the in-process cache on (the default), a user already seen keeps being served
//! during an outage.
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
use discord_oauth_core::Endpoints;
use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_scenarios::{Browser, location};
use reqwest::StatusCode;

#[derive(Debug, Clone, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
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
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .endpoints(Endpoints::new(mock.authorize_url().parse().unwrap(), mock.api_base().parse().unwrap()).unwrap())
        .build()
        .unwrap();
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .cache_ttl(cache_ttl)
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
    for path in ["/me", "/auth/login"] {
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
