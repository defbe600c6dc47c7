//! The user-API driver (`api::client::ApiDriver`) against a scripted Discord with a scripted
//! clock: no sockets, no wall-clock time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::api::client::{ApiDriver, ApiDriverConfig, ClientError, ClientIo, NoRefresh, TokenRefresh};
use discord_oauth_core::api::ratelimit::Throttled;
use discord_oauth_core::api::{self, GuildsQuery, RoleConnection};
use discord_oauth_core::login::flow::FlowIo;
use discord_oauth_core::{AccessToken, Endpoints, Snowflake};

/// A Discord whose user routes allow `limit` requests per `reset` per token, answering `429`
/// beyond that, `401` to tokens in `rejected`, and (once) a global `429` if `global_429` is set.
struct Discord {
    clock: Mutex<Instant>,
    limit: u32,
    reset: Duration,
    /// token → (window start, used)
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    rejected: Vec<String>,
    global_429: Mutex<Option<Duration>>,
    sent: Mutex<Vec<(Instant, String, String)>>,
    statuses: Mutex<Vec<u16>>,
    waited: Mutex<Vec<Duration>>,
}

impl Discord {
    fn new(limit: u32, reset: Duration) -> Self {
        Self {
            clock: Mutex::new(Instant::now()),
            limit,
            reset,
            windows: Mutex::new(HashMap::new()),
            rejected: Vec::new(),
            global_429: Mutex::new(None),
            sent: Mutex::new(Vec::new()),
            statuses: Mutex::new(Vec::new()),
            waited: Mutex::new(Vec::new()),
        }
    }

