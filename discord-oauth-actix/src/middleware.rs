//! [`DiscordAuth`]: loads the authenticated session of every request, refreshes its tokens
//! when they are about to expire (once per session, however many requests wait), and puts an
//! [`AuthState`] into the request extensions for the extractors and guards.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::{Arc, PoisonError};
#[cfg(feature = "redis")]
use std::time::Instant;

use actix_session::{Session, SessionExt as _};
use actix_web::HttpMessage as _;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use discord_oauth_core::login::AuthSession;
#[cfg(feature = "redis")]
use discord_oauth_core::login::answer;
#[cfg(feature = "redis")]
use discord_oauth_core::login::driver::RECENT_TTL;
use discord_oauth_core::login::driver::{Attached, refresh_key};
use discord_oauth_core::login::revocation::login_key;
use futures_util::future::LocalBoxFuture;

use crate::convert;
use crate::extract::AuthState;
use crate::fast::{Entry, Offer, Replay};
use crate::routes::ActixSession;
use crate::shared::{DiscordOAuth, Shared};

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
            if !served_fast && oauth.shared.config().route(req.path()).is_none() {
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
                    *offer.0.borrow_mut() = Entry::new(Arc::clone(&auth), &session.entries(), login_key(&auth));
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

/// The driver's decision for this request, refreshing under the refresh lock if needed.
async fn attach(oauth: &DiscordOAuth, session: &Session) -> Result<AuthState, http::Response<String>> {
    let shared = &oauth.shared;
    let io = ActixSession { session, shared };
    Ok(match shared.driver.attach(&shared.io, &io, None).await? {
        Attached::Anonymous => AuthState::anonymous(oauth.clone()),
        Attached::Unavailable => AuthState::unavailable(oauth.clone()),
        Attached::Authenticated(auth) => AuthState::authenticated(auth, oauth.clone()),
        Attached::NeedsRefresh(stale) => match refresh(shared, &io, stale).await? {
            Some(fresh) => AuthState::authenticated(fresh, oauth.clone()),
            None => AuthState::anonymous(oauth.clone()),
        },
    })
}

/// Refreshes once per refresh token at a time: requests carrying the same session wait for the
/// first one (a per-key mutex here, the Redis lock across instances) and get its outcome
/// (Discord's refresh tokens are single use, F-05).
async fn refresh(
    shared: &Shared,
    io: &ActixSession<'_>,
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
    #[cfg(feature = "redis")]
    let result = match &shared.redis_lock {
        Some(lock) if shared.driver.recent().get(&key, Instant::now()).is_none() => {
            refresh_shared(shared, lock, io, key, stale).await
        }
        _ => shared
            .driver
            .refresh_locked(&shared.io, io, stale, None)
            .await
            .map(|r| r.session),
    };
    #[cfg(not(feature = "redis"))]
    let result = shared
        .driver
        .refresh_locked(&shared.io, io, stale, None)
        .await
        .map(|r| r.session);
    drop(guard);
    {
        let mut locks = shared.refresh_locks.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.get(&key).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(&key);
        }
    }
    result
}

/// The refresh under the Redis lock: the outcome another instance published for this refresh
/// token is used as it is; an outcome of our own is published before the lock is released.
#[cfg(feature = "redis")]
async fn refresh_shared(
    shared: &Shared,
    lock: &crate::redis::RedisRefreshLock,
    io: &ActixSession<'_>,
    key: [u8; 32],
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
    let refreshed = match shared.driver.refresh_locked(&shared.io, io, stale, published).await {
        Ok(refreshed) => refreshed,
        Err(answer) => {
            guard.release(timeout).await;
            return Err(answer);
        }
    };
    if let Some(spent) = &refreshed.spent {
        let ttl = RECENT_TTL.max(shared.refresh_lease().saturating_mul(2));
        if let Err(e) = lock.publish(&key, spent, ttl, timeout).await {
            tracing::error!(error = %e, "could not publish the refreshed session; holding the refresh lock until its lease ends");
            guard.keep_until_lease_ends();
            return Ok(refreshed.session);
        }
    }
    guard.release(timeout).await;
    Ok(refreshed.session)
}

#[cfg(feature = "redis")]
fn lock_unavailable(e: &crate::redis::LockError) -> http::Response<String> {
    tracing::error!(error = %e, "refresh lock failed");
    answer::store_unavailable()
}
