//! The network sequences of a login, as state machines the integrations poll.
//!
//! Each flow is sans-IO, in the quinn-proto style: [`Flow::poll`] says what to do next
//! ([`Step::Send`] a request, [`Step::Wait`] out a short rate limit, or [`Step::Done`]); the
//! driver does it and reports back with [`Flow::handle_response`] (passing `now`) or
//! [`Flow::handle_unreachable`]; [`Flow::finish`] gives the result. [`drive`] is that loop,
//! written once for every integration, over a [`FlowIo`] the integration implements.
//!
//! The policies live here, so every framework behaves the same:
//! - **429**: a request Discord rate limits is retried exactly once, after the announced wait,
//!   if that wait is at most [`MAX_INLINE_RETRY_WAIT`]; otherwise the rate limit is the result.
//! - **Callback** ([`CallbackFlow`]): exchange the code → check that `identify` was granted →
//!   fetch `/users/@me` → build the [`AuthSession`]. On any failure after the exchange the
//!   tokens are revoked (no half session), and in identity-only mode they are revoked after the
//!   user is fetched. Revocation is best effort: its failure is reported, never fatal.
//! - **Refresh** ([`LoginConfig::plan_refresh`], [`RefreshFlow`]): run under a per-session
//!   lock; reuse a fresher record another request stored meanwhile; `invalid_grant` logs the
//!   user out; a transient failure keeps the old token while it is still valid, else the
//!   answer is 503 with `Retry-After`.
//! - **Logout** ([`RevokeFlow`]): one best-effort revocation of the whole grant.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use super::answer::Refusal;
use super::{AuthSession, LoginConfig, LoginError, SessionStatus};
use crate::api::{self, User};
use crate::response::ApiCall;
use crate::{
    AccessToken, CodeExchange, RateLimit, RefreshExchange, ReturnTo, RevocableToken, RevokeRequest, TokenError,
    TokenSet,
};

/// The longest wait for a Discord 429 that is honoured inline; longer rate limits are
/// answered with 503 and `Retry-After` instead of holding the user's request.
pub const MAX_INLINE_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What the driver of a [`Flow`] must do next.
// One value per request, moved a few times: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[must_use = "a flow does nothing unless its steps are carried out"]
pub enum Step {
    /// Send this request to Discord, then call [`Flow::handle_response`] with the answer, or
    /// [`Flow::handle_unreachable`] if it could not be sent or timed out.
    Send(http::Request<Vec<u8>>),
    /// Discord asked us to wait this long (a short 429): wait, then poll again.
    Wait(Duration),
    /// The flow is over: call [`Flow::finish`].
    Done,
}

/// A sans-IO network sequence; see the [module docs](self).
pub trait Flow {
    /// What the flow produces.
    type Output;

    /// The next thing to do. After [`Step::Send`], report the answer before polling again.
    fn poll(&mut self) -> Step;

    /// Discord's answer to the last [`Step::Send`], received at `now`.
    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime);

    /// The last [`Step::Send`] failed without an answer (connection error, timeout).
    /// `error` is for logs; it must not contain secrets.
    fn handle_unreachable(&mut self, error: String);

    /// The result, once [`Flow::poll`] said [`Step::Done`]. Called earlier, it reports the flow
    /// as unfinished (an error, never a panic).
    fn finish(self) -> Self::Output;
}

/// What a [`Flow`] needs from the outside world: an HTTP transport, a timer and a clock.
/// Each integration implements it once (with its runtime and HTTP client); [`drive`] does
/// the rest.
pub trait FlowIo {
    /// A transport failure (its `Display` is logged; it must not contain secrets).
    type Error: fmt::Display;

    /// Sends one request to Discord (bounded by a timeout).
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, Self::Error>> + Send;

    /// Waits (a rate limit's `retry_after`).
    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    /// The wall clock.
    fn now(&self) -> SystemTime;
}

/// Runs a flow to completion with `io`. This function does no IO of its own: every request,
/// wait and clock read goes through `io`.
///
/// ```
/// # use discord_oauth_core::login::doc_support::{self, ScriptedDiscord, block_on};
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::login::flow::{RevokeFlow, drive};
///
/// let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
///     .client_secret("secret")
///     .build()?;
/// # let login = doc_support::logged_in(&config, "identify");
/// let tokens = login.tokens.as_ref().ok_or("tokens")?;
/// let discord = ScriptedDiscord::new();
/// discord.answer(200, "{}");
/// block_on(drive(RevokeFlow::new(&config, tokens), &discord))?;
/// assert_eq!(discord.sent(), ["POST /api/v10/oauth2/token/revoke"]);
///
/// // Unreachable (nothing scripted): the error is a log message, free of secrets.
/// assert!(block_on(drive(RevokeFlow::new(&config, tokens), &discord)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn drive<F: Flow, I: FlowIo + Sync>(mut flow: F, io: &I) -> F::Output {
    loop {
        match flow.poll() {
            Step::Send(request) => match io.send(request).await {
                Ok(response) => flow.handle_response(response, io.now()),
                Err(e) => flow.handle_unreachable(e.to_string()),
            },
            Step::Wait(duration) => io.wait(duration).await,
            Step::Done => return flow.finish(),
        }
    }
}

