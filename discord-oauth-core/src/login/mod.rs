//! The server-side login driver shared by the framework integrations.
//!
//! `discord-oauth-tower` and `discord-oauth-actix` serve the same three routes with the same
//! rules; everything that is not framework glue lives here, sans-IO, so the two cannot drift:
//! - [`LoginConfig`]: the validated configuration (one type for every framework);
//! - [`PendingLogins`]: the bounded set of logins in progress in one browser session, keyed by
//!   `state`, so two tabs can log in at once;
//! - [`AuthSession`]: what a logged-in session stores (user + tokens), compact;
//! - [`LoginError`]: every way a login can fail, with the HTTP status and a user-safe page;
//! - [`flow`]: the network sequences (callback, refresh, logout revocation, guild checks) as
//!   sans-IO state machines with the 429 and refresh policies, and [`flow::drive`], the one
//!   loop that runs them over an integration's transport;
//! - [`answer`]: the exact responses of the login routes and guards, as `http::Response`.
//!
//! # How we chose the defaults
//! - Scopes: `identify` only (checklist A-12: the minimal set). The user is fetched from
//!   `/users/@me`, so `identify` is always required.
//! - PKCE on; pending logins expire after 10 minutes; at most 5 per browser session (the oldest
//!   is dropped), so a script hitting `/auth/login` cannot grow a session without bound.
//! - Tokens are refreshed when they expire within 5 minutes; a session ends 30 days after
//!   login whatever the refreshes (absolute lifetime, checklist F-12/H-10), and after 7 days
//!   without a request (idle timeout, H-09; a session in use is marked active about once a
//!   day, so reading is activity too).
//! - `iss` on the callback is checked whenever Discord sends it; requiring it
//!   ([`LoginConfigBuilder::require_issuer`]) is off, because discord.com advertises RFC 9207
//!   but has not been seen sending `iss` (checklist B-14/B-15).
//! - `Secure` cookies when the redirect URI is `https`.
//! - Logout redirects to `/`; login without a valid `return_to` lands on `/`.

pub mod answer;
#[doc(hidden)]
pub mod doc_support;
pub mod driver;
pub mod flow;
pub mod outbound;
pub mod pending_cookie;
pub mod revocation;
pub mod visitor;

use std::fmt;
use std::time::{Duration, SystemTime};

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::User;
use crate::{
    CallbackError, CallbackParams, Client, ClientId, ClientSecret, CodeExchange, ConfigError, Endpoints,
    PendingAuthorization, Prompt, RedirectUrl, ReturnTo, Scope, Scopes, TokenError, TokenSet, unix_time,
};

/// The paths of the three login routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// Starts a login (`GET`), default `/auth/login`.
    pub login: String,
    /// Discord's redirect target (`GET`), default `/auth/callback`. Must equal the path of the
    /// redirect URI.
    pub callback: String,
    /// Ends the session (`POST`), default `/auth/logout`.
    pub logout: String,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            login: "/auth/login".into(),
            callback: "/auth/callback".into(),
            logout: "/auth/logout".into(),
        }
    }
}

/// The validated configuration of a site's Discord login. Build it with
/// [`LoginConfig::builder`]; every mistake is reported by [`LoginConfigBuilder::build`] with
/// a sentence saying what to fix.
///
/// ```
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::Scope;
/// let config = LoginConfig::builder("1100000000000000001", "https://example.com/auth/callback")
///     .client_secret("s3cret")
///     .scopes([Scope::Identify, Scope::Guilds])
///     .build()
///     .unwrap();
/// assert!(config.secure_cookies());
/// assert_eq!(config.routes().callback, "/auth/callback");
///
/// let err = LoginConfig::builder("1100000000000000001", "/auth/callback").build().unwrap_err();
/// assert!(err.to_string().contains("absolute"));
/// ```
#[derive(Clone)]
pub struct LoginConfig {
    client: Client,
    scopes: Scopes,
    routes: Routes,
    default_return_to: ReturnTo,
    post_logout_redirect: ReturnTo,
    refresh_skew: Duration,
    pkce: bool,
    prompt: Option<Prompt>,
    identity_only: bool,
    pending_ttl: Duration,
    max_pending: usize,
    session_lifetime: Duration,
    idle_timeout: Duration,
    require_issuer: bool,
    secure_cookies: bool,
    origin: String,
    login_cookie_key: Option<pending_cookie::LoginCookieKey>,
}

impl fmt::Debug for LoginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginConfig")
            .field("client", &self.client)
            .field("scopes", &self.scopes)
            .field("routes", &self.routes)
            .field("identity_only", &self.identity_only)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// Builder for [`LoginConfig`].
