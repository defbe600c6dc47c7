//! [`DiscordSessions`]: the one middleware of the actix integration (sessions, the login state
//! of every request, refresh, the fast path).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actix_session::storage::{LoadError, SessionKey, SessionStore};
use actix_session::{SessionExt as _, SessionStatus};
use actix_web::Error;
use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use discord_oauth_core::fast_index::{cookie_key, names_cookie};
use discord_oauth_core::login::answer::{self, Refusal, Route};
use discord_oauth_core::login::driver::Attached;
use futures_util::future::LocalBoxFuture;

use crate::convert;
use crate::extract::{AuthState, wants_html_parts};
use crate::fast::{Entry, FastIndex};
use crate::middleware::attach;
use crate::shared::DiscordOAuth;
use crate::snapshot::{Change, LoginPart, Snapshot};

impl DiscordOAuth {
    /// The middleware of the integration: sessions in `store`, the session cookie encrypted
    /// with `key`, and the [`AuthState`] of every request. `.wrap()` it once, around
    /// everything (the login routes included):
    ///
    /// ```no_run
    /// # let (discord, key): (discord_oauth_actix::DiscordOAuth, actix_web::cookie::Key) = todo!();
    /// use discord_oauth_actix::MemoryStore;
    /// let store = MemoryStore::default(); // clone it into every worker: they share the sessions
    /// actix_web::App::new()
    ///     .configure(discord.routes())
    ///     .wrap(discord.session_middleware(store.clone(), key.clone()));
    /// ```
    ///
    /// The session cookie, as Discord login needs it:
    /// - `SameSite=Lax`: the cookie must come back on Discord's top-level redirect to the
    ///   callback (`Strict` would drop it and every login would fail);
    /// - `HttpOnly`, `Path=/`, no `Domain`;
    /// - `Secure` and the `__Host-` name prefix when the redirect URI is https
    ///   ([`discord_oauth_core::login::LoginConfig::secure_cookies`]);
    /// - the cookie and the stored session expire the idle timeout
    ///   ([`LoginConfig::idle_timeout`](discord_oauth_core::login::LoginConfig::idle_timeout),
    ///   7 days) after the last change; an active session is marked changed about once a day;
    /// - private (encrypted and authenticated) content with `key`: at least 64 bytes of key
    ///   material, kept secret, the same on every instance.
    pub fn session_middleware<S: SessionStore>(&self, store: S, key: Key) -> DiscordSessions<S> {
        self.session_middleware_with(store, key, |cookie| cookie)
    }

    /// [`DiscordOAuth::session_middleware`] with a setting of the session cookie changed.
    ///
    /// # Security
    /// Every default there has a reason; in particular `SameSite=Strict` breaks every login
    /// (the cookie is not sent on Discord's redirect back to the callback).
    pub fn session_middleware_with<S: SessionStore>(
        &self,
        store: S,
        key: Key,
        customize: impl FnOnce(SessionCookie) -> SessionCookie,
    ) -> DiscordSessions<S> {
        let config = self.config();
        let mut cookie = Cookie::new(self.session_cookie_name(), "");
        cookie.set_secure(config.secure_cookies());
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_path("/");
        let ttl = CookieDuration::try_from(config.idle_timeout()).unwrap_or(CookieDuration::WEEK);
        let custom = customize(SessionCookie {
            cookie,
            previous: Vec::new(),
        });
        DiscordSessions(Rc::new(Sessions {
            store,
            key,
            previous: custom.previous,
            cookie: custom.cookie,
            ttl,
            oauth: self.clone(),
        }))
    }

