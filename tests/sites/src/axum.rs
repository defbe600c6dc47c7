//! The axum sample's application with the test [`Switches`].

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::ServiceExt;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use discord_oauth_axum::core::events::EventVerifier;
use discord_oauth_axum::core::login::revocation::channel_for;
use discord_oauth_axum::tower_sessions::cookie::SameSite;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    DiscordApp, DiscordClient, DiscordOAuth, DiscordOAuthLayer, DiscordUser, MemoryStore, RedisRefreshLock,
    RedisRevocations, SessionKeyRotationLayer,
};
use discord_oauth_mock::MockDiscord;
use fred::interfaces::ClientLike as _;
use sample_common::redis::FredRedis;
use tower::util::{BoxCloneSyncService, option_layer};
use tower::{Layer as _, Service};
use tower_sessions::SessionStore as Store;
use tower_sessions::cookie::Key;
use tower_sessions::service::PrivateCookie;
use tower_sessions_redis_store::RedisStore;

use crate::{BoxError, Page, SessionStore, Settings, Switches};

/// A running axum test site.
#[derive(Debug)]
pub struct Site {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its origin as browsers see it.
    pub origin: String,
    /// The in-process mock Discord, in offline mode.
    pub mock: Option<MockDiscord>,
    redis: Option<FredRedis>,
    app: App,
    task: tokio::task::JoinHandle<()>,
}

/// The served application, boxed (the stores' types differ), for requests made in-process.
pub type App = BoxCloneSyncService<Request, Response, Infallible>;

impl Site {
    /// The site's base URL.
    pub fn url(&self) -> String {
        self.origin.clone()
    }

    /// The application being served, for requests made in-process: a clone shares the served
    /// one's sessions, cache and login state (one boxed call more than the served one).
    pub fn app(&self) -> App {
        self.app.clone()
    }

    /// Stops the server (and closes its Redis connections).
    pub fn stop(&self) {
        self.task.abort();
        if let Some(redis) = self.redis.clone() {
            tokio::spawn(async move {
                let _ = redis.pool.quit().await;
            });
        }
    }
}

/// Starts the axum site with `settings` and `switches`, serving in the background.
pub async fn start(settings: Settings, switches: &Switches) -> Result<Site, BoxError> {
    let sample = crate::prepare(settings, switches, "axum").await?;
    let config = sample.login.clone().build()?;
    let (key, previous_keys) = sample.cookie_keys::<Key>()?;
    let mut layer = DiscordOAuthLayer::builder(config.clone(), ReqwestTransport::new()?)
        .timeout(switches.timeout)
        .max_concurrent_requests(switches.max_concurrent_requests)
        .api(sample_common::api_config());
    if let Some(ttl) = switches.cache_ttl {
        layer = layer.cache_ttl(ttl);
    }
    if let Some(clock) = switches.clock.clone() {
        layer = layer.clock(clock);
    }
    let rotation =
        (!previous_keys.is_empty()).then(|| SessionKeyRotationLayer::new(&config, key.clone(), previous_keys));
    let site = Parts {
        page: sample.page.clone(),
        events: sample.events.clone(),
        key,
        strict_cookies: switches.strict_cookies,
    };
    sample.listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(sample.listener)?;
    let addr = listener.local_addr()?;
    let (app, task, redis) = if let SessionStore::Redis { url } = &sample.session_store {
        let redis = FredRedis::connect(url).await?;
        if switches.shared_refresh_lock {
            layer = layer.refresh_lock(RedisRefreshLock::new(redis.client.clone()));
        }
        let channel = channel_for(config.client().client_id().as_str());
        let revocations = RedisRevocations::connect_to(redis.pool.clone(), redis.subscriber.clone(), &channel).await?;
        let oauth = DiscordOAuth::from_layer(layer.revocation_broadcast(revocations).build());
        let app = option_layer(rotation).layer(site.app(&oauth, RedisStore::new(redis.client.clone())));
        (App::new(app.clone()), spawn(listener, app), Some(redis))
    } else {
        // tower-sessions has no cookie store: `Cookie` is the in-process store too.
        let oauth = DiscordOAuth::from_layer(layer.build());
        let app = option_layer(rotation).layer(site.app(&oauth, MemoryStore::default()));
        (App::new(app.clone()), spawn(listener, app), None)
    };
    Ok(Site {
        addr,
        origin: sample.origin,
        mock: sample.mock,
        redis,
        app,
        task,
    })
}

/// Serves `app` on `listener` in the background.
fn spawn<A>(listener: tokio::net::TcpListener, app: A) -> tokio::task::JoinHandle<()>
where
    A: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    A::Future: Send,
{
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

/// What the sample's application is made of, apart from the login layer and the store.
struct Parts {
    page: Page,
    events: Option<EventVerifier>,
    key: Key,
    strict_cookies: bool,
}

impl Parts {
    /// The sample's routes wrapped by the login layer (`DiscordOAuth::wrap_with`), sessions in
    /// `store`, the cookie encrypted with the key (and `SameSite=Strict` with
    /// `strict_cookies`).
    fn app<S: Store + Clone>(&self, oauth: &DiscordOAuth, store: S) -> DiscordApp<S, PrivateCookie> {
        let routes = Router::new()
            .route("/", get(home))
            .route("/me", get(me))
            .with_state(self.page.clone());
        let routes = match self.events.clone() {
            Some(verifier) => routes.route(
                "/discord/events",
                oauth.events_receiver(verifier, sample_common::log_event),
            ),
            None => routes,
        };
        let same_site = if self.strict_cookies {
            SameSite::Strict
        } else {
            SameSite::Lax
        };
        let key = self.key.clone();
        oauth.wrap_with(routes, store, move |sessions| {
            sessions.with_same_site(same_site).with_private(key)
        })
    }
}

async fn home(State(page): State<Page>, user: Option<DiscordUser>, client: Option<DiscordClient>) -> Response {
    let user = user.as_ref().map(|u| (u.user(), u.scopes()));
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(page.home(user, client.as_ref()).await),
    )
        .into_response()
}

async fn me(State(page): State<Page>, user: Option<DiscordUser>) -> Response {
    let Some(user) = user else {
        let unauthorized = (StatusCode::UNAUTHORIZED, Json(sample_common::not_logged_in()));
        return ([(header::CACHE_CONTROL, "no-store")], unauthorized).into_response();
    };
    Json(page.me(&user, user.scopes())).into_response()
}
