//! What the layer tells the inner service: [`AuthState`], in the request extensions.

use std::sync::Arc;

use tower_sessions::Session;

use crate::shared::Shared;
use crate::user_api::SessionLogin;
use crate::{UserApi, UserClient};

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::driver::Attached;
use discord_oauth_core::login::visitor::Visitor;

discord_oauth_runtime::auth_state! {
    /// The authentication state of a request, inserted by [`crate::DiscordOAuthLayer`] into the
    /// request extensions of every request it passes on. Extractors and handlers read it; its
    /// absence means the layer is not installed. It derefs to the core's [`Visitor`] (`session`,
    /// `user`, `access_token`, `is_store_unavailable`, `login_url`, and the extractors'
    /// decisions), the same on every framework.
    ///
    /// ```
    /// # use discord_oauth_tower::AuthState;
    /// fn whoami(req: &http::Request<()>) -> String {
    ///     match req.extensions().get::<AuthState>().and_then(|s| s.user()) {
    ///         Some(user) => format!("hello {}", user.username),
    ///         None => "not logged in".to_owned(),
    ///     }
    /// }
    /// ```
    pub struct AuthState {
        /// The layer's state, for calling Discord (`None` in states built for tests).
        shared: Option<Arc<Shared>>,
    }
}

impl AuthState {
    pub(crate) fn new(attached: Attached, login_path: Arc<str>, shared: Option<&Arc<Shared>>) -> Self {
        let shared = shared.filter(|_| matches!(attached, Attached::Authenticated(_)));
        Self {
            visitor: Visitor::new(attached, login_path),
            shared: shared.cloned(),
        }
    }

    /// The state of a request without a session cookie: nobody logged in, nothing to read.
    pub(crate) fn anonymous(shared: &Shared) -> Self {
        Self::new(Attached::Anonymous, Arc::clone(&shared.login_path), None)
    }

    /// The layer's handle for calling Discord with the user's token (rate limits, read
    /// cache, invalid-request budget): `Some` when logged in, except in states built for unit
    /// tests.
    pub fn user_api(&self) -> Option<UserApi> {
        Some(UserApi::new(Arc::clone(self.shared.as_ref()?) as _))
    }

    /// A client for this request's login, held in `session` (the request's
    /// `tower_sessions::Session`): when Discord answers `401` to its access token, the login
    /// is refreshed once — under the layer's refresh lock, single flight with the layer's own
    /// refreshes, the new tokens stored in the session before they are used — and the call is
    /// sent once more with the new token. A second `401`, or no refresh possible (no refresh
    /// token, Discord rejected it: the session is then ended), ends the call with
    /// `ClientError::TokenRejected`. `None` when nobody is logged in or the login keeps no
    /// token. `discord-oauth-axum`'s `DiscordClient` extractor is this.
    ///
    /// ```
    /// use discord_oauth_core::api::client::{ClientError, UserCalls};
    /// use discord_oauth_tower::AuthState;
    /// use tower_sessions::Session;
    ///
    /// /// The user's guild names, from a handler given the request's extensions.
    /// async fn guild_names(state: &AuthState, session: &Session) -> Result<Vec<String>, ClientError> {
    ///     let Some(client) = state.user_client(session) else {
    ///         return Ok(Vec::new()); // not logged in, or an identity-only login
    ///     };
    ///     Ok(client.guilds(&Default::default()).await?.into_iter().map(|g| g.name).collect())
    /// }
    /// ```
    pub fn user_client(&self, session: &Session) -> Option<UserClient> {
        let shared = self.shared.as_ref()?;
        let refresh = SessionLogin {
            shared: Arc::clone(shared),
            session: session.clone(),
        };
        self.user_api()?.for_login(Arc::clone(self.session()?), refresh)
    }

    /// An anonymous state, for unit tests of code that reads [`AuthState`].
    #[doc(hidden)]
    pub fn for_tests_anonymous(login_path: &str) -> Self {
        Self::new(Attached::Anonymous, Arc::from(login_path), None)
    }

    /// A state whose session store failed, for unit tests of code that reads [`AuthState`].
    #[doc(hidden)]
    pub fn for_tests_unavailable(login_path: &str) -> Self {
        Self::new(Attached::Unavailable, Arc::from(login_path), None)
    }

    /// An authenticated state, for unit tests of code that reads [`AuthState`].
    pub fn for_tests_authenticated(session: AuthSession, login_path: &str) -> Self {
        Self::new(Attached::Authenticated(Arc::new(session)), Arc::from(login_path), None)
    }
}
