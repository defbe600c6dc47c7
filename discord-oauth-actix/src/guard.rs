//! Guards: require membership of a guild, or a role in a guild, before the handler runs.
//!
//! Built with [`DiscordOAuth::require_guild`] / [`DiscordOAuth::require_role`] and `.wrap()`ed
//! around the scopes or resources to protect (inside [`crate::DiscordSessions`]). The check itself
//! is the core's [`GuildRequirement::check`] flow; decisions are remembered per user for 60 s
//! (bounded), so a guarded page does not call Discord on every request.
//!
//! Not logged in: `303` to login for browser page loads, `401` JSON otherwise. Logged in but
//! not allowed: `403` (HTML page or JSON). Discord unavailable: `503` with `Retry-After`; the
//! user is never let in on an error.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use discord_oauth_core::login::answer::Refusal;
use discord_oauth_core::login::flow::{Guard, GuildRequirement};
use futures_util::future::LocalBoxFuture;

use crate::convert;
use crate::extract::{DiscordAuthExt as _, wants_html_parts};
use crate::shared::DiscordOAuth;

impl DiscordOAuth {
    /// A guard letting through only members of `guild_id`. Needs the `guilds` or
    /// `guilds.members.read` scope.
    pub fn require_guild(&self, guild_id: u64) -> RequireGuild {
        self.guard(GuildRequirement {
            guild_id,
            role_id: None,
        })
    }

    /// A guard letting through only members of `guild_id` who have `role_id`. Needs the
    /// `guilds.members.read` scope.
    pub fn require_role(&self, guild_id: u64, role_id: u64) -> RequireGuild {
        self.guard(GuildRequirement {
            guild_id,
            role_id: Some(role_id),
        })
    }

    fn guard(&self, requirement: GuildRequirement) -> RequireGuild {
        let guard = Guard::new(requirement);
        RequireGuild {
            oauth: self.clone(),
            guard,
        }
    }
}

/// A guild or role guard (middleware), made by [`DiscordOAuth::require_guild`] or [`DiscordOAuth::require_role`].
#[derive(Clone)]
pub struct RequireGuild {
    oauth: DiscordOAuth,
    guard: Guard,
}

/// The guard's requirement (the integration's settings are in [`DiscordOAuth`]'s `Debug`).
impl fmt::Debug for RequireGuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequireGuild({:?})", self.guard.requirement())
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireGuild
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireGuildMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireGuildMiddleware {
            service: Rc::new(service),
            guard: self.clone(),
        }))
    }
}

/// The service of [`RequireGuild`].
pub struct RequireGuildMiddleware<S> {
    service: Rc<S>,
    guard: RequireGuild,
}

impl<S> fmt::Debug for RequireGuildMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireGuildMiddleware")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RequireGuildMiddleware<S>
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
        let guard = self.guard.clone();
        Box::pin(async move {
            match guard.check(&req).await {
                Ok(()) => service.call(req).await.map(ServiceResponse::map_into_left_body),
                Err(refusal) => {
                    let back = guard.oauth.config().default_return_to().as_str().to_owned();
                    let answer = if let Some(r) = refusal {
                        r.answer(&back)
                    } else {
                        tracing::error!("RequireGuild needs DiscordOAuth::session_middleware() around it");
                        discord_oauth_core::login::answer::internal_error()
                    };
                    Ok(req.into_response(convert::response(answer)).map_into_right_body())
                }
            }
        })
    }
}

impl RequireGuild {
    /// `Err(None)`: the middleware is missing.
    async fn check(&self, req: &ServiceRequest) -> Result<(), Option<Refusal>> {
        let state = req.discord_auth().ok_or(None)?;
        let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let subject = state.subject(here);

        let shared = self.oauth.shared.as_ref();
        let html = wants_html_parts(req.method(), req.headers());
        let decided = shared.driver.guard(&shared.io, &self.guard, subject, html);
        decided.await.map_err(Some)
    }
}
