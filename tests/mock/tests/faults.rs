//! Fault injection: every 429 shape, error statuses, delays, hangs, dropped connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use discord_oauth_mock::{Endpoint, Fault, FaultKind, MockDiscord, RateLimitStyle, fixture};
use reqwest::StatusCode;
use serde_json::json;

async fn me(mock: &MockDiscord, token: &str) -> reqwest::Response {
    http()
        .get(format!("{}/users/@me", mock.api_base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn rate_limited_full_shape_then_recovers() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.inject(Fault::rate_limited(Endpoint::CurrentUser).once());
    let resp = me(&mock, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("2"));
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header(&resp, "x-ratelimit-reset-after").as_deref(), Some("1.500"));
    assert_eq!(header(&resp, "x-ratelimit-scope").as_deref(), Some("user"));
    assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("50"));
    assert!(header(&resp, "x-ratelimit-bucket").is_some());
    assert!(header(&resp, "x-ratelimit-global").is_none());
    let (_, body) = json_of(resp).await;
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false})
    );
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);
    let recorded = mock.requests_to(Endpoint::CurrentUser);
    assert_eq!(recorded[0].status(), Some(429));
    assert!(recorded[0].fault().unwrap().starts_with("rate_limited"));
    assert_eq!(recorded[1].fault(), None);
}

#[tokio::test]
async fn rate_limited_global_and_custom_retry_after() {
    let mock = MockDiscord::start().await.unwrap();
    mock.inject(
        Fault::rate_limited(Endpoint::Token)
            .global(true)
            .retry_after(0.25)
            .once(),
    );
    let resp = token_request(
        &http(),
        &mock,
        &[("grant_type", "client_credentials"), ("scope", "identify")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("1"));
    assert_eq!(header(&resp, "x-ratelimit-global").as_deref(), Some("true"));
    assert_eq!(header(&resp, "x-ratelimit-scope").as_deref(), Some("global"));
    let (_, body) = json_of(resp).await;
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": true})
    );
    // The fault answered before the handler: nothing was issued, and the next call works.
    let resp = token_request(
        &http(),
        &mock,
        &[("grant_type", "client_credentials"), ("scope", "identify")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(mock.count_grant("client_credentials"), 2);
}

#[tokio::test]
async fn rate_limited_variants() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();

    mock.inject(
        Fault::rate_limited(Endpoint::CurrentUser)
            .style(RateLimitStyle::HeadersOnly)
            .once(),
    );
    let resp = me(&mock, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("2"));
    assert_eq!(header(&resp, "x-ratelimit-reset-after").as_deref(), Some("1.500"));
    assert!(resp.text().await.unwrap().is_empty());

    mock.inject(
        Fault::rate_limited(Endpoint::CurrentUser)
            .style(RateLimitStyle::BodyOnly)
            .once(),
    );
    let resp = me(&mock, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&resp, "retry-after").is_none());
    assert!(header(&resp, "x-ratelimit-bucket").is_none());
    let (_, body) = json_of(resp).await;
    assert_eq!(body["retry_after"], 1.5);

    mock.inject(
        Fault::rate_limited(Endpoint::CurrentUser)
            .style(RateLimitStyle::Html)
            .once(),
    );
    let resp = me(&mock, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&resp, "content-type").unwrap().starts_with("text/html"));
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("2"));
    assert!(header(&resp, "x-ratelimit-bucket").is_none());
    assert!(resp.text().await.unwrap().contains("<html"));

    mock.inject(
        Fault::rate_limited(Endpoint::CurrentUser)
            .style(RateLimitStyle::CloudflareBan)
            .once(),
    );
    let resp = me(&mock, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&resp, "retry-after").is_none());
    let (_, body) = json_of(resp).await;
    assert_eq!(body, json!({"code": 40333, "message": "internal network error"}));

    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn error_statuses_json_and_html() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    for (status, message) in [
        (500, "500: Internal Server Error"),
        (502, "502: Bad Gateway"),
        (503, "503: Service Unavailable"),
    ] {
        mock.inject(Fault::status(Endpoint::CurrentUser, status).once());
        let (s, body) = json_of(me(&mock, &t.access_token).await).await;
        assert_eq!(s.as_u16(), status);
        assert_eq!(body, json!({"message": message, "code": 0}));
    }
    mock.inject(Fault::html(Endpoint::Token, 502).once());
    let resp = token_request(
        &http(),
        &mock,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&resp, "content-type").unwrap().starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn times_any_endpoint_and_clear() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.inject(Fault::status(Endpoint::CurrentUser, 503).times(2));
    assert_eq!(
        me(&mock, &t.access_token).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        me(&mock, &t.access_token).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);

    mock.inject(Fault::status(Endpoint::CurrentUser, 500).any_endpoint());
    assert_eq!(
        http().get(mock.keys_url()).send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        me(&mock, &t.access_token).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    mock.clear_faults();
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);

    // Faults on one endpoint leave the others alone.
    mock.inject(Fault::status(Endpoint::Revoke, 500));
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);
    let f = Fault::new(Endpoint::Keys, FaultKind::Status(418));
    assert_eq!(f.kind(), &FaultKind::Status(418));
}

