//! What the layer tells the inner service: [`AuthState`], in the request extensions.

use std::sync::Arc;

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::{AccessToken, api::User};

/// The authentication state of a request, inserted by [`crate::DiscordOAuthLayer`] into the
/// request extensions of every request it passes on. Extractors and handlers read it; its
/// absence means the layer is not installed.
///
/// ```
/// # use discord_oauth_tower::AuthState;
/// fn whoami(req: &http::Request<()>) -> String {
///     match req.extensions().get::<AuthState>().and_then(AuthState::user) {
///         Some(user) => format!("hello {}", user.username),
///         None => "not logged in".to_owned(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthState {
    session: Option<Arc<AuthSession>>,
    store_unavailable: bool,
    login_path: Arc<str>,
    user_api: Option<crate::UserApi>,
}

impl AuthState {
    pub(crate) fn anonymous(login_path: Arc<str>) -> Self {
        Self {
            session: None,
            store_unavailable: false,
            login_path,
            user_api: None,
        }
    }

    pub(crate) fn unavailable(login_path: Arc<str>) -> Self {
        Self {
            session: None,
            store_unavailable: true,
            login_path,
            user_api: None,
        }
    }

    pub(crate) fn authenticated(session: Arc<AuthSession>, login_path: Arc<str>, user_api: crate::UserApi) -> Self {
        Self {
            session: Some(session),
            store_unavailable: false,
            login_path,
            user_api: Some(user_api),
        }
    }

    /// The layer's handle for calling Discord with the user's token (rate limits, read
    /// cache, invalid-request budget): `Some` when logged in, except in states built for unit
    /// tests.
    pub fn user_api(&self) -> Option<&crate::UserApi> {
        self.user_api.as_ref()
    }

    /// The authenticated session (user, tokens, login time), if logged in.
    pub fn session(&self) -> Option<&Arc<AuthSession>> {
        self.session.as_ref()
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        self.session.as_deref().map(|s| &s.user)
    }

    /// A fresh access token for calling Discord on the user's behalf (the layer refreshed it
    /// if it was close to expiry). `None` if logged out or in identity-only mode.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.session
            .as_deref()
            .and_then(|s| s.tokens.as_ref())
            .map(|t| &t.access_token)
    }

    /// `true` if the session store failed, so whether the user is logged in is unknown.
    /// Extractors answer 503 rather than guessing (checklist H-15).
    pub fn is_store_unavailable(&self) -> bool {
        self.store_unavailable
    }

    /// The login route's path.
    pub fn login_path(&self) -> &str {
        &self.login_path
    }

    /// The login URL that comes back to `return_to` afterwards.
    ///
    /// ```
    /// # use discord_oauth_tower::AuthState;
    /// # let state = AuthState::for_tests_anonymous("/auth/login");
    /// assert_eq!(state.login_url("/guilds?x=1"), "/auth/login?return_to=%2Fguilds%3Fx%3D1");
    /// ```
    pub fn login_url(&self, return_to: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}?return_to={encoded}", self.login_path)
    }

    fn with_session(mut self, session: Arc<AuthSession>) -> Self {
        self.session = Some(session);
        self
    }

    /// An anonymous state, for unit tests of code that reads [`AuthState`].
    #[doc(hidden)]
    pub fn for_tests_anonymous(login_path: &str) -> Self {
        Self::anonymous(Arc::from(login_path))
    }

    /// A state whose session store failed, for unit tests of code that reads [`AuthState`].
    #[doc(hidden)]
    pub fn for_tests_unavailable(login_path: &str) -> Self {
        Self::unavailable(Arc::from(login_path))
    }

    /// An authenticated state, for unit tests of code that reads [`AuthState`].
    pub fn for_tests_authenticated(session: AuthSession, login_path: &str) -> Self {
        Self {
            user_api: None,
            ..Self::anonymous(Arc::from(login_path))
        }
        .with_session(Arc::new(session))
    }
}
