//! Which rate-limit route a request belongs to ([`RouteKey`]), and whose limits it counts
//! against ([`TokenKey`]).

use std::fmt;
use std::sync::Arc;

use http::Method;
use oauth2::AccessToken;
use sha2::{Digest, Sha256};

use crate::Endpoints;
use crate::api::BotToken;

/// The longest route path a [`RouteKey`] keeps (bytes). Longer paths are cut at this length
/// (on a character boundary), so that every key the limiter stores is small; routes that only
/// differ after the first 256 bytes share their rate-limit state, which errs on the safe side.
pub const MAX_ROUTE_BYTES: usize = 256;

/// The top-level resources whose id is a *major parameter*: Discord keeps separate rate-limit
/// state for each guild, channel and webhook on the same route.
const MAJOR_RESOURCES: [&str; 3] = ["guilds", "channels", "webhooks"];

/// The rate-limit route of a request: its method, its path under the API base with every id
/// replaced by `{id}`, and its major parameter (`guilds/{id}`, `channels/{id}` or
/// `webhooks/{id}`), kept as the actual id, as Discord does.
///
/// - The query string is not part of the route: every page of `GET /users/@me/guilds` is one
///   route.
/// - An id is a path segment made of ASCII digits (a snowflake).
/// - The first id that follows `guilds`, `channels` or `webhooks` anywhere in the path is the
///   major parameter, so `GET /users/@me/guilds/{guild_id}/member` has separate state per
///   guild, and `PUT /guilds/{guild_id}/members/{user_id}` per guild (not per user).
/// - The segment after `webhooks/{id}` or `interactions/{id}` is a secret token: it becomes
///   `{token}` and is never stored.
///
/// ```
/// use discord_oauth_core::api::ratelimit::RouteKey;
/// use http::Method;
///
/// let member = RouteKey::new(Method::GET, "users/@me/guilds/197038439483310086/member");
/// assert_eq!(member.path(), "users/@me/guilds/{id}/member");
/// assert_eq!(member.major(), Some("guilds/197038439483310086"));
/// assert_eq!(member.to_string(), "GET users/@me/guilds/{id}/member (guilds/197038439483310086)");
///
/// let page = RouteKey::new(Method::GET, "/users/@me/guilds?limit=200&after=80351110224678912");
/// assert_eq!(page.path(), "users/@me/guilds");
/// assert_eq!(page.major(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    method: Method,
    path: Arc<str>,
    major: Option<Arc<str>>,
}