/// The one-retry 429 policy of every flow.
#[derive(Debug, Default)]
struct RetryPolicy {
    retried: bool,
}

impl RetryPolicy {
    /// How long to wait before the one retry, if this failure deserves it.
    fn retry_after(&mut self, rate_limit: Option<&RateLimit>) -> Option<Duration> {
        let wait = rate_limit.map(|rl| rl.retry_after.unwrap_or(Duration::from_secs(1)))?;
        if self.retried || wait > MAX_INLINE_RETRY_WAIT {
            return None;
        }
        self.retried = true;
        Some(wait)
    }
}

/// One request with the 429 policy: what every stage of a flow is built from.
#[derive(Debug, Default)]
struct Attempt {
    policy: RetryPolicy,
    wait: Option<Duration>,
}

impl Attempt {
    fn step(&mut self, request: impl FnOnce() -> http::Request<Vec<u8>>) -> Step {
        match self.wait.take() {
            Some(wait) => Step::Wait(wait),
            None => Step::Send(request()),
        }
    }

    /// `Ok(value)`, or the error if it is final; `None` if a retry was scheduled.
    fn settle<T, E>(
        &mut self,
        result: Result<T, E>,
        rate_limit: impl Fn(&E) -> Option<&RateLimit>,
    ) -> Option<Result<T, E>> {
        if let Err(e) = &result
            && let Some(wait) = self.policy.retry_after(rate_limit(e))
        {
            self.wait = Some(wait);
            return None;
        }
        Some(result)
    }
}

// ------------------------------------------------------------------ one API call

/// One Discord API call with the 429 policy (e.g. a guild check, or a handler calling the
/// API on the user's behalf).
#[derive(Debug)]
#[must_use = "drive the flow"]
pub struct ApiFlow<'a, T> {
    call: &'a ApiCall<T>,
    attempt: Attempt,
    result: Option<Result<T, LoginError>>,
}

impl<'a, T> ApiFlow<'a, T> {
    /// A flow sending `call`.
    pub fn new(call: &'a ApiCall<T>) -> Self {
        Self {
            call,
            attempt: Attempt::default(),
            result: None,
        }
    }
}

impl<T> Flow for ApiFlow<'_, T> {
    type Output = Result<T, LoginError>;

    fn poll(&mut self) -> Step {
        if self.result.is_some() {
            return Step::Done;
        }
        self.attempt.step(|| self.call.request())
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, _now: SystemTime) {
        self.result = self
            .attempt
            .settle(self.call.parse(response), crate::ApiError::rate_limit)
            .map(|r| r.map_err(LoginError::User));
    }

    fn handle_unreachable(&mut self, error: String) {
        self.result = Some(Err(LoginError::Unreachable(error)));
    }

    fn finish(self) -> Self::Output {
        self.result
            .unwrap_or_else(|| Err(LoginError::Unreachable("the API call was not finished".into())))
    }
}

// ------------------------------------------------------------------ revocation

/// A best-effort revocation of a whole grant (logout, or tokens a failed login leaves over).
/// One attempt, no retry: the session ends whatever Discord says.
#[derive(Debug)]
#[must_use = "drive the flow"]
pub struct RevokeFlow {
    revoke: RevokeRequest,
    result: Option<Result<(), String>>,
}

impl RevokeFlow {
    /// Revokes the grant behind `tokens` (through its refresh token when it has one).
    pub fn new(config: &LoginConfig, tokens: &TokenSet) -> Self {
        Self {
            revoke: config.client().revoke(RevocableToken::from_set(tokens)),
            result: None,
        }
    }
}

impl Flow for RevokeFlow {
    /// `Err` carries a log message (no secrets) when the revocation failed.
    type Output = Result<(), String>;

