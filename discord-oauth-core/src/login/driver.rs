//! The login driver: every decision about a login, written once for every web framework.
//!
//! The tower/axum and actix-web integrations only convert: they turn their request into a
//! [`RouteRequest`], wrap their session crate's session in a [`SessionIo`], implement
//! [`DriverIo`] once with their runtime and HTTP client, and turn the `http::Response<String>`
//! answers back into their own. Everything else lives here:
//!
//! - the answers of the three login routes ([`Driver::login`], [`Driver::answer`]): the
//!   sealed login cookie, the callback's checks and exchange, a new session id at login,
//!   logout that ends the login everywhere *before* revoking at Discord;
//! - the per-request decision ([`Driver::attach`]): anonymous, authenticated, store
//!   unavailable, ended (revoked, idle, past its lifetime) or due for a refresh;
//! - the refresh once the integration's lock is held ([`Driver::refresh_locked`]), with the
//!   outcomes of recent refreshes remembered so that every request still carrying the old
//!   record — a copy in a cookie, a read that raced the refresh — gets the same answer
//!   ([`RecentRefreshes`]), and a refresh token that another instance rotated meanwhile
//!   found again in the store instead of logging the user out.
//!
//! What stays in an integration is what needs its runtime: the refresh lock (a per-session
//! mutex in the process, Redis across instances) and its cache of authenticated sessions,
//! which the driver tells what to forget through [`SessionIo::forget`].
//!
//! The session keys are [`AUTH_KEY`] (the [`AuthSession`], JSON) and [`SEEN_KEY`] (the last
//! activity, Unix seconds), the same on every framework, so a site can move between them.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::answer::{self, Refusal, Route};
use super::flow::{CallbackFlow, Guard, RefreshOutcome, RefreshPlan, RevokeFlow, drive};
use super::pending_cookie::ConsumedStates;
use super::revocation::{Revocation, Revocations};
use super::{AuthSession, IdleCheck, LoginConfig, LoginError, SessionStatus};
use crate::api::client::{ApiDriver, ApiDriverConfig, ClientIo};
use crate::bounded::ExpiringMap;
use crate::{AccessToken, CodeExchange, ReturnTo};

/// The session key of the [`AuthSession`].
pub const AUTH_KEY: &str = "discord_oauth.auth";
/// The session key of the last activity (Unix seconds), for the idle timeout.
pub const SEEN_KEY: &str = "discord_oauth.seen";

/// How long the outcome of a refresh is remembered ([`RecentRefreshes`]).
pub const RECENT_TTL: Duration = Duration::from_secs(60);
/// How many refresh outcomes are remembered at most ([`RecentRefreshes`]).
pub const RECENT_CAPACITY: usize = 10_000;

/// After Discord rejected a refresh token, how long to wait before looking in the store once
/// more for a refresh another instance finished meanwhile.
const ROTATED_ELSEWHERE_RECHECK: Duration = Duration::from_millis(250);

/// A framework's session as the driver uses it: typed reads and writes of the two keys, and
/// the id and lifetime operations. The tower integration implements it over
/// `tower_sessions::Session`, the actix-web one over `actix_session::Session`.
///
/// A session kept in memory, its values as JSON by key:
///
/// ```
/// # use discord_oauth_core::login::doc_support::{ScriptedDiscord, block_on};
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use discord_oauth_core::api::client::ApiDriverConfig;
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::login::driver::{Attached, Driver, SessionIo};
/// use discord_oauth_core::login::revocation::Revocation;
/// use serde::{Serialize, de::DeserializeOwned};
///
/// #[derive(Default)]
/// struct MemorySession(Mutex<HashMap<String, String>>);
///
/// impl SessionIo for MemorySession {
///     type Error = String;
///
///     async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
///         let values = self.0.lock().map_err(|e| e.to_string())?;
///         let value = values.get(key).map(|v| serde_json::from_str(v)).transpose();
///         value.map_err(|e| e.to_string())
///     }
///     async fn insert<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<(), String> {
///         let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
///         self.0.lock().map_err(|e| e.to_string())?.insert(key.to_owned(), value);
///         Ok(())
///     }
///     // A store keyed by session id would move the values to a new id here.
///     async fn cycle_id(&self) -> Result<(), String> {
///         Ok(())
///     }
///     async fn purge(&self) -> Result<(), String> {
///         self.0.lock().map_err(|e| e.to_string())?.clear();
///         Ok(())
///     }
///     async fn save(&self) -> Result<(), String> {
///         Ok(())
///     }
///     // The memory is the store: reading it again is reading it.
///     async fn reload(&self) -> Result<bool, String> {
///         Ok(true)
///     }
///     // No cache of authenticated sessions to drop entries from.
///     fn forget(&self, _revocation: Option<&Revocation>) {}
/// }
///
/// let config = LoginConfig::builder("1", "https://site.example/auth/callback").build()?;
/// let driver = Driver::new(config, ApiDriverConfig::default());
/// # let io = ScriptedDiscord::new();
/// let attached = block_on(driver.attach(&io, &MemorySession::default(), None));
/// assert!(matches!(attached, Ok(Attached::Anonymous)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SessionIo {
    /// A session store failure (its `Display` is logged).
    type Error: fmt::Display;

    /// Reads `key`.
    fn get<T: DeserializeOwned>(&self, key: &str) -> impl Future<Output = Result<Option<T>, Self::Error>>;

    /// Writes `key`.
    fn insert<T: Serialize + Sync>(&self, key: &str, value: &T) -> impl Future<Output = Result<(), Self::Error>>;

    /// Gives the session a new id (at login: session fixation).
    fn cycle_id(&self) -> impl Future<Output = Result<(), Self::Error>>;

    /// Deletes the session, in the store and in the browser.
    fn purge(&self) -> impl Future<Output = Result<(), Self::Error>>;

    /// Writes the session to its store now, where the framework would do it later (after
    /// login, before the redirect). Nothing to do where the framework saves with the response.
    fn save(&self) -> impl Future<Output = Result<(), Self::Error>>;

    /// Reads the session again from its store (under the refresh lock: another request may
    /// have refreshed it), answering `true`. Where the session is read once per request and
    /// cannot be re-read (actix-session), answers `false`: then the driver relies on
    /// [`RecentRefreshes`] and a shared lock's published outcomes.
    fn reload(&self) -> impl Future<Output = Result<bool, Self::Error>>;

    /// The integration's caches must no longer answer for this session, and, when given,
    /// for any login `revocation` names. Called whenever the driver ends, replaces or
    /// refreshes the login this session holds.
    fn forget(&self, revocation: Option<&Revocation>);
}

