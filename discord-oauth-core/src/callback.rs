//! Parsing and validating the redirect back from Discord.

use url::form_urlencoded;

use crate::response::{OAuthError, OAuthErrorCode};

/// The longest callback query string accepted (8 KiB). Discord's codes and our states are a
/// few dozen characters; anything much longer is an attack or a mistake.
pub const MAX_CALLBACK_QUERY_BYTES: usize = 8 * 1024;

/// The longest single parameter value accepted (1 KiB).
const MAX_PARAM_BYTES: usize = 1024;

/// Why a callback was refused. Every variant is decided before any request to Discord.
///
/// The messages are safe to show to the user: they never quote the received values.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{CallbackError, Client, ClientId, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     None,
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(19);
/// let now = SystemTime::now();
/// let (_url, pending) = client.authorize([Scope::Identify]).start(&mut rng, now)?;
/// let query = format!("error=access_denied&error_description=The+user+denied&state={}", pending.state().secret());
///
/// match pending.callback(&query, now + Duration::from_secs(5)) {
///     Ok(grant) => drop(client.exchange_code(grant)),
///     // A normal outcome: show "login cancelled", no alarm.
///     Err(CallbackError::AccessDenied { description }) => {
///         assert_eq!(description.as_deref(), Some("The user denied"));
///     }
///     // Forged, stale or replayed callbacks: start the login again.
///     Err(CallbackError::StateMismatch | CallbackError::UnknownState | CallbackError::Expired) => {}
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The user pressed "Cancel" on Discord's consent screen (`error=access_denied`).
    #[error("login was cancelled on Discord")]
    AccessDenied {
        /// Discord's `error_description`, if any. Untrusted text: escape it before display.
        description: Option<String>,
    },
    /// Discord redirected back with another OAuth error.
    #[error("Discord reported an error: {0}")]
    Provider(OAuthError),
    /// No `state` parameter (or an empty one).
    #[error("the callback has no `state`; start the login again")]
    MissingState,
    /// `state` does not match the pending authorization: a forged or stale callback.
    #[error("the callback's `state` does not match this login; start the login again")]
    StateMismatch,
    /// No pending authorization exists for this callback (never started here, already used,
    /// or started in another browser).
    #[error("no login is in progress for this callback; start the login again")]
    UnknownState,
    /// The pending authorization is older than its time to live.
    #[error("the login took too long and expired; start the login again")]
    Expired,
    /// `iss` is present but is not Discord's issuer (RFC 9207 mix-up defence).
    #[error("the callback's `iss` is not Discord's issuer")]
    IssuerMismatch,
    /// `iss` is required by configuration but absent.
    #[error("the callback has no `iss` but this client requires one")]
    MissingIssuer,
    /// No `code` parameter.
    #[error("the callback has no authorization `code`")]
    MissingCode,
    /// A parameter appears more than once.
    #[error("the callback repeats the `{0}` parameter")]
    DuplicateParameter(&'static str),
    /// The query string or a parameter is too long.
    #[error("the callback's query string is too long")]
    TooLarge,
    /// An access token arrived in the query string (token injection attempt or an implicit
    /// grant redirect sent to a code-grant callback).
    #[error("the callback carries an access token, which this flow never accepts")]
    TokenInQuery,
    /// The callback is malformed in another way.
    #[error("the callback is malformed: {0}")]
    Malformed(&'static str),
}

impl CallbackError {
    pub(crate) fn from_provider(error: String, description: Option<String>) -> Self {
        let code = OAuthErrorCode::from(error);
        if code == OAuthErrorCode::AccessDenied {
            CallbackError::AccessDenied { description }
        } else {
            CallbackError::Provider(OAuthError {
                error: code,
                error_description: description,
            })
        }
    }

    /// `true` if the user cancelled (a normal outcome, not an attack or a fault).
    pub fn is_access_denied(&self) -> bool {
        matches!(self, CallbackError::AccessDenied { .. })
    }
}

/// The parameters of a callback query string, parsed strictly.
///
/// Parsing rejects: a query over [`MAX_CALLBACK_QUERY_BYTES`], any known parameter given twice,
/// any value over 1 KiB, `access_token` in the query, and `code` together with `error`.
/// Unknown parameters are ignored.
///
/// ```
/// use discord_oauth_core::{CallbackParams, CallbackError};
/// let p = CallbackParams::parse("code=abc&state=xyz").unwrap();
/// assert_eq!(p.code.as_deref(), Some("abc"));
/// assert_eq!(CallbackParams::parse("state=a&state=b").unwrap_err(), CallbackError::DuplicateParameter("state"));
/// ```
#[derive(Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `guild_id` (advanced bot authorization).
    pub guild_id: Option<String>,
    /// `permissions` (advanced bot authorization).
    pub permissions: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("CallbackParams")
            .field("code", &redact(&self.code))
            .field("state", &redact(&self.state))
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .field("iss", &self.iss)
            .field("guild_id", &self.guild_id)
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl CallbackParams {
    /// Parses a query string (without the leading `?`).
    pub fn parse(query: &str) -> Result<Self, CallbackError> {
        if query.len() > MAX_CALLBACK_QUERY_BYTES {
            return Err(CallbackError::TooLarge);
        }
        let mut p = CallbackParams::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => (&mut p.code, "code"),
                "state" => (&mut p.state, "state"),
                "error" => (&mut p.error, "error"),
                "error_description" => (&mut p.error_description, "error_description"),
                "iss" => (&mut p.iss, "iss"),
                "guild_id" => (&mut p.guild_id, "guild_id"),
                "permissions" => (&mut p.permissions, "permissions"),
                "access_token" | "id_token" | "refresh_token" => {
                    return Err(CallbackError::TokenInQuery);
                }
                _ => continue,
            };
            if value.len() > MAX_PARAM_BYTES {
                return Err(CallbackError::TooLarge);
            }
            if slot.0.is_some() {
                return Err(CallbackError::DuplicateParameter(slot.1));
            }
            *slot.0 = Some(value.into_owned());
        }
        if p.code.is_some() && p.error.is_some() {
            return Err(CallbackError::Malformed("both `code` and `error` are present"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b09_duplicate_parameters_are_rejected() {
        for q in ["state=a&state=b", "code=x&code=y&state=s", "iss=a&iss=b&code=c&state=s"] {
            assert!(
                matches!(CallbackParams::parse(q), Err(CallbackError::DuplicateParameter(_))),
                "{q}"
            );
        }
    }

    #[test]
    fn b13_code_and_error_together_is_malformed() {
        assert!(matches!(
            CallbackParams::parse("code=x&error=access_denied&state=s"),
            Err(CallbackError::Malformed(_))
        ));
    }

    #[test]
    fn b16_oversized_input_is_rejected() {
        let big = format!("code=x&state={}", "a".repeat(MAX_CALLBACK_QUERY_BYTES));
        assert_eq!(CallbackParams::parse(&big), Err(CallbackError::TooLarge));
        let long_value = format!("code=x&state={}", "a".repeat(2000));
        assert_eq!(CallbackParams::parse(&long_value), Err(CallbackError::TooLarge));
    }

    #[test]
    fn b16_bad_encoding_does_not_panic() {
        for q in [
            "code=%ZZ&state=%",
            "state=%00%ff%fe",
            "=&&&=",
            "code=\u{0}",
            "%",
            "&&state",
        ] {
            let _ = CallbackParams::parse(q);
        }
    }

    #[test]
    fn b17_access_token_in_query_is_rejected() {
        assert_eq!(
            CallbackParams::parse("access_token=abc&state=s"),
            Err(CallbackError::TokenInQuery)
        );
    }

    #[test]
    fn debug_redacts_code_and_state() {
        let p = CallbackParams::parse("code=supersecretcode&state=supersecretstate").unwrap();
        let d = format!("{p:?}");
        assert!(!d.contains("supersecret"), "{d}");
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let p = CallbackParams::parse("code=c&state=s&utm_source=x&utm_source=y").unwrap();
        assert_eq!(p.code.as_deref(), Some("c"));
    }
}
