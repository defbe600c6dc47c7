//! The token endpoint: code exchange, refresh (with rotation), client credentials, and
//! revocation. Each step is a value with `request()` (the `http::Request` to send) and
//! `finish(response, now)` (the typed result).

use std::fmt;
use std::time::{Duration, SystemTime};

use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Guild, IncomingWebhook};
use crate::authorize::AuthorizationGrant;
use crate::oidc::IdToken;
use crate::response::{self, OAuthError, OAuthErrorCode, Quote, RateLimit, ResponseError};
use crate::{Client, ConfigError, Scope, Scopes, unix_time};

/// The lifetime assumed when a token response has no `expires_in`: one hour. Discord's
/// tokens last seven days, so this is conservative: the token is refreshed early rather than
/// used after it expired.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest lifetime accepted from `expires_in` (one year); larger values are clamped.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a token-endpoint request (exchange, refresh, client credentials, revoke) failed.
///
/// Messages never contain a token, code or secret.
///
/// Match on it to decide what to do next: after `invalid_grant` the grant is gone for good,
/// after a rate limit or a 5xx the same request may succeed later.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, Scopes, TokenError, TokenSet};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let tokens = TokenSet::parse(
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,
///          "refresh_token":"rt","scope":"identify"}"#,
///     &Scopes::new(),
///     now,
/// )?;
/// let refresh = client.refresh(tokens)?;
/// let _request = refresh.request(); // sent with any HTTP client
/// let response = http::Response::builder()
///     .status(400)
///     .body(br#"{"error":"invalid_grant","error_description":"Invalid refresh_token"}"#.to_vec())?;
///
/// let kept = match refresh.finish(response, now) {
///     Ok(new_tokens) => Some(new_tokens),
///     // The refresh token is dead: drop the session, the user logs in again.
///     Err(e) if e.is_invalid_grant() => None,
///     // Wait `retry_after`, then send the same request again.
///     Err(TokenError::RateLimited(rate_limit)) => {
///         let _wait = rate_limit.retry_after;
///         Some(refresh.into_previous())
///     }
///     // A 5xx: the old tokens still work, try again later.
///     Err(e) if e.is_transient() => Some(refresh.into_previous()),
///     Err(e) => return Err(e.into()),
/// };
/// assert!(kept.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Discord refused the request with an OAuth error. `invalid_grant` means the code or
    /// refresh token is expired, revoked or already used: do not retry, log in again.
    #[error("Discord refused the token request: {0}")]
    Rejected(OAuthError),
    /// Discord is rate limiting this client. Wait `retry_after` before trying again.
    #[error("{0}")]
    RateLimited(RateLimit),
    /// Discord answered something other than a token response or an OAuth error.
    #[error(transparent)]
    Response(ResponseError),
    /// The token response is missing a field or has one of the wrong type.
    #[error("Discord's token response is not valid: {0}")]
    InvalidResponse(String),
    /// The token type is not `Bearer`.
    #[error("Discord returned a token of type {0:?}; only Bearer tokens are supported")]
    UnsupportedTokenType(String),
    /// A refresh was asked for a token set without a refresh token (implicit or client
    /// credentials tokens).
    #[error("these tokens have no refresh token; the user must log in again")]
    NoRefreshToken,
}

impl TokenError {
    /// `true` for `invalid_grant`: the code or refresh token can never work again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, TokenError::Rejected(e) if e.error == OAuthErrorCode::InvalidGrant)
    }

    /// The rate limit, if Discord answered 429.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        match self {
            TokenError::RateLimited(rl) => Some(rl),
            _ => None,
        }
    }

    /// `true` if trying again later may succeed (rate limits, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::RateLimited(_) => true,
            TokenError::Response(
                ResponseError::UnexpectedStatus { status, .. } | ResponseError::Discord { status, .. },
            ) => status.is_server_error(),
            TokenError::Rejected(e) => {
                matches!(
                    e.error,
                    OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
                )
            }
            _ => false,
        }
    }
}

impl From<ResponseError> for TokenError {
    fn from(e: ResponseError) -> Self {
        match e {
            ResponseError::RateLimited(rl) => TokenError::RateLimited(rl),
            ResponseError::OAuth(o) => TokenError::Rejected(o),
            other => TokenError::Response(other),
        }
    }
}

