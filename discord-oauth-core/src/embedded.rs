//! The backend side of Discord's Embedded App SDK (Activities), sans-IO.
//!
//! An Activity's client calls the SDK's `authorize`, gets an authorization `code`, and sends it
//! to *your* backend, which exchanges it (without a `redirect_uri`:
//! [`AuthorizationGrant::from_code(code, None, scopes)`](crate::AuthorizationGrant::from_code)),
//! fetches `/users/@me` and answers:
//! - [`AuthorizeSuccess`]: the JSON the client expects (`token_type`, `access_token`,
//!   `refresh_token`, `expires_in`, `scope`, `user_data`, `websocket_token`);
//! - [`WebsocketTokenSigner`] / [`WebsocketTokenVerifier`]: a short-lived HS256 JWT that
//!   authenticates the client to *your* backend (never to Discord), binding the user id, the
//!   scopes, an audience and an expiry, with a key id (`kid`) so keys can rotate;
//! - [`ProxyVerifier`]: the Ed25519 signature Discord's Activity proxy can put on the requests
//!   it forwards (`X-Signature-Ed25519`, `X-Signature-Timestamp`, `X-Discord-Proxy-Payload`);
//! - [`RateLimitedBody`]: what to answer the client when Discord answers 429 (`retry_after` in
//!   float seconds, taken from Discord's answer, never invented).
//!
//! [`EmbeddedConfig`] ties these together into the endpoints the framework crates serve: the
//! token endpoint ([`EmbeddedConfig::token_flow`]), the refresh endpoint
//! ([`EmbeddedConfig::refresh_flow`]) and the websocket-token check
//! ([`WebsocketTokenVerifier::verify_request`]). Their answers are `http::Response<String>`
//! built here, so every framework sends byte-for-byte the same JSON. The framework crates
//! serve them through one driver ([`EmbeddedRequest`], [`EmbeddedConfig::serve`],
//! [`WebsocketAuth`], [`ProxyCheck`]): they convert requests and answers and carry out the
//! IO, nothing more.
//!
//! Like the rest of this crate, nothing here reads a clock: the current time is an argument.
//!
//! # Cookies inside Discord's iframe
//! An Activity runs in an iframe on `discord.com`, served from `{application_id}.discordsays.com`
//! through Discord's proxy: to the browser every cookie your backend sets there is a
//! third-party cookie. Browsers store it only with `SameSite=None; Secure; Partitioned`
//! (CHIPS), and some still refuse it. Prefer the `websocket_token` (or your own bearer token)
//! held in memory by the page; if you do set a cookie, set all three attributes.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::api::User;
use crate::cdn;
use crate::response::RateLimit;
use crate::{Scope, Scopes, Snowflake, TokenSet};

pub mod answer;
mod backend;
mod proxy;
mod serve;

pub use backend::{
    DEFAULT_REFRESH_PROOF_MAX_AGE, EmbeddedConfig, MAX_BODY_BYTES, RefreshFlow, RefreshProof, RefreshRejection,
    TokenFlow, WebsocketRejection, is_json,
};
pub use proxy::{
    DEFAULT_CLOCK_SKEW, InstanceCheck, InstanceCheckFuture, MAX_PAYLOAD_HEADER_BYTES, PAYLOAD_HEADER, ProxyAuth,
    ProxyPayload, ProxyPublicKey, ProxyRejection, ProxySignatureError, ProxyVerifier, SIGNATURE_HEADER,
    TIMESTAMP_HEADER, sign_proxy_payload,
};
pub use serve::{
    Clock, DEFAULT_TIMEOUT, EmbeddedIo, EmbeddedRequest, Endpoint, MAX_WEBSOCKET_FRAME_BYTES,
    MAX_WEBSOCKET_MESSAGE_BYTES, MAX_WEBSOCKET_WRITE_BUFFER_BYTES, Outgoing, ProxyCheck, Rejection, Sending,
    WebsocketAuth,
};

// ---------------------------------------------------------------------------------------------
// The authorize answer
// ---------------------------------------------------------------------------------------------

/// The user object of the SDK's `DISCORD_AUTHORIZE_SUCCESS` answer.
///
/// Every field has the SDK's documented type: numbers and booleans Discord left out are `0` /
/// `false`; `avatar` and `banner` are full CDN URLs or `null`; `email` is present only when the
/// `email` scope was granted (and then `null` for an account without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::option_option)] // absent vs `null` email: the SDK distinguishes them
pub struct UserData {
    /// The user's id (a snowflake, as a string).
    pub id: String,
    /// The username.
    pub username: String,
    /// The display name, or `null`.
    pub global_name: Option<String>,
    /// The legacy tag, or `"0"`.
    pub discriminator: String,
    /// The avatar's CDN URL, or `null` when the user has none.
    pub avatar: Option<String>,
    /// Whether the email address is verified (`false` unless Discord said so).
    pub verified: bool,
    /// The email address: only present when the `email` scope was granted.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present_nullable")]
    pub email: Option<Option<String>>,
    /// The account's flags.
    pub flags: u64,
    /// The banner's CDN URL, or `null`.
    pub banner: Option<String>,
    /// The profile colour (`0xRRGGBB`), `0` when unset.
    pub accent_color: u32,
    /// The Nitro type (0 none, 1 classic, 2 Nitro, 3 basic).
    pub premium_type: u64,
    /// The account's public flags.
    pub public_flags: u64,
    /// Whether two-factor authentication is on.
    pub mfa_enabled: bool,
}

