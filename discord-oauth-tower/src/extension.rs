//! What the layer tells the inner service: [`AuthState`], in the request extensions.

use std::ops::Deref;
use std::sync::Arc;

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::driver::Attached;
use discord_oauth_core::login::visitor::Visitor;

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
#[derive(Debug, Clone)]
pub struct AuthState {
    visitor: Visitor,
    user_api: Option<crate::UserApi>,
}

impl Deref for AuthState {
    type Target = Visitor;
    fn deref(&self) -> &Visitor {
        &self.visitor
    }
}

impl AuthState {
    pub(crate) fn new(attached: Attached, login_path: Arc<str>, user_api: Option<crate::UserApi>) -> Self {
        let user_api = user_api.filter(|_| matches!(attached, Attached::Authenticated(_)));
        Self {
            visitor: Visitor::new(attached, login_path),
            user_api,
        }
    }

    /// The layer's handle for calling Discord with the user's token (rate limits, read
    /// cache, invalid-request budget): `Some` when logged in, except in states built for unit
    /// tests.
    pub fn user_api(&self) -> Option<&crate::UserApi> {
        self.user_api.as_ref()
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
