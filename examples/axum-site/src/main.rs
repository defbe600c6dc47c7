//! `cargo run -p axum-site`: "Log in with Discord" on axum, runnable with no credentials.
//!
//! Serves on `BIND` (default `127.0.0.1:3000`): `/` (a "Log in with Discord" button; logged in,
//! the avatar, names, guilds, "Log out" and "Log out of all devices"), `/me` (the user as JSON,
//! or `401`), the login routes `/auth/login?return_to=…`, `/auth/callback`,
//! `POST /auth/logout`, and with `DISCORD_PUBLIC_KEY` Discord's webhook events at
//! `POST /discord/events`. Without `DISCORD_CLIENT_ID` it logs in against the mock Discord,
//! started in-process (offline demo). Sessions: `SESSION_STORE=memory` (default) or `redis`.
//!
//! This file is the integration of `discord-oauth-axum`; the environment, the offline demo and
//! the page are the `sample-common` crate's, shared with the actix-web sample.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::process::ExitCode;

use axum::ServiceExt;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use discord_oauth_axum::core::login::revocation::channel_for;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    DiscordClient, DiscordOAuth, DiscordOAuthLayer, DiscordUser, MemoryStore, RedisBudget, RedisRefreshLock,
    RedisRevocations, SessionKeyRotationLayer,
};
use sample_common::redis::FredRedis;
use sample_common::{BoxError, Page, Sample, SessionStore};
use tower::util::option_layer;
use tower::{Layer as _, Service};
use tower_sessions::cookie::Key;
use tower_sessions_redis_store::RedisStore;

#[tokio::main]
async fn main() -> ExitCode {
    sample_common::run("axum", serve).await
}

/// The whole integration: the login layer around the site's routes, the session store.
async fn serve(sample: Sample) -> Result<(), BoxError> {
    let config = sample.login.clone().build()?;
    let (key, previous_keys) = sample.cookie_keys::<Key>()?;
    let layer = DiscordOAuthLayer::builder(config.clone(), ReqwestTransport::new()?).api(sample_common::api_config());
    // Outermost: cookies under a previous key are re-encrypted before the sessions read them.
    let rotation =
        (!previous_keys.is_empty()).then(|| SessionKeyRotationLayer::new(&config, key.clone(), previous_keys));
    tracing::info!("sessions are kept in {}", sample.session_store.redacted());
    match &sample.session_store {
        SessionStore::Memory => {
            let oauth = DiscordOAuth::from_layer(layer.build());
            let app = oauth.wrap_with(routes(&sample, &oauth), MemoryStore::default(), |s| s.with_private(key));
            listen(sample, option_layer(rotation).layer(app)).await
        }
        SessionStore::Redis { url } => {
            // Several instances share sessions, token refreshes, logouts and the
            // invalid-request budget through Redis.
            let redis = FredRedis::connect(url).await?;
            let channel = channel_for(config.client().client_id().as_str());
            let revocations = RedisRevocations::connect_to(redis.pool.clone(), redis.subscriber, &channel).await?;
            let layer = layer
                .refresh_lock(RedisRefreshLock::new(redis.client.clone()))
                .revocation_broadcast(revocations)
                .shared_budget(RedisBudget::new(redis.client.clone()));
            let oauth = DiscordOAuth::from_layer(layer.build());
            let store = RedisStore::new(redis.client);
            let app = oauth.wrap_with(routes(&sample, &oauth), store, |s| s.with_private(key));
            listen(sample, option_layer(rotation).layer(app)).await
        }
        SessionStore::Cookie => Err("SESSION_STORE=cookie: tower-sessions has no cookie store".into()),
    }
}

/// The site's pages, and Discord's webhook events when configured.
fn routes(sample: &Sample, oauth: &DiscordOAuth) -> Router {
    let routes = Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .with_state(sample.page.clone());
    match sample.events.clone() {
        Some(verifier) => routes.route(
            "/discord/events",
            oauth.events_receiver(verifier, sample_common::log_event),
        ),
        None => routes,
    }
}

/// Serves `app` on the sample's listener.
async fn listen<A>(sample: Sample, app: A) -> Result<(), BoxError>
where
    A: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    A::Future: Send,
{
    sample.listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(sample.listener)?;
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await?;
    Ok(())
}

/// `/`: the page for whoever is logged in (the guilds come through the library's client).
async fn home(State(page): State<Page>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> Response {
    let html = page
        .home(user.as_ref().map(|u| (u.user(), u.scopes())), client.as_ref())
        .await;
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// `/me`: the user as JSON, or `401`.
async fn me(State(page): State<Page>, user: Option<DiscordUser>) -> Response {
    match user {
        Some(user) => Json(page.me(&user, user.scopes())).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(sample_common::not_logged_in()),
        )
            .into_response(),
    }
}
