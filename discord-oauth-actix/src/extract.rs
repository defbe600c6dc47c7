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
/// the core's [`Refusal`] ([`DiscordUserRejection::refusal`]), answered as every framework
/// answers it.
///
/// For an anonymous visitor the refusal (a login URL that returns to the requested page) is
/// made only when the rejection is answered or shown: actix-web's `Option<DiscordUser>` drops
/// it unanswered, so an anonymous page pays nothing for it.
#[derive(Debug)]
pub struct DiscordUserRejection(Rejected);

#[derive(Debug)]
enum Rejected {
    Refusal(Refusal),
    /// Nobody is logged in to this request: [`Visitor::not_logged_in`] for it, on demand.
    NotLoggedIn(AuthState, HttpRequest),
}

impl DiscordUserRejection {
    /// What the core refused.
    pub fn refusal(&self) -> Refusal {
        match &self.0 {
            Rejected::Refusal(refusal) => refusal.clone(),
            Rejected::NotLoggedIn(state, req) => {
                let (here, html) = here(req);
                state.not_logged_in(here, html)
            }
        }
    }

    /// The extracted value, or the rejection of `req`: `found` is the core's answer for this
    /// request's visitor `state`, `Ok(None)` when nobody is logged in.
    pub(crate) fn check<T>(found: Result<Option<T>, Refusal>, state: &AuthState, req: &HttpRequest) -> Result<T, Self> {
        match found {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Self(Rejected::NotLoggedIn(state.clone(), req.clone()))),
            Err(refusal) => Err(Self::from(refusal)),
        }
    }
}

impl From<Refusal> for DiscordUserRejection {
    fn from(refusal: Refusal) -> Self {
        Self(Rejected::Refusal(refusal))
    }
}

impl fmt::Display for DiscordUserRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {:?}", self.refusal())
    }
}

impl ResponseError for DiscordUserRejection {
    fn status_code(&self) -> StatusCode {
        convert::status(self.refusal().status())
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.refusal().answer("/"))
    }
}

/// The request's [`AuthState`], where the extractors' decisions are made.
pub(crate) fn state(req: &HttpRequest) -> Result<AuthState, DiscordUserRejection> {
    req.discord_auth().ok_or_else(missing_state)
}

/// `f` of the request's [`AuthState`], borrowed where it is (no clone of the state). `f` must
/// not touch the request's extensions mutably.
fn with_state<T>(
    req: &HttpRequest,
    f: impl FnOnce(&AuthState) -> Result<T, DiscordUserRejection>,
) -> Result<T, DiscordUserRejection> {
    req.extensions()
        .get::<AuthState>()
        .map_or_else(|| Err(missing_state()), f)
}

fn missing_state() -> DiscordUserRejection {
    DiscordUserRejection::from(Refusal::Misconfigured {
        message: "missing AuthState: is `DiscordOAuth::session_middleware()` wrapped around this route?",
    })
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
        ready(with_state(req, |s| {
            let session = DiscordUserRejection::check(s.optional(), s, req)?;
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
        ready(with_state(req, |s| {
            let session = s.optional()?;
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
        ready(with_state(req, |s| {
            let tokens = DiscordUserRejection::check(s.tokens_if_logged_in(), s, req)?;
            Ok(DiscordToken(UserToken::new(tokens)))
        }))
    }
}
