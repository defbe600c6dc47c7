//! The authorization code grant: the authorize URL, the pending authorization kept between
//! the redirect and the callback, and callback validation.

use std::fmt;
use std::time::{Duration, SystemTime};

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use crate::callback::{CallbackError, CallbackParams};
use crate::permissions::Permissions;
use crate::{Client, ConfigError, Scope, Scopes, unix_time};

/// How long a pending authorization stays valid by default: 10 minutes.
pub const DEFAULT_AUTHORIZATION_TTL: Duration = Duration::from_secs(600);

/// How many random bytes make a `state` or PKCE verifier: 32 bytes = 256 bits, 43 base64url
/// characters (Discord requires a verifier of at least 43 characters).
pub(crate) const RANDOM_TOKEN_BYTES: usize = 32;

/// Draws `RANDOM_TOKEN_BYTES` from the caller's CSPRNG and encodes them base64url, unpadded.
pub(crate) fn random_token(rng: &mut impl CryptoRng) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; RANDOM_TOKEN_BYTES];
    rng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in constant time (for equal lengths; lengths are not secret).
///
/// ```
/// use discord_oauth_core::constant_time_eq;
/// assert!(constant_time_eq("abc", "abc"));
/// assert!(!constant_time_eq("abc", "abd"));
/// assert!(!constant_time_eq("abc", "abcd"));
/// ```
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The `prompt` parameter: what Discord does when the user already authorized the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Always show the consent screen.
    Consent,
    /// Skip the consent screen if the user already authorized these scopes (returning users).
    None,
}

impl Prompt {
    fn as_str(self) -> &'static str {
        match self {
            Prompt::Consent => "consent",
            Prompt::None => "none",
        }
    }
}

/// The `integration_type` parameter: where the app is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationType {
    /// Installed to a guild (`0`).
    GuildInstall,
    /// Installed to the user's account (`1`).
    UserInstall,
}

impl IntegrationType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IntegrationType::GuildInstall => "0",
            IntegrationType::UserInstall => "1",
        }
    }
}

/// Options for advanced bot authorization: a code grant that also adds the bot to a guild.
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::{BotOptions, Client, ClientId, ClientSecret, Permissions, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(11);
/// let now = SystemTime::now();
/// let (url, pending) = client
///     .authorize([Scope::Identify])
///     .bot(BotOptions {
///         permissions: Permissions::SEND_MESSAGES | Permissions::VIEW_CHANNEL,
///         guild_id: Some(613425648685547541),
///         disable_guild_select: true,
///     })
///     .start(&mut rng, now)?;
/// assert!(url.as_str().contains("scope=identify%20bot"));
/// assert!(url.as_str().contains("guild_id=613425648685547541&disable_guild_select=true"));
///
/// // The callback names the guild; the token response's `guild` object is authoritative.
/// let query = format!(
///     "code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}&guild_id=613425648685547541&permissions=3072",
///     pending.state().secret(),
/// );
/// let exchange = client.exchange_code(pending.callback(&query, now)?);
/// let response = http::Response::builder().status(200).body(
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,"refresh_token":"rt",
///          "scope":"identify bot","guild":{"id":"613425648685547541","name":"Discord Developers"}}"#
///         .to_vec(),
/// )?;
/// let tokens = exchange.finish(response, now)?;
/// assert_eq!(tokens.guild.map(|g| g.name).as_deref(), Some("Discord Developers"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotOptions {
    /// The permissions requested for the bot.
    pub permissions: Permissions,
    /// Pre-selects this guild in Discord's picker.
    pub guild_id: Option<u64>,
    /// Stops the user from choosing another guild than `guild_id`.
    pub disable_guild_select: bool,
}

