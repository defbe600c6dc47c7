//! Sans-IO Discord OAuth2: types and flow state machines for every Discord OAuth2 flow.
//!
//! # The contract
//! This crate performs **no IO and reads no clock**: it has no HTTP client, no async runtime,
//! no global random number generator. Every network step is *data in, data out*:
//! 1. a flow value builds an [`http::Request<Vec<u8>>`](http::Request) (`.request()`);
//! 2. you send it with any HTTP client (reqwest, hyper, a test double) — without following
//!    redirects — and hand the `http::Response<Vec<u8>>` back (`.finish(response, now)`);
//! 3. the flow returns a typed result or a typed error that says what happened.
//!
//! The current time (`SystemTime`) and randomness (`&mut impl rand_core::CryptoRng`) are
//! arguments, so every step is deterministic under test. The framework crates
//! (`discord-oauth-tower`, `-axum`, `-actix`) are thin drivers around this crate.
//!
//! # Walkthrough: the authorization code grant
//! A complete login, with scripted answers standing in for Discord:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use discord_oauth_core::*;
//! use rand::SeedableRng;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(
//!     ClientId::new("157730590492196864".into()),
//!     Some(ClientSecret::new("client-secret".into())),
//!     RedirectUrl::new("https://example.com/auth/callback".into())?,
//! );
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42); // in production: rand::rng()
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//!
//! // 1. The authorize URL (state and PKCE S256 generated from `rng`). Keep `pending`
//! //    server-side (it is serde) and redirect the browser to `url`.
//! let (url, pending) = client.authorize([Scope::Identify, Scope::Guilds]).start(&mut rng, now)?;
//! assert!(url.as_str().starts_with("https://discord.com/oauth2/authorize?response_type=code"));
//!
//! // 2. Discord redirects back to /auth/callback?code=…&state=…: validate the query.
//! //    (state compared in constant time, expiry, `error=access_denied`, repeated parameters)
//! let query = format!("code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}", pending.state().secret());
//! let grant = pending.callback(&query, now + Duration::from_secs(20))?;
//!
//! // 3. The token request: POST, form-encoded, HTTP Basic client auth, the PKCE verifier.
//! let exchange = client.exchange_code(grant);
//! let request = exchange.request();
//! assert_eq!(request.uri(), "https://discord.com/api/v10/oauth2/token");
//! assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
//!
//! // 4. Discord's answer becomes a TokenSet with an absolute expiry.
//! let response = http::Response::builder().status(200).body(
//!     br#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer",
//!          "expires_in":604800,"refresh_token":"D43f5y0ahjqew82jZ4NViEr2YafMKhue",
//!          "scope":"identify guilds"}"#.to_vec(),
//! )?;
//! let tokens = exchange.finish(response, now + Duration::from_secs(21))?;
//! assert!(tokens.has_scope(&Scope::Guilds));
//!
//! // 5. Call /users/@me with the access token (in the Authorization header, never the URL).
//! let call = api::current_user(client.endpoints(), &tokens.access_token);
//! assert_eq!(call.request().uri(), "https://discord.com/api/v10/users/@me");
//! let response = http::Response::builder().status(200).body(
//!     br#"{"id":"80351110224678912","username":"nelly","discriminator":"0",
//!          "global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe"}"#.to_vec(),
//! )?;
//! let user = call.parse(response)?;
//! assert_eq!(user.display_name(), "Nelly");
//!
//! // Later: refresh (the refresh token rotates; the old set is consumed) and revoke.
//! let refresh = client.refresh(tokens)?;
//! assert!(String::from_utf8(refresh.request().into_body())?.contains("grant_type=refresh_token"));
//! # Ok(()) }
//! ```
//!
//! # What else is here
//! - [`Client::refresh`], [`Client::revoke`], [`Client::client_credentials`],
//!   [`Client::implicit_authorize`] (discouraged; see [`implicit`]),
//!   [`Client::bot_authorization_url`] and advanced bot authorization
//!   ([`AuthorizeRequest::bot`]), `webhook.incoming` ([`TokenSet::webhook`]), OpenID Connect
//!   ([`oidc`]).
//! - [`api`]: the user endpoints the scopes unlock, as [`response::ApiCall`] values, and their
//!   types; [`cdn`]: avatar and banner URLs.
//! - [`response`]: error bodies, rate limits (`429`, `retry_after`, `X-RateLimit-*`).
//! - [`login`]: the server-side login driver the framework crates share (config validation,
//!   pending logins, session records, error pages, flow state machines).
//! - [`ReturnTo`]: open-redirect-safe `return_to` validation.
//! - [`events`]: Discord's webhook events (`POST` to the application's Events Webhook URL),
//!   Ed25519-verified with the application's [`ApplicationPublicKey`] and typed
//!   (`APPLICATION_DEAUTHORIZED` ends a user's sessions).
//! - [`guides`]: refresh, revoke and the implicit grant sent by hand ([`guides::tokens_by_hand`]).
//!
//! Secrets (client secret, tokens, PKCE verifier, state, codes) never appear in `Debug`,
//! `Display` or error messages.
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod authorize;
mod bot;
pub mod bounded;
mod callback;
pub mod cdn;
mod client;
pub mod embedded;
mod error;
pub mod events;
pub mod fast_index;
pub mod guides;
pub mod http_client;
pub mod implicit;
pub mod login;
pub mod oidc;
mod permissions;
mod public_key;
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
pub use public_key::{ApplicationPublicKey, PublicKeyError};
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
