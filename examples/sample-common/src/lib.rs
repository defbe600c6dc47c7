//! What the two sample sites (`examples/axum-site`, `examples/actix-site`) share, so that each
//! site's `main.rs` is only its framework's integration of the library:
//! - [`Settings`]: the sample-site contract, read from the environment;
//! - [`Sample::start`]: binds `BIND`, starts the mock Discord in-process when
//!   `DISCORD_CLIENT_ID` is unset (the offline demo), and prepares the [`LoginConfig`]
//!   builder, the cookie keys and the webhook event verifier;
//! - [`Page`]: the HTML home page and the `/me` JSON;
//! - [`run`]: a site's `main` (logging, errors, Ctrl-C);
//! - with the features `axum` / `actix`: Redis connections for the two frameworks' stores.
//!
//! # Environment
//! | variable | meaning | default |
//! |---|---|---|
//! | `DISCORD_CLIENT_ID` | the application's id; unset: offline demo against the mock | — |
//! | `DISCORD_CLIENT_SECRET` | its secret (unset: a public client) | — |
//! | `DISCORD_REDIRECT_URI` | the callback URL registered at Discord | `http://{BIND}/auth/callback` |
//! | `DISCORD_API_BASE` | Discord's API | `https://discord.com/api/v10` |
//! | `DISCORD_AUTHORIZE_URL` | Discord's consent page | `https://discord.com/oauth2/authorize` |
//! | `DISCORD_CDN_BASE` | where avatars are (offline: the mock's CDN) | `https://cdn.discordapp.com` |
//! | `DISCORD_PUBLIC_KEY` | the application's public key (hex): serves `POST /discord/events` | offline: the mock's |
//! | `BIND` | the address to listen on | `127.0.0.1:3000` |
//! | `SESSION_STORE` | `memory`, `redis` (actix also `cookie`) | `memory` |
//! | `REDIS_URL` | with `redis`; `rediss://` for TLS | `redis://127.0.0.1:6379` |
//! | `SESSION_KEY` | ≥ 64 bytes of key material, hex or base64 (`openssl rand -base64 64`) | random per process |
//! | `SESSION_KEY_PREVIOUS` | while rotating the key: the previous one, for at least the 7-day idle timeout | — |
//!
//! `SESSION_KEY` encrypts and authenticates the session cookie and seals the cookies of logins
//! in progress. Unset, a random key is made at startup: fine for one process, but sessions do
//! not survive a restart and instances cannot share them, so set the same key on all of them.
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod page;
#[cfg(any(feature = "axum", feature = "actix"))]
pub mod redis;
mod settings;

use std::error::Error;
use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use discord_oauth_core::api::client::ApiDriverConfig;
use discord_oauth_core::events::{EventVerifier, WebhookPayload};
use discord_oauth_core::login::pending_cookie::LoginCookieKey;
use discord_oauth_core::login::{LoginConfig, LoginConfigBuilder};
use discord_oauth_core::{Endpoints, Scope};
use discord_oauth_mock::{MockDiscord, fixture};
use tracing_subscriber::EnvFilter;

pub use page::{Page, not_logged_in};
pub use settings::{DEFAULT_BIND, DEFAULT_REDIS_URL, DiscordApp, SessionKey, SessionStore, Settings};

/// Any startup error, shown to the person running the site.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How long the guild list on `/` is answered from the library's read cache: reloading the
/// page calls Discord at most once a minute per user.
pub const GUILDS_CACHE_TTL: Duration = Duration::from_secs(60);

/// The library's API driver settings the samples use (the guild list's read cache).
pub fn api_config() -> ApiDriverConfig {
    ApiDriverConfig {
        cache_ttl: GUILDS_CACHE_TTL,
        ..ApiDriverConfig::default()
    }
}

/// What the samples do with Discord's webhook events: the library's receiver has already
/// ended a deauthorized user's sessions; every event is logged (a real site would, for
/// example, record entitlements).
pub fn log_event(payload: &WebhookPayload) {
    let user_id = payload.event.user().map(|u| u.id);
    tracing::info!(event = payload.event.event_type(), user_id = ?user_id, "Discord event");
}

/// A site ready to serve: its socket, its login configuration (still a builder), its keys and
/// its page. In offline mode the mock Discord serves as long as [`Sample::mock`] (or a clone)
/// is kept.
#[derive(Debug)]
pub struct Sample {
    /// The bound socket (`BIND`).
    pub listener: TcpListener,
    /// The site's origin as browsers see it (`http://host:port`).
    pub origin: String,
    /// Client id and secret, redirect URI, endpoints, the scopes `identify` and `guilds`, and
    /// the key sealing logins in progress (derived from the session key, so a login started
    /// on one instance completes on another).
    pub login: LoginConfigBuilder,
    /// The session cookie's key material.
    pub session_key: SessionKey,
    /// Earlier keys still accepted while the key is rotated.
    pub previous_session_keys: Vec<SessionKey>,
    /// Where sessions are kept.
    pub session_store: SessionStore,
    /// Verifies Discord's webhook events, when the site serves `POST /discord/events`: with
    /// `DISCORD_PUBLIC_KEY`, or offline with the mock's key (the mock then sends its events,
    /// e.g. `APPLICATION_DEAUTHORIZED` when a grant is revoked, to this site).
    pub events: Option<EventVerifier>,
    /// The pages.
    pub page: Page,
    /// The in-process mock Discord, in offline mode.
    pub mock: Option<MockDiscord>,
}

