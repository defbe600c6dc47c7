//! Anonymous logins store nothing: `DiscordOAuth::mount` over a `MemoryStore` the test keeps a
//! clone of, driven with `oneshot` (the transport is never reached by `/auth/login`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, LoginConfig, MemoryStore};
use http::{Request, StatusCode};
use tower::ServiceExt;

#[tokio::test]
async fn a_flood_of_anonymous_logins_leaves_the_store_empty() {
    let config = LoginConfig::builder("1100000000000000001", "http://127.0.0.1:3000/auth/callback")
        .client_secret("s")
        .build()
        .unwrap();
    let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
        Err::<http::Response<Vec<u8>>, _>("no network in this test")
    });
    let oauth = DiscordOAuth::from_layer(DiscordOAuthLayer::builder(config, transport).build());
    let store = MemoryStore::default();
    let app = oauth.mount(Router::new().route("/", get(|| async { "home" })), store.clone());
    let long = format!("%2F{}", "a".repeat(497));
    for n in 0..1_000 {
        let req = Request::get(format!("/auth/login?return_to={long}&n={n}"))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies.len(), 1);
        assert!(cookies[0].to_str().unwrap().starts_with("discord_oauth_login."));
    }
    assert_eq!(store.usage(), (0, 0), "nothing was stored for 1,000 anonymous logins");
    // Anonymous page views store nothing either.
    let resp = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(store.is_empty());
}