/// Builder for an authorization code grant; created by [`Client::authorize`].
///
/// PKCE (S256) is on by default, `state` is always generated, and the pending authorization
/// expires after [`DEFAULT_AUTHORIZATION_TTL`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, ConfigError, IntegrationType, Prompt, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(13);
/// let now = SystemTime::now();
///
/// let (url, pending) = client
///     .authorize([Scope::Identify, Scope::ApplicationsCommands])
///     .prompt(Prompt::Consent)
///     .integration_type(IntegrationType::UserInstall)
///     .ttl(Duration::from_secs(300))
///     .require_issuer(true) // refuse callbacks without `iss`
///     .start(&mut rng, now)?;
/// assert!(url.as_str().contains("prompt=consent&integration_type=1"));
/// assert_eq!(pending.expires_at(), now + Duration::from_secs(300));
///
/// // Discord refuses `role_connections.write` together with PKCE…
/// let refused = client.authorize([Scope::Identify, Scope::RoleConnectionsWrite]).start(&mut rng, now);
/// assert!(matches!(refused, Err(ConfigError::ScopeNotAllowed { .. })));
/// // …so a confidential client turns PKCE off for it.
/// let (url, _pending) = client
///     .authorize([Scope::Identify, Scope::RoleConnectionsWrite])
///     .pkce(false)
///     .start(&mut rng, now)?;
/// assert!(!url.as_str().contains("code_challenge"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "call `.start(rng, now)` to get the URL and the pending authorization"]
pub struct AuthorizeRequest<'c> {
    client: &'c Client,
    scopes: Scopes,
    prompt: Option<Prompt>,
    integration_type: Option<IntegrationType>,
    pkce: bool,
    ttl: Duration,
    bot: Option<BotOptions>,
    require_iss: bool,
}

impl Client {
    /// Starts an authorization code grant for `scopes`.
    ///
    /// ```
    /// # use discord_oauth_core::*;
    /// # use std::time::{Duration, SystemTime};
    /// # let client = Client::new(ClientId::new("1".into()), Some(ClientSecret::new("s".into())),
    /// #     RedirectUrl::new("https://example.com/cb".into()).unwrap());
    /// # let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// # use rand::SeedableRng;
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let (url, pending) = client
    ///     .authorize([Scope::Identify, Scope::Guilds])
    ///     .prompt(Prompt::None)
    ///     .start(&mut rng, now)?;
    /// assert!(url.as_str().starts_with("https://discord.com/oauth2/authorize?response_type=code"));
    /// assert!(url.as_str().contains("scope=identify%20guilds"));
    /// assert_eq!(pending.expires_at(), now + Duration::from_secs(600));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn authorize(&self, scopes: impl Into<Scopes>) -> AuthorizeRequest<'_> {
        AuthorizeRequest {
            client: self,
            scopes: scopes.into(),
            prompt: None,
            integration_type: None,
            pkce: true,
            ttl: DEFAULT_AUTHORIZATION_TTL,
            bot: None,
            require_iss: false,
        }
    }
}

