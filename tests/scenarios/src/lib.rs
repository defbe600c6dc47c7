//! Harness for the scenario suite: start a sample site against a fresh mock Discord, and drive
//! it like a browser (cookie jar, no automatic redirects).
//!
//! Every scenario is an `async fn(SiteKind)`; `tests/sites.rs` runs each one against every
//! sample site, so the framework integrations cannot drift apart.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, clippy::missing_panics_doc)]

pub mod multi_instance;
pub mod redis;
pub mod scenarios;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use discord_oauth_mock::{MockDiscord, MockUser, fixture};
use discord_oauth_test_sites as sites;
use reqwest::StatusCode;
use reqwest::cookie::CookieStore;
use reqwest::header::LOCATION;

/// Which sample site to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteKind {
    /// `examples/axum-site` (rebuilt with the test switches by `discord-oauth-test-sites`).
    Axum,
    /// `examples/actix-site` (likewise).
    Actix,
}

/// Options for a test site.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub pending_ttl: Duration,
    pub redirect_uri: Option<String>,
    pub extra_users: usize,
    /// Browser mode: the mock shows its consent page (no auto-consent) and the site is reached
    /// as `localhost` while the mock is `127.0.0.1`, two different sites as with discord.com.
    pub browser: bool,
    /// `SameSite=Strict` session cookie (the H-04 drill).
    pub strict_cookies: bool,
    /// Where the site keeps sessions.
    pub store: Store,
    /// The session cookie key (`SESSION_KEY`); `None`: random per instance.
    pub session_key: Option<Vec<u8>>,
    /// Keys of earlier cookies still accepted (`SESSION_KEY_PREVIOUS`, key rotation).
    pub previous_session_keys: Vec<Vec<u8>>,
    /// The in-process session cache TTL (axum: the layer's cache; actix: the authenticated
    /// fast path); `None`: the site's default (30 s). Zero: every request reads the store.
    pub cache_ttl: Option<Duration>,
    /// With Redis: refresh single flight across instances (default). `false` demonstrates the
    /// tower layer's fallback without it (the actix integration has none: see
    /// `tests/redis.rs`).
    pub shared_refresh_lock: bool,
    /// The site refuses callbacks without `iss` (B-15).
    pub require_issuer: bool,
    /// The mock Discord adds `iss` to its redirects (it does not by default, like discord.com).
    pub mock_sends_iss: bool,
    /// The site's bound on concurrent requests to Discord; `None`: the default (32).
    pub max_concurrent_requests: Option<usize>,
    /// The site serves Discord's webhook events (`DISCORD_PUBLIC_KEY` = the mock's key), and
    /// the mock sends its events to the first instance's `/discord/events`.
    pub events: bool,
}

/// Where a test site keeps its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Store {
    /// Each site's default: in the process, server-side, bounded (`discord_oauth_axum::MemoryStore`,
    /// `discord_oauth_actix::MemoryStore`).
    #[default]
    Memory,
    /// The same, named explicitly.
    Process,
    /// actix: the whole session in the encrypted cookie (actix-session's cookie store);
    /// axum: the in-process store (tower-sessions has no cookie store).
    Cookie,
    /// Redis at this URL.
    Redis(String),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            pending_ttl: Duration::from_secs(600),
            redirect_uri: None,
            extra_users: 0,
            browser: false,
            strict_cookies: false,
            store: Store::Memory,
            session_key: None,
            previous_session_keys: Vec::new(),
            cache_ttl: None,
            shared_refresh_lock: true,
            require_issuer: false,
            mock_sends_iss: false,
            max_concurrent_requests: None,
            events: false,
        }
    }
}

/// A shiftable wall clock for the site: tests move it to make tokens expire, or skew it.
#[derive(Debug, Clone, Default)]
pub struct ShiftClock(Arc<AtomicI64>);

impl ShiftClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(i64::try_from(by.as_secs()).unwrap(), Ordering::SeqCst);
    }

    /// Sets the offset from the real clock, in seconds (negative: the site's clock is behind).
    pub fn set_offset(&self, seconds: i64) {
        self.0.store(seconds, Ordering::SeqCst);
    }

    pub fn clock(&self) -> discord_oauth_axum::Clock {
        let offset = Arc::clone(&self.0);
        Arc::new(move || {
            let o = offset.load(Ordering::SeqCst);
            let now = SystemTime::now();
            if o >= 0 {
                now + Duration::from_secs(o.unsigned_abs())
            } else {
                now - Duration::from_secs(o.unsigned_abs())
            }
        })
    }
}

/// A running sample site with its own mock Discord.
#[allow(missing_debug_implementations)]
pub struct TestSite {
    pub kind: SiteKind,
    pub url: String,
    pub addr: SocketAddr,
    pub mock: MockDiscord,
    pub clock: ShiftClock,
    options: Options,
    stop: Box<dyn Fn() + Send + Sync>,
}

impl Drop for TestSite {
    fn drop(&mut self) {
        (self.stop)();
    }
}

