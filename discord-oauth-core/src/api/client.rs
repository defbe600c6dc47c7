//! Calling Discord for a logged-in user: [`ApiDriver`], the one framework-neutral driver every
//! integration uses to send a user's API calls, and [`UserCalls`], the typed calls an
//! integration's user-bound client offers on top of it.
//!
//! For every call the driver, in this order:
//! 1. refuses at once with [`Throttled::InvalidRequestBudget`] while the process-wide
//!    [`InvalidRequestBudget`] is spent;
//! 2. answers a `GET` from the [`ReadCache`] if the same token read it within the cache's time
//!    to live;
//! 3. asks the [`RateLimiter`] for a turn, waiting (with the caller's timer, [`FlowIo::wait`])
//!    for at most [`ApiDriverConfig::max_wait`] in all, else refuses with
//!    [`Throttled::RateLimited`];
//! 4. sends, and tells the limiter and the budget what Discord answered;
//! 5. on a `401`, asks the caller once for a refreshed token ([`TokenRefresh`]) and tries once
//!    more with it; a second `401` (or no refreshed token) ends with
//!    [`ClientError::TokenRejected`];
//! 6. on a `429` that slipped through (another process sharing the token, a global limit),
//!    goes back to step 3 once: the limiter now knows how long to wait; a request the
//!    integration's global-`429` breaker held back (a global `429` closes the whole process
//!    for its `retry_after`, [`crate::login::outbound`]) is waited out once, within the same
//!    bound;
//! 7. caches a successful `GET`, and drops the token's cached reads after any successful
//!    write (the user's own change must show at once).
//!
//! Nothing here does IO: sending, waiting and both clocks come from a [`ClientIo`]; one driver
//! (behind one mutex, never held across a wait or a send) serves every request of a process.
//!
//! # Calling Discord for the user
//!
//! A handler that needs more than the logged-in user's identity (their guilds, a membership,
//! connections, role connections) calls Discord with the user's access token. Every
//! integration sends those calls through the one [`ApiDriver`] of its login driver
//! ([`Driver::api`](crate::login::driver::Driver::api)):
//!
//! | integration | in a handler | outside a request |
//! |---|---|---|
//! | `discord-oauth-axum` | the `DiscordClient` extractor ([`UserCalls`]) | `UserApi::for_token`, `DiscordOAuth::bot_api` |
//! | `discord-oauth-tower` | `AuthState::user_client(session)` ([`UserCalls`]) | `UserApi::for_token`, `DiscordOAuthLayer::bot_api` |
//! | `discord-oauth-actix` | the `DiscordClient` extractor ([`UserCalls`]) | `DiscordOAuth::user_api().for_token`, `DiscordOAuth::call`, `DiscordOAuth::bot_api` |
//!
//! The plain escape hatches (`DiscordApi::call` in tower, `DiscordOAuth::call` in actix) go
//! through the same driver with whatever credential the call was built with
//! ([`ApiDriver::call_as_built`]), without a refresh.
//!
//! ## The rate limiter
//! Discord limits every token per route *bucket* and to 50 requests per second overall, and
//! answers `429` past a limit. The driver's [`RateLimiter`] keeps that state per token
//! ([`TokenKey`]: a hash of the token, never the token): the buckets Discord announces in
//! `X-RateLimit-*` headers (one request at a time on a bucket until its first answer says
//! more may go), the 50 per second, and the pauses a `429` imposes (the route's bucket, or
//! every route of the token for a global `429`). A call whose turn is not free *waits* for
//! it, up to [`ApiDriverConfig::max_wait`] (5 s) in all; one that would wait longer is not
//! sent and fails with [`Throttled::RateLimited`], answered `503` with `Retry-After`. A
//! global `429` also closes the integration's breaker for the whole process
//! ([`crate::login::outbound`]); a call it holds back is waited out once within the same
//! bound. The bot client's calls are limited under the bot token's own key
//! ([`TokenKey::bot`]).
//!
//! ## The invalid-request budget
//! Discord blocks the server's IP address for a while after 10,000 *invalid requests*
//! (`401`, `403`, and `429` unless `X-RateLimit-Scope: shared`) in 10 minutes: many stale
//! tokens, or a bug that calls without a scope, can take the whole site off Discord. The
//! driver counts those answers in a sliding 10-minute window ([`InvalidRequestBudget`]) and
//! sends nothing more, to anyone, once the count reaches
//! [`ApiDriverConfig::invalid_request_threshold`] (default
//! [`DEFAULT_INVALID_REQUEST_THRESHOLD`], 2,000: a fifth of Discord's limit, since Discord
//! counts the address and several processes may share it); such calls fail at once with
//! [`Throttled::InvalidRequestBudget`] (`503` with `Retry-After`: when enough of the window
//! has drained). User and bot calls share the budget.
//!
//! The budget counts one process. Instances behind one address can share it: a runtime
//! publishes what this process counted ([`ApiDriver::invalid_requests_here`]) and sets what
//! the others counted ([`ApiDriver::set_invalid_requests_elsewhere`]), which then counts
//! here too; the integrations do this through Redis (`discord_oauth_runtime::redis::RedisBudget`,
//! set with the builder's `shared_budget`, cargo feature `redis` of each integration), every
//! 2 s by default. With a shared budget the threshold bounds the instances together.
//!
//! ## The read cache
//! Repeated page loads should not call Discord for data that changes slowly. A successful
//! `GET` is kept in the driver's [`ReadCache`], per token and per path and query, for
//! [`ApiDriverConfig::cache_ttl`] (default [`DEFAULT_CACHE_TTL`], 30 s; zero turns it off),
//! bounded by [`ApiDriverConfig::cache`] (10,000 entries, 16 MiB, 16 per token). A token's
//! cached reads are dropped at once when one of its writes succeeds (the user's own change
//! must show), when Discord answers `401` to it, when its login is refreshed or logged out,
//! and on demand ([`ApiDriver::invalidate_token`], [`ApiDriver::invalidate_user`]). Changes
//! made elsewhere (in Discord's client) show within the time to live.
//!
//! ## A `401`: refresh once, retry once
//! The integrations refresh tokens before they expire, before the handler runs; a `401`
//! during a call means Discord stopped accepting the token early (revoked, expired, reset).
//! The driver then asks its [`TokenRefresh`] once for a new token and sends the call once
//! more; a second `401`, or no new token, fails with [`ClientError::TokenRejected`] ("log in
//! again"). The refresh itself is the login driver's
//! ([`Driver::refresh_rejected`](crate::login::driver::Driver::refresh_rejected)): under the
//! integration's refresh lock, single flight with its other refreshes, the new tokens stored
//! in the session before they are used; a refresh token Discord refuses ends the session.
//! The runtime's `UserClient` does this for every framework (tower's
//! `AuthState::user_client`, the `DiscordClient` extractors of axum and actix-web); a bare
//! token (`for_token`, the `call` escape hatches) has nothing to refresh. The bot token is
//! never refreshed: a `401` fails with [`ClientError::BotTokenRejected`].
//!
//! ## Why not `twilight-http-ratelimiting`
//! See [the rate limiter's module](super::ratelimit#why-not-twilight-http-ratelimiting): it
//! is asynchronous with a runtime task of its own, keeps one global limit per limiter (a bot
//! has one token, a login service thousands), and has no invalid-request budget; we took its
//! design (routes, major parameters, bucket discovery) into a sans-IO limiter keyed by token.
//!
//! ```
//! use std::sync::Mutex;
//! use std::time::{Duration, Instant, SystemTime};
//! use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig, ClientIo, NoRefresh};
//! use discord_oauth_core::login::flow::FlowIo;
//! use discord_oauth_core::{AccessToken, Endpoints, api};
//!
//! /// A scripted Discord: answers every request with an empty guild list.
//! struct Io { sent: Mutex<u32>, start: Instant }
//! impl FlowIo for Io {
//!     type Error = std::convert::Infallible;
//!     async fn send(&self, _: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Self::Error> {
//!         *self.sent.lock().unwrap() += 1;
//!         Ok(http::Response::new(b"[]".to_vec()))
//!     }
//!     async fn wait(&self, _: Duration) {}
//!     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH }
//! }
//! impl ClientIo for Io {
//!     fn instant(&self) -> Instant { self.start }
//! }
//!
//! # let run = async {
//! let endpoints = Endpoints::discord();
//! let driver = ApiDriver::new(endpoints.clone(), ApiDriverConfig {
//!     cache_ttl: Duration::from_secs(60),
//!     ..ApiDriverConfig::default()
//! });
//! let io = Io { sent: Mutex::new(0), start: Instant::now() };
//! let token = AccessToken::new("user-token".into());
//! let call = api::current_user_guilds(&endpoints, &token, &api::GuildsQuery::default());
//! assert!(driver.call(&io, &call, &token, &NoRefresh).await?.is_empty());
//! assert!(driver.call(&io, &call, &token, &NoRefresh).await?.is_empty());
//! assert_eq!(*io.sent.lock().unwrap(), 1, "the second read came from the cache");
//! # Ok::<(), discord_oauth_core::api::client::ClientError>(())
//! # };
//! # use std::task::{Context, Poll, Waker};
//! # let Poll::Ready(result) = std::pin::pin!(run).poll(&mut Context::from_waker(Waker::noop())) else { panic!() };
//! # result.unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, HeaderValue};
use oauth2::AccessToken;

