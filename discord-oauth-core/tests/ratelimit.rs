//! Rate limiting, the invalid-request budget and the per-user read cache, driven with
//! scripted instants: every decision is a function of the answers and times given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use discord_oauth_core::api::cache::{CacheLimits, ReadCache, cache_key};
use discord_oauth_core::api::ratelimit::{
    Acquire, DEFAULT_RETRY_AFTER, DEFAULT_UNKNOWN_BUCKET_POLL, InvalidRequestBudget, MAX_ROUTE_BYTES, Outcome,
    PauseScope, Permit, RateLimiter, RateLimiterConfig, RouteKey, Throttled, TokenKey, WaitReason,
};
use discord_oauth_core::api::{self, AddGuildMember, BotToken, GuildsQuery, RoleConnection};
use discord_oauth_core::login::outbound::held_answer;
use discord_oauth_core::{AccessToken, Endpoints, Snowflake};
use http::{HeaderMap, Method};

const GUILD: u64 = 197_038_439_483_310_086;
const OTHER_GUILD: u64 = 613_425_648_685_547_541;
const APP: u64 = 159_799_960_412_356_608;
const USER: u64 = 80_351_110_224_678_912;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn bucket_headers(hash: &str, limit: u32, remaining: u32, reset_after: &str) -> HeaderMap {
    headers(&[
        ("x-ratelimit-bucket", hash),
        ("x-ratelimit-limit", &limit.to_string()),
        ("x-ratelimit-remaining", &remaining.to_string()),
        ("x-ratelimit-reset-after", reset_after),
    ])
}

fn token(n: u8) -> TokenKey {
    TokenKey::from_bytes([n; 16])
}

fn route(path: &str) -> RouteKey {
    RouteKey::new(Method::GET, path)
}

#[track_caller]
fn permit(acquired: Acquire) -> Permit {
    match acquired {
        Acquire::Permit(permit) => permit,
        other => panic!("expected a permit, got {other:?}"),
    }
}