/// What the driver needs from the integration: its transport, timer and clocks, the same
/// [`ClientIo`] the user-API driver uses (the monotonic clock also runs the ended-logins list).
/// Implemented by every [`ClientIo`] that is `Sync`.
///
/// A site's would send with its HTTP client (with a timeout) and wait with its runtime's
/// timer; this one cannot reach Discord at all, and shows that a guard that cannot ask
/// Discord answers `503`, never `403`:
///
/// ```
/// # use discord_oauth_core::login::doc_support::{self, block_on};
/// use std::future::{Future, ready};
/// use std::time::{Duration, Instant, SystemTime};
/// use discord_oauth_core::api::client::{ApiDriverConfig, ClientIo};
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::login::driver::{Driver, Subject};
/// use discord_oauth_core::login::flow::{FlowIo, Guard, GuildRequirement};
///
/// struct Offline;
///
/// impl FlowIo for Offline {
///     type Error = String;
///     fn send(
///         &self,
///         _request: http::Request<Vec<u8>>,
///     ) -> impl Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
///         ready(Err("connection refused".to_owned()))
///     }
///     fn wait(&self, _duration: Duration) -> impl Future<Output = ()> + Send {
///         ready(())
///     }
///     fn now(&self) -> SystemTime {
///         SystemTime::now()
///     }
/// }
///
/// impl ClientIo for Offline {
///     fn instant(&self) -> Instant {
///         Instant::now()
///     }
/// }
///
/// let config = LoginConfig::builder("1", "https://site.example/auth/callback").build()?;
/// # let login = doc_support::logged_in(&config, "identify guilds.members.read");
/// let driver = Driver::new(config, ApiDriverConfig::default());
/// let guard = Guard::new(GuildRequirement { guild_id: 81384788765712384, role_id: None });
/// let refusal = block_on(driver.guard(&Offline, &guard, Subject::User(&login), false)).unwrap_err();
/// assert_eq!(refusal.status(), 503);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait DriverIo: ClientIo + Sync {}

impl<T: ClientIo + Sync> DriverIo for T {}

/// One request to a login route, in the few parts the driver reads.
///
/// ```
/// use discord_oauth_core::login::driver::RouteRequest;
/// let req = http::Request::post("/auth/logout?everywhere=1")
///     .header("origin", "https://site.example")
///     .body(())?;
/// let route_request = RouteRequest {
///     method: req.method().as_str(),
///     query: req.uri().query().unwrap_or(""),
///     origin: req.headers().get("origin").map(|v| v.as_bytes()),
/// };
/// assert_eq!(route_request.query, "everywhere=1");
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The query string without `?` (`""` when there is none).
    pub query: &'a str,
    /// The `Origin` header (checked on logout).
    pub origin: Option<&'a [u8]>,
}

/// The per-request decision of [`Driver::attach`]. An integration puts it in the request as a
/// [`Visitor`](super::visitor::Visitor), after refreshing a login that [`Attached::NeedsRefresh`]
/// (see [`Driver::attach`] for an example).
///
/// ```
/// use std::sync::Arc;
/// use discord_oauth_core::login::driver::Attached;
/// use discord_oauth_core::login::visitor::Visitor;
///
/// fn visitor(attached: Attached) -> Visitor {
///     // A login still `NeedsRefresh` is served as it is.
///     Visitor::new(attached, Arc::from("/auth/login"))
/// }
/// assert!(visitor(Attached::Anonymous).optional().is_ok_and(|login| login.is_none()));
/// assert!(visitor(Attached::Unavailable).optional().is_err());
/// ```
#[derive(Debug, Clone)]
pub enum Attached {
    /// No login in this session (or one that just ended).
    Anonymous,
    /// The session store could not be read: handlers that need a login answer 503.
    Unavailable,
    /// A valid login.
    Authenticated(Arc<AuthSession>),
    /// A login whose access token is about to expire: take the integration's refresh lock and
    /// call [`Driver::refresh_locked`].
    NeedsRefresh(Arc<AuthSession>),
}

/// What a finished refresh was, remembered for a while by refresh token ([`RecentRefreshes`])
/// and, across instances, published by a shared refresh lock.
#[derive(Debug, Clone)]
pub enum Recent {
    /// The session was refreshed into this record.
    Refreshed(Arc<AuthSession>),
    /// Discord rejected the refresh token: the login is over.
    LoggedOut,
}

impl Recent {
    /// The login after this refresh (`None`: it ended).
    pub fn current(self) -> Option<Arc<AuthSession>> {
        match self {
            Recent::Refreshed(fresh) => Some(fresh),
            Recent::LoggedOut => None,
        }
    }