    /// [`DiscordOAuth::session_middleware`] with actix-session's cookie store: the whole
    /// session (user and tokens) lives in one encrypted cookie, kept under 4 KiB (the user
    /// record is compact). Nothing to run server-side, and any number of instances sharing the
    /// key can read it; but a copied cookie cannot be deleted: after a logout, the instances
    /// that know of it (this one, and those that hear its revocation broadcast) refuse it
    /// until they restart, the others accept it until it expires. Use a server-side store
    /// ([`crate::MemoryStore`], Redis with feature `redis`) when that matters.
    ///
    /// # Security
    /// `key` encrypts the tokens in the cookie: at least 64 bytes of key material, kept
    /// secret, the same on every instance.
    #[cfg(feature = "cookie-session")]
    pub fn cookie_session(&self, key: Key) -> DiscordSessions<actix_session::storage::CookieSessionStore> {
        self.session_middleware(actix_session::storage::CookieSessionStore::default(), key)
    }
}

/// The session cookie's settings, for [`DiscordOAuth::session_middleware_with`].
#[derive(Clone)]
pub struct SessionCookie {
    cookie: Cookie<'static>,
    previous: Vec<Key>,
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookie")
            .field("cookie", &self.cookie)
            .field("previous_keys", &self.previous.len())
            .finish()
    }
}

impl SessionCookie {
    /// Keys the session cookie may still be encrypted with, while a key rotation is under
    /// way: a cookie that opens with one of them is accepted, and the browser gets a cookie
    /// under the current key with the session's next change (a login, a refresh, or the mark
    /// of activity written about once a day). Keep them for the idle timeout (7 days by
    /// default), then drop them: every session still alive has moved to the current key by
    /// then. Rotating by just changing the key logs everybody out at once.
    ///
    /// ```no_run
    /// # let (discord, store): (discord_oauth_actix::DiscordOAuth, discord_oauth_actix::MemoryStore) = todo!();
    /// use actix_web::cookie::Key;
    /// let (current, previous) = (Key::generate(), Key::generate()); // from configuration
    /// actix_web::App::new()
    ///     .configure(discord.routes())
    ///     .wrap(discord.session_middleware_with(store, current, |c| c.previous_keys([previous])));
    /// ```
    pub fn previous_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.previous.extend(keys);
        self
    }

    /// The cookie's `SameSite` attribute (default `Lax`).
    ///
    /// # Security
    /// `Strict` breaks every login: the cookie is not sent on Discord's redirect back to the
    /// callback. `None` sends it on every cross-site request.
    pub fn cookie_same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.set_same_site(same_site);
        self
    }
}

/// The middleware of the integration, built by [`DiscordOAuth::session_middleware`] (or
/// [`DiscordOAuth::session_middleware_with`], [`DiscordOAuth::cookie_session`]). Build it in the
/// `HttpServer::new` closure: one per worker, over clones of one store.
///
/// It does what actix-session's `SessionMiddleware` does (the session cookie, loading and
/// saving through any [`SessionStore`], handlers' [`actix_session::Session`]) and, in the same
/// pass, what Discord login needs around it. The login is kept in the same stored session but
/// beside the handlers' `Session`, which holds only the application's own keys: read the login
/// with the extractors ([`crate::DiscordUser`], [`AuthState`]); `Session::purge()` ends the
/// whole session, the login included, while `clear()` and `remove()` touch only the
/// application's keys (log out with `POST /auth/logout`). Per request:
/// 1. `GET /auth/login` goes straight to its route: it reads and writes no session (the login
///    in progress goes into its own cookie), so it never waits for nor fails with the store.
/// 2. The session is the remembered one ([`crate::fast`]) if this `Cookie` header was seen
///    logged in lately and its login is valid now; none if the request carries no session
///    cookie (an anonymous visitor: nothing is read, and the handler's future is polled in
///    place); else the store's, for the key the private (encrypted) session cookie holds. A
///    store error, or no answer within [`crate::DiscordOAuthBuilder::store_timeout`], is a
///    `503` with `Retry-After` (an HTML page for a page load, JSON for API clients, plain text
///    on the login routes), the cookie left alone: whether anyone is logged in is unknown, so
///    nobody is treated as anonymous, and no handler runs (so `Option<DiscordUser>` never sees
///    a failed store).
/// 3. Outside the login routes the login driver decides
///    ([`discord_oauth_core::login::driver`]): anonymous, logged in, ended, or refreshed first
///    (once per session); the [`AuthState`] goes into the request extensions for the
///    extractors and guards.
/// 4. After the handler, a changed session is written as actix-session writes it: updated in
///    place (only while it is still in the store: a logout elsewhere stays a logout), saved
///    under a new key when renewed, deleted with its cookie when purged or emptied. A store
///    failure there replaces the handler's answer with the `503` (the answer would promise a
///    session the store never kept). An unchanged session of a logged-in user is remembered
///    for the fast path; a changed one is forgotten there. Responses to logged-in users get
///    `Cache-Control: private, no-store` unless the handler set a policy.
///
/// Responses come out as [`BoxBody`]: the middleware answers some requests itself (`503`), and
/// boxing the handlers' bodies costs nothing when they are already boxed (an `App`'s are),
/// where an `EitherBody` would wrap every body and every poll of it.
pub struct DiscordSessions<S>(Rc<Sessions<S>>);