#[derive(Debug, Clone)]
#[must_use = "call `.build()`"]
pub struct LoginConfigBuilder {
    client_id: String,
    client_secret: Option<String>,
    redirect_uri: String,
    scopes: Scopes,
    routes: Routes,
    endpoints: Endpoints,
    default_return_to: String,
    post_logout_redirect: String,
    refresh_skew: Duration,
    pkce: bool,
    prompt: Option<Prompt>,
    identity_only: bool,
    pending_ttl: Duration,
    max_pending: usize,
    session_lifetime: Duration,
    idle_timeout: Duration,
    require_issuer: bool,
    insecure_cookies: bool,
    login_cookie_key: Option<pending_cookie::LoginCookieKey>,
    endpoints_error: Option<ConfigError>,
}

impl LoginConfig {
    /// Starts a configuration for a client id and the exact redirect URI registered at Discord.
    pub fn builder(client_id: impl Into<String>, redirect_uri: impl Into<String>) -> LoginConfigBuilder {
        LoginConfigBuilder {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: redirect_uri.into(),
            scopes: Scopes::from(Scope::Identify),
            routes: Routes::default(),
            endpoints: Endpoints::discord(),
            default_return_to: "/".into(),
            post_logout_redirect: "/".into(),
            refresh_skew: Duration::from_secs(300),
            pkce: true,
            prompt: None,
            identity_only: false,
            pending_ttl: crate::DEFAULT_AUTHORIZATION_TTL,
            max_pending: 5,
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            require_issuer: false,
            insecure_cookies: false,
            login_cookie_key: None,
            endpoints_error: None,
        }
    }

