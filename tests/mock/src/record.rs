//! Recorded requests and the endpoint classification used by recording and fault injection.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::util::{first, parse_form};

/// The endpoints the mock serves, for filtering recorded requests and targeting faults.
///
/// Versioned (`/api/v10`, `/api/v9`) and unversioned (`/api`) paths map to the same endpoint.
///
/// ```
/// use discord_oauth_mock::Endpoint;
///
/// assert_eq!(Endpoint::classify("/api/v10/oauth2/token"), Endpoint::Token);
/// assert_eq!(Endpoint::classify("/api/users/@me"), Endpoint::CurrentUser);
/// // The names used in fault specs (`token:429`) and in `/mock/requests`.
/// assert_eq!(Endpoint::Token.name(), "token");
/// assert_eq!(Endpoint::from_name("token"), Some(Endpoint::Token));
/// assert!(Endpoint::ALL.iter().all(|e| Endpoint::from_name(e.name()) == Some(*e)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET`/`POST /oauth2/authorize` (the consent page and its form).
    Authorize,
    /// `POST /api/v10/oauth2/token`.
    Token,
    /// `POST /api/v10/oauth2/token/revoke`.
    Revoke,
    /// `GET /api/v10/users/@me`.
    CurrentUser,
    /// `GET /api/v10/users/@me/guilds`.
    CurrentUserGuilds,
    /// `GET /api/v10/users/@me/guilds/{guild.id}/member`.
    CurrentUserGuildMember,
    /// `GET /api/v10/users/@me/connections`.
    CurrentUserConnections,
    /// `GET /api/v10/oauth2/@me`.
    CurrentAuthorization,
    /// `GET /api/v10/oauth2/applications/@me`.
    CurrentApplication,
    /// `PUT /api/v10/guilds/{guild.id}/members/{user.id}`.
    AddGuildMember,
    /// `GET`/`PUT /api/v10/users/@me/applications/{application.id}/role-connection`.
    RoleConnection,
    /// `GET /api/v10/oauth2/userinfo`.
    UserInfo,
    /// `GET /api/v10/oauth2/keys`.
    Keys,
    /// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
    Discovery,
    /// The mock's own control routes (`/mock/...`).
    Control,
    /// Anything else (404s).
    Other,
}

impl Endpoint {
    /// Every endpoint, for iteration.
    pub const ALL: [Endpoint; 16] = [
        Endpoint::Authorize,
        Endpoint::Token,
        Endpoint::Revoke,
        Endpoint::CurrentUser,
        Endpoint::CurrentUserGuilds,
        Endpoint::CurrentUserGuildMember,
        Endpoint::CurrentUserConnections,
        Endpoint::CurrentAuthorization,
        Endpoint::CurrentApplication,
        Endpoint::AddGuildMember,
        Endpoint::RoleConnection,
        Endpoint::UserInfo,
        Endpoint::Keys,
        Endpoint::Discovery,
        Endpoint::Control,
        Endpoint::Other,
    ];

    /// A stable snake_case name (used in fault specs like `token:429` and in `/mock/requests`).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
            Endpoint::Revoke => "revoke",
            Endpoint::CurrentUser => "current_user",
            Endpoint::CurrentUserGuilds => "current_user_guilds",
            Endpoint::CurrentUserGuildMember => "current_user_guild_member",
            Endpoint::CurrentUserConnections => "current_user_connections",
            Endpoint::CurrentAuthorization => "current_authorization",
            Endpoint::CurrentApplication => "current_application",
            Endpoint::AddGuildMember => "add_guild_member",
            Endpoint::RoleConnection => "role_connection",
            Endpoint::UserInfo => "user_info",
            Endpoint::Keys => "keys",
            Endpoint::Discovery => "discovery",
            Endpoint::Control => "control",
            Endpoint::Other => "other",
        }
    }

    /// Parses [`Endpoint::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Classifies a request path (method-independent).
    pub fn classify(path: &str) -> Self {
        let p = strip_api_prefix(path);
        let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
        match segs.as_slice() {
            ["oauth2", "authorize"] => Endpoint::Authorize,
            ["oauth2", "token"] => Endpoint::Token,
            ["oauth2", "token", "revoke"] => Endpoint::Revoke,
            ["oauth2", "@me"] => Endpoint::CurrentAuthorization,
            ["oauth2", "applications", "@me"] => Endpoint::CurrentApplication,
            ["oauth2", "userinfo"] => Endpoint::UserInfo,
            ["oauth2", "keys"] => Endpoint::Keys,
            ["users", "@me"] => Endpoint::CurrentUser,
            ["users", "@me", "guilds"] => Endpoint::CurrentUserGuilds,
            ["users", "@me", "guilds", _, "member"] => Endpoint::CurrentUserGuildMember,
            ["users", "@me", "connections"] => Endpoint::CurrentUserConnections,
            ["users", "@me", "applications", _, "role-connection"] => Endpoint::RoleConnection,
            ["guilds", _, "members", _] => Endpoint::AddGuildMember,
            [".well-known", "openid-configuration" | "oauth-authorization-server"] => Endpoint::Discovery,
            ["mock", ..] => Endpoint::Control,
            _ => Endpoint::Other,
        }
    }

    /// The rate-limit bucket id reported in `X-RateLimit-Bucket`.
    pub(crate) fn bucket(self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.name().as_bytes());
        crate::util::hex(&digest[..16])
    }
}