/// The tokens of one authorization, with their absolute expiry.
///
/// Serializable (for a server-side session). `Debug` redacts the tokens.
///
/// Usually returned by [`CodeExchange::finish`] or [`RefreshExchange::finish`];
/// [`TokenSet::parse`] reads a token-endpoint body directly.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Scope, Scopes, TokenSet};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let tokens = TokenSet::parse(
///     br#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer",
///          "expires_in":604800,"refresh_token":"D43f5y0ahjqew82jZ4NViEr2YafMKhue",
///          "scope":"identify guilds"}"#,
///     &Scopes::new(),
///     now,
/// )?;
/// assert!(tokens.has_scope(&Scope::Guilds));
/// assert_eq!(tokens.expires_at, now + Duration::from_secs(604800));
/// assert!(tokens.refresh_token.is_some());
/// assert!(!format!("{tokens:?}").contains("6qrZcUqja")); // Debug redacts the tokens
///
/// // Store it in a server-side session and read it back.
/// let stored = serde_json::to_string(&tokens)?;
/// let restored: TokenSet = serde_json::from_str(&stored)?;
/// assert_eq!(restored.access_token.secret(), tokens.access_token.secret());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token (Bearer).
    pub access_token: AccessToken,
    /// The refresh token. Discord rotates it on every refresh: the old one stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (from `expires_in`, or [`DEFAULT_TOKEN_LIFETIME`]).
    #[serde(with = "unix_time")]
    pub expires_at: SystemTime,
    /// The scopes Discord granted (which may be fewer than requested).
    pub scopes: Scopes,
    /// The guild the bot joined (advanced bot authorization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild: Option<Guild>,
    /// The webhook created (`webhook.incoming`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<IncomingWebhook>,
    /// The OpenID Connect ID token (`openid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdToken>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("guild", &self.guild.is_some())
            .field("webhook", &self.webhook.is_some())
            .field("id_token", &self.id_token.is_some())
            .finish()
    }
}

impl TokenSet {
    /// `true` if the access token expires within `skew` of `now` (or already has).
    ///
    /// ```
    /// # use discord_oauth_core::*;
    /// # use std::time::{Duration, SystemTime};
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    /// let tokens = TokenSet::parse(br#"{"access_token":"a","token_type":"Bearer","expires_in":60,"scope":"identify"}"#, &Scopes::new(), now).unwrap();
    /// assert!(!tokens.expires_within(now, Duration::from_secs(30)));
    /// assert!(tokens.expires_within(now, Duration::from_secs(60)));
    /// ```
    pub fn expires_within(&self, now: SystemTime, skew: Duration) -> bool {
        now.checked_add(skew).is_none_or(|t| t >= self.expires_at)
    }

    /// `true` if the scope was granted.
    pub fn has_scope(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// Parses a token-endpoint success body. `requested` is used as the granted scopes when
    /// the response omits `scope` (RFC 6749 §5.1).
    ///
    /// Accepts `token_type` in any case, `expires_in` as an integer or a numeric string, and
    /// ignores unknown fields. Rejects non-Bearer tokens. Errors never quote the body, which
    /// holds tokens.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::{Scope, Scopes, TokenError, TokenSet};
    ///
    /// let now = SystemTime::UNIX_EPOCH;
    /// // No `scope` in the answer: the requested scopes are assumed.
    /// let requested = Scopes::from([Scope::Identify]);
    /// let tokens = TokenSet::parse(br#"{"access_token":"at","token_type":"bearer","expires_in":"60"}"#, &requested, now)?;
    /// assert!(tokens.has_scope(&Scope::Identify));
    /// assert_eq!(tokens.expires_at, now + Duration::from_secs(60));
    ///
    /// let err = TokenSet::parse(br#"{"access_token":"at","token_type":"mac"}"#, &requested, now);
    /// assert!(matches!(err, Err(TokenError::UnsupportedTokenType(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(body: &[u8], requested: &Scopes, now: SystemTime) -> Result<Self, TokenError> {
        let v: Value = response::decode_json(body, Quote::Never)?;
        let obj = v
            .as_object()
            .ok_or_else(|| TokenError::InvalidResponse("not a JSON object".into()))?;
        let string_field = |name: &str| -> Result<Option<String>, TokenError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(TokenError::InvalidResponse(format!("`{name}` is not a string"))),
            }
        };
        let access = string_field("access_token")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::InvalidResponse("`access_token` is missing".into()))?;
        if let Some(tt) = string_field("token_type")?
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(TokenError::UnsupportedTokenType(tt.chars().take(32).collect()));
        }
        let lifetime = match obj.get("expires_in") {
            None | Some(Value::Null) => DEFAULT_TOKEN_LIFETIME,
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Duration::from_secs)
                .ok_or_else(|| TokenError::InvalidResponse("`expires_in` is not a non-negative integer".into()))?,
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| TokenError::InvalidResponse("`expires_in` is not a number".into()))?,
            Some(_) => {
                return Err(TokenError::InvalidResponse("`expires_in` is not a number".into()));
            }
        }
        .min(MAX_TOKEN_LIFETIME);
        let scopes = match string_field("scope")? {
            Some(s) => Scopes::parse(&s),
            None => requested.clone(),
        };
        let guild = match obj.get("guild") {
            None | Some(Value::Null) => None,
            Some(g) => Some(
                Guild::deserialize(g)
                    .map_err(|e| TokenError::InvalidResponse(format!("`guild` is not a guild object: {e}")))?,
            ),
        };
        let webhook = match obj.get("webhook") {
            None | Some(Value::Null) => None,
            // The webhook object carries the webhook's own token: never quote it.
            Some(w) => Some(
                IncomingWebhook::deserialize(w)
                    .map_err(|_| TokenError::InvalidResponse("`webhook` is not a webhook object".into()))?,
            ),
        };
        Ok(TokenSet {
            access_token: AccessToken::new(access),
            refresh_token: string_field("refresh_token")?
                .filter(|s| !s.is_empty())
                .map(RefreshToken::new),
            expires_at: now.checked_add(lifetime).unwrap_or(now),
            scopes,
            guild,
            webhook,
            id_token: string_field("id_token")?.map(IdToken::new),
        })
    }
}