    fn poll(&mut self) -> Step {
        if self.result.is_some() {
            Step::Done
        } else {
            Step::Send(self.revoke.request())
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, _now: SystemTime) {
        self.result = Some(self.revoke.finish(response).map_err(|e| e.to_string()));
    }

    fn handle_unreachable(&mut self, error: String) {
        self.result = Some(Err(error));
    }

    fn finish(self) -> Self::Output {
        self.result
            .unwrap_or_else(|| Err("the revocation was not finished".into()))
    }
}

// ------------------------------------------------------------------ callback

/// A successful login: the record to store (after issuing a new session id) and where to go.
#[derive(Debug)]
pub struct LoggedIn {
    /// The session record.
    pub session: AuthSession,
    /// The validated post-login target.
    pub return_to: ReturnTo,
}

/// The result of a [`CallbackFlow`].
#[derive(Debug)]
#[must_use]
pub struct CallbackOutcome {
    /// The login, or why it failed.
    pub result: Result<LoggedIn, LoginError>,
    /// `Some` if tokens were revoked along the way (failed login, identity-only mode); `Err`
    /// carries a log message when that revocation failed.
    pub revocation: Option<Result<(), String>>,
}

// One value per request, moved a few times: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum CallbackState {
    Exchange(CodeExchange, Attempt),
    FetchUser(TokenSet, ApiCall<User>, Attempt),
    Revoke(RevokeFlow, Result<AuthSession, LoginError>),
    Done(Result<AuthSession, LoginError>, Option<Result<(), String>>),
    Poisoned,
}

impl fmt::Debug for CallbackState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exchange(..) => "Exchange",
            Self::FetchUser(..) => "FetchUser",
            Self::Revoke(..) => "Revoke",
            Self::Done(..) => "Done",
            Self::Poisoned => "Poisoned",
        })
    }
}

/// Everything a callback does after its query was accepted
/// ([`LoginConfig::complete_callback`]): exchange, scope check, user fetch, revocations.
///
/// ```
/// # use discord_oauth_core::login::{LoginConfig, PendingLogins, flow::{CallbackFlow, Flow, Step}};
/// # use std::time::{Duration, SystemTime};
/// # let config = LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
/// #     .client_secret("secret").build().unwrap();
/// # let mut rng = rand::rngs::StdRng::seed_from_u64(1); use rand::SeedableRng;
/// # let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// # let mut pending = PendingLogins::default();
/// # let url = config.begin_login(Some("/me"), &mut pending, &mut rng, now).unwrap();
/// # let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
/// # let query = format!("code=c0de&state={state}");
/// let (exchange, return_to) = config.complete_callback(&query, &mut pending, now)?;
/// let mut flow = CallbackFlow::new(&config, exchange, return_to);
/// let Step::Send(request) = flow.poll() else { unreachable!() };
/// assert_eq!(request.uri().path(), "/api/v10/oauth2/token");
/// // … send it, then `flow.handle_response(answer, now)`, and so on until `Step::Done`.
/// # Ok::<(), discord_oauth_core::login::LoginError>(())
/// ```
#[derive(Debug)]
#[must_use = "drive the flow"]
pub struct CallbackFlow {
    config: LoginConfig,
    return_to: ReturnTo,
    state: CallbackState,
}

impl CallbackFlow {
    /// Starts with the token exchange.
    pub fn new(config: &LoginConfig, exchange: CodeExchange, return_to: ReturnTo) -> Self {
        Self {
            config: config.clone(),
            return_to,
            state: CallbackState::Exchange(exchange, Attempt::default()),
        }
    }

    fn revoke_then(&self, tokens: &TokenSet, then: Result<AuthSession, LoginError>) -> CallbackState {
        CallbackState::Revoke(RevokeFlow::new(&self.config, tokens), then)
    }

    fn logged_in(&self, user: User, tokens: TokenSet, now: SystemTime) -> CallbackState {
        let revoke = self
            .config
            .identity_only()
            .then(|| RevokeFlow::new(&self.config, &tokens));
        let session = self.config.new_session(user, tokens, now);
        match revoke {
            Some(revoke) => CallbackState::Revoke(revoke, Ok(session)),
            None => CallbackState::Done(Ok(session), None),
        }
    }
}

impl Flow for CallbackFlow {
    type Output = CallbackOutcome;