    /// The text a shared refresh lock publishes for the other instances (JSON:
    /// `{"refreshed":{…}}` or `"logged_out"`); read back with [`Recent::decode`]. It holds the
    /// refreshed tokens: whatever stores it must be as private as the session store.
    ///
    /// ```
    /// use discord_oauth_core::login::driver::Recent;
    /// let text = Recent::LoggedOut.encode();
    /// assert!(matches!(Recent::decode(&text), Some(Recent::LoggedOut)));
    /// assert!(Recent::decode("not json").is_none());
    /// ```
    pub fn encode(&self) -> String {
        let wire = match self {
            Recent::Refreshed(session) => RecentWire::Refreshed(Box::new(session.as_ref().clone())),
            Recent::LoggedOut => RecentWire::LoggedOut,
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads what [`Recent::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Recent> {
        match serde_json::from_str::<RecentWire>(text).ok()? {
            RecentWire::Refreshed(session) => Some(Recent::Refreshed(Arc::new(*session))),
            RecentWire::LoggedOut => Some(Recent::LoggedOut),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum RecentWire {
    Refreshed(Box<AuthSession>),
    LoggedOut,
}

/// The key a refresh is known by: the SHA-256 of the refresh token it spends (refresh tokens
/// are single use, so this names one refresh exactly). `None` for a login without one.
pub fn refresh_key(session: &AuthSession) -> Option<[u8; 32]> {
    let rt = session.tokens.as_ref()?.refresh_token.as_ref()?;
    Some(Sha256::digest(rt.secret().as_bytes()).into())
}

/// The outcomes of this instance's recent refreshes, by [`refresh_key`]: a request that still
/// carries the record a refresh replaced (a cookie-held session, or a read that raced the
/// refresh) gets the same outcome instead of spending a refresh token Discord has already
/// rotated. Bounded: [`RECENT_CAPACITY`] outcomes, each kept [`RECENT_TTL`].
#[derive(Debug)]
pub struct RecentRefreshes(Mutex<ExpiringMap<[u8; 32], Recent>>);

impl Default for RecentRefreshes {
    fn default() -> Self {
        Self(Mutex::new(ExpiringMap::new(RECENT_CAPACITY, usize::MAX)))
    }
}

impl RecentRefreshes {
    /// The outcome of the refresh that spent `key`, if it finished within [`RECENT_TTL`].
    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<Recent> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key, now)
            .cloned()
    }

    /// Remembers an outcome (also one published by another instance).
    pub fn remember(&self, key: [u8; 32], recent: Recent, now: Instant) {
        let until = now + RECENT_TTL;
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, recent, 0, until, now);
    }
}

/// The result of [`Driver::refresh_locked`].
#[derive(Debug)]
pub struct Refreshed {
    /// The login to serve the request with (`None`: it ended; anonymous).
    pub session: Option<Arc<AuthSession>>,
    /// What this refresh spent, for a shared lock to publish to other instances (`None`:
    /// nothing was spent here).
    pub spent: Option<Recent>,
}

/// Who a guard ([`Driver::guard`]) is asked about: [`Visitor::subject`](super::visitor::Visitor::subject)
/// makes it from a request's login.
///
/// ```
/// use std::sync::Arc;
/// use discord_oauth_core::login::driver::{Attached, Subject};
/// use discord_oauth_core::login::visitor::Visitor;
/// let visitor = Visitor::new(Attached::Anonymous, Arc::from("/auth/login"));
/// assert!(matches!(visitor.subject("/members"), Subject::Anonymous { here: "/members" }));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The session store could not be read.
    Unavailable,
    /// Nobody is logged in; the request was for `here` (path and query).
    Anonymous {
        /// Where the login returns to.
        here: &'a str,
    },
    /// This login.
    User(&'a AuthSession),
}

/// The framework-neutral login driver: one per site, shared by every request.
///
/// An integration routes the three login paths ([`LoginConfig::route`]) to [`Driver::login`]
/// and [`Driver::answer`], and asks [`Driver::attach`] about every other request. Here a whole
/// login, with a session held in memory and Discord's answers scripted:
///
/// ```
/// # use discord_oauth_core::login::doc_support::{self, MemorySession, ScriptedDiscord, USER, block_on, token_body};
/// use discord_oauth_core::api::client::ApiDriverConfig;
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::login::answer::Route;
/// use discord_oauth_core::login::driver::{Attached, Driver, RouteRequest};
/// use discord_oauth_core::login::pending_cookie::LoginCookieKey;
///
/// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
///     .client_secret("secret")
///     .login_cookie_key(LoginCookieKey::random(&mut rand::rng()))
///     .build()?;
/// let driver = Driver::new(config, ApiDriverConfig::default());
/// assert_eq!(driver.config().routes().login, "/auth/login");
/// // The integration's transport and clocks, and this browser's session.
/// let (discord, session) = (ScriptedDiscord::new(), MemorySession::new());
/// # let now = doc_support::now();
///
/// // GET /auth/login?return_to=/me: off to Discord, the attempt sealed in a cookie.
/// let get = |query| RouteRequest { method: "GET", query, origin: None };
/// let redirect = driver.login(&get("return_to=%2Fme"), [], &mut rand::rng(), now);
/// assert_eq!(redirect.status(), 303);
///
/// // The user agrees; Discord sends the browser back with a code.
/// # let (query, cookie) = doc_support::browser_returns(&redirect, "c0de")?;
/// discord.answer(200, &token_body(1, "identify")).answer(200, USER);
/// let done = block_on(driver.answer(&discord, &session, Route::Callback, &get(&query), [cookie.as_bytes()]));
/// assert_eq!(done.status(), 303);
/// assert_eq!(done.headers()["location"], "/me");
/// assert_eq!(discord.sent(), ["POST /api/v10/oauth2/token", "GET /api/v10/users/@me"]);
/// assert_eq!(session.cycled(), 1); // a new session id at login
///
/// // Every later request of this browser.
/// match block_on(driver.attach(&discord, &session, None)) {
///     Ok(Attached::Authenticated(login)) => assert_eq!(login.user.username, "nelly"),
///     Ok(other) => panic!("{other:?}"),
///     Err(answer) => panic!("the store failed: {}", answer.status()),
/// }
///
/// // POST /auth/logout: the session ends, then the token is revoked at Discord.
/// discord.answer(200, "{}");
/// let logout = RouteRequest { method: "POST", query: "", origin: Some(b"https://site.example".as_slice()) };
/// let bye = block_on(driver.answer(&discord, &session, Route::Logout, &logout, []));
/// assert_eq!(bye.status(), 303);
/// assert!(matches!(block_on(driver.attach(&discord, &session, None)), Ok(Attached::Anonymous)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Driver {
    config: LoginConfig,
    consumed: ConsumedStates,
    revocations: Revocations,
    recent: RecentRefreshes,
    api: ApiDriver,
}

impl Driver {
    /// A driver for `config`, whose user-API calls go through an [`ApiDriver`] configured by
    /// `api`.
    pub fn new(config: LoginConfig, api: ApiDriverConfig) -> Self {
        Self {
            api: ApiDriver::new(config.client().endpoints().clone(), api),
            consumed: ConsumedStates::default(),
            revocations: Revocations::default(),
            recent: RecentRefreshes::default(),
            config,
        }
    }

    /// Replaces the ended-logins list (e.g. one with a broadcast to other instances).
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// The login configuration.
    pub fn config(&self) -> &LoginConfig {
        &self.config
    }

    /// The ended-logins list.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The outcomes of recent refreshes.
    pub fn recent(&self) -> &RecentRefreshes {
        &self.recent
    }

    /// The user-API driver (rate limits, invalid-request budget, read cache).
    pub fn api(&self) -> &ApiDriver {
        &self.api
    }

    /// The refresh lock's lease for a transport `timeout`: longer than the longest refresh
    /// (two attempts and the longest inline wait between them), so that a lock is never
    /// taken over while its holder is still refreshing.
    pub fn refresh_lease(timeout: Duration) -> Duration {
        timeout.saturating_mul(2).saturating_add(Duration::from_secs(10))
    }

    /// Ends the logins `revocation` names on this instance: no copy of them is served from now
    /// on. The integration also drops them from its caches; [`Driver::revoke`] does both and
    /// tells the other instances.
    pub fn apply_revocation(&self, revocation: Revocation, now: SystemTime, mono: Instant) {
        self.revocations
            .revoke(revocation, self.config.session_lifetime(), now, mono);
    }

    /// Ends the logins `revocation` names here (forgetting them through `session`) and on
    /// every other instance.
    ///
    /// E.g. when the user removes the application from their Discord account: every login of
    /// theirs ends, and a session that still holds one is ended at its next request.
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, MemorySession, ScriptedDiscord, block_on};
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{AUTH_KEY, Attached, Driver, SessionIo};
    /// use discord_oauth_core::login::revocation::Revocation;
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback").build()?;
    /// # let login = doc_support::logged_in(&config, "identify");
    /// # let now = doc_support::now();
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let (io, session) = (ScriptedDiscord::new(), MemorySession::new());
    /// block_on(session.insert(AUTH_KEY, &login))?;
    ///
    /// block_on(driver.revoke(&io, &MemorySession::new(), Revocation::of_user(login.user.id.get(), now)));
    /// assert!(matches!(block_on(driver.attach(&io, &session, None)), Ok(Attached::Anonymous)));
    /// assert!(session.keys().is_empty(), "the session was ended");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn revoke<S: SessionIo, I: DriverIo>(&self, io: &I, session: &S, revocation: Revocation) {
        self.apply_revocation(revocation, io.now(), io.instant());
        session.forget(Some(&revocation));
        self.announce(revocation, io.now()).await;
    }

    /// Tells the other instances (through the ended-logins list's broadcast, if any) that the
    /// logins `revocation` names ended.
    pub async fn announce(&self, revocation: Revocation, now: SystemTime) {
        let lifetime = self.config.session_lifetime();
        self.revocations.announce(revocation, lifetime, now).await;
    }

    /// The answer of `GET /auth/login`: a redirect to Discord, the attempt sealed in a cookie.
    /// Reads and writes no store.
    ///
    /// `cookies` are the request's `Cookie` headers (an unfinished login's cookie is
    /// replaced); `rng` a cryptographic generator (the state, the PKCE verifier).
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{Driver, RouteRequest};
    /// use discord_oauth_core::login::pending_cookie::LoginCookieKey;
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .login_cookie_key(LoginCookieKey::random(&mut rand::rng()))
    ///     .build()?;
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let req = RouteRequest { method: "GET", query: "return_to=%2Fguilds", origin: None };
    /// let answer = driver.login(&req, [], &mut rand::rng(), SystemTime::now());
    /// assert_eq!(answer.status(), 303);
    /// let location = answer.headers()["location"].to_str()?;
    /// assert!(location.starts_with("https://discord.com/oauth2/authorize?"));
    /// assert!(answer.headers().contains_key("set-cookie"));
    ///
    /// // Only GET and HEAD.
    /// let post = RouteRequest { method: "POST", ..req };
    /// assert_eq!(driver.login(&post, [], &mut rand::rng(), SystemTime::now()).status(), 405);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn login<'a>(
        &self,
        req: &RouteRequest<'_>,
        cookies: impl IntoIterator<Item = &'a [u8]>,
        rng: &mut impl rand_core::CryptoRng,
        now: SystemTime,
    ) -> Response<String> {
        if let Err(r) = Route::Login.check_method(req.method) {
            return r;
        }
        self.config.login_answer(req.query, cookies, rng, now)
    }

