//! What handlers see: [`AuthState`] (put into the request extensions by the middleware), and
//! the extractors [`DiscordUser`] (and `Option<DiscordUser>`) and [`DiscordToken`].

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use discord_oauth_core::api::User;
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::answer::{self, Refusal};
use discord_oauth_core::{AccessToken, Scopes};

use crate::convert;
use crate::shared::DiscordOAuth;

/// The authentication state of a request, inserted by [`crate::DiscordSessions`]. Read it with
/// [`DiscordAuthExt::discord_auth`] (handlers, middleware, guards) or the extractors.
#[derive(Clone)]
pub struct AuthState {
    session: Option<Arc<AuthSession>>,
    store_unavailable: bool,
    oauth: DiscordOAuth,
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("session", &self.session)
            .field("store_unavailable", &self.store_unavailable)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    pub(crate) fn anonymous(oauth: DiscordOAuth) -> Self {
        Self {
            session: None,
            store_unavailable: false,
            oauth,
        }
    }

    pub(crate) fn unavailable(oauth: DiscordOAuth) -> Self {
        Self {
            session: None,
            store_unavailable: true,
            oauth,
        }
    }

    pub(crate) fn authenticated(session: Arc<AuthSession>, oauth: DiscordOAuth) -> Self {
        Self {
            session: Some(session),
            store_unavailable: false,
            oauth,
        }
    }

    /// The authenticated session (user, tokens, login time), if logged in.
    pub fn session(&self) -> Option<&Arc<AuthSession>> {
        self.session.as_ref()
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        self.session.as_deref().map(|s| &s.user)
    }

    /// `true` if the session could not be read, so whether the user is logged in is unknown.
    /// The extractors answer 503 rather than guessing (checklist H-15).
    pub fn is_store_unavailable(&self) -> bool {
        self.store_unavailable
    }

    /// The integration (configuration, API calls).
    pub fn oauth(&self) -> &DiscordOAuth {
        &self.oauth
    }

    pub(crate) fn not_logged_in(&self, req: &HttpRequest) -> DiscordUserRejection {
        let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        DiscordUserRejection::NotLoggedIn {
            login_url: self.oauth.config().login_url(here),
            html: wants_html(req),
        }
    }
}

/// Reads the [`AuthState`] from a request, in handlers, middleware and guards alike.
pub trait DiscordAuthExt {
    /// The state, or `None` if [`crate::DiscordSessions`] did not run for this request.
    fn discord_auth(&self) -> Option<AuthState>;
}

impl<T: HttpMessage> DiscordAuthExt for T {
    fn discord_auth(&self) -> Option<AuthState> {
        self.extensions().get::<AuthState>().cloned()
    }
}

/// `true` for a top-level browser navigation (see [`answer::wants_html`]).
pub(crate) fn wants_html(req: &HttpRequest) -> bool {
    wants_html_parts(req.method(), req.headers())
}

/// [`wants_html`] from a request's method and headers.
pub(crate) fn wants_html_parts(method: &actix_web::http::Method, h: &actix_web::http::header::HeaderMap) -> bool {
    answer::wants_html(
        method.as_str(),
        h.get(ACCEPT).map(HeaderValue::as_bytes),
        h.get("sec-fetch-mode").map(HeaderValue::as_bytes),
        h.contains_key("x-requested-with"),
    )
}

/// Why [`DiscordUser`] or [`DiscordToken`] could not be extracted. Renders as a `303` to login
/// for browser page loads, `401` JSON for API calls, `403` without a token, `503` when the
/// session could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscordUserRejection {
    /// [`crate::DiscordSessions`] is not installed on this route (an opaque 500; logged).
    MissingMiddleware,
    /// Nobody is logged in.
    NotLoggedIn {
        /// The login URL that returns to the requested page.
        login_url: String,
        /// `true` for a browser `GET`/`HEAD` that accepts HTML.
        html: bool,
    },
    /// The session holds no Discord token (identity-only mode).
    NoToken,
    /// The session could not be read: whether anyone is logged in is unknown.
    StoreUnavailable,
}

