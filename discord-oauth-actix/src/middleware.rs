//! [`DiscordAuth`]: loads the authenticated session of every request, refreshes its tokens
//! when they are about to expire (once per session, however many requests wait), and puts an
//! [`AuthState`] into the request extensions for the extractors and guards.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::{Arc, PoisonError};

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
use crate::routes::{AUTH_KEY, SEEN_KEY, from_unix_seconds, unix_seconds};
use crate::shared::{DiscordOAuth, Recent, RefreshKey, Shared};

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
        let service = Rc::clone(&self.service);
        let oauth = self.oauth.clone();
        Box::pin(async move {
            let mut authenticated = false;
            if oauth.shared.config.route(req.path()).is_none() {
                let session = req.get_session();
                match attach(&oauth, &session).await {
                    Ok(state) => {
                        authenticated = state.session().is_some();
                        req.extensions_mut().insert(state);
                    }
                    Err(answer) => {
                        return Ok(req.into_response(convert::response(answer)).map_into_right_body());
                    }
                }
            }
            let mut response = service.call(req).await?;
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
            tracing::error!(error = %e, "session store failed");
            return Ok(AuthState::unavailable(oauth.clone()));
        }
    };
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
        SessionStatus::Valid => Ok(AuthState::authenticated(auth, oauth.clone())),
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

/// The single-flight key of a session's refresh: a digest of the refresh token about to be
/// spent. Every request carrying the same record (the same cookie, with the cookie store)
/// shares it.
fn refresh_key(session: &AuthSession) -> Option<RefreshKey> {
    let rt = session.tokens.as_ref()?.refresh_token.as_ref()?;
    Some(Sha256::digest(rt.secret().as_bytes()).into())
}

/// Refreshes the session's tokens, once per refresh token at a time: concurrent requests wait
/// for the first one and reuse its result (Discord's refresh tokens are single use, F-05).
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

async fn refresh_locked(
    shared: &Shared,
    session: &Session,
    key: RefreshKey,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    // Another request may have spent this refresh token while we waited for the lock.
    let current = match shared.recent(&key) {
        Some(Recent::Refreshed(fresh)) => Some(fresh),
        Some(Recent::LoggedOut) => None,
        None => Some(Arc::clone(&stale)),
    };
    let flow = match shared.config.plan_refresh(&stale, current.as_deref(), shared.now()) {
        RefreshPlan::Gone => {
            session.purge();
            return Ok(None);
        }
        RefreshPlan::UseCurrent { write_back } => {
            let Some(current) = current else { return Ok(None) };
            if write_back {
                // This request's cookie still holds the spent refresh token: replace it.
                session.insert(AUTH_KEY, current.as_ref()).map_err(|e| {
                    tracing::error!(error = %e, "session store failed");
                    answer::store_unavailable()
                })?;
            }
            return Ok(Some(current));
        }
        RefreshPlan::Refresh(flow) => flow,
    };
    let outcome = drive(flow, shared)
        .instrument(tracing::info_span!("discord_oauth.refresh"))
        .await;
    match outcome {
        RefreshOutcome::Refreshed(next) => {
            // The rotated refresh token goes into the session now; actix-session writes it
            // with this response. Requests still carrying the old one get this record (F-03).
            let next = Arc::new(next);
            shared.remember(key, Recent::Refreshed(Arc::clone(&next)));
            session.insert(AUTH_KEY, next.as_ref()).map_err(|e| {
                tracing::error!(error = %e, "session store failed");
                answer::store_unavailable()
            })?;
            tracing::info!(user_id = %next.user.id, "tokens refreshed");
            Ok(Some(next))
        }
        RefreshOutcome::LoggedOut { .. } => {
            tracing::info!(user_id = %stale.user.id, "refresh token rejected; logging the user out");
            shared.remember(key, Recent::LoggedOut);
            session.purge();
            Ok(None)
        }
        RefreshOutcome::KeepOld { error } => {
            tracing::warn!(error = %error, "token refresh failed");
            Ok(current)
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