    fn poll(&mut self) -> Step {
        match &mut self.state {
            CallbackState::Exchange(exchange, attempt) => attempt.step(|| exchange.request()),
            CallbackState::FetchUser(_, call, attempt) => attempt.step(|| call.request()),
            CallbackState::Revoke(revoke, _) => revoke.poll(),
            CallbackState::Done(..) | CallbackState::Poisoned => Step::Done,
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) {
        self.state = match std::mem::replace(&mut self.state, CallbackState::Poisoned) {
            CallbackState::Exchange(exchange, mut attempt) => {
                match attempt.settle(exchange.finish(response, now), TokenError::rate_limit) {
                    None => CallbackState::Exchange(exchange, attempt),
                    Some(Err(e)) => CallbackState::Done(Err(LoginError::Token(e)), None),
                    Some(Ok(tokens)) => {
                        if let Err(e) = self.config.check_granted(&tokens) {
                            self.revoke_then(&tokens, Err(e))
                        } else {
                            let call = api::current_user(self.config.client().endpoints(), &tokens.access_token);
                            CallbackState::FetchUser(tokens, call, Attempt::default())
                        }
                    }
                }
            }
            CallbackState::FetchUser(tokens, call, mut attempt) => {
                match attempt.settle(call.parse(response), crate::ApiError::rate_limit) {
                    None => CallbackState::FetchUser(tokens, call, attempt),
                    // No half session (C-09): the tokens are thrown away.
                    Some(Err(e)) => self.revoke_then(&tokens, Err(LoginError::User(e))),
                    Some(Ok(user)) => self.logged_in(user, tokens, now),
                }
            }
            CallbackState::Revoke(mut revoke, then) => {
                revoke.handle_response(response, now);
                CallbackState::Done(then, Some(revoke.finish()))
            }
            done @ (CallbackState::Done(..) | CallbackState::Poisoned) => done,
        };
    }

    fn handle_unreachable(&mut self, error: String) {
        self.state = match std::mem::replace(&mut self.state, CallbackState::Poisoned) {
            CallbackState::Exchange(..) => CallbackState::Done(Err(LoginError::Unreachable(error)), None),
            CallbackState::FetchUser(tokens, ..) => self.revoke_then(&tokens, Err(LoginError::Unreachable(error))),
            CallbackState::Revoke(_, then) => CallbackState::Done(then, Some(Err(error))),
            done @ (CallbackState::Done(..) | CallbackState::Poisoned) => done,
        };
    }

    fn finish(self) -> CallbackOutcome {
        let (result, revocation) = match self.state {
            CallbackState::Done(result, revocation) => (result, revocation),
            _ => (Err(LoginError::Unreachable("the login was not finished".into())), None),
        };
        CallbackOutcome {
            result: result.map(|session| LoggedIn {
                session,
                return_to: self.return_to,
            }),
            revocation,
        }
    }
}

// ------------------------------------------------------------------ refresh

/// What to do with a session that needs a refresh, decided by [`LoginConfig::plan_refresh`]
/// once the per-session refresh lock is held and the store re-read.
// One value per request, moved a few times: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[must_use]
pub enum RefreshPlan {
    /// The session is gone from the store (logged out meanwhile): treat the request as
    /// anonymous.
    Gone,
    /// Use the stored (`current`) record as it is: another request refreshed it while this one
    /// waited, or it needs nothing. If `write_back`, the record this request carried is older:
    /// store `current` in this request's session so that a later save cannot bring the old
    /// tokens back (F-11).
    UseCurrent {
        /// Store `current` into this request's session.
        write_back: bool,
    },
    /// Refresh: drive this flow.
    Refresh(RefreshFlow),
}

/// The result of a [`RefreshFlow`].
// One value per request, moved a few times: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[must_use]
pub enum RefreshOutcome {
    /// New tokens. Persist this record (the rotated refresh token) before anything uses the
    /// new access token (F-03).
    Refreshed(AuthSession),
    /// Discord rejected the refresh token (`invalid_grant`): end the session.
    LoggedOut {
        /// For the log.
        error: String,
    },
    /// The refresh failed, but the old access token is still valid: keep using the stored
    /// record; the next request tries again.
    KeepOld {
        /// For the log.
        error: String,
    },
    /// The refresh failed and the old access token has expired: answer 503.
    Unavailable {
        /// For the log.
        error: String,
        /// The `Retry-After` to send, in seconds.
        retry_after: u64,
        /// The text of the 503 answer.
        message: &'static str,
    },
}

impl LoginConfig {
    /// Decides how to refresh, given the record this request started with (`stale`) and the
    /// one in the store now (`current`, re-read under the refresh lock; `None` if gone).
    pub fn plan_refresh(&self, stale: &AuthSession, current: Option<&AuthSession>, now: SystemTime) -> RefreshPlan {
        let Some(current) = current else {
            return RefreshPlan::Gone;
        };
        let fresher = match (&current.tokens, &stale.tokens) {
            (Some(c), Some(s)) => c.expires_at > s.expires_at,
            _ => false,
        };
        if fresher || self.session_status(current, now) == SessionStatus::Valid {
            return RefreshPlan::UseCurrent { write_back: fresher };
        }
        let Some(tokens) = current.tokens.clone() else {
            return RefreshPlan::UseCurrent { write_back: false };
        };
        let still_valid = now < tokens.expires_at;
        match self.client().refresh(tokens) {
            Ok(exchange) => RefreshPlan::Refresh(RefreshFlow {
                session: current.clone(),
                exchange,
                still_valid,
                attempt: Attempt::default(),
                outcome: None,
            }),
            Err(_) => RefreshPlan::UseCurrent { write_back: false },
        }
    }

