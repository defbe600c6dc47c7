//! The application's OAuth2 client: its credentials, redirect URI and Discord's endpoints.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use oauth2::{ClientId, ClientSecret, RedirectUrl};
use url::Url;
use url::form_urlencoded;

/// Discord's issuer identifier, as its authorization server metadata and `id_token`s state it.
pub const DISCORD_ISSUER: &str = "https://discord.com";

/// Turns a constant URL literal into a [`Url`]. Only ever called with the literals below,
/// each of which is covered by a unit test.
fn constant_url(s: &'static str) -> Url {
    match Url::parse(s) {
        Ok(u) => u,
        Err(_) => unreachable!("constant URL literal failed to parse"),
    }
}

/// Converts a [`Url`] (always a valid absolute URI) into an [`http::Uri`].
pub(crate) fn to_uri(url: &Url) -> http::Uri {
    url.as_str().parse().unwrap_or_default()
}

/// Where Discord's OAuth2 endpoints live.
///
/// [`Endpoints::discord`] is the default; every URL can be overridden, e.g. to talk to the
/// legacy `discordapp.com` host or to a mock server on loopback.
///
/// ```
/// use discord_oauth_core::Endpoints;
/// let d = Endpoints::discord();
/// assert_eq!(d.authorize.as_str(), "https://discord.com/oauth2/authorize");
/// assert_eq!(d.token.as_str(), "https://discord.com/api/v10/oauth2/token");
/// assert_eq!(d.revoke.as_str(), "https://discord.com/api/v10/oauth2/token/revoke");
/// assert_eq!(d.api_base.as_str(), "https://discord.com/api/v10");
///
/// let mock = Endpoints::from_base("http://127.0.0.1:7999".parse().unwrap()).unwrap();
/// assert_eq!(mock.token.as_str(), "http://127.0.0.1:7999/api/v10/oauth2/token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Endpoints {
    /// The authorization page the browser is sent to.
    pub authorize: Url,
    /// The token endpoint (code exchange, refresh, client credentials).
    pub token: Url,
    /// The token revocation endpoint (RFC 7009).
    pub revoke: Url,
    /// The REST API base, without a trailing slash (`https://discord.com/api/v10`).
    pub api_base: Url,
    /// The issuer expected in `iss` callback parameters and `id_token`s.
    pub issuer: String,
}

impl Endpoints {
    /// Discord's production endpoints, API version 10.
    pub fn discord() -> Self {
        Self {
            authorize: constant_url("https://discord.com/oauth2/authorize"),
            token: constant_url("https://discord.com/api/v10/oauth2/token"),
            revoke: constant_url("https://discord.com/api/v10/oauth2/token/revoke"),
            api_base: constant_url("https://discord.com/api/v10"),
            issuer: DISCORD_ISSUER.to_owned(),
        }
    }

    /// The legacy `discordapp.com` host, as older revisions of Discord's docs spell it.
    pub fn legacy_discordapp() -> Self {
        Self {
            authorize: constant_url("https://discordapp.com/api/oauth2/authorize"),
            token: constant_url("https://discordapp.com/api/oauth2/token"),
            revoke: constant_url("https://discordapp.com/api/oauth2/token/revoke"),
            api_base: constant_url("https://discordapp.com/api/v10"),
            issuer: DISCORD_ISSUER.to_owned(),
        }
    }

    /// Endpoints laid out like discord.com under another origin (a mock, a proxy):
    /// `{base}/oauth2/authorize`, `{base}/api/v10/oauth2/token`, … The issuer stays
    /// `https://discord.com`; set [`Endpoints::issuer`] if your server says otherwise.
    pub fn from_base(base: Url) -> Result<Self, crate::ConfigError> {
        let root = base.as_str().trim_end_matches('/');
        let make = |path: &str| {
            Url::parse(&format!("{root}{path}")).map_err(|e| crate::ConfigError::InvalidUrl {
                what: "endpoint base",
                reason: e.to_string(),
            })
        };
        Self::new(make("/oauth2/authorize")?, make("/api/v10")?)
    }

    /// Endpoints from an authorization URL and an API base; the token and revocation URLs are
    /// `{api_base}/oauth2/token` and `{api_base}/oauth2/token/revoke`. This matches the sample
    /// sites' `DISCORD_AUTHORIZE_URL` and `DISCORD_API_BASE` settings.
    ///
    /// ```
    /// use discord_oauth_core::Endpoints;
    /// let e = Endpoints::new(
    ///     "https://discord.com/oauth2/authorize".parse().unwrap(),
    ///     "https://discord.com/api/v10/".parse().unwrap(),
    /// ).unwrap();
    /// assert_eq!(e, Endpoints::discord());
    /// ```
    pub fn new(authorize: Url, api_base: Url) -> Result<Self, crate::ConfigError> {
        for (what, url) in [("authorization URL", &authorize), ("API base", &api_base)] {
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(crate::ConfigError::InvalidUrl {
                    what,
                    reason: format!("{url} is not an absolute http(s) URL"),
                });
            }
        }
        let base = api_base.as_str().trim_end_matches('/').to_owned();
        let parse = |s: String| {
            Url::parse(&s).map_err(|e| crate::ConfigError::InvalidUrl {
                what: "API base",
                reason: e.to_string(),
            })
        };
        Ok(Self {
            authorize,
            token: parse(format!("{base}/oauth2/token"))?,
            revoke: parse(format!("{base}/oauth2/token/revoke"))?,
            api_base: parse(base)?,
            issuer: DISCORD_ISSUER.to_owned(),
        })
    }

    /// Builds `{api_base}/{path}` where `path` has no leading slash.
    #[allow(dead_code)] // used by the API calls
    pub(crate) fn api_url(&self, path: &str) -> Url {
        let base = self.api_base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}")).unwrap_or_else(|_| self.api_base.clone())
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::discord()
    }
}