    fn answer(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let now = *self.clock.lock().unwrap();
        let token = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .trim_start_matches("Bearer ")
            .to_owned();
        self.sent
            .lock()
            .unwrap()
            .push((now, token.clone(), request.uri().path().to_owned()));
        if let Some(retry) = self.global_429.lock().unwrap().take() {
            return json(
                429,
                &format!(
                    r#"{{"message":"You are being rate limited.","retry_after":{},"global":true}}"#,
                    retry.as_secs_f64()
                ),
                &[("x-ratelimit-global", "true"), ("x-ratelimit-scope", "global")],
            );
        }
        if self.rejected.contains(&token) {
            return json(401, r#"{"message":"401: Unauthorized","code":0}"#, &[]);
        }
        let mut windows = self.windows.lock().unwrap();
        let window = windows.entry(token).or_insert((now, 0));
        if now >= window.0 + self.reset {
            *window = (now, 0);
        }
        let reset_after = (window.0 + self.reset).saturating_duration_since(now).as_secs_f64();
        let limit = self.limit.to_string();
        let reset_after = format!("{reset_after:.3}");
        if window.1 >= self.limit {
            return json(
                429,
                &format!(r#"{{"message":"You are being rate limited.","retry_after":{reset_after},"global":false}}"#),
                &[
                    ("x-ratelimit-bucket", "userbucket"),
                    ("x-ratelimit-limit", &limit),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset-after", &reset_after),
                    ("x-ratelimit-scope", "user"),
                ],
            );
        }
        window.1 += 1;
        let remaining = (self.limit - window.1).to_string();
        let body = if request.method() == http::Method::PUT {
            r#"{"platform_name":"Example Game","metadata":{}}"#
        } else if request.uri().path().ends_with("/guilds") {
            r#"[{"id":"197038439483310086","name":"Discord Testers","icon":null,"owner":false,"permissions":"0","features":[]}]"#
        } else {
            r#"{"platform_name":"Example Game","metadata":{}}"#
        };
        json(
            200,
            body,
            &[
                ("x-ratelimit-bucket", "userbucket"),
                ("x-ratelimit-limit", &limit),
                ("x-ratelimit-remaining", &remaining),
                ("x-ratelimit-reset-after", &reset_after),
            ],
        )
    }

    fn sent(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    fn count(&self, status: u16) -> usize {
        self.statuses.lock().unwrap().iter().filter(|s| **s == status).count()
    }
}

fn json(status: u16, body: &str, headers: &[(&str, &str)]) -> http::Response<Vec<u8>> {
    let mut b = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

impl FlowIo for Discord {
    type Error = String;
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
        let response = self.answer(&request);
        self.statuses.lock().unwrap().push(response.status().as_u16());
        std::future::ready(Ok(response))
    }
    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.waited.lock().unwrap().push(duration);
        *self.clock.lock().unwrap() += duration;
        std::future::ready(())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
}

impl ClientIo for Discord {
    fn instant(&self) -> Instant {
        *self.clock.lock().unwrap()
    }
}

/// Runs a future whose IO never pends (the scripted Discord answers at once).
fn run<F: Future>(f: F) -> F::Output {
    let Poll::Ready(out) = std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the scripted IO never pends")
    };
    out
}

fn driver(config: ApiDriverConfig) -> ApiDriver {
    ApiDriver::new(Endpoints::discord(), config)
}

fn token(s: &str) -> AccessToken {
    AccessToken::new(s.to_owned())
}

fn guilds_call(t: &AccessToken) -> api::ApiCall<Vec<api::CurrentUserGuild>> {
    api::current_user_guilds(&Endpoints::discord(), t, &GuildsQuery::default())
}

#[test]
fn a_burst_within_the_allowed_wait_never_draws_a_429() {
    let discord = Discord::new(2, Duration::from_secs(1));
    let driver = driver(ApiDriverConfig::uncached());
    let t = token("alice");
    for _ in 0..8 {
        let guilds = run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap();
        assert_eq!(guilds.len(), 1);
    }
    assert_eq!(discord.sent(), 8);
    assert_eq!(discord.count(429), 0, "the limiter waited instead");
    // 2 per second: 8 requests span at least 3 resets.
    let total: Duration = discord.waited.lock().unwrap().iter().sum();
    assert!(total >= Duration::from_secs(3), "waited {total:?}");
}

#[test]
fn an_exhausted_bucket_makes_the_next_call_wait_until_the_reset() {
    let discord = Discord::new(1, Duration::from_secs(2));
    let driver = driver(ApiDriverConfig::uncached());
    let t = token("alice");
    run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap();
    let first = discord.sent.lock().unwrap()[0].0;
    run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap();
    let second = discord.sent.lock().unwrap()[1].0;
    assert_eq!(second - first, Duration::from_secs(2), "sent exactly at the reset");
    assert_eq!(*discord.waited.lock().unwrap(), vec![Duration::from_secs(2)]);
    assert_eq!(discord.count(429), 0);
}

#[test]
fn a_wait_longer_than_allowed_is_refused_with_retry_after() {
    let discord = Discord::new(1, Duration::from_secs(30));
    let driver = driver(ApiDriverConfig::uncached());
    let t = token("alice");
    run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap();
    let err = run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
    let ClientError::Throttled(Throttled::RateLimited {
        retry_after,
        global: false,
    }) = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(retry_after, Duration::from_secs(30));
    assert_eq!(discord.sent(), 1, "nothing was sent");
    let answer = err.refusal("/auth/login".into(), false).answer("/");
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "30");
}

#[test]
fn a_global_429_pauses_every_route_of_that_token_only() {
    let discord = Discord::new(50, Duration::from_secs(1));
    *discord.global_429.lock().unwrap() = Some(Duration::from_secs(3));
    let driver = driver(ApiDriverConfig::uncached());
    let (alice, bob) = (token("alice"), token("bob"));
    // The 429 is answered, the driver waits out the pause and retries once: success.
    run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap();
    assert_eq!(discord.count(429), 1);
    assert_eq!(*discord.waited.lock().unwrap(), vec![Duration::from_secs(3)]);

    // Again, then another route of the same token waits for the pause too; another token not.
    *discord.global_429.lock().unwrap() = Some(Duration::from_secs(4));
    let err = run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh));
    assert!(err.is_ok(), "{err:?}");
    let before = discord.sent();
    let at = discord.instant();
    // The pause ended with the retry; a fresh pause now:
    *discord.global_429.lock().unwrap() = Some(Duration::from_secs(60));
    let err = run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap_err();
    assert!(
        matches!(err, ClientError::Throttled(Throttled::RateLimited { global: true, .. })),
        "a 60 s pause is longer than the allowed wait: {err:?}"
    );
    let conn = api::current_user_connections(&Endpoints::discord(), &alice);
    let err = run(driver.call(&discord, &conn, &alice, &NoRefresh)).unwrap_err();
    assert!(matches!(
        err,
        ClientError::Throttled(Throttled::RateLimited { global: true, .. })
    ));
    assert_eq!(
        discord.sent(),
        before + 1,
        "only the request that drew the 429 was sent"
    );
    assert_eq!(discord.instant(), at, "no waiting for a pause longer than allowed");
    run(driver.call(&discord, &guilds_call(&bob), &bob, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), before + 2, "another token is not paused");
}