struct Sessions<S> {
    store: S,
    key: Key,
    /// Keys of a rotation under way ([`SessionCookie::previous_keys`]).
    previous: Vec<Key>,
    /// Name and attributes of the session cookie.
    cookie: Cookie<'static>,
    ttl: CookieDuration,
    oauth: DiscordOAuth,
}

impl<S> fmt::Debug for DiscordSessions<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSessions")
            .field("cookie", &self.0.cookie.name())
            .field("oauth", &self.0.oauth)
            .finish_non_exhaustive()
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for DiscordSessions<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = DiscordSessionsService<Svc, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(DiscordSessionsService {
            service: Rc::new(service),
            sessions: Rc::clone(&self.0),
        }))
    }
}

/// The service of [`DiscordSessions`].
pub struct DiscordSessionsService<Svc, S> {
    service: Rc<Svc>,
    sessions: Rc<Sessions<S>>,
}

impl<Svc, S> fmt::Debug for DiscordSessionsService<Svc, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSessionsService").finish_non_exhaustive()
    }
}

impl<Svc, B, S> Service<ServiceRequest> for DiscordSessionsService<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = SessionsFuture<Svc::Future, S>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (oauth, shared) = (&self.sessions.oauth, &self.sessions.oauth.shared);
        let route = shared.config().route(req.path());
        let cookies = req.headers().get_all(COOKIE);
        let served = if route.is_some() {
            None
        } else if let Some(entry) = cookie_key(cookies.clone().map(HeaderValue::as_bytes))
            .and_then(|key| shared.fast.serve(key, || shared.now()))
        {
            // The fast path: a remembered login, valid now.
            entry.snapshot.fill(&req);
            let state = AuthState::new(Attached::Authenticated(Arc::clone(&entry.auth)), oauth.clone());
            req.extensions_mut().insert(state.remembered(Arc::clone(&entry)));
            Some(Some(entry))
        } else if !names_cookie(cookies.map(HeaderValue::as_bytes), self.sessions.cookie.name()) {
            // No session cookie: anonymous, with nothing to read, refresh or remember.
            req.extensions_mut()
                .insert(AuthState::new(Attached::Anonymous, oauth.clone()));
            Some(None)
        } else {
            None
        };
        let Some(entry) = served else {
            let future = serve(Rc::clone(&self.service), Rc::clone(&self.sessions), req, route);
            return SessionsFuture {
                state: State::Other {
                    future: Box::pin(future),
                },
            };
        };
        // The handler's future is polled in place, not boxed.
        SessionsFuture {
            state: State::Fast {
                call: self.service.call(req),
                served: Some((entry, Rc::clone(&self.sessions))),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`DiscordSessionsService`]: a request on the fast path, or of an
    /// anonymous visitor (no session cookie), polls the handler's future in place; the normal
    /// path, and writing a change a handler made to the session, are boxed.
    pub struct SessionsFuture<F, S> {
        #[pin]
        state: State<F, S>,
    }
}