fn finish_token_response(
    response: &http::Response<Vec<u8>>,
    requested: &Scopes,
    now: SystemTime,
) -> Result<TokenSet, TokenError> {
    let body = response::check(response, Quote::Never)?;
    TokenSet::parse(body, requested, now)
}

/// Exchanges an authorization code for tokens; created by [`Client::exchange_code`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let (_url, pending) = client.authorize([Scope::Identify]).start(&mut rng, now)?;
/// let query = format!("code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}", pending.state().secret());
/// let grant = pending.callback(&query, now)?;
///
/// let exchange = client.exchange_code(grant);
/// let request = exchange.request();
/// assert_eq!(request.method(), http::Method::POST);
/// let form = String::from_utf8(request.into_body())?;
/// assert!(form.contains("grant_type=authorization_code"));
/// assert!(form.contains("code_verifier=")); // PKCE is on by default
///
/// let response = http::Response::builder().status(200).body(
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,
///          "refresh_token":"rt","scope":"identify"}"#.to_vec(),
/// )?;
/// let tokens = exchange.finish(response, now)?;
/// assert!(tokens.has_scope(&Scope::Identify));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "send `request()` and pass the answer to `finish`"]
pub struct CodeExchange {
    client: Client,
    grant: AuthorizationGrant,
}

impl fmt::Debug for CodeExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeExchange")
            .field("client", &self.client)
            .field("grant", &self.grant)
            .finish()
    }
}

impl Client {
    /// Prepares the token request for a validated authorization code.
    pub fn exchange_code(&self, grant: AuthorizationGrant) -> CodeExchange {
        CodeExchange {
            client: self.clone(),
            grant,
        }
    }

    /// Prepares a refresh. Takes the token set by value: Discord rotates refresh tokens, so
    /// the old set must not be used again once the refresh is sent. On success,
    /// [`RefreshExchange::finish`] returns the new set; after a transient failure
    /// [`RefreshExchange::into_previous`] gives the old set back.
    pub fn refresh(&self, tokens: TokenSet) -> Result<RefreshExchange, TokenError> {
        if tokens.refresh_token.is_none() {
            return Err(TokenError::NoRefreshToken);
        }
        Ok(RefreshExchange {
            client: self.clone(),
            previous: tokens,
        })
    }