struct Refresher {
    calls: Mutex<u32>,
    fresh: Option<AccessToken>,
}

impl TokenRefresh for Refresher {
    fn refresh(&self, _rejected: &AccessToken) -> impl Future<Output = Option<AccessToken>> + Send {
        *self.calls.lock().unwrap() += 1;
        std::future::ready(self.fresh.clone())
    }
}

#[test]
fn a_401_refreshes_once_and_retries_once_with_the_new_token() {
    let mut discord = Discord::new(5, Duration::from_secs(1));
    discord.rejected = vec!["stale".into()];
    let driver = driver(ApiDriverConfig::uncached());
    let stale = token("stale");
    let refresher = Refresher {
        calls: Mutex::new(0),
        fresh: Some(token("fresh")),
    };
    let guilds = run(driver.call(&discord, &guilds_call(&stale), &stale, &refresher)).unwrap();
    assert_eq!(guilds.len(), 1);
    assert_eq!(*refresher.calls.lock().unwrap(), 1);
    let tokens: Vec<String> = discord.sent.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(tokens, ["stale", "fresh"]);
}

#[test]
fn a_second_401_ends_the_tokens_use() {
    let mut discord = Discord::new(5, Duration::from_secs(1));
    discord.rejected = vec!["stale".into(), "also-bad".into()];
    let driver = driver(ApiDriverConfig::uncached());
    let stale = token("stale");
    let refresher = Refresher {
        calls: Mutex::new(0),
        fresh: Some(token("also-bad")),
    };
    let err = run(driver.call(&discord, &guilds_call(&stale), &stale, &refresher)).unwrap_err();
    assert!(matches!(err, ClientError::TokenRejected), "{err:?}");
    assert_eq!(*refresher.calls.lock().unwrap(), 1, "one refresh only");
    assert_eq!(discord.sent(), 2, "one retry only");
    let answer = err.refusal("/auth/login?return_to=%2F".into(), false).answer("/");
    assert_eq!(answer.status(), 401);

    // Without a refresh, the first 401 ends it.
    let err = run(driver.call(&discord, &guilds_call(&stale), &stale, &NoRefresh)).unwrap_err();
    assert!(matches!(err, ClientError::TokenRejected));
    assert_eq!(discord.sent(), 3);
}

