//! Extractors and their rejections.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::api::User;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::answer::Refusal;
use discord_oauth_core::{AccessToken, Scopes};
use discord_oauth_tower::AuthState;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};

/// The logged-in Discord user.
///
/// Derefs to [`User`]; [`DiscordUser::session`] gives the whole session (tokens, login time).
///
/// ```
/// use discord_oauth_axum::DiscordUser;
/// async fn handler(user: DiscordUser) -> String {
///     format!("{} ({})", user.display_name(), user.id)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DiscordUser(Arc<AuthSession>);

impl DiscordUser {
    /// The user.
    pub fn user(&self) -> &User {
        &self.0.user
    }

    /// The whole authenticated session.
    pub fn session(&self) -> &Arc<AuthSession> {
        &self.0
    }

    /// The scopes granted at login (empty in identity-only mode).
    pub fn scopes(&self) -> &Scopes {
        static NONE: Scopes = Scopes::new();
        self.0.tokens.as_ref().map_or(&NONE, |t| &t.scopes)
    }
}

impl Deref for DiscordUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0.user
    }
}

/// Why [`DiscordUser`] or [`DiscordToken`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscordUserRejection {
    /// `DiscordOAuthLayer` is not installed on this route.
    MissingLayer,
    /// Nobody is logged in. A browser page request is redirected to `login_url`.
    NotLoggedIn {
        /// The login URL that returns to the requested page.
        login_url: String,
        /// `true` for a browser `GET`/`HEAD` that accepts HTML.
        html: bool,
    },
    /// The session holds no Discord token (identity-only mode).
    NoToken,
    /// The session store failed: whether anyone is logged in is unknown.
    StoreUnavailable,
}

impl DiscordUserRejection {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotLoggedIn { html: true, .. } => StatusCode::SEE_OTHER,
            Self::NotLoggedIn { html: false, .. } => StatusCode::UNAUTHORIZED,
            Self::NoToken => StatusCode::FORBIDDEN,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The text of this rejection.
    pub fn body_text(&self) -> &'static str {
        match self {
            Self::MissingLayer => {
                "Missing request extension: is `DiscordOAuthLayer` added (inside a tower-sessions SessionManagerLayer)?"
            }
            Self::NotLoggedIn { .. } => "You need to log in with Discord first.",
            Self::NoToken => "This session keeps no Discord token (identity-only mode).",
            Self::StoreUnavailable => "Sessions are unavailable right now; try again shortly.",
        }
    }
}

impl IntoResponse for DiscordUserRejection {
    fn into_response(self) -> Response {
        // Every rejection but the missing layer is the core's answer, byte for byte the one the
        // actix-web integration sends.
        let refusal = match self {
            Self::MissingLayer => {
                let mut r = Response::new(axum::body::Body::from(self.body_text()));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                r.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return r;
            }
            Self::NotLoggedIn { login_url, html } => Refusal::NotLoggedIn { login_url, html },
            Self::NoToken => Refusal::NoToken,
            Self::StoreUnavailable => Refusal::StoreUnavailable,
        };
        refusal.answer("/").map(axum::body::Body::from)
    }
}

/// `true` for a top-level browser navigation: GET/HEAD, accepts HTML, not a CORS fetch.
pub(crate) fn wants_html(parts: &Parts) -> bool {
    let method_ok = parts.method == Method::GET || parts.method == Method::HEAD;
    let accepts_html = parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let cors = parts
        .headers
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes() == b"cors");
    let xhr = parts.headers.get("x-requested-with").is_some();
    method_ok && accepts_html && !cors && !xhr
}

pub(crate) fn state(parts: &Parts) -> Result<&AuthState, DiscordUserRejection> {
    let state = parts
        .extensions
        .get::<AuthState>()
        .ok_or(DiscordUserRejection::MissingLayer)?;
    if state.is_store_unavailable() {
        return Err(DiscordUserRejection::StoreUnavailable);
    }
    Ok(state)
}

pub(crate) fn not_logged_in(parts: &Parts, state: &AuthState) -> DiscordUserRejection {
    let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    DiscordUserRejection::NotLoggedIn {
        login_url: state.login_url(here),
        html: wants_html(parts),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordUser {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state(parts)?;
        match state.session() {
            Some(s) => Ok(DiscordUser(Arc::clone(s))),
            None => Err(not_logged_in(parts, state)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DiscordUser {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let state = state(parts)?;
        Ok(state.session().map(|s| DiscordUser(Arc::clone(s))))
    }
}

/// A fresh access token of the logged-in user, for calling Discord on their behalf. The layer
/// refreshes tokens close to expiry before the handler runs.
///
/// Rejections as for [`DiscordUser`], plus `403` in identity-only mode.
#[derive(Debug, Clone)]
pub struct DiscordToken {
    access_token: AccessToken,
    scopes: Scopes,
}

impl DiscordToken {
    /// The access token.
    ///
    /// # Security
    /// Send it only to Discord, in an `Authorization: Bearer` header.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DiscordToken {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state(parts)?;
        match state.session() {
            Some(s) => match &s.tokens {
                Some(t) => Ok(DiscordToken {
                    access_token: t.access_token.clone(),
                    scopes: t.scopes.clone(),
                }),
                None => Err(DiscordUserRejection::NoToken),
            },
            None => Err(not_logged_in(parts, state)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DiscordToken {
    type Rejection = DiscordUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let state = state(parts)?;
        Ok(state.session().and_then(|s| s.tokens.as_ref()).map(|t| DiscordToken {
            access_token: t.access_token.clone(),
            scopes: t.scopes.clone(),
        }))
    }
}