/// `Option<Option<T>>`: outer `None` = absent field, `Some(None)` = `null`.
#[allow(clippy::option_option)]
mod present_nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` passes a reference
    pub(super) fn serialize<S: Serializer, T: Serialize>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl UserData {
    /// Builds the SDK's user object. `email_granted` decides whether `email` is present.
    pub fn new(user: &User, email_granted: bool) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            global_name: user.global_name.clone(),
            discriminator: user.discriminator.clone(),
            avatar: user
                .avatar
                .as_deref()
                .map(|h| cdn::user_avatar(user.id, h, None).to_string()),
            verified: user.verified.unwrap_or(false),
            email: email_granted.then(|| user.email.clone()),
            flags: user.flags.unwrap_or(0),
            banner: user
                .banner
                .as_deref()
                .map(|h| cdn::user_banner(user.id, h, None).to_string()),
            accent_color: user.accent_color.unwrap_or(0),
            premium_type: user.premium_type.map_or(0, u64::from),
            public_flags: user.public_flags.unwrap_or(0),
            mfa_enabled: user.mfa_enabled.unwrap_or(false),
        }
    }
}

/// The whole `DISCORD_AUTHORIZE_SUCCESS` answer of the SDK's `authorize` command.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::embedded::{AuthorizeSuccess, WebsocketKey, WebsocketTokenSigner};
/// use discord_oauth_core::{Endpoints, Scopes, TokenSet, api};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// // The tokens from the code exchange and the user from `/users/@me`.
/// let tokens = TokenSet::parse(
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,
///          "refresh_token":"rt","scope":"identify"}"#,
///     &Scopes::new(),
///     now,
/// )?;
/// let user = api::current_user(&Endpoints::discord(), &tokens.access_token).parse(
///     http::Response::builder().status(200).body(
///         br#"{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}"#.to_vec(),
///     )?,
/// )?;
///
/// let signer = WebsocketTokenSigner::new(WebsocketKey::new("k1", [7u8; 32])?, "my-activity")?;
/// let ws = signer.sign_for_session(user.id, &tokens.scopes, Some("rt"), now);
/// let answer = AuthorizeSuccess::new(&tokens, &user, ws, now);
/// assert_eq!(answer.expires_in, 604800);
///
/// let json = serde_json::to_value(&answer)?; // the body the Activity's client expects
/// assert_eq!(json["user_data"]["username"], "nelly");
/// assert_eq!(json["scope"], "identify");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeSuccess {
    /// Always `"Bearer"`.
    pub token_type: String,
    /// The Discord access token.
    pub access_token: String,
    /// The Discord refresh token (empty if Discord sent none).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scopes, space separated.
    pub scope: String,
    /// The user.
    pub user_data: UserData,
    /// A token for this app's own backend (see [`WebsocketTokenSigner`]).
    pub websocket_token: String,
}

impl fmt::Debug for AuthorizeSuccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeSuccess")
            .field("token_type", &self.token_type)
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("user_data", &self.user_data)
            .field("websocket_token", &"[redacted]")
            .finish()
    }
}

impl AuthorizeSuccess {
    /// Builds the answer from the exchanged tokens, the user and a signed websocket token.
    /// `expires_in` counts from `now` (0 if the tokens already expired).
    pub fn new(tokens: &TokenSet, user: &User, websocket_token: String, now: SystemTime) -> Self {
        Self {
            token_type: "Bearer".to_owned(),
            access_token: tokens.access_token.secret().clone(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| t.secret().clone())
                .unwrap_or_default(),
            expires_in: tokens.expires_at.duration_since(now).map_or(0, |d| d.as_secs()),
            scope: tokens.scopes.to_string(),
            user_data: UserData::new(user, tokens.scopes.contains(&Scope::Email)),
            websocket_token,
        }
    }
}

/// The answer of a refresh endpoint: the new token set in Discord's own field names.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshSuccess {
    /// Always `"Bearer"`.
    pub token_type: String,
    /// The new access token.
    pub access_token: String,
    /// The new refresh token (Discord rotates it; the old one no longer works).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scopes, space separated.
    pub scope: String,
    /// A new websocket token bound to the new refresh token, when the refresh was proven with
    /// a websocket token (the old one no longer proves anything: its refresh token is spent).
    /// Absent when the refresh was proven with Discord's proxy signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_token: Option<String>,
}

impl fmt::Debug for RefreshSuccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSuccess")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("websocket_token", &self.websocket_token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl RefreshSuccess {
    /// Builds the answer from a refreshed token set (without a websocket token; set
    /// [`websocket_token`](Self::websocket_token) to add one).
    pub fn new(tokens: &TokenSet, now: SystemTime) -> Self {
        Self {
            token_type: "Bearer".to_owned(),
            access_token: tokens.access_token.secret().clone(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| t.secret().clone())
                .unwrap_or_default(),
            expires_in: tokens.expires_at.duration_since(now).map_or(0, |d| d.as_secs()),
            scope: tokens.scopes.to_string(),
            websocket_token: None,
        }
    }
}

/// A token set holding only `refresh_token`, for a refresh endpoint whose client sends nothing
/// else: pass it to [`Client::refresh`](crate::Client::refresh). The scopes are unknown (empty)
/// until Discord's answer names them.
///
/// ```
/// use discord_oauth_core::{Client, ClientId, ClientSecret, RefreshToken, embedded};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// // The Activity sent only its refresh token.
/// let refresh = client.refresh(embedded::refresh_only(RefreshToken::new("rt".into())))?;
/// assert_eq!(refresh.request().into_body(), b"grant_type=refresh_token&refresh_token=rt");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn refresh_only(refresh_token: crate::RefreshToken) -> TokenSet {
    TokenSet {
        access_token: crate::AccessToken::new(String::new()),
        refresh_token: Some(refresh_token),
        expires_at: UNIX_EPOCH,
        scopes: Scopes::new(),
        guild: None,
        webhook: None,
        id_token: None,
    }
}