impl AuthorizeRequest<'_> {
    /// Sets `prompt` (`consent` or `none`).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets `integration_type` (guild or user install).
    pub fn integration_type(mut self, integration_type: IntegrationType) -> Self {
        self.integration_type = Some(integration_type);
        self
    }

    /// Turns PKCE on or off (on by default).
    ///
    /// # Security
    /// PKCE protects the code against interception and injection (RFC 9700 §2.1.1). Turn it
    /// off only for a confidential client that needs `role_connections.write`, which Discord
    /// refuses together with PKCE. Public clients cannot turn it off.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// How long the pending authorization stays valid (default 10 minutes).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Advanced bot authorization: also adds the app's bot to a guild. Adds the `bot` scope if
    /// missing; the callback then carries `guild_id` and `permissions`, and the token response
    /// a `guild` object.
    pub fn bot(mut self, options: BotOptions) -> Self {
        self.scopes.insert(Scope::Bot);
        self.bot = Some(options);
        self
    }

    /// Requires the callback to carry `iss` equal to the issuer (RFC 9207). Off by default:
    /// Discord advertises `iss` support in its metadata, but callbacks observed in practice do
    /// not always carry it. A present `iss` is always checked.
    pub fn require_issuer(mut self, required: bool) -> Self {
        self.require_iss = required;
        self
    }

    /// Checks the request and generates `state` (and the PKCE verifier) from `rng`.
    ///
    /// Returns the URL to redirect the browser to and the [`PendingAuthorization`] to keep
    /// server-side until the callback.
    pub fn start(self, rng: &mut impl CryptoRng, now: SystemTime) -> Result<(Url, PendingAuthorization), ConfigError> {
        let mut url = self.client.endpoints.authorize.clone();
        let (query, pending) = self.start_query(url.query(), rng, now)?;
        url.set_query(Some(&query));
        Ok((url, pending))
    }

    /// [`AuthorizeRequest::start`] for a `Location` header: the same URL as a string, built
    /// without `Url` parsing its own query again (the login route's hot path).
    pub(crate) fn start_location(
        self,
        rng: &mut impl CryptoRng,
        now: SystemTime,
    ) -> Result<(String, PendingAuthorization), ConfigError> {
        let authorize = &self.client.endpoints.authorize;
        if authorize.fragment().is_some() {
            // Not an authorization endpoint (RFC 6749 §3.1); let `Url` place the query.
            return self.start(rng, now).map(|(url, pending)| (String::from(url), pending));
        }
        let (query, pending) = self.start_query(authorize.query(), rng, now)?;
        let base = &authorize[..url::Position::AfterPath];
        let mut location = String::with_capacity(base.len() + 1 + query.len());
        location.push_str(base);
        location.push('?');
        location.push_str(&query);
        Ok((location, pending))
    }

    /// Checks the request, generates the secrets and writes the whole query (after `existing`,
    /// the endpoint's own query if it has one): `application/x-www-form-urlencoded` with
    /// spaces as `%20`, which Discord documents for `scope`.
    fn start_query(
        self,
        existing: Option<&str>,
        rng: &mut impl CryptoRng,
        now: SystemTime,
    ) -> Result<(String, PendingAuthorization), ConfigError> {
        let client = self.client;
        let redirect_uri = client.redirect_uri.as_ref().ok_or(ConfigError::MissingRedirectUri)?;
        validate_login_scopes(&self.scopes, self.pkce)?;
        if !self.pkce && client.is_public() {
            return Err(ConfigError::Invalid(
                "a public client (no secret) must use PKCE; remove `.pkce(false)`".to_owned(),
            ));
        }
        let state = CsrfToken::new(random_token(rng));
        let verifier = self.pkce.then(|| PkceCodeVerifier::new(random_token(rng)));
        let nonce = self.scopes.contains(&Scope::OpenId).then(|| random_token(rng));

        let mut q = Query::after(existing);
        q.pair("response_type", "code");
        q.pair("client_id", client.client_id.as_str());
        q.pair("scope", &self.scopes.to_string());
        q.pair("state", state.secret());
        q.pair("redirect_uri", redirect_uri.as_str());
        if let Some(prompt) = self.prompt {
            q.pair("prompt", prompt.as_str());
        }
        if let Some(it) = self.integration_type {
            q.pair("integration_type", it.as_str());
        }
        if let Some(v) = &verifier {
            let challenge = PkceCodeChallenge::from_code_verifier_sha256(v);
            q.pair("code_challenge", challenge.as_str());
            q.pair("code_challenge_method", "S256");
        }
        if let Some(n) = &nonce {
            q.pair("nonce", n);
        }
        if let Some(bot) = &self.bot {
            q.pair("permissions", &bot.permissions.bits().to_string());
            if let Some(g) = bot.guild_id {
                q.pair("guild_id", &g.to_string());
            }
            if bot.disable_guild_select {
                q.pair("disable_guild_select", "true");
            }
        }

        let pending = PendingAuthorization {
            state,
            pkce_verifier: verifier,
            redirect_uri: redirect_uri.as_str().to_owned(),
            scopes: self.scopes,
            nonce,
            issuer: client.endpoints.issuer.clone(),
            require_iss: self.require_iss,
            bot: self.bot.is_some(),
            created_at: now,
            expires_at: now.checked_add(self.ttl).unwrap_or(now),
        };
        Ok((q.0, pending))
    }
}

