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
    cache: ReadCache<TokenKey>,
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
                state.budget.check(now)?;
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
    fn endpoints(&self) -> &Endpoints;

    /// The user's access token the calls are built with.
    fn access_token(&self) -> &AccessToken;

    /// Sends any call (built with [`crate::api`]'s functions) through the driver: the raw
    /// escape hatch.
    fn call<R: Send>(&self, call: &ApiCall<R>) -> impl Future<Output = Result<R, Self::Error>> + Send;

    /// `GET /users/@me` (`identify` scope).
    fn current_user(&self) -> impl Future<Output = Result<User, Self::Error>> + Send {
        async move {
            self.call(&super::current_user(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /users/@me/guilds`, one page (`guilds` scope); see [`GuildsQuery::next_page`].
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
    fn connections(&self) -> impl Future<Output = Result<Vec<Connection>, Self::Error>> + Send {
        async move {
            self.call(&super::current_user_connections(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /users/@me/applications/{application_id}/role-connection`
    /// (`role_connections.write` scope).
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
    fn update_role_connection(
        &self,
        application_id: Snowflake,
        connection: &RoleConnection,
    ) -> impl Future<Output = Result<RoleConnection, Self::Error>> + Send {
        let call = super::update_role_connection(self.endpoints(), self.access_token(), application_id, connection);
        async move { self.call(&call).await }
    }

    /// `GET /oauth2/@me`: the authorization behind the token.
    fn authorization(&self) -> impl Future<Output = Result<AuthorizationInfo, Self::Error>> + Send {
        async move {
            self.call(&super::current_authorization(self.endpoints(), self.access_token()))
                .await
        }
    }

    /// `GET /oauth2/userinfo` (`openid` scope).
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
    fn endpoints(&self) -> &Endpoints;

    /// The application's bot token the calls are built with.
    fn bot_token(&self) -> &BotToken;

    /// Sends any call (built with [`crate::api`]'s functions) with the bot token, through the
    /// driver ([`ApiDriver::call_bot`]).
    fn call<R: Send>(&self, call: &ApiCall<R>) -> impl Future<Output = Result<R, Self::Error>> + Send;

    /// `GET /oauth2/applications/@me`: the application the bot belongs to.
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
