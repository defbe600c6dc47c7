//! The session store's `create` contract (checklist H-07), seen through the tower layer: a new
//! session whose random id collides with a stored one must get another id or fail, never
//! overwrite the stored session. The test store proposes the same id for every new session,
//! so every login after the first collides; the users must still each see their own account.
//! Run against tower-sessions' `MemoryStore` (which picks another id) and, with
//! `redis-server` installed, `tower-sessions-redis-store`'s `RedisStore` (which, as built
//! here, fails the colliding `create`: its `SET NX` answer is read as a bool, and fred reads
//! the "not set" answer as one only with its `default-nil-types` feature; the request gets
//! the store-error 503, and nothing is overwritten).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use discord_oauth_axum::tower_sessions::MemoryStore;
use discord_oauth_axum::tower_sessions::session::{Id, Record};
use discord_oauth_axum::tower_sessions::session_store::{self, SessionStore};
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, DiscordUser, LoginConfig};
use discord_oauth_mock::{MockDiscord, MockUser, fixture};
use discord_oauth_scenarios::Browser;
use discord_oauth_scenarios::redis::RedisServer;
use reqwest::StatusCode;

/// The id every new session is first given.
const FIXED: Id = Id(0x5eed_5eed_5eed_5eed_5eed_5eed_5eed_5eed);

/// Proposes [`FIXED`] for every new session, then defers to the real store, which must notice
/// the collision.
#[derive(Debug, Clone)]
struct Colliding<S> {
    inner: S,
    collisions: Arc<AtomicUsize>,
}

#[async_trait]
impl<S: SessionStore + Clone> SessionStore for Colliding<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        record.id = FIXED;
        if self.inner.load(&FIXED).await?.is_some() {
            self.collisions.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}

async fn me(user: DiscordUser) -> String {
    user.id.to_string()
}

const OTHER_ID: &str = "700000000000000077";

/// Three users log in one after the other on a store whose new ids always collide. With
/// `regenerates`, every login must succeed; otherwise a colliding one may fail with 503.
async fn colliding_ids_never_overwrite<S: SessionStore + Clone>(store: S, regenerates: bool) {
    let mock = MockDiscord::builder()
        .auto_consent(true)
        .user(MockUser::new(OTHER_ID, "other"))
        .start()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .unwrap();
    let config = LoginConfig::builder(fixture::CLIENT_ID, format!("{url}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .discord_base(&mock.base_url())
        .build()
        .unwrap();
    // No session cache: every request reads the store.
    let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
        .cache_ttl(std::time::Duration::ZERO)
        .build();
    let store = Colliding {
        inner: store,
        collisions: Arc::default(),
    };
    let oauth = DiscordOAuth::from_layer(layer);
    let app = oauth.mount(Router::new().route("/me", get(me)), store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut logged_in = Vec::new();
    for user in [fixture::WUMPUS_ID, OTHER_ID, fixture::WUMPUS_ID] {
        let b = Browser::new(&url, &mock.base_url());
        b.discord_user(user).await;
        let start = b.get("/auth/login").await;
        if start.status() == StatusCode::SERVICE_UNAVAILABLE && !regenerates && !logged_in.is_empty() {
            assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
            continue;
        }
        assert_eq!(start.status(), StatusCode::SEE_OTHER, "{user}");
        let callback = b.consent(&discord_oauth_scenarios::location(&start)).await;
        let done = b.get(&callback).await;
        if done.status() == StatusCode::SERVICE_UNAVAILABLE && !regenerates && !logged_in.is_empty() {
            assert_eq!(b.get_json("/me").await.status(), StatusCode::UNAUTHORIZED);
            continue;
        }
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{user}");
        logged_in.push((b, user));
    }
    assert!(
        store.collisions.load(Ordering::SeqCst) >= 2,
        "the test store made ids collide"
    );
    if regenerates {
        assert_eq!(logged_in.len(), 3);
    }
    let mut cookies = Vec::new();
    for (b, user) in &logged_in {
        let r = b.get("/me").await;
        assert_eq!(r.status(), StatusCode::OK, "{user}");
        assert_eq!(r.text().await.unwrap(), *user, "each browser still has its own session");
        cookies.push(b.session_cookie().unwrap());
    }
    let sessions = cookies.len();
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), sessions, "distinct sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h07_memory_store_create_never_overwrites_a_session() {
    colliding_ids_never_overwrite(MemoryStore::default(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h07_redis_store_create_never_overwrites_a_session() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let client = redis.client().await;
    colliding_ids_never_overwrite(tower_sessions_redis_store::RedisStore::new(client), false).await;
}