#[test]
fn the_invalid_request_budget_trips_at_its_threshold() {
    let mut discord = Discord::new(100, Duration::from_secs(1));
    discord.rejected = (0..10).map(|i| format!("bad{i}")).collect();
    let driver = driver(ApiDriverConfig {
        invalid_request_threshold: 3,
        ..ApiDriverConfig::uncached()
    });
    for i in 0..3 {
        let t = token(&format!("bad{i}"));
        let err = run(driver.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
        assert!(matches!(err, ClientError::TokenRejected), "{err:?}");
    }
    assert_eq!(discord.sent(), 3);
    // The threshold is reached: nothing more goes, not even a good token's call.
    let good = token("good");
    let err = run(driver.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap_err();
    let ClientError::Throttled(Throttled::InvalidRequestBudget { retry_after }) = err else {
        panic!("{err:?}")
    };
    assert!(retry_after > Duration::from_secs(590) && retry_after <= Duration::from_secs(610));
    assert_eq!(discord.sent(), 3, "refused without sending");
    // Once the window drained, calls go again.
    *discord.clock.lock().unwrap() += Duration::from_secs(611);
    run(driver.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 4);
}

#[test]
fn what_other_instances_counted_closes_the_budget_here() {
    // Two instances behind one address: `a` draws 401s, `b` only sends good calls. What a
    // runtime would carry between them through a shared store is `a`'s own count.
    let mut discord = Discord::new(100, Duration::from_secs(1));
    discord.rejected = (0..3).map(|i| format!("bad{i}")).collect();
    let config = ApiDriverConfig {
        invalid_request_threshold: 3,
        ..ApiDriverConfig::uncached()
    };
    let (a, b) = (driver(config), driver(config));
    let now = || *discord.clock.lock().unwrap();
    let good = token("good");
    for i in 0..2 {
        let t = token(&format!("bad{i}"));
        run(a.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
    }
    b.set_invalid_requests_elsewhere(a.invalid_requests_here(now()), now());
    run(b.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap();
    assert_eq!(b.invalid_requests_here(now()), 0, "b sent nothing invalid");
    assert_eq!(b.invalid_requests(now()), 2, "below the threshold of 3: b still sends");

    let t = token("bad2");
    run(a.call(&discord, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
    b.set_invalid_requests_elsewhere(a.invalid_requests_here(now()), now());
    let sent = discord.sent();
    let err = run(b.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap_err();
    assert!(
        matches!(err, ClientError::Throttled(Throttled::InvalidRequestBudget { .. })),
        "{err:?}"
    );
    assert_eq!(discord.sent(), sent, "refused without sending");
    // `a`'s own figure never includes what it was told of `b`'s, so nothing is counted twice.
    a.set_invalid_requests_elsewhere(b.invalid_requests_here(now()), now());
    assert_eq!(a.invalid_requests(now()), 3);

    // A newer, lower figure replaces the old one at once.
    b.set_invalid_requests_elsewhere(1, now());
    run(b.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap();
    // A figure that is never refreshed counts for one window at most.
    b.set_invalid_requests_elsewhere(3, now());
    assert!(run(b.call(&discord, &guilds_call(&good), &good, &NoRefresh)).is_err());
    *discord.clock.lock().unwrap() += Duration::from_secs(600);
    run(b.call(&discord, &guilds_call(&good), &good, &NoRefresh)).unwrap();
}

#[test]
fn reads_are_cached_per_token_until_the_ttl_and_dropped_by_writes_and_invalidation() {
    let discord = Discord::new(100, Duration::from_secs(1));
    let driver = driver(ApiDriverConfig {
        cache_ttl: Duration::from_secs(60),
        ..ApiDriverConfig::default()
    });
    let (alice, bob) = (token("alice"), token("bob"));
    for _ in 0..5 {
        run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap();
    }
    assert_eq!(discord.sent(), 1, "one request per TTL");
    run(driver.call(&discord, &guilds_call(&bob), &bob, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 2, "another token's read is its own");

    *discord.clock.lock().unwrap() += Duration::from_secs(60);
    run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 3, "expired after the TTL");

    // A write goes through and drops the token's reads.
    let app = Snowflake::new(159_799_960_412_356_608);
    let put = api::update_role_connection(&Endpoints::discord(), &alice, app, &RoleConnection::new("Example Game"));
    run(driver.call(&discord, &put, &alice, &NoRefresh)).unwrap();
    run(driver.call(&discord, &put, &alice, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 5, "writes are never cached");
    run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 6, "the write dropped the cached read");

    assert_eq!(driver.invalidate_token(&alice), 1);
    run(driver.call(&discord, &guilds_call(&alice), &alice, &NoRefresh)).unwrap();
    assert_eq!(discord.sent(), 7, "invalidated at logout or refresh");
    assert!(driver.stats().cached_entries <= 2);
}

#[test]
fn bot_calls_carry_the_bot_token_and_are_limited_under_its_own_key() {
    let mut discord = Discord::new(1, Duration::from_secs(1));
    discord.rejected = vec!["Bot wrong-bot".into()];
    let driver = driver(ApiDriverConfig::uncached());
    let bot = api::BotToken::new("bot-secret".into());
    let user = token("user");
    // The user's bucket is spent: the bot's call does not wait for it.
    run(driver.call(&discord, &guilds_call(&user), &user, &NoRefresh)).unwrap();
    let call = api::current_application(&Endpoints::discord(), &api::BotToken::new("built-with".into()));
    let answer = run(driver.send_bot(&discord, call.request(), &bot)).unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        discord.waited.lock().unwrap().is_empty(),
        "keyed by the bot token, not the user's"
    );
    let sent = discord.sent.lock().unwrap().clone();
    assert_eq!(sent[1].1, "Bot bot-secret", "sent with the driver's bot token");
    assert_eq!(sent[1].2, "/api/v10/oauth2/applications/@me");
    // The bot's own bucket (limit 1) is spent now: its next call waits for the reset.
    run(driver.send_bot(&discord, call.request(), &bot)).unwrap();
    assert_eq!(discord.waited.lock().unwrap().len(), 1, "the bot's second call waited");
    assert_eq!(discord.count(429), 0);

    // A rejected bot token is not refreshed: the server's configuration is wrong.
    let err = run(driver.send_bot(&discord, call.request(), &api::BotToken::new("wrong-bot".into()))).unwrap_err();
    assert!(matches!(err, ClientError::BotTokenRejected), "{err:?}");
    assert_eq!(discord.sent(), 4, "no retry");
    assert_eq!(err.refusal(String::new(), false).answer("/").status(), 500);
    assert!(!format!("{bot:?}").contains("bot-secret"), "the bot token is redacted");
}

#[test]
fn bot_calls_count_against_the_same_invalid_request_budget() {
    let mut discord = Discord::new(5, Duration::from_secs(1));
    discord.rejected = vec!["Bot wrong-bot".into(), "stale".into()];
    let driver = driver(ApiDriverConfig {
        invalid_request_threshold: 2,
        ..ApiDriverConfig::uncached()
    });
    let bad_bot = api::BotToken::new("wrong-bot".into());
    let call = api::current_application(&Endpoints::discord(), &bad_bot);
    let err = run(driver.call_bot(&discord, &call, &bad_bot)).unwrap_err();
    assert!(matches!(err, ClientError::BotTokenRejected));
    let stale = token("stale");
    let err = run(driver.call(&discord, &guilds_call(&stale), &stale, &NoRefresh)).unwrap_err();
    assert!(matches!(err, ClientError::TokenRejected));
    assert_eq!(driver.invalid_requests(*discord.clock.lock().unwrap()), 2);
    let good = api::BotToken::new("good-bot".into());
    let err = run(driver.call_bot(&discord, &call, &good)).unwrap_err();
    assert!(
        matches!(err, ClientError::Throttled(Throttled::InvalidRequestBudget { .. })),
        "{err:?}"
    );
    assert_eq!(discord.sent(), 2, "nothing was sent once the budget was spent");
}

/// The scripted Discord behind a global-429 breaker that holds the first `held` requests
/// back (they never reach Discord).
struct Breaker {
    discord: Discord,
    held: Mutex<u32>,
    wait: Duration,
}

impl FlowIo for Breaker {
    type Error = String;
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
        let mut held = self.held.lock().unwrap();
        if *held > 0 {
            *held -= 1;
            return std::future::ready(Ok(discord_oauth_core::login::outbound::held_answer(self.wait)));
        }
        drop(held);
        let response = self.discord.answer(&request);
        std::future::ready(Ok(response))
    }
    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.discord.wait(duration)
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
}

impl ClientIo for Breaker {
    fn instant(&self) -> Instant {
        self.discord.instant()
    }
}

#[test]
fn a_call_held_back_by_the_global_breaker_waits_once_then_is_refused() {
    let breaker = Breaker {
        discord: Discord::new(5, Duration::from_secs(1)),
        held: Mutex::new(1),
        wait: Duration::from_millis(800),
    };
    let driver = driver(ApiDriverConfig::uncached());
    let t = token("user");
    let guilds = run(driver.call(&breaker, &guilds_call(&t), &t, &NoRefresh)).unwrap();
    assert_eq!(guilds.len(), 1, "held once, waited out, sent");
    assert_eq!(breaker.discord.sent(), 1);
    assert_eq!(breaker.discord.waited.lock().unwrap().len(), 1);
    assert_eq!(
        driver.invalid_requests(breaker.discord.instant()),
        0,
        "a held answer never reached Discord"
    );

    // Held twice: one wait, then the caller gets the refusal (a 503 with Retry-After), not
    // the local 429 as if Discord had sent it.
    *breaker.held.lock().unwrap() = 2;
    let err = run(driver.call(&breaker, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
    assert!(
        matches!(err, ClientError::Throttled(Throttled::RateLimited { global: true, .. })),
        "{err:?}"
    );
    assert_eq!(breaker.discord.sent(), 1);
    assert_eq!(err.refusal(String::new(), false).answer("/").status(), 503);

    // A hold longer than the allowed wait is refused at once.
    let long = Breaker {
        discord: Discord::new(5, Duration::from_secs(1)),
        held: Mutex::new(1),
        wait: Duration::from_secs(60),
    };
    let err = run(driver.call(&long, &guilds_call(&t), &t, &NoRefresh)).unwrap_err();
    assert!(matches!(err, ClientError::Throttled(_)), "{err:?}");
    assert!(long.discord.waited.lock().unwrap().is_empty());
}