    /// The OAuth2 client.
    pub fn client(&self) -> &Client {
        &self.client
    }
    /// The scopes requested at login.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }
    /// The route paths.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }
    /// Where a login without a valid `return_to` lands.
    pub fn default_return_to(&self) -> &ReturnTo {
        &self.default_return_to
    }
    /// Where logout redirects.
    pub fn post_logout_redirect(&self) -> &ReturnTo {
        &self.post_logout_redirect
    }
    /// How close to expiry an access token is refreshed.
    pub fn refresh_skew(&self) -> Duration {
        self.refresh_skew
    }
    /// `true` if only the user is kept, not the tokens.
    pub fn identity_only(&self) -> bool {
        self.identity_only
    }
    /// The absolute session lifetime.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
    }
    /// How long a session may go unused before it ends (default 7 days).
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// `true` if callbacks must carry `iss` (RFC 9207), see
    /// [`LoginConfigBuilder::require_issuer`].
    pub fn require_issuer(&self) -> bool {
        self.require_issuer
    }
    /// `true` if cookies must be `Secure` (the redirect URI is `https`, unless overridden).
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }
    /// The session cookie's name, the same on every framework: `__Host-discord_oauth` when
    /// cookies are `Secure` (the `__Host-` prefix pins it to this host and `Path=/`), else
    /// `discord_oauth`.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-discord_oauth"
        } else {
            "discord_oauth"
        }
    }
    /// The `Set-Cookie` value that deletes the session cookie, with the attributes the cookie
    /// itself has (`HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` on https): what every
    /// framework sends at logout.
    ///
    /// ```
    /// use discord_oauth_core::login::LoginConfig;
    /// let config = LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// assert_eq!(
    ///     config.session_cookie_removal(),
    ///     "__Host-discord_oauth=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    /// );
    /// ```
    pub fn session_cookie_removal(&self) -> String {
        let secure = if self.secure_cookies { " Secure;" } else { "" };
        format!(
            "{}=; HttpOnly; SameSite=Lax;{secure} Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.session_cookie_name()
        )
    }
    /// The site's origin (`scheme://host[:port]`), from the redirect URI.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// How many logins one browser may have in progress at once (default 5).
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }
    /// The key that seals pending-login cookies, if one was set (see [`pending_cookie`]).
    pub fn login_cookie_key(&self) -> Option<&pending_cookie::LoginCookieKey> {
        self.login_cookie_key.as_ref()
    }
    /// Gives the configuration a random login cookie key if it has none (what the
    /// integrations do when they are built). Logins started by this process then complete
    /// only on this process: with several instances, set the same key on each with
    /// [`LoginConfigBuilder::login_cookie_key`].
    pub fn ensure_login_cookie_key(&mut self, rng: &mut impl CryptoRng) {
        if self.login_cookie_key.is_none() {
            self.login_cookie_key = Some(pending_cookie::LoginCookieKey::random(rng));
        }
    }

    /// The authorization request every login starts with.
    fn authorization_request(&self) -> crate::authorize::AuthorizeRequest<'_> {
        let mut request = self
            .client
            .authorize(self.scopes.clone())
            .pkce(self.pkce)
            .require_issuer(self.require_issuer)
            .ttl(self.pending_ttl);
        if let Some(p) = self.prompt {
            request = request.prompt(p);
        }
        request
    }

    /// Starts a login: validates `return_to` (falling back to the default), adds a new pending
    /// authorization to `pending` (dropping expired ones and the oldest beyond the cap), and
    /// returns the URL to redirect the browser to.
    ///
    /// A whole login with these steps, as an integration runs it (Discord's answers canned):
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::login::{LoginConfig, PendingLogins, SessionStatus};
    /// use discord_oauth_core::{Scope, api};
    /// use rand::SeedableRng;
    ///
    /// let config = LoginConfig::builder("157730590492196864", "https://example.com/auth/callback")
    ///     .client_secret("client-secret")
    ///     .scopes([Scope::Identify, Scope::Guilds])
    ///     .build()?;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(5); // in production: rand::rng()
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    ///
    /// // GET /auth/login?return_to=/dashboard: keep `pending` in the browser's session.
    /// let mut pending = PendingLogins::default();
    /// let url = config.begin_login(Some("/dashboard"), &mut pending, &mut rng, now)?;
    /// let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
    /// let state = state.ok_or("no state")?;
    ///
    /// // GET /auth/callback?code=…&state=…
    /// let query = format!("code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={state}");
    /// let (exchange, return_to) = config.complete_callback(&query, &mut pending, now)?;
    /// assert!(pending.is_empty()); // single use
    /// assert_eq!(return_to.as_str(), "/dashboard");
    ///
    /// let _request = exchange.request(); // sent to Discord
    /// let tokens = exchange.finish(http::Response::builder().status(200).body(
    ///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,
    ///          "refresh_token":"rt","scope":"identify guilds"}"#.to_vec(),
    /// )?, now)?;
    /// config.check_granted(&tokens)?;
    /// let call = api::current_user(config.client().endpoints(), &tokens.access_token);
    /// let user = call.parse(http::Response::builder().status(200).body(
    ///     br#"{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}"#.to_vec(),
    /// )?)?;
    ///
    /// // Store the session; on every later request, ask what to do with it.
    /// let session = config.new_session(user, tokens, now);
    /// assert_eq!(config.session_status(&session, now), SessionStatus::Valid);
    /// let almost_a_week = now + Duration::from_secs(604800 - 60);
    /// assert_eq!(config.session_status(&session, almost_a_week), SessionStatus::NeedsRefresh);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_login(
        &self,
        return_to: Option<&str>,
        pending: &mut PendingLogins,
        rng: &mut impl CryptoRng,
        now: SystemTime,
    ) -> Result<Url, ConfigError> {
        let return_to = return_to
            .and_then(ReturnTo::parse)
            .unwrap_or_else(|| self.default_return_to.clone());
        let (url, authorization) = self.authorization_request().start(rng, now)?;
        pending.push(
            PendingLogin {
                authorization,
                return_to,
            },
            now,
            self.max_pending,
        );
        Ok(url)
    }

    /// Handles the callback query: finds the pending login by `state` and removes it (single
    /// use, whatever happens next), then validates it. Returns the token exchange to perform
    /// and where to go afterwards.
    ///
    /// A callback whose `state` matches no pending login leaves `pending` untouched (so a forged
    /// `error=…` callback cannot cancel a real login in progress).
    pub fn complete_callback(
        &self,
        query: &str,
        pending: &mut PendingLogins,
        now: SystemTime,
    ) -> Result<(CodeExchange, ReturnTo), LoginError> {
        let params = CallbackParams::parse(query)?;
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        let login = pending.take(state).ok_or(CallbackError::UnknownState)?;
        let grant = login.authorization.callback_params(params, now)?;
        // Re-validate the stored target before using it (checklist D-08).
        let return_to = ReturnTo::parse(login.return_to.as_str()).unwrap_or_else(|| self.default_return_to.clone());
        Ok((self.client.exchange_code(grant), return_to))
    }

    /// Checks a token response before the user is fetched: `identify` must have been granted.
    pub fn check_granted(&self, tokens: &TokenSet) -> Result<(), LoginError> {
        if tokens.has_scope(&Scope::Identify) {
            Ok(())
        } else {
            Err(LoginError::ScopeNotGranted(tokens.scopes.missing_from(&self.scopes)))
        }
    }

    /// Builds the session record after a successful login. In identity-only mode the tokens
    /// are dropped here (revoke them if you do not need them; the integrations do).
    pub fn new_session(&self, user: User, tokens: TokenSet, now: SystemTime) -> AuthSession {
        // Tells this login apart from the same user's other logins (other browsers), without
        // a random number generator: the access token is random and new for every login.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(tokens.access_token.secret().as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        AuthSession {
            user,
            tokens: (!self.identity_only).then_some(tokens),
            authenticated_at: now,
            login_id: u64::from_le_bytes(id),
        }
    }

    /// What to do with a stored session on a request at `now`.
    pub fn session_status(&self, session: &AuthSession, now: SystemTime) -> SessionStatus {
        let ends = session.authenticated_at.checked_add(self.session_lifetime);
        if ends.is_none_or(|end| now >= end) {
            return SessionStatus::Ended;
        }
        match &session.tokens {
            Some(t) if t.expires_within(now, self.refresh_skew) => {
                if t.refresh_token.is_some() {
                    SessionStatus::NeedsRefresh
                } else if now >= t.expires_at {
                    SessionStatus::Ended
                } else {
                    SessionStatus::Valid
                }
            }
            _ => SessionStatus::Valid,
        }
    }

    /// Until when [`LoginConfig::session_status`] says [`SessionStatus::Valid`] for `session`:
    /// the status is `Valid` exactly while `now < valid_until` (`None`: never, e.g. a lifetime
    /// past what `SystemTime` can hold). The integrations' fast paths keep this with a cached
    /// login, so that serving it costs one clock reading and one comparison.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::api::User;
    /// use discord_oauth_core::login::{LoginConfig, SessionStatus};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = LoginConfig::builder("1", "https://a.example/auth/callback")
    ///     .identity_only(true) // the session keeps no tokens: it lives for the session lifetime
    ///     .build()?;
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let user: User = serde_json::from_str(
    ///     r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}"#,
    /// )?;
    /// # let tokens = discord_oauth_core::TokenSet::parse(
    /// #     br#"{"access_token":"a","token_type":"Bearer","expires_in":604800,"scope":"identify"}"#,
    /// #     &Default::default(), t0)?;
    /// let session = config.new_session(user, tokens, t0);
    /// let until = config.valid_until(&session).ok_or("no end")?;
    /// assert_eq!(config.session_status(&session, until - Duration::from_secs(1)), SessionStatus::Valid);
    /// assert_eq!(config.session_status(&session, until), SessionStatus::Ended);
    /// # Ok(()) }
    /// ```
    pub fn valid_until(&self, session: &AuthSession) -> Option<SystemTime> {
        let ends = session.authenticated_at.checked_add(self.session_lifetime)?;
        let Some(t) = &session.tokens else {
            return Some(ends);
        };
        // With a refresh token, `NeedsRefresh` from `expires_at - skew`; without, `Ended` at
        // `expires_at` (see `session_status`).
        let token_until = if t.refresh_token.is_some() {
            t.expires_at.checked_sub(self.refresh_skew)?
        } else {
            t.expires_at
        };
        Some(ends.min(token_until))
    }

    /// Until when [`LoginConfig::idle_check`] says [`IdleCheck::Active`] for a session last
    /// marked active at `last_seen`: `Active` exactly while `last_seen <= now < active_until`
    /// (`None`: never).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::login::{IdleCheck, LoginConfig};
    /// let config = LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let until = config.active_until(Some(t0)).unwrap();
    /// assert_eq!(config.idle_check(Some(t0), until - Duration::from_secs(1)), IdleCheck::Active);
    /// assert_eq!(config.idle_check(Some(t0), until), IdleCheck::Touch);
    /// ```
    pub fn active_until(&self, last_seen: Option<SystemTime>) -> Option<SystemTime> {
        last_seen?.checked_add(self.touch_interval().min(self.idle_timeout))
    }

    /// The idle timeout applied to a session last marked active at `last_seen` (`None`: never
    /// marked, e.g. a session stored by an older version): [`IdleCheck::Expired`] once
    /// [`LoginConfig::idle_timeout`] has passed; [`IdleCheck::Touch`] when the mark is older
    /// than an eighth of it (about once a day by default), so that a user who only reads
    /// pages stays logged in while a store write happens at most that often;
    /// [`IdleCheck::Active`] otherwise.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::login::{IdleCheck, LoginConfig};
    /// let config = LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let day = Duration::from_secs(86_400);
    /// assert_eq!(config.idle_check(Some(t0), t0 + day / 2), IdleCheck::Active);
    /// assert_eq!(config.idle_check(Some(t0), t0 + day), IdleCheck::Touch);
    /// assert_eq!(config.idle_check(Some(t0), t0 + 7 * day), IdleCheck::Expired);
    /// assert_eq!(config.idle_check(None, t0), IdleCheck::Touch);
    /// ```
    pub fn idle_check(&self, last_seen: Option<SystemTime>, now: SystemTime) -> IdleCheck {
        let Some(seen) = last_seen else {
            return IdleCheck::Touch;
        };
        match now.duration_since(seen) {
            Ok(idle) if idle >= self.idle_timeout => IdleCheck::Expired,
            Ok(idle) if idle >= self.touch_interval() => IdleCheck::Touch,
            Ok(_) => IdleCheck::Active,
            // The mark is in the future (the clock went back): rewrite it with this clock.
            Err(_) => IdleCheck::Touch,
        }
    }

    /// How often a session in use is marked active: an eighth of the idle timeout.
    pub fn touch_interval(&self) -> Duration {
        self.idle_timeout / 8
    }
}