use super::cache::{CacheLimits, ReadCache, cache_key};
use super::ratelimit::{
    Acquire, DEFAULT_INVALID_REQUEST_THRESHOLD, DEFAULT_MAX_WAIT, InvalidRequestBudget, Outcome, PauseScope,
    RateLimiter, RateLimiterConfig, RateLimiterStats, RouteKey, Throttled, TokenKey,
};
use super::{
    AddGuildMember, AddGuildMemberOutcome, ApiCall, ApiError, Application, AuthorizationInfo, BotToken, Connection,
    CurrentUserGuild, GuildsQuery, Member, RoleConnection, Snowflake, User,
};
use crate::Endpoints;
use crate::login::LoginError;
use crate::login::answer::Refusal;
use crate::login::flow::FlowIo;
use crate::login::outbound::NotSent;
use crate::oidc::UserInfo;
use crate::response::{RateLimit, ResponseError};

/// How long a user's reads are cached by default: 30 s, enough to absorb page reloads, short
/// enough that a change made in Discord shows within half a minute.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// The settings and bounds of an [`ApiDriver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiDriverConfig {
    /// The rate limiter's settings and bounds (its own `max_wait` is not used: see
    /// [`max_wait`](Self::max_wait)).
    pub limiter: RateLimiterConfig,
    /// Invalid requests (`401`, `403`, `429`) per 10 minutes after which nothing is sent
    /// ([`DEFAULT_INVALID_REQUEST_THRESHOLD`]).
    pub invalid_request_threshold: u32,
    /// The read cache's bounds ([`CacheLimits::default`]: 10,000 entries, 16 MiB, 16 per
    /// token).
    pub cache: CacheLimits,
    /// How long a successful `GET` is answered from the cache ([`DEFAULT_CACHE_TTL`]); zero
    /// turns the cache off.
    pub cache_ttl: Duration,
    /// The longest a call waits for its turn, all waits together ([`DEFAULT_MAX_WAIT`], 5 s);
    /// a call that would wait longer is refused with [`Throttled::RateLimited`].
    pub max_wait: Duration,
}

impl ApiDriverConfig {
    /// The defaults without the read cache: every call asks Discord (tests that count the
    /// requests Discord gets, guards that must see a change at once).
    ///
    /// ```
    /// use discord_oauth_core::api::client::ApiDriverConfig;
    /// assert!(ApiDriverConfig::uncached().cache_ttl.is_zero());
    /// ```
    pub fn uncached() -> Self {
        Self {
            cache_ttl: Duration::ZERO,
            ..Self::default()
        }
    }
}