/// A query string being written: `name=value` pairs joined by `&`, encoded as
/// `form_urlencoded` encodes them (ASCII letters, digits and `*-._` kept, every other byte
/// `%XX`) except that a space is `%20`, not `+` (Discord documents `%20` for `scope`). The
/// one writer of the authorization URLs' queries.
pub(crate) struct Query(String);

impl Query {
    /// A query that continues `existing` (the endpoint's own query, if it has one), as
    /// `url`'s serializer continues it.
    pub(crate) fn after(existing: Option<&str>) -> Self {
        let existing = existing.unwrap_or("");
        let mut query = String::with_capacity(existing.len() + 320);
        query.push_str(existing);
        Self(query)
    }

    pub(crate) fn pair(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.encode(name);
        self.0.push('=');
        self.encode(value);
    }

    /// Puts this query in place of `url`'s.
    pub(crate) fn set_on(&self, url: &mut Url) {
        url.set_query(Some(&self.0));
    }

    fn encode(&mut self, text: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in text.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
                self.0.push(char::from(b));
            } else {
                self.0.push('%');
                self.0.push(char::from(HEX[usize::from(b >> 4)]));
                self.0.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// The scope rules for a login (authorization code) flow.
pub(crate) fn validate_login_scopes(scopes: &Scopes, pkce: bool) -> Result<(), ConfigError> {
    if scopes.is_empty() {
        return Err(ConfigError::NoScopes);
    }
    if scopes.is_bot_only() {
        return Err(ConfigError::ScopeNotAllowed {
            scope: scopes.to_string(),
            reason: "`bot`/`applications.commands` alone give no user token; ask for `identify` too, \
                     or build a plain bot invite with `Client::bot_authorization_url`",
        });
    }
    for s in scopes {
        if s.client_credentials_only() {
            return Err(ConfigError::ScopeNotAllowed {
                scope: s.to_string(),
                reason: "it is only available through the client credentials grant",
            });
        }
        if pkce && !s.allowed_with_pkce() {
            return Err(ConfigError::ScopeNotAllowed {
                scope: s.to_string(),
                reason: "Discord refuses it together with PKCE; a confidential client may call `.pkce(false)`",
            });
        }
    }
    Ok(())
}

/// An authorization in progress: what the server must remember between the redirect to
/// Discord and the callback. Serializable, so it can live in a server-side session.
///
/// Single use: [`PendingAuthorization::callback`] consumes it. Not `Clone` (it holds the PKCE
/// verifier); `Debug` redacts the state and verifier.
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::{Client, ClientId, PendingAuthorization, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     None, // a public client: PKCE carries the proof
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(17);
/// let now = SystemTime::now();
/// let (_url, pending) = client.authorize([Scope::Identify]).start(&mut rng, now)?;
///
/// // Kept in the server-side session between the redirect and the callback.
/// let stored = serde_json::to_string(&pending)?;
/// let pending: PendingAuthorization = serde_json::from_str(&stored)?;
///
/// // The callback's `state` finds it again (compared in constant time).
/// let state = pending.state().secret().clone();
/// assert!(pending.matches_state(&state) && !pending.matches_state("another"));
/// let grant = pending.callback(&format!("code=abc&state={state}"), now)?;
/// let form = String::from_utf8(client.exchange_code(grant).request().into_body())?;
/// assert!(form.contains("code_verifier=") && form.contains("client_id=157730590492196864"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAuthorization {
    state: CsrfToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkce_verifier: Option<PkceCodeVerifier>,
    redirect_uri: String,
    scopes: Scopes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    issuer: String,
    #[serde(default)]
    require_iss: bool,
    #[serde(default)]
    bot: bool,
    #[serde(with = "unix_time")]
    created_at: SystemTime,
    #[serde(with = "unix_time")]
    expires_at: SystemTime,
}

impl PendingAuthorization {
    /// The `state` sent to Discord; use it to find this pending authorization again when the
    /// callback arrives (several may be pending at once, e.g. two browser tabs).
    pub fn state(&self) -> &CsrfToken {
        &self.state
    }

    /// `true` if `state` equals this authorization's state (constant-time comparison).
    pub fn matches_state(&self, state: &str) -> bool {
        constant_time_eq(self.state.secret(), state)
    }

    /// The scopes requested.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// When it was started.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When it stops being accepted.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// `true` once `now` is past the expiry.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now > self.expires_at
    }

    /// Validates the callback's query string (everything after `?`) and returns the grant to
    /// exchange. See [`PendingAuthorization::callback_params`] for the checks.
    pub fn callback(self, query: &str, now: SystemTime) -> Result<AuthorizationGrant, CallbackError> {
        let params = CallbackParams::parse(query)?;
        self.callback_params(params, now)
    }

    /// Validates already-parsed callback parameters, in this order, before any request to
    /// Discord is made:
    /// 1. `state` present, non-empty, and equal to ours (constant time);
    /// 2. not expired;
    /// 3. `iss`, when present (or when required), equal to the issuer;
    /// 4. `error` turned into [`CallbackError::AccessDenied`] or [`CallbackError::Provider`];
    /// 5. `code` present.
    pub fn callback_params(self, params: CallbackParams, now: SystemTime) -> Result<AuthorizationGrant, CallbackError> {
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        if !self.matches_state(state) {
            return Err(CallbackError::StateMismatch);
        }
        if self.is_expired(now) {
            return Err(CallbackError::Expired);
        }
        match &params.iss {
            Some(iss) if iss != &self.issuer => return Err(CallbackError::IssuerMismatch),
            None if self.require_iss => return Err(CallbackError::MissingIssuer),
            _ => {}
        }
        if let Some(error) = params.error {
            return Err(CallbackError::from_provider(error, params.error_description));
        }
        let code = params
            .code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::MissingCode)?;
        let guild_id = match params.guild_id.as_deref() {
            Some(g) => Some(
                g.parse::<u64>()
                    .map_err(|_| CallbackError::Malformed("guild_id is not a snowflake"))?,
            ),
            None => None,
        };
        let permissions = match params.permissions.as_deref() {
            Some(p) => Some(
                p.parse::<u64>()
                    .map(Permissions::from_bits_retain)
                    .map_err(|_| CallbackError::Malformed("permissions is not a number"))?,
            ),
            None => None,
        };
        Ok(AuthorizationGrant {
            code: AuthorizationCode::new(code),
            redirect_uri: Some(self.redirect_uri),
            pkce_verifier: self.pkce_verifier,
            scopes: self.scopes,
            nonce: self.nonce,
            guild_id,
            permissions,
        })
    }
}