    /// What to do after Discord answered `401` to the access token `rejected` of `stale` (the
    /// record the request was served with), given the `current` record in the store: like
    /// [`plan_refresh`](Self::plan_refresh), but the stored record is refreshed even though
    /// it looks valid, as long as it still holds the rejected token. A record whose access
    /// token differs was refreshed meanwhile (by another request or instance): use it.
    pub fn plan_forced_refresh(
        &self,
        stale: &AuthSession,
        current: Option<&AuthSession>,
        rejected: &AccessToken,
    ) -> RefreshPlan {
        let Some(current) = current else {
            return RefreshPlan::Gone;
        };
        let Some(tokens) = current.tokens.clone() else {
            return RefreshPlan::UseCurrent { write_back: false };
        };
        if tokens.access_token.secret() != rejected.secret() {
            let fresher = stale.tokens.as_ref().is_some_and(|s| tokens.expires_at > s.expires_at);
            return RefreshPlan::UseCurrent { write_back: fresher };
        }
        match self.client().refresh(tokens) {
            // Not `still_valid`: the token was just rejected, keeping it would serve nothing.
            Ok(exchange) => RefreshPlan::Refresh(RefreshFlow {
                session: current.clone(),
                exchange,
                still_valid: false,
                attempt: Attempt::default(),
                outcome: None,
            }),
            Err(_) => RefreshPlan::UseCurrent { write_back: false },
        }
    }
}

/// One token refresh (see [`LoginConfig::plan_refresh`]).
#[must_use = "drive the flow"]
pub struct RefreshFlow {
    session: AuthSession,
    exchange: RefreshExchange,
    still_valid: bool,
    attempt: Attempt,
    outcome: Option<RefreshOutcome>,
}

impl fmt::Debug for RefreshFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshFlow")
            .field("session", &self.session)
            .field("still_valid", &self.still_valid)
            .finish_non_exhaustive()
    }
}

impl RefreshFlow {
    fn failed(&self, error: String, retry_after: u64, message: &'static str) -> RefreshOutcome {
        if self.still_valid {
            RefreshOutcome::KeepOld { error }
        } else {
            RefreshOutcome::Unavailable {
                error,
                retry_after,
                message,
            }
        }
    }
}

impl Flow for RefreshFlow {
    type Output = RefreshOutcome;

    fn poll(&mut self) -> Step {
        if self.outcome.is_some() {
            return Step::Done;
        }
        self.attempt.step(|| self.exchange.request())
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) {
        let Some(result) = self
            .attempt
            .settle(self.exchange.finish(response, now), TokenError::rate_limit)
        else {
            return;
        };
        self.outcome = Some(match result {
            Ok(tokens) => {
                let mut next = self.session.clone();
                next.tokens = Some(tokens);
                RefreshOutcome::Refreshed(next)
            }
            Err(e) if e.is_invalid_grant() => RefreshOutcome::LoggedOut { error: e.to_string() },
            Err(e) => {
                let wait = e
                    .rate_limit()
                    .and_then(|rl| rl.retry_after)
                    .map_or(5, |d| d.as_secs().max(1));
                self.failed(
                    e.to_string(),
                    wait,
                    "Service Unavailable: Discord could not refresh your login; try again shortly.",
                )
            }
        });
    }

    fn handle_unreachable(&mut self, error: String) {
        self.outcome = Some(self.failed(
            error,
            5,
            "Service Unavailable: Discord could not be reached; try again shortly.",
        ));
    }

    fn finish(self) -> RefreshOutcome {
        self.outcome.unwrap_or(RefreshOutcome::Unavailable {
            error: "the refresh was not finished".into(),
            retry_after: 5,
            message: "Service Unavailable: Discord could not be reached; try again shortly.",
        })
    }
}

// ------------------------------------------------------------------ guild and role guards

