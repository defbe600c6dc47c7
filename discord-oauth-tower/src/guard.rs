//! Guards: require membership of a guild, or a role in a guild, before the inner service runs.
//!
//! Built from the login layer ([`crate::DiscordOAuthLayer::require_guild`],
//! [`crate::DiscordOAuthLayer::require_role`]) and added inside it, on the routes to protect.
//! The check itself is the core's [`GuildRequirement::check`] flow, shared with the actix
//! integration:
//! - membership via `GET /users/@me/guilds/{guild}/member` when `guilds.members.read` was
//!   granted (needed for roles), else via `GET /users/@me/guilds` (`guilds`);
//! - decisions remembered per user for 60 s ([`GuardDecisions`](discord_oauth_core::login::flow::GuardDecisions), bounded);
//! - not logged in: `303` to login for browser page loads, `401` JSON otherwise; logged in but
//!   not allowed: `403` (HTML page or JSON); Discord unavailable: `503` with `Retry-After` —
//!   never let in on an error;
//! - IDs compared as snowflakes, never by name (checklist J-06).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use discord_oauth_core::login::answer::{Refusal, request_context};
use discord_oauth_core::login::flow::{Guard, GuildRequirement};
use http::{Request, Response};
use tower::{Layer, Service};

use crate::AuthState;
use crate::shared::{ResponseFuture, Shared};

/// A layer that lets a request through only for members of a guild (optionally with a role).
#[derive(Clone)]
pub struct RequireGuildLayer {
    shared: Arc<Shared>,
    guard: Guard,
}

impl fmt::Debug for RequireGuildLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireGuildLayer").field(&self.guard).finish()
    }
}

impl RequireGuildLayer {
    pub(crate) fn new(shared: Arc<Shared>, requirement: GuildRequirement) -> Self {
        let guard = Guard::new(requirement);
        Self { shared, guard }
    }
}

impl<S> Layer<S> for RequireGuildLayer {
    type Service = RequireGuild<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireGuild {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireGuildLayer`].
#[derive(Clone, Debug)]
pub struct RequireGuild<S> {
    inner: S,
    layer: RequireGuildLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireGuild<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
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
        let state = req.extensions().get::<AuthState>().cloned();
        let (here, html) = request_context(req.method(), req.uri(), req.headers());
        let here = here.to_owned();
        Box::pin(async move {
            let Some(state) = state else {
                let refusal = Refusal::Misconfigured {
                    message: "RequireGuildLayer must be added inside DiscordOAuthLayer",
                };
                return Ok(refusal.answer("/").map(ResBody::from));
            };
            match check(&layer, html, &state, &here).await {
                Ok(()) => inner.call(req).await,
                Err(refusal) => Ok(refusal
                    .answer(layer.shared.config().default_return_to().as_str())
                    .map(ResBody::from)),
            }
        })
    }
}

/// The driver's guard decision for this request.
async fn check(layer: &RequireGuildLayer, html: bool, state: &AuthState, here: &str) -> Result<(), Refusal> {
    let subject = state.subject(here);
    let shared = layer.shared.as_ref();
    shared.driver.guard(&shared.io, &layer.guard, subject, html).await
}
