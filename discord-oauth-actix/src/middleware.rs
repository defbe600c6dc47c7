//! [`DiscordAuth`]: loads the authenticated session of every request, refreshes its tokens
//! when they are about to expire (once per session, however many requests wait), and puts an
//! [`AuthState`] into the request extensions for the extractors and guards.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use actix_session::{Session, SessionExt as _};
use actix_web::HttpMessage as _;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use discord_oauth_core::login::flow::{RefreshOutcome, RefreshPlan, drive};
use discord_oauth_core::login::{AuthSession, IdleCheck, SessionStatus, answer};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::convert;
use crate::extract::AuthState;
use crate::fast::{Entry, Offer, Replay};
use crate::routes::{AUTH_KEY, SEEN_KEY, from_unix_seconds, unix_seconds};
use crate::sessions::SESSION_TTL;
use crate::shared::{DiscordOAuth, Recent, RefreshKey, Shared, TouchKey};

impl DiscordOAuth {
    /// The middleware that attaches the [`AuthState`] to every request. `.wrap()` it inside
    /// the session middleware ([`DiscordOAuth::session_middleware`]), i.e. before it.
    pub fn middleware(&self) -> DiscordAuth {
        DiscordAuth { oauth: self.clone() }
    }
}

/// The middleware built by [`DiscordOAuth::middleware`].
#[derive(Clone, Debug)]
pub struct DiscordAuth {
    oauth: DiscordOAuth,
}

impl<S, B> Transform<S, ServiceRequest> for DiscordAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = DiscordAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(DiscordAuthMiddleware {
            service: Rc::new(service),
            oauth: self.oauth.clone(),
        }))
    }
}

/// The service of [`DiscordAuth`].
pub struct DiscordAuthMiddleware<S> {
    service: Rc<S>,
    oauth: DiscordOAuth,
}

impl<S> fmt::Debug for DiscordAuthMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordAuthMiddleware")
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for DiscordAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The second pass of a request served by the fast path (see `crate::fast`): write
        // what the handler did to the session; the handler is not called again.
        let replay = req.extensions().get::<Rc<Replay>>().cloned();
        if let Some(replay) = replay {
            replay.apply(&req.get_session());
            let done = req.into_response(actix_web::HttpResponse::NoContent().finish());
            return Box::pin(ready(Ok(done.map_into_right_body())));
        }
        let service = Rc::clone(&self.service);
        let oauth = self.oauth.clone();
        Box::pin(async move {
            // Only `DiscordSessions`' fast path puts an `AuthState` (a valid login) here before
            // this middleware; then there is nothing to load.
            let served_fast = req.extensions().contains::<AuthState>();
            let offer = req.extensions().get::<Rc<Offer>>().cloned();
            // The login this request loaded, if any (not on the fast path).
            let mut auth = None;
            if !served_fast && oauth.shared.config.route(req.path()).is_none() {
                let session = req.get_session();
                // Boxed: the refresh it may run is a large future, and this block is moved into
                // a box on every request (the fast path's too).
                match Box::pin(attach(&oauth, &session)).await {
                    Ok(state) => {
                        auth = state.session().cloned();
                        req.extensions_mut().insert(state);
                    }
                    Err(answer) => {
                        return Ok(req.into_response(convert::response(answer)).map_into_right_body());
                    }
                }
            }
            let authenticated = served_fast || auth.is_some();
            let mut response = service.call(req).await?;
            if let (Some(offer), Some(auth)) = (offer, auth) {
                // Left unchanged by this request: requests with the same cookies can take the
                // fast path while the login stays valid.
                let session = response.request().get_session();
                if session.status() == actix_session::SessionStatus::Unchanged {
                    *offer.0.borrow_mut() = Entry::new(Arc::clone(&auth), &session.entries(), touch_key(&auth));
                }
            }
            // Pages served to a logged-in user are personal: keep them out of shared and
            // browser caches unless the handler chose a policy (checklist H-14).
            let headers = response.headers_mut();
            if authenticated && !headers.contains_key(CACHE_CONTROL) {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            }
            Ok(response.map_into_left_body())
        })
    }
}