/// The default idle timeout: 7 days.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the idle timeout says about a session; see [`LoginConfig::idle_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCheck {
    /// Marked active recently: nothing to do.
    Active,
    /// Still valid, but mark it active now (store the current time as its last activity; this
    /// also extends the session's expiry in the store or the cookie).
    Touch,
    /// Unused for longer than the idle timeout: end the session.
    Expired,
}

impl LoginConfigBuilder {
    /// The client secret (omit for a public client, which then relies on PKCE).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }
    /// The scopes to request (default `identify`; `identify` is added if missing).
    pub fn scopes(mut self, scopes: impl Into<Scopes>) -> Self {
        self.scopes = scopes.into();
        self
    }
    /// The route paths (defaults `/auth/login`, `/auth/callback`, `/auth/logout`).
    pub fn routes(mut self, routes: Routes) -> Self {
        self.routes = routes;
        self
    }
    /// Discord's endpoints (default discord.com; a mock for tests and offline demos).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }
    /// Discord's endpoints laid out as on discord.com under another origin: a mock, a proxy
    /// ([`Endpoints::from_base`]: `{base}/oauth2/authorize`, `{base}/api/v10`, …). A base
    /// that is not an absolute http(s) URL fails [`build`](Self::build) with a sentence
    /// naming it.
    ///
    /// ```
    /// use discord_oauth_core::login::LoginConfig;
    /// let config = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback")
    ///     .discord_base("http://127.0.0.1:4000")
    ///     .build()?;
    /// assert_eq!(config.client().endpoints().api_base.as_str(), "http://127.0.0.1:4000/api/v10");
    /// let typo = LoginConfig::builder("1", "http://127.0.0.1:3000/auth/callback").discord_base("127.0.0.1:4000");
    /// assert!(typo.build().unwrap_err().to_string().contains("127.0.0.1:4000"));
    /// # Ok::<(), discord_oauth_core::ConfigError>(())
    /// ```
    pub fn discord_base(mut self, base: &str) -> Self {
        let parsed = url::Url::parse(base).map_err(|e| ConfigError::InvalidUrl {
            what: "Discord base URL",
            reason: format!("{base:?} is not an absolute URL ({e})"),
        });
        match parsed.and_then(Endpoints::from_base) {
            Ok(endpoints) => self.endpoints = endpoints,
            Err(e) => self.endpoints_error = Some(e),
        }
        self
    }
    /// Where to land after login when no valid `return_to` was given (default `/`).
    pub fn default_return_to(mut self, path: impl Into<String>) -> Self {
        self.default_return_to = path.into();
        self
    }
    /// Where to land after logout (default `/`).
    pub fn post_logout_redirect(mut self, path: impl Into<String>) -> Self {
        self.post_logout_redirect = path.into();
        self
    }
    /// Refresh access tokens that expire within this margin (default 5 minutes).
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.refresh_skew = skew;
        self
    }
    /// Turns PKCE off.
    ///
    /// # Security
    /// PKCE defends against code injection. Only turn it off to request
    /// `role_connections.write`, which Discord refuses together with PKCE.
    pub fn disable_pkce(mut self) -> Self {
        self.pkce = false;
        self
    }
    /// Sets `prompt` (e.g. [`Prompt::None`] to skip the consent screen for returning users).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }
    /// Keep only the user, not the Discord tokens (for sites that need nothing but "who is
    /// this"). The tokens are revoked right after login; no refresh ever happens.
    pub fn identity_only(mut self, identity_only: bool) -> Self {
        self.identity_only = identity_only;
        self
    }
    /// How long a started login may take (default 10 minutes).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }
    /// How many logins may be pending in one browser session (default 5).
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }
    /// The absolute session lifetime (default 30 days).
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }
    /// How long a session may go unused before it ends (default 7 days). The integrations
    /// use it as the session's expiry in the store (tower) or the cookie's `Max-Age` (actix),
    /// and check it themselves too, so a copy of an idle session's cookie stops working even
    /// where nothing expires server-side (actix's cookie store).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
    /// Requires `iss` on the callback (RFC 9207 "strict mode", checklist B-15): a callback
    /// without it is refused before any request to Discord. Off by default: discord.com lists
    /// `authorization_response_iss_parameter_supported`, but its callbacks have not been seen
    /// carrying `iss`, and requiring it would then refuse every login. A present `iss` is
    /// always checked against the issuer, strict or not.
    pub fn require_issuer(mut self, required: bool) -> Self {
        self.require_issuer = required;
        self
    }
    /// Allows non-`Secure` cookies even though the redirect URI is https (e.g. TLS terminated
    /// by a proxy that talks plain HTTP to a browser — rarely right).
    ///
    /// # Security
    /// Without `Secure`, the session cookie can leak over plain HTTP.
    pub fn allow_insecure_cookies(mut self) -> Self {
        self.insecure_cookies = true;
        self
    }

    /// The key that seals the cookies of logins in progress (see [`pending_cookie`]): the
    /// same on every instance that may receive a callback. Unset, the integrations make a
    /// random one per process.
    pub fn login_cookie_key(mut self, key: pending_cookie::LoginCookieKey) -> Self {
        self.login_cookie_key = Some(key);
        self
    }

    /// Validates everything and builds the configuration.
    pub fn build(self) -> Result<LoginConfig, ConfigError> {
        if let Some(e) = self.endpoints_error {
            return Err(e);
        }
        let client_id = self.client_id.trim();
        if client_id.is_empty() {
            return Err(ConfigError::Invalid(
                "the client id is empty; copy it from the Discord developer portal (OAuth2 → Client ID)".into(),
            ));
        }
        if !client_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid(format!(
                "the client id {client_id:?} is not a Discord application id (digits only)"
            )));
        }
        if matches!(self.client_secret.as_deref(), Some(s) if s.trim().is_empty()) {
            return Err(ConfigError::Invalid(
                "the client secret is empty; leave it unset for a public client".into(),
            ));
        }
        let redirect = Url::parse(&self.redirect_uri).map_err(|e| ConfigError::InvalidUrl {
            what: "redirect URI",
            reason: format!("{e}; it must be absolute, e.g. https://example.com/auth/callback"),
        })?;
        if !matches!(redirect.scheme(), "http" | "https") || redirect.host().is_none() {
            return Err(ConfigError::InvalidUrl {
                what: "redirect URI",
                reason: "it must be an absolute http(s) URL, e.g. https://example.com/auth/callback".into(),
            });
        }
        if redirect.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                what: "redirect URI",
                reason: "it must not have a #fragment".into(),
            });
        }
        for (name, path) in [
            ("login", &self.routes.login),
            ("callback", &self.routes.callback),
            ("logout", &self.routes.logout),
        ] {
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(ConfigError::Invalid(format!(
                    "the {name} route {path:?} must be a plain path starting with /"
                )));
            }
        }
        if redirect.path() != self.routes.callback {
            return Err(ConfigError::Invalid(format!(
                "the redirect URI's path {:?} does not match the callback route {:?}; Discord sends the user back \
                 to the redirect URI, so they must agree",
                redirect.path(),
                self.routes.callback
            )));
        }
        let mut scopes = self.scopes;
        if scopes.is_bot_only() {
            return Err(ConfigError::ScopeNotAllowed {
                scope: scopes.to_string(),
                reason: "a login needs a user scope such as `identify`; bot-only scopes give no user",
            });
        }
        scopes.insert(Scope::Identify);
        crate::authorize::validate_login_scopes(&scopes, self.pkce)?;
        if !self.pkce && self.client_secret.is_none() {
            return Err(ConfigError::Invalid("a public client (no secret) must use PKCE".into()));
        }
        let parse_path = |what: &str, p: &str| {
            ReturnTo::parse(p)
                .ok_or_else(|| ConfigError::Invalid(format!("the {what} {p:?} must be a same-site path like /")))
        };
        let default_return_to = parse_path("default return path", &self.default_return_to)?;
        let post_logout_redirect = parse_path("post-logout redirect", &self.post_logout_redirect)?;
        if self.max_pending == 0 {
            return Err(ConfigError::Invalid("max_pending must be at least 1".into()));
        }
        if self.idle_timeout < Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "the idle timeout must be at least a minute (the default is 7 days)".into(),
            ));
        }
        let origin = redirect.origin().ascii_serialization();
        let secure_cookies = redirect.scheme() == "https" && !self.insecure_cookies;
        let redirect_url = RedirectUrl::from_url(redirect);
        let client = Client::new(
            ClientId::new(client_id.to_owned()),
            self.client_secret.map(ClientSecret::new),
            redirect_url,
        )
        .with_endpoints(self.endpoints);
        Ok(LoginConfig {
            client,
            scopes,
            routes: self.routes,
            default_return_to,
            post_logout_redirect,
            refresh_skew: self.refresh_skew,
            pkce: self.pkce,
            prompt: self.prompt,
            identity_only: self.identity_only,
            pending_ttl: self.pending_ttl,
            max_pending: self.max_pending,
            session_lifetime: self.session_lifetime,
            idle_timeout: self.idle_timeout,
            require_issuer: self.require_issuer,
            secure_cookies,
            origin,
            login_cookie_key: self.login_cookie_key,
        })
    }
}