impl RouteKey {
    /// The route of `method` on `path`, a path under the API base (a leading `/` and a query
    /// string are ignored).
    pub fn new(method: Method, path: &str) -> Self {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let mut template = String::with_capacity(path.len().min(MAX_ROUTE_BYTES));
        let mut major: Option<String> = None;
        let mut previous: Option<&str> = None;
        let mut token_follows = false;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let shown = if token_follows {
                token_follows = false;
                "{token}"
            } else if is_id(segment) {
                if let Some(resource) = previous {
                    if major.is_none() && MAJOR_RESOURCES.contains(&resource) {
                        major = Some(format!("{resource}/{segment}"));
                    }
                    token_follows = resource == "webhooks" || resource == "interactions";
                }
                "{id}"
            } else {
                segment
            };
            if !template.is_empty() {
                template.push('/');
            }
            template.push_str(shown);
            previous = Some(segment);
            if template.len() >= MAX_ROUTE_BYTES {
                break;
            }
        }
        truncate(&mut template, MAX_ROUTE_BYTES);
        Self {
            method,
            path: template.into(),
            major: major.map(Into::into),
        }
    }

    /// The route of a request built by this crate (or any request to the same API base):
    /// the method, and the URI path with `endpoints.api_base`'s path removed. A path outside
    /// the API base that starts with `/api` or `/api/v{N}` loses that prefix instead.
    ///
    /// ```
    /// use discord_oauth_core::api::{self, ratelimit::RouteKey};
    /// use discord_oauth_core::{AccessToken, Endpoints};
    ///
    /// let endpoints = Endpoints::discord();
    /// let token = AccessToken::new("user-token".into());
    /// let call = api::current_user_guild_member(&endpoints, &token, 197038439483310086.into());
    /// let route = RouteKey::from_request(&call.request(), &endpoints);
    /// assert_eq!(route.to_string(), "GET users/@me/guilds/{id}/member (guilds/197038439483310086)");
    /// ```
    pub fn from_request<B>(request: &http::Request<B>, endpoints: &Endpoints) -> Self {
        let path = request.uri().path();
        let base = endpoints.api_base.path().trim_end_matches('/');
        let relative = match path.strip_prefix(base) {
            Some(rest) if !base.is_empty() && (rest.is_empty() || rest.starts_with('/')) => rest,
            _ => strip_api_prefix(path),
        };
        Self::new(request.method().clone(), relative)
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path with ids replaced, without a leading slash: `users/@me/guilds/{id}/member`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The major parameter, e.g. `guilds/197038439483310086`, if the path has one.
    pub fn major(&self) -> Option<&str> {
        self.major.as_deref()
    }

    /// The same route without its major parameter: what Discord's bucket hash describes.
    pub(crate) fn route_only(&self) -> (Method, Arc<str>) {
        (self.method.clone(), self.path.clone())
    }

    pub(crate) fn major_arc(&self) -> Option<Arc<str>> {
        self.major.clone()
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        match &self.major {
            Some(major) => write!(f, " ({major})"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouteKey({self})")
    }
}

fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// `/api/v10/users/@me` → `/users/@me`; `/api/users/@me` → `/users/@me`; anything else as is.
fn strip_api_prefix(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api") else {
        return path;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return path;
    }
    let after_version = rest.strip_prefix("/v").and_then(|r| {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &r[digits..];
        (digits > 0 && (tail.is_empty() || tail.starts_with('/'))).then_some(tail)
    });
    after_version.unwrap_or(rest)
}

/// Whose rate limits a request counts against. Discord keeps its limits per token (per bot
/// token, per user's bearer token; per IP address for calls without one), so the limiter keeps
/// separate state per `TokenKey`.
///
/// A key is the first 128 bits of a SHA-256 of the token: the limiter never holds a token, and
/// `Debug` shows only a short prefix of the hash. Callers with their own identity for a token
/// (e.g. a session's id) can use [`TokenKey::from_bytes`] instead.
///
/// ```
/// use discord_oauth_core::AccessToken;
/// use discord_oauth_core::api::ratelimit::TokenKey;
///
/// let alice = TokenKey::bearer(&AccessToken::new("token-of-alice".into()));
/// let bob = TokenKey::bearer(&AccessToken::new("token-of-bob".into()));
/// assert_ne!(alice, bob);
/// assert_eq!(alice, TokenKey::bearer(&AccessToken::new("token-of-alice".into())));
/// assert!(!format!("{alice:?}").contains("alice"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey([u8; 16]);

impl TokenKey {
    /// Requests sent without a token (`/oauth2/keys`, the token endpoint): Discord limits these
    /// per IP address, so they share one key.
    pub const ANONYMOUS: Self = Self([0; 16]);

    /// The key of a user's OAuth2 access token.
    pub fn bearer(token: &AccessToken) -> Self {
        Self::from_secret("Bearer", token.secret())
    }

    /// The key of the application's bot token.
    pub fn bot(token: &BotToken) -> Self {
        Self::from_secret("Bot", token.secret())
    }

    /// The key of the credential a request carries ([`TokenKey::ANONYMOUS`] for none).
    pub fn credential(credential: crate::api::Credential<'_>) -> Self {
        match credential {
            crate::api::Credential::Bearer(token) => Self::bearer(token),
            crate::api::Credential::Bot(token) => Self::bot(token),
            crate::api::Credential::None => Self::ANONYMOUS,
        }
    }

    /// The key of the `Authorization` header of `request` (`Bearer …`, `Bot …`), or
    /// [`TokenKey::ANONYMOUS`] without one.
    ///
    /// ```
    /// use discord_oauth_core::{AccessToken, Endpoints, api};
    /// use discord_oauth_core::api::ratelimit::TokenKey;
    ///
    /// let token = AccessToken::new("user-token".into());
    /// let request = api::current_user(&Endpoints::discord(), &token).request();
    /// assert_eq!(TokenKey::from_request(&request), TokenKey::bearer(&token));
    /// ```
    pub fn from_request<B>(request: &http::Request<B>) -> Self {
        let Some(value) = request.headers().get(http::header::AUTHORIZATION) else {
            return Self::ANONYMOUS;
        };
        let bytes = value.as_bytes();
        match bytes.iter().position(|b| *b == b' ') {
            Some(space) => {
                let (scheme, rest) = bytes.split_at(space);
                let secret = rest.get(1..).unwrap_or_default();
                let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
                    "Bearer"
                } else if scheme.eq_ignore_ascii_case(b"bot") {
                    "Bot"
                } else {
                    "Other"
                };
                Self::hash(scheme, secret)
            }
            None => Self::hash("Other", bytes),
        }
    }

    /// A key from the caller's own 128-bit identity for a token.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 128 bits of this key.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    fn from_secret(scheme: &str, secret: &str) -> Self {
        Self::hash(scheme, secret.as_bytes())
    }

    fn hash(scheme: &str, secret: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"discord-oauth rate-limit token key\0")
            .chain_update(scheme.as_bytes())
            .chain_update(b"\0")
            .chain_update(secret)
            .finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ANONYMOUS {
            return f.write_str("TokenKey(anonymous)");
        }
        write!(
            f,
            "TokenKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}