#[track_caller]
fn wait(acquired: Acquire) -> (Instant, WaitReason) {
    match acquired {
        Acquire::Wait { until, reason } => (until, reason),
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[track_caller]
fn refused(acquired: Acquire) -> Throttled {
    match acquired {
        Acquire::Refuse(throttled) => throttled,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and tokens

#[test]
fn route_keys_of_the_user_endpoints_the_core_models() {
    let endpoints = Endpoints::discord();
    let user = AccessToken::new("user-token".into());
    let bot = BotToken::new("bot-token".into());
    let page = GuildsQuery {
        after: Some(Snowflake::new(USER)),
        limit: Some(200),
        with_counts: true,
        ..Default::default()
    };
    let cases: Vec<(http::Request<Vec<u8>>, &str)> = vec![
        (api::current_user(&endpoints, &user).request(), "GET users/@me"),
        (
            api::current_user_guilds(&endpoints, &user, &GuildsQuery::default()).request(),
            "GET users/@me/guilds",
        ),
        (
            api::current_user_guilds(&endpoints, &user, &page).request(),
            "GET users/@me/guilds",
        ),
        (
            api::current_user_guild_member(&endpoints, &user, Snowflake::new(GUILD)).request(),
            "GET users/@me/guilds/{id}/member (guilds/197038439483310086)",
        ),
        (
            api::current_user_connections(&endpoints, &user).request(),
            "GET users/@me/connections",
        ),
        (
            api::get_role_connection(&endpoints, &user, Snowflake::new(APP)).request(),
            "GET users/@me/applications/{id}/role-connection",
        ),
        (
            api::update_role_connection(&endpoints, &user, Snowflake::new(APP), &RoleConnection::new("Game")).request(),
            "PUT users/@me/applications/{id}/role-connection",
        ),
        (
            api::current_authorization(&endpoints, &user).request(),
            "GET oauth2/@me",
        ),
        (api::userinfo(&endpoints, &user).request(), "GET oauth2/userinfo"),
        (
            api::current_application(&endpoints, &bot).request(),
            "GET oauth2/applications/@me",
        ),
        (
            api::add_guild_member(
                &endpoints,
                &bot,
                Snowflake::new(GUILD),
                Snowflake::new(USER),
                &user,
                &AddGuildMember::default(),
            )
            .request(),
            "PUT guilds/{id}/members/{id} (guilds/197038439483310086)",
        ),
        (api::keys(&endpoints).request(), "GET oauth2/keys"),
    ];
    for (request, expected) in cases {
        assert_eq!(
            RouteKey::from_request(&request, &endpoints).to_string(),
            expected,
            "{}",
            request.uri()
        );
    }
}

#[test]
fn every_page_of_the_guild_list_is_one_route_and_each_guild_its_own_major() {
    let endpoints = Endpoints::discord();
    let user = AccessToken::new("user-token".into());
    let first = api::current_user_guilds(&endpoints, &user, &GuildsQuery::default()).request();
    let second = GuildsQuery {
        after: Some(Snowflake::new(USER)),
        ..Default::default()
    };
    let second = api::current_user_guilds(&endpoints, &user, &second).request();
    assert_eq!(
        RouteKey::from_request(&first, &endpoints),
        RouteKey::from_request(&second, &endpoints)
    );
    let member = |guild| RouteKey::new(Method::GET, &format!("users/@me/guilds/{guild}/member"));
    assert_ne!(member(GUILD), member(OTHER_GUILD));
    assert_eq!(member(GUILD).path(), member(OTHER_GUILD).path());
    assert_ne!(
        RouteKey::new(Method::GET, "users/@me/applications/1/role-connection"),
        RouteKey::new(Method::PUT, "users/@me/applications/1/role-connection"),
        "the method is part of the route"
    );
    assert_eq!(
        RouteKey::new(Method::GET, "users/@me/applications/1/role-connection"),
        RouteKey::new(Method::GET, "users/@me/applications/2/role-connection"),
        "an application id is not a major parameter"
    );
}

#[test]
fn route_keys_under_other_api_bases() {
    let mock = Endpoints::new(
        "http://127.0.0.1:8080/oauth2/authorize".parse().unwrap(),
        "http://127.0.0.1:8080/api/v10".parse().unwrap(),
    )
    .unwrap();
    let root = Endpoints::new(
        "http://127.0.0.1:9000/oauth2/authorize".parse().unwrap(),
        "http://127.0.0.1:9000".parse().unwrap(),
    )
    .unwrap();
    let user = AccessToken::new("t".into());
    for endpoints in [&mock, &root, &Endpoints::legacy_discordapp()] {
        let request = api::current_user_connections(endpoints, &user).request();
        assert_eq!(
            RouteKey::from_request(&request, endpoints).to_string(),
            "GET users/@me/connections",
            "{}",
            request.uri()
        );
    }
    // A request to another base still loses the /api/v{N} prefix.
    let request = api::current_user(&Endpoints::discord(), &user).request();
    assert_eq!(RouteKey::from_request(&request, &root).path(), "users/@me");
    let unversioned = http::Request::get("https://discord.com/api/users/@me")
        .body(())
        .unwrap();
    assert_eq!(RouteKey::from_request(&unversioned, &root).path(), "users/@me");
}

#[test]
fn route_keys_never_hold_webhook_tokens_and_stay_short() {
    let key = RouteKey::new(
        Method::POST,
        "webhooks/223704706495545344/3d89bb7572e0fb30d8128367b3b1b44f?wait=true",
    );
    assert_eq!(
        key.to_string(),
        "POST webhooks/{id}/{token} (webhooks/223704706495545344)"
    );
    assert!(!format!("{key:?}").contains("3d89bb75"));
    let key = RouteKey::new(Method::POST, "interactions/1/aW50ZXJhY3Rpb24.secret/callback");
    assert_eq!(key.path(), "interactions/{id}/{token}/callback");
    assert!(!format!("{key:?}").contains("secret"));

    let long = format!("custom/{}", "é".repeat(400));
    let key = RouteKey::new(Method::GET, &long);
    assert!(key.path().len() <= MAX_ROUTE_BYTES, "{}", key.path().len());
    assert!(key.path().starts_with("custom/é"));
    let many = "a/".repeat(1_000);
    assert!(RouteKey::new(Method::GET, &many).path().len() <= MAX_ROUTE_BYTES);
}

#[test]
fn token_keys_follow_the_credential_and_hide_it() {
    let endpoints = Endpoints::discord();
    let alice = AccessToken::new("alice-token".into());
    let bob = AccessToken::new("bob-token".into());
    let bot = BotToken::new("alice-token".into());
    let alice_key = TokenKey::from_request(&api::current_user(&endpoints, &alice).request());
    assert_eq!(alice_key, TokenKey::bearer(&alice));
    assert_ne!(alice_key, TokenKey::bearer(&bob));
    assert_ne!(alice_key, TokenKey::bot(&bot), "a bot token is not a bearer token");
    assert_eq!(
        TokenKey::from_request(&api::current_application(&endpoints, &bot).request()),
        TokenKey::bot(&bot)
    );
    assert_eq!(
        TokenKey::from_request(&api::keys(&endpoints).request()),
        TokenKey::ANONYMOUS
    );
    assert!(!format!("{alice_key:?}").contains("alice"));
    assert_eq!(
        TokenKey::credential(api::Credential::Bearer(&alice)),
        TokenKey::bearer(&alice)
    );
}

// ---------------------------------------------------------------------------------------------
// The limiter

#[test]
fn an_unknown_bucket_lets_one_request_through_until_its_first_answer() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let guilds = route("users/@me/guilds");
    let first = permit(limiter.acquire(token(1), &guilds, t0));
    for n in 0..9 {
        let (until, reason) = wait(limiter.acquire(token(1), &guilds, t0 + ms(n)));
        assert_eq!(reason, WaitReason::UnknownBucket);
        assert_eq!(until, t0 + ms(n) + DEFAULT_UNKNOWN_BUCKET_POLL);
    }
    // Another token, and another route of the same token, are not held.
    let other_token = permit(limiter.acquire(token(2), &guilds, t0));
    let other_route = permit(limiter.acquire(token(1), &route("users/@me"), t0));

    // The answer: 5 per 5 s, 4 left: four more may go at once, the fifth waits for the reset.
    let t1 = t0 + ms(80);
    let outcome = limiter.record(first, 200, &bucket_headers("guilds", 5, 4, "5"), b"[]", t1);
    assert_eq!(outcome, Outcome::Recorded);
    assert_eq!(limiter.bucket_hash(&guilds), Some("guilds"));
    let next: Vec<Permit> = (0..4).map(|_| permit(limiter.acquire(token(1), &guilds, t1))).collect();
    assert_eq!(next.len(), 4);
    let (until, reason) = wait(limiter.acquire(token(1), &guilds, t1));
    assert_eq!((until, reason), (t1 + secs(5), WaitReason::BucketExhausted));
    limiter.release(other_token, t1);
    limiter.release(other_route, t1);
}

#[test]
fn an_exhausted_bucket_waits_exactly_until_its_reset() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let member = route(&format!("users/@me/guilds/{GUILD}/member"));
    let first = permit(limiter.acquire(token(1), &member, t0));
    let t1 = t0 + ms(120);
    limiter.record(first, 200, &bucket_headers("member", 5, 0, "2"), b"{}", t1);

    let (until, reason) = wait(limiter.acquire(token(1), &member, t1));
    assert_eq!(until, t1 + secs(2), "exactly the reset");
    assert_eq!(reason, WaitReason::BucketExhausted);
    let (until, _) = wait(limiter.acquire(token(1), &member, t1 + ms(1_999) + Duration::from_nanos(999_999)));
    assert_eq!(until, t1 + secs(2));
    // At the reset the bucket is full again: the limit (5) may go.
    let after: Vec<Permit> = (0..5)
        .map(|_| permit(limiter.acquire(token(1), &member, t1 + secs(2))))
        .collect();
    assert_eq!(after.len(), 5);
    let (_, reason) = wait(limiter.acquire(token(1), &member, t1 + secs(2)));
    assert_eq!(reason, WaitReason::BucketExhausted);
}

#[test]
fn an_answer_that_arrives_late_gives_back_no_spent_turn() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let member = route(&format!("users/@me/guilds/{GUILD}/member"));
    let first = permit(limiter.acquire(token(1), &member, t0));
    limiter.record(first, 200, &bucket_headers("member", 3, 2, "2"), b"{}", t0 + ms(10));
    let second = permit(limiter.acquire(token(1), &member, t0 + ms(20)));
    let third = permit(limiter.acquire(token(1), &member, t0 + ms(20)));
    // Discord served the second before the third, but the third's answer arrives first.
    limiter.record(third, 200, &bucket_headers("member", 3, 0, "2"), b"{}", t0 + ms(30));
    limiter.record(second, 200, &bucket_headers("member", 3, 1, "2"), b"{}", t0 + ms(40));
    let (_, reason) = wait(limiter.acquire(token(1), &member, t0 + ms(50)));
    assert_eq!(
        reason,
        WaitReason::BucketExhausted,
        "the late answer's Remaining: 1 is stale"
    );
}

#[test]
fn a_bucket_hash_is_shared_by_its_routes_but_kept_per_token_and_per_major_parameter() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let in_guild = route(&format!("users/@me/guilds/{GUILD}/member"));
    let in_other_guild = route(&format!("users/@me/guilds/{OTHER_GUILD}/member"));
    let first = permit(limiter.acquire(token(1), &in_guild, t0));
    limiter.record(first, 200, &bucket_headers("member", 1, 0, "2"), b"{}", t0);
    let (_, reason) = wait(limiter.acquire(token(1), &in_guild, t0 + ms(1)));
    assert_eq!(reason, WaitReason::BucketExhausted);
    // Same bucket hash, another guild: its own state (unknown for now, so one at a time).
    let other = permit(limiter.acquire(token(1), &in_other_guild, t0 + ms(1)));
    assert_eq!(limiter.bucket_hash(&in_other_guild), Some("member"));
    let (_, reason) = wait(limiter.acquire(token(1), &in_other_guild, t0 + ms(1)));
    assert_eq!(reason, WaitReason::UnknownBucket);
    limiter.record(other, 200, &bucket_headers("member", 5, 4, "10"), b"{}", t0 + ms(2));
    let _more = permit(limiter.acquire(token(1), &in_other_guild, t0 + ms(2)));
    // Same guild, another token: its own state.
    let _theirs = permit(limiter.acquire(token(2), &in_guild, t0 + ms(2)));

    // Two routes Discord puts in one bucket share it once both are known.
    let read = route("users/@me/applications/1/role-connection");
    let write = RouteKey::new(Method::PUT, "users/@me/applications/1/role-connection");
    let p = permit(limiter.acquire(token(3), &read, t0));
    limiter.record(p, 200, &bucket_headers("role-connection", 2, 1, "2"), b"{}", t0);
    let p = permit(limiter.acquire(token(3), &write, t0));
    limiter.record(p, 200, &bucket_headers("role-connection", 2, 1, "2"), b"{}", t0);
    let _last = permit(limiter.acquire(token(3), &read, t0));
    let (_, reason) = wait(limiter.acquire(token(3), &write, t0));
    assert_eq!(
        reason,
        WaitReason::BucketExhausted,
        "the write finds the read's bucket spent"
    );
}