/// Another instance of a [`TestSite`]'s site: same kind, options, mock Discord and clock (as
/// several instances behind a load balancer). Stops when dropped.
#[allow(missing_debug_implementations)]
pub struct Instance {
    pub url: String,
    pub addr: SocketAddr,
    stop: Box<dyn Fn() + Send + Sync>,
}

impl Instance {
    /// Stops serving (new connections are refused).
    pub fn stop(&self) {
        (self.stop)();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        (self.stop)();
    }
}

struct Running {
    url: String,
    addr: SocketAddr,
    stop: Box<dyn Fn() + Send + Sync>,
}

/// The id of the `n`th extra mock user.
pub fn extra_user_id(n: usize) -> String {
    format!("{}", 700_000_000_000_000_000u64 + n as u64)
}

impl TestSite {
    pub async fn start(kind: SiteKind) -> Self {
        Self::start_with(kind, Options::default()).await
    }

    pub async fn start_with(kind: SiteKind, options: Options) -> Self {
        let mut builder = MockDiscord::builder()
            .auto_consent(!options.browser)
            .include_iss(options.mock_sends_iss);
        for n in 0..options.extra_users {
            builder = builder.user(MockUser::new(extra_user_id(n), format!("user{n}")));
        }
        let mock = builder.start().await.unwrap();
        let clock = ShiftClock::default();
        let Running { url, addr, stop } = start_server(kind, &options, &mock, &clock).await;
        if options.events {
            mock.set_event_webhook_url(fixture::CLIENT_ID, format!("{url}/discord/events"))
                .unwrap();
        }
        Self {
            kind,
            url,
            addr,
            mock,
            clock,
            options,
            stop,
        }
    }

    /// Starts another instance of this site (see [`Instance`]).
    pub async fn start_instance(&self) -> Instance {
        self.start_instance_with(self.options.clone()).await
    }

    /// Starts another instance with other options, same mock and clock.
    pub async fn start_instance_with(&self, options: Options) -> Instance {
        let Running { url, addr, stop } = start_server(self.kind, &options, &self.mock, &self.clock).await;
        Instance { url, addr, stop }
    }

    /// Stops this instance (new connections are refused; see [`TestSite::start_instance`]
    /// for a "restart").
    pub fn stop(&self) {
        (self.stop)();
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.url, &self.mock.base_url())
    }

    /// Token-endpoint calls with this grant type.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.mock.count_grant(grant_type)
    }
}

async fn start_server(kind: SiteKind, options: &Options, mock: &MockDiscord, clock: &ShiftClock) -> Running {
    let mut settings = sites::settings_for(mock);
    settings.redirect_uri.clone_from(&options.redirect_uri);
    settings.session_store = match &options.store {
        // tower-sessions has no cookie store: the axum site keeps `Cookie` in the process.
        Store::Cookie => sites::SessionStore::Cookie,
        Store::Memory | Store::Process => sites::SessionStore::Memory,
        Store::Redis(url) => sites::SessionStore::Redis { url: url.clone() },
    };
    settings.session_key = options
        .session_key
        .clone()
        .map(|k| sites::SessionKey::from_bytes(k).unwrap());
    settings.previous_session_keys = options
        .previous_session_keys
        .iter()
        .map(|k| sites::SessionKey::from_bytes(k.clone()).unwrap())
        .collect();
    settings.public_key = options.events.then(|| mock.events_public_key_hex().to_owned());
    let mut switches = sites::Switches {
        clock: Some(clock.clock()),
        strict_cookies: options.strict_cookies,
        shared_refresh_lock: options.shared_refresh_lock,
        timeout: options.timeout,
        pending_ttl: options.pending_ttl,
        public_host: options.browser.then(|| "localhost".to_owned()),
        require_issuer: options.require_issuer,
        cache_ttl: options.cache_ttl,
        ..sites::Switches::default()
    };
    if let Some(max) = options.max_concurrent_requests {
        switches.max_concurrent_requests = max;
    }
    let (url, addr, stop): (String, SocketAddr, Box<dyn Fn() + Send + Sync>) = match kind {
        SiteKind::Axum => {
            let site = Arc::new(sites::axum::start(settings, &switches).await.unwrap());
            (site.url(), site.addr, Box::new(move || site.stop()))
        }
        SiteKind::Actix => {
            let site = Arc::new(sites::actix::start(settings, &switches).await.unwrap());
            (site.url(), site.addr, Box::new(move || site.stop()))
        }
    };
    sites::register(mock, &url).unwrap();
    Running { url, addr, stop }
}

/// A browser: one cookie jar, redirects followed by hand.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    pub site: String,
    pub mock: String,
}

