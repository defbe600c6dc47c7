//! The three login routes: `GET /auth/login`, `GET /auth/callback`, `POST /auth/logout`.
//! What they decide comes from the core ([`LoginConfig`] and its flows and answers); this
//! module reads and writes the actix session.

use std::sync::Arc;

use actix_session::{Session, SessionExt as _};
use actix_web::http::header::{COOKIE, ORIGIN};
use actix_web::{HttpRequest, HttpResponse, web};
use discord_oauth_core::login::answer::{self, Route};
use discord_oauth_core::login::flow::{CallbackFlow, RevokeFlow, drive};
use discord_oauth_core::login::revocation::Revocation;
use discord_oauth_core::login::{AuthSession, LoginError};
use tracing::Instrument as _;

use crate::convert;
use crate::shared::{DiscordOAuth, Shared};

/// Session key of the authenticated session record.
pub(crate) const AUTH_KEY: &str = "discord_oauth.auth";
/// Session key of when the session was last marked active (Unix seconds), for the idle
/// timeout (checklist H-09).
pub(crate) const SEEN_KEY: &str = "discord_oauth.seen";

pub(crate) fn unix_seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn from_unix_seconds(secs: u64) -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs))
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
}

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
    pub fn routes(&self) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
        let shared = Arc::clone(&self.shared);
        move |cfg: &mut web::ServiceConfig| {
            let routes = shared.config.routes().clone();
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

async fn serve(shared: &Shared, route: Route, req: &HttpRequest) -> HttpResponse {
    if let Err(r) = route.check_method(req.method().as_str()) {
        return convert::response(r);
    }
    let session = req.get_session();
    let cookies = req
        .headers()
        .get_all(COOKIE)
        .map(actix_web::http::header::HeaderValue::as_bytes);
    let answer = match route {
        // The pending login goes into its own sealed cookie: nothing is stored.
        Route::Login => shared
            .config
            .login_answer(req.query_string(), cookies, &mut rand::rng(), shared.now()),
        Route::Callback => {
            callback(shared, &session, req.query_string(), cookies)
                .instrument(tracing::info_span!("discord_oauth.callback"))
                .await
        }
        Route::Logout => {
            let origin = req
                .headers()
                .get(ORIGIN)
                .map(actix_web::http::header::HeaderValue::as_bytes);
            match shared.config.check_logout_origin(origin) {
                Err(r) => r,
                Ok(()) => {
                    logout(shared, &session, req.query_string())
                        .instrument(tracing::info_span!("discord_oauth.logout"))
                        .await
                }
            }
        }
    };
    convert::response(answer)
}

fn store_unavailable(e: &dyn std::fmt::Display) -> http::Response<String> {
    tracing::error!(error = %e, "session store failed");
    answer::store_unavailable()
}

fn login_error_page(shared: &Shared, e: &LoginError) -> http::Response<String> {
    if e.status() >= 500 {
        tracing::warn!(error = %e, "login failed");
    } else {
        tracing::info!(error = %e, "login refused");
    }
    shared.config.login_error_answer(e)
}

fn log_revocation(result: Result<(), String>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "token revocation failed; the session was still ended");
    }
}

async fn callback<'a>(
    shared: &Shared,
    session: &Session,
    query: &str,
    cookies: impl IntoIterator<Item = &'a [u8]>,
) -> http::Response<String> {
    let start = shared
        .config
        .callback_start(query, cookies, &shared.consumed, shared.now());
    let answer = match start.result {
        Err(e) => login_error_page(shared, &e),
        Ok((exchange, return_to)) => complete_login(shared, session, exchange, return_to).await,
    };
    start.clear.finish(answer)
}

async fn complete_login(
    shared: &Shared,
    session: &Session,
    exchange: discord_oauth_core::CodeExchange,
    return_to: discord_oauth_core::ReturnTo,
) -> http::Response<String> {
    let outcome = drive(CallbackFlow::new(&shared.config, exchange, return_to), shared).await;
    if let Some(revocation) = outcome.revocation {
        log_revocation(revocation);
    }
    let mut done = match outcome.result {
        Ok(done) => done,
        Err(e) => return login_error_page(shared, &e),
    };
    shared.revocations.admit(&mut done.session, std::time::Instant::now());
    // A new session at login (H-05): a fixated or leaked pre-login session becomes useless,
    // and the fast path forgets the cookies of a login it held.
    if let Ok(Some(before)) = session.get::<AuthSession>(AUTH_KEY) {
        shared.fast.forget(&Revocation::of_login(&before));
    }
    session.renew();
    if let Err(e) = session.insert(AUTH_KEY, &done.session) {
        return store_unavailable(&e);
    }
    // Just written: the idle-timeout bookkeeping starts now.
    let _ = shared.touch_due(
        crate::middleware::touch_key(&done.session),
        crate::middleware::TOUCH_EVERY,
    );
    if let Err(e) = session.insert(SEEN_KEY, unix_seconds(shared.now())) {
        return store_unavailable(&e);
    }
    tracing::info!(user_id = %done.session.user.id, "user logged in");
    answer::redirect(done.return_to.as_str())
}

async fn logout(shared: &Shared, session: &Session, query: &str) -> http::Response<String> {
    let auth: Option<AuthSession> = match session.get(AUTH_KEY) {
        Ok(a) => a,
        Err(e) => return store_unavailable(&e),
    };
    // The login ends here before anything slow happens: no copy of its cookie is served by
    // this instance from now on (not even one the store still holds until this answer is
    // written, nor a cookie-store copy), and the other instances are told.
    session.purge();
    if let Some(a) = &auth {
        shared.revoke(Revocation::at_logout(a, query, shared.now())).await;
        if let Some(tokens) = &a.tokens {
            shared.api.invalidate_token(&tokens.access_token);
        }
    }
    // Then the grant is revoked at Discord (G-04), however long that takes.
    if let Some(tokens) = auth.as_ref().and_then(|a| a.tokens.as_ref()) {
        log_revocation(drive(RevokeFlow::new(&shared.config, tokens), shared).await);
    }
    if let Some(a) = &auth {
        tracing::info!(user_id = %a.user.id, "user logged out");
    }
    answer::redirect(shared.config.post_logout_redirect().as_str())
}
