//! The baseline: "Log in with Discord" built the way an axum user would today without this
//! library — `axum-login` + `tower-sessions` (`MemoryStore`, the id-only cookie of
//! axum-login's examples) + the `oauth2` crate (authorization code with state and PKCE), with
//! the user kept in memory (generous to the baseline: its examples load users from a database
//! on every request). Same routes and the same `/me` JSON as the sample sites.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use discord_oauth_core::api::User;
use discord_oauth_core::{Scope as DiscordScope, Scopes};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};

use crate::bare::me_json;

type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The logged-in user as axum-login sees it.
#[derive(Clone, Debug)]
pub struct DiscordAccount {
    user: User,
    scopes: Scopes,
    id_text: String,
}

impl AuthUser for DiscordAccount {
    type Id = u64;

    fn id(&self) -> u64 {
        u64::from(self.user.id)
    }

    fn session_auth_hash(&self) -> &[u8] {
        // axum-login's OAuth example uses the access token; then every new login of the same
        // account logs its other sessions out, which the load runs (one account, many
        // sessions) cannot have. The account id is stable.
        self.id_text.as_bytes()
    }
}

/// The login backend: exchanges codes with the `oauth2` crate, keeps users in memory.
#[derive(Clone)]
pub struct Backend {
    client: OAuthClient,
    http: reqwest::Client,
    api_base: String,
    users: Arc<RwLock<HashMap<u64, DiscordAccount>>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

/// What the callback hands to `authenticate`.
#[derive(Debug)]
pub struct Credentials {
    code: String,
    verifier: String,
}

/// A failed login.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(String);

impl AuthnBackend for Backend {
    type User = DiscordAccount;
    type Credentials = Credentials;
    type Error = BackendError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<DiscordAccount>, BackendError> {
        let http = self.http.clone();
        let send = move |req: oauth2::HttpRequest| {
            let http = http.clone();
            async move {
                let (parts, body) = req.into_parts();
                let resp = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await?;
                let mut out = http::Response::builder().status(resp.status());
                for (k, v) in resp.headers() {
                    out = out.header(k, v);
                }
                Ok::<_, reqwest::Error>(out.body(resp.bytes().await?.to_vec()).expect("valid response"))
            }
        };
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(creds.code))
            .set_pkce_verifier(PkceCodeVerifier::new(creds.verifier))
            .request_async(&send)
            .await
            .map_err(|e| BackendError(e.to_string()))?;
        let access_token = token.access_token().secret().clone();
        let user: User = self
            .http
            .get(format!("{}/users/@me", self.api_base))
            .bearer_auth(&access_token)
            .send()
            .await
            .map_err(|e| BackendError(e.to_string()))?
            .json()
            .await
            .map_err(|e| BackendError(e.to_string()))?;
        let scopes = token
            .scopes()
            .map(|s| s.iter().filter_map(|s| s.parse::<DiscordScope>().ok()).collect())
            .unwrap_or_default();
        let account = DiscordAccount {
            id_text: user.id.to_string(),
            user,
            scopes,
        };
        self.users.write().expect("lock").insert(account.id(), account.clone());
        Ok(Some(account))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<DiscordAccount>, BackendError> {
        Ok(self.users.read().expect("lock").get(id).cloned())
    }
}

const CSRF_KEY: &str = "oauth.csrf";
const VERIFIER_KEY: &str = "oauth.verifier";

/// The baseline app: `/auth/login`, `/auth/callback`, `/me`, against Discord at
/// `authorize_url`/`api_base` with the mock's client.
pub fn app(
    authorize_url: &str,
    api_base: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
) -> axum::Router {
    let client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_client_secret(ClientSecret::new(client_secret.to_owned()))
        .set_auth_uri(AuthUrl::new(authorize_url.to_owned()).expect("authorize URL"))
        .set_token_uri(TokenUrl::new(format!("{api_base}/oauth2/token")).expect("token URL"))
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).expect("redirect URI"));
    let backend = Backend {
        client: client.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        api_base: api_base.to_owned(),
        users: Arc::default(),
    };
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(7)));
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    axum::Router::new()
        .route("/me", get(me))
        .route(
            "/auth/login",
            get(move |session: Session| {
                let client = client.clone();
                async move { login(client, session).await }
            }),
        )
        .route("/auth/callback", get(callback))
        .layer(auth)
}

async fn me(auth: AuthSession<Backend>) -> Response {
    match auth.user {
        Some(a) => Json(me_json(&a.user, &a.scopes)).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn login(client: OAuthClient, session: Session) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("identify".into()))
        .add_scope(Scope::new("guilds".into()))
        .set_pkce_challenge(challenge)
        .url();
    if session.insert(CSRF_KEY, csrf.secret()).await.is_err()
        || session.insert(VERIFIER_KEY, verifier.secret()).await.is_err()
    {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: String,
    state: String,
}

async fn callback(mut auth: AuthSession<Backend>, session: Session, Query(q): Query<CallbackQuery>) -> Response {
    let Ok(Some(csrf)) = session.remove::<String>(CSRF_KEY).await else {
        return (StatusCode::BAD_REQUEST, "no login in progress").into_response();
    };
    let Ok(Some(verifier)) = session.remove::<String>(VERIFIER_KEY).await else {
        return (StatusCode::BAD_REQUEST, "no login in progress").into_response();
    };
    if csrf != q.state {
        return (StatusCode::BAD_REQUEST, "state mismatch").into_response();
    }
    let account = match auth.authenticate(Credentials { code: q.code, verifier }).await {
        Ok(Some(a)) => a,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if auth.login(&account).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Redirect::to("/me").into_response()
}
