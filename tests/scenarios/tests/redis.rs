//! Sample sites as several instances sharing one Redis (see `multi_instance`). Needs Redis:
//! the shared one at `REDIS_URL` (default `redis://127.0.0.1:6379/15`) and `redis-server` on the
//! `PATH` for the tests that run their own. Without them the tests skip with a message;
//! with `CI` set they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use discord_oauth_scenarios::SiteKind;
use discord_oauth_scenarios::multi_instance::*;
use discord_oauth_scenarios::redis::shared_redis;

/// Scenarios on the shared Redis.
macro_rules! shared_redis_scenarios {
    ($site:ident => $kind:expr; $($name:ident),* $(,)?) => {
        mod $site {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(url) = shared_redis().await else { return };
                    super::$name($kind, &url).await;
                }
            )*
        }
    };
}

/// Scenarios that start a redis-server of their own, or need none.
macro_rules! scenarios {
    ($site:ident => $kind:expr; $($name:ident),* $(,)?) => {
        mod $site {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($kind).await;
                }
            )*
        }
    };
}

shared_redis_scenarios!(axum => SiteKind::Axum;
    login_on_a_is_valid_on_b,
    callback_on_another_instance_completes_the_login,
    logout_on_b_ends_the_session_on_a,
    logout_on_b_is_seen_on_a_within_the_cache_ttl,
    restart_keeps_the_session,
    refresh_race_across_instances_refreshes_once,
    without_a_shared_lock_nobody_is_logged_out,
    logout_holds_while_the_revocation_is_slow,
    logout_reaches_every_instance_within_a_second,
    logout_everywhere_reaches_every_instance_within_a_second,
    deauthorization_reaches_every_instance_within_a_second,
    an_instance_started_later_knows_of_a_deauthorization,
);

// actix-site's fast path plays the part of the axum site's session cache (`cache_ttl` sets its
// TTL); without the shared lock it has no fallback for a refresh token
// spent by another instance (see the `discord-oauth-actix` docs), so that scenario is axum's.
shared_redis_scenarios!(actix => SiteKind::Actix;
    login_on_a_is_valid_on_b,
    callback_on_another_instance_completes_the_login,
    logout_on_b_ends_the_session_on_a,
    logout_on_b_is_seen_on_a_within_the_cache_ttl,
    restart_keeps_the_session,
    refresh_race_across_instances_refreshes_once,
    logout_holds_while_the_revocation_is_slow,
    logout_reaches_every_instance_within_a_second,
    logout_everywhere_reaches_every_instance_within_a_second,
    deauthorization_reaches_every_instance_within_a_second,
    an_instance_started_later_knows_of_a_deauthorization,
);

scenarios!(axum_memory => SiteKind::Axum;
    refresh_race_with_the_cache_off_refreshes_once,
);

scenarios!(actix_memory => SiteKind::Actix;
    refresh_race_with_the_cache_off_refreshes_once,
);

scenarios!(axum_own_redis => SiteKind::Axum;
    redis_outage_answers_503_then_recovers,
    stored_sessions_hold_only_user_and_tokens,
    anonymous_logins_leave_redis_untouched,
);

scenarios!(actix_own_redis => SiteKind::Actix;
    redis_outage_answers_503_then_recovers,
    stored_sessions_hold_only_user_and_tokens,
    anonymous_logins_leave_redis_untouched,
);
