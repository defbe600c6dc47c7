//! Extractors and their rejections. What each extractor accepts and refuses is the core's
//! decision ([`discord_oauth_core::login::visitor::Visitor`]), the same as on actix-web; this
//! module only reads the request.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::login::answer::{Refusal, request_context};
use discord_oauth_core::login::visitor::{LoggedIn, UserToken};
use discord_oauth_tower::AuthState;
use http::request::Parts;

discord_oauth_runtime::deref_newtype! {
    /// The logged-in Discord user.
    ///
    /// Derefs to the core's [`LoggedIn`], which derefs to the [`User`](discord_oauth_core::api::User);
    /// [`LoggedIn::session`] gives the whole session (tokens, login time). As `Option<DiscordUser>`:
    /// `None` for an anonymous visitor, `503` when the session store could not be read.
    ///
    /// ```
    /// use discord_oauth_axum::DiscordUser;
    /// async fn handler(user: DiscordUser) -> String {
    ///     format!("{} ({})", user.display_name(), user.id)
    /// }
    /// ```
    #[derive(Debug, Clone)]
    pub struct DiscordUser(pub LoggedIn);
}

/// Why [`DiscordUser`], [`DiscordToken`] or [`crate::DiscordClient`] could not be extracted:
/// the core's [`Refusal`], answered as every framework answers it.
#[derive(Debug)]
pub struct DiscordUserRejection(pub Refusal);

impl IntoResponse for DiscordUserRejection {
    fn into_response(self) -> Response {
        self.0.answer("/").map(axum::body::Body::from)
    }
}

/// The request's [`AuthState`], where the extractors' decisions are made.
pub(crate) fn state(parts: &Parts) -> Result<&AuthState, DiscordUserRejection> {
    parts.extensions.get::<AuthState>().ok_or(DiscordUserRejection(Refusal::Misconfigured {
        message: "missing request extension: is `DiscordOAuthLayer` added (inside a tower-sessions SessionManagerLayer)?",
    }))
}

/// Where the request was for, and whether a refusal should be a redirect (a page load).
pub(crate) fn here(parts: &Parts) -> (&str, bool) {
    request_context(&parts.method, &parts.uri, &parts.headers)
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordUser {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = state(parts)?.require(|| here(parts)).map_err(DiscordUserRejection)?;
        Ok(DiscordUser(LoggedIn::new(session.clone())))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DiscordUser {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let session = state(parts)?.optional().map_err(DiscordUserRejection)?;
        Ok(session.map(|s| DiscordUser(LoggedIn::new(s.clone()))))
    }
}

discord_oauth_runtime::deref_newtype! {
    /// The logged-in user's access token and granted scopes, for calling Discord yourself (see
    /// also [`crate::DiscordClient`]); derefs to the core's [`UserToken`]. Refused with `403` in
    /// identity-only mode.
    #[derive(Debug, Clone)]
    pub struct DiscordToken(pub UserToken);
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordToken {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let tokens = state(parts)?
            .require_tokens(|| here(parts))
            .map_err(DiscordUserRejection)?;
        Ok(DiscordToken(UserToken::new(tokens)))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DiscordToken {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let tokens = state(parts)?.optional_tokens().map_err(DiscordUserRejection)?;
        Ok(tokens.map(|t| DiscordToken(UserToken::new(t))))
    }
}