/// What a guild guard requires: membership of a guild, optionally with a role. IDs are
/// compared as snowflakes, never by name (J-06).
///
/// ```
/// use discord_oauth_core::api::CurrentUserGuild;
/// use discord_oauth_core::login::flow::GuildRequirement;
/// let members = GuildRequirement { guild_id: 81384788765712384, role_id: None };
/// let guilds: Vec<CurrentUserGuild> = serde_json::from_str(r#"[{"id": "81384788765712384", "name": "Discord API"}]"#)?;
/// assert!(members.met_by_guilds(&guilds));
/// // A guild list carries no roles: a role requirement needs the member record.
/// let moderators = GuildRequirement { role_id: Some(42), ..members };
/// assert!(!moderators.met_by_guilds(&guilds));
/// assert_eq!(moderators.forbidden(false).status(), 403);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuildRequirement {
    /// The guild.
    pub guild_id: u64,
    /// The role the member must have, if any.
    pub role_id: Option<u64>,
}

impl GuildRequirement {
    /// Whether the user's membership of [`guild_id`](Self::guild_id) (`None`: not a member,
    /// Discord's `404` of `GET /users/@me/guilds/{guild}/member`) meets this requirement: a
    /// member passes, and holds [`role_id`](Self::role_id) when one is required. The one place
    /// a member record is judged, for [`GuildRequirement::check`] and for integrations that
    /// fetch the record themselves (e.g. through a user-bound API client) to test several
    /// requirements with one call per guild.
    ///
    /// ```
    /// use discord_oauth_core::api::Member;
    /// use discord_oauth_core::login::flow::GuildRequirement;
    /// let member: Member = serde_json::from_str(r#"{"roles": ["12"], "joined_at": null}"#)?;
    /// let role = |role_id| GuildRequirement { guild_id: 1, role_id };
    /// assert!(role(None).met_by_member(Some(&member)));
    /// assert!(role(Some(12)).met_by_member(Some(&member)));
    /// assert!(!role(Some(13)).met_by_member(Some(&member)));
    /// assert!(!role(None).met_by_member(None));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn met_by_member(&self, member: Option<&api::Member>) -> bool {
        member.is_some_and(|m| self.role_id.is_none_or(|role| m.roles.iter().any(|r| r.get() == role)))
    }

    /// Whether the user's guild list (`GET /users/@me/guilds`, one page or all of them) shows
    /// this requirement met: only a requirement without a role can be, since the list carries
    /// no roles (use [`GuildRequirement::met_by_member`] for roles).
    pub fn met_by_guilds(&self, guilds: &[api::CurrentUserGuild]) -> bool {
        self.role_id.is_none() && guilds.iter().any(|g| g.id.get() == self.guild_id)
    }

    /// The refusal when the user does not meet this requirement.
    pub fn forbidden(&self, html: bool) -> Refusal {
        Refusal::Forbidden {
            html,
            reason: if self.role_id.is_some() {
                "You need a role in a Discord server to see this page."
            } else {
                "You need to be a member of a Discord server to see this page."
            },
        }
    }

    /// Plans the membership check for a logged-in `session`: with `guilds.members.read`,
    /// `GET /users/@me/guilds/{guild}/member` (needed for roles); else, with `guilds`, the
    /// user's guild list, page by page. Refuses at once when no token or scope allows a check.
    ///
    /// The flow sends its requests through a [`FlowIo`] ([`drive`]), or step by step:
    ///
    /// ```
    /// # use discord_oauth_core::login::doc_support::{self, ScriptedDiscord, block_on};
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::flow::{GuildRequirement, drive};
    ///
    /// let config = LoginConfig::builder("1", "https://site.example/auth/callback").build()?;
    /// # let login = doc_support::logged_in(&config, "identify guilds.members.read");
    /// let moderators = GuildRequirement { guild_id: 81384788765712384, role_id: Some(42) };
    /// let discord = ScriptedDiscord::new();
    /// discord.answer(200, r#"{"roles": ["7"], "joined_at": null}"#);
    /// let flow = moderators.check(&config, &login, true).map_err(|r| format!("{r:?}"))?;
    /// assert!(!block_on(drive(flow, &discord))?, "a member, without the role");
    /// assert_eq!(discord.sent(), ["GET /api/v10/users/@me/guilds/81384788765712384/member"]);
    ///
    /// // A login granted `identify` only cannot be checked: refused at once.
    /// # let identify_only = doc_support::logged_in(&config, "identify");
    /// let refusal = moderators.check(&config, &identify_only, true).unwrap_err();
    /// assert_eq!(refusal.status(), 403);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(&self, config: &LoginConfig, session: &AuthSession, html: bool) -> Result<GuildCheckFlow, Refusal> {
        let Some(tokens) = session.tokens.as_ref() else {
            return Err(Refusal::Forbidden {
                html,
                reason: "This site keeps no Discord token to check your guilds.",
            });
        };
        let endpoints = config.client().endpoints().clone();
        let stage = if tokens.has_scope(&crate::Scope::GuildsMembersRead) {
            GuildStage::Member(api::current_user_guild_member(
                &endpoints,
                &tokens.access_token,
                self.guild_id.into(),
            ))
        } else if tokens.has_scope(&crate::Scope::Guilds) && self.role_id.is_none() {
            GuildStage::Guilds(api::current_user_guilds(
                &endpoints,
                &tokens.access_token,
                &api::GuildsQuery::default(),
            ))
        } else {
            return Err(Refusal::Forbidden {
                html,
                reason: "This site cannot check guild membership: log in again granting the guild scopes.",
            });
        };
        Ok(GuildCheckFlow {
            requirement: *self,
            endpoints,
            token: tokens.access_token.clone(),
            stage,
            attempt: Attempt::default(),
            result: None,
        })
    }
}