/// A validated authorization code, ready to exchange with [`Client::exchange_code`].
///
/// For advanced bot authorization it also carries the callback's `guild_id` and
/// `permissions` — hints only: the token response's `guild` object is authoritative.
pub struct AuthorizationGrant {
    pub(crate) code: AuthorizationCode,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) pkce_verifier: Option<PkceCodeVerifier>,
    pub(crate) scopes: Scopes,
    pub(crate) nonce: Option<String>,
    /// The guild the bot was added to, from the callback (advanced bot authorization).
    pub guild_id: Option<u64>,
    /// The permissions granted to the bot, from the callback (advanced bot authorization).
    pub permissions: Option<Permissions>,
}

impl fmt::Debug for AuthorizationGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationGrant")
            .field("code", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce", &self.pkce_verifier.is_some())
            .field("scopes", &self.scopes)
            .field("guild_id", &self.guild_id)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl AuthorizationGrant {
    /// A grant from a code obtained elsewhere, e.g. from the Embedded App SDK's `authorize`
    /// command, whose exchange carries no `redirect_uri` (pass `None`) and no PKCE verifier.
    pub fn from_code(code: AuthorizationCode, redirect_uri: Option<String>, scopes: Scopes) -> Self {
        Self {
            code,
            redirect_uri,
            pkce_verifier: None,
            scopes,
            nonce: None,
            guild_id: None,
            permissions: None,
        }
    }

    /// The scopes that were requested.
    pub fn requested_scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// The OpenID `nonce` sent with the request, to check against the `id_token`.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, ClientSecret, Endpoints, Prompt, RedirectUrl};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The query as `url`'s form serializer writes it, spaces (`+`) turned into `%20`
    /// afterwards: what the authorization URLs were before [`Query`] wrote them. A literal `+`
    /// in a value is encoded `%2B` by the serializer, so every `+` left is a space.
    fn by_url(mut url: Url, pairs: &[(&str, &str)]) -> String {
        url.query_pairs_mut().extend_pairs(pairs);
        if let Some(q) = url.query().map(|q| q.replace('+', "%20")) {
            url.set_query(Some(&q));
        }
        url.into()
    }

    #[test]
    fn the_location_is_the_url_that_start_returns_encoded_as_url_encodes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for authorize in [
            "https://discord.com/oauth2/authorize",
            "https://discord.example/oauth2/authorize?tenant=a%20b&x=1",
            "https://discord.example/authorize?",
        ] {
            let endpoints = Endpoints::new(
                authorize.parse().unwrap(),
                "https://discord.com/api/v10".parse().unwrap(),
            )
            .unwrap();
            let client = Client::new(
                ClientId::new("1100000000000000001".into()),
                Some(ClientSecret::new("secret".into())),
                RedirectUrl::new("https://site.example/auth/callback?x=ä ö&y=+".into()).unwrap(),
            )
            .with_endpoints(endpoints);
            let request = || {
                client
                    .authorize([Scope::Identify, Scope::Guilds, Scope::OpenId])
                    .prompt(Prompt::Consent)
            };
            let (location, pending) = request().start_location(&mut StdRng::seed_from_u64(9), now).unwrap();
            let (url, _) = request().start(&mut StdRng::seed_from_u64(9), now).unwrap();
            assert_eq!(location, url.as_str(), "{authorize}");
            let verifier = pending.pkce_verifier.as_ref().unwrap();
            let challenge = PkceCodeChallenge::from_code_verifier_sha256(verifier);
            let expected = by_url(
                authorize.parse().unwrap(),
                &[
                    ("response_type", "code"),
                    ("client_id", "1100000000000000001"),
                    ("scope", "identify guilds openid"),
                    ("state", pending.state.secret()),
                    ("redirect_uri", "https://site.example/auth/callback?x=ä ö&y=+"),
                    ("prompt", "consent"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                    ("nonce", pending.nonce.as_deref().unwrap()),
                ],
            );
            assert_eq!(location, expected, "{authorize}");
            assert!(location.contains("scope=identify%20guilds%20openid"));

            // The implicit grant and the bot invite are written by the same `Query`.
            let (implicit, pending) = client
                .implicit_authorize([Scope::Identify, Scope::Guilds], &mut StdRng::seed_from_u64(9), now)
                .unwrap();
            let expected = by_url(
                authorize.parse().unwrap(),
                &[
                    ("response_type", "token"),
                    ("client_id", "1100000000000000001"),
                    ("scope", "identify guilds"),
                    ("state", pending.state().secret()),
                    ("redirect_uri", "https://site.example/auth/callback?x=ä ö&y=+"),
                ],
            );
            assert_eq!(implicit.as_str(), expected, "{authorize}");
            let bot = crate::BotAuthorization {
                guild_id: Some(41_771_983_423_143_937),
                disable_guild_select: true,
                integration_type: Some(IntegrationType::GuildInstall),
                permissions: crate::Permissions::SEND_MESSAGES | crate::Permissions::VIEW_CHANNEL,
                ..crate::BotAuthorization::default()
            };
            let invite = client.bot_authorization_url(&bot).unwrap();
            let expected = by_url(
                authorize.parse().unwrap(),
                &[
                    ("client_id", "1100000000000000001"),
                    ("scope", &bot.scopes.to_string()),
                    ("permissions", &bot.permissions.bits().to_string()),
                    ("guild_id", "41771983423143937"),
                    ("disable_guild_select", "true"),
                    ("integration_type", "0"),
                ],
            );
            assert_eq!(invite.as_str(), expected, "{authorize}");
        }
    }
}
