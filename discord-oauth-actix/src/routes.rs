//! The three login routes: `GET /auth/login`, `GET /auth/callback`, `POST /auth/logout`.
//! What they answer is the core's login driver's; this
//! module reads and writes the actix session.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use actix_web::http::header::{COOKIE, HeaderValue, ORIGIN};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use discord_oauth_core::login::answer::{Refusal, Route};
use discord_oauth_core::login::driver::{RouteRequest, SessionIo};
use discord_oauth_core::login::revocation::Revocation;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::convert;
use crate::shared::{DiscordOAuth, Shared};
use crate::snapshot::LoginPart;

impl DiscordOAuth {
    /// Registers the login, callback and logout routes of the configuration, for
    /// [`actix_web::App::configure`]:
    ///
    /// ```no_run
    /// # let discord: discord_oauth_actix::DiscordOAuth = todo!();
    /// actix_web::App::new().configure(discord.routes());
    /// ```
    ///
    /// Every method reaches the handlers, so a wrong one gets `405` with `Allow`.
    ///
    /// Where in the `App`: actix-web tries resources in the order they were registered, so
    /// configuring these after the site's own routes spares every page request three path
    /// comparisons (about 750 instructions per request in the benchmark crate's count). Before
    /// them is only needed if an earlier route would match the login paths (a catch-all).
    pub fn routes(&self) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
        let shared = Arc::clone(&self.shared);
        move |cfg: &mut web::ServiceConfig| {
            let routes = shared.config().routes().clone();
            for (path, route) in [
                (routes.login, Route::Login),
                (routes.callback, Route::Callback),
                (routes.logout, Route::Logout),
            ] {
                let shared = Arc::clone(&shared);
                let exact: Arc<str> = Arc::from(path.as_str());
                cfg.service(web::resource(path).to(move |req: HttpRequest| {
                    let shared = Arc::clone(&shared);
                    let exact = Arc::clone(&exact);
                    async move {
                        // actix's router matches the percent-decoded path (`/auth/%63allback`
                        // reaches this resource); only the exact configured spelling is a login
                        // route (checklist B-21), as in the tower layer.
                        if req.path() != &*exact {
                            return HttpResponse::NotFound().finish();
                        }
                        serve(&shared, route, &req).await
                    }
                }));
            }
        }
    }
}

/// One login route: the driver's answer, converted.
async fn serve(shared: &Shared, route: Route, req: &HttpRequest) -> HttpResponse {
    let request = RouteRequest {
        method: req.method().as_str(),
        query: req.query_string(),
        origin: req.headers().get(ORIGIN).map(HeaderValue::as_bytes),
    };
    let cookies = req.headers().get_all(COOKIE).map(HeaderValue::as_bytes);
    if route == Route::Login {
        return convert::response(shared.driver.login(&request, cookies, &mut rand::rng(), shared.now()));
    }
    let Some(login) = req.extensions().get::<Arc<LoginPart>>().cloned() else {
        let message = "the login routes need DiscordOAuth::session_middleware() wrapped around them";
        return convert::response(Refusal::Misconfigured { message }.answer("/"));
    };
    let io = ActixSession { login: &login, shared };
    // Boxed: the callback's code exchange is a large future, and the handler's future (this
    // one included) is moved into actix-web's box on every login route request.
    convert::response(Box::pin(shared.driver.answer(&shared.io, &io, route, &request, cookies)).await)
}

/// The login's part of the session ([`LoginPart`]) for the driver. [`crate::DiscordSessions`]
/// reads the session once per request and writes it with the response, so every operation is
/// immediate and `reload` has nothing to re-read.
pub(crate) struct ActixSession<'a> {
    pub(crate) login: &'a LoginPart,
    pub(crate) shared: &'a Shared,
}

impl SessionIo for ActixSession<'_> {
    type Error = String;

    async fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, String> {
        let state = self.login.state();
        state
            .get(key)
            .map(|v| serde_json::from_str(v))
            .transpose()
            .map_err(|e| e.to_string())
    }

    async fn insert<V: Serialize + Sync>(&self, key: &str, value: &V) -> Result<(), String> {
        let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
        self.login.state().insert(key.to_owned(), value);
        self.login.changed.store(true, Relaxed);
        Ok(())
    }

    async fn cycle_id(&self) -> Result<(), String> {
        self.login.renewed.store(true, Relaxed);
        Ok(())
    }

    async fn purge(&self) -> Result<(), String> {
        self.login.state().clear();
        self.login.purged.store(true, Relaxed);
        Ok(())
    }

    async fn save(&self) -> Result<(), String> {
        Ok(())
    }

    async fn reload(&self) -> Result<bool, String> {
        Ok(false)
    }

    fn forget(&self, revocation: Option<&Revocation>) {
        // The fast path drops a cookie's entry when the session it carries changes; logins
        // ended by name leave it at once.
        if let Some(revocation) = revocation {
            self.shared.fast.forget(revocation);
        }
    }
}
