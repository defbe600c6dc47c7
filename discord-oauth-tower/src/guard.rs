//! Guards: require membership of a guild, or a role in a guild, before the inner service runs.
//!
//! Built from the login layer ([`crate::DiscordOAuthLayer::require_guild`],
//! [`crate::DiscordOAuthLayer::require_role`]) and added inside it, on the routes to protect.
//!
//! - Membership is checked with `GET /users/@me/guilds/{guild}/member` when the
//!   `guilds.members.read` scope was granted (needed for roles), else with
//!   `GET /users/@me/guilds` (`guilds` scope).
//! - Answers are cached per user and guild for 60 s (bounded), so a guarded page does not call
//!   Discord on every request.
//! - Not logged in: like the extractors, `303` to login for browser page loads, `401` JSON
//!   otherwise. Logged in but not allowed: `403` (HTML page or JSON). Discord unavailable:
//!   `503` with `Retry-After`; the user is never let in on an error.
//! - IDs are compared as snowflakes, never by name (checklist J-06).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use discord_oauth_core::api::{self, GuildsQuery};
use discord_oauth_core::login::LoginError;
use discord_oauth_core::{ApiError, Scope};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::AuthState;
use crate::service::{ResponseFuture, Shared, call_api, html_page};
use crate::transport::Transport;

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_CAPACITY: usize = 10_000;

/// What a guard requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Requirement {
    pub(crate) guild_id: u64,
    pub(crate) role_id: Option<u64>,
}

/// A layer that lets a request through only for members of a guild (optionally with a role).
pub struct RequireGuildLayer<T> {
    shared: Arc<Shared<T>>,
    requirement: Requirement,
    cache: Arc<Mutex<DecisionCache>>,
}

/// (user id, requirement) → (allowed, when decided).
type DecisionCache = HashMap<(u64, Requirement), (bool, Instant)>;

impl<T> Clone for RequireGuildLayer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            requirement: self.requirement,
            cache: Arc::clone(&self.cache),
        }
    }
}

