//! The mock's mutable state: fixtures, codes, grants, tokens, recorded requests, faults.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::events::EventDelivery;
use crate::fault::Fault;
use crate::model::{
    ALL_PERMISSIONS, MockClient, MockConnection, MockGuild, MockMember, MockUser, PERMISSION_ADMINISTRATOR,
    PERMISSION_MANAGE_GUILD,
};
use crate::record::{Endpoint, RecordedRequest};
use crate::util::{earlier, later, random_alnum, random_urlsafe, snowflake, unix_secs};

/// Settings that change how the mock behaves.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) auto_consent: bool,
    pub(crate) code_ttl: Duration,
    pub(crate) access_token_ttl: Duration,
    pub(crate) include_iss: bool,
    pub(crate) issuer: String,
    pub(crate) revoke_on_code_reuse: bool,
    pub(crate) revoke_on_refresh_reuse: bool,
    pub(crate) max_recorded: usize,
    /// Enforced rate-limit buckets on the user endpoints: `(requests, per window)`.
    pub(crate) buckets: Option<(u32, Duration)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auto_consent: false,
            code_ttl: Duration::from_secs(600),
            access_token_ttl: Duration::from_secs(604_800),
            include_iss: false,
            issuer: "https://discord.com".to_owned(),
            revoke_on_code_reuse: true,
            revoke_on_refresh_reuse: false,
            max_recorded: 100_000,
            buckets: None,
        }
    }
}

/// Tokens issued by the mock, from a token-endpoint call or
/// [`MockDiscord::issue_tokens`](crate::MockDiscord::issue_tokens).
///
/// With `openid`, the mock signs an `id_token` for the user, which the core reads and checks:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{ClientId, DISCORD_ISSUER, oidc::IdToken};
/// use discord_oauth_mock::{MockDiscord, fixture};
///
/// let discord = MockDiscord::start().await?;
/// let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify openid email")?;
/// assert_eq!(tokens.user_id, fixture::WUMPUS_ID);
/// assert_eq!(tokens.scope, "identify openid email");
/// assert!(tokens.refresh_token.is_some());
///
/// let id_token = IdToken::new(tokens.id_token.clone().ok_or("no id_token")?);
/// let claims = id_token.validate(
///     &ClientId::new(fixture::CLIENT_ID.into()),
///     DISCORD_ISSUER,
///     SystemTime::now(),
///     None, // no nonce: these tokens come from no authorization request
///     Duration::from_secs(60),
/// )?;
/// assert_eq!(claims.sub, fixture::WUMPUS_ID);
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedTokens {
    /// The access token (use as `Authorization: Bearer …`).
    pub access_token: String,
    /// The refresh token (none for implicit and client-credentials grants).
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Space-separated granted scopes.
    pub scope: String,
    /// The OpenID Connect id_token, when `openid` was granted.
    pub id_token: Option<String>,
    /// The user the tokens act for.
    pub user_id: String,
    /// The application they were issued to.
    pub client_id: String,
}

impl fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "***"))
            .field("user_id", &self.user_id)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// What the mock thinks of a token (see [`MockDiscord::token_status`](crate::MockDiscord::token_status)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenStatus {
    /// A live access token or an unused refresh token.
    Active,
    /// An access token past its expiry.
    Expired,
    /// Its grant was revoked.
    Revoked,
    /// A refresh token that was already exchanged (rotation).
    Rotated,
    /// Never issued by this mock.
    Unknown,
}

#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessRecord {
    pub(crate) grant_id: u64,
    pub(crate) expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshRecord {
    pub(crate) grant_id: u64,
    pub(crate) rotated: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    /// `None` for a code issued the Embedded App SDK's way (no redirect).
    pub(crate) redirect_uri: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) expires_at: SystemTime,
    pub(crate) used_by: Option<u64>,
    pub(crate) guild_id: Option<String>,
    pub(crate) webhook_channel: Option<(String, String)>,
}

