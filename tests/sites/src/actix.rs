//! The actix-web sample's application with the test [`Switches`].

use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use discord_oauth_actix::actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore as Store};
use discord_oauth_actix::core::login::revocation::channel_for;
use discord_oauth_actix::deadpool_redis::Pool;
use discord_oauth_actix::transport::ReqwestTransport;
use discord_oauth_actix::{
    DEFAULT_FAST_PATH_TTL, DiscordClient, DiscordOAuth, DiscordUser, MemoryStore, RedisRefreshLock, RedisRevocations,
};
use discord_oauth_mock::MockDiscord;
use sample_common::redis::REDIS_TIMEOUT;

use crate::{BoxError, Page, Sample, SessionStore, Settings, Switches};

/// A running actix-web test site.
#[derive(Debug)]
pub struct Site {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its origin as browsers see it.
    pub origin: String,
    /// The in-process mock Discord, in offline mode.
    pub mock: Option<MockDiscord>,
    handle: ServerHandle,
    redis: Option<Pool>,
}

impl Site {
    /// The site's base URL.
    pub fn url(&self) -> String {
        self.origin.clone()
    }

    /// Stops the server (without waiting for open connections) and closes its Redis
    /// connections.
    pub fn stop(&self) {
        drop(self.handle.stop(false));
        if let Some(pool) = &self.redis {
            pool.close();
        }
    }
}

/// Starts the actix-web site with `settings` and `switches`, serving in the background.
pub async fn start(settings: Settings, switches: &Switches) -> Result<Site, BoxError> {
    let sample = crate::prepare(settings, switches, "actix").await?;
    let config = sample.login.clone().build()?;
    let channel = channel_for(config.client().client_id().as_str());
    let mut builder = DiscordOAuth::builder(config, ReqwestTransport::new()?)
        .timeout(switches.timeout)
        .store_timeout(REDIS_TIMEOUT)
        .max_concurrent_requests(switches.max_concurrent_requests)
        .cache_ttl(switches.cache_ttl.unwrap_or(DEFAULT_FAST_PATH_TTL))
        .api(sample_common::api_config());
    if let Some(clock) = switches.clock.clone() {
        builder = builder.clock(clock);
    }
    let (handle, redis) = match &sample.session_store {
        SessionStore::Memory => {
            let store = MemoryStore::default();
            (serve(&sample, switches, builder.build(), move || store.clone())?, None)
        }
        SessionStore::Cookie => (
            serve(&sample, switches, builder.build(), CookieSessionStore::default)?,
            None,
        ),
        SessionStore::Redis { url } => {
            let pool = sample_common::redis::deadpool(url).await?;
            if switches.shared_refresh_lock {
                builder = builder.refresh_lock(RedisRefreshLock::new(pool.clone()));
            }
            builder = builder.revocation_broadcast(RedisRevocations::connect_to(pool.clone(), url, &channel).await?);
            let store = RedisSessionStore::new_pooled(pool.clone()).await?;
            (
                serve(&sample, switches, builder.build(), move || store.clone())?,
                Some(pool),
            )
        }
    };
    Ok(Site {
        addr: sample.listener.local_addr()?,
        origin: sample.origin,
        mock: sample.mock,
        handle,
        redis,
    })
}

/// Serves `discord`'s site in the background with sessions in `store()` (one per worker).
fn serve<S: Store + 'static>(
    sample: &Sample,
    switches: &Switches,
    discord: DiscordOAuth,
    store: impl Fn() -> S + Clone + Send + 'static,
) -> Result<ServerHandle, BoxError> {
    let (key, previous_keys) = sample.cookie_keys::<Key>()?;
    let (page, events, strict) = (sample.page.clone(), sample.events.clone(), switches.strict_cookies);
    let server = HttpServer::new(move || {
        let mut app = app(
            discord.clone(),
            store(),
            (key.clone(), previous_keys.clone()),
            page.clone(),
            strict,
        );
        if let Some(verifier) = events.clone() {
            app = app.configure(discord.events_receiver("/discord/events", verifier, sample_common::log_event));
        }
        app
    })
    .workers(switches.workers.max(1))
    .disable_signals()
    .listen(sample.listener.try_clone()?)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(handle)
}

/// The sample's routes, the login routes, the login middleware and the sessions (in `store`,
/// the cookie encrypted with `keys.0` and accepted under the previous `keys.1`, and
/// `SameSite=Strict` with `strict_cookies`).
pub fn app<S: Store + 'static>(
    discord: DiscordOAuth,
    store: S,
    (key, previous_keys): (Key, Vec<Key>),
    page: Page,
    strict_cookies: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let same_site = if strict_cookies {
        SameSite::Strict
    } else {
        SameSite::Lax
    };
    App::new()
        .app_data(web::Data::new(page))
        .route("/", web::get().to(home))
        .route("/me", web::get().to(me))
        .configure(discord.routes())
        .wrap(discord.session_middleware_with(store, key, |c| {
            c.cookie_same_site(same_site).previous_keys(previous_keys)
        }))
}

async fn home(page: web::Data<Page>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> HttpResponse {
    let user = user.as_ref().map(|u| (u.user(), u.scopes()));
    let html = page.home(user, client.as_ref()).await;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response.content_type("text/html; charset=utf-8").body(html)
}

async fn me(page: web::Data<Page>, user: Option<DiscordUser>) -> HttpResponse {
    let Some(user) = user else {
        let mut response = HttpResponse::Unauthorized();
        return response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(sample_common::not_logged_in());
    };
    HttpResponse::Ok().json(page.me(user.user(), user.scopes()))
}
