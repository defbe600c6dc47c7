//! What a request's handlers see of its login ([`Visitor`]), and what the extractors of every
//! framework decide from it: who is logged in, and the [`Refusal`] for everyone else. The
//! integrations put a `Visitor` in each request (the driver's [`Attached`] decision) and
//! their extractors call [`Visitor::require`], [`Visitor::optional`] and
//! [`Visitor::require_tokens`], so `DiscordUser`, `Option<DiscordUser>` and the token
//! extractors mean the same on axum and actix-web: in particular `Option<DiscordUser>` is
//! `None` for an anonymous visitor but a `503` when the session store could not be read
//! (a store outage never looks like "logged out").

use std::ops::Deref;
use std::sync::Arc;

use super::AuthSession;
use super::answer::Refusal;
use super::driver::{Attached, Subject};
use crate::api::User;
use crate::{AccessToken, Scopes, TokenSet};

/// A request's login, as the driver decided it.
#[derive(Debug, Clone)]
pub struct Visitor {
    session: Option<Arc<AuthSession>>,
    store_unavailable: bool,
    login_path: Arc<str>,
}

impl Visitor {
    /// The visitor the driver's decision describes (a login still [`Attached::NeedsRefresh`]
    /// is served as it is).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use discord_oauth_core::login::driver::Attached;
    /// use discord_oauth_core::login::visitor::Visitor;
    /// let v = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
    /// assert!(v.session().is_none());
    /// assert_eq!(v.login_url("/me?x=1"), "/auth/login?return_to=%2Fme%3Fx%3D1");
    /// assert!(v.optional().unwrap().is_none());
    /// assert!(Visitor::new(Attached::Unavailable, Arc::from("/auth/login")).optional().is_err());
    /// ```
    pub fn new(attached: Attached, login_path: Arc<str>) -> Self {
        let (session, store_unavailable) = match attached {
            Attached::Anonymous => (None, false),
            Attached::Unavailable => (None, true),
            Attached::Authenticated(s) | Attached::NeedsRefresh(s) => (Some(s), false),
        };
        Self {
            session,
            store_unavailable,
            login_path,
        }
    }

    /// The login, if any.
    pub fn session(&self) -> Option<&Arc<AuthSession>> {
        self.session.as_ref()
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        self.session.as_deref().map(|s| &s.user)
    }