impl<T> fmt::Debug for RequireGuildLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireGuildLayer")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<T> RequireGuildLayer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, requirement: Requirement) -> Self {
        Self {
            shared,
            requirement,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<S, T> Layer<S> for RequireGuildLayer<T> {
    type Service = RequireGuild<S, T>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireGuild {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireGuildLayer`].
pub struct RequireGuild<S, T> {
    inner: S,
    layer: RequireGuildLayer<T>,
}

impl<S: Clone, T> Clone for RequireGuild<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for RequireGuild<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireGuild")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

/// Why the guard refused, decided without IO (so it is unit-testable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    MissingLayer,
    StoreUnavailable,
    NotLoggedIn { login_url: String, html: bool },
    Forbidden { html: bool, reason: &'static str },
    Unavailable { retry_after: u64 },
}

pub(crate) fn wants_html<B>(req: &Request<B>) -> bool {
    let method_ok = req.method() == Method::GET || req.method() == Method::HEAD;
    let accepts_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let cors = req
        .headers()
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes() == b"cors");
    method_ok && accepts_html && !cors && req.headers().get("x-requested-with").is_none()
}

fn refusal_response(r: &Refusal, back: &str) -> Response<String> {
    let json = |status: StatusCode, error: &str, message: &str| {
        let mut resp = Response::new(serde_json::json!({ "error": error, "message": message }).to_string());
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    };
    let mut resp = match r {
        Refusal::MissingLayer => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "RequireGuildLayer must be added inside DiscordOAuthLayer",
        ),
        Refusal::StoreUnavailable => {
            let mut resp = json(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "sessions are unavailable",
            );
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
        Refusal::NotLoggedIn { login_url, html: true } => {
            let mut resp = Response::new(String::new());
            *resp.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(login_url) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        Refusal::NotLoggedIn { html: false, .. } => json(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "You need to log in with Discord first.",
        ),
        Refusal::Forbidden { html: true, reason } => html_page(StatusCode::FORBIDDEN, "Access denied", reason, back),
        Refusal::Forbidden { html: false, reason } => json(StatusCode::FORBIDDEN, "forbidden", reason),
        Refusal::Unavailable { retry_after } => {
            let mut resp = json(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Discord could not be asked; try again shortly.",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(RETRY_AFTER, v);
            }
            resp
        }
    };
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for RequireGuild<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: Transport,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let html = wants_html(&req);
        let state = req.extensions().get::<AuthState>().cloned();
        let here = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        Box::pin(async move {
            match check(&layer, html, state.as_ref(), &here).await {
                Ok(()) => inner.call(req).await,
                Err(refusal) => {
                    Ok(refusal_response(&refusal, layer.shared.config.default_return_to().as_str()).map(ResBody::from))
                }
            }
        })
    }
}

async fn check<T: Transport>(
    layer: &RequireGuildLayer<T>,
    html: bool,
    state: Option<&AuthState>,
    here: &str,
) -> Result<(), Refusal> {
    let state = state.ok_or(Refusal::MissingLayer)?;
    if state.is_store_unavailable() {
        return Err(Refusal::StoreUnavailable);
    }
    let Some(session) = state.session() else {
        return Err(Refusal::NotLoggedIn {
            login_url: state.login_url(here),
            html,
        });
    };
    let req_ = layer.requirement;
    let user_id = session.user.id.get();
    let key = (user_id, req_);
    {
        let cache = layer.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((allowed, at)) = cache.get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return if *allowed { Ok(()) } else { Err(forbidden(req_, html)) };
        }
    }
    let Some(tokens) = session.tokens.as_ref() else {
        return Err(Refusal::Forbidden {
            html,
            reason: "This site keeps no Discord token to check your guilds.",
        });
    };
    let endpoints = layer.shared.config.client().endpoints();
    let allowed = if tokens.has_scope(&Scope::GuildsMembersRead) {
        let call = api::current_user_guild_member(endpoints, &tokens.access_token, req_.guild_id.into());
        match call_api(&layer.shared, &call).await {
            Ok(member) => req_
                .role_id
                .is_none_or(|role| member.roles.iter().any(|r| r.get() == role)),
            Err(LoginError::User(ApiError::NotFound(_))) => false,
            Err(e) => return Err(unavailable(&e)),
        }
    } else if tokens.has_scope(&Scope::Guilds) && req_.role_id.is_none() {
        let mut query = GuildsQuery::default();
        let mut found = false;
        // Page through the user's guilds (200 per page).
        loop {
            let call = api::current_user_guilds(endpoints, &tokens.access_token, &query);
            let page = match call_api(&layer.shared, &call).await {
                Ok(p) => p,
                Err(e) => return Err(unavailable(&e)),
            };
            if page.iter().any(|g| g.id.get() == req_.guild_id) {
                found = true;
                break;
            }
            match page.last() {
                Some(last) if page.len() >= 200 => query.after = Some(last.id),
                _ => break,
            }
        }
        found
    } else {
        return Err(Refusal::Forbidden {
            html,
            reason: "This site cannot check guild membership: log in again granting the guild scopes.",
        });
    };
    {
        let mut cache = layer.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, (allowed, Instant::now()));
    }
    if allowed { Ok(()) } else { Err(forbidden(req_, html)) }
}

fn forbidden(r: Requirement, html: bool) -> Refusal {
    Refusal::Forbidden {
        html,
        reason: if r.role_id.is_some() {
            "You need a role in a Discord server to see this page."
        } else {
            "You need to be a member of a Discord server to see this page."
        },
    }
}

fn unavailable(e: &LoginError) -> Refusal {
    tracing::warn!(error = %e, "guild check failed");
    Refusal::Unavailable {
        retry_after: e.retry_after().unwrap_or(5),
    }
}