impl Default for ApiDriverConfig {
    fn default() -> Self {
        Self {
            limiter: RateLimiterConfig::default(),
            invalid_request_threshold: DEFAULT_INVALID_REQUEST_THRESHOLD,
            cache: CacheLimits::default(),
            cache_ttl: DEFAULT_CACHE_TTL,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// Why a user's call to Discord gave no result.
///
/// ```
/// # use discord_oauth_core::api::client::doc_support::{Canned, block_on};
/// use discord_oauth_core::api::client::{ClientError, UserCalls};
/// use discord_oauth_core::{ApiError, Snowflake};
///
/// // A client whose token lacks the `guilds.members.read` scope.
/// let client = Canned::new(403, r#"{"message":"Missing Access","code":50001}"#);
/// match block_on(client.guild_member(Snowflake::new(613425648685547541))) {
///     Ok(member) => println!("roles: {:?}", member.roles),
///     // Ask for the missing scope at the next login.
///     Err(ClientError::Api(ApiError::Forbidden(Some(error)))) => assert_eq!(error.code, 50001),
///     // Not sent: answer 503 with `Retry-After`.
///     Err(ClientError::Throttled(throttled)) => println!("retry in {:?}", throttled.retry_after()),
///     // The user has to log in again.
///     Err(ClientError::TokenRejected) => {}
///     Err(e) => return Err(e.into()),
/// }
///
/// let expired = Canned::new(401, r#"{"message":"401: Unauthorized","code":0}"#);
/// let err = block_on(expired.current_user()).err().ok_or("expected an error")?;
/// assert!(matches!(err, ClientError::TokenRejected));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Not sent: the token's rate limit leaves no turn soon enough, or the process's
    /// invalid-request budget is spent. Answer `503` with `Retry-After`.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// Discord rejected the user's token (`401`) and no refreshed token was accepted either:
    /// the token is of no further use, the user has to log in again.
    #[error("Discord rejected the user's token (401) even after a refresh; the user has to log in again")]
    TokenRejected,
    /// Discord answered, but not with what was asked for (`403` missing scope, `404`, a body
    /// that does not parse, …).
    #[error(transparent)]
    Api(ApiError),
    /// Discord could not be reached (transport error or timeout).
    #[error("Discord could not be reached: {0}")]
    Unreachable(String),
    /// Discord rejected the application's bot token (`401`): the server is configured with a
    /// wrong or reset bot token. Answered as a generic `500`; the fix goes to the log.
    #[error("Discord rejected the bot token (401); check the bot token this server is configured with")]
    BotTokenRejected,
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::TokenRejected,
            e => Self::Api(e),
        }
    }
}

impl ClientError {
    /// How the integrations answer when a handler passes this error on: `503` with
    /// `Retry-After` when throttled or unreachable, login again (a redirect for a browser
    /// page load (`html`), else `401` JSON) when the token is rejected, `403` for missing
    /// access, `404` when Discord found nothing, `502` for anything else Discord answered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discord_oauth_core::api::client::ClientError;
    /// use discord_oauth_core::api::ratelimit::Throttled;
    ///
    /// let e = ClientError::Throttled(Throttled::RateLimited { retry_after: Duration::from_millis(1500), global: false });
    /// let answer = e.refusal("/auth/login?return_to=%2F".into(), false).answer("/");
    /// assert_eq!(answer.status(), 503);
    /// assert_eq!(answer.headers()["retry-after"], "2");
    /// ```
    pub fn refusal(&self, login_url: String, html: bool) -> Refusal {
        match self {
            Self::Throttled(t) => Refusal::Unavailable {
                retry_after: t.retry_after_secs(),
            },
            Self::Unreachable(_) => Refusal::Unavailable { retry_after: 5 },
            Self::TokenRejected => Refusal::NotLoggedIn { login_url, html },
            Self::Api(ApiError::Forbidden(_)) => Refusal::Forbidden {
                html,
                reason: "Discord refused access: a needed scope or permission was not granted.",
            },
            Self::Api(ApiError::NotFound(_)) => Refusal::NotFound,
            Self::Api(_) => Refusal::BadGateway,
            Self::BotTokenRejected => Refusal::Misconfigured {
                message: "Discord rejected the bot token (401): check the bot token given to the bot client",
            },
        }
    }
}

/// For the integrations' older `call` methods, which answer [`LoginError`]: a throttled call
/// is a rate-limited answer (`503` with `Retry-After`), a rejected token an `Unauthorized`
/// API error.
impl From<ClientError> for LoginError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Throttled(t) => Self::User(ApiError::Response(ResponseError::RateLimited(RateLimit {
                retry_after: Some(t.retry_after()),
                global: matches!(t, Throttled::RateLimited { global: true, .. }),
                ..RateLimit::default()
            }))),
            ClientError::TokenRejected | ClientError::BotTokenRejected => Self::User(ApiError::Unauthorized),
            ClientError::Api(e) => Self::User(e),
            ClientError::Unreachable(e) => Self::Unreachable(e),
        }
    }
}

/// A failed call of a user-bound client, with what its answer needs: where to log in again
/// and whether the request was a page load. The integrations' `DiscordClientError`s wrap it
/// and answer with [`CallFailure::answer`], so both frameworks send the same bytes.
///
/// ```
/// use discord_oauth_core::api::client::{CallFailure, ClientError};
/// let failure = CallFailure::new(ClientError::TokenRejected, "/auth/login?return_to=%2F".into(), false);
/// assert_eq!(failure.answer().status(), 401);
/// assert!(matches!(failure.error(), ClientError::TokenRejected));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CallFailure {
    #[source]
    error: ClientError,
    login_url: String,
    html: bool,
}

impl CallFailure {
    /// `error`, answered with a login link to `login_url` (HTML redirect when `html`).
    pub fn new(error: ClientError, login_url: String, html: bool) -> Self {
        Self { error, login_url, html }
    }

    /// The error.
    pub fn error(&self) -> &ClientError {
        &self.error
    }

    /// The error, by value.
    pub fn into_inner(self) -> ClientError {
        self.error
    }

    /// The answer: [`ClientError::refusal`] rendered by the core.
    pub fn answer(&self) -> http::Response<String> {
        self.error.refusal(self.login_url.clone(), self.html).answer("/")
    }
}

impl From<ClientError> for CallFailure {
    fn from(error: ClientError) -> Self {
        Self::new(error, String::new(), false)
    }
}