#[test]
fn a_global_429_pauses_every_route_of_that_token_and_no_other_token() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let guilds = route("users/@me/guilds");
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &guilds, t0));
    let body = br#"{"message":"You are being rate limited.","retry_after":1.5,"global":true}"#;
    let outcome = limiter.record(p, 429, &headers(&[("x-ratelimit-global", "true")]), body, t0);
    assert_eq!(
        outcome,
        Outcome::RateLimited {
            scope: PauseScope::Token,
            retry_after: ms(1500),
            until: t0 + ms(1500),
            shared: false
        }
    );
    for r in [&guilds, &me, &route("users/@me/connections")] {
        assert_eq!(
            wait(limiter.acquire(token(1), r, t0 + ms(10))),
            (t0 + ms(1500), WaitReason::TokenRateLimited),
            "{r}"
        );
    }
    assert_eq!(limiter.token_paused_for(token(1), t0 + ms(500)), Some(ms(1000)));
    let _other = permit(limiter.acquire(token(2), &me, t0 + ms(10)));
    let _again = permit(limiter.acquire(token(1), &me, t0 + ms(1500)));
    assert_eq!(limiter.token_paused_for(token(1), t0 + ms(1500)), None);
}

#[test]
fn a_route_429_pauses_only_that_route() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let guilds = route("users/@me/guilds");
    let p = permit(limiter.acquire(token(1), &guilds, t0));
    let hdrs = headers(&[
        ("retry-after", "3"),
        ("x-ratelimit-bucket", "guilds"),
        ("x-ratelimit-limit", "1"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset-after", "2.5"),
        ("x-ratelimit-scope", "user"),
    ]);
    let body = br#"{"message":"You are being rate limited.","retry_after":2.5,"global":false}"#;
    let outcome = limiter.record(p, 429, &hdrs, body, t0);
    assert!(
        matches!(
            outcome,
            Outcome::RateLimited {
                scope: PauseScope::Route,
                shared: false,
                ..
            }
        ),
        "{outcome:?}"
    );
    let (until, reason) = wait(limiter.acquire(token(1), &guilds, t0));
    assert_eq!((until, reason), (t0 + ms(2500), WaitReason::RouteRateLimited));
    let _me = permit(limiter.acquire(token(1), &route("users/@me"), t0));
}