// ---------------------------------------------------------------------------------------------
// 429
// ---------------------------------------------------------------------------------------------

/// The JSON body to send the client with a 429 when Discord rate limited the backend.
///
/// `retry_after` is float seconds, as in Discord's own body, and always comes from what
/// Discord said: its JSON body's `retry_after` (passed on exactly, see
/// [`from_response`](Self::from_response)), else its `Retry-After` or
/// `X-RateLimit-Reset-After` header. When Discord said nothing at all (e.g. a Cloudflare block
/// with neither) it is `null`: the client must back off on its own. Nothing here ever invents
/// a wait, and nothing retries at once.
///
/// ```
/// use discord_oauth_core::embedded::RateLimitedBody;
///
/// // Discord's answer to the backend's token request…
/// let discord = http::Response::builder()
///     .status(429)
///     .body(br#"{"message":"You are being rate limited.","retry_after":1.25,"global":false}"#.to_vec())?;
/// // …becomes the backend's answer to the Activity.
/// let body = RateLimitedBody::from_response(&discord);
/// assert_eq!(body.retry_after, Some(1.25));
/// assert_eq!(body.retry_after_header(), Some(2)); // `Retry-After: 2`
/// assert_eq!(serde_json::to_value(&body)?["error"], "rate_limited");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitedBody {
    /// Always `"rate_limited"`.
    pub error: String,
    /// A human-readable message.
    pub message: String,
    /// Seconds to wait before trying again; `null` when Discord did not say.
    pub retry_after: Option<f64>,
    /// Whether Discord's global limit was hit.
    pub global: bool,
}

/// Waits longer than this (one hour) are passed on as this long.
const MAX_RETRY_AFTER_SECS: f64 = 3600.0;

impl RateLimitedBody {
    /// Maps Discord's rate limit (as parsed into a [`RateLimit`]) to the client's answer.
    pub fn from_rate_limit(rl: &RateLimit) -> Self {
        Self {
            error: "rate_limited".to_owned(),
            message: "Discord is rate limiting this application; try again later.".to_owned(),
            retry_after: rl.retry_after.map(|d| d.as_secs_f64()),
            global: rl.global,
        }
    }

    /// Maps Discord's 429 response: the body's `retry_after` number is passed on exactly as
    /// Discord wrote it (capped at one hour), else what [`RateLimit::from_parts`] reads from
    /// the headers.
    pub fn from_response<B: AsRef<[u8]>>(response: &http::Response<B>) -> Self {
        let body = response.body().as_ref();
        let mut out = Self::from_rate_limit(&RateLimit::from_parts(response.headers(), body));
        let exact = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64))
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.min(MAX_RETRY_AFTER_SECS));
        if exact.is_some() {
            out.retry_after = exact;
        }
        out
    }

    /// The value for a `Retry-After` header on the client's 429: whole seconds, rounded up;
    /// `None` when Discord named no wait.
    pub fn retry_after_header(&self) -> Option<u64> {
        // retry_after is finite, non-negative and at most an hour.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.retry_after.map(|s| s.ceil().max(0.0) as u64)
    }
}

// ---------------------------------------------------------------------------------------------
// websocket_token: HS256 JWT with a key id
// ---------------------------------------------------------------------------------------------

