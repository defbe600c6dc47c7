//! Stand-ins for the doc examples of the login driver: an in-memory session, a scripted
//! Discord and a fixed clock (no network, no framework). Not part of the API.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::client::ClientIo;
pub use crate::api::client::doc_support::block_on;
use crate::login::driver::SessionIo;
use crate::login::flow::FlowIo;
use crate::login::revocation::Revocation;
use crate::login::{AuthSession, LoginConfig};
use crate::{Scopes, TokenSet};

/// The user `/users/@me` answers with.
pub const USER: &str =
    r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly","avatar":null}"#;

/// The examples' wall clock: 2023-11-14T22:13:20Z.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A token endpoint answer: access token `at{n}`, refresh token `rt{n}`, valid a week.
pub fn token_body(n: u32, scope: &str) -> String {
    format!(
        r#"{{"access_token":"at{n}","token_type":"Bearer","expires_in":604800,"refresh_token":"rt{n}","scope":"{scope}"}}"#
    )
}

/// A login of [`USER`] made at [`now`] with the tokens of [`token_body`]`(1, scope)`.
///
/// # Panics
/// Never for the bodies above.
#[allow(clippy::expect_used)]
pub fn logged_in(config: &LoginConfig, scope: &str) -> AuthSession {
    let tokens = TokenSet::parse(token_body(1, scope).as_bytes(), &Scopes::parse(scope), now()).expect("a token body");
    let user = serde_json::from_str(USER).expect("a user");
    config.new_session(user, tokens, now())
}

/// What the browser does between the redirect of `GET /auth/login` and the callback: it keeps
/// the login cookie, and Discord sends it back with `code` and the redirect's `state`. The
/// callback's query string and `Cookie` header.
///
/// # Errors
/// When `redirect` is not an answer of `GET /auth/login`.
pub fn browser_returns(redirect: &http::Response<String>, code: &str) -> Result<(String, String), String> {
    let location = redirect
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location")?;
    let url = url::Url::parse(location).map_err(|e| e.to_string())?;
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .ok_or("no state")?
        .1
        .into_owned();
    let cookie = redirect
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|v| !v.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ");
    Ok((format!("code={code}&state={state}"), cookie))
}

/// A session held in memory, as a framework's session would hold it: JSON values by key.
#[derive(Debug, Default)]
pub struct MemorySession {
    values: Mutex<HashMap<String, String>>,
    cycled: AtomicUsize,
    purged: AtomicUsize,
    forgotten: AtomicUsize,
}

impl MemorySession {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys it holds, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.values().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// How many times its id was changed.
    pub fn cycled(&self) -> usize {
        self.cycled.load(Ordering::Relaxed)
    }

    /// How many times it was deleted.
    pub fn purged(&self) -> usize {
        self.purged.load(Ordering::Relaxed)
    }

    /// How many times the driver told the caches to forget it.
    pub fn forgotten(&self) -> usize {
        self.forgotten.load(Ordering::Relaxed)
    }

    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionIo for MemorySession {
    type Error = String;

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        let values = self.values();
        values
            .get(key)
            .map(|v| serde_json::from_str(v))
            .transpose()
            .map_err(|e| e.to_string())
    }

    async fn insert<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<(), String> {
        let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
        self.values().insert(key.to_owned(), value);
        Ok(())
    }

    async fn cycle_id(&self) -> Result<(), String> {
        self.cycled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn purge(&self) -> Result<(), String> {
        self.values().clear();
        self.purged.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn save(&self) -> Result<(), String> {
        Ok(())
    }

    async fn reload(&self) -> Result<bool, String> {
        // The memory is the store: what it holds is what a re-read finds.
        Ok(true)
    }

    fn forget(&self, _revocation: Option<&Revocation>) {
        self.forgotten.fetch_add(1, Ordering::Relaxed);
    }
}

/// A Discord that answers each request with the next scripted answer (a request with none
/// left is unreachable), at the fixed time [`now`]; waits return at once.
#[derive(Debug)]
pub struct ScriptedDiscord {
    answers: Mutex<VecDeque<(u16, String)>>,
    sent: Mutex<Vec<String>>,
    start: Instant,
}

impl Default for ScriptedDiscord {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedDiscord {
    /// A Discord with nothing to answer yet.
    pub fn new() -> Self {
        Self {
            answers: Mutex::new(VecDeque::new()),
            sent: Mutex::new(Vec::new()),
            start: Instant::now(),
        }
    }

    /// Adds the answer to the next unanswered request: `status` and a JSON `body`.
    pub fn answer(&self, status: u16, body: &str) -> &Self {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((status, body.to_owned()));
        self
    }

    /// Every request so far, as `"METHOD /path"`.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl FlowIo for ScriptedDiscord {
    type Error = String;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(format!(
            "{} {}",
            request.method(),
            request.uri().path()
        ));
        let next = self.answers.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        let answer = match next {
            Some((status, body)) => http::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.into_bytes())
                .map_err(|e| e.to_string()),
            None => Err("no scripted answer".to_owned()),
        };
        std::future::ready(answer)
    }

    fn wait(&self, _duration: Duration) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    fn now(&self) -> SystemTime {
        now()
    }
}

impl ClientIo for ScriptedDiscord {
    fn instant(&self) -> Instant {
        self.start
    }
}
