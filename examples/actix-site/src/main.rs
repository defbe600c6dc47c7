//! `cargo run -p actix-site`: "Log in with Discord" on actix-web, runnable with no credentials.
//!
//! The same site as the axum sample, on `BIND` (default `127.0.0.1:3000`): `/`, `/me`, the
//! login routes `/auth/login?return_to=…`, `/auth/callback`, `POST /auth/logout`, and with
//! `DISCORD_PUBLIC_KEY` `POST /discord/events`; offline (no `DISCORD_CLIENT_ID`) against the
//! mock Discord started in-process. Sessions: `SESSION_STORE=memory` (default: in this
//! process, the cookie holds only a random key, so logout ends every copy), `redis` (shared by
//! every instance, with token refreshes single-flight and logouts announced across them) or
//! `cookie` (the whole session in the encrypted cookie, nothing server-side; but a copy of the
//! cookie cannot be deleted: this process refuses a logged-out cookie's copies, another
//! instance, or this one after a restart, accepts them until they expire).
//!
//! This file is the integration of `discord-oauth-actix`; the environment, the offline demo and
//! the page are the `sample-common` crate's, shared with the axum sample.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use discord_oauth_actix::actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore as Store};
use discord_oauth_actix::core::login::revocation::channel_for;
use discord_oauth_actix::transport::ReqwestTransport;
use discord_oauth_actix::{
    DiscordClient, DiscordOAuth, DiscordUser, MemoryStore, RedisBudget, RedisRefreshLock, RedisRevocations,
};
use sample_common::redis::REDIS_TIMEOUT;
use sample_common::{BoxError, Page, Sample, SessionStore};

#[tokio::main]
async fn main() -> ExitCode {
    sample_common::run("actix", serve).await
}

/// The login integration, with the session store `SESSION_STORE` asks for.
async fn serve(sample: Sample) -> Result<(), BoxError> {
    let config = sample.login.clone().build()?;
    let channel = channel_for(config.client().client_id().as_str());
    let builder = DiscordOAuth::builder(config, ReqwestTransport::new()?)
        .store_timeout(REDIS_TIMEOUT)
        .api(sample_common::api_config());
    match &sample.session_store {
        SessionStore::Memory => {
            let store = MemoryStore::default(); // one store for every worker
            serve_with(&sample, builder.build(), move || store.clone()).await
        }
        SessionStore::Cookie => serve_with(&sample, builder.build(), CookieSessionStore::default).await,
        SessionStore::Redis { url } => {
            // Several instances share sessions, token refreshes, logouts and the
            // invalid-request budget through Redis.
            let pool = sample_common::redis::deadpool(url).await?;
            let builder = builder
                .refresh_lock(RedisRefreshLock::new(pool.clone()))
                .revocation_broadcast(RedisRevocations::connect_to(pool.clone(), url, &channel).await?)
                .shared_budget(RedisBudget::new(pool.clone()));
            let store = RedisSessionStore::new_pooled(pool).await?;
            serve_with(&sample, builder.build(), move || store.clone()).await
        }
    }
}

/// The site's routes, the login routes and middleware, and the sessions, in `store()`.
async fn serve_with<S: Store + 'static>(
    sample: &Sample,
    discord: DiscordOAuth,
    store: impl Fn() -> S + Clone + Send + 'static,
) -> Result<(), BoxError> {
    tracing::info!("sessions are kept in {}", sample.session_store.redacted());
    let (key, previous_keys) = sample.cookie_keys::<Key>()?;
    let (page, events) = (web::Data::new(sample.page.clone()), sample.events.clone());
    HttpServer::new(move || {
        let mut app = App::new()
            .app_data(page.clone())
            .route("/", web::get().to(home))
            .route("/me", web::get().to(me))
            // After the site's own routes: actix-web tries resources in the order they were
            // registered, so the pages are found without testing the login routes first.
            .configure(discord.routes());
        if let Some(verifier) = events.clone() {
            app = app.configure(discord.events_receiver("/discord/events", verifier, sample_common::log_event));
        }
        let previous = previous_keys.clone();
        app.wrap(discord.session_middleware_with(store(), key.clone(), |c| c.previous_keys(previous)))
    })
    .workers(2)
    .disable_signals()
    .listen(sample.listener.try_clone()?)?
    .run()
    .await?;
    Ok(())
}

/// `/`: the page for whoever is logged in (the guilds come through the library's client).
async fn home(page: web::Data<Page>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> HttpResponse {
    let html = page
        .home(user.as_ref().map(|u| (u.user(), u.scopes())), client.as_ref())
        .await;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// `/me`: the user as JSON, or `401`.
async fn me(page: web::Data<Page>, user: Option<DiscordUser>) -> HttpResponse {
    match user {
        Some(user) => HttpResponse::Ok().json(page.me(user.user(), user.scopes())),
        None => HttpResponse::Unauthorized()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(sample_common::not_logged_in()),
    }
}