/// What an integration gives the driver: its transport and timer ([`FlowIo`]) and a
/// monotonic clock for the rate limiter.
pub trait ClientIo: FlowIo {
    /// The monotonic clock (`Instant::now()` in production; scripted in tests).
    fn instant(&self) -> Instant;
}

/// Where the driver gets a fresh token after a `401` (e.g. the integration's single-flight
/// session refresh). Called at most once per call.
pub trait TokenRefresh: Sync {
    /// A new access token to replace `rejected`, or `None` if there is none.
    fn refresh(&self, rejected: &AccessToken) -> impl Future<Output = Option<AccessToken>> + Send;
}

/// No refresh: a `401` ends the call with [`ClientError::TokenRejected`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRefresh;

impl TokenRefresh for NoRefresh {
    async fn refresh(&self, _rejected: &AccessToken) -> Option<AccessToken> {
        None
    }
}

struct State {
    limiter: RateLimiter,
    budget: InvalidRequestBudget,
    /// Whether the last budget check refused (to log once when it closes and reopens).
    budget_closed: bool,
    cache: ReadCache<TokenKey>,
}

impl State {
    /// [`InvalidRequestBudget::check`], logging when the budget closes (once, not per refused
    /// call) and when it opens again.
    fn check_budget(&mut self, now: Instant) -> Result<(), Throttled> {
        let checked = self.budget.check(now);
        match (&checked, self.budget_closed) {
            (Err(throttled), false) => {
                let (total, here) = (self.budget.count(now), self.budget.local_count(now));
                tracing::warn!(
                    invalid_requests = total,
                    counted_here = here,
                    counted_elsewhere = total.saturating_sub(here),
                    threshold = self.budget.threshold(),
                    retry_after_s = throttled.retry_after_secs(),
                    "the invalid-request budget is spent (401, 403 and 429 answers in 10 minutes): \
                     nothing is sent to Discord until the window drains"
                );
            }
            (Ok(()), true) => tracing::info!("the invalid-request budget has room again: calls to Discord resume"),
            _ => {}
        }
        self.budget_closed = checked.is_err();
        checked
    }
}

/// The process-wide driver of users' API calls: one [`RateLimiter`], one
/// [`InvalidRequestBudget`] and one [`ReadCache`] (keyed by [`TokenKey`]) behind one mutex.
/// See the [module documentation](self) for what it does per call.
///
/// # Bounds
/// Those of its parts, set in [`ApiDriverConfig`]: the limiter's tokens, buckets and routes,
/// the budget's 61 counters, the cache's entries, bytes and entries per token.
pub struct ApiDriver {
    endpoints: Endpoints,
    config: ApiDriverConfig,
    state: Mutex<State>,
}

impl fmt::Debug for ApiDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiDriver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Counts of what an [`ApiDriver`] holds; each stays within its configured bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiDriverStats {
    /// The rate limiter's counts.
    pub limiter: RateLimiterStats,
    /// Cached reads.
    pub cached_entries: usize,
    /// Cached bytes, as the cache's byte bound counts them.
    pub cached_bytes: usize,
}

impl ApiDriver {
    /// A driver for calls to `endpoints`' API.
    pub fn new(endpoints: Endpoints, config: ApiDriverConfig) -> Self {
        Self {
            state: Mutex::new(State {
                limiter: RateLimiter::new(config.limiter),
                budget: InvalidRequestBudget::new(config.invalid_request_threshold),
                budget_closed: false,
                cache: ReadCache::new(config.cache),
            }),
            endpoints,
            config,
        }
    }

    /// The endpoints calls are built for.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The settings.
    pub fn config(&self) -> &ApiDriverConfig {
        &self.config
    }