enum GuildStage {
    Member(ApiCall<api::Member>),
    Guilds(ApiCall<Vec<api::CurrentUserGuild>>),
}

/// A guild membership check (see [`GuildRequirement::check`]). Its output is whether the
/// user meets the requirement; `Err` when Discord could not be asked (answer 503, never let
/// the user in on an error).
#[must_use = "drive the flow"]
pub struct GuildCheckFlow {
    requirement: GuildRequirement,
    endpoints: crate::Endpoints,
    token: crate::AccessToken,
    stage: GuildStage,
    attempt: Attempt,
    result: Option<Result<bool, LoginError>>,
}

impl fmt::Debug for GuildCheckFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuildCheckFlow")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

/// Discord's page size for `/users/@me/guilds`.
const GUILDS_PAGE: usize = 200;

impl Flow for GuildCheckFlow {
    type Output = Result<bool, LoginError>;

    fn poll(&mut self) -> Step {
        if self.result.is_some() {
            return Step::Done;
        }
        match &self.stage {
            GuildStage::Member(call) => self.attempt.step(|| call.request()),
            GuildStage::Guilds(call) => self.attempt.step(|| call.request()),
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, _now: SystemTime) {
        let req = self.requirement;
        match &self.stage {
            GuildStage::Member(call) => {
                self.result = match self.attempt.settle(call.parse(response), crate::ApiError::rate_limit) {
                    None => None,
                    Some(Ok(member)) => Some(Ok(req.met_by_member(Some(&member)))),
                    Some(Err(crate::ApiError::NotFound(_))) => Some(Ok(req.met_by_member(None))),
                    Some(Err(e)) => Some(Err(LoginError::User(e))),
                };
            }
            GuildStage::Guilds(call) => match self.attempt.settle(call.parse(response), crate::ApiError::rate_limit) {
                None => {}
                Some(Err(e)) => self.result = Some(Err(LoginError::User(e))),
                Some(Ok(page)) => {
                    if req.met_by_guilds(&page) {
                        self.result = Some(Ok(true));
                    } else {
                        match page.last() {
                            Some(last) if page.len() >= GUILDS_PAGE => {
                                let query = api::GuildsQuery {
                                    after: Some(last.id),
                                    ..api::GuildsQuery::default()
                                };
                                self.stage =
                                    GuildStage::Guilds(api::current_user_guilds(&self.endpoints, &self.token, &query));
                                self.attempt = Attempt::default();
                            }
                            _ => self.result = Some(Ok(false)),
                        }
                    }
                }
            },
        }
    }

    fn handle_unreachable(&mut self, error: String) {
        self.result = Some(Err(LoginError::Unreachable(error)));
    }

    fn finish(self) -> Self::Output {
        self.result
            .unwrap_or_else(|| Err(LoginError::Unreachable("the guild check was not finished".into())))
    }
}

/// Guard decisions remembered per user and requirement, so a guarded page does not ask
/// Discord on every request: bounded ([`GuardDecisions::CAPACITY`]) and time-limited
/// ([`GuardDecisions::TTL`] by default, [`GuardDecisions::with_ttl`]). The caller passes the
/// time; nothing here reads a clock.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::login::flow::{GuardDecisions, GuildRequirement};
///
/// // A member removed at Discord keeps passing for at most 10 s.
/// let decisions = GuardDecisions::with_ttl(Duration::from_secs(10));
/// let members = GuildRequirement { guild_id: 81384788765712384, role_id: None };
/// let (nelly, now) = (80351110224678912, SystemTime::now());
/// assert_eq!(decisions.get(nelly, members, now), None, "ask Discord");
/// decisions.remember(nelly, members, true, now);
/// assert_eq!(decisions.get(nelly, members, now + Duration::from_secs(9)), Some(true));
/// assert_eq!(decisions.get(nelly, members, now + Duration::from_secs(10)), None, "ask again");
/// ```
#[derive(Debug)]
pub struct GuardDecisions {
    map: std::sync::Mutex<std::collections::HashMap<(u64, GuildRequirement), (bool, SystemTime)>>,
    ttl: Duration,
}

impl Default for GuardDecisions {
    fn default() -> Self {
        Self::with_ttl(Self::TTL)
    }
}

impl GuardDecisions {
    /// How long a decision is trusted by default: 60 s.
    pub const TTL: Duration = Duration::from_secs(60);
    /// The most decisions kept; when full, expired ones go, then all.
    pub const CAPACITY: usize = 10_000;