/// Strips `/api`, `/api/v9`, `/api/v10` (any `/api/vN`) from the front of a path.
pub(crate) fn strip_api_prefix(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api") else {
        return path;
    };
    if let Some(after_v) = rest.strip_prefix("/v") {
        let digits = after_v.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && (after_v.len() == digits || after_v.as_bytes()[digits] == b'/') {
            return &after_v[digits..];
        }
    }
    rest
}

/// Form fields, query parameters and JSON keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "access_token",
    "token",
    "id_token",
];

/// Headers whose values are secrets.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "proxy-authorization"];

/// One request the mock received, with everything a test may want to assert on.
///
/// Accessors return the raw values (tests need them); the [`Debug`] output and the
/// `/mock/requests` JSON mask secrets (`Authorization`, cookies, `client_secret`, `code`,
/// `code_verifier`, tokens).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{Endpoint, MockDiscord, TokenStatus, fixture};
///
/// let discord = MockDiscord::start().await?;
/// let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify")?;
/// let refresh_token = tokens.refresh_token.clone().unwrap_or_default();
///
/// // The code under test refreshes (here: by hand).
/// let answer = reqwest::Client::new()
///     .post(discord.token_url())
///     .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
///     .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
///     .send()
///     .await?;
/// assert_eq!(answer.status(), 200);
///
/// // What did it send?
/// let sent = discord.last_request(Endpoint::Token).ok_or("no token request")?;
/// assert_eq!(sent.method(), "POST");
/// assert!(sent.is_form());
/// assert_eq!(sent.grant_type().as_deref(), Some("refresh_token"));
/// assert_eq!(sent.form_param("refresh_token"), Some(refresh_token.clone()));
/// assert_eq!(sent.basic_auth().map(|(id, _)| id).as_deref(), Some(fixture::CLIENT_ID));
/// assert_eq!(sent.status(), Some(200));
/// assert!(!format!("{sent:?}").contains(&refresh_token), "Debug masks secrets");
///
/// // Discord rotated the refresh token.
/// assert_eq!(discord.token_status(&refresh_token), TokenStatus::Rotated);
/// assert_eq!(discord.count_grant("refresh_token"), 1);
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RecordedRequest {
    pub(crate) seq: u64,
    pub(crate) at: SystemTime,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) endpoint: Endpoint,
    pub(crate) status: Option<u16>,
    pub(crate) fault: Option<String>,
}

impl RecordedRequest {
    /// Position in arrival order, starting at 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When it arrived (the mock's clock, see `MockDiscord::advance_time`).
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// The HTTP method (`GET`, `POST`, …).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, e.g. `/api/v10/oauth2/token`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// Decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| parse_form(q.as_bytes()))
            .unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        first(&self.query_pairs(), name).map(str::to_owned)
    }

    /// Which endpoint it hit.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The response status, once the response was produced.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The injected fault that answered this request, if any (a short description).
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// All headers (names lower-case), in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// Whether the body was sent as `application/x-www-form-urlencoded`.
    pub fn is_form(&self) -> bool {
        is_form_content_type(self.content_type())
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body parsed as a form (empty unless [`is_form`](Self::is_form)).
    pub fn form(&self) -> Vec<(String, String)> {
        if self.is_form() {
            parse_form(&self.body)
        } else {
            Vec::new()
        }
    }

    /// The first value of a form field.
    pub fn form_param(&self, name: &str) -> Option<String> {
        first(&self.form(), name).map(str::to_owned)
    }

    /// `grant_type` of a token request.
    pub fn grant_type(&self) -> Option<String> {
        self.form_param("grant_type")
    }

    /// The HTTP Basic credentials (`client_id`, `client_secret`), decoded, if sent.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        parse_basic(self.header("authorization")?)
    }

    /// The bearer token, if sent.
    pub fn bearer_token(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }

    /// A masked, JSON-friendly view (what `/mock/requests` serves).
    pub fn to_masked_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "query": self.query.as_deref().map(mask_urlencoded),
            "headers": self.masked_headers(),
            "form": if self.is_form() { Some(masked_pairs(&self.form())) } else { None },
            "body_len": self.body.len(),
            "status": self.status,
            "fault": self.fault,
        })
    }

    fn masked_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), mask_header(k, v)))
            .collect()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RecordedRequest");
        d.field("seq", &self.seq)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .field("query", &self.query.as_deref().map(mask_urlencoded))
            .field("headers", &self.masked_headers());
        if self.is_form() {
            d.field("form", &masked_pairs(&self.form()));
        } else {
            d.field("body_len", &self.body.len());
        }
        d.field("status", &self.status)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