/// One login in progress: the pending authorization and where to go afterwards.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The pending authorization (state, PKCE verifier, expiry).
    pub authorization: PendingAuthorization,
    /// Where to land after the login.
    pub return_to: ReturnTo,
}

/// The logins in progress in one browser session: bounded, oldest first, keyed by `state`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PendingLogins(Vec<PendingLogin>);

impl PendingLogins {
    /// Adds a login, dropping expired ones, then the oldest beyond `max`.
    pub fn push(&mut self, login: PendingLogin, now: SystemTime, max: usize) {
        self.0.retain(|p| !p.authorization.is_expired(now));
        self.0.push(login);
        let excess = self.0.len().saturating_sub(max.max(1));
        self.0.drain(..excess);
    }

    /// Removes and returns the login whose state equals `state` (constant-time comparison).
    pub fn take(&mut self, state: &str) -> Option<PendingLogin> {
        let mut found = None;
        // Compare against every entry, so timing does not reveal which one matched.
        for (i, p) in self.0.iter().enumerate() {
            if p.authorization.matches_state(state) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(|i| self.0.remove(i))
    }

    /// Drops expired logins.
    pub fn prune(&mut self, now: SystemTime) {
        self.0.retain(|p| !p.authorization.is_expired(now));
    }

    /// When the last of these logins expires (`None` if there are none): a session holding
    /// only pending logins need not be kept longer.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.iter().map(|p| p.authorization.expires_at()).max()
    }

