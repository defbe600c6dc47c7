//! Configuration errors. Flow errors live beside their flows: [`crate::CallbackError`],
//! [`crate::TokenError`], [`crate::response::ApiError`].

/// A client, endpoint or flow was configured in a way Discord would refuse, or that would be
/// unsafe. Each message says what to change.
///
/// Returned when a flow is set up, before any request is built:
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::{Client, ClientId, ConfigError, RedirectUrl, Scope, Scopes};
/// use rand::SeedableRng;
///
/// // A public client (no secret) and no redirect URI.
/// let client = Client::without_redirect(ClientId::new("157730590492196864".into()), None);
///
/// match client.client_credentials([Scope::Identify], false) {
///     Err(ConfigError::MissingClientSecret) => {} // client credentials need the secret
///     other => panic!("unexpected: {other:?}"),
/// }
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1); // in production: rand::rng()
/// let err = client.implicit_authorize([Scope::Identify], &mut rng, SystemTime::now());
/// assert!(matches!(err, Err(ConfigError::MissingRedirectUri)));
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     None,
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let err = client.authorize(Scopes::new()).start(&mut rng, SystemTime::now());
/// assert!(matches!(err, Err(ConfigError::NoScopes)));
///
/// // Every message names the fix.
/// assert!(ConfigError::NoScopes.to_string().contains("identify"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL is not usable.
    #[error("the {what} is not a usable URL: {reason}")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A flow that needs a redirect URI was started on a client without one.
    #[error("this flow needs a redirect URI; create the client with `Client::new(.., redirect_uri)`")]
    MissingRedirectUri,
    /// A flow that needs a client secret was started on a public client.
    #[error("this flow needs the client secret; public clients (no secret) cannot use it")]
    MissingClientSecret,
    /// No scope was requested.
    #[error("no scope requested; ask for at least `identify` to log users in")]
    NoScopes,
    /// A scope that Discord refuses in this flow was requested.
    #[error("scope `{scope}` cannot be used here: {reason}")]
    ScopeNotAllowed {
        /// The scope.
        scope: String,
        /// Why Discord refuses it.
        reason: &'static str,
    },
    /// Any other invalid setting.
    #[error("{0}")]
    Invalid(String),
}