    /// Decisions trusted for `ttl` instead of [`GuardDecisions::TTL`]: how long a member whose
    /// role or membership was removed at Discord keeps passing. Zero remembers nothing.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            map: std::sync::Mutex::default(),
            ttl,
        }
    }

    /// How long a decision is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The remembered decision for `user_id`, if still fresh at `now`.
    pub fn get(&self, user_id: u64, requirement: GuildRequirement, now: SystemTime) -> Option<bool> {
        let map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(user_id, requirement))
            .filter(|(_, at)| now.duration_since(*at).is_ok_and(|age| age < self.ttl))
            .map(|(allowed, _)| *allowed)
    }

    /// Remembers a decision made at `now`.
    pub fn remember(&self, user_id: u64, requirement: GuildRequirement, allowed: bool, now: SystemTime) {
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::CAPACITY {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| now.duration_since(*at).is_ok_and(|age| age < ttl));
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
        }
        map.insert((user_id, requirement), (allowed, now));
    }
}

/// One guild or role guard: what it requires, and the decisions it remembers (shared by its
/// clones, so every route the guard is on asks Discord once per user and [`GuardDecisions::TTL`]).
/// The tower and actix-web guards hold one and hand it to [`Driver::guard`](super::driver::Driver::guard).
///
/// ```
/// use discord_oauth_core::login::flow::{Guard, GuildRequirement};
///
/// let members = Guard::new(GuildRequirement { guild_id: 81384788765712384, role_id: None });
/// assert_eq!(members.requirement().guild_id, 81384788765712384);
/// assert_eq!(format!("{members:?}"), format!("Guard({:?})", members.requirement()));
/// ```
#[derive(Clone)]
pub struct Guard {
    requirement: GuildRequirement,
    decisions: std::sync::Arc<GuardDecisions>,
}

impl Guard {
    /// A guard for `requirement`, remembering its decisions for [`GuardDecisions::TTL`].
    pub fn new(requirement: GuildRequirement) -> Self {
        Self {
            requirement,
            decisions: std::sync::Arc::new(GuardDecisions::default()),
        }
    }

    /// What it requires.
    pub fn requirement(&self) -> GuildRequirement {
        self.requirement
    }

    /// The decisions it remembers.
    pub fn decisions(&self) -> &GuardDecisions {
        &self.decisions
    }
}

/// The requirement only: the remembered decisions name users.
impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&self.requirement).finish()
    }
}

#[cfg(test)]
mod guard_decision_tests {
    use super::*;

    #[test]
    fn decisions_expire_and_stay_bounded() {
        let d = GuardDecisions::default();
        let r = GuildRequirement {
            guild_id: 1,
            role_id: None,
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        d.remember(7, r, true, t0);
        assert_eq!(d.get(7, r, t0 + Duration::from_secs(59)), Some(true));
        assert_eq!(d.get(7, r, t0 + Duration::from_secs(60)), None, "expired");
        assert_eq!(d.get(8, r, t0), None, "per user");
        assert_eq!(
            d.get(
                7,
                GuildRequirement {
                    guild_id: 1,
                    role_id: Some(2)
                },
                t0
            ),
            None,
            "per requirement"
        );
        for user in 0..(GuardDecisions::CAPACITY as u64 + 10) {
            d.remember(user, r, false, t0);
        }
        assert!(d.map.lock().unwrap().len() <= GuardDecisions::CAPACITY);
        let short = GuardDecisions::with_ttl(Duration::from_secs(2));
        short.remember(7, r, true, t0);
        assert_eq!(short.get(7, r, t0 + Duration::from_secs(1)), Some(true));
        assert_eq!(
            short.get(7, r, t0 + Duration::from_secs(2)),
            None,
            "expired after its own TTL"
        );
        assert_eq!(GuardDecisions::default().ttl(), GuardDecisions::TTL);
    }
}