#[test]
fn a_shared_429_pauses_the_route_and_says_it_was_shared() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let join = RouteKey::new(Method::PUT, &format!("guilds/{GUILD}/members/{USER}"));
    let p = permit(limiter.acquire(token(9), &join, t0));
    let hdrs = headers(&[("x-ratelimit-scope", "shared"), ("x-ratelimit-bucket", "join")]);
    let outcome = limiter.record(p, 429, &hdrs, br#"{"retry_after":0.75,"global":false}"#, t0);
    assert_eq!(
        outcome,
        Outcome::RateLimited {
            scope: PauseScope::Route,
            retry_after: ms(750),
            until: t0 + ms(750),
            shared: true
        }
    );
}

#[test]
fn retry_after_in_the_body_beats_the_header() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    let outcome = limiter.record(
        p,
        429,
        &headers(&[("retry-after", "4"), ("x-ratelimit-bucket", "me")]),
        br#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#,
        t0,
    );
    let Outcome::RateLimited { retry_after, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(retry_after, ms(250));
    assert_eq!(wait(limiter.acquire(token(1), &me, t0)).0, t0 + ms(250));
}

#[test]
fn an_html_429_with_only_retry_after_pauses_the_whole_token_for_that_long() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    let html = b"<!DOCTYPE html><html><title>Error 1015</title><body>You are being rate limited</body></html>";
    let outcome = limiter.record(p, 429, &headers(&[("retry-after", "3")]), html, t0);
    assert_eq!(
        outcome,
        Outcome::RateLimited {
            scope: PauseScope::Token,
            retry_after: secs(3),
            until: t0 + secs(3),
            shared: false
        }
    );
    assert_eq!(
        wait(limiter.acquire(token(1), &route("users/@me/guilds"), t0 + ms(1))),
        (t0 + secs(3), WaitReason::TokenRateLimited)
    );
    let _ = permit(limiter.acquire(token(1), &me, t0 + secs(3)));
}

