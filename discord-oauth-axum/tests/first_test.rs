//! A fresh app's login with Discord, tested against the mock.
use axum::{Json, Router, body::Body, http::Request, routing::get};
use discord_oauth_axum::{DiscordOAuth, DiscordUser, MemoryStore};
use discord_oauth_mock::{MockDiscord, fixture};
use tower::ServiceExt as _;

async fn me(user: DiscordUser) -> Json<discord_oauth_axum::core::api::User> {
    Json(user.user().clone())
}

#[tokio::test]
async fn logs_in_with_discord() -> Result<(), Box<dyn std::error::Error>> {
    let discord = MockDiscord::start().await?;
    let config = discord.login_config("http://127.0.0.1:3000/auth/callback")?.build()?;
    let app = DiscordOAuth::new(config)?.mount(Router::new().route("/me", get(me)), MemoryStore::default());
    let cookie = discord.log_in(&app, "/auth/login", fixture::WUMPUS_ID).await?;
    let request = Request::get("/me").header("cookie", cookie.as_str());
    let response = app.oneshot(request.body(Body::empty())?).await?;
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let user: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(user["id"], fixture::WUMPUS_ID);
    Ok(())
}
