//! Several instances of one sample site sharing a Redis session store, one mock Discord and
//! one `SESSION_KEY`, as behind a load balancer. Run by `tests/redis.rs`.
//!
//! The scenarios taking a URL use the shared Redis (`REDIS_URL`); the ones named `redis_…` or
//! `stored_…` start a `redis-server` of their own, because they stop it or inspect its keys;
//! `refresh_race_with_the_cache_off_refreshes_once` needs no Redis.

use std::time::{Duration, Instant};

use discord_oauth_mock::{Endpoint, Fault, fixture};
use fred::clients::Client;
use fred::interfaces::{ClientLike as _, KeysInterface as _};
use fred::types::{ClusterHash, CustomCommand};
use futures::future::join_all;
use reqwest::StatusCode;

use crate::redis::RedisServer;
use crate::{Options, SiteKind, Store, TestSite, location};

/// How long the mock holds the first refresh of a race, so that every request of the race
/// arrives while it is in flight.
const SLOW_REFRESH: Duration = Duration::from_millis(500);

/// The `SESSION_KEY` every instance of a test shares.
pub const SHARED_KEY: [u8; 64] = [0x5a; 64];

/// Options for an instance with sessions in Redis at `url` and the shared key.
pub fn redis_options(url: &str) -> Options {
    Options {
        store: Store::Redis(url.to_owned()),
        session_key: Some(SHARED_KEY.to_vec()),
        ..Options::default()
    }
}

