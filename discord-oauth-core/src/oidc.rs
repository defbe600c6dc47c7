//! OpenID Connect: the `id_token` Discord returns when the `openid` scope is granted.

use std::fmt;

/// A raw OpenID Connect ID token (a compact JWS), as found in a token response.
///
/// `Debug` does not show it: it identifies the user and may carry their email.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a compact JWS string.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The raw compact JWS.
    ///
    /// # Security
    /// Do not log this value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}