impl Sample {
    /// Binds `settings.bind` and prepares the site (see [`Sample::start_on`]).
    pub async fn start(settings: Settings, framework: &str) -> Result<Self, BoxError> {
        let listener = TcpListener::bind(settings.bind)?;
        let origin = format!("http://{}", listener.local_addr()?);
        Self::start_on(settings, listener, origin, framework).await
    }

    /// Prepares the site on `listener`, reached by browsers at `origin`; offline, starts the
    /// mock Discord and registers the site's callback and webhook URL there.
    pub async fn start_on(
        settings: Settings,
        listener: TcpListener,
        origin: String,
        framework: &str,
    ) -> Result<Self, BoxError> {
        let redirect_uri = settings
            .redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{origin}/auth/callback"));
        let (app, mock) = if let Some(app) = settings.discord {
            (app, None)
        } else {
            let mock = MockDiscord::builder().start().await?;
            tracing::warn!(
                "DISCORD_CLIENT_ID is unset: offline demo mode, using the mock Discord at {}",
                mock.base_url()
            );
            mock.add_redirect_uri(fixture::CLIENT_ID, redirect_uri.clone())?;
            (DiscordApp::mock(&mock), Some(mock))
        };
        let events = match (&settings.public_key, &mock) {
            (Some(key), _) => Some(EventVerifier::from_hex(key).map_err(|e| format!("DISCORD_PUBLIC_KEY: {e}"))?),
            (None, Some(mock)) => {
                mock.set_event_webhook_url(fixture::CLIENT_ID, format!("{origin}/discord/events"))?;
                Some(EventVerifier::from_hex(mock.events_public_key_hex())?)
            }
            (None, None) => None,
        };
        let session_key = settings.session_key.unwrap_or_else(|| {
            let note = "SESSION_KEY is unset: the session cookie key is random for this process, so \
                        sessions end when it restarts; several instances must share one SESSION_KEY";
            if matches!(settings.session_store, SessionStore::Redis { .. }) {
                tracing::warn!("{note}");
            } else {
                tracing::info!("{note}");
            }
            SessionKey::random()
        });
        let mut login_key = LoginCookieKey::derive(session_key.as_bytes())?;
        for previous in &settings.previous_session_keys {
            login_key = login_key.with_previous(previous.as_bytes())?;
        }
        let mut login = LoginConfig::builder(app.client_id.clone(), redirect_uri)
            .scopes([Scope::Identify, Scope::Guilds])
            .endpoints(Endpoints::new(app.authorize_url.parse()?, app.api_base.parse()?)?)
            .login_cookie_key(login_key);
        if let Some(secret) = &app.client_secret {
            login = login.client_secret(secret.clone());
        }
        let offline = mock.as_ref().map(MockDiscord::base_url);
        Ok(Self {
            listener,
            origin,
            login,
            session_key,
            previous_session_keys: settings.previous_session_keys,
            session_store: settings.session_store,
            events,
            page: Page::new(framework, offline, app.cdn_base.parse()?),
            mock,
        })
    }

    /// The session cookie key and the previous ones, as the framework's cookie `Key` type.
    pub fn cookie_keys<K>(&self) -> Result<(K, Vec<K>), BoxError>
    where
        K: for<'a> TryFrom<&'a [u8], Error: std::fmt::Display>,
    {
        let key = |k: &SessionKey| K::try_from(k.as_bytes()).map_err(|e| format!("SESSION_KEY: {e}"));
        let previous = self.previous_session_keys.iter().map(key).collect::<Result<_, _>>()?;
        Ok((key(&self.session_key)?, previous))
    }
}

/// A sample site's `main`: logs to stdout (`RUST_LOG`, default `info`), reads the
/// [`Settings`], starts the [`Sample`] and hands it to `serve` until it returns or Ctrl-C.
/// Configuration and startup errors are printed, with a failure exit code.
pub async fn run<F, Fut>(framework: &'static str, serve: F) -> ExitCode
where
    F: FnOnce(Sample) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    run_with(framework, settings, serve).await
}

/// [`run`] with [`Settings`] read elsewhere (e.g. the gateway's, which adds its own keys and a
/// config file): logs to stdout, starts the [`Sample`], serves until `serve` returns or Ctrl-C.
pub async fn run_with<F, Fut>(framework: &'static str, settings: Settings, serve: F) -> ExitCode
where
    F: FnOnce(Sample) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let sample = match Sample::start(settings, framework).await {
        Ok(sample) => sample,
        Err(e) => {
            eprintln!("could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("{framework} sample site listening on {}", sample.origin);
    // The mock Discord serves until its last handle is dropped.
    let _mock = sample.mock.clone();
    tokio::select! {
        served = serve(sample) => {
            if let Err(e) = served {
                eprintln!("could not serve: {e}");
            }
            ExitCode::FAILURE
        }
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
