//! The sample sites' applications, rebuilt from the library for tests and benchmarks, with the
//! switches that exist only for them ([`Switches`]: a movable clock, `SameSite=Strict`
//! cookies, no shared refresh lock, timeouts, bounds, cache lifetimes, worker counts).
//!
//! Each is what `examples/axum-site` / `examples/actix-site` build (the same library calls,
//! the same `sample-common` settings, pages and Redis connections), plus those switches; the
//! sample binaries themselves are checked by their own tests with [`binary`].
#![forbid(unsafe_code)]
#![allow(clippy::expect_used)]

pub mod actix;
pub mod axum;
pub mod binary;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use discord_oauth_axum::core::cdn::CDN_BASE;
use discord_oauth_mock::{MockDiscord, fixture};
pub use sample_common::{BoxError, DiscordApp, Page, Sample, SessionKey, SessionStore, Settings};

/// A wall clock (the library's `Clock` type, the same for both frameworks).
pub type Clock = discord_oauth_axum::Clock;

/// What tests change beyond the sample-site settings.
#[derive(Clone)]
pub struct Switches {
    /// The site's wall clock (tests move it to make tokens expire); `None`: the real one.
    pub clock: Option<Clock>,
    /// `SameSite=Strict` session cookie: demonstrates that it breaks the login (the cookie
    /// does not come back on Discord's cross-site redirect to the callback).
    pub strict_cookies: bool,
    /// With Redis, token refreshes single-flight across instances with a Redis lock (default).
    /// `false` shows what happens without it.
    pub shared_refresh_lock: bool,
    /// Time limit for one request to Discord.
    pub timeout: Duration,
    /// How long a started login may take.
    pub pending_ttl: Duration,
    /// The host name browsers use to reach the site (default: the bound IP address).
    pub public_host: Option<String>,
    /// Refuse callbacks without `iss` (RFC 9207 strict mode).
    pub require_issuer: bool,
    /// The most requests to Discord in flight at once.
    pub max_concurrent_requests: usize,
    /// How long a session seen logged in is served from memory (axum: the layer's cache;
    /// actix: the authenticated fast path); `None`: the library's default. Zero: every
    /// request reads the store.
    pub cache_ttl: Option<Duration>,
    /// actix-web worker threads.
    pub workers: usize,
}

impl std::fmt::Debug for Switches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switches")
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("strict_cookies", &self.strict_cookies)
            .field("shared_refresh_lock", &self.shared_refresh_lock)
            .field("public_host", &self.public_host)
            .finish_non_exhaustive()
    }
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            clock: None,
            strict_cookies: false,
            shared_refresh_lock: true,
            timeout: Duration::from_secs(10),
            pending_ttl: Duration::from_secs(600),
            public_host: None,
            require_issuer: false,
            max_concurrent_requests: discord_oauth_axum::core::login::outbound::DEFAULT_MAX_CONCURRENT_REQUESTS,
            cache_ttl: None,
            workers: 2,
        }
    }
}

/// Settings for a site on a free loopback port talking to `mock` as its fixture application
/// (call [`register`] once the site runs).
pub fn settings_for(mock: &MockDiscord) -> Settings {
    let app = DiscordApp {
        // The page keeps Discord's CDN, as a site configured for discord.com does.
        cdn_base: CDN_BASE.into(),
        ..DiscordApp::mock(mock)
    };
    Settings::new(Some(app), SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Registers the site at `origin` with `mock` (its callback URL).
pub fn register(mock: &MockDiscord, origin: &str) -> Result<(), BoxError> {
    mock.add_redirect_uri(fixture::CLIENT_ID, format!("{origin}/auth/callback"))?;
    Ok(())
}

/// A page as the samples show it, with Discord's CDN and no offline banner.
pub fn discord_page(framework: &str) -> Page {
    Page::new(framework, None, CDN_BASE.parse().expect("Discord's CDN URL parses"))
}

/// Binds, then prepares the site as the samples do, with the login switches applied.
async fn prepare(settings: Settings, switches: &Switches, framework: &str) -> Result<Sample, BoxError> {
    let listener = TcpListener::bind(settings.bind)?;
    let addr = listener.local_addr()?;
    let origin = match &switches.public_host {
        Some(host) => format!("http://{host}:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    let mut sample = Sample::start_on(settings, listener, origin, framework).await?;
    sample.login = sample
        .login
        .pending_ttl(switches.pending_ttl)
        .require_issuer(switches.require_issuer);
    Ok(sample)
}
