//! Anonymous visitors (no session cookie) skip the session layer, and their handlers still get
//! a working `tower_sessions::Session`: one they start is saved through the application's own
//! session layer (its private cookie, its expiry), one they leave alone stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use discord_oauth_axum::tower_sessions::Session;
use discord_oauth_axum::tower_sessions::cookie::Key;
use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, DiscordUser, LoginConfig, MemoryStore};
use http::{Request, StatusCode};
use tower::ServiceExt;

/// The application as `mount_with` (a `Router`) or `wrap_with` (one service) builds it.
type App = tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, std::convert::Infallible>;

/// The integration, offline: no request here reaches Discord.
fn oauth() -> DiscordOAuth {
    let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
        .client_secret("s")
        .build()
        .unwrap();
    let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
        Err::<http::Response<Vec<u8>>, _>("no network in this test")
    });
    DiscordOAuth::from_layer(DiscordOAuthLayer::builder(config, transport).build())
}

fn app(store: &MemoryStore, wrapped: bool) -> App {
    let oauth = oauth();
    let routes = Router::new()
        .route(
            "/page",
            get(|user: Option<DiscordUser>| async move { format!("anonymous: {}", user.is_none()) }),
        )
        .route(
            "/cart",
            get(|user: Option<DiscordUser>, s: Session| async move {
                let items = s.get::<u32>("items").await.unwrap().unwrap_or(0) + 1;
                s.insert("items", items).await.unwrap();
                format!("{} {items}", user.is_none())
            }),
        )
        .route(
            "/broken",
            get(|s: Session| async move {
                s.insert("items", 1).await.unwrap();
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        );
    let key = Key::from(&[7u8; 64]);
    if wrapped {
        App::new(oauth.wrap_with(routes, store.clone(), |s| s.with_private(key)))
    } else {
        App::new(oauth.mount_with(routes, store.clone(), |s| s.with_private(key)))
    }
}

async fn fetch(app: &App, uri: &str, cookie: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(uri);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let set_cookie = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, set_cookie, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn an_anonymous_visitor_gets_a_session_only_when_a_handler_starts_one() {
    for wrapped in [false, true] {
        visit(wrapped).await;
    }
}

async fn visit(wrapped: bool) {
    let store = MemoryStore::default();
    let app = app(&store, wrapped);
    for cookie in [None, Some("theme=dark; discord_oauthx=1")] {
        let (status, set_cookie, body) = fetch(&app, "/page", cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(set_cookie, None, "{cookie:?}: no session, no cookie");
        assert_eq!(body, "anonymous: true");
    }
    assert!(store.is_empty(), "anonymous pages store nothing");

    let (status, set_cookie, _) = fetch(&app, "/broken", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        set_cookie, None,
        "a server error saves nothing, as the session layer has it"
    );
    assert!(store.is_empty());

    let (status, set_cookie, body) = fetch(&app, "/cart", Some("theme=dark")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "true 1"));
    let sealed = set_cookie.expect("the handler started a session: its cookie is sent");
    assert!(sealed.starts_with("discord_oauth="), "{sealed}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(sealed.contains(attribute), "{attribute} in {sealed}");
    }
    let value = sealed.split(';').next().unwrap().trim_start_matches("discord_oauth=");
    assert!(
        value.len() > 40,
        "private (encrypted), as the session layer was configured: {value}"
    );
    assert_eq!(store.len(), 1, "saved once, in the application's store");

    let cookie = sealed.split(';').next().unwrap().to_owned();
    let (_, _, body) = fetch(&app, "/cart", Some(&cookie)).await;
    assert_eq!(body, "true 2", "the session came back through the session layer");
    assert_eq!(store.len(), 1, "the same session");
}

/// A store that refuses every write.
#[derive(Debug, Clone, Default)]
struct DownStore;

#[async_trait::async_trait]
impl discord_oauth_axum::tower_sessions::SessionStore for DownStore {
    async fn save(
        &self,
        _: &discord_oauth_axum::tower_sessions::session::Record,
    ) -> discord_oauth_axum::tower_sessions::session_store::Result<()> {
        Err(discord_oauth_axum::tower_sessions::session_store::Error::Backend(
            "the store is down (injected)".to_owned(),
        ))
    }

    async fn load(
        &self,
        _: &discord_oauth_axum::tower_sessions::session::Id,
    ) -> discord_oauth_axum::tower_sessions::session_store::Result<
        Option<discord_oauth_axum::tower_sessions::session::Record>,
    > {
        Ok(None)
    }

    async fn delete(
        &self,
        _: &discord_oauth_axum::tower_sessions::session::Id,
    ) -> discord_oauth_axum::tower_sessions::session_store::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_session_an_anonymous_handler_starts_is_a_503_when_the_store_is_down() {
    let oauth = oauth();
    let routes = Router::new().route("/page", get(|| async { "page" })).route(
        "/cart",
        get(|s: Session| async move {
            s.insert("items", 1).await.unwrap();
            "added"
        }),
    );
    for app in [
        App::new(oauth.wrap(routes.clone(), DownStore)),
        App::new(oauth.mount(routes.clone(), DownStore)),
    ] {
        let (status, _, _) = fetch(&app, "/page", None).await;
        assert_eq!(status, StatusCode::OK, "a page that starts no session needs no store");
        let (status, set_cookie, _) = fetch(&app, "/cart", None).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "not the handler's answer without its session"
        );
        assert_eq!(set_cookie, None, "no cookie for a session never stored");
    }
}