#[tokio::test]
async fn delay_then_normal_response() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.inject(Fault::delay(Endpoint::CurrentUser, Duration::from_millis(300)).once());
    let start = Instant::now();
    let resp = me(&mock, &t.access_token).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(&resp, "x-ratelimit-bucket").is_some());
}

#[tokio::test]
async fn hang_hits_the_client_timeout_and_shutdown_still_finishes() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.inject(Fault::delay(Endpoint::CurrentUser, Duration::from_secs(3600)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .get(format!("{}/users/@me", mock.api_base()))
        .bearer_auth(&t.access_token)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    // A request still hanging when the mock shuts down is answered 503 at once.
    let hanging = tokio::spawn({
        let url = format!("{}/users/@me", mock.api_base());
        let token = t.access_token.clone();
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await }
    });
    while mock.count(Endpoint::CurrentUser) < 2 {
        tokio::task::yield_now().await;
    }
    let start = Instant::now();
    mock.shutdown().await;
    assert!(start.elapsed() < Duration::from_secs(4));
    let resp = hanging.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn close_connection_is_a_transport_error() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    mock.inject(Fault::close_connection(Endpoint::CurrentUser).once());
    let result = async {
        let resp = http()
            .get(format!("{}/users/@me", mock.api_base()))
            .bearer_auth(&t.access_token)
            .send()
            .await?;
        resp.text().await
    }
    .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn recorded_requests_are_masked_over_http() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let _ = me(&mock, &t.access_token).await;
    let _ = token_request(
        &http(),
        &mock,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh_token.as_deref().unwrap()),
        ],
    )
    .await;
    let text = http()
        .get(format!("{}/mock/requests", mock.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&t.access_token));
    assert!(!text.contains(t.refresh_token.as_deref().unwrap()));
    assert!(!text.contains(fixture::CLIENT_SECRET));
    assert!(text.contains("refresh_token"));
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list[0]["endpoint"], "current_user");
    assert_eq!(list[1]["endpoint"], "token");
    // The raw values stay available to tests.
    let r = mock.last_request(Endpoint::CurrentUser).unwrap();
    assert_eq!(r.bearer_token(), Some(t.access_token.as_str()));
    mock.clear_requests();
    assert_eq!(mock.count(Endpoint::CurrentUser), 0);
}