impl Browser {
    pub fn new(site: &str, mock: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::clone(&jar))
            .build()
            .unwrap();
        Self {
            http,
            jar,
            site: site.to_owned(),
            mock: mock.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.site)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/logout` as the site's own logout form does (same-origin `Origin`).
    pub async fn logout(&self) -> reqwest::Response {
        self.http
            .post(self.url("/auth/logout"))
            .header("origin", self.site.clone())
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/logout?everywhere=1`: "log out of all devices".
    pub async fn logout_everywhere(&self) -> reqwest::Response {
        self.http
            .post(self.url("/auth/logout?everywhere=1"))
            .header("origin", self.site.clone())
            .send()
            .await
            .unwrap()
    }

    /// The same browser (same cookie jar) talking to another instance of the site, over new
    /// connections.
    pub fn at(&self, site: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::clone(&self.jar))
            .build()
            .unwrap();
        Self {
            http,
            jar: Arc::clone(&self.jar),
            site: site.to_owned(),
            mock: self.mock.clone(),
        }
    }

    /// Another browser holding a copy of this one's cookies for the site (a second device
    /// with the same session, or an attacker replaying it); later changes are not shared.
    pub fn copy(&self) -> Browser {
        let copy = Browser::new(&self.site, &self.mock);
        let url: url::Url = self.site.parse().unwrap();
        if let Some(header) = self.jar.cookies(&url) {
            for cookie in header.to_str().unwrap().split("; ") {
                copy.jar.add_cookie_str(&format!("{cookie}; Path=/"), &url);
            }
        }
        copy
    }

    /// The `Cookie` header this browser sends to the site (all its cookies).
    pub fn cookie_header(&self) -> String {
        let url: url::Url = self.site.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|h| h.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Adds a cookie for the site to this browser's jar (e.g. one an attacker planted).
    pub fn plant_cookie(&self, pair: &str) {
        let url: url::Url = self.site.parse().unwrap();
        self.jar.add_cookie_str(&format!("{pair}; Path=/"), &url);
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        let url: url::Url = self.site.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header.to_str().unwrap().split("; ").find_map(|c| {
            c.split_once('=')
                .filter(|(k, _)| *k == "discord_oauth" || *k == "__Host-discord_oauth")
                .map(|(_, v)| v.to_owned())
        })
    }

    /// Sets who is "logged in to Discord" in this browser (the mock's cookie).
    pub async fn discord_user(&self, user_id: &str) {
        let r = self
            .http
            .get(format!("{}/mock/login-as/{user_id}", self.mock))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "login-as: {}",
            r.status()
        );
    }

    /// `GET /auth/login?return_to=…` → the authorize URL at Discord.
    pub async fn start_login(&self, return_to: Option<&str>) -> String {
        let path = match return_to {
            Some(r) => format!("/auth/login?return_to={}", urlencode(r)),
            None => "/auth/login".to_owned(),
        };
        let r = self.get(&path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login start");
        location(&r)
    }

    /// Visits Discord's authorize URL (auto-consent) → the callback URL it redirects to.
    pub async fn consent(&self, authorize_url: &str) -> String {
        let r = self.http.get(authorize_url).send().await.unwrap();
        assert!(
            r.status().is_redirection(),
            "consent: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        location(&r)
    }

    /// Full login; returns the callback's response (a 303 on success).
    pub async fn login(&self, return_to: Option<&str>) -> reqwest::Response {
        let authorize = self.start_login(return_to).await;
        let callback = self.consent(&authorize).await;
        self.get(&callback).await
    }

    /// `/me` as JSON, or the status when not 200.
    pub async fn me(&self) -> Result<serde_json::Value, StatusCode> {
        let r = self.get_json("/me").await;
        if r.status() == StatusCode::OK {
            Ok(r.json().await.unwrap())
        } else {
            Err(r.status())
        }
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `state` parameter of an authorize URL.
pub fn state_of(authorize_url: &str) -> String {
    let u: url::Url = authorize_url.parse().unwrap();
    u.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

/// Sends `GET {target}` over a fresh connection exactly as written (no normalisation of `..`,
/// percent-encoding or case, which HTTP clients apply), with `headers`, and returns the status
/// and the raw response head.
pub async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::fmt::Write as _;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, head)
}

/// The status of `GET {site}/me` as an API client, with exactly this `Cookie` header, from a
/// fresh client (no cookie jar).
pub async fn me_status_with_cookie_header(site: &str, cookie: impl AsRef<str>) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{site}/me"))
        .header("accept", "application/json")
        .header("cookie", cookie.as_ref())
        .send()
        .await
        .unwrap()
        .status()
}

/// The `name=value` pair of the session cookie, for a `Cookie` header.
pub fn session_cookie_pair(value: &str) -> String {
    format!("discord_oauth={value}")
}

/// Everything a browser saw of a response: status, every header and the body, as one string
/// (to search it for values that must never reach the browser).
pub async fn seen(response: reqwest::Response) -> String {
    use std::fmt::Write as _;

    let mut out = format!("{}\n", response.status());
    for (name, value) in response.headers() {
        let _ = writeln!(out, "{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    out.push_str(&response.text().await.unwrap_or_default());
    out
}