    /// The login's access token, if it keeps one.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.session
            .as_deref()
            .and_then(|s| s.tokens.as_ref())
            .map(|t| &t.access_token)
    }

    /// `true` when the session store could not be read for this request.
    pub fn is_store_unavailable(&self) -> bool {
        self.store_unavailable
    }

    /// The login route's path.
    pub fn login_path(&self) -> &str {
        &self.login_path
    }

    /// The login URL that returns to `return_to` (a path on this site).
    pub fn login_url(&self, return_to: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}?return_to={encoded}", self.login_path)
    }

    /// Who a guard is asked about, for a request to `here` (path and query).
    pub fn subject<'a>(&'a self, here: &'a str) -> Subject<'a> {
        match &self.session {
            _ if self.store_unavailable => Subject::Unavailable,
            Some(session) => Subject::User(session),
            None => Subject::Anonymous { here },
        }
    }

    /// A handler that needs a login (`DiscordUser`): the login, or the refusal: `503` when
    /// the store failed, else to the login page (a page load) or `401` JSON. `at` tells where
    /// the request was for (path and query) and whether it is a page load; it is asked only
    /// for a refusal.
    ///
    /// A handler on the `http` crate's types:
    ///
    /// ```
    /// # use discord_oauth_core::login::{LoginConfig, doc_support};
    /// use std::sync::Arc;
    /// use discord_oauth_core::login::answer::request_context;
    /// use discord_oauth_core::login::driver::Attached;
    /// use discord_oauth_core::login::visitor::Visitor;
    /// use http::{Request, Response};
    ///
    /// fn profile(visitor: &Visitor, req: &Request<()>) -> Response<String> {
    ///     match visitor.require(|| request_context(req.method(), req.uri(), req.headers())) {
    ///         Ok(login) => Response::new(format!("Hello, {}", login.user.username)),
    ///         Err(refusal) => refusal.answer("/"),
    ///     }
    /// }
    ///
    /// let page = Request::get("/profile?tab=2").header("accept", "text/html").body(())?;
    /// let anonymous = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
    /// let answer = profile(&anonymous, &page);
    /// assert_eq!(answer.status(), 303);
    /// assert_eq!(answer.headers()["location"], "/auth/login?return_to=%2Fprofile%3Ftab%3D2");
    ///
    /// # let config = LoginConfig::builder("1", "https://site.example/auth/callback").build()?;
    /// # let login = Arc::new(doc_support::logged_in(&config, "identify"));
    /// let nelly = Visitor::new(Attached::Authenticated(login), Arc::from("/auth/login"));
    /// assert_eq!(profile(&nelly, &page).body(), "Hello, nelly");
    ///
    /// // A store outage is never "logged out".
    /// let unknown = Visitor::new(Attached::Unavailable, Arc::from("/auth/login"));
    /// assert_eq!(profile(&unknown, &page).status(), 503);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require<'h>(&self, at: impl FnOnce() -> (&'h str, bool)) -> Result<&Arc<AuthSession>, Refusal> {
        self.optional()?.ok_or_else(|| {
            let (here, html) = at();
            self.not_logged_in(here, html)
        })
    }

    /// The refusal of [`Visitor::require`] when nobody is logged in, for a request for `here`
    /// (a path on this site; `html`: see [`crate::login::answer::wants_html`]). For an
    /// extractor that finds the visitor anonymous and makes the refusal only if it is
    /// answered (actix-web's `Option<T>` drops it unanswered).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use discord_oauth_core::login::driver::Attached;
    /// use discord_oauth_core::login::visitor::Visitor;
    ///
    /// let anonymous = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
    /// assert!(anonymous.optional()?.is_none());
    /// let refusal = anonymous.not_logged_in("/guilds?page=2", true);
    /// assert_eq!(refusal.status(), 303);
    /// assert_eq!(refusal, anonymous.require(|| ("/guilds?page=2", true)).unwrap_err());
    /// # Ok::<(), discord_oauth_core::login::answer::Refusal>(())
    /// ```
    pub fn not_logged_in(&self, here: &str, html: bool) -> Refusal {
        Refusal::NotLoggedIn {
            login_url: self.login_url(here),
            html,
        }
    }

    /// A handler that takes a login if there is one (`Option<DiscordUser>`): `None` when
    /// anonymous, `503` when the store failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use discord_oauth_core::login::driver::Attached;
    /// use discord_oauth_core::login::visitor::Visitor;
    /// use http::Response;
    ///
    /// fn home(visitor: &Visitor) -> Response<String> {
    ///     match visitor.optional() {
    ///         Ok(Some(login)) => Response::new(format!("Welcome back, {}", login.user.username)),
    ///         Ok(None) => Response::new(format!("<a href=\"{}\">Log in</a>", visitor.login_url("/"))),
    ///         Err(refusal) => refusal.answer("/"),
    ///     }
    /// }
    ///
    /// let anonymous = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
    /// assert_eq!(home(&anonymous).body(), r#"<a href="/auth/login?return_to=%2F">Log in</a>"#);
    /// let unknown = Visitor::new(Attached::Unavailable, Arc::from("/auth/login"));
    /// assert_eq!(home(&unknown).status(), 503);
    /// ```
    pub fn optional(&self) -> Result<Option<&Arc<AuthSession>>, Refusal> {
        if self.store_unavailable {
            return Err(Refusal::StoreUnavailable);
        }
        Ok(self.session.as_ref())
    }

    /// A handler that needs the user's tokens (`DiscordToken`, `DiscordClient`): as
    /// [`Visitor::require`], and `403` in identity-only mode (no tokens kept).
    ///
    /// ```
    /// # use discord_oauth_core::login::{LoginConfig, doc_support};
    /// use std::sync::Arc;
    /// use discord_oauth_core::login::answer::Refusal;
    /// use discord_oauth_core::login::driver::Attached;
    /// use discord_oauth_core::login::visitor::Visitor;
    ///
    /// # let config = LoginConfig::builder("1", "https://site.example/auth/callback").build()?;
    /// # let login = doc_support::logged_in(&config, "identify guilds");
    /// let visitor = Visitor::new(Attached::Authenticated(Arc::new(login)), Arc::from("/auth/login"));
    /// // An API route (not a page load): a refusal would be `401` JSON.
    /// let tokens = visitor.require_tokens(|| ("/api/guilds", false)).map_err(|r| format!("{r:?}"))?;
    /// assert!(tokens.has_scope(&discord_oauth_core::Scope::Guilds));
    ///
    /// let anonymous = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
    /// let refusal = anonymous.require_tokens(|| ("/api/guilds", false)).unwrap_err();
    /// assert_eq!(refusal.status(), 401);
    /// assert!(matches!(refusal, Refusal::NotLoggedIn { html: false, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_tokens<'h>(&self, at: impl FnOnce() -> (&'h str, bool)) -> Result<&TokenSet, Refusal> {
        self.tokens_if_logged_in()?.ok_or_else(|| {
            let (here, html) = at();
            self.not_logged_in(here, html)
        })
    }

    /// [`Visitor::require_tokens`] without its refusal for an anonymous visitor: `Ok(None)`
    /// when nobody is logged in (then [`Visitor::not_logged_in`] is that refusal), `403` in
    /// identity-only mode, `503` when the store failed.
    pub fn tokens_if_logged_in(&self) -> Result<Option<&TokenSet>, Refusal> {
        self.optional()?
            .map(|s| s.tokens.as_ref().ok_or(Refusal::NoToken))
            .transpose()
    }

    /// `Option<DiscordToken>`, `Option<DiscordClient>`: `None` when anonymous or in
    /// identity-only mode, `503` when the store failed.
    pub fn optional_tokens(&self) -> Result<Option<&TokenSet>, Refusal> {
        Ok(self.optional()?.and_then(|s| s.tokens.as_ref()))
    }
}

/// A logged-in user, as the `DiscordUser` extractors of every framework give it (they deref
/// to this). Derefs to [`User`]; [`LoggedIn::session`] is the whole session (tokens, login
/// time).
///
/// ```
/// use discord_oauth_core::login::visitor::LoggedIn;
/// fn greet(user: &LoggedIn) -> String {
///     format!("{} ({})", user.display_name(), user.id)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LoggedIn(Arc<AuthSession>);

impl LoggedIn {
    /// The login `session` holds.
    pub fn new(session: Arc<AuthSession>) -> Self {
        Self(session)
    }

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

impl Deref for LoggedIn {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0.user
    }
}

/// The logged-in user's access token and granted scopes, as the `DiscordToken` extractors of
/// every framework give them (they deref to this), for calling Discord yourself. The refresh
/// token stays with the integration.
#[derive(Debug, Clone)]
pub struct UserToken {
    access_token: AccessToken,
    scopes: Scopes,
}

impl UserToken {
    /// The access token and scopes of `tokens`.
    pub fn new(tokens: &TokenSet) -> Self {
        Self {
            access_token: tokens.access_token.clone(),
            scopes: tokens.scopes.clone(),
        }
    }

    /// The access token (refreshed by the integration when it was close to expiry).
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
