//! Sans-IO Discord OAuth2 (placeholder docs; the walkthrough lands with the flows).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod client;
mod error;
pub mod oidc;
pub mod response;
mod scope;

pub use client::{Client, ClientAuth, DISCORD_ISSUER, Endpoints};
pub use error::ConfigError;
pub use oauth2::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken,
};
pub use rand_core;
pub use scope::{Scope, Scopes};
