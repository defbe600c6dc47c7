//! What handlers see: [`AuthState`] (put into the request extensions by the middleware), and
//! the extractors [`DiscordUser`] (and `Option<DiscordUser>`) and [`DiscordToken`]. What each
//! accepts and refuses is the core's decision
//! ([`discord_oauth_core::login::visitor::Visitor`]), the same as on axum; this module only
//! reads the request.

use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use discord_oauth_core::login::answer::{self, PageLoadHeader, Refusal};
use discord_oauth_core::login::driver::Attached;
use discord_oauth_core::login::visitor::{LoggedIn, UserToken, Visitor};

use crate::convert;
use crate::fast::Entry;
use crate::shared::DiscordOAuth;
use crate::snapshot::Snapshot;

discord_oauth_runtime::auth_state! {
    /// The authentication state of a request, inserted by [`crate::DiscordSessions`]. Read it with
    /// [`DiscordAuthExt::discord_auth`] (handlers, middleware, guards) or the extractors. It derefs
    /// to the core's [`Visitor`] (`session`, `user`, `access_token`, `login_url`, and the
    /// extractors' decisions), the same on every framework.
    pub struct AuthState {
        oauth: DiscordOAuth,
        /// The fast path's entry this request was served from.
        remembered: Option<Arc<Entry>>,
    }
}

impl AuthState {
    pub(crate) fn new(attached: Attached, oauth: DiscordOAuth) -> Self {
        Self {
            visitor: Visitor::new(attached, Arc::clone(&oauth.shared.login_path)),
            oauth,
            remembered: None,
        }
    }

    /// The state of a request served from the fast path's `entry`.
    pub(crate) fn remembered(mut self, entry: Arc<Entry>) -> Self {
        self.remembered = Some(entry);
        self
    }

    /// The remembered session this request was served from, if it was.
    pub(crate) fn remembered_login(&self) -> Option<&Snapshot> {
        self.remembered.as_deref().map(|e| &e.snapshot)
    }

    /// The integration this request went through.
    pub fn oauth(&self) -> &DiscordOAuth {
        &self.oauth
    }
}

/// Reads the [`AuthState`] of a request (`None` if the middleware did not run).
pub trait DiscordAuthExt {
    /// The request's authentication state.
    fn discord_auth(&self) -> Option<AuthState>;
}

impl<T: HttpMessage> DiscordAuthExt for T {
    fn discord_auth(&self) -> Option<AuthState> {
        self.extensions().get::<AuthState>().cloned()
    }
}

/// Whether a refusal of this request is a redirect (a page load) rather than JSON.
pub(crate) fn wants_html_parts(method: &actix_web::http::Method, h: &actix_web::http::header::HeaderMap) -> bool {
    use actix_web::http::header::{ACCEPT, HeaderName};
    // Parsed once: a lookup by `&str` parses the name on every call.
    const SEC_FETCH_MODE: HeaderName = HeaderName::from_static(PageLoadHeader::SecFetchMode.name());
    const X_REQUESTED_WITH: HeaderName = HeaderName::from_static(PageLoadHeader::XRequestedWith.name());
    answer::is_page_load(method.as_str(), |header| {
        match header {
            PageLoadHeader::Accept => h.get(ACCEPT),
            PageLoadHeader::SecFetchMode => h.get(SEC_FETCH_MODE),
            PageLoadHeader::XRequestedWith => h.get(X_REQUESTED_WITH),
        }
        .map(HeaderValue::as_bytes)
    })
}

/// Where the request was for, and whether a refusal should be a redirect.
pub(crate) fn here(req: &HttpRequest) -> (&str, bool) {
    let html = wants_html_parts(req.method(), req.headers());
    (req.uri().path_and_query().map_or("/", |pq| pq.as_str()), html)
}

/// Why [`DiscordUser`], [`DiscordToken`] or [`crate::DiscordClient`] could not be extracted:
/// the core's [`Refusal`], answered as every framework answers it.
#[derive(Debug)]
pub struct DiscordUserRejection(pub Refusal);

impl fmt::Display for DiscordUserRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {:?}", self.0)
    }
}

impl ResponseError for DiscordUserRejection {
    fn status_code(&self) -> StatusCode {
        convert::status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.0.answer("/"))
    }
}

/// The request's [`AuthState`], where the extractors' decisions are made.
pub(crate) fn state(req: &HttpRequest) -> Result<AuthState, DiscordUserRejection> {
    req.discord_auth().ok_or(DiscordUserRejection(Refusal::Misconfigured {
        message: "missing AuthState: is `DiscordOAuth::session_middleware()` wrapped around this route?",
    }))
}

discord_oauth_runtime::deref_newtype! {
    /// The logged-in Discord user; derefs to the core's [`LoggedIn`], which derefs to the
    /// [`User`](discord_oauth_core::api::User).
    ///
    /// Anonymous requests are refused: a page load (`GET` accepting HTML) with `303` to the login
    /// route (returning here afterwards), anything else with `401` JSON. As `Option<DiscordUser>`:
    /// `None` when nobody is logged in (a session store that failed was answered `503` by the
    /// middleware before the handler ran).
    ///
    /// ```
    /// use discord_oauth_actix::DiscordUser;
    /// async fn me(user: DiscordUser) -> String {
    ///     format!("{} ({})", user.display_name(), user.id)
    /// }
    /// ```
    #[derive(Debug, Clone)]
    pub struct DiscordUser(pub LoggedIn);
}

impl FromRequest for DiscordUser {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| {
            let session = s.require(|| here(req)).map_err(DiscordUserRejection)?;
            Ok(DiscordUser(LoggedIn::new(session.clone())))
        }))
    }
}

/// The logged-in user if any: the same as `Option<DiscordUser>`.
#[deprecated = "use `Option<DiscordUser>`: a failed session store is a 503 before the handler runs"]
#[derive(Debug, Clone)]
pub struct MaybeDiscordUser(pub Option<DiscordUser>);

#[allow(deprecated)]
impl FromRequest for MaybeDiscordUser {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| {
            let session = s.optional().map_err(DiscordUserRejection)?;
            Ok(MaybeDiscordUser(session.map(|a| DiscordUser(LoggedIn::new(a.clone())))))
        }))
    }
}

discord_oauth_runtime::deref_newtype! {
    /// A fresh access token of the logged-in user, for calling Discord on their behalf (the
    /// middleware refreshed it if it was close to expiry); derefs to the core's [`UserToken`].
    /// Rejections as for [`DiscordUser`], plus `403` in identity-only mode.
    #[derive(Debug, Clone)]
    pub struct DiscordToken(pub UserToken);
}

impl FromRequest for DiscordToken {
    type Error = DiscordUserRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(state(req).and_then(|s| {
            let tokens = s.require_tokens(|| here(req)).map_err(DiscordUserRejection)?;
            Ok(DiscordToken(UserToken::new(tokens)))
        }))
    }
}