    /// How much the driver holds.
    pub fn stats(&self) -> ApiDriverStats {
        let state = self.lock();
        ApiDriverStats {
            limiter: state.limiter.stats(),
            cached_entries: state.cache.len(),
            cached_bytes: state.cache.bytes(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every cached read of the token `key` (at logout, after a refresh, at
    /// deauthorization); returns how many.
    pub fn invalidate_user(&self, key: TokenKey) -> usize {
        self.lock().cache.invalidate_user(&key)
    }

    /// How long every route of the token `key` is paused at `now` after a global `429`
    /// ([`RateLimiter::token_paused_for`]), if it is.
    pub fn token_paused_for(&self, key: TokenKey, now: Instant) -> Option<Duration> {
        self.lock().limiter.token_paused_for(key, now)
    }

    /// The invalid requests (`401`, `403`, `429`) counted in the budget's window at `now`
    /// ([`InvalidRequestBudget::count`]).
    pub fn invalid_requests(&self, now: Instant) -> u32 {
        self.lock().budget.count(now)
    }

    /// The invalid requests this process counted in the budget's window at `now`, without
    /// what the other instances reported ([`InvalidRequestBudget::local_count`]): what a
    /// runtime publishes to the instances it shares the budget with.
    ///
    /// ```
    /// use std::time::Instant;
    /// use discord_oauth_core::Endpoints;
    /// use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig};
    ///
    /// let driver = ApiDriver::new(Endpoints::discord(), ApiDriverConfig::default());
    /// let now = Instant::now(); // any instant: the driver never reads the clock
    /// driver.set_invalid_requests_elsewhere(40, now);
    /// assert_eq!(driver.invalid_requests_here(now), 0, "the others' count is not this process's");
    /// assert_eq!(driver.invalid_requests(now), 40);
    /// ```
    pub fn invalid_requests_here(&self, now: Instant) -> u32 {
        self.lock().budget.local_count(now)
    }

    /// Sets how many invalid requests the other instances sharing the budget counted in
    /// their windows, as read at `now` ([`InvalidRequestBudget::set_elsewhere`]). It replaces
    /// the previous figure and counts here until set again, for one window (10 minutes) at
    /// most: once this figure and this process's own count reach the
    /// [threshold](ApiDriverConfig::invalid_request_threshold), calls are refused with
    /// [`Throttled::InvalidRequestBudget`] without being sent. Set `0` when the others'
    /// figure is no longer known.
    ///
    /// ```
    /// use std::time::Instant;
    /// use discord_oauth_core::Endpoints;
    /// use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig};
    ///
    /// let driver = ApiDriver::new(Endpoints::discord(), ApiDriverConfig {
    ///     invalid_request_threshold: 100,
    ///     ..ApiDriverConfig::default()
    /// });
    /// let now = Instant::now();
    /// driver.set_invalid_requests_elsewhere(100, now);
    /// assert_eq!(driver.invalid_requests(now), 100, "the threshold: nothing is sent");
    /// driver.set_invalid_requests_elsewhere(0, now);
    /// assert_eq!(driver.invalid_requests(now), 0);
    /// ```
    pub fn set_invalid_requests_elsewhere(&self, count: u32, now: Instant) {
        self.lock().budget.set_elsewhere(count, now);
    }

    /// [`invalidate_user`](Self::invalidate_user) for the user's access token.
    pub fn invalidate_token(&self, token: &AccessToken) -> usize {
        self.invalidate_user(TokenKey::bearer(token))
    }

    /// Sends `call` with `token` (whatever token the call was built with) and parses the
    /// answer; see the [module documentation](self).
    pub async fn call<R, I, F>(
        &self,
        io: &I,
        call: &ApiCall<R>,
        token: &AccessToken,
        refresh: &F,
    ) -> Result<R, ClientError>
    where
        I: ClientIo + Sync,
        F: TokenRefresh,
    {
        let response = self.send(io, call.request(), token, refresh).await?;
        call.parse(response).map_err(ClientError::from)
    }

    /// Like [`call`](Self::call), but returns Discord's answer (a success, or an error other
    /// than `401` and `429`) unparsed. An answer from the cache comes back as `200` with the
    /// cached body.
    pub async fn send<I, F>(
        &self,
        io: &I,
        request: http::Request<Vec<u8>>,
        token: &AccessToken,
        refresh: &F,
    ) -> Result<http::Response<Vec<u8>>, ClientError>
    where
        I: ClientIo + Sync,
        F: TokenRefresh,
    {
        self.send_as(io, request, Credentials::User(token.clone()), refresh)
            .await
    }

    /// Sends `call` with the application's bot token `bot` (whatever credential the call was
    /// built with) and parses the answer: the same budget, rate limiting (keyed by the bot
    /// token, [`TokenKey::bot`]) and read cache as users' calls. A `401` ends the call with
    /// [`ClientError::BotTokenRejected`]: a bot token is not refreshed.
    pub async fn call_bot<R, I>(&self, io: &I, call: &ApiCall<R>, bot: &BotToken) -> Result<R, ClientError>
    where
        I: ClientIo + Sync,
    {
        let response = self.send_bot(io, call.request(), bot).await?;
        call.parse(response).map_err(ClientError::from)
    }

    /// Like [`call_bot`](Self::call_bot), but returns Discord's answer unparsed (see
    /// [`send`](Self::send)).
    pub async fn send_bot<I>(
        &self,
        io: &I,
        request: http::Request<Vec<u8>>,
        bot: &BotToken,
    ) -> Result<http::Response<Vec<u8>>, ClientError>
    where
        I: ClientIo + Sync,
    {
        self.send_as(io, request, Credentials::Bot(bot.clone()), &NoRefresh)
            .await
    }

    /// Sends `call` with the credential it was built with (a user's bearer token, the bot
    /// token, or none) and parses the answer: the budget, the rate limits of that credential
    /// ([`TokenKey::from_request`]) and the read cache, without a refresh on `401` (what the
    /// integrations' plain `call` escape hatches use).
    pub async fn call_as_built<R, I>(&self, io: &I, call: &ApiCall<R>) -> Result<R, ClientError>
    where
        I: ClientIo + Sync,
    {
        let request = call.request();
        let credentials = Credentials::AsBuilt(TokenKey::from_request(&request));
        let response = self.send_as(io, request, credentials, &NoRefresh).await?;
        call.parse(response).map_err(ClientError::from)
    }

    async fn send_as<I, F>(
        &self,
        io: &I,
        request: http::Request<Vec<u8>>,
        mut credentials: Credentials,
        refresh: &F,
    ) -> Result<http::Response<Vec<u8>>, ClientError>
    where
        I: ClientIo + Sync,
        F: TokenRefresh,
    {
        let key = cache_key(&request).filter(|_| !self.config.cache_ttl.is_zero());
        let is_read = request.method() == http::Method::GET;
        let route = RouteKey::from_request(&request, &self.endpoints);
        let mut refreshed = false;
        let mut retried_429 = false;
        let mut waited_held = false;
        let deadline = io
            .instant()
            .checked_add(self.config.max_wait)
            .unwrap_or_else(|| io.instant());
        loop {
            let who = credentials.key();
            if let Some(key) = &key
                && let Some(body) = self.lock().cache.get(&who, key, io.instant())
            {
                return Ok(http::Response::new(body.to_vec()));
            }
            let (response, outcome) = self
                .attempt(io, credentials.apply(&request), who, &route, deadline)
                .await?;
            let status = response.status();
            if let Some(NotSent::GlobalRateLimit(wait)) = NotSent::from_held(&response) {
                // Not sent: the process's global-429 breaker is closed (a global 429, for
                // any token). Wait it out once within the allowed wait, else refuse.
                let now = io.instant();
                if waited_held || now.checked_add(wait).is_none_or(|end| end > deadline) {
                    return Err(ClientError::Throttled(Throttled::RateLimited {
                        retry_after: wait,
                        global: true,
                    }));
                }
                waited_held = true;
                io.wait(wait).await;
                continue;
            }
            if status == http::StatusCode::UNAUTHORIZED {
                self.invalidate_user(who);
                let token = match &credentials {
                    Credentials::Bot(_) => return Err(ClientError::BotTokenRejected),
                    Credentials::AsBuilt(_) => return Err(ClientError::TokenRejected),
                    Credentials::User(token) => token,
                };
                if refreshed {
                    return Err(ClientError::TokenRejected);
                }
                refreshed = true;
                match refresh.refresh(token).await {
                    Some(fresh) if fresh.secret() != token.secret() => {
                        credentials = Credentials::User(fresh);
                        continue;
                    }
                    _ => return Err(ClientError::TokenRejected),
                }
            }
            if let Outcome::RateLimited { scope, retry_after, .. } = outcome {
                if retried_429 {
                    return Err(ClientError::Throttled(Throttled::RateLimited {
                        retry_after,
                        global: scope == PauseScope::Token,
                    }));
                }
                retried_429 = true;
                continue;
            }
            if status.is_success() {
                let now = io.instant();
                let mut state = self.lock();
                match &key {
                    Some(key) => {
                        state
                            .cache
                            .insert(who, key, response.body().as_slice(), now, self.config.cache_ttl);
                    }
                    None if !is_read => {
                        state.cache.invalidate_user(&who);
                    }
                    None => {}
                }
            }
            return Ok(response);
        }
    }

    /// One request: budget, turn (waiting up to `deadline`), send, record.
    async fn attempt<I: ClientIo + Sync>(
        &self,
        io: &I,
        request: http::Request<Vec<u8>>,
        who: TokenKey,
        route: &RouteKey,
        deadline: Instant,
    ) -> Result<(http::Response<Vec<u8>>, Outcome), ClientError> {
        let permit = loop {
            let now = io.instant();
            let decision = {
                let mut state = self.lock();
                state.check_budget(now)?;
                state.limiter.acquire_before(who, route, now, deadline)
            };
            match decision {
                Acquire::Permit(permit) => break permit,
                Acquire::Wait { until, .. } => io.wait(until.saturating_duration_since(now)).await,
                Acquire::Refuse(throttled) => return Err(throttled.into()),
            }
        };
        let result = io.send(request).await;
        let now = io.instant();
        let mut state = self.lock();
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let outcome = state
                    .limiter
                    .record(permit, status, response.headers(), response.body(), now);
                state.budget.record_answer(status, response.headers(), now);
                Ok((response, outcome))
            }
            Err(e) => {
                state.limiter.release(permit, now);
                Err(ClientError::Unreachable(e.to_string()))
            }
        }
    }
}

/// The credential a call is sent with.
enum Credentials {
    /// A user's access token (`Authorization: Bearer …`), replaced after a refresh.
    User(AccessToken),
    /// The application's bot token (`Authorization: Bot …`).
    Bot(BotToken),
    /// Whatever the request was built with, known by this key.
    AsBuilt(TokenKey),
}

impl Credentials {
    /// What the limiter, the cache and the budget know the credential by.
    fn key(&self) -> TokenKey {
        match self {
            Self::User(token) => TokenKey::bearer(token),
            Self::Bot(token) => TokenKey::bot(token),
            Self::AsBuilt(key) => *key,
        }
    }

    /// `request` with this credential in its `Authorization` header (marked sensitive).
    fn apply(&self, request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
        let mut request = request.clone();
        let value = match self {
            Self::User(token) => format!("Bearer {}", token.secret()),
            Self::Bot(token) => format!("Bot {}", token.secret()),
            Self::AsBuilt(_) => return request,
        };
        if let Ok(mut value) = HeaderValue::from_str(&value) {
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        request
    }
}

/// The typed user calls of an integration's user-bound client (`DiscordClient` in
/// `discord-oauth-axum` and `discord-oauth-actix`): each builds its [`ApiCall`] with the
/// client's token and sends it through [`call`](Self::call). Implementors provide the
/// endpoints, the token and `call`; every other method is provided.
///
/// ```
/// use discord_oauth_core::api::client::{ClientError, UserCalls};
/// async fn guild_names(client: &impl UserCalls<Error = ClientError>) -> Result<Vec<String>, ClientError> {
///     Ok(client.guilds(&Default::default()).await?.into_iter().map(|g| g.name).collect())
/// }
/// ```
pub trait UserCalls: Sync {
    /// What a failed call returns.
    type Error: From<ClientError> + Send;

    /// Discord's endpoints.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, "{}");
    /// assert_eq!(client.endpoints().api_base.as_str(), "https://discord.com/api/v10");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn endpoints(&self) -> &Endpoints;

    /// The user's access token the calls are built with.
    ///
    /// # Security
    /// Never log or display it.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, "{}");
    /// assert_eq!(client.access_token().secret(), "user-token");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn access_token(&self) -> &AccessToken;

    /// Sends any call (built with [`crate::api`]'s functions) through the driver: the raw
    /// escape hatch.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::api;
    /// let client = Canned::new(200, r#"{"id":"80351110224678912","username":"nelly","discriminator":"0"}"#);
    /// let me = block_on(client.call(&api::current_user(client.endpoints(), client.access_token())))?;
    /// assert_eq!(me.username, "nelly");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn call<R: Send>(&self, call: &ApiCall<R>) -> impl Future<Output = Result<R, Self::Error>> + Send;

    /// `GET /users/@me` (`identify` scope).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly"}"#);
    /// let me = block_on(client.current_user())?;
    /// assert_eq!(me.display_name(), "Nelly");
    /// assert_eq!(client.sent(), [(http::Method::GET, "/api/v10/users/@me".to_owned())]);
    /// # Ok::<(), ClientError>(())
    /// ```
    fn current_user(&self) -> impl Future<Output = Result<User, Self::Error>> + Send {
        async move {
            self.call(&super::current_user(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /users/@me/guilds`, one page (`guilds` scope); see [`GuildsQuery::next_page`].
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"[{"id":"197038439483310086","name":"Discord Testers","icon":null,"owner":false,"permissions":"0","features":[]}]"#);
    /// let page = block_on(client.guilds(&Default::default()))?;
    /// assert_eq!(page[0].name, "Discord Testers");
    /// assert_eq!(client.sent()[0].1, "/api/v10/users/@me/guilds");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn guilds(&self, query: &GuildsQuery) -> impl Future<Output = Result<Vec<CurrentUserGuild>, Self::Error>> + Send {
        let query = *query;
        async move {
            self.call(&super::current_user_guilds(
                self.endpoints(),
                self.access_token(),
                &query,
            ))
            .await
        }
    }

    /// Every page of `GET /users/@me/guilds`, at most `max_pages` of them (200 guilds each).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"[{"id":"197038439483310086","name":"Discord Testers","icon":null,"owner":false,"permissions":"0","features":[]}]"#);
    /// let all = block_on(client.all_guilds(10))?;
    /// assert_eq!(all.len(), 1);
    /// assert_eq!(client.sent().len(), 1, "a short page is the last one");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn all_guilds(&self, max_pages: usize) -> impl Future<Output = Result<Vec<CurrentUserGuild>, Self::Error>> + Send {
        async move {
            let mut all = Vec::new();
            let mut query = Some(GuildsQuery::default());
            for _ in 0..max_pages {
                let Some(q) = query else { break };
                let page = self.guilds(&q).await?;
                query = q.next_page(&page);
                all.extend(page);
            }
            Ok(all)
        }
    }

    /// `GET /users/@me/guilds/{guild_id}/member` (`guilds.members.read` scope).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::Snowflake;
    /// let client = Canned::new(200, r#"{"roles":["7"],"joined_at":"2020-01-01T00:00:00Z","deaf":false,"mute":false}"#);
    /// let member = block_on(client.guild_member(Snowflake::new(42)))?;
    /// assert_eq!(member.roles, [Snowflake::new(7)]);
    /// assert_eq!(client.sent()[0].1, "/api/v10/users/@me/guilds/42/member");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn guild_member(&self, guild_id: Snowflake) -> impl Future<Output = Result<Member, Self::Error>> + Send {
        async move {
            self.call(&super::current_user_guild_member(
                self.endpoints(),
                self.access_token(),
                guild_id,
            ))
            .await
        }
    }

    /// `GET /users/@me/connections` (`connections` scope).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"[{"id":"87654321","name":"wumpus_live","type":"twitch","verified":true,"visibility":1}]"#);
    /// let connections = block_on(client.connections())?;
    /// assert_eq!(connections[0].kind, "twitch");
    /// assert_eq!(client.sent()[0].1, "/api/v10/users/@me/connections");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn connections(&self) -> impl Future<Output = Result<Vec<Connection>, Self::Error>> + Send {
        async move {
            self.call(&super::current_user_connections(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /users/@me/applications/{application_id}/role-connection`
    /// (`role_connections.write` scope).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::Snowflake;
    /// let client = Canned::new(200, r#"{"platform_name":"Example Game","metadata":{"level":"7"}}"#);
    /// let connection = block_on(client.role_connection(Snowflake::new(1)))?;
    /// assert_eq!(connection.platform_name.as_deref(), Some("Example Game"));
    /// assert_eq!(client.sent()[0].1, "/api/v10/users/@me/applications/1/role-connection");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn role_connection(
        &self,
        application_id: Snowflake,
    ) -> impl Future<Output = Result<RoleConnection, Self::Error>> + Send {
        async move {
            self.call(&super::get_role_connection(
                self.endpoints(),
                self.access_token(),
                application_id,
            ))
            .await
        }
    }

    /// `PUT /users/@me/applications/{application_id}/role-connection`
    /// (`role_connections.write` scope). Drops the token's cached reads.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::{Snowflake, api::RoleConnection};
    /// let client = Canned::new(200, r#"{"platform_name":"Example Game","metadata":{}}"#);
    /// let wanted = RoleConnection { platform_name: Some("Example Game".into()), ..Default::default() };
    /// let stored = block_on(client.update_role_connection(Snowflake::new(1), &wanted))?;
    /// assert_eq!(stored.platform_name, wanted.platform_name);
    /// assert_eq!(client.sent()[0].0, http::Method::PUT);
    /// # Ok::<(), ClientError>(())
    /// ```
    fn update_role_connection(
        &self,
        application_id: Snowflake,
        connection: &RoleConnection,
    ) -> impl Future<Output = Result<RoleConnection, Self::Error>> + Send {
        let call = super::update_role_connection(self.endpoints(), self.access_token(), application_id, connection);
        async move { self.call(&call).await }
    }

    /// `GET /oauth2/@me`: the authorization behind the token.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"{"application":{"id":"159799960412356608","name":"AIRHORN SOLUTIONS"},"scopes":["identify"],"expires":"2021-01-23T02:33:17.017000+00:00"}"#);
    /// let info = block_on(client.authorization())?;
    /// assert_eq!(info.application.name, "AIRHORN SOLUTIONS");
    /// assert_eq!(client.sent()[0].1, "/api/v10/oauth2/@me");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn authorization(&self) -> impl Future<Output = Result<AuthorizationInfo, Self::Error>> + Send {
        async move {
            self.call(&super::current_authorization(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /oauth2/userinfo` (`openid` scope).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{ClientError, UserCalls, doc_support::{Canned, block_on}};
    /// let client = Canned::new(200, r#"{"sub":"80351110224678912","preferred_username":"nelly"}"#);
    /// let info = block_on(client.userinfo())?;
    /// assert_eq!(info.sub, "80351110224678912");
    /// assert_eq!(client.sent()[0].1, "/api/v10/oauth2/userinfo");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn userinfo(&self) -> impl Future<Output = Result<UserInfo, Self::Error>> + Send {
        async move { self.call(&super::userinfo(self.endpoints(), self.access_token())).await }
    }
}

/// The typed calls of an integration's bot client (`BotApi` in `discord-oauth-tower`,
/// `DiscordOAuth::bot_api` in `discord-oauth-actix`): the few OAuth2-related calls that need
/// the application's bot token (`Authorization: Bot …`), sent through the same
/// [`ApiDriver`] as users' calls (budget, rate limits keyed by the bot token, read cache).
/// Implementors provide the endpoints, the token and `call`; every other method is provided.
///
/// ```
/// use discord_oauth_core::api::client::{BotCalls, ClientError};
/// use discord_oauth_core::{AccessToken, Snowflake};
/// async fn welcome(bot: &impl BotCalls<Error = ClientError>, user: Snowflake, token: &AccessToken) -> Result<(), ClientError> {
///     let guild = Snowflake::new(1200000000000000001);
///     bot.add_guild_member(guild, user, token, &Default::default()).await?;
///     Ok(())
/// }
/// ```
pub trait BotCalls: Sync {
    /// What a failed call returns.
    type Error: From<ClientError> + Send;

    /// Discord's endpoints.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{BotCalls, ClientError, doc_support::{Canned, block_on}};
    /// let bot = Canned::new(200, "{}");
    /// assert_eq!(bot.endpoints().api_base.as_str(), "https://discord.com/api/v10");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn endpoints(&self) -> &Endpoints;

    /// The application's bot token the calls are built with.
    ///
    /// # Security
    /// Never log or display it (its `Debug` is redacted).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{BotCalls, ClientError, doc_support::{Canned, block_on}};
    /// let bot = Canned::new(200, "{}");
    /// assert_eq!(format!("{:?}", bot.bot_token()), "BotToken([redacted])");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn bot_token(&self) -> &BotToken;

    /// Sends any call (built with [`crate::api`]'s functions) with the bot token, through the
    /// driver ([`ApiDriver::call_bot`]).
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{BotCalls, ClientError, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::api;
    /// let bot = Canned::new(200, r#"{"id":"159799960412356608","name":"AIRHORN SOLUTIONS"}"#);
    /// let app = block_on(bot.call(&api::current_application(bot.endpoints(), bot.bot_token())))?;
    /// assert_eq!(app.name, "AIRHORN SOLUTIONS");
    /// # Ok::<(), ClientError>(())
    /// ```
    fn call<R: Send>(&self, call: &ApiCall<R>) -> impl Future<Output = Result<R, Self::Error>> + Send;

    /// `GET /oauth2/applications/@me`: the application the bot belongs to.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{BotCalls, ClientError, doc_support::{Canned, block_on}};
    /// let bot = Canned::new(200, r#"{"id":"159799960412356608","name":"AIRHORN SOLUTIONS","bot_public":true}"#);
    /// let app = block_on(bot.current_application())?;
    /// assert_eq!(app.id.get(), 159799960412356608);
    /// assert_eq!(bot.sent(), [(http::Method::GET, "/api/v10/oauth2/applications/@me".to_owned())]);
    /// # Ok::<(), ClientError>(())
    /// ```
    fn current_application(&self) -> impl Future<Output = Result<Application, Self::Error>> + Send {
        async move {
            self.call(&super::current_application(self.endpoints(), self.bot_token()))
                .await
        }
    }

    /// `PUT /guilds/{guild_id}/members/{user_id}`: puts the user in the guild with the user's
    /// access token (granted with the `guilds.join` scope); the bot must be in the guild with
    /// `CREATE_INSTANT_INVITE`. [`AddGuildMemberOutcome::AlreadyMember`] when the user was
    /// a member already.
    ///
    /// ```
    /// # use discord_oauth_core::api::client::{BotCalls, ClientError, doc_support::{Canned, block_on}};
    /// use discord_oauth_core::{AccessToken, Snowflake, api::AddGuildMemberOutcome};
    /// let bot = Canned::new(204, "");
    /// let user_token = AccessToken::new("token-granted-guilds.join".into());
    /// let outcome = block_on(bot.add_guild_member(Snowflake::new(1), Snowflake::new(2), &user_token, &Default::default()))?;
    /// assert_eq!(outcome, AddGuildMemberOutcome::AlreadyMember);
    /// assert_eq!(bot.sent(), [(http::Method::PUT, "/api/v10/guilds/1/members/2".to_owned())]);
    /// # Ok::<(), ClientError>(())
    /// ```
    fn add_guild_member(
        &self,
        guild_id: Snowflake,
        user_id: Snowflake,
        user_token: &AccessToken,
        options: &AddGuildMember,
    ) -> impl Future<Output = Result<AddGuildMemberOutcome, Self::Error>> + Send {
        let call = super::add_guild_member(
            self.endpoints(),
            self.bot_token(),
            guild_id,
            user_id,
            user_token,
            options,
        );
        async move { self.call(&call).await }
    }
}

/// Stand-ins for the doc examples of [`UserCalls`] and [`BotCalls`] (no network, no driver).
/// Not part of the API.
#[doc(hidden)]
pub mod doc_support {
    use std::future::Future;
    use std::sync::{Mutex, PoisonError};
    use std::task::{Context, Poll, Waker};

    use oauth2::AccessToken;

    use super::{ApiCall, BotCalls, BotToken, ClientError, UserCalls};
    use crate::Endpoints;

    /// A client whose every call gets the same answer; it remembers each request's method
    /// and path. Its user token is `user-token`, its bot token `bot-token`.
    #[derive(Debug)]
    pub struct Canned {
        endpoints: Endpoints,
        token: AccessToken,
        bot: BotToken,
        status: u16,
        body: String,
        sent: Mutex<Vec<(http::Method, String)>>,
    }

    impl Canned {
        /// Answers every call with `status` and the JSON `body`.
        pub fn new(status: u16, body: &str) -> Self {
            Self {
                endpoints: Endpoints::discord(),
                token: AccessToken::new("user-token".into()),
                bot: BotToken::new("bot-token".into()),
                status,
                body: body.to_owned(),
                sent: Mutex::new(Vec::new()),
            }
        }

        /// The method and path of every request so far.
        pub fn sent(&self) -> Vec<(http::Method, String)> {
            self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
        }

        fn answer<R>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
            let request = call.request();
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((request.method().clone(), request.uri().path().to_owned()));
            let response = http::Response::builder()
                .status(self.status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(self.body.clone().into_bytes())
                .map_err(|e| ClientError::Unreachable(e.to_string()))?;
            call.parse(response).map_err(ClientError::from)
        }
    }

    impl UserCalls for Canned {
        type Error = ClientError;

        fn endpoints(&self) -> &Endpoints {
            &self.endpoints
        }

        fn access_token(&self) -> &AccessToken {
            &self.token
        }

        async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
            self.answer(call)
        }
    }

    impl BotCalls for Canned {
        type Error = ClientError;

        fn endpoints(&self) -> &Endpoints {
            &self.endpoints
        }

        fn bot_token(&self) -> &BotToken {
            &self.bot
        }

        async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
            self.answer(call)
        }
    }

    /// Runs `future` to its end on this thread, polling it until it is ready (for futures
    /// that never wait on IO, like [`Canned`]'s calls).
    pub fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }
}
