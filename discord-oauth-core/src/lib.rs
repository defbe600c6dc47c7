//! Sans-IO Discord OAuth2 (walkthrough below once the API settles).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod authorize;
mod bot;
mod callback;
pub mod cdn;
mod client;
mod error;
pub mod http_client;
pub mod implicit;
pub mod login;
pub mod oidc;
mod permissions;
pub mod response;
mod return_to;
mod scope;
mod snowflake;
mod token;

pub use authorize::{
    AuthorizationGrant, AuthorizeRequest, BotOptions, DEFAULT_AUTHORIZATION_TTL, IntegrationType, PendingAuthorization,
    Prompt, constant_time_eq,
};
pub use bot::BotAuthorization;
pub use callback::{CallbackError, CallbackParams, MAX_CALLBACK_QUERY_BYTES};
pub use client::{Client, ClientAuth, DISCORD_ISSUER, Endpoints};
pub use error::ConfigError;
pub use implicit::PendingImplicit;
pub use oauth2::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken,
};
pub use permissions::{ParsePermissionsError, Permissions};
pub use rand_core;
pub use response::{ApiError, OAuthError, OAuthErrorCode, RateLimit, ResponseError};
pub use return_to::{MAX_RETURN_TO_BYTES, ReturnTo};
pub use scope::{Scope, Scopes};
pub use snowflake::{DISCORD_EPOCH_MS, Snowflake};
pub use token::{
    ClientCredentialsExchange, CodeExchange, DEFAULT_TOKEN_LIFETIME, RefreshExchange, RevocableToken, RevokeRequest,
    TokenError, TokenSet,
};

/// Serde helpers storing a `SystemTime` as whole seconds since the Unix epoch.
mod unix_time {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let secs = u64::deserialize(d)?;
        UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}