pin_project_lite::pin_project! {
    #[project = SessionsProj]
    enum State<F, S> {
        /// On the fast path or anonymous: the handler's future, and the remembered entry it was
        /// served from (none for an anonymous visitor).
        Fast {
            #[pin]
            call: F,
            served: Option<(Option<Arc<Entry>>, Rc<Sessions<S>>)>,
        },
        /// The normal path, or a change being written.
        Other {
            future: LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, Error>>,
        },
    }
}

impl<F, S> fmt::Debug for SessionsFuture<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsFuture").finish_non_exhaustive()
    }
}

impl<F, B, S> Future for SessionsFuture<F, S>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Output = Result<ServiceResponse<BoxBody>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (res, (entry, this)) = match self.as_mut().project().state.project() {
            SessionsProj::Other { future } => return future.as_mut().poll(cx),
            SessionsProj::Fast { call, served } => {
                let res = ready!(call.poll(cx))?;
                // Polled again after it completed: a contract violation; never completes again.
                let Some(served) = served.take() else {
                    return Poll::Pending;
                };
                (res, served)
            }
        };
        let session = res.request().get_session();
        let change = match &entry {
            // A `DiscordClient` that refreshed the remembered login after a `401` left its
            // login part.
            Some(entry) => {
                let login = res.request().extensions().get::<Arc<LoginPart>>().cloned();
                entry.snapshot.change(&session, login.as_deref())
            }
            // An anonymous visitor's: written only if the handler started a session.
            None if session.status() == SessionStatus::Unchanged => None,
            None => Snapshot::default().change(&session, None),
        };
        let authenticated = entry.is_some();
        let Some((change, state)) = change else {
            return Poll::Ready(boxed(personal(res, authenticated)));
        };
        let future = async move {
            let key = entry.as_ref().and_then(|e| e.snapshot.key.as_deref());
            let res = write_change(&this, key, res, None, change, state).await?;
            Ok(personal(res, authenticated))
        };
        self.as_mut().project().state.set(State::Other {
            future: Box::pin(future),
        });
        self.poll(cx)
    }
}

/// The store failed (logged where it happened).
struct StoreFailed;

/// One request on the normal path (see [`DiscordSessions`]): the session read from the store.
async fn serve<Svc, B, S>(
    service: Rc<Svc>,
    this: Rc<Sessions<S>>,
    req: ServiceRequest,
    route: Option<Route>,
) -> Result<ServiceResponse<BoxBody>, Error>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
    S: SessionStore,
{
    let oauth = &this.oauth;
    let shared = &oauth.shared;
    if route == Some(Route::Login) {
        return boxed(service.call(req).await?);
    }
    let epoch = shared.fast.epoch();
    let snapshot = match Box::pin(this.load(&req)).await {
        Ok(snapshot) => snapshot,
        Err(StoreFailed) => return Ok(unavailable(req, route)),
    };
    // The driver reads and writes the login here (the routes, `attach`).
    let login = Arc::new(LoginPart::new(&snapshot.login));
    req.extensions_mut().insert(Arc::clone(&login));
    snapshot.fill(&req);
    let mut auth = None;
    if route.is_none() {
        // Boxed: the refresh it may run is a large future.
        match Box::pin(attach(oauth, &login)).await {
            Ok(state) if state.is_store_unavailable() => return Ok(unavailable(req, route)),
            Ok(state) => {
                auth = state.session().cloned();
                req.extensions_mut().insert(state);
            }
            Err(answer) => return Ok(req.into_response(convert::response(answer))),
        }
    }
    let res = service.call(req).await?;
    let header = || FastIndex::key(res.request().headers());
    let res = match snapshot.change(&res.request().get_session(), Some(&login)) {
        None => {
            if let (Some(auth), Some(header)) = (&auth, header()) {
                let now = shared.now();
                shared
                    .fast
                    .remember(header, snapshot, Arc::clone(auth), epoch, now, shared.config());
            }
            boxed(res)?
        }
        Some((change, state)) => {
            Box::pin(write_change(&this, snapshot.key.as_deref(), res, route, change, state)).await?
        }
    };
    Ok(personal(res, auth.is_some()))
}