    /// Number of logins in progress.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a logged-in session stores: the Discord user, the tokens (unless identity-only), and
/// when the login happened. Serializable and compact (well under 1 KiB for a typical user).
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthSession {
    /// The user, as `/users/@me` returned it at login.
    pub user: User,
    /// The tokens (absent in identity-only mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSet>,
    /// When the user logged in (the absolute session lifetime counts from here).
    #[serde(with = "unix_time")]
    pub authenticated_at: SystemTime,
    /// Tells this login apart from the same user's other logins (see
    /// [`revocation::login_key`]); 0 in records stored by older versions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub login_id: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the id: the user object may carry the email address.
        f.debug_struct("AuthSession")
            .field("user_id", &self.user.id)
            .field("tokens", &self.tokens)
            .field("authenticated_at", &self.authenticated_at)
            .field("login_id", &self.login_id)
            .finish()
    }
}

/// The state of a stored session at a given time; see [`LoginConfig::session_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Usable as is.
    Valid,
    /// The access token expires within the refresh skew: refresh it (once, for all requests
    /// of this session) before use.
    NeedsRefresh,
    /// The absolute lifetime is over, or the token expired with no way to refresh: log out.
    Ended,
}

/// Why a login failed, with what to tell the user. The `Display` text is for logs; the
/// [`LoginError::page`] text is for the browser and never contains tokens or Discord's raw
/// answers.
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::login::{LoginConfig, LoginError, PendingLogins, error_page, html_escape};
/// use discord_oauth_core::CallbackError;
/// use rand::SeedableRng;
///
/// let config = LoginConfig::builder("157730590492196864", "https://example.com/auth/callback").build()?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(5);
/// let now = SystemTime::now();
/// let mut pending = PendingLogins::default();
/// let url = config.begin_login(None, &mut pending, &mut rng, now)?;
/// let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
///
/// // The user pressed "Cancel" on Discord's consent page.
/// let query = format!("error=access_denied&state={}", state.ok_or("no state")?);
/// let err = config.complete_callback(&query, &mut pending, now).err().ok_or("expected an error")?;
/// assert!(matches!(err, LoginError::Callback(CallbackError::AccessDenied { .. })));
///
/// // What to answer the browser: the status, `Retry-After` for 503s, and a page.
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.retry_after(), None);
/// let (title, message) = err.page();
/// assert_eq!(title, "Login cancelled");
/// let html = error_page(title, &message, "/auth/login");
/// assert!(html.contains(&html_escape(&message)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The callback was refused.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The code exchange failed.
    #[error("code exchange failed: {0}")]
    Token(#[from] TokenError),
    /// Fetching the user failed.
    #[error("fetching the user failed: {0}")]
    User(#[from] crate::ApiError),
    /// Discord did not grant `identify`, so there is no user to log in.
    #[error("Discord did not grant the scopes this site needs: {0}")]
    ScopeNotGranted(Scopes),
    /// Discord could not be reached (transport error or timeout).
    #[error("Discord could not be reached: {0}")]
    Unreachable(String),
    /// The session store failed.
    #[error("the session store failed: {0}")]
    Store(String),
}

impl LoginError {
    /// The HTTP status to answer with: 4xx for anything the browser or user caused, 502 when
    /// Discord misbehaved, 503 when Discord or the store is unavailable or rate limiting.
    pub fn status(&self) -> u16 {
        match self {
            LoginError::Callback(_) | LoginError::ScopeNotGranted(_) => 400,
            LoginError::Token(e) if e.is_invalid_grant() => 400,
            LoginError::Token(TokenError::RateLimited(_))
            | LoginError::User(crate::ApiError::Response(crate::ResponseError::RateLimited(_)))
            | LoginError::Unreachable(_)
            | LoginError::Store(_) => 503,
            LoginError::Token(_) | LoginError::User(_) => 502,
        }
    }

    /// Seconds the client should wait before retrying, for 503 answers.
    pub fn retry_after(&self) -> Option<u64> {
        let rl = match self {
            LoginError::Token(e) => e.rate_limit(),
            LoginError::User(e) => e.rate_limit(),
            LoginError::Unreachable(_) | LoginError::Store(_) => return Some(5),
            _ => None,
        };
        rl.map(|r| r.retry_after.map_or(5, |d| d.as_secs().max(1)))
    }

    /// A title and a message for the user: plain text (escape before putting in HTML).
    pub fn page(&self) -> (&'static str, String) {
        match self {
            LoginError::Callback(CallbackError::AccessDenied { .. }) => (
                "Login cancelled",
                "You cancelled the login on Discord. Nothing was shared with this site.".into(),
            ),
            LoginError::Callback(CallbackError::Expired) => {
                ("Login expired", "The login took too long. Please start again.".into())
            }
            LoginError::Callback(e) => ("Login failed", format!("This login link is not valid: {e}.")),
            LoginError::Token(e) if e.is_invalid_grant() => (
                "Login failed",
                "Discord did not accept this login (the code was already used or has expired). Please start again."
                    .into(),
            ),
            LoginError::ScopeNotGranted(_) => (
                "Login failed",
                "Discord did not grant access to your account profile, which this site needs to log you in.".into(),
            ),
            LoginError::Token(TokenError::RateLimited(_))
            | LoginError::User(crate::ApiError::Response(crate::ResponseError::RateLimited(_))) => (
                "Discord is busy",
                "Discord is rate limiting logins right now. Please try again in a few seconds.".into(),
            ),
            LoginError::Token(_) | LoginError::User(_) => (
                "Discord error",
                "Discord answered unexpectedly while logging you in. Please try again.".into(),
            ),
            LoginError::Unreachable(_) => (
                "Discord unreachable",
                "Discord could not be reached. Please try again in a moment.".into(),
            ),
            LoginError::Store(_) => (
                "Service unavailable",
                "Sessions are unavailable right now. Please try again in a moment.".into(),
            ),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
///
/// ```
/// use discord_oauth_core::login::html_escape;
/// assert_eq!(html_escape("<script>\"x\" & 'y'</script>"),
///            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;");
/// ```
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal, self-contained HTML page (no scripts, images or external links) with an escaped
/// title and message and a link to start again.
pub fn error_page(title: &str, message: &str, retry_href: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;\
         max-width:36rem;margin:4rem auto\"><h1>{t}</h1><p>{m}</p><p><a href=\"{h}\">Back to the site</a></p>\
         </body></html>",
        t = html_escape(title),
        m = html_escape(message),
        h = html_escape(retry_href),
    )
}