/// Loads the authenticated session and refreshes it if needed. `Err` is an answer to send
/// instead of calling the handler.
async fn attach(oauth: &DiscordOAuth, session: &Session) -> Result<AuthState, http::Response<String>> {
    let shared = &oauth.shared;
    let auth = match session.get::<AuthSession>(AUTH_KEY) {
        Ok(Some(a)) => Arc::new(a),
        Ok(None) => return Ok(AuthState::anonymous(oauth.clone())),
        Err(e) => {
            tracing::error!(error = %e, "the stored session could not be read");
            return Ok(AuthState::unavailable(oauth.clone()));
        }
    };
    // A login that ended (a logout here or announced by another instance) is not served,
    // whatever copy of its session is presented (G-05: the cookie store cannot delete copies).
    if shared.revocations.is_revoked(&auth, std::time::Instant::now()) {
        tracing::info!(user_id = %auth.user.id, "a session of an ended login was presented; ending it");
        session.purge();
        return Ok(AuthState::anonymous(oauth.clone()));
    }
    // The idle timeout (H-09), enforced here because the cookie store keeps nothing
    // server-side: a copy of a cookie unused for longer stops working. A session in use is
    // marked active about once a day, which also re-sends the cookie with a fresh `Max-Age`.
    let now = shared.now();
    let seen = session.get::<u64>(SEEN_KEY).ok().flatten().map(from_unix_seconds);
    match shared.config.idle_check(seen, now) {
        IdleCheck::Expired => {
            tracing::info!(user_id = %auth.user.id, "session idle for too long; logging the user out");
            session.purge();
            return Ok(AuthState::anonymous(oauth.clone()));
        }
        IdleCheck::Touch => {
            if let Err(e) = session.insert(SEEN_KEY, unix_seconds(now)) {
                tracing::warn!(error = %e, "could not mark the session active");
            }
        }
        IdleCheck::Active => {}
    }
    match shared.config.session_status(&auth, now) {
        SessionStatus::Valid => {
            maintain(shared, session, &auth);
            Ok(AuthState::authenticated(auth, oauth.clone()))
        }
        SessionStatus::Ended => {
            session.purge();
            Ok(AuthState::anonymous(oauth.clone()))
        }
        SessionStatus::NeedsRefresh => Ok(match refresh(shared, session, auth).await? {
            Some(fresh) => AuthState::authenticated(fresh, oauth.clone()),
            None => AuthState::anonymous(oauth.clone()),
        }),
    }
}

/// Identifies a login's session for the idle-timeout bookkeeping and the fast path.
pub(crate) fn touch_key(auth: &AuthSession) -> TouchKey {
    discord_oauth_core::login::revocation::login_key(auth)
}

/// How often this process marks an active session changed, so that the store and the cookie
/// push its expiry [`SESSION_TTL`] further: about eight times per idle timeout.
pub(crate) const TOUCH_EVERY: Duration = Duration::from_secs(SESSION_TTL.as_secs() / 8);

/// Housekeeping on a logged-in session: marks the session changed about once a day per process ([`TOUCH_EVERY`]), so that actix-session
/// writes it with a new expiry and sends the cookie with a new `Max-Age`: the session TTL
/// then works as an idle timeout.
///
/// Skipped when the tokens are close to a refresh: a write of this (soon outdated) record must
/// not race with a refresh on another instance. The refresh writes the session anyway.
fn maintain(shared: &Shared, session: &Session, auth: &AuthSession) {
    let now = shared.now();
    let near_refresh = auth.tokens.as_ref().is_some_and(|t| {
        t.refresh_token.is_some() && t.expires_within(now, shared.config.refresh_skew().saturating_mul(2))
    });
    if near_refresh {
        return;
    }
    if shared.touch_due(touch_key(auth), TOUCH_EVERY) {
        let _ = session.insert(AUTH_KEY, auth);
    }
}

/// The single-flight key of a session's refresh: a digest of the refresh token about to be
/// spent. Every request carrying the same record (the same cookie, with the cookie store; the
/// same stored session, with Redis) shares it.
fn refresh_key(session: &AuthSession) -> Option<RefreshKey> {
    let rt = session.tokens.as_ref()?.refresh_token.as_ref()?;
    Some(Sha256::digest(rt.secret().as_bytes()).into())
}

/// Refreshes the session's tokens, once per refresh token at a time: concurrent requests wait
/// for the first one and reuse its result (Discord's refresh tokens are single use, F-05).
/// Within this process a mutex per refresh token does it; across instances, the shared lock
/// if one is configured ([`crate::DiscordOAuthBuilder::refresh_lock`]).
async fn refresh(
    shared: &Shared,
    session: &Session,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    let Some(key) = refresh_key(&stale) else {
        return Ok(Some(stale));
    };
    let lock = {
        let mut locks = shared.refresh_locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(key).or_default())
    };
    let guard = lock.lock().await;
    let result = refresh_locked(shared, session, key, stale).await;
    drop(guard);
    {
        let mut locks = shared.refresh_locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map and our clone hold it: nobody is waiting.
        if locks.get(&key).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(&key);
        }
    }
    result
}

/// The record a remembered refresh left (`None`: logged out).
fn current_after(recent: Recent) -> Option<Arc<AuthSession>> {
    match recent {
        Recent::Refreshed(fresh) => Some(fresh),
        Recent::LoggedOut => None,
    }
}

async fn refresh_locked(
    shared: &Shared,
    session: &Session,
    key: RefreshKey,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    // Another request of this process may have spent this refresh token while we waited.
    if let Some(recent) = shared.recent(&key) {
        return settle(shared, session, key, &stale, current_after(recent))
            .await
            .map(|(result, _)| result);
    }
    #[cfg(feature = "redis")]
    if let Some(lock) = &shared.redis_lock {
        return refresh_shared(shared, lock, session, key, stale).await;
    }
    settle(shared, session, key, &stale, Some(Arc::clone(&stale)))
        .await
        .map(|(result, _)| result)
}