    /// The answer of the callback and logout routes. `GET /auth/login` is [`Driver::login`]
    /// (it needs randomness and no session); given [`Route::Login`], this answers 500.
    ///
    /// [`Driver`] shows a callback; here a logout, and the checks before it:
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, MemorySession, ScriptedDiscord, block_on};
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::answer::Route;
    /// use discord_oauth_core::login::driver::{AUTH_KEY, Driver, RouteRequest, SessionIo};
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .client_secret("secret")
    ///     .build()?;
    /// # let login = doc_support::logged_in(&config, "identify");
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let (discord, session) = (ScriptedDiscord::new(), MemorySession::new());
    /// block_on(session.insert(AUTH_KEY, &login))?;
    ///
    /// // A form on another site cannot log the user out.
    /// let forged = RouteRequest { method: "POST", query: "", origin: Some(b"https://evil.example".as_slice()) };
    /// let answer = block_on(driver.answer(&discord, &session, Route::Logout, &forged, []));
    /// assert_eq!(answer.status(), 403);
    ///
    /// discord.answer(200, "{}");
    /// let logout = RouteRequest { origin: Some(b"https://site.example".as_slice()), ..forged };
    /// let answer = block_on(driver.answer(&discord, &session, Route::Logout, &logout, []));
    /// assert_eq!(answer.status(), 303);
    /// assert_eq!(answer.headers()["location"], "/");
    /// assert!(session.keys().is_empty());
    /// assert_eq!(discord.sent(), ["POST /api/v10/oauth2/token/revoke"]);
    /// // The login is over on this instance, whatever copy of it comes back.
    /// assert!(driver.revocations().is_revoked(&login, std::time::Instant::now()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn answer<'a, S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        route: Route,
        req: &RouteRequest<'_>,
        cookies: impl IntoIterator<Item = &'a [u8]>,
    ) -> Response<String> {
        if let Err(r) = route.check_method(req.method) {
            return r;
        }
        match route {
            Route::Callback => {
                let span = tracing::info_span!("discord_oauth.callback");
                self.callback(io, session, req.query, cookies).instrument(span).await
            }
            Route::Logout => {
                if let Err(r) = self.config.check_logout_origin(req.origin) {
                    return r;
                }
                let span = tracing::info_span!("discord_oauth.logout");
                self.logout(io, session, req.query).instrument(span).await
            }
            Route::Login => answer::internal_error(),
        }
    }

    async fn callback<'a, S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        query: &str,
        cookies: impl IntoIterator<Item = &'a [u8]>,
    ) -> Response<String> {
        let start = self.config.callback_start(query, cookies, &self.consumed, io.now());
        let answer = match start.result {
            Err(e) => self.login_error(&e),
            Ok((exchange, return_to)) => self.complete_login(io, session, exchange, return_to).await,
        };
        start.clear.finish(answer)
    }

    fn login_error(&self, e: &LoginError) -> Response<String> {
        if e.status() >= 500 {
            tracing::warn!(error = %e, "login failed");
        } else {
            tracing::info!(error = %e, "login refused");
        }
        self.config.login_error_answer(e)
    }

    async fn complete_login<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        exchange: CodeExchange,
        return_to: ReturnTo,
    ) -> Response<String> {
        let outcome = drive(CallbackFlow::new(&self.config, exchange, return_to), io).await;
        if let Some(revocation) = outcome.revocation {
            log_revocation(revocation);
        }
        let mut done = match outcome.result {
            Ok(done) => done,
            Err(e) => return self.login_error(&e),
        };
        self.revocations.admit(&mut done.session, io.instant());
        let before = session.get::<AuthSession>(AUTH_KEY).await.ok().flatten();
        session.forget(before.as_ref().map(Revocation::of_login).as_ref());
        let stored = async {
            session.cycle_id().await?;
            session.insert(AUTH_KEY, &done.session).await?;
            session.insert(SEEN_KEY, &unix_seconds(io.now())).await?;
            session.save().await
        };
        if let Err(e) = stored.await {
            return store_unavailable(&e);
        }
        tracing::info!(user_id = %done.session.user.id, "user logged in");
        answer::redirect(done.return_to.as_str())
    }

    async fn logout<S: SessionIo, I: DriverIo>(&self, io: &I, session: &S, query: &str) -> Response<String> {
        let auth: Option<AuthSession> = match session.get(AUTH_KEY).await {
            Ok(a) => a,
            Err(e) => return store_unavailable(&e),
        };
        session.forget(None);
        if let Some(a) = &auth {
            self.revoke(io, session, Revocation::at_logout(a, query, io.now()))
                .await;
            if let Some(tokens) = &a.tokens {
                self.api.invalidate_token(&tokens.access_token);
            }
        }
        if let Err(e) = session.purge().await {
            return store_unavailable(&e);
        }
        // Once more now that the store has no record: a request that read it between the
        // first forget and the purge may have cached it meanwhile.
        session.forget(None);
        if let Some(a) = &auth {
            if let Some(tokens) = &a.tokens {
                log_revocation(drive(RevokeFlow::new(&self.config, tokens), io).await);
            }
            tracing::info!(user_id = %a.user.id, "user logged out");
        }
        answer::redirect(self.config.post_logout_redirect().as_str())
    }

    /// The per-request decision for every request outside the login routes. `cached` is the
    /// login the integration's cache holds for this session (already checked against the
    /// ended-logins list and the idle timeout when it was cached); `None` reads the store.
    ///
    /// An `Err` is an answer to send instead of calling the handler (the session had to be
    /// ended and the store failed).
    ///
    /// A login whose access token expired is [`Attached::NeedsRefresh`]; under its refresh
    /// lock, [`Driver::refresh_locked`] renews it:
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, MemorySession, ScriptedDiscord, block_on, token_body};
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{AUTH_KEY, Attached, Driver, SessionIo};
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .client_secret("secret")
    ///     .build()?;
    /// # let mut login = doc_support::logged_in(&config, "identify");
    /// # let now = doc_support::now();
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let (discord, session) = (ScriptedDiscord::new(), MemorySession::new());
    /// assert!(matches!(block_on(driver.attach(&discord, &session, None)), Ok(Attached::Anonymous)));
    ///
    /// // A stored login whose access token has expired.
    /// login.tokens.as_mut().ok_or("tokens")?.expires_at = now;
    /// block_on(session.insert(AUTH_KEY, &login))?;
    /// let stale = match block_on(driver.attach(&discord, &session, None)) {
    ///     Ok(Attached::NeedsRefresh(stale)) => stale,
    ///     other => panic!("{other:?}"),
    /// };
    ///
    /// discord.answer(200, &token_body(2, "identify"));
    /// let refreshed = block_on(driver.refresh_locked(&discord, &session, stale, None))
    ///     .map_err(|answer| format!("answered {}", answer.status()))?;
    /// let fresh = refreshed.session.ok_or("logged out")?;
    /// assert_eq!(fresh.tokens.as_ref().ok_or("tokens")?.access_token.secret(), "at2");
    /// assert_eq!(discord.sent(), ["POST /api/v10/oauth2/token"]);
    /// // Stored before use: the next request finds the new tokens.
    /// assert!(matches!(block_on(driver.attach(&discord, &session, None)), Ok(Attached::Authenticated(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn attach<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        cached: Option<Arc<AuthSession>>,
    ) -> Result<Attached, Response<String>> {
        let auth = match cached {
            Some(auth) => auth,
            None => match session.get::<AuthSession>(AUTH_KEY).await {
                Ok(Some(auth)) => {
                    let auth = Arc::new(auth);
                    if !self.admit_stored(io, session, &auth).await? {
                        return Ok(Attached::Anonymous);
                    }
                    auth
                }
                Ok(None) => return Ok(Attached::Anonymous),
                Err(e) => {
                    tracing::error!(error = %e, "session store failed");
                    return Ok(Attached::Unavailable);
                }
            },
        };
        Ok(match self.config.session_status(&auth, io.now()) {
            SessionStatus::Valid => Attached::Authenticated(auth),
            SessionStatus::NeedsRefresh => Attached::NeedsRefresh(auth),
            SessionStatus::Ended => {
                end(session).await?;
                Attached::Anonymous
            }
        })
    }

    /// Applies the ended-logins list and the idle timeout to a login read from the store,
    /// marking the session active when due. `false`: the session was ended.
    async fn admit_stored<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        auth: &AuthSession,
    ) -> Result<bool, Response<String>> {
        if self.revocations.is_revoked(auth, io.instant()) {
            tracing::info!(user_id = %auth.user.id, "a session of an ended login was presented; ending it");
            end(session).await?;
            return Ok(false);
        }
        let now = io.now();
        let seen = session.get::<u64>(SEEN_KEY).await.ok().flatten().map(from_unix_seconds);
        match self.config.idle_check(seen, now) {
            IdleCheck::Expired => {
                tracing::info!(user_id = %auth.user.id, "session idle for too long; logging the user out");
                end(session).await?;
                return Ok(false);
            }
            // A refresh is near: it marks the session active with the write it does anyway.
            IdleCheck::Touch if !self.refresh_near(auth, now) => {
                if let Err(e) = session.insert(SEEN_KEY, &unix_seconds(now)).await {
                    tracing::warn!(error = %e, "could not mark the session active");
                }
            }
            IdleCheck::Touch | IdleCheck::Active => {}
        }
        Ok(true)
    }

    fn refresh_near(&self, auth: &AuthSession, now: SystemTime) -> bool {
        auth.tokens.as_ref().is_some_and(|t| {
            t.refresh_token.is_some() && t.expires_within(now, self.config.refresh_skew().saturating_mul(2))
        })
    }

    /// Refreshes `stale` (from [`Attached::NeedsRefresh`]) once the integration holds the
    /// refresh lock for [`refresh_key`]`(stale)`. `published` is an outcome another instance
    /// published for that key (a shared lock's); this instance's own recent outcomes are
    /// consulted first, then the store is re-read ([`SessionIo::reload`]).
    ///
    /// The new record is written to the session before anything uses the new access token
    /// (F-03). When Discord rejects the refresh token, the store is looked at twice more
    /// (now and after 250 ms) for a refresh another instance without a shared lock finished
    /// meanwhile, and only then is the user logged out.
    pub async fn refresh_locked<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        stale: Arc<AuthSession>,
        published: Option<Recent>,
    ) -> Result<Refreshed, Response<String>> {
        // Boxed: the refresh is a large future, and rare.
        Box::pin(self.refresh_planned(io, session, stale, published, None)).await
    }

    /// Refreshes `stale` after Discord answered `401` to its access token `rejected` during a
    /// handler's API call (the user-API driver's [`TokenRefresh`](crate::api::client::TokenRefresh)),
    /// once the integration holds the refresh lock for [`refresh_key`]`(stale)`: the same
    /// protocol as [`Driver::refresh_locked`] (recent outcomes first, then the store, the new
    /// record stored before it is used), except that the stored record is refreshed even
    /// though its expiry says it is valid, if it still holds `rejected`
    /// ([`LoginConfig::plan_forced_refresh`](crate::login::LoginConfig::plan_forced_refresh)).
    /// The caller compares the access token of the result with `rejected`: the same token
    /// (or no session) means there is nothing fresher to retry with.
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, MemorySession, ScriptedDiscord, block_on, token_body};
    /// use std::sync::Arc;
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{AUTH_KEY, Driver, SessionIo};
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .client_secret("secret")
    ///     .build()?;
    /// # let login = doc_support::logged_in(&config, "identify");
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let (discord, session) = (ScriptedDiscord::new(), MemorySession::new());
    /// block_on(session.insert(AUTH_KEY, &login))?;
    ///
    /// // A handler's API call with the login's access token drew a `401`, though the token
    /// // has days left: refresh it (under the refresh lock) and retry once with the new one.
    /// let login = Arc::new(login);
    /// let rejected = login.tokens.as_ref().ok_or("tokens")?.access_token.clone();
    /// discord.answer(200, &token_body(2, "identify"));
    /// let refreshed = block_on(driver.refresh_rejected(&discord, &session, login, &rejected, None))
    ///     .map_err(|answer| format!("answered {}", answer.status()))?;
    /// let retry_with = refreshed.session.ok_or("logged out")?.tokens.as_ref().ok_or("tokens")?.access_token.clone();
    /// assert_ne!(retry_with.secret(), rejected.secret());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn refresh_rejected<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        stale: Arc<AuthSession>,
        rejected: &AccessToken,
        published: Option<Recent>,
    ) -> Result<Refreshed, Response<String>> {
        Box::pin(self.refresh_planned(io, session, stale, published, Some(rejected))).await
    }

    /// [`Driver::refresh_locked`], forced past a valid-looking expiry when `rejected` names
    /// the access token Discord just rejected.
    async fn refresh_planned<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        stale: Arc<AuthSession>,
        published: Option<Recent>,
        rejected: Option<&AccessToken>,
    ) -> Result<Refreshed, Response<String>> {
        let Some(key) = refresh_key(&stale) else {
            return Ok(Refreshed {
                session: Some(stale),
                spent: None,
            });
        };
        if let Some(p) = published {
            self.recent.remember(key, p, io.instant());
        }
        if let Some(known) = self.recent.get(&key, io.instant()) {
            return self.settle_known(io, session, &stale, known.current()).await;
        }
        let (_, current) = reload(session).await?;
        let plan = match rejected {
            None => self.config.plan_refresh(&stale, current.as_deref(), io.now()),
            Some(rejected) => self.config.plan_forced_refresh(&stale, current.as_deref(), rejected),
        };
        let flow = match plan {
            RefreshPlan::Refresh(flow) => flow,
            RefreshPlan::Gone | RefreshPlan::UseCurrent { .. } => {
                return self.settle_known(io, session, &stale, current).await;
            }
        };
        let outcome = drive(flow, io)
            .instrument(tracing::info_span!("discord_oauth.refresh"))
            .await;
        match outcome {
            RefreshOutcome::Refreshed(next) => {
                if let Some(old) = stale.tokens.as_ref() {
                    self.api.invalidate_token(&old.access_token);
                }
                let next = Arc::new(next);
                let recent = Recent::Refreshed(Arc::clone(&next));
                self.recent.remember(key, recent.clone(), io.instant());
                let stored = async {
                    session.insert(AUTH_KEY, next.as_ref()).await?;
                    session.insert(SEEN_KEY, &unix_seconds(io.now())).await?;
                    session.save().await
                };
                stored.await.map_err(|e| store_unavailable(&e))?;
                tracing::info!(user_id = %next.user.id, "tokens refreshed");
                Ok(Refreshed {
                    session: Some(next),
                    spent: Some(recent),
                })
            }
            RefreshOutcome::LoggedOut { error } => {
                for pause in [Duration::ZERO, ROTATED_ELSEWHERE_RECHECK] {
                    if !pause.is_zero() {
                        io.wait(pause).await;
                    }
                    let (from_store, latest) = reload(session).await?;
                    if !from_store {
                        break;
                    }
                    if let Some(latest) = latest
                        && refresh_key(&latest).is_some_and(|k| k != key)
                    {
                        tracing::warn!(
                            user_id = %latest.user.id,
                            "refresh token rejected, but the session was refreshed elsewhere meanwhile; using \
                             those tokens (share a refresh lock between instances to avoid this)"
                        );
                        return Ok(Refreshed {
                            session: Some(latest),
                            spent: None,
                        });
                    }
                }
                tracing::info!(user_id = %stale.user.id, error = %error, "refresh token rejected; logging the user out");
                self.recent.remember(key, Recent::LoggedOut, io.instant());
                end(session).await?;
                Ok(Refreshed {
                    session: None,
                    spent: Some(Recent::LoggedOut),
                })
            }
            RefreshOutcome::KeepOld { error } => {
                tracing::warn!(error = %error, "token refresh failed");
                Ok(Refreshed {
                    session: current,
                    spent: None,
                })
            }
            RefreshOutcome::Unavailable {
                error,
                retry_after,
                message,
            } => {
                tracing::warn!(error = %error, "token refresh failed");
                Err(answer::unavailable(message, retry_after))
            }
        }
    }

    /// A guild (and role) guard's decision for `subject`: `Ok` lets the request through.
    /// Decisions are remembered in the [`Guard`], so a user's requests ask
    /// Discord once per [`GuardDecisions`](super::flow::GuardDecisions) lifetime; a failure to ask is a `503` with the
    /// `Retry-After` Discord gave, never a `403`. `html`: the request is a page load
    /// ([`request_context`](super::answer::request_context)).
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, ScriptedDiscord, block_on};
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::driver::{Driver, Subject};
    /// use discord_oauth_core::login::flow::{Guard, GuildRequirement};
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
    ///     .scopes(discord_oauth_core::Scopes::parse("identify guilds.members.read"))
    ///     .build()?;
    /// # let login = doc_support::logged_in(&config, "identify guilds.members.read");
    /// let driver = Driver::new(config, ApiDriverConfig::default());
    /// let moderators = Guard::new(GuildRequirement { guild_id: 81384788765712384, role_id: Some(42) });
    /// let discord = ScriptedDiscord::new();
    ///
    /// // The user's membership, with the role.
    /// discord.answer(200, r#"{"roles":["42"],"joined_at":null}"#);
    /// let allowed = block_on(driver.guard(&discord, &moderators, Subject::User(&login), true));
    /// assert!(allowed.is_ok());
    /// assert_eq!(discord.sent(), ["GET /api/v10/users/@me/guilds/81384788765712384/member"]);
    /// // Remembered: the next request does not ask Discord.
    /// assert!(block_on(driver.guard(&discord, &moderators, Subject::User(&login), true)).is_ok());
    /// assert_eq!(discord.sent().len(), 1);
    ///
    /// // Nobody logged in: to the login page, and back here afterwards.
    /// let anonymous = Subject::Anonymous { here: "/mod" };
    /// let refusal = block_on(driver.guard(&discord, &moderators, anonymous, true)).unwrap_err();
    /// assert_eq!(refusal.answer("/").headers()["location"], "/auth/login?return_to=%2Fmod");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn guard<I: DriverIo>(
        &self,
        io: &I,
        guard: &Guard,
        subject: Subject<'_>,
        html: bool,
    ) -> Result<(), Refusal> {
        let (requirement, decisions) = (guard.requirement(), guard.decisions());
        let session = match subject {
            Subject::Unavailable => return Err(Refusal::StoreUnavailable),
            Subject::Anonymous { here } => {
                return Err(Refusal::NotLoggedIn {
                    login_url: self.config.login_url(here),
                    html,
                });
            }
            Subject::User(session) => session,
        };
        let user_id = session.user.id.get();
        let now = io.now();
        let allowed = match decisions.get(user_id, requirement, now) {
            Some(allowed) => allowed,
            None => match drive(requirement.check(&self.config, session, html)?, io).await {
                Ok(allowed) => {
                    decisions.remember(user_id, requirement, allowed, now);
                    allowed
                }
                Err(e) => {
                    tracing::warn!(error = %e, "guild check failed");
                    return Err(Refusal::Unavailable {
                        retry_after: e.retry_after().unwrap_or(5),
                    });
                }
            },
        };
        if allowed {
            Ok(())
        } else {
            Err(requirement.forbidden(html))
        }
    }

    /// Serves the request with a record known to be newer than `stale` (`None`: the login is
    /// over), writing it into this session if the session still holds `stale`.
    async fn settle_known<S: SessionIo, I: DriverIo>(
        &self,
        io: &I,
        session: &S,
        stale: &AuthSession,
        current: Option<Arc<AuthSession>>,
    ) -> Result<Refreshed, Response<String>> {
        let Some(current) = current else {
            end(session).await?;
            return Ok(Refreshed {
                session: None,
                spent: None,
            });
        };
        let newer = match (&current.tokens, &stale.tokens) {
            (Some(c), Some(s)) => c.expires_at > s.expires_at,
            _ => false,
        };
        if newer {
            // Marked active too: this write replaces the whole session where the framework
            // saves it whole, and the refresh that made `current` marked it.
            let stored = async {
                session.insert(AUTH_KEY, current.as_ref()).await?;
                session.insert(SEEN_KEY, &unix_seconds(io.now())).await
            };
            stored.await.map_err(|e| store_unavailable(&e))?;
        }
        Ok(Refreshed {
            session: Some(current),
            spent: None,
        })
    }
}

