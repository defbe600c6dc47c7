//! Runs every scenario against every sample site.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use discord_oauth_scenarios::SiteKind;
use discord_oauth_scenarios::scenarios::*;

/// Every scenario, listed once: both sites run exactly the same list.
macro_rules! all_scenarios {
    ($site:ident => $kind:expr) => {
        scenarios!($site => $kind;
            full_login_me_logout,
            home_page_shows_user_and_guilds,
            forged_state_is_rejected,
            replayed_callback_is_rejected,
            expired_pending_login_is_rejected,
            access_denied_gets_a_friendly_page,
            token_endpoint_failures,
            short_rate_limit_is_retried_once,
            user_fetch_failure_leaves_no_session,
            open_redirects_end_on_this_site,
            session_id_changes_and_cookie_flags,
            https_site_gets_secure_cookie,
            concurrent_requests_refresh_once,
            revoked_grant_logs_out_on_refresh,
            concurrent_logins_do_not_mix_up,
            two_tabs_log_in_at_once,
            logout_is_post_only_and_same_origin,
            unauthenticated_html_vs_json,
            rate_limit_variants_on_token_endpoint,
            clock_skew_of_five_minutes_is_tolerated,
            a08_a11_verifier_stays_server_side,
            a13_j02_spoofed_host_and_forwarded_headers_change_nothing,
            h08_session_id_is_only_read_from_the_cookie,
            j05_cors_preflight_is_not_redirected_to_login,
            g04_logout_completes_when_revocation_fails,
            e01_tokens_never_reach_the_browser,
            c07_c08_code_exchange_is_not_retried_after_a_timeout_or_a_dropped_connection,
            b21_only_the_exact_callback_path_is_the_callback,
            h11_tampered_session_cookies_are_anonymous,
            b11_hostile_error_description_is_escaped,
            b15_strict_issuer_needs_iss_on_the_callback,
            h09_reading_keeps_a_session_alive_and_idleness_ends_it,
            h14_responses_to_logged_in_users_are_private,
            k03_global_rate_limit_holds_every_request_until_it_is_over,
            k04_a_burst_of_logins_never_exceeds_the_bound_at_discord,
            k08_refresh_cut_short_leaves_a_whole_session,
            h12_cookies_under_the_previous_key_work_during_a_rotation,
            anonymous_logins_store_nothing,
            g05_logout_holds_while_the_revocation_is_slow,
            h05_a_new_login_ends_the_previous_sessions_cookie,
            logout_everywhere_ends_every_session_of_the_user,
            webhook_events_are_verified,
            deauthorization_ends_every_session_of_the_user,
            reloading_the_home_page_asks_discord_once_per_cache_ttl,
        );
    };
}

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

all_scenarios!(axum => SiteKind::Axum);
all_scenarios!(actix => SiteKind::Actix);