#[test]
fn an_html_429_that_names_no_time_waits_the_documented_default() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    let outcome = limiter.record(p, 429, &HeaderMap::new(), b"<html>Too Many Requests</html>", t0);
    assert_eq!(DEFAULT_RETRY_AFTER, secs(10));
    assert_eq!(
        outcome,
        Outcome::RateLimited {
            scope: PauseScope::Token,
            retry_after: DEFAULT_RETRY_AFTER,
            until: t0 + DEFAULT_RETRY_AFTER,
            shared: false
        }
    );
    // Longer than the 5 s a request may wait: refused at once, with the time to render.
    let throttled = refused(limiter.acquire(token(1), &me, t0 + secs(1)));
    assert_eq!(
        throttled,
        Throttled::RateLimited {
            retry_after: secs(9),
            global: true
        }
    );
    assert_eq!(throttled.retry_after_secs(), 9);
    // A waiter allowed longer is told to wait instead.
    let (until, _) = wait(limiter.acquire_before(token(1), &me, t0 + secs(1), t0 + secs(30)));
    assert_eq!(until, t0 + DEFAULT_RETRY_AFTER);
}

#[test]
fn a_wait_longer_than_the_bound_is_a_typed_error() {
    let config = RateLimiterConfig {
        max_wait: secs(2),
        ..RateLimiterConfig::default()
    };
    let mut limiter = RateLimiter::new(config);
    let t0 = Instant::now();
    let guilds = route("users/@me/guilds");
    let p = permit(limiter.acquire(token(1), &guilds, t0));
    limiter.record(p, 200, &bucket_headers("guilds", 1, 0, "2.5"), b"[]", t0);
    let throttled = refused(limiter.acquire(token(1), &guilds, t0));
    assert_eq!(
        throttled,
        Throttled::RateLimited {
            retry_after: ms(2500),
            global: false
        }
    );
    assert_eq!(throttled.retry_after_secs(), 3);
    // Half a second later the wait is within the bound.
    assert_eq!(
        wait(limiter.acquire(token(1), &guilds, t0 + ms(500))),
        (t0 + ms(2500), WaitReason::BucketExhausted)
    );
    // A caller whose own deadline is closer is refused even so.
    assert!(matches!(
        limiter.acquire_before(token(1), &guilds, t0 + ms(500), t0 + secs(1)),
        Acquire::Refuse(Throttled::RateLimited { .. })
    ));
}

#[test]
fn fifty_requests_per_second_per_token() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    // Distinct routes, so that no bucket holds anything back: only the global limit.
    let routes: Vec<RouteKey> = (0..60).map(|n| route(&format!("custom/route-{n}"))).collect();
    for (n, r) in routes.iter().take(50).enumerate() {
        let _ = permit(limiter.acquire(token(1), r, t0 + ms(10 * n as u64)));
    }
    // The 51st within the same second waits until the first one is a second old.
    let (until, reason) = wait(limiter.acquire(token(1), &routes[50], t0 + ms(600)));
    assert_eq!((until, reason), (t0 + secs(1), WaitReason::GlobalLimit));
    assert!(reason.is_token_wide());
    // Another token has its own 50.
    let _ = permit(limiter.acquire(token(2), &routes[50], t0 + ms(600)));
    // A second after the first, one more may go; the next waits for the second one.
    let _ = permit(limiter.acquire(token(1), &routes[50], t0 + secs(1)));
    assert_eq!(
        wait(limiter.acquire(token(1), &routes[51], t0 + secs(1))),
        (t0 + secs(1) + ms(10), WaitReason::GlobalLimit)
    );
    // Sliding: over any second, never more than 50.
    let mut sent = vec![];
    let mut now = t0 + secs(5);
    let mut limiter = RateLimiter::default();
    for n in 0..500 {
        let r = route(&format!("custom/sliding-{n}"));
        loop {
            match limiter.acquire(token(3), &r, now) {
                Acquire::Permit(_) => {
                    sent.push(now);
                    break;
                }
                Acquire::Wait { until, .. } => now = until,
                Acquire::Refuse(e) => panic!("{e}"),
            }
        }
        now += ms(3);
    }
    for (i, start) in sent.iter().enumerate() {
        let in_window = sent[i..].iter().take_while(|t| **t < *start + secs(1)).count();
        assert!(in_window <= 50, "{in_window} requests in the second after request {i}");
    }
}