    /// Prepares a client credentials grant: a token for the application's owner.
    ///
    /// `team_app` applies Discord's rule that team-owned applications may only ask for
    /// `identify` and `applications.commands.update`.
    pub fn client_credentials(
        &self,
        scopes: impl Into<Scopes>,
        team_app: bool,
    ) -> Result<ClientCredentialsExchange, ConfigError> {
        if self.client_secret.is_none() {
            return Err(ConfigError::MissingClientSecret);
        }
        let scopes = scopes.into();
        if scopes.is_empty() {
            return Err(ConfigError::NoScopes);
        }
        if team_app && let Some(s) = scopes.iter().find(|s| !s.allowed_for_team_apps()) {
            return Err(ConfigError::ScopeNotAllowed {
                scope: s.to_string(),
                reason: "team applications may only request `identify` and `applications.commands.update`",
            });
        }
        Ok(ClientCredentialsExchange {
            client: self.clone(),
            scopes,
        })
    }

    /// Prepares a revocation. Discord revokes the whole authorization (every access and
    /// refresh token of it) whichever token is passed.
    pub fn revoke(&self, token: RevocableToken) -> RevokeRequest {
        RevokeRequest {
            client: self.clone(),
            token,
        }
    }
}

impl CodeExchange {
    /// The form-encoded POST to the token endpoint: `grant_type=authorization_code`, `code`,
    /// `redirect_uri` (when the authorization had one), `code_verifier` (with PKCE); client
    /// authentication as configured. Can be called again to retry after a 429.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", self.grant.code.secret().as_str()),
        ];
        if let Some(r) = &self.grant.redirect_uri {
            params.push(("redirect_uri", r));
        }
        if let Some(v) = &self.grant.pkce_verifier {
            params.push(("code_verifier", v.secret()));
        }
        self.client.form_post(&self.client.endpoints.token, &params)
    }

    /// Reads the token endpoint's answer.
    pub fn finish(&self, response: http::Response<Vec<u8>>, now: SystemTime) -> Result<TokenSet, TokenError> {
        finish_token_response(&response, &self.grant.scopes, now)
    }

    /// The grant being exchanged (scopes, nonce, advanced-bot hints).
    pub fn grant(&self) -> &AuthorizationGrant {
        &self.grant
    }
}

/// A refresh in progress; created by [`Client::refresh`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, Scopes, TokenSet};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let tokens = TokenSet::parse(
///     br#"{"access_token":"old-at","token_type":"Bearer","expires_in":604800,
///          "refresh_token":"old-rt","scope":"identify guilds"}"#,
///     &Scopes::new(),
///     now,
/// )?;
///
/// // The set is consumed: once sent, the old refresh token must not be used again.
/// let refresh = client.refresh(tokens)?;
/// let form = String::from_utf8(refresh.request().into_body())?;
/// assert_eq!(form, "grant_type=refresh_token&refresh_token=old-rt");
///
/// let response = http::Response::builder().status(200).body(
///     br#"{"access_token":"new-at","token_type":"Bearer","expires_in":604800,
///          "refresh_token":"new-rt","scope":"identify guilds"}"#.to_vec(),
/// )?;
/// let later = now + Duration::from_secs(600_000);
/// let fresh = refresh.finish(response, later)?;
/// assert_eq!(fresh.refresh_token.as_ref().map(|t| t.secret().as_str()), Some("new-rt"));
/// assert_eq!(fresh.expires_at, later + Duration::from_secs(604800));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "send `request()` and pass the answer to `finish`"]
pub struct RefreshExchange {
    client: Client,
    previous: TokenSet,
}

impl fmt::Debug for RefreshExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshExchange")
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl RefreshExchange {
    /// The form-encoded POST: `grant_type=refresh_token`, `refresh_token`, client auth. No
    /// `scope` is sent, so the grant can never widen.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let rt = self.previous.refresh_token.as_ref().map_or("", |t| t.secret().as_str());
        self.client.form_post(
            &self.client.endpoints.token,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
    }

    /// Reads the answer. On success returns the new set; if Discord sent no new refresh token
    /// the previous one is kept (RFC 6749 §6), as are the `guild`, `webhook` and scopes when
    /// absent from the answer.
    pub fn finish(&self, response: http::Response<Vec<u8>>, now: SystemTime) -> Result<TokenSet, TokenError> {
        let mut next = finish_token_response(&response, &self.previous.scopes, now)?;
        if next.refresh_token.is_none() {
            next.refresh_token.clone_from(&self.previous.refresh_token);
        }
        if next.guild.is_none() {
            next.guild.clone_from(&self.previous.guild);
        }
        if next.webhook.is_none() {
            next.webhook.clone_from(&self.previous.webhook);
        }
        Ok(next)
    }

    /// Gives back the token set this refresh was made from, for when the refresh could not be
    /// completed (network error, 5xx, 429) and the old tokens are still valid.
    ///
    /// # Security
    /// After `invalid_grant` the old refresh token is dead: drop the set instead.
    pub fn into_previous(self) -> TokenSet {
        self.previous
    }
}