/// The refresh under the shared (Redis) lock. actix-session loads a session once, before the
/// handler, and writes it after the response; it has no way to re-read the stored session
/// mid-request, and the winner's write lands only when its response is done. So the winner
/// *publishes* what became of the refresh token it spent (the new record, or "logged out")
/// under a digest of that token, before releasing the lock; whoever takes the lock next reads
/// that first and uses the fresher tokens instead of spending the rotated refresh token.
#[cfg(feature = "redis")]
async fn refresh_shared(
    shared: &Shared,
    lock: &crate::redis::RedisRefreshLock,
    session: &Session,
    key: RefreshKey,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    let timeout = shared.store_timeout();
    let guard = lock
        .acquire(&key, shared.refresh_lease(), timeout)
        .await
        .map_err(|e| lock_unavailable(&e))?;
    let published = match lock.outcome(&key, timeout).await {
        Ok(published) => published,
        Err(e) => {
            guard.release(timeout).await;
            return Err(lock_unavailable(&e));
        }
    };
    let current = match published {
        Some(recent) => {
            shared.remember(key, recent.clone());
            current_after(recent)
        }
        None => Some(Arc::clone(&stale)),
    };
    let (result, spent) = match settle(shared, session, key, &stale, current).await {
        Ok(settled) => settled,
        Err(answer) => {
            guard.release(timeout).await;
            return Err(answer);
        }
    };
    if let Some(spent) = spent {
        let ttl = crate::shared::RECENT_TTL.max(shared.refresh_lease().saturating_mul(2));
        if let Err(e) = lock.publish(&key, &spent, ttl, timeout).await {
            // The other instances must not spend the old refresh token: keep the lock until
            // its lease ends, so that they wait and answer 503 rather than log the user out.
            tracing::error!(error = %e, "could not publish the refreshed session; holding the refresh lock until its lease ends");
            guard.keep_until_lease_ends();
            return Ok(result);
        }
    }
    guard.release(timeout).await;
    Ok(result)
}

#[cfg(feature = "redis")]
fn lock_unavailable(e: &crate::redis::LockError) -> http::Response<String> {
    tracing::error!(error = %e, "refresh lock failed");
    answer::store_unavailable()
}

/// Refreshes if `current` (the record the store holds now, as far as this request can tell)
/// still needs it. Returns the record to use (`None`: logged out) and, if this request spent
/// the refresh token, what became of it (for the other instances).
async fn settle(
    shared: &Shared,
    session: &Session,
    key: RefreshKey,
    stale: &Arc<AuthSession>,
    current: Option<Arc<AuthSession>>,
) -> Result<(Option<Arc<AuthSession>>, Option<Recent>), http::Response<String>> {
    let flow = match shared.config.plan_refresh(stale, current.as_deref(), shared.now()) {
        RefreshPlan::Gone => {
            session.purge();
            return Ok((None, None));
        }
        RefreshPlan::UseCurrent { write_back } => {
            let Some(current) = current else {
                return Ok((None, None));
            };
            if write_back {
                // This request's session still holds the spent refresh token: replace it.
                session.insert(AUTH_KEY, current.as_ref()).map_err(|e| {
                    tracing::error!(error = %e, "session could not be written");
                    answer::store_unavailable()
                })?;
            }
            return Ok((Some(current), None));
        }
        RefreshPlan::Refresh(flow) => flow,
    };
    let outcome = drive(flow, shared)
        .instrument(tracing::info_span!("discord_oauth.refresh"))
        .await;
    match outcome {
        RefreshOutcome::Refreshed(next) => {
            if let Some(old) = stale.tokens.as_ref() {
                shared.api.invalidate_token(&old.access_token);
            }
            // The rotated refresh token goes into the session now; actix-session writes it
            // with this response. Requests still carrying the old one get this record (F-03).
            let next = Arc::new(next);
            let recent = Recent::Refreshed(Arc::clone(&next));
            shared.remember(key, recent.clone());
            session.insert(AUTH_KEY, next.as_ref()).map_err(|e| {
                tracing::error!(error = %e, "session could not be written");
                answer::store_unavailable()
            })?;
            let _ = shared.touch_due(touch_key(&next), TOUCH_EVERY);
            tracing::info!(user_id = %next.user.id, "tokens refreshed");
            Ok((Some(next), Some(recent)))
        }
        RefreshOutcome::LoggedOut { .. } => {
            tracing::info!(user_id = %stale.user.id, "refresh token rejected; logging the user out");
            shared.remember(key, Recent::LoggedOut);
            session.purge();
            Ok((None, Some(Recent::LoggedOut)))
        }
        RefreshOutcome::KeepOld { error } => {
            tracing::warn!(error = %error, "token refresh failed");
            Ok((current, None))
        }
        RefreshOutcome::Unavailable {
            error,
            retry_after,
            message,
        } => {
            tracing::warn!(error = %error, "token refresh failed");
            Err(answer::unavailable(message, retry_after))
        }
    }
}