#[tokio::test]
async fn control_routes_over_http() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let control = |path: &str| format!("{}/mock/{path}", mock.base_url());

    let resp = http
        .post(control("faults"))
        .form(&[("spec", "current_user:503*1"), ("spec", "keys:429-body")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(&mock, &t.access_token).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::OK);
    assert_eq!(
        http.get(mock.keys_url()).send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let resp = http.delete(control("faults")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(http.get(mock.keys_url()).send().await.unwrap().status(), StatusCode::OK);

    let resp = http
        .post(control("faults"))
        .form(&[("spec", "nowhere:429")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http
        .post(control("faults"))
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = http.post(control("expire-access-tokens")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&mock, &t.access_token).await.status(), StatusCode::UNAUTHORIZED);

    let fresh = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let resp = http
        .post(control("advance-time"))
        .form(&[("seconds", "604801")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&mock, &fresh.access_token).await.status(), StatusCode::UNAUTHORIZED);
    let resp = http
        .post(control("advance-time"))
        .form(&[("seconds", "soon")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let index = http.get(control("")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains(&mock.login_url(fixture::LENA_ID)[mock.base_url().len()..]));
    let out = http.get(control("logout")).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn canned_responses() {
    let mock = MockDiscord::start().await.unwrap();
    mock.inject(
        Fault::response(Endpoint::Token, 302, "")
            .header("location", "http://169.254.169.254/latest")
            .once(),
    );
    let resp = token_request(
        &http(),
        &mock,
        &[("grant_type", "client_credentials"), ("scope", "identify")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        header(&resp, "location").as_deref(),
        Some("http://169.254.169.254/latest")
    );
    assert!(header(&resp, "x-ratelimit-bucket").is_none());

    let body = r#"{"access_token":"abc","token_type":"bearer","scope":"identify"}"#;
    mock.inject(Fault::response(Endpoint::Token, 200, body).once());
    let resp = token_request(
        &http(),
        &mock,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some("application/json"));
    assert_eq!(resp.text().await.unwrap(), body);
    assert_eq!(mock.requests_to(Endpoint::Token)[1].fault(), Some("response(200)"));
}

#[tokio::test]
async fn max_in_flight_counts_concurrent_requests_per_endpoint() {
    let mock = MockDiscord::builder().start().await.unwrap();
    mock.inject(Fault::delay(Endpoint::CurrentUser, Duration::from_millis(300)).times(3));
    let tokens = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let http = reqwest::Client::new();
    let call = || {
        http.get(format!("{}/users/@me", mock.api_base()))
            .bearer_auth(&tokens.access_token)
            .send()
    };
    let (a, b, c) = tokio::join!(call(), call(), call());
    for r in [a, b, c] {
        assert_eq!(r.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(mock.max_in_flight(Some(Endpoint::CurrentUser)), 3);
    assert_eq!(mock.max_in_flight(None), 3);
    assert_eq!(mock.max_in_flight(Some(Endpoint::Token)), 0);
    mock.clear_requests();
    assert_eq!(mock.max_in_flight(None), 0, "reset, nothing in flight");
}

#[tokio::test]
async fn a_global_rate_limit_answers_every_api_request_until_cleared() {
    let mock = MockDiscord::start().await.unwrap();
    let wumpus = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let lena = mock.issue_tokens(fixture::LENA_ID, "identify").unwrap();
    // Long enough never to end during the test: it is ended with clear_faults.
    mock.global_rate_limit(Duration::from_secs(30));
    for token in [&wumpus.access_token, &lena.access_token] {
        let resp = me(&mock, token).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&resp, "x-ratelimit-global").as_deref(), Some("true"));
        assert_eq!(header(&resp, "x-ratelimit-scope").as_deref(), Some("global"));
        let (_, body) = json_of(resp).await;
        assert_eq!(body["global"], json!(true));
        let left = body["retry_after"].as_f64().unwrap();
        assert!(left > 0.0 && left <= 30.0, "the time left: {left}");
    }
    // The bot's calls too: the limit is the application's.
    let bot = http()
        .get(format!("{}/oauth2/applications/@me", mock.api_base()))
        .header("authorization", format!("Bot {}", fixture::BOT_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(bot.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        mock.requests().iter().filter(|r| r.status() == Some(429)).count(),
        3,
        "each early request is recorded with its 429"
    );
    mock.clear_faults();
    assert_eq!(me(&mock, &wumpus.access_token).await.status(), StatusCode::OK);
    // Capped: a test cannot park the mock for more than a minute.
    assert_eq!(discord_oauth_mock::MAX_GLOBAL_RATE_LIMIT, Duration::from_secs(60));
}

#[tokio::test]
async fn bot_tokens_get_buckets_of_their_own() {
    let mock = MockDiscord::builder()
        .rate_limit_buckets(1, Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let app = || {
        http()
            .get(format!("{}/oauth2/applications/@me", mock.api_base()))
            .header("authorization", format!("Bot {}", fixture::BOT_TOKEN))
            .send()
    };
    let first = app().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "x-ratelimit-remaining").as_deref(), Some("0"));
    let second = app().await.unwrap();
    assert_eq!(
        second.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the bot's bucket is spent"
    );
    assert_eq!(header(&second, "x-ratelimit-scope").as_deref(), Some("user"));
}