/// Everything behind the mutex.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) clients: BTreeMap<String, MockClient>,
    pub(crate) users: BTreeMap<String, MockUser>,
    pub(crate) guilds: BTreeMap<String, MockGuild>,
    pub(crate) members: Vec<MockMember>,
    pub(crate) connections: Vec<MockConnection>,
    pub(crate) bot_guilds: BTreeSet<(String, String)>,
    pub(crate) role_connections: HashMap<(String, String), Value>,
    pub(crate) default_user: Option<String>,
    pub(crate) codes: HashMap<String, CodeRecord>,
    pub(crate) grants: HashMap<u64, Grant>,
    pub(crate) access: HashMap<String, AccessRecord>,
    pub(crate) refresh: HashMap<String, RefreshRecord>,
    pub(crate) authorizations: HashMap<(String, String), BTreeSet<String>>,
    pub(crate) next_id: u64,
    pub(crate) clock_offset: Duration,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) next_seq: u64,
    pub(crate) faults: Vec<Fault>,
    pub(crate) in_flight: InFlight,
    /// Each application's Events Webhook URL.
    pub(crate) event_webhook_urls: BTreeMap<String, String>,
    /// Every webhook event sent, oldest first.
    pub(crate) event_deliveries: Vec<EventDelivery>,
    /// Enforced rate-limit buckets (`Config::buckets`): (token, bucket) → window start, turns.
    pub(crate) buckets: HashMap<(String, String), (std::time::Instant, u32)>,
    /// Until when every API request gets the global `429`
    /// ([`crate::MockDiscord::global_rate_limit`]).
    pub(crate) global_until: Option<std::time::Instant>,
}

/// Requests being handled right now, per endpoint and for the API as a whole, and the most
/// there were at once (the high-water marks a concurrency bound is checked against).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: HashMap<Endpoint, usize>,
    max: HashMap<Endpoint, usize>,
    api_now: usize,
    api_max: usize,
}

impl InFlight {
    pub(crate) fn enter(&mut self, endpoint: Endpoint, api: bool) {
        let now = self.now.entry(endpoint).or_default();
        *now += 1;
        let now = *now;
        let max = self.max.entry(endpoint).or_default();
        *max = (*max).max(now);
        if api {
            self.api_now += 1;
            self.api_max = self.api_max.max(self.api_now);
        }
    }

    pub(crate) fn leave(&mut self, endpoint: Endpoint, api: bool) {
        if let Some(now) = self.now.get_mut(&endpoint) {
            *now = now.saturating_sub(1);
        }
        if api {
            self.api_now = self.api_now.saturating_sub(1);
        }
    }

    /// The high-water mark of one endpoint, or of every API endpoint together.
    pub(crate) fn max(&self, endpoint: Option<Endpoint>) -> usize {
        match endpoint {
            Some(e) => self.max.get(&e).copied().unwrap_or(0),
            None => self.api_max,
        }
    }

    /// Forgets the high-water marks (requests in flight stay counted).
    pub(crate) fn reset_max(&mut self) {
        self.max.clone_from(&self.now);
        self.api_max = self.api_now;
    }
}

// Tokens and codes are map keys, so neither `State` nor `Shared` derives `Debug`.
impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("clients", &self.clients.values().collect::<Vec<_>>())
            .field("users", &self.users.len())
            .field("guilds", &self.guilds.len())
            .field("members", &self.members.len())
            .field("default_user", &self.default_user)
            .field("codes", &self.codes.len())
            .field("grants", &self.grants.len())
            .field("access_tokens", &self.access.len())
            .field("refresh_tokens", &self.refresh.len())
            .field("requests", &self.requests.len())
            .field("faults", &self.faults)
            .field("event_webhook_urls", &self.event_webhook_urls)
            .field("event_deliveries", &self.event_deliveries.len())
            .finish_non_exhaustive()
    }
}