impl fmt::Display for DiscordUserRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingMiddleware => {
                "missing AuthState: is `DiscordOAuth::session_middleware()` wrapped around this route?"
            }
            Self::NotLoggedIn { .. } => "You need to log in with Discord first.",
            Self::NoToken => "This session keeps no Discord token (identity-only mode).",
            Self::StoreUnavailable => "Sessions are unavailable right now; try again shortly.",
        })
    }
}

impl DiscordUserRejection {
    fn refusal(&self) -> Option<Refusal> {
        Some(match self {
            Self::MissingMiddleware => return None,
            Self::NotLoggedIn { login_url, html } => Refusal::NotLoggedIn {
                login_url: login_url.clone(),
                html: *html,
            },
            Self::NoToken => Refusal::NoToken,
            Self::StoreUnavailable => Refusal::StoreUnavailable,
        })
    }
}

impl ResponseError for DiscordUserRejection {
    fn status_code(&self) -> StatusCode {
        self.refusal().map_or(StatusCode::INTERNAL_SERVER_ERROR, |r| {
            convert::status(r.answer("/").status())
        })
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(r) = self.refusal() {
            convert::response(r.answer("/"))
        } else {
            // Opaque to the client; the fix is in the log.
            tracing::error!("{self}");
            convert::response(answer::internal_error())
        }
    }
}

pub(crate) fn state(req: &HttpRequest) -> Result<AuthState, DiscordUserRejection> {
    let state = req.discord_auth().ok_or(DiscordUserRejection::MissingMiddleware)?;
    if state.is_store_unavailable() {
        return Err(DiscordUserRejection::StoreUnavailable);
    }
    Ok(state)
}

/// The logged-in Discord user. Derefs to [`User`].
///
/// ```
/// use discord_oauth_actix::DiscordUser;
/// async fn handler(user: DiscordUser) -> String {
///     format!("{} ({})", user.display_name(), user.id)
/// }
/// ```
///
/// `Option<DiscordUser>` is the logged-in user if any, `None` when nobody is logged in, as on
/// axum: when the session store fails, [`crate::DiscordSessions`] answers `503` before the
/// handler runs, so `None` never means "the session could not be read". (actix's blanket impl
/// turns any rejection into `None`; without the middleware, that includes the missing
/// [`AuthState`].)
///
/// ```
/// use discord_oauth_actix::DiscordUser;
/// async fn home(user: Option<DiscordUser>) -> String {
///     user.map_or_else(|| "hello stranger".to_owned(), |u| format!("hello {}", u.display_name()))
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

impl FromRequest for DiscordUser {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| match s.session() {
            Some(session) => Ok(DiscordUser(Arc::clone(session))),
            None => Err(s.not_logged_in(req)),
        }))
    }
}

/// The logged-in user if any: the same as `Option<DiscordUser>`, which now answers `503` for a
/// session that could not be read too (see [`DiscordUser`]).
#[deprecated = "use `Option<DiscordUser>`: a failed session store is a 503 before the handler runs"]
#[derive(Debug, Clone)]
pub struct MaybeDiscordUser(pub Option<DiscordUser>);

#[allow(deprecated)]
impl FromRequest for MaybeDiscordUser {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).map(|s| MaybeDiscordUser(s.session().map(|a| DiscordUser(Arc::clone(a))))))
    }
}

/// A fresh access token of the logged-in user, for calling Discord on their behalf (the
/// middleware refreshed it if it was close to expiry). Rejections as for [`DiscordUser`], plus
/// `403` in identity-only mode.
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

impl FromRequest for DiscordToken {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| match s.session() {
            Some(session) => match &session.tokens {
                Some(t) => Ok(DiscordToken {
                    access_token: t.access_token.clone(),
                    scopes: t.scopes.clone(),
                }),
                None => Err(DiscordUserRejection::NoToken),
            },
            None => Err(s.not_logged_in(req)),
        }))
    }
}