pub(crate) fn is_form_content_type(ct: Option<&str>) -> bool {
    ct.and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Decodes an `Authorization: Basic` value into (id, secret), percent-decoding both parts
/// (RFC 6749 section 2.3.1).
pub(crate) fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| percent_decode(s.replace('+', " ").as_str());
    Some((dec(id)?, dec(secret)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mask_value(v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("*** ({} chars)", v.chars().count())
    }
}

fn mask_header(name: &str, value: &str) -> String {
    if !SECRET_HEADERS.contains(&name) {
        return value.to_owned();
    }
    match value.split_once(' ') {
        Some((scheme, rest)) if name.ends_with("authorization") => {
            format!("{scheme} {}", mask_value(rest))
        }
        _ => mask_value(value),
    }
}

fn masked_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = if SECRET_KEYS.contains(&k.as_str()) {
                mask_value(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

fn mask_urlencoded(q: &str) -> String {
    let pairs = masked_pairs(&parse_form(q.as_bytes()));
    crate::util::encode_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], body: &str) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            at: SystemTime::UNIX_EPOCH,
            method: "POST".into(),
            path: "/api/v10/oauth2/token".into(),
            query: Some("code=abc&state=xyz".into()),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
            endpoint: Endpoint::Token,
            status: Some(200),
            fault: None,
        }
    }

    #[test]
    fn classifies_all_prefixes() {
        for p in ["/api/v10", "/api/v9", "/api", ""] {
            assert_eq!(Endpoint::classify(&format!("{p}/oauth2/token")), Endpoint::Token);
            assert_eq!(
                Endpoint::classify(&format!("{p}/users/@me/guilds/1/member")),
                Endpoint::CurrentUserGuildMember
            );
        }
        assert_eq!(Endpoint::classify("/oauth2/authorize"), Endpoint::Authorize);
        assert_eq!(Endpoint::classify("/api/vx/users/@me"), Endpoint::Other);
        assert_eq!(strip_api_prefix("/api/v10"), "");
        assert_eq!(strip_api_prefix("/apix"), "x");
    }

    #[test]
    fn debug_masks_secrets_but_accessors_do_not() {
        let r = req(
            &[
                ("authorization", "Basic MTIzOnNlY3JldA=="),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "grant_type=authorization_code&code=SECRETCODE&code_verifier=VERIFIERVALUE&client_secret=s3cr3t",
        );
        let dbg = format!("{r:?}");
        for secret in ["SECRETCODE", "VERIFIERVALUE", "s3cr3t", "MTIzOnNlY3JldA", "abc"] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
        assert!(dbg.contains("authorization_code"));
        assert!(dbg.contains("Basic ***"));
        assert_eq!(r.form_param("code").as_deref(), Some("SECRETCODE"));
        assert_eq!(r.basic_auth(), Some(("123".into(), "secret".into())));
        assert_eq!(r.grant_type().as_deref(), Some("authorization_code"));
        let json = r.to_masked_json().to_string();
        assert!(!json.contains("SECRETCODE") && !json.contains("s3cr3t"));
    }

    #[test]
    fn basic_auth_is_percent_decoded() {
        // "a%3Ab:p%25w" -> id "a:b", secret "p%w"
        let v = format!("Basic {}", STANDARD.encode("a%3Ab:p%25w"));
        assert_eq!(parse_basic(&v), Some(("a:b".into(), "p%w".into())));
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Bearer x"), None);
    }
}