/// Writes what a request changed in its session, stored under `key` if it was (and forgets
/// the `Cookie` header it was remembered under): the response with the new cookie, or `503`
/// if the store failed.
async fn write_change<B: MessageBody + 'static, S: SessionStore>(
    this: &Sessions<S>,
    key: Option<&str>,
    mut res: ServiceResponse<B>,
    route: Option<Route>,
    change: Change,
    state: HashMap<String, String>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(header) = FastIndex::key(res.request().headers()) {
        this.oauth.shared.fast.remove(header);
    }
    match this.write(key, change, state).await {
        Ok(Some(cookie)) => res.response_mut().headers_mut().append(SET_COOKIE, cookie),
        Ok(None) => {}
        Err(StoreFailed) => {
            let answer = unavailable_answer(route, res.request().method(), res.request().headers());
            let (request, _) = res.into_parts();
            return Ok(ServiceResponse::new(request, convert::response(answer)));
        }
    }
    boxed(res)
}

/// `res` with a boxed body. An `App`'s responses have one already (`B` is `BoxBody`): those
/// are passed as they are, without the move of every part of the response that
/// `map_into_boxed_body` makes (about 50 instructions on the fast path). The `Err` cannot
/// happen (the response is taken once); it is there so that no code here can panic.
fn boxed<B: MessageBody + 'static>(res: ServiceResponse<B>) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut slot = Some(res);
    let taken = match (&mut slot as &mut dyn Any).downcast_mut::<Option<ServiceResponse<BoxBody>>>() {
        Some(boxed_already) => boxed_already.take(),
        None => slot.take().map(ServiceResponse::map_into_boxed_body),
    };
    taken.ok_or_else(|| actix_web::error::ErrorInternalServerError("the response was taken twice"))
}

