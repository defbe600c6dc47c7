//! The sample-site contract: settings read from the environment.

use std::net::SocketAddr;

use base64::Engine as _;
use discord_oauth_core::cdn::CDN_BASE;
use discord_oauth_mock::{MockDiscord, fixture};

/// The default `BIND`.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default `REDIS_URL`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A sample site's settings (see the crate docs for the environment variables).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Discord application; `None` (no `DISCORD_CLIENT_ID`): the offline demo, against
    /// the mock Discord started in-process.
    pub discord: Option<DiscordApp>,
    /// `DISCORD_REDIRECT_URI`; default `{origin}/auth/callback`.
    pub redirect_uri: Option<String>,
    /// `BIND` (port 0 picks a free port).
    pub bind: SocketAddr,
    /// `SESSION_STORE`, `REDIS_URL`.
    pub session_store: SessionStore,
    /// `SESSION_KEY`; `None`: random per process.
    pub session_key: Option<SessionKey>,
    /// `SESSION_KEY_PREVIOUS`: earlier keys still accepted while the key is rotated.
    pub previous_session_keys: Vec<SessionKey>,
    /// `DISCORD_PUBLIC_KEY` (hex): the site serves `POST /discord/events` with it.
    pub public_key: Option<String>,
}

/// A Discord application, and where Discord is. `Debug` never shows the secret.
#[derive(Clone)]
pub struct DiscordApp {
    /// `DISCORD_CLIENT_ID`.
    pub client_id: String,
    /// `DISCORD_CLIENT_SECRET` (`None`: a public client).
    pub client_secret: Option<String>,
    /// `DISCORD_AUTHORIZE_URL`.
    pub authorize_url: String,
    /// `DISCORD_API_BASE`.
    pub api_base: String,
    /// `DISCORD_CDN_BASE`.
    pub cdn_base: String,
}

impl std::fmt::Debug for DiscordApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.client_secret.as_ref().map(|_| "[redacted]");
        write!(
            f,
            "DiscordApp {{ client_id: {:?}, client_secret: {secret:?}, authorize_url: {:?}, api_base: {:?}, cdn_base: {:?} }}",
            self.client_id, self.authorize_url, self.api_base, self.cdn_base
        )
    }
}

impl DiscordApp {
    /// The application `client_id` on discord.com.
    pub fn new(client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            authorize_url: "https://discord.com/oauth2/authorize".into(),
            api_base: "https://discord.com/api/v10".into(),
            cdn_base: CDN_BASE.into(),
        }
    }

    /// The mock's fixture application, on `mock` (its API, consent page and CDN).
    pub fn mock(mock: &MockDiscord) -> Self {
        Self {
            authorize_url: mock.authorize_url(),
            api_base: mock.api_base(),
            cdn_base: mock.cdn_base(),
            ..Self::new(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET.into()))
        }
    }
}

/// Where sessions are kept (`SESSION_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SessionStore {
    /// `memory` (default): in this process, bounded. Lost on restart, not shared.
    #[default]
    Memory,
    /// `redis`: in Redis, shared by every instance using the same URL.
    Redis {
        /// `REDIS_URL`, e.g. `redis://127.0.0.1:6379` or `rediss://:password@host:6380/0`.
        url: String,
    },
    /// `cookie` (actix-web only): the whole session in the encrypted cookie, nothing
    /// server-side. A copy of the cookie cannot be deleted: after a logout, instances that do
    /// not know of it accept the copy until it expires.
    Cookie,
}

impl SessionStore {
    /// For logs: where sessions are, without the Redis password.
    pub fn redacted(&self) -> String {
        match self {
            SessionStore::Memory => "this process's memory".into(),
            SessionStore::Cookie => "the encrypted session cookie".into(),
            SessionStore::Redis { url } => match url.rsplit_once('@') {
                Some((scheme_user, host)) => {
                    let scheme = scheme_user.split_once("://").map_or("redis", |(s, _)| s);
                    format!("redis at {scheme}://[credentials]@{host}")
                }
                None => format!("redis at {url}"),
            },
        }
    }
}

/// Key material for the session cookie: at least [`SessionKey::MIN_LEN`] bytes. `Debug`
/// never shows it.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey([redacted; {} bytes])", self.0.len())
    }
}

impl SessionKey {
    /// The minimum key length in bytes.
    pub const MIN_LEN: usize = 64;

