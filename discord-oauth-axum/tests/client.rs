//! `DiscordClient` against the mock Discord after a real login through `DiscordOAuth::mount`
//! (the fast path included): a `401` refreshes the login once and retries once; a second
//! `401` answers "log in again".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use discord_oauth_axum::transport::ReqwestTransport;
use discord_oauth_axum::{
    ApiDriverConfig, DiscordClient, DiscordClientError, DiscordOAuth, DiscordOAuthLayer, MemoryStore, UserCalls,
};
use discord_oauth_core::Scope;
use discord_oauth_core::api::GuildsQuery;
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, fixture};
use http::{Request, StatusCode};
use tower::ServiceExt as _;

const REDIRECT_URI: &str = "http://127.0.0.1:1/auth/callback";

async fn guilds(client: DiscordClient) -> Result<String, DiscordClientError> {
    Ok(client.guilds(&GuildsQuery::default()).await?.len().to_string())
}

struct Site {
    mock: MockDiscord,
    app: Router,
    session: String,
}

impl Site {
    async fn logged_in() -> Self {
        let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
        let config = mock
            .login_config(REDIRECT_URI)
            .unwrap()
            .scopes([Scope::Identify, Scope::Guilds])
            .build()
            .unwrap();
        let layer = DiscordOAuthLayer::builder(config, ReqwestTransport::new().unwrap())
            .api(ApiDriverConfig::uncached())
            .build();
        let app =
            DiscordOAuth::from_layer(layer).mount(Router::new().route("/guilds", get(guilds)), MemoryStore::default());
        // Login, the mock's consent, the callback: fails saying where the login stopped.
        let session = mock
            .log_in(&app, "/auth/login?return_to=/guilds", fixture::WUMPUS_ID)
            .await
            .unwrap()
            .to_string();
        Self { mock, app, session }
    }

    /// `GET uri` as an API client with the cookies so far; keeps the cookies it sets.
    async fn get(&mut self, uri: &str) -> (StatusCode, String, String) {
        let req = Request::get(uri)
            .header("cookie", &self.session)
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let set: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        if !set.is_empty() {
            self.session = set.join("; ");
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, location, String::from_utf8(body.to_vec()).unwrap())
    }

    fn guild_calls(&self) -> Vec<(String, Option<u16>)> {
        self.mock
            .requests_to(Endpoint::CurrentUserGuilds)
            .iter()
            .map(|r| (r.bearer_token().unwrap().to_owned(), r.status()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_once_and_the_retry_succeeds_also_on_the_fast_path() {
    let mut site = Site::logged_in().await;
    // Twice, so that the second request is served by the fast path (the cached login).
    for _ in 0..2 {
        assert_eq!(site.get("/guilds").await.0, StatusCode::OK);
    }
    site.mock.expire_access_tokens();
    let (status, _, body) = site.get("/guilds").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = site.guild_calls();
    let statuses: Vec<_> = calls.iter().map(|c| c.1).collect();
    assert_eq!(statuses, [Some(200), Some(200), Some(401), Some(200)]);
    assert_eq!(site.mock.count_grant("refresh_token"), 1);
    assert_ne!(calls[2].0, calls[3].0, "retried with the refreshed token");

    // The refreshed login is what the next requests carry (the cached one was dropped).
    for _ in 0..2 {
        assert_eq!(site.get("/guilds").await.0, StatusCode::OK);
    }
    let calls = site.guild_calls();
    assert!(calls[4..].iter().all(|c| c == &calls[3]), "{calls:?}");
    assert_eq!(site.mock.count_grant("refresh_token"), 1, "no further refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_answers_log_in_again() {
    let mut site = Site::logged_in().await;
    site.mock
        .inject(Fault::status(Endpoint::CurrentUserGuilds, 401).times(2));
    let (status, _, body) = site.get("/guilds").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("/auth/login?return_to=%2Fguilds"), "{body}");
    assert_eq!(site.guild_calls().len(), 2, "one retry");
    assert_eq!(site.mock.count_grant("refresh_token"), 1, "one refresh");
}