#[test]
fn a_released_permit_frees_an_unknown_bucket_and_a_lost_one_times_out() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    let _ = wait(limiter.acquire(token(1), &me, t0));
    limiter.release(p, t0 + ms(5));
    let lost = permit(limiter.acquire(token(1), &me, t0 + ms(5)));
    let (until, reason) = wait(limiter.acquire(token(1), &me, t0 + secs(29) + ms(950)));
    assert_eq!(reason, WaitReason::UnknownBucket);
    assert_eq!(until, t0 + ms(5) + secs(30), "woken when the lost permit times out");
    drop(lost);
    let _ = permit(limiter.acquire(token(1), &me, t0 + ms(5) + secs(30)));
}

#[test]
fn an_answer_without_rate_limit_headers_opens_the_route() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("oauth2/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    limiter.record(p, 200, &HeaderMap::new(), b"{}", t0);
    let many: Vec<Permit> = (0..10).map(|_| permit(limiter.acquire(token(1), &me, t0))).collect();
    assert_eq!(many.len(), 10);
    // A 502 from a proxy teaches nothing: the next route stays one at a time.
    let r = route("users/@me/connections");
    let p = permit(limiter.acquire(token(1), &r, t0));
    limiter.record(p, 502, &HeaderMap::new(), b"<html>Bad gateway</html>", t0);
    let _one = permit(limiter.acquire(token(1), &r, t0));
    assert_eq!(wait(limiter.acquire(token(1), &r, t0)).1, WaitReason::UnknownBucket);
}

#[test]
fn remaining_counts_requests_still_in_flight() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let guilds = route("users/@me/guilds");
    let first = permit(limiter.acquire(token(1), &guilds, t0));
    limiter.record(first, 200, &bucket_headers("guilds", 5, 4, "5"), b"[]", t0);
    let a = permit(limiter.acquire(token(1), &guilds, t0));
    let _b = permit(limiter.acquire(token(1), &guilds, t0));
    // `a` is answered first with Remaining 3; `_b` is still out: only 2 may go.
    limiter.record(a, 200, &bucket_headers("guilds", 5, 3, "5"), b"[]", t0 + ms(1));
    let _c = permit(limiter.acquire(token(1), &guilds, t0 + ms(1)));
    let _d = permit(limiter.acquire(token(1), &guilds, t0 + ms(1)));
    assert_eq!(
        wait(limiter.acquire(token(1), &guilds, t0 + ms(1))).1,
        WaitReason::BucketExhausted
    );
}

#[test]
fn a_held_answer_only_gives_the_permit_back() {
    let mut limiter = RateLimiter::default();
    let t0 = Instant::now();
    let me = route("users/@me");
    let p = permit(limiter.acquire(token(1), &me, t0));
    let held = held_answer(secs(20));
    let outcome = limiter.record(p, 429, held.headers(), held.body(), t0);
    assert_eq!(outcome, Outcome::Recorded);
    assert_eq!(limiter.token_paused_for(token(1), t0), None);
    let _ = permit(limiter.acquire(token(1), &me, t0));
}