    /// A key from raw bytes (at least [`SessionKey::MIN_LEN`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < Self::MIN_LEN {
            return Err(format!(
                "SESSION_KEY is too short: {} bytes of key material, at least {} are needed \
                 (e.g. `openssl rand -base64 64`)",
                bytes.len(),
                Self::MIN_LEN
            ));
        }
        Ok(Self(bytes))
    }

    /// Parses a key: hex, or base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| format!("SESSION_KEY is not valid hex: {e}"))?
        } else {
            let unpadded = text.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
                .map_err(|_| {
                    "SESSION_KEY must be hex or base64 key material, at least 64 bytes \
                     (e.g. `openssl rand -base64 64`)"
                        .to_owned()
                })?
        };
        Self::from_bytes(bytes)
    }

    /// A random key (what a site uses when `SESSION_KEY` is unset).
    pub fn random() -> Self {
        Self(rand::random::<[u8; Self::MIN_LEN]>().to_vec())
    }

    /// The key material.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Settings {
    /// Reads the environment (see the crate docs). Empty variables count as unset.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the settings from `var` (the environment, or a test's table).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let bind = var("BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let bind = bind
            .parse()
            .map_err(|e| format!("BIND is not an address like {DEFAULT_BIND}: {e}"))?;
        let discord = var("DISCORD_CLIENT_ID").map(|client_id| {
            let defaults = DiscordApp::new(client_id, var("DISCORD_CLIENT_SECRET"));
            DiscordApp {
                authorize_url: var("DISCORD_AUTHORIZE_URL").unwrap_or(defaults.authorize_url.clone()),
                api_base: var("DISCORD_API_BASE").unwrap_or(defaults.api_base.clone()),
                cdn_base: var("DISCORD_CDN_BASE").unwrap_or(defaults.cdn_base.clone()),
                ..defaults
            }
        });
        let session_store = match var("SESSION_STORE").map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("memory") => SessionStore::Memory,
            Some("redis") => SessionStore::Redis {
                url: var("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.into()),
            },
            Some("cookie") => SessionStore::Cookie,
            Some(other) => {
                return Err(format!(
                    "SESSION_STORE must be `memory`, `redis` or `cookie`, not `{other}`"
                ));
            }
        };
        Ok(Self {
            redirect_uri: var("DISCORD_REDIRECT_URI"),
            session_store,
            session_key: var("SESSION_KEY").map(|k| SessionKey::parse(&k)).transpose()?,
            previous_session_keys: var("SESSION_KEY_PREVIOUS")
                .map(|k| SessionKey::parse(&k))
                .transpose()?
                .into_iter()
                .collect(),
            public_key: var("DISCORD_PUBLIC_KEY"),
            ..Self::new(discord, bind)
        })
    }

    /// Settings with every default: offline unless `discord` is given.
    pub fn new(discord: Option<DiscordApp>, bind: SocketAddr) -> Self {
        Self {
            discord,
            redirect_uri: None,
            bind,
            session_store: SessionStore::Memory,
            session_key: None,
            previous_session_keys: Vec::new(),
            public_key: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_key_needs_64_bytes_of_hex_or_base64() {
        let short = SessionKey::parse(&"ab".repeat(63)).unwrap_err();
        assert!(short.contains("too short: 63 bytes"), "{short}");
        assert!(SessionKey::parse("not a key!").unwrap_err().contains("hex or base64"));
        let hex = SessionKey::parse(&"ab".repeat(64)).unwrap();
        assert_eq!(hex.as_bytes(), [0xab; 64]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert_eq!(SessionKey::parse(&b64).unwrap().as_bytes(), [7; 64]);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 64]);
        assert_eq!(SessionKey::parse(&url_safe).unwrap().as_bytes(), [0xfb; 64]);
        assert_eq!(format!("{hex:?}"), "SessionKey([redacted; 64 bytes])");
        assert_ne!(SessionKey::random().as_bytes(), SessionKey::random().as_bytes());
    }

    #[test]
    fn the_environment_contract() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Settings::from_vars(move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
        };
        // Nothing set: offline, memory store, 127.0.0.1:3000.
        let offline = env(&[("DISCORD_CLIENT_SECRET", "ignored"), ("BIND", " ")]).unwrap();
        assert!(offline.discord.is_none());
        assert_eq!(offline.bind.to_string(), DEFAULT_BIND);
        assert_eq!(offline.session_store, SessionStore::Memory);
        let real = env(&[
            ("DISCORD_CLIENT_ID", "42"),
            ("DISCORD_CLIENT_SECRET", "hunter2"),
            ("DISCORD_CDN_BASE", "https://cdn.example"),
            ("SESSION_STORE", "Redis"),
            ("DISCORD_PUBLIC_KEY", "ab"),
        ])
        .unwrap();
        let app = real.discord.as_ref().unwrap();
        assert_eq!(app.api_base, "https://discord.com/api/v10");
        assert_eq!(app.authorize_url, "https://discord.com/oauth2/authorize");
        assert_eq!(app.cdn_base, "https://cdn.example");
        assert!(!format!("{real:?}").contains("hunter2"), "the secret stays out of logs");
        assert_eq!(
            real.session_store,
            SessionStore::Redis {
                url: DEFAULT_REDIS_URL.into()
            }
        );
        assert_eq!(real.public_key.as_deref(), Some("ab"));
        assert!(env(&[("SESSION_STORE", "disk")]).unwrap_err().contains("`disk`"));
        assert!(env(&[("BIND", "localhost")]).unwrap_err().contains("BIND"));
        assert!(env(&[("SESSION_KEY", "short")]).is_err());
    }

    #[test]
    fn redis_url_passwords_stay_out_of_logs() {
        let store = SessionStore::Redis {
            url: "rediss://:hunter2@redis.internal:6380/0".into(),
        };
        assert_eq!(
            store.redacted(),
            "redis at rediss://[credentials]@redis.internal:6380/0"
        );
    }
}
