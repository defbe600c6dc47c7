//! Refresh is single flight per session (checklist F-05) even when Discord is slow: requests
//! that arrive while a refresh is in flight wait for it instead of refreshing again (Discord's
//! refresh tokens work once). `concurrent_requests_refresh_once` in the scenario suite sends
//! its burst against a fast mock, where the requests rarely overlap the refresh; here the
//! token endpoint takes 500 ms, so they always do. Both sample sites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use discord_oauth_mock::{Endpoint, Fault};
use discord_oauth_scenarios::{SiteKind, TestSite};
use futures::future::join_all;

async fn slow_refresh_happens_once(kind: SiteKind) {
    let site = TestSite::start(kind).await;
    let b = site.browser();
    b.login(None).await;
    assert!(b.me().await.is_ok());
    site.mock
        .inject(Fault::delay(Endpoint::Token, Duration::from_millis(500)).once());
    site.clock.advance(Duration::from_secs(604_800 - 60));
    let results = join_all((0..20).map(|_| {
        let b = b.clone();
        async move { b.me().await }
    }))
    .await;
    assert_eq!(
        site.grants("refresh_token"),
        1,
        "requests during an in-flight refresh must wait for it"
    );
    assert!(results.iter().all(Result::is_ok), "every request succeeds: {results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f05_axum_refresh_is_single_flight_while_discord_is_slow() {
    slow_refresh_happens_once(SiteKind::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f05_actix_refresh_is_single_flight_while_discord_is_slow() {
    slow_refresh_happens_once(SiteKind::Actix).await;
}