/// The longest lifetime a websocket token may be given (one hour).
pub const MAX_WEBSOCKET_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The default lifetime of a websocket token (ten minutes: enough to open the socket).
pub const DEFAULT_WEBSOCKET_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Keys shorter than this are refused (256 bits, the HS256 output size).
pub const MIN_KEY_BYTES: usize = 32;
/// Tokens longer than this are refused before any decoding.
pub const MAX_WEBSOCKET_TOKEN_BYTES: usize = 4096;

/// A configuration error of the signer or verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is shorter than [`MIN_KEY_BYTES`].
    #[error("a websocket token key must be at least {MIN_KEY_BYTES} bytes")]
    TooShort,
    /// The key id is empty, too long (over 64 bytes) or not `[A-Za-z0-9._-]`.
    #[error("a key id must be 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    BadKeyId,
    /// The lifetime is zero or over [`MAX_WEBSOCKET_TOKEN_TTL`].
    #[error("a websocket token lifetime must be between 1 second and 1 hour")]
    BadTtl,
    /// The audience is empty.
    #[error("the audience must not be empty")]
    EmptyAudience,
    /// Two verification keys share a key id.
    #[error("two verification keys share a key id")]
    DuplicateKeyId,
}

/// Why a websocket token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebsocketTokenError {
    /// Not a JWT of the expected form (three base64url parts, JSON, HS256), or too long.
    #[error("the websocket token is malformed")]
    Malformed,
    /// The key id is not one this verifier knows (an unknown or retired key).
    #[error("the websocket token was signed with an unknown key")]
    UnknownKeyId,
    /// The signature does not match: the token was altered or signed with another key.
    #[error("the websocket token's signature is not valid")]
    BadSignature,
    /// The token has expired.
    #[error("the websocket token has expired")]
    Expired,
    /// The token is not valid yet (issued in the future, beyond the allowed leeway).
    #[error("the websocket token is not valid yet")]
    NotYetValid,
    /// The token was issued for another audience.
    #[error("the websocket token is for another audience")]
    WrongAudience,
}

/// The claims of a websocket token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsocketClaims {
    /// The Discord user id.
    pub sub: Snowflake,
    /// The granted Discord scopes, space separated.
    pub scope: String,
    /// The audience (which backend the token is for).
    pub aud: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: u64,
    /// Expiry (seconds since the Unix epoch).
    pub exp: u64,
    /// The session binding: [`refresh_token_hash`] of the Discord refresh token issued
    /// together with this token, when there was one. It lets the refresh endpoint check that
    /// the caller holds *this* session (see [`WebsocketTokenVerifier::verify_refresh_proof`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt_hash: Option<String>,
}

impl WebsocketClaims {
    /// The scopes as a set.
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope)
    }

    /// The Discord user id.
    pub fn user_id(&self) -> Snowflake {
        self.sub
    }
}

/// The session binding of a websocket token: base64url of the left half of SHA-256 of the
/// refresh token (as OpenID Connect's `at_hash` does for access tokens). Tokens are long and
/// random, so the hash does not reveal the refresh token.
pub fn refresh_token_hash(refresh_token: &str) -> String {
    use sha2::Digest as _;
    let digest = Sha256::digest(refresh_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Equal bytes, compared without an early exit.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a websocket token does not prove that the caller holds the session being refreshed
/// ([`WebsocketTokenVerifier::verify_refresh_proof`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshProofError {
    /// The token itself is refused (form, key, signature, audience, issued in the future, or
    /// older than the refresh proof's maximum age).
    #[error(transparent)]
    Token(WebsocketTokenError),
    /// The token is genuine but was issued for another session: it names no refresh token,
    /// or another one (another user's, or one already rotated away).
    #[error("the websocket token was issued with another refresh token")]
    OtherSession,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
    }
}

/// A named HMAC key. Its bytes never appear in `Debug`.
///
/// ```
/// use discord_oauth_core::embedded::{KeyError, WebsocketKey};
///
/// let key = WebsocketKey::new("2026-12", [42u8; 32])?; // 32 random bytes in production
/// assert_eq!(key.kid(), "2026-12");
/// assert!(!format!("{key:?}").contains("42"));
///
/// assert!(matches!(WebsocketKey::new("k", [0u8; 16]), Err(KeyError::TooShort)));
/// assert!(matches!(WebsocketKey::new("no spaces", [0u8; 32]), Err(KeyError::BadKeyId)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WebsocketKey {
    kid: String,
    secret: Vec<u8>,
}