/// Pages served to a logged-in user are personal: keep them out of shared and browser caches
/// unless the handler chose a policy (checklist H-14).
fn personal<B>(mut res: ServiceResponse<B>, authenticated: bool) -> ServiceResponse<B> {
    if authenticated && !res.headers().contains_key(CACHE_CONTROL) {
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    res
}

impl<S: SessionStore> Sessions<S> {
    /// Bounds a store operation by the store timeout; failures are logged.
    async fn bounded<T, E: fmt::Display>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreFailed> {
        match tokio::time::timeout(self.oauth.shared.store_timeout(), future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::error!(error = %e, operation, "session store failed");
                Err(StoreFailed)
            }
            Err(_) => {
                tracing::error!(operation, "session store did not answer within the store timeout");
                Err(StoreFailed)
            }
        }
    }

    /// The session the request's cookie names: empty without a valid cookie, or when the store
    /// no longer has it.
    async fn load(&self, req: &ServiceRequest) -> Result<Snapshot, StoreFailed> {
        let Some(key) = self.session_key(req) else {
            return Ok(Snapshot::default());
        };
        match self.read(&key).await? {
            Some(state) => Ok(Snapshot::new(key.into(), state)),
            None => Ok(Snapshot::default()),
        }
    }

    /// The store's state for `key`; an unreadable record is an empty one, as actix-session has it.
    async fn read(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, StoreFailed> {
        let load = async {
            match self.store.load(key).await {
                Err(LoadError::Deserialization(e)) => {
                    tracing::warn!(error = %e, "unreadable session state; starting an empty session");
                    Ok(Some(HashMap::new()))
                }
                other => other,
            }
        };
        self.bounded("load", load).await
    }

    /// The session key in the request's session cookie, if it opens with the key (or a
    /// previous one).
    fn session_key(&self, req: &ServiceRequest) -> Option<SessionKey> {
        let cookie = req.cookie(self.cookie.name())?;
        let open = |key: &Key| CookieJar::new().private(key).decrypt(cookie.clone());
        let Some(opened) = open(&self.key).or_else(|| self.previous.iter().find_map(open)) else {
            tracing::warn!("the session cookie does not open with the session key; ignoring it");
            return None;
        };
        SessionKey::try_from(opened.value().to_owned()).ok()
    }

    /// Writes a change to the store; the `Set-Cookie` to send with it, if any.
    async fn write(
        &self,
        key: Option<&str>,
        change: Change,
        state: HashMap<String, String>,
    ) -> Result<Option<HeaderValue>, StoreFailed> {
        let key = key.and_then(|k| SessionKey::try_from(k.to_owned()).ok());
        let ttl = &self.ttl;
        let written = match (change, key) {
            (Change::Purge, None) => return Ok(None),
            (Change::Purge, Some(key)) => {
                self.bounded("delete", self.store.delete(&key)).await?;
                let mut removal = self.cookie.clone();
                removal.make_removal();
                return Ok(HeaderValue::from_str(&removal.to_string()).ok());
            }
            (Change::Write { renew: true }, Some(key)) => {
                self.bounded("delete", self.store.delete(&key)).await?;
                self.bounded("save", self.store.save(state, ttl)).await?
            }
            (Change::Write { .. }, Some(key)) => {
                // Only what is still there: a logout elsewhere, or an expiry while this request
                // ran, must stay one (the stores would save it anew). A deletion between this
                // read and the write can still be overwritten: the window is one round trip.
                if self.read(&key).await?.is_none() {
                    tracing::info!("the session ended while this request ran; its changes are dropped");
                    return Ok(None);
                }
                self.bounded("update", self.store.update(key, state, ttl)).await?
            }
            (Change::Write { .. }, None) => self.bounded("save", self.store.save(state, ttl)).await?,
        };
        let mut cookie = self.cookie.clone();
        cookie.set_value(String::from(written));
        cookie.set_max_age(self.ttl);
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        Ok(jar
            .delta()
            .next()
            .and_then(|sealed| HeaderValue::from_str(&sealed.encoded().to_string()).ok()))
    }
}

/// The `503` for a request whose session store failed, instead of the handler's answer.
fn unavailable(req: ServiceRequest, route: Option<Route>) -> ServiceResponse<BoxBody> {
    let answer = unavailable_answer(route, req.method(), req.headers());
    req.into_response(convert::response(answer))
}

/// `503` with `Retry-After: 5`: plain text on the login routes (as `discord-oauth-tower`
/// answers there), an HTML page for a browser page load, JSON for API clients.
fn unavailable_answer(route: Option<Route>, method: &Method, headers: &HeaderMap) -> http::Response<String> {
    if route.is_some() {
        return answer::store_unavailable();
    }
    if !wants_html_parts(method, headers) {
        return Refusal::StoreUnavailable.answer("/");
    }
    let message = "Sessions are unavailable right now; try again shortly.";
    let mut page = answer::html_page(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        message,
        "/",
    );
    page.headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
    page
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderName;

    use super::*;

    #[actix_web::test]
    async fn responses_are_boxed_once_whatever_their_body() {
        use actix_web::HttpResponse;
        use actix_web::test::TestRequest;
        let boxed_already =
            TestRequest::default().to_srv_response(HttpResponse::Ok().body("kept").map_into_boxed_body());
        let plain: ServiceResponse<String> =
            TestRequest::default().to_srv_response(HttpResponse::Ok().message_body("mapped".to_owned()).unwrap());
        for (res, body) in [(boxed(boxed_already), "kept"), (boxed(plain), "mapped")] {
            let res = res.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(actix_web::body::to_bytes(res.into_body()).await.unwrap(), body);
        }
    }

    #[test]
    fn store_failures_answer_503_in_the_shape_the_client_reads() {
        let page = [("accept", "text/html")];
        for (route, headers, content_type) in [
            (Some(Route::Callback), &page[..], "text/plain; charset=utf-8"),
            (None, &page[..], "text/html; charset=utf-8"),
            (None, &[("accept", "application/json")][..], "application/json"),
        ] {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
            }
            let r = unavailable_answer(route, &Method::GET, &map);
            assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE, "{content_type}");
            assert_eq!(r.headers()["retry-after"], "5", "{content_type}");
            assert_eq!(r.headers()["content-type"], content_type);
            assert!(r.body().contains("try again"), "{content_type}: {}", r.body());
        }
    }
}
