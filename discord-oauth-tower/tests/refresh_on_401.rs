//! A handler's call for the logged-in user (`AuthState::user_client`) against the mock Discord,
//! after a real login through the layer: a `401` refreshes the login once and the call is
//! sent once more with the new token; a second `401`, or a refresh Discord refuses, ends the
//! token's use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use discord_oauth_core::Scope;
use discord_oauth_core::api::GuildsQuery;
use discord_oauth_core::api::client::{ApiDriverConfig, CallFailure, UserCalls};
use discord_oauth_mock::{Endpoint, Fault, MockDiscord, RecordedRequest, fixture};
use discord_oauth_tower::transport::ReqwestTransport;
use discord_oauth_tower::{AuthState, DiscordOAuthLayer, MemoryStore, session_layer};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tower_sessions::Session;

const REDIRECT_URI: &str = "http://127.0.0.1:1/auth/callback";

/// `GET /guilds`: the user's guild count, through a client bound to the request's login.
async fn guilds(Extension(state): Extension<AuthState>, session: Option<Extension<Session>>) -> (StatusCode, String) {
    let Some(client) = session.and_then(|Extension(session)| state.user_client(&session)) else {
        return (StatusCode::UNAUTHORIZED, "not logged in".into());
    };
    match client.guilds(&GuildsQuery::default()).await {
        Ok(guilds) => (StatusCode::OK, guilds.len().to_string()),
        Err(e) => {
            let answer = CallFailure::new(e, state.login_url("/guilds"), false).answer();
            (
                StatusCode::from_u16(answer.status().as_u16()).unwrap(),
                answer.into_body(),
            )
        }
    }
}

struct Site {
    mock: MockDiscord,
    app: Router,
    cookies: Vec<(String, String)>,
}

impl Site {
    async fn start() -> Self {
        let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
        let config = mock
            .login_config(REDIRECT_URI)
            .unwrap()
            .scopes([Scope::Identify, Scope::Guilds])
            .build()
            .unwrap();
        // No read cache: every call goes to the mock.
        let layer = DiscordOAuthLayer::builder(config.clone(), ReqwestTransport::new().unwrap())
            .api(ApiDriverConfig::uncached())
            .build();
        let app = Router::new()
            .route("/guilds", get(guilds))
            .layer(layer)
            .layer(session_layer(MemoryStore::default(), &config));
        Self {
            mock,
            app,
            cookies: Vec::new(),
        }
    }

    /// Sends `GET uri` with the cookies, keeps the ones it sets; status, `Location`, body.
    async fn get(&mut self, uri: &str) -> (StatusCode, String, String) {
        let cookie = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = Request::get(uri)
            .header("cookie", cookie)
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        for set in resp.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !set.to_str().unwrap().contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, location, String::from_utf8(body.to_vec()).unwrap())
    }

    /// Logs in as the mock's default user (Wumpus): login, Discord's consent, callback.
    async fn log_in(&mut self) {
        let (status, authorize, _) = self.get("/auth/login?return_to=/guilds").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let consent = http::Request::get(authorize).body(Vec::new()).unwrap();
        let back = ReqwestTransport::new().unwrap().oneshot(consent).await.unwrap();
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        let path = callback.strip_prefix("http://127.0.0.1:1").unwrap().to_owned();
        let (status, location, _) = self.get(&path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the callback logs in");
        assert_eq!(location, "/guilds");
    }

    /// The bearer tokens and statuses of the guild-list requests the mock saw.
    fn guild_calls(&self) -> Vec<(String, Option<u16>)> {
        self.mock
            .requests_to(Endpoint::CurrentUserGuilds)
            .iter()
            .map(|r| (r.bearer_token().unwrap().to_owned(), r.status()))
            .collect()
    }
}

fn statuses(calls: &[(String, Option<u16>)]) -> Vec<Option<u16>> {
    calls.iter().map(|c| c.1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_login_once_and_retries_once_with_the_new_token() {
    let mut site = Site::start().await;
    site.log_in().await;
    assert_eq!(site.get("/guilds").await.0, StatusCode::OK);
    assert_eq!(site.mock.count_grant("refresh_token"), 0);

    // Discord stops accepting the access token before the expiry the login recorded.
    site.mock.expire_access_tokens();
    let (status, _, body) = site.get("/guilds").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = site.guild_calls();
    assert_eq!(statuses(&calls), [Some(200), Some(401), Some(200)]);
    assert_eq!(site.mock.count_grant("refresh_token"), 1, "one refresh");
    assert_eq!(calls[0].0, calls[1].0, "the 401 was for the login's token");
    assert_ne!(calls[1].0, calls[2].0, "the retry carried the refreshed token");

    // The refreshed login was stored: the next request uses the new token at once.
    assert_eq!(site.get("/guilds").await.0, StatusCode::OK);
    let calls = site.guild_calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[3], (calls[2].0.clone(), Some(200)));
    assert_eq!(site.mock.count_grant("refresh_token"), 1, "no second refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_ends_the_tokens_use() {
    let mut site = Site::start().await;
    site.log_in().await;
    site.mock
        .inject(Fault::status(Endpoint::CurrentUserGuilds, 401).times(2));
    let (status, _, body) = site.get("/guilds").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "log in again: {body}");
    assert!(body.contains("/auth/login"), "{body}");
    assert_eq!(statuses(&site.guild_calls()), [Some(401), Some(401)], "one retry only");
    assert_eq!(site.mock.count_grant("refresh_token"), 1, "one refresh only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_ends_the_session() {
    let mut site = Site::start().await;
    site.log_in().await;
    // The user removed the app in Discord: the access and the refresh token are dead.
    site.mock.revoke_all_for(fixture::WUMPUS_ID);
    let (status, _, _) = site.get("/guilds").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        statuses(&site.guild_calls()),
        [Some(401)],
        "no retry without a new token"
    );
    let refreshes: Vec<_> = site.mock.refreshes().iter().map(RecordedRequest::status).collect();
    assert_eq!(refreshes, [Some(400)], "Discord refused the refresh");
    // The session ended with it: the next request is anonymous, and calls nothing.
    let (status, _, body) = site.get("/guilds").await;
    assert_eq!((status, body.as_str()), (StatusCode::UNAUTHORIZED, "not logged in"));
    assert_eq!(site.guild_calls().len(), 1);
}