impl fmt::Debug for WebsocketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebsocketKey")
            .field("kid", &self.kid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl WebsocketKey {
    /// A key with its id. The secret must be at least [`MIN_KEY_BYTES`] random bytes.
    pub fn new(kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let kid = kid.into();
        let secret = secret.into();
        if !valid_kid(&kid) {
            return Err(KeyError::BadKeyId);
        }
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(Self { kid, secret })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Signs websocket tokens with the *current* key.
///
/// Rotation: start signing with a new key (new `kid`) while the verifier still accepts the
/// old one for at least one token lifetime, then drop the old key from the verifier.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::embedded::{
///     WebsocketKey, WebsocketTokenError, WebsocketTokenSigner, WebsocketTokenVerifier,
/// };
/// use discord_oauth_core::{Scope, Scopes, Snowflake};
///
/// let old = WebsocketKey::new("k1", [1u8; 32])?;
/// let new = WebsocketKey::new("k2", [2u8; 32])?;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let user = Snowflake::new(80351110224678912);
/// let scopes = Scopes::from([Scope::Identify]);
///
/// let signer = WebsocketTokenSigner::new(old.clone(), "my-activity")?.with_ttl(Duration::from_secs(300))?;
/// let token = signer.sign(user, &scopes, now);
///
/// // Rotation: sign with the new key, keep accepting the old one for one token lifetime.
/// let signer = WebsocketTokenSigner::new(new.clone(), "my-activity")?;
/// let verifier = WebsocketTokenVerifier::new([new, old], "my-activity")?;
/// let claims = verifier.verify(&token, now + Duration::from_secs(60))?;
/// assert_eq!(claims.user_id(), user);
/// assert!(claims.scopes().contains(&Scope::Identify));
/// assert!(verifier.verify(&signer.sign(user, &scopes, now), now).is_ok());
///
/// match verifier.verify(&token, now + Duration::from_secs(301)) {
///     Err(WebsocketTokenError::Expired) => { /* ask the client to authorize again */ }
///     other => return Err(format!("unexpected: {other:?}").into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebsocketTokenSigner {
    key: WebsocketKey,
    audience: String,
    ttl: Duration,
}

impl WebsocketTokenSigner {
    /// A signer for `audience` with the [default lifetime](DEFAULT_WEBSOCKET_TOKEN_TTL).
    pub fn new(key: WebsocketKey, audience: impl Into<String>) -> Result<Self, KeyError> {
        let audience = audience.into();
        if audience.is_empty() {
            return Err(KeyError::EmptyAudience);
        }
        Ok(Self {
            key,
            audience,
            ttl: DEFAULT_WEBSOCKET_TOKEN_TTL,
        })
    }

    /// Sets the lifetime (1 second to [`MAX_WEBSOCKET_TOKEN_TTL`]).
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self, KeyError> {
        if ttl < Duration::from_secs(1) || ttl > MAX_WEBSOCKET_TOKEN_TTL {
            return Err(KeyError::BadTtl);
        }
        self.ttl = ttl;
        Ok(self)
    }

    /// The lifetime of the tokens this signer issues.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user_id` with `scopes`, issued at `now`, bound to no session (it
    /// cannot prove a refresh; see [`sign_for_session`](Self::sign_for_session)).
    pub fn sign(&self, user_id: Snowflake, scopes: &Scopes, now: SystemTime) -> String {
        self.sign_claims(user_id, scopes, None, now)
    }

    /// Signs a token for `user_id` with `scopes`, issued at `now`, bound to the session whose
    /// Discord refresh token is `refresh_token` (its [`refresh_token_hash`] becomes the
    /// `rt_hash` claim). The endpoints sign every token this way, so that the token later
    /// proves a refresh of exactly that session.
    pub fn sign_for_session(
        &self,
        user_id: Snowflake,
        scopes: &Scopes,
        refresh_token: Option<&str>,
        now: SystemTime,
    ) -> String {
        let rt_hash = refresh_token.filter(|t| !t.is_empty()).map(refresh_token_hash);
        self.sign_claims(user_id, scopes, rt_hash, now)
    }

    fn sign_claims(&self, user_id: Snowflake, scopes: &Scopes, rt_hash: Option<String>, now: SystemTime) -> String {
        let iat = secs(now);
        let claims = WebsocketClaims {
            sub: user_id,
            scope: scopes.to_string(),
            aud: self.audience.clone(),
            iat,
            exp: iat.saturating_add(self.ttl.as_secs()),
            rt_hash,
        };
        let header = Header {
            alg: "HS256".to_owned(),
            typ: "JWT".to_owned(),
            kid: self.key.kid.clone(),
        };
        // Serializing these plain structs cannot fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let mut m = mac(&self.key.secret);
        m.update(signing_input.as_bytes());
        let sig = m.finalize().into_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// Verifies websocket tokens against one or more keys (by key id) and one audience.
///
/// A refresh endpoint checks that the caller holds the session it asks to refresh:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::embedded::{
///     DEFAULT_REFRESH_PROOF_MAX_AGE, RefreshProofError, WebsocketKey, WebsocketTokenSigner,
///     WebsocketTokenVerifier,
/// };
/// use discord_oauth_core::{Scopes, Snowflake};
///
/// let key = WebsocketKey::new("k1", [1u8; 32])?;
/// let signer = WebsocketTokenSigner::new(key.clone(), "my-activity")?;
/// let verifier = WebsocketTokenVerifier::new([key], "my-activity")?.with_leeway(Duration::from_secs(5));
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let user = Snowflake::new(80351110224678912);
///
/// // Issued with the session's refresh token…
/// let token = signer.sign_for_session(user, &Scopes::new(), Some("rt-1"), now);
/// // …it proves that session days later, though the token itself has expired.
/// let later = now + Duration::from_secs(3 * 24 * 3600);
/// let claims = verifier.verify_refresh_proof(&token, "rt-1", DEFAULT_REFRESH_PROOF_MAX_AGE, later)?;
/// assert_eq!(claims.user_id(), user);
///
/// // Not another session's.
/// let err = verifier.verify_refresh_proof(&token, "rt-2", DEFAULT_REFRESH_PROOF_MAX_AGE, later);
/// assert!(matches!(err, Err(RefreshProofError::OtherSession)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebsocketTokenVerifier {
    keys: HashMap<String, WebsocketKey>,
    audience: String,
    leeway: Duration,
}

impl WebsocketTokenVerifier {
    /// A verifier accepting tokens signed by any of `keys`, for `audience`. The clock leeway
    /// (allowed skew for `iat` and `exp`) is zero; see [`with_leeway`](Self::with_leeway).
    pub fn new(keys: impl IntoIterator<Item = WebsocketKey>, audience: impl Into<String>) -> Result<Self, KeyError> {
        let audience = audience.into();
        if audience.is_empty() {
            return Err(KeyError::EmptyAudience);
        }
        let mut map = HashMap::new();
        for key in keys {
            if map.insert(key.kid.clone(), key).is_some() {
                return Err(KeyError::DuplicateKeyId);
            }
        }
        Ok(Self {
            keys: map,
            audience,
            leeway: Duration::ZERO,
        })
    }

    /// Allows this much clock skew (at most one minute).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(60));
        self
    }

    /// Checks `token` at `now`: form, key id, signature (constant time), audience, times.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<WebsocketClaims, WebsocketTokenError> {
        use WebsocketTokenError as E;
        let claims = self.verify_signed(token)?;
        let now = secs(now);
        let leeway = self.leeway.as_secs();
        if now >= claims.exp.saturating_add(leeway) {
            return Err(E::Expired);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(E::NotYetValid);
        }
        Ok(claims)
    }

    /// Checks that `token` proves its bearer holds the session of `refresh_token`, at `now`:
    /// form, key id, signature and audience as [`verify`](Self::verify) does; issued no later
    /// than `now` (with the leeway) and no longer than `max_age` ago; and its `rt_hash` claim
    /// is the hash of `refresh_token` (compared without an early exit).
    ///
    /// Its `exp` is not checked: a page comes back to refresh days after the token was issued
    /// (Discord's access tokens last a week), long after the WebSocket use of the token ended.
    /// What limits the proof instead: the binding (Discord rotates the refresh token on every
    /// refresh, so a token stops proving anything once its session was refreshed, and the
    /// answer carries a new one), `max_age`, and key rotation (a retired key id is refused).
    pub fn verify_refresh_proof(
        &self,
        token: &str,
        refresh_token: &str,
        max_age: Duration,
        now: SystemTime,
    ) -> Result<WebsocketClaims, RefreshProofError> {
        use WebsocketTokenError as E;
        let claims = self.verify_signed(token).map_err(RefreshProofError::Token)?;
        let now = secs(now);
        let leeway = self.leeway.as_secs();
        if claims.iat > now.saturating_add(leeway) {
            return Err(RefreshProofError::Token(E::NotYetValid));
        }
        if now.saturating_sub(claims.iat) > max_age.as_secs().saturating_add(leeway) {
            return Err(RefreshProofError::Token(E::Expired));
        }
        let expected = refresh_token_hash(refresh_token);
        match &claims.rt_hash {
            Some(bound) if same_bytes(bound.as_bytes(), expected.as_bytes()) => Ok(claims),
            _ => Err(RefreshProofError::OtherSession),
        }
    }

    /// Form, key id, signature and audience; no time checks.
    fn verify_signed(&self, token: &str) -> Result<WebsocketClaims, WebsocketTokenError> {
        use WebsocketTokenError as E;
        if token.len() > MAX_WEBSOCKET_TOKEN_BYTES {
            return Err(E::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(c64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(E::Malformed);
        };
        let header_bytes = URL_SAFE_NO_PAD.decode(h64).map_err(|_| E::Malformed)?;
        let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| E::Malformed)?;
        if header.alg != "HS256" {
            return Err(E::Malformed);
        }
        let key = self.keys.get(&header.kid).ok_or(E::UnknownKeyId)?;
        let sig = URL_SAFE_NO_PAD.decode(s64).map_err(|_| E::BadSignature)?;
        let mut m = mac(&key.secret);
        m.update(h64.as_bytes());
        m.update(b".");
        m.update(c64.as_bytes());
        m.verify_slice(&sig).map_err(|_| E::BadSignature)?;
        // Only signed bytes are parsed from here on.
        let claims_bytes = URL_SAFE_NO_PAD.decode(c64).map_err(|_| E::Malformed)?;
        let claims: WebsocketClaims = serde_json::from_slice(&claims_bytes).map_err(|_| E::Malformed)?;
        if claims.aud != self.audience {
            return Err(E::WrongAudience);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn user(json: &str) -> User {
        serde_json::from_str(json).unwrap()
    }

    fn tokens(scope: &str, now: SystemTime) -> TokenSet {
        serde_json::from_value(serde_json::json!({
            "access_token": "acc", "refresh_token": "ref",
            "expires_at": secs(now) + 604_800, "scopes": Scopes::parse(scope),
        }))
        .unwrap()
    }

    const FULL_USER: &str = r#"{"id":"80351110224678912","username":"nelly","discriminator":"0",
        "global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe","verified":true,
        "email":"nelly@discord.com","flags":64,"banner":"06c16474723fe537c283b8efa61a30c8",
        "accent_color":16711680,"premium_type":1,"public_flags":64,"mfa_enabled":true}"#;

    #[test]
    fn authorize_success_has_the_sdk_shape() {
        let now = at(1_700_000_000);
        let ok = AuthorizeSuccess::new(&tokens("identify email", now), &user(FULL_USER), "ws".into(), now);
        let v = serde_json::to_value(&ok).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["access_token"], "acc");
        assert_eq!(v["refresh_token"], "ref");
        assert_eq!(v["expires_in"], 604_800);
        assert_eq!(v["scope"], "identify email");
        assert_eq!(v["websocket_token"], "ws");
        let u = &v["user_data"];
        assert_eq!(u.as_object().unwrap().len(), 13);
        assert_eq!(u["id"], "80351110224678912");
        assert_eq!(u["username"], "nelly");
        assert_eq!(u["global_name"], "Nelly");
        assert_eq!(u["discriminator"], "0");
        assert_eq!(
            u["avatar"],
            "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
        );
        assert_eq!(u["verified"], true);
        assert_eq!(u["email"], "nelly@discord.com");
        assert_eq!(u["flags"], 64);
        assert!(
            u["banner"]
                .as_str()
                .unwrap()
                .starts_with("https://cdn.discordapp.com/banners/80351110224678912/")
        );
        assert_eq!(u["accent_color"], 16_711_680);
        assert_eq!(u["premium_type"], 1);
        assert_eq!(u["public_flags"], 64);
        assert_eq!(u["mfa_enabled"], true);
        assert!(!format!("{ok:?}").contains("acc\""));
    }

    #[test]
    fn email_only_when_granted_and_nulls_typed() {
        let now = at(1_700_000_000);
        let bare = user(r#"{"id":"1","username":"x","discriminator":"0","email":"x@y.z"}"#);
        let v = serde_json::to_value(AuthorizeSuccess::new(
            &tokens("identify", now),
            &bare,
            String::new(),
            now,
        ))
        .unwrap();
        let u = v["user_data"].as_object().unwrap();
        assert!(!u.contains_key("email"));
        assert_eq!(u.len(), 12);
        assert!(u["avatar"].is_null() && u["banner"].is_null() && u["global_name"].is_null());
        assert_eq!(u["accent_color"], 0);
        assert_eq!(u["verified"], false);
        // email granted but the account has none: present, null
        let none = user(r#"{"id":"1","username":"x","discriminator":"0","email":null}"#);
        let v = serde_json::to_value(UserData::new(&none, true)).unwrap();
        assert!(v.as_object().unwrap().contains_key("email") && v["email"].is_null());
        let back: UserData = serde_json::from_value(v).unwrap();
        assert_eq!(back.email, Some(None));
    }

    #[test]
    fn rate_limited_body_uses_discords_retry_after() {
        let resp = |headers: &[(&str, &str)], body: &str| {
            let mut b = http::Response::builder().status(429);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(body.as_bytes().to_vec()).unwrap()
        };
        // the body's float, exactly as written (not rounded through a Duration)
        let b = RateLimitedBody::from_response(&resp(
            &[("retry-after", "2")],
            r#"{"message":"x","retry_after":1.337,"global":true}"#,
        ));
        assert_eq!(b.retry_after, Some(1.337));
        assert!(b.global);
        assert_eq!(b.retry_after_header(), Some(2));
        assert_eq!(serde_json::to_value(&b).unwrap()["retry_after"], 1.337);
        // headers only: the header's value
        let h = RateLimitedBody::from_response(&resp(&[("retry-after", "3")], ""));
        assert_eq!(h.retry_after, Some(3.0));
        // nothing said: null, never a made-up wait
        let none = RateLimitedBody::from_response(&resp(&[], r#"{"code":40333,"message":"internal network error"}"#));
        assert_eq!(none.retry_after, None);
        assert_eq!(none.retry_after_header(), None);
        assert!(serde_json::to_value(&none).unwrap()["retry_after"].is_null());
        // absurd waits are capped at an hour
        let long = RateLimitedBody::from_response(&resp(&[], r#"{"retry_after":1e9}"#));
        assert_eq!(long.retry_after, Some(3600.0));
        let via_rl = RateLimitedBody::from_rate_limit(&RateLimit::from_parts(
            &http::HeaderMap::new(),
            br#"{"retry_after":1.25}"#,
        ));
        assert_eq!(via_rl.retry_after, Some(1.25));
    }

    fn key(kid: &str, byte: u8) -> WebsocketKey {
        WebsocketKey::new(kid, vec![byte; 32]).unwrap()
    }

    #[test]
    fn websocket_token_round_trip_and_rotation() {
        let now = at(1_700_000_000);
        let scopes = Scopes::parse("identify guilds");
        let old = WebsocketTokenSigner::new(key("k1", 1), "activity").unwrap();
        let new = WebsocketTokenSigner::new(key("k2", 2), "activity").unwrap();
        let verifier = WebsocketTokenVerifier::new([key("k1", 1), key("k2", 2)], "activity").unwrap();
        for signer in [&old, &new] {
            let t = signer.sign(Snowflake::from(42), &scopes, now);
            let c = verifier.verify(&t, now + Duration::from_secs(599)).unwrap();
            assert_eq!(c.user_id(), Snowflake::from(42));
            assert_eq!(c.scopes(), scopes);
            assert_eq!(c.exp - c.iat, 600);
        }
        // the old key retired
        let only_new = WebsocketTokenVerifier::new([key("k2", 2)], "activity").unwrap();
        let t = old.sign(Snowflake::from(42), &scopes, now);
        assert_eq!(only_new.verify(&t, now), Err(WebsocketTokenError::UnknownKeyId));
    }

    #[test]
    fn websocket_token_refusals() {
        use WebsocketTokenError as E;
        let now = at(1_700_000_000);
        let signer = WebsocketTokenSigner::new(key("k1", 1), "activity").unwrap();
        let verifier = WebsocketTokenVerifier::new([key("k1", 1)], "activity").unwrap();
        let t = signer.sign(Snowflake::from(42), &Scopes::parse("identify"), now);
        // expired, and not yet valid
        assert_eq!(verifier.verify(&t, now + Duration::from_secs(600)), Err(E::Expired));
        assert_eq!(verifier.verify(&t, now - Duration::from_secs(1)), Err(E::NotYetValid));
        assert!(
            verifier
                .clone()
                .with_leeway(Duration::from_secs(5))
                .verify(&t, now + Duration::from_secs(604))
                .is_ok()
        );
        // wrong audience
        let other = WebsocketTokenVerifier::new([key("k1", 1)], "other").unwrap();
        assert_eq!(other.verify(&t, now), Err(E::WrongAudience));
        // same kid, another secret
        let wrong_key = WebsocketTokenVerifier::new([key("k1", 9)], "activity").unwrap();
        assert_eq!(wrong_key.verify(&t, now), Err(E::BadSignature));
        // tampered claims: another user id, signature kept
        let parts: Vec<&str> = t.split('.').collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(claims.replace("\"42\"", "\"43\""));
        assert_ne!(forged, parts[1]);
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(verifier.verify(&tampered, now), Err(E::BadSignature));
        // tampered signature
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(verifier.verify(&bad_sig, now), Err(E::BadSignature));
        // alg none / malformed
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        assert_eq!(
            verifier.verify(&format!("{none_header}.{}.", parts[1]), now),
            Err(E::Malformed)
        );
        assert_eq!(verifier.verify("a.b", now), Err(E::Malformed));
        assert_eq!(verifier.verify(&"a".repeat(5000), now), Err(E::Malformed));
    }

    #[test]
    fn key_config_errors() {
        assert_eq!(WebsocketKey::new("k", vec![0; 31]).unwrap_err(), KeyError::TooShort);
        assert_eq!(WebsocketKey::new("", vec![0; 32]).unwrap_err(), KeyError::BadKeyId);
        assert_eq!(WebsocketKey::new("a b", vec![0; 32]).unwrap_err(), KeyError::BadKeyId);
        let s = WebsocketTokenSigner::new(key("k", 1), "a").unwrap();
        assert_eq!(
            s.clone().with_ttl(Duration::from_secs(3601)).unwrap_err(),
            KeyError::BadTtl
        );
        assert_eq!(s.with_ttl(Duration::ZERO).unwrap_err(), KeyError::BadTtl);
        assert_eq!(
            WebsocketTokenSigner::new(key("k", 1), "").unwrap_err(),
            KeyError::EmptyAudience
        );
        assert_eq!(
            WebsocketTokenVerifier::new([key("k", 1), key("k", 2)], "a").unwrap_err(),
            KeyError::DuplicateKeyId
        );
        assert!(!format!("{:?}", key("k", 0x41)).contains("65"));
    }
}