/// A client credentials grant in progress; created by [`Client::client_credentials`].
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::{Client, ClientId, ClientSecret, ConfigError, Scope};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let grant = client.client_credentials([Scope::Identify, Scope::Connections], false)?;
/// let form = String::from_utf8(grant.request().into_body())?;
/// assert_eq!(form, "grant_type=client_credentials&scope=identify+connections");
///
/// let response = http::Response::builder().status(200).body(
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,
///          "scope":"identify connections"}"#.to_vec(),
/// )?;
/// let tokens = grant.finish(response, SystemTime::now())?;
/// assert!(tokens.refresh_token.is_none());
///
/// // Team-owned applications may only ask for `identify` and `applications.commands.update`.
/// let team = client.client_credentials([Scope::Connections], true);
/// assert!(matches!(team, Err(ConfigError::ScopeNotAllowed { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "send `request()` and pass the answer to `finish`"]
pub struct ClientCredentialsExchange {
    client: Client,
    scopes: Scopes,
}

impl ClientCredentialsExchange {
    /// The form-encoded POST: `grant_type=client_credentials`, `scope`, client auth.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let scope = self.scopes.to_string();
        self.client.form_post(
            &self.client.endpoints.token,
            &[("grant_type", "client_credentials"), ("scope", &scope)],
        )
    }

    /// Reads the answer. Client credentials tokens carry no refresh token.
    pub fn finish(&self, response: http::Response<Vec<u8>>, now: SystemTime) -> Result<TokenSet, TokenError> {
        finish_token_response(&response, &self.scopes, now)
    }
}

/// The token to revoke, with its `token_type_hint`.
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::{RevocableToken, Scopes, TokenSet};
///
/// let body = br#"{"access_token":"at","token_type":"Bearer","refresh_token":"rt"}"#;
/// let tokens = TokenSet::parse(body, &Scopes::new(), SystemTime::now())?;
/// // The refresh token outlives the access token, so it is the one to revoke.
/// assert!(matches!(RevocableToken::from_set(&tokens), RevocableToken::Refresh(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum RevocableToken {
    /// An access token (`token_type_hint=access_token`).
    Access(AccessToken),
    /// A refresh token (`token_type_hint=refresh_token`).
    Refresh(RefreshToken),
}

impl RevocableToken {
    /// The refresh token of a set if it has one (it outlives the access token), else its
    /// access token.
    pub fn from_set(tokens: &TokenSet) -> Self {
        match &tokens.refresh_token {
            Some(rt) => RevocableToken::Refresh(rt.clone()),
            None => RevocableToken::Access(tokens.access_token.clone()),
        }
    }
}

/// A revocation in progress; created by [`Client::revoke`].
///
/// ```
/// use discord_oauth_core::{AccessToken, Client, ClientId, ClientSecret, RevocableToken};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let revoke = client.revoke(RevocableToken::Access(AccessToken::new("at".into())));
/// let request = revoke.request();
/// assert_eq!(request.uri(), "https://discord.com/api/v10/oauth2/token/revoke");
/// assert_eq!(request.into_body(), b"token=at&token_type_hint=access_token");
///
/// // RFC 7009: Discord answers 200 for unknown tokens too.
/// revoke.finish(http::Response::builder().status(200).body(b"{}".to_vec())?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "send `request()` and pass the answer to `finish`"]
pub struct RevokeRequest {
    client: Client,
    token: RevocableToken,
}

impl RevokeRequest {
    /// The form-encoded POST to the revocation endpoint: `token`, `token_type_hint`, client auth.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let (token, hint) = match &self.token {
            RevocableToken::Access(t) => (t.secret().as_str(), "access_token"),
            RevocableToken::Refresh(t) => (t.secret().as_str(), "refresh_token"),
        };
        self.client.form_post(
            &self.client.endpoints.revoke,
            &[("token", token), ("token_type_hint", hint)],
        )
    }

    /// Reads the answer: any 2xx is success (RFC 7009: unknown tokens also answer 200).
    pub fn finish(&self, response: http::Response<Vec<u8>>) -> Result<(), TokenError> {
        response::check(&response, Quote::Never)?;
        Ok(())
    }
}