#[test]
fn every_map_stays_within_its_bound_under_100_000_routes_and_tokens() {
    let config = RateLimiterConfig::default();
    let mut limiter = RateLimiter::new(config);
    let t0 = Instant::now();
    for n in 0..100_000u32 {
        let now = t0 + ms(u64::from(n));
        let who = TokenKey::from_bytes(u128::from(n).to_le_bytes());
        let r = route(&format!("custom/{n}/x{n}"));
        let p = permit(limiter.acquire(who, &r, now));
        let hdrs = bucket_headers(&format!("hash-{n}"), 1, 0, "60");
        if n % 3 == 0 {
            limiter.record(p, 429, &hdrs, br#"{"retry_after":60,"global":true}"#, now);
        } else {
            limiter.record(p, 200, &hdrs, b"{}", now);
        }
        let stats = limiter.stats();
        assert!(stats.tokens <= config.max_tokens, "{n}: {stats:?}");
        assert!(stats.buckets <= config.max_buckets, "{n}: {stats:?}");
        assert!(stats.routes <= config.max_routes, "{n}: {stats:?}");
    }
    let stats = limiter.stats();
    assert!(stats.tokens > config.max_tokens / 2, "{stats:?}");
    assert!(stats.routes > config.max_routes / 2, "{stats:?}");
    limiter.sweep(t0 + secs(100_000));
    assert_eq!(limiter.stats().tokens, 0);
    assert_eq!(limiter.stats().buckets, 0);
}

// ---------------------------------------------------------------------------------------------
// The invalid-request budget

#[test]
fn the_budget_trips_at_its_threshold_and_recovers_as_the_window_drains() {
    let mut budget = InvalidRequestBudget::default();
    assert_eq!(budget.threshold(), 2_000);
    let t0 = Instant::now();
    for _ in 0..1_000 {
        assert!(budget.record(401, None, t0));
    }
    let t1 = t0 + secs(300);
    for _ in 0..999 {
        assert!(budget.record(403, None, t1));
    }
    assert!(budget.allow(t1));
    assert_eq!(budget.check(t1), Ok(()));
    assert!(budget.record(429, Some("user"), t1));
    assert_eq!(budget.count(t1), 2_000);
    assert!(!budget.allow(t1));
    // The first thousand leave the window 10 minutes (and at most 10 s more) after t0.
    let throttled = budget.check(t1).unwrap_err();
    assert_eq!(throttled, Throttled::InvalidRequestBudget { retry_after: secs(310) });
    assert!(!budget.allow(t0 + secs(609)));
    assert!(budget.allow(t0 + secs(610)));
    assert_eq!(budget.count(t0 + secs(610)), 1_000);
    assert_eq!(budget.count(t1 + secs(610)), 0);
}

#[test]
fn shared_scope_429s_and_other_statuses_do_not_count() {
    let mut budget = InvalidRequestBudget::new(1);
    let t0 = Instant::now();
    assert!(!budget.record_answer(429, &headers(&[("x-ratelimit-scope", "shared")]), t0));
    assert!(!budget.record_answer(429, &headers(&[("X-RateLimit-Scope", "Shared")]), t0));
    for status in [200, 204, 400, 404, 500, 502] {
        assert!(!budget.record_answer(status, &HeaderMap::new(), t0), "{status}");
    }
    let held = held_answer(secs(5));
    assert!(
        !budget.record_answer(429, held.headers(), t0),
        "never sent, never counted"
    );
    assert!(budget.allow(t0));
    assert!(budget.record_answer(429, &headers(&[("x-ratelimit-scope", "global")]), t0));
    assert!(!budget.allow(t0));
}

#[test]
fn the_budget_has_a_fixed_size_whatever_it_counts() {
    // No heap: 61 counters, whatever the traffic.
    assert!(std::mem::size_of::<InvalidRequestBudget>() <= 1_100);
    let mut budget = InvalidRequestBudget::new(u32::MAX);
    let t0 = Instant::now();
    for n in 0..200_000u64 {
        budget.record(401, None, t0 + ms(n * 5));
    }
    // 200,000 answers over 1,000 s, 2,000 per 10-second slot: the window (the current slot
    // and the 60 before it) holds 61 of them.
    let end = t0 + ms(199_999 * 5);
    assert_eq!(budget.count(end), 61 * 2_000);
    assert_eq!(budget.slots(end).len(), 61);
}

#[test]
fn counts_from_elsewhere_add_up_and_expire() {
    let mut budget = InvalidRequestBudget::new(100);
    let t0 = Instant::now();
    budget.add(40, t0);
    budget.set_elsewhere(60, t0 + secs(30));
    assert_eq!(budget.local_count(t0 + secs(30)), 40);
    assert_eq!(budget.count(t0 + secs(30)), 100);
    assert!(!budget.allow(t0 + secs(30)));
    // The local 40 leave first (t0 + 610 s): still 60 < 100, allowed from then on.
    assert_eq!(budget.retry_after(t0 + secs(30)), Some(secs(580)));
    assert!(budget.allow(t0 + secs(610)));
    budget.set_elsewhere(100, t0 + secs(610));
    assert!(!budget.allow(t0 + secs(611)));
    assert_eq!(budget.retry_after(t0 + secs(611)), Some(secs(599)));
    assert!(budget.allow(t0 + secs(1_210)));
    assert_eq!(budget.slots(t0 + secs(5)), vec![(t0, 40)]);
}

// ---------------------------------------------------------------------------------------------
// The read cache

#[test]
fn the_cache_serves_until_the_ttl_then_expires() {
    let mut cache: ReadCache<u64> = ReadCache::new(CacheLimits::default());
    let t0 = Instant::now();
    assert!(cache.insert(1, "/api/v10/users/@me/guilds", b"[1]".to_vec(), t0, secs(30)));
    assert_eq!(
        cache.get(&1, "/api/v10/users/@me/guilds", t0 + secs(29)).as_deref(),
        Some(&b"[1]"[..])
    );
    assert!(cache.get(&1, "/api/v10/users/@me/guilds", t0 + secs(30)).is_none());
    assert!(cache.get(&1, "/api/v10/users/@me/connections", t0).is_none());
    assert!(
        !cache.insert(1, "/k", b"x".to_vec(), t0, Duration::ZERO),
        "no lifetime, no entry"
    );
    // Replacing an entry keeps one entry and the new bytes.
    assert!(cache.insert(1, "/api/v10/users/@me/guilds", b"[1,2]".to_vec(), t0, secs(30)));
    assert_eq!(cache.len(), 1);
    assert_eq!(
        cache.get(&1, "/api/v10/users/@me/guilds", t0).as_deref(),
        Some(&b"[1,2]"[..])
    );
    cache.sweep(t0 + secs(31));
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
}

#[test]
fn the_cache_invalidates_one_user_and_keeps_the_others() {
    let mut cache: ReadCache<u64> = ReadCache::new(CacheLimits::default());
    let t0 = Instant::now();
    for user in 1..=3 {
        cache.insert(user, "/a", b"a".to_vec(), t0, secs(60));
        cache.insert(user, "/b", b"b".to_vec(), t0, secs(60));
    }
    assert_eq!(cache.invalidate_user(&2), 2);
    assert!(cache.get(&2, "/a", t0).is_none());
    assert!(cache.get(&1, "/a", t0).is_some());
    assert!(cache.get(&3, "/b", t0).is_some());
    assert_eq!(cache.len(), 4);
    assert!(cache.invalidate(&1, "/a"));
    assert!(!cache.invalidate(&1, "/a"));
    assert_eq!(cache.len(), 3);
}

#[test]
fn the_cache_stays_within_entries_bytes_and_per_user_under_100_000_users() {
    let limits = CacheLimits {
        entries: 1_000,
        bytes: 256 * 1024,
        per_user: 4,
    };
    let mut cache: ReadCache<u32> = ReadCache::new(limits);
    let t0 = Instant::now();
    for n in 0..100_000u32 {
        let body = vec![b'x'; (n % 700) as usize];
        assert!(cache.insert(
            n,
            &format!("/api/v10/users/@me/guilds?after={n}"),
            body,
            t0,
            secs(3_600)
        ));
        assert!(cache.len() <= limits.entries, "{n}: {}", cache.len());
        assert!(cache.bytes() <= limits.bytes, "{n}: {}", cache.bytes());
    }
    assert!(cache.len() > limits.entries / 2);
    // One user paging through many guilds keeps only their newest few.
    for page in 0..50u64 {
        cache.insert(
            7,
            &format!("/api/v10/users/@me/guilds?after={page}"),
            b"[]".to_vec(),
            t0 + secs(page),
            secs(60),
        );
    }
    assert_eq!(cache.user_len(&7), 4);
    assert!(
        cache
            .get(&7, "/api/v10/users/@me/guilds?after=49", t0 + secs(50))
            .is_some()
    );
    assert!(
        cache
            .get(&7, "/api/v10/users/@me/guilds?after=0", t0 + secs(50))
            .is_none()
    );
    // A body over the byte bound is never cached.
    assert!(!cache.insert(8, "/big", vec![0; 256 * 1024], t0, secs(60)));
    // The counters match what is held.
    let held = cache.len();
    let mut removed = 0;
    for n in 0..100_000u32 {
        removed += cache.invalidate_user(&n);
    }
    assert_eq!(removed, held);
    assert_eq!(cache.bytes(), 0);
    assert_eq!(cache.users(), 0);
}

#[test]
fn cache_keys_keep_pages_apart_and_never_cache_writes() {
    let endpoints = Endpoints::discord();
    let user = AccessToken::new("t".into());
    let first = api::current_user_guilds(&endpoints, &user, &GuildsQuery::default()).request();
    let second = GuildsQuery {
        after: Some(Snowflake::new(USER)),
        ..Default::default()
    };
    let second = api::current_user_guilds(&endpoints, &user, &second).request();
    assert_ne!(cache_key(&first), cache_key(&second));
    assert_eq!(
        cache_key(&second).as_deref(),
        Some("/api/v10/users/@me/guilds?after=80351110224678912")
    );
    let write =
        api::update_role_connection(&endpoints, &user, Snowflake::new(APP), &RoleConnection::new("G")).request();
    assert_eq!(cache_key(&write), None);
}

#[test]
fn tiny_bounds_hold_too() {
    let config = RateLimiterConfig {
        max_tokens: 0,
        max_buckets: 0,
        max_routes: 0,
        ..RateLimiterConfig::default()
    };
    let mut limiter = RateLimiter::new(config);
    let t0 = Instant::now();
    for n in 0..100u8 {
        let r = route(&format!("custom/{n}"));
        let p = permit(limiter.acquire(token(n), &r, t0));
        limiter.record(p, 200, &bucket_headers(&format!("h{n}"), 1, 0, "1"), b"{}", t0);
        let stats = limiter.stats();
        assert!(
            stats.tokens <= 1 && stats.buckets <= 1 && stats.routes <= 1,
            "{stats:?}"
        );
    }
}