async fn end<S: SessionIo>(session: &S) -> Result<(), Response<String>> {
    session.forget(None);
    session.purge().await.map_err(|e| store_unavailable(&e))
}

/// Re-reads the session: whether it came from the store again, and the login it holds.
async fn reload<S: SessionIo>(session: &S) -> Result<(bool, Option<Arc<AuthSession>>), Response<String>> {
    let from_store = session.reload().await.map_err(|e| store_unavailable(&e))?;
    match session.get::<AuthSession>(AUTH_KEY).await {
        Ok(a) => Ok((from_store, a.map(Arc::new))),
        Err(e) => Err(store_unavailable(&e)),
    }
}

fn store_unavailable(e: &dyn fmt::Display) -> Response<String> {
    tracing::error!(error = %e, "session store failed");
    answer::store_unavailable()
}

fn log_revocation(result: Result<(), String>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "token revocation failed; the session was still ended");
    }
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time `secs` seconds after the Unix epoch.
pub fn from_unix_seconds(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Driver;
    use crate::login::flow::MAX_INLINE_RETRY_WAIT;

    #[test]
    fn f07_the_refresh_lease_outlasts_the_longest_refresh() {
        for secs in [1, 5, 10, 60, 600] {
            let timeout = Duration::from_secs(secs);
            // A refresh is at most two requests, each cut off at the timeout, with one
            // rate-limit wait between them; then a store write. The lock must outlive it, so
            // that a slow refresh never loses its lock to a second one (F-07).
            let longest_refresh = timeout * 2 + MAX_INLINE_RETRY_WAIT;
            let lease = Driver::refresh_lease(timeout);
            assert!(
                lease >= longest_refresh + Duration::from_secs(5),
                "lease {lease:?} for a {timeout:?} timeout"
            );
        }
    }
}
