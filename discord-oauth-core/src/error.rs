//! Configuration errors. Flow errors live beside their flows: [`crate::CallbackError`],
//! [`crate::TokenError`], [`crate::response::ApiError`].

/// A client, endpoint or flow was configured in a way Discord would refuse, or that would be
/// unsafe. Each message says what to change.
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