/// Shared between the server task and every `MockDiscord` handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) base_url: String,
    pub(crate) shutdown: watch::Sender<bool>,
    /// How many webhook event deliveries have finished (answered or failed).
    pub(crate) deliveries: watch::Sender<usize>,
    /// The client webhook events are sent with, made on first use.
    http: OnceLock<reqwest::Client>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(state: State, base_url: String) -> Self {
        let (shutdown, _) = watch::channel(false);
        let (deliveries, _) = watch::channel(0);
        Self {
            state: Mutex::new(state),
            base_url,
            shutdown,
            deliveries,
            http: OnceLock::new(),
        }
    }

    /// The HTTP client webhook events are sent with (no redirects followed, as Discord).
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, String> {
        if let Some(c) = self.http.get() {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// Locks the state; a poisoned lock (a panicking test thread) is recovered.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    pub(crate) fn now(&self) -> SystemTime {
        later(SystemTime::now(), self.clock_offset)
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The user's effective permissions in a guild, or `None` if not a member.
    pub(crate) fn permissions(&self, guild: &MockGuild, user_id: &str) -> Option<u64> {
        let is_owner = guild.owner_id.as_deref() == Some(user_id);
        let member = self
            .members
            .iter()
            .find(|m| m.guild_id == guild.id && m.user_id == user_id);
        if !is_owner && member.is_none() {
            return None;
        }
        if is_owner {
            return Some(ALL_PERMISSIONS);
        }
        let mut bits = guild
            .roles
            .iter()
            .find(|r| r.id == guild.id)
            .map_or(0, |r| r.permissions);
        if let Some(m) = member {
            for r in &guild.roles {
                if m.roles.contains(&r.id) {
                    bits |= r.permissions;
                }
            }
        }
        if bits & PERMISSION_ADMINISTRATOR != 0 {
            bits = ALL_PERMISSIONS;
        }
        Some(bits)
    }

    /// The user's guilds (member or owner), sorted by id as numbers.
    pub(crate) fn user_guilds(&self, user_id: &str) -> Vec<&MockGuild> {
        let mut gs: Vec<&MockGuild> = self
            .guilds
            .values()
            .filter(|g| self.permissions(g, user_id).is_some())
            .collect();
        gs.sort_by_key(|g| (g.id.parse::<u64>().unwrap_or(u64::MAX), g.id.clone()));
        gs
    }

    /// Guilds where the user may add a bot (owner, administrator or `MANAGE_GUILD`).
    pub(crate) fn manageable_guilds(&self, user_id: &str) -> Vec<&MockGuild> {
        self.user_guilds(user_id)
            .into_iter()
            .filter(|g| {
                self.permissions(g, user_id)
                    .is_some_and(|p| p & (PERMISSION_MANAGE_GUILD | PERMISSION_ADMINISTRATOR) != 0)
            })
            .collect()
    }

    pub(crate) fn is_member(&self, guild_id: &str, user_id: &str) -> bool {
        self.guilds
            .get(guild_id)
            .is_some_and(|g| self.permissions(g, user_id).is_some())
    }

    /// Creates a grant with a fresh access token (and refresh token if asked).
    pub(crate) fn issue(&mut self, grant: Grant, with_refresh: bool, nonce: Option<&str>) -> (u64, IssuedTokens) {
        let grant_id = self.next_id();
        self.grants.insert(grant_id, grant);
        let tokens = self.tokens_for(grant_id, with_refresh, nonce);
        (grant_id, tokens)
    }

    /// New tokens for an existing grant.
    pub(crate) fn tokens_for(&mut self, grant_id: u64, with_refresh: bool, nonce: Option<&str>) -> IssuedTokens {
        let now = self.now();
        let ttl = self.config.access_token_ttl;
        let access_token = random_alnum(30);
        self.access.insert(
            access_token.clone(),
            AccessRecord {
                grant_id,
                expires_at: later(now, ttl),
            },
        );
        let refresh_token = with_refresh.then(|| {
            let t = random_alnum(30);
            self.refresh.insert(
                t.clone(),
                RefreshRecord {
                    grant_id,
                    rotated: false,
                },
            );
            t
        });
        let grant = self.grants.get(&grant_id).cloned();
        let (scope, user_id, client_id, id_token) = match grant {
            Some(g) => {
                let id_token = if g.scopes.iter().any(|s| s == "openid") {
                    self.id_token(&g, nonce, now, ttl)
                } else {
                    None
                };
                (g.scopes.join(" "), g.user_id, g.client_id, id_token)
            }
            None => (String::new(), String::new(), String::new(), None),
        };
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: ttl.as_secs(),
            scope,
            id_token,
            user_id,
            client_id,
        }
    }

    fn id_token(&self, grant: &Grant, nonce: Option<&str>, now: SystemTime, ttl: Duration) -> Option<String> {
        let iat = unix_secs(now);
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": grant.user_id,
            "aud": grant.client_id,
            "exp": iat.saturating_add(ttl.as_secs()),
            "iat": iat,
            "auth_time": iat,
        });
        let obj = claims.as_object_mut()?;
        if let Some(n) = nonce {
            obj.insert("nonce".into(), json!(n));
        }
        if grant.scopes.iter().any(|s| s == "email")
            && let Some(u) = self.users.get(&grant.user_id)
        {
            obj.insert("email".into(), json!(u.email));
            obj.insert("email_verified".into(), json!(u.verified));
        }
        match crate::jwt::sign(&claims) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "could not sign id_token");
                None
            }
        }
    }

    /// A webhook object like the seed's "Webhook Token Response Example".
    pub(crate) fn make_webhook(&mut self, client_id: &str, guild_id: &str, channel_id: &str, base_url: &str) -> Value {
        let seq = self.next_id();
        let id = snowflake(self.now(), seq);
        let token = random_urlsafe(68);
        json!({
            "id": id,
            "type": 1,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "name": "Mock Webhook",
            "avatar": null,
            "token": token,
            "application_id": client_id,
            "url": format!("{base_url}/api/webhooks/{id}/{token}"),
        })
    }

    /// Makes every access token issued so far expired.
    pub(crate) fn expire_access_tokens(&mut self) {
        let past = earlier(self.now(), Duration::from_secs(1));
        for a in self.access.values_mut() {
            a.expires_at = a.expires_at.min(past);
        }
    }

    pub(crate) fn revoke_grant(&mut self, grant_id: u64) {
        if let Some(g) = self.grants.get_mut(&grant_id) {
            g.revoked = true;
        }
    }

    /// The grant behind a live access token.
    pub(crate) fn bearer(&self, token: &str) -> Option<(&AccessRecord, &Grant)> {
        let rec = self.access.get(token)?;
        let grant = self.grants.get(&rec.grant_id)?;
        (!grant.revoked && rec.expires_at > self.now()).then_some((rec, grant))
    }

    pub(crate) fn token_status(&self, token: &str) -> TokenStatus {
        let revoked = |id: u64| self.grants.get(&id).is_none_or(|g| g.revoked);
        if let Some(a) = self.access.get(token) {
            if revoked(a.grant_id) {
                TokenStatus::Revoked
            } else if a.expires_at <= self.now() {
                TokenStatus::Expired
            } else {
                TokenStatus::Active
            }
        } else if let Some(r) = self.refresh.get(token) {
            if revoked(r.grant_id) {
                TokenStatus::Revoked
            } else if r.rotated {
                TokenStatus::Rotated
            } else {
                TokenStatus::Active
            }
        } else {
            TokenStatus::Unknown
        }
    }

    /// The user a consent acts as: explicit choice, then cookie, then the default user.
    pub(crate) fn pick_user(&self, candidates: &[Option<&str>]) -> Option<String> {
        candidates
            .iter()
            .flatten()
            .find(|id| self.users.contains_key(**id))
            .map(|s| (*s).to_owned())
            .or_else(|| self.default_user.clone().filter(|d| self.users.contains_key(d)))
            .or_else(|| self.users.keys().next().cloned())
    }
}