/// How the client authenticates to the token and revocation endpoints.
///
/// Discord accepts both; HTTP Basic is the default (RFC 6749 §2.3.1 recommends it).
///
/// ```
/// use discord_oauth_core::{AccessToken, Client, ClientAuth, ClientId, ClientSecret, RevocableToken};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let token = || RevocableToken::Access(AccessToken::new("at".into()));
///
/// let basic = client.revoke(token()).request();
/// assert!(basic.headers()["authorization"].to_str()?.starts_with("Basic "));
///
/// let in_body = client.with_client_auth(ClientAuth::RequestBody).revoke(token()).request();
/// assert!(in_body.headers().get("authorization").is_none());
/// let form = String::from_utf8(in_body.into_body())?;
/// assert!(form.ends_with("&client_id=157730590492196864&client_secret=client-secret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(client_id):urlencode(client_secret))`.
    #[default]
    BasicAuth,
    /// `client_id` and `client_secret` as form fields in the request body.
    RequestBody,
}

/// A Discord application acting as an OAuth2 client.
///
/// Cheap to clone; holds no connection and reads no clock. The client secret is kept out of
/// `Debug` output.
///
/// ```
/// use discord_oauth_core::{Client, ClientId, ClientSecret, RedirectUrl};
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("very-secret".into())),
///     RedirectUrl::new("https://example.com/auth/callback".into()).unwrap(),
/// );
/// assert!(!format!("{client:?}").contains("very-secret"));
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) client_id: ClientId,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) redirect_uri: Option<RedirectUrl>,
    pub(crate) endpoints: Endpoints,
    pub(crate) auth: ClientAuth,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id.as_str())
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_uri", &self.redirect_uri.as_ref().map(|r| r.as_str()))
            .field("endpoints", &self.endpoints)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Client {
    /// A client with Discord's default endpoints and HTTP Basic client authentication.
    ///
    /// `client_secret` is `None` for a public client (a native or single-page app), which
    /// must then use PKCE (on by default).
    pub fn new(client_id: ClientId, client_secret: Option<ClientSecret>, redirect_uri: RedirectUrl) -> Self {
        Self {
            client_id,
            client_secret,
            redirect_uri: Some(redirect_uri),
            endpoints: Endpoints::discord(),
            auth: ClientAuth::default(),
        }
    }

    /// A client with no redirect URI, for flows that need none: client credentials, plain bot
    /// authorization, refresh and revoke.
    pub fn without_redirect(client_id: ClientId, client_secret: Option<ClientSecret>) -> Self {
        Self {
            client_id,
            client_secret,
            redirect_uri: None,
            endpoints: Endpoints::discord(),
            auth: ClientAuth::default(),
        }
    }

    /// Uses other endpoints (a mock, the legacy host).
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Chooses how the client authenticates at the token endpoint.
    pub fn with_client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The redirect URI, if any.
    pub fn redirect_uri(&self) -> Option<&RedirectUrl> {
        self.redirect_uri.as_ref()
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// `true` if the client has no secret (a public client).
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }

    /// Builds a form POST to the token or revocation endpoint with client authentication.
    pub(crate) fn form_post(&self, url: &Url, params: &[(&str, &str)]) -> http::Request<Vec<u8>> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let mut basic = None;
        match (&self.client_secret, self.auth) {
            (Some(secret), ClientAuth::BasicAuth) => {
                let user: String = form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
                let pass: String = form_urlencoded::byte_serialize(secret.secret().as_bytes()).collect();
                basic = Some(format!("Basic {}", STANDARD.encode(format!("{user}:{pass}"))));
            }
            (Some(secret), ClientAuth::RequestBody) => {
                form.append_pair("client_id", self.client_id.as_str());
                form.append_pair("client_secret", secret.secret());
            }
            (None, _) => {
                form.append_pair("client_id", self.client_id.as_str());
            }
        }
        let mut req = http::Request::new(form.finish().into_bytes());
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = to_uri(url);
        let headers = req.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(value) = basic.and_then(|b| HeaderValue::from_str(&b).ok()) {
            let mut value = value;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_endpoints_parse() {
        let d = Endpoints::discord();
        assert_eq!(d.issuer, "https://discord.com");
        let l = Endpoints::legacy_discordapp();
        assert_eq!(l.authorize.host_str(), Some("discordapp.com"));
        assert_eq!(l.token.as_str(), "https://discordapp.com/api/oauth2/token");
        assert_eq!(d.api_url("users/@me").as_str(), "https://discord.com/api/v10/users/@me");
    }

    #[test]
    fn endpoints_reject_relative_or_odd_schemes() {
        let bad = Endpoints::new("ftp://x/authorize".parse().unwrap(), "https://x/api".parse().unwrap());
        assert!(bad.is_err());
        let from_base = Endpoints::from_base("http://127.0.0.1:9/".parse().unwrap()).unwrap();
        assert_eq!(from_base.authorize.as_str(), "http://127.0.0.1:9/oauth2/authorize");
        assert_eq!(
            from_base.revoke.as_str(),
            "http://127.0.0.1:9/api/v10/oauth2/token/revoke"
        );
    }
}