/// Logging in on A gives a session that B (same store and key) sees as the same user.
pub async fn login_on_a_is_valid_on_b(kind: SiteKind, redis: &str) {
    let a = TestSite::start_with(kind, redis_options(redis)).await;
    let b = a.start_instance().await;
    let browser = a.browser();
    let done = browser.login(Some("/me")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/me");
    let on_a = browser.me().await.unwrap();
    let on_b = browser.at(&b.url).me().await.unwrap();
    assert_eq!(on_a["id"], fixture::WUMPUS_ID);
    assert_eq!(on_b, on_a, "B sees the same user");
    // And a browser that never logged in is anonymous on both.
    let stranger = a.browser();
    assert_eq!(stranger.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
    assert_eq!(stranger.at(&b.url).me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// A login started on A (the login in progress is in the browser's cookie, sealed with the
/// key every instance shares) is completed by a callback that the load balancer sends to B: B
/// opens it, and the user is logged in on both.
/// Both instances use the site's one public redirect URI (A's here), as behind a load balancer.
pub async fn callback_on_another_instance_completes_the_login(kind: SiteKind, redis: &str) {
    let a = TestSite::start_with(kind, redis_options(redis)).await;
    let b = a
        .start_instance_with(Options {
            redirect_uri: Some(format!("{}/auth/callback", a.url)),
            ..redis_options(redis)
        })
        .await;
    let browser = a.browser();
    let authorize = browser.start_login(Some("/me")).await;
    let callback = browser.consent(&authorize).await;
    let path = callback
        .strip_prefix(&a.url)
        .unwrap_or_else(|| panic!("the callback goes to the public redirect URI: {callback}"));
    assert!(path.starts_with("/auth/callback?"), "{path}");
    let on_b = browser.at(&b.url);
    let done = on_b.get(path).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "the callback succeeds on B");
    assert_eq!(location(&done), "/me");
    let me_b = on_b.me().await.unwrap();
    assert_eq!(me_b["id"], fixture::WUMPUS_ID);
    assert_eq!(browser.me().await.unwrap(), me_b, "and A sees the same session");
    assert_eq!(a.grants("authorization_code"), 1);
    // The login was used up: replaying the callback on A is refused.
    let replay = browser.get(path).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST, "a callback is single use");
    assert_eq!(
        browser.me().await.unwrap(),
        me_b,
        "and the replay did not end the session"
    );
}

/// Logging out on B ends the session on A at once when A's session cache is off. A copy of
/// the cookie (another device, or a replay) is refused by both instances.
pub async fn logout_on_b_ends_the_session_on_a(kind: SiteKind, redis: &str) {
    let options = Options {
        cache_ttl: Some(Duration::ZERO),
        ..redis_options(redis)
    };
    let a = TestSite::start_with(kind, options).await;
    let b = a.start_instance().await;
    let browser = a.browser();
    browser.login(None).await;
    assert!(browser.me().await.is_ok());
    assert!(browser.at(&b.url).me().await.is_ok());
    let replay = browser.copy();
    let out = browser.at(&b.url).logout().await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(replay.me().await.unwrap_err(), StatusCode::UNAUTHORIZED, "A");
    assert_eq!(replay.at(&b.url).me().await.unwrap_err(), StatusCode::UNAUTHORIZED, "B");
    assert_eq!(browser.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// With A's session cache on, a logout on B is seen on A within the cache TTL (the documented
/// bound; 30 s by default, 1 s here).
pub async fn logout_on_b_is_seen_on_a_within_the_cache_ttl(kind: SiteKind, redis: &str) {
    let ttl = Duration::from_secs(1);
    let options = Options {
        cache_ttl: Some(ttl),
        ..redis_options(redis)
    };
    let a = TestSite::start_with(kind, options).await;
    let b = a.start_instance().await;
    let browser = a.browser();
    browser.login(None).await;
    assert!(browser.me().await.is_ok(), "A has the session cached now");
    let replay = browser.copy();
    let logged_out = Instant::now();
    assert_eq!(browser.at(&b.url).logout().await.status(), StatusCode::SEE_OTHER);
    // Within the TTL A may still answer from its cache; after it, A reads the store.
    tokio::time::sleep(ttl.saturating_sub(logged_out.elapsed()) + Duration::from_millis(100)).await;
    assert_eq!(replay.me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// Sessions live in Redis: a restarted instance (same store, same `SESSION_KEY`) still knows
/// the user. An instance with another key cannot read the cookie and treats it as absent.
pub async fn restart_keeps_the_session(kind: SiteKind, redis: &str) {
    let options = redis_options(redis);
    let a = TestSite::start_with(kind, options.clone()).await;
    let browser = a.browser();
    browser.login(None).await;
    let before = browser.me().await.unwrap();
    a.stop();
    wait_until_refused(&a.url).await;
    let restarted = a.start_instance().await;
    let after = browser.at(&restarted.url).me().await.unwrap();
    assert_eq!(after, before, "same user after the restart");
    assert_eq!(a.grants("authorization_code"), 1, "no new login");

    let other_key = a
        .start_instance_with(Options {
            session_key: Some(vec![0x33; 64]),
            ..options
        })
        .await;
    assert_eq!(
        browser.at(&other_key.url).me().await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "a cookie made with another SESSION_KEY is ignored"
    );
}

async fn wait_until_refused(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = reqwest::Client::new();
        match fresh.get(format!("{url}/me")).send().await {
            Err(e) if e.is_connect() => return,
            _ if Instant::now() > deadline => panic!("{url} still answers after stop"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// 50 concurrent requests, spread over two instances, on a session whose access token
/// expired: exactly one refresh reaches Discord, and every request succeeds with the same
/// user. Both instances had the old tokens cached. The rotated refresh token is the one kept.
pub async fn refresh_race_across_instances_refreshes_once(kind: SiteKind, redis: &str) {
    let a = TestSite::start_with(kind, redis_options(redis)).await;
    let b = a.start_instance().await;
    let on_a = a.browser();
    on_a.login(None).await;
    let on_b = on_a.at(&b.url);
    assert!(on_a.me().await.is_ok());
    assert!(on_b.me().await.is_ok());
    // The clock is shared by both instances (as NTP-synchronised machines).
    a.clock.advance(Duration::from_secs(604_800 - 60));
    a.mock.inject(Fault::delay(Endpoint::Token, SLOW_REFRESH).once());
    let results = join_all((0..50).map(|n| {
        let browser = if n % 2 == 0 { on_a.clone() } else { on_b.clone() };
        async move { browser.me().await }
    }))
    .await;
    for (n, r) in results.iter().enumerate() {
        let me = r.as_ref().unwrap_or_else(|s| panic!("request {n} failed with {s}"));
        assert_eq!(me["id"], fixture::WUMPUS_ID);
    }
    assert_eq!(
        a.grants("refresh_token"),
        1,
        "exactly one refresh across both instances"
    );

    // The next expiry refreshes once more, with the rotated token, whichever instance asks
    // (a little under 7 days later: a full 7 days unused would end the session, H-09).
    a.clock.advance(Duration::from_secs(604_800 - 120));
    assert!(on_b.me().await.is_ok());
    assert!(on_a.me().await.is_ok());
    assert_eq!(a.grants("refresh_token"), 2);
    let sent: Vec<_> = a
        .mock
        .requests_to(Endpoint::Token)
        .iter()
        .filter_map(|r| r.form_param("refresh_token"))
        .collect();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1], "a spent refresh token is never sent again");
}

/// One instance with the memory store and the session cache off: 50 concurrent requests on an
/// expired token still refresh once. (The requests that waited for the refresh re-read the
/// store rather than reuse the copy of the record they loaded before waiting.)
pub async fn refresh_race_with_the_cache_off_refreshes_once(kind: SiteKind) {
    let options = Options {
        cache_ttl: Some(Duration::ZERO),
        ..Options::default()
    };
    let site = TestSite::start_with(kind, options).await;
    let browser = site.browser();
    browser.login(None).await;
    assert!(browser.me().await.is_ok());
    site.clock.advance(Duration::from_secs(604_800 - 60));
    site.mock.inject(Fault::delay(Endpoint::Token, SLOW_REFRESH).once());
    let results = join_all((0..50).map(|_| {
        let browser = browser.clone();
        async move { browser.me().await }
    }))
    .await;
    for (n, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "request {n} failed with {r:?}");
    }
    assert_eq!(site.grants("refresh_token"), 1);
}

/// The same race with each instance locking only for itself (a deployment without a shared
/// refresh lock): both instances refresh, and Discord rejects the second use of the refresh
/// token, but the instance that got `invalid_grant` re-reads the store, finds the tokens the
/// other one stored, and keeps the user logged in. Every request succeeds; the stored refresh
/// token still works afterwards.
pub async fn without_a_shared_lock_nobody_is_logged_out(kind: SiteKind, redis: &str) {
    let options = Options {
        shared_refresh_lock: false,
        ..redis_options(redis)
    };
    let a = TestSite::start_with(kind, options).await;
    let b = a.start_instance().await;
    let on_a = a.browser();
    on_a.login(None).await;
    let on_b = on_a.at(&b.url);
    assert!(on_a.me().await.is_ok());
    assert!(on_b.me().await.is_ok());
    a.clock.advance(Duration::from_secs(604_800 - 60));
    // Whichever refresh comes first is held at the mock; the other instance's overtakes it.
    a.mock.inject(Fault::delay(Endpoint::Token, SLOW_REFRESH).once());
    let results = join_all((0..50).map(|n| {
        let browser = if n % 2 == 0 { on_a.clone() } else { on_b.clone() };
        async move { browser.me().await }
    }))
    .await;
    for (n, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "request {n} failed with {r:?}");
    }
    let refreshes = a.grants("refresh_token");
    assert_eq!(refreshes, 2, "one refresh per instance");
    // The next refresh is due within the idle timeout of the race's activity (7 days).
    a.clock.advance(Duration::from_secs(604_800 - 60));
    assert!(on_a.me().await.is_ok(), "the stored refresh token is the live one");
    assert!(on_b.me().await.is_ok());
    assert_eq!(a.grants("refresh_token"), refreshes + 1);
}

/// Redis stops mid-test: requests that need the store get `503` with `Retry-After` (not a
/// logout, not a login redirect, not an empty 500), and succeed again, as the same user, once
/// Redis is back.
pub async fn redis_outage_answers_503_then_recovers(kind: SiteKind) {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let options = Options {
        // Every request reads the store (a cached session would be served through the outage).
        cache_ttl: Some(Duration::ZERO),
        ..redis_options(&redis.url())
    };
    let site = TestSite::start_with(kind, options).await;
    let browser = site.browser();
    browser.login(None).await;
    let before = browser.me().await.unwrap();
    let cookie = browser.session_cookie().unwrap();

    redis.stop();
    let started = Instant::now();
    for (path, accept) in [("/me", "application/json"), ("/", "text/html")] {
        let r = browser
            .http
            .get(browser.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{path}: Retry-After {retry}");
        assert!(
            r.headers().get("set-cookie").is_none(),
            "{path}: the cookie is left alone"
        );
        let body = r.text().await.unwrap();
        assert!(body.to_lowercase().contains("try again"), "{path}: {body}");
    }
    // Starting a login does not need the store (the login in progress is in its own cookie).
    let newcomer = site.browser();
    let r = newcomer.get("/auth/login").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failures are quick, not hangs"
    );
    assert_eq!(browser.session_cookie().as_deref(), Some(cookie.as_str()));

    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        match browser.me().await {
            Ok(me) => break me,
            Err(StatusCode::SERVICE_UNAVAILABLE) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("after Redis came back: {status}"),
        }
    };
    assert_eq!(after, before, "still logged in as the same user");
    assert_eq!(newcomer.get("/auth/login").await.status(), StatusCode::SEE_OTHER);
}

/// What Redis holds: nothing for a login in progress (it is in the browser's sealed cookie); a
/// logged-in session holds the user and tokens and when it was last marked active, expires
/// after the idle timeout (7 days), and is extended when used (about once a day); another
/// tab's login in progress adds nothing either.
pub async fn stored_sessions_hold_only_user_and_tokens(kind: SiteKind) {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let client = redis.client().await;
    let options = Options {
        cache_ttl: Some(Duration::ZERO),
        ..redis_options(&redis.url())
    };
    let site = TestSite::start_with(kind, options).await;
    let browser = site.browser();

    let authorize = browser.start_login(None).await;
    let keys = session_keys(&client).await;
    assert!(keys.is_empty(), "a login in progress stores nothing: {keys:?}");

    let callback = browser.consent(&authorize).await;
    assert_eq!(browser.get(&callback).await.status(), StatusCode::SEE_OTHER);
    let keys = session_keys(&client).await;
    assert_eq!(keys.len(), 1, "the logged-in session: {keys:?}");
    let key = keys[0].clone();
    let week = 7 * 24 * 3_600 * 1_000;
    let ttl = pttl(&client, &key).await;
    assert!(ttl > week - 60_000 && ttl <= week, "idle timeout of 7 days: {ttl} ms");
    assert!(holds(&client, &key, "discord_oauth.auth").await);
    assert!(
        !holds(&client, &key, "discord_oauth.pending").await,
        "no pending login left behind"
    );

    assert!(
        holds(&client, &key, "discord_oauth.seen").await,
        "marked active at login"
    );

    // Used again within the day: nothing to write.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let before = pttl(&client, &key).await;
    assert!(browser.me().await.is_ok());
    assert!(pttl(&client, &key).await <= before, "not rewritten on every request");
    // A day later (by the shared clock), on another instance: marked active, which moves the
    // expiry forward (once per session and day, whichever instance serves it).
    site.clock.advance(Duration::from_secs(86_400));
    let other = site.start_instance().await;
    assert!(browser.at(&other.url).me().await.is_ok());
    let after = pttl(&client, &key).await;
    assert!(after > before, "extended on use: {before} ms → {after} ms");

    // Two tabs: one login completes; the other tab's login in progress stores nothing.
    let tabs = site.browser();
    let first = tabs.start_login(Some("/one")).await;
    let _second = tabs.start_login(Some("/two")).await;
    let callback = tabs.consent(&first).await;
    assert_eq!(tabs.get(&callback).await.status(), StatusCode::SEE_OTHER);
    let tab_keys: Vec<String> = session_keys(&client).await.into_iter().filter(|k| *k != key).collect();
    assert_eq!(tab_keys.len(), 1, "{tab_keys:?}");
    assert!(holds(&client, &tab_keys[0], "discord_oauth.auth").await);
    assert!(
        !holds(&client, &tab_keys[0], "pending").await,
        "no login in progress in a stored session"
    );
}

/// Session keys in the store (not refresh locks).
async fn session_keys(client: &Client) -> Vec<String> {
    let keys: Vec<String> = client
        .custom(CustomCommand::new_static("KEYS", ClusterHash::Random, false), vec!["*"])
        .await
        .unwrap();
    keys.into_iter()
        .filter(|k| !k.starts_with(discord_oauth_axum::lock::DEFAULT_REDIS_PREFIX))
        .collect()
}

async fn pttl(client: &Client, key: &str) -> i64 {
    client.pttl(key).await.unwrap()
}

/// `true` if the stored record mentions `name` (the store's MessagePack keeps map keys as
/// plain strings).
async fn holds(client: &Client, key: &str, name: &str) -> bool {
    let value: Option<Vec<u8>> = client.get(key).await.unwrap();
    let value = value.unwrap_or_else(|| panic!("{key} is gone"));
    value.windows(name.len()).any(|w| w == name.as_bytes())
}

/// The copied-cookie logout with Redis: refused on the instance that served the logout while
/// the revocation at Discord is still running, and after.
pub async fn logout_holds_while_the_revocation_is_slow(kind: SiteKind, redis: &str) {
    crate::scenarios::logout_holds_while_the_revocation_is_slow_with(kind, redis_options(redis)).await;
}

/// With the session caches on (30 s by default), a logout on A reaches B at once through the
/// Redis revocation channel: a copy of the cookie that B was serving from its cache is refused
/// by B within a second, long before B's cache entry would expire.
pub async fn logout_reaches_every_instance_within_a_second(kind: SiteKind, redis: &str) {
    let a = TestSite::start_with(kind, redis_options(redis)).await;
    let b = a.start_instance().await;
    let browser = a.browser();
    browser.login(None).await;
    let copy = browser.copy().at(&b.url);
    for _ in 0..3 {
        assert!(copy.me().await.is_ok(), "B serves the copy (and caches it)");
    }
    assert_eq!(browser.logout().await.status(), StatusCode::SEE_OTHER);
    let answered = Instant::now();
    let refused_after = loop {
        match copy.me().await {
            Err(StatusCode::UNAUTHORIZED) => break answered.elapsed(),
            Ok(_) if answered.elapsed() < Duration::from_secs(1) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("B still answers {other:?} a second after the logout on A"),
        }
    };
    eprintln!("B refused the copy {refused_after:?} after the logout on A answered");
    assert_eq!(browser.at(&b.url).me().await.unwrap_err(), StatusCode::UNAUTHORIZED);
}

/// A flood of anonymous logins leaves Redis exactly as it was: nothing is stored for a login
/// in progress.
pub async fn anonymous_logins_leave_redis_untouched(kind: SiteKind) {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let client = redis.client().await;
    let site = TestSite::start_with(kind, redis_options(&redis.url())).await;
    let before: i64 = dbsize(&client).await;
    let long = format!("/{}", "a".repeat(499));
    let target = format!("/auth/login?return_to={}", crate::urlencode(&long));
    // 200 logins, 20 at a time: each is a new client (its own connection), and 200 fresh
    // clients at once on a loaded 2-core machine can take longer than actix-web's 5 s request
    // head timeout to start writing.
    for _ in 0..10 {
        let logins = (0..20).map(|_| async {
            let r = site.browser().get(&target).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        });
        join_all(logins).await;
    }
    assert_eq!(dbsize(&client).await, before, "no key was written");
    // A real login then writes exactly its session.
    site.browser().login(None).await;
    assert_eq!(dbsize(&client).await, before + 1);
}

async fn dbsize(client: &Client) -> i64 {
    client
        .custom(
            CustomCommand::new_static("DBSIZE", ClusterHash::Random, false),
            Vec::<String>::new(),
        )
        .await
        .unwrap()
}

/// "Log out of all devices" on A ends the user's session on B (served from B's cache a moment
/// before) within a second, through the Redis revocation channel.
///
/// Every test shares one Redis channel (one Discord application): each site kind logs in a
/// user of its own, so that this test's revocation cannot reach another test's user.
pub async fn logout_everywhere_reaches_every_instance_within_a_second(kind: SiteKind, redis: &str) {
    let options = Options {
        extra_users: 2,
        ..redis_options(redis)
    };
    let user = crate::extra_user_id(match kind {
        SiteKind::Axum => 0,
        SiteKind::Actix => 1,
    });
    let a = TestSite::start_with(kind, options).await;
    let b = a.start_instance().await;
    let here = a.browser();
    here.discord_user(&user).await;
    here.login(None).await;
    let there = a.browser().at(&b.url);
    there.discord_user(&user).await;
    there.login(None).await;
    assert_eq!(here.me().await.unwrap()["id"], user);
    for _ in 0..3 {
        assert!(there.me().await.is_ok(), "B serves the second device (and caches it)");
    }
    assert_eq!(here.logout_everywhere().await.status(), StatusCode::SEE_OTHER);
    let answered = Instant::now();
    loop {
        match there.me().await {
            Err(StatusCode::UNAUTHORIZED) => break,
            Ok(_) if answered.elapsed() < Duration::from_secs(1) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("B still answers {other:?} a second after the logout on A"),
        }
    }
}

/// `APPLICATION_DEAUTHORIZED` delivered to A ends the user's session on B (served from B's
/// cache a moment before) within a second, through the Redis revocation channel. (Each site
/// kind uses a user of its own: every test shares the channel.)
pub async fn deauthorization_reaches_every_instance_within_a_second(kind: SiteKind, redis: &str) {
    let options = Options {
        extra_users: 4,
        events: true,
        ..redis_options(redis)
    };
    let user = crate::extra_user_id(match kind {
        SiteKind::Axum => 2,
        SiteKind::Actix => 3,
    });
    let a = TestSite::start_with(kind, options).await;
    let b = a.start_instance().await;
    let there = a.browser().at(&b.url);
    there.discord_user(&user).await;
    there.login(None).await;
    for _ in 0..3 {
        assert_eq!(
            there.me().await.unwrap()["id"],
            user,
            "B serves the user (and caches it)"
        );
    }
    let event = a.mock.deauthorized_payload(fixture::CLIENT_ID, &user).unwrap();
    let url = format!("{}/discord/events", a.url);
    assert_eq!(a.mock.send_event(&url, &event).await.unwrap(), 204);
    let answered = Instant::now();
    loop {
        match there.me().await {
            Err(StatusCode::UNAUTHORIZED) => break,
            Ok(_) if answered.elapsed() < Duration::from_secs(1) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("B still answers {other:?} a second after A received the event"),
        }
    }
}

/// A deauthorization (or "log out of all devices") is kept in Redis: an instance started
/// after it refuses the user's session, which is still in the store. (Each site kind uses a
/// user of its own: every test shares the channel.)
pub async fn an_instance_started_later_knows_of_a_deauthorization(kind: SiteKind, redis: &str) {
    let options = Options {
        extra_users: 6,
        events: true,
        ..redis_options(redis)
    };
    let user = crate::extra_user_id(match kind {
        SiteKind::Axum => 4,
        SiteKind::Actix => 5,
    });
    let a = TestSite::start_with(kind, options.clone()).await;
    let browser = a.browser();
    browser.discord_user(&user).await;
    browser.login(None).await;
    assert_eq!(browser.me().await.unwrap()["id"], user);
    let event = a.mock.deauthorized_payload(fixture::CLIENT_ID, &user).unwrap();
    let url = format!("{}/discord/events", a.url);
    assert_eq!(a.mock.send_event(&url, &event).await.unwrap(), 204);
    // No request reaches A meanwhile (a request there would delete the stored session).
    let later = a
        .start_instance_with(Options {
            events: false,
            ..options
        })
        .await;
    assert_eq!(
        browser.at(&later.url).me().await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "an instance started after the event refuses the stored session"
    );
}
