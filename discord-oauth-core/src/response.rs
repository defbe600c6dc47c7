//! Reading what Discord answered: status classification, OAuth and Discord error bodies,
//! rate limits, and the [`ApiCall`] value that pairs a request with its response parser.
//!
//! Every network step of this crate ends by handing an `http::Response<Vec<u8>>` to one of
//! these functions. They never panic on any input: bodies that are not JSON, HTML error pages
//! from a proxy, oversized bodies and missing headers all become typed errors.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest response body this crate will try to decode (1 MiB).
///
/// Discord's OAuth2 and user endpoints answer with a few kilobytes at most; a larger body is
/// treated as an error instead of being parsed. Transports should enforce the same cap while
/// reading, so that an oversized body is never fully buffered.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How many characters of an undecodable body an error message may quote.
const EXCERPT_CHARS: usize = 120;

/// A standard OAuth 2.0 error code (RFC 6749 §5.2 and §4.1.2.1), as sent by Discord in
/// `{"error": "...", "error_description": "..."}` bodies and in callback query strings.
///
/// ```
/// use discord_oauth_core::OAuthErrorCode;
/// assert_eq!(OAuthErrorCode::from("invalid_grant".to_owned()), OAuthErrorCode::InvalidGrant);
/// assert_eq!(OAuthErrorCode::InvalidGrant.as_str(), "invalid_grant");
/// // Codes this crate does not know are kept verbatim.
/// let other = OAuthErrorCode::from("slow_down".to_owned());
/// assert_eq!(other, OAuthErrorCode::Other("slow_down".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (wrong client id or secret).
    InvalidClient,
    /// The code, refresh token or PKCE verifier is invalid, expired, revoked or already used.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// The user (or Discord) denied the request.
    AccessDenied,
    /// The authorization server does not support this response type.
    UnsupportedResponseType,
    /// The authorization server had an internal error.
    ServerError,
    /// The authorization server is temporarily unavailable.
    TemporarilyUnavailable,
    /// Any other error code, kept verbatim.
    Other(String),
}

impl OAuthErrorCode {
    /// The wire form of the code, e.g. `"invalid_grant"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for OAuthErrorCode {
    fn from(s: String) -> Self {
        match s.as_str() {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            _ => Self::Other(s),
        }
    }
}

impl From<OAuthErrorCode> for String {
    fn from(c: OAuthErrorCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth 2.0 error as Discord reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The error code.
    pub error: OAuthErrorCode,
    /// Discord's human-readable description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{} ({d})", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// A Discord API error body: `{"code": 50001, "message": "Missing Access"}`.
///
/// See Discord's "JSON error codes" table; `code` 0 is a generic error (e.g. `401: Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordError {
    /// Discord's numeric JSON error code.
    pub code: u64,
    /// Discord's message.
    pub message: String,
}

/// Rate-limit information from a 429 answer (or from the `X-RateLimit-*` headers of any answer).
///
/// Discord sends `retry_after` (float seconds) and `global` in a JSON body, a `Retry-After`
/// header, and `X-RateLimit-*` headers; a Cloudflare-level block may send none of the JSON
/// (an HTML page, or `{"code": 40333, "message": "internal network error"}`). Every field is
/// therefore optional except what could be read.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct RateLimit {
    /// How long to wait before trying again, from the body's `retry_after`, else the
    /// `Retry-After` header, else `X-RateLimit-Reset-After`. `None` if nothing said.
    pub retry_after: Option<Duration>,
    /// `true` when this is the global (per-application or per-IP) limit.
    pub global: bool,
    /// `X-RateLimit-Scope`: `user`, `global` or `shared`.
    pub scope: Option<String>,
    /// `X-RateLimit-Bucket`.
    pub bucket: Option<String>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset-After`.
    pub reset_after: Option<Duration>,
    /// A Discord JSON error code in the body (e.g. 40333 for a Cloudflare block).
    pub code: Option<u64>,
}

/// Retry waits longer than this are treated as this long (one hour): a bogus header must not
/// park a request forever.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

fn parse_seconds(s: &str) -> Option<Duration> {
    let v: f64 = s.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        None
    } else if v >= MAX_RETRY_AFTER.as_secs_f64() {
        Some(MAX_RETRY_AFTER)
    } else {
        Some(Duration::from_secs_f64(v))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl RateLimit {
    /// Reads the `X-RateLimit-*` and `Retry-After` headers. Missing or malformed headers are
    /// left as `None`.
    ///
    /// ```
    /// use discord_oauth_core::response::RateLimit;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
    /// headers.insert("x-ratelimit-reset-after", "1.25".parse().unwrap());
    /// let rl = RateLimit::from_headers(&headers);
    /// assert_eq!(rl.remaining, Some(0));
    /// assert_eq!(rl.retry_after, Some(std::time::Duration::from_millis(1250)));
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let reset_after = header_str(headers, "x-ratelimit-reset-after").and_then(parse_seconds);
        let retry_header = header_str(headers, "retry-after").and_then(parse_seconds);
        Self {
            retry_after: retry_header.or(reset_after),
            global: header_str(headers, "x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            scope: header_str(headers, "x-ratelimit-scope").map(str::to_owned),
            bucket: header_str(headers, "x-ratelimit-bucket").map(str::to_owned),
            limit: header_str(headers, "x-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
            remaining: header_str(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset_after,
            code: None,
        }
    }

    /// Reads a 429 answer: headers first, then the JSON body's `retry_after`, `global` and
    /// `code`, which win over the headers when present. Never fails: an HTML or empty body
    /// simply leaves the body fields unset.
    ///
    /// ```
    /// use discord_oauth_core::response::RateLimit;
    /// let body = br#"{"message":"You are being rate limited.","retry_after":1.5,"global":true}"#;
    /// let rl = RateLimit::from_parts(&http::HeaderMap::new(), body);
    /// assert_eq!(rl.retry_after, Some(std::time::Duration::from_millis(1500)));
    /// assert!(rl.global);
    /// ```
    pub fn from_parts(headers: &HeaderMap, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            retry_after: Option<serde_json::Value>,
            #[serde(default)]
            global: Option<bool>,
            #[serde(default)]
            code: Option<u64>,
        }
        let mut rl = Self::from_headers(headers);
        if let Ok(b) = serde_json::from_slice::<Body>(body) {
            let body_retry = match b.retry_after {
                Some(serde_json::Value::Number(n)) => n.as_f64().and_then(|f| parse_seconds(&f.to_string())),
                Some(serde_json::Value::String(s)) => parse_seconds(&s),
                _ => None,
            };
            if body_retry.is_some() {
                rl.retry_after = body_retry;
            }
            if let Some(g) = b.global {
                rl.global = g;
            }
            rl.code = b.code;
        }
        if rl.scope.as_deref() == Some("global") {
            rl.global = true;
        }
        rl
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.global {
            "globally rate limited by Discord"
        } else {
            "rate limited by Discord"
        })?;
        match self.retry_after {
            Some(d) => write!(f, "; retry after {:.3} s", d.as_secs_f64()),
            None => f.write_str("; no retry time given"),
        }
    }
}

/// What went wrong with a response, before any endpoint-specific meaning is attached.
///
/// Token-endpoint and API errors ([`crate::TokenError`], [`ApiError`]) wrap this.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api, response::{ApiError, ResponseError}};
///
/// let call = api::current_user(&Endpoints::discord(), &AccessToken::new("token".into()));
/// // A proxy's HTML error page: no Discord error body to read.
/// let response = http::Response::builder().status(502).body(b"<html>Bad Gateway</html>".to_vec())?;
/// match call.parse(response) {
///     Err(ApiError::Response(ResponseError::UnexpectedStatus { status, excerpt })) => {
///         assert_eq!(status, 502);
///         assert!(excerpt.is_some_and(|e| e.contains("Bad Gateway")));
///     }
///     other => return Err(format!("unexpected: {other:?}").into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Discord answered 429 Too Many Requests. Wait `retry_after` before trying again.
    #[error("{0}")]
    RateLimited(RateLimit),
    /// Discord answered with an OAuth error body (`error`, `error_description`).
    #[error("Discord refused the request: {0}")]
    OAuth(OAuthError),
    /// Discord answered with a JSON API error body (`code`, `message`).
    #[error("Discord answered {status} with error {}: {}", .error.code, .error.message)]
    Discord {
        /// The HTTP status.
        status: StatusCode,
        /// Discord's error body.
        error: DiscordError,
    },
    /// Discord answered with a status this call does not expect (including redirects, which
    /// are never followed), and no recognisable error body.
    #[error("Discord answered with unexpected HTTP status {status}{}", excerpt_suffix(.excerpt.as_ref()))]
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body, if it could be shown safely.
        excerpt: Option<String>,
    },
    /// The body could not be decoded into the expected type.
    #[error("Discord's response could not be read: {reason}{}", excerpt_suffix(.excerpt.as_ref()))]
    Decode {
        /// What was wrong, in words (never containing a token).
        reason: String,
        /// The start of the body, if it could be shown safely.
        excerpt: Option<String>,
    },
    /// The body was larger than [`MAX_BODY_BYTES`].
    #[error("Discord's response body is too large ({size} bytes; the limit is {limit})")]
    BodyTooLarge {
        /// The body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

fn excerpt_suffix(excerpt: Option<&String>) -> String {
    match excerpt {
        Some(e) if !e.is_empty() => format!(": {e:?}"),
        _ => String::new(),
    }
}

/// Makes a short, printable excerpt of a body for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Whether excerpts of a response may be quoted in errors. Token-endpoint bodies may carry
/// tokens, so they are never quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Allowed,
    Never,
}

/// Checks the status and size of a response and turns error answers into [`ResponseError`].
/// Returns the body of a success (2xx) answer.
pub(crate) fn check(response: &http::Response<Vec<u8>>, quote: Quote) -> Result<&[u8], ResponseError> {
    let body = response.body().as_slice();
    if body.len() > MAX_BODY_BYTES {
        return Err(ResponseError::BodyTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let status = response.status();
    if status.is_success() {
        return Ok(body);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ResponseError::RateLimited(RateLimit::from_parts(
            response.headers(),
            body,
        )));
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
            let description = v
                .get("error_description")
                .and_then(|d| d.as_str())
                .map(|d| d.chars().take(300).collect());
            return Err(ResponseError::OAuth(OAuthError {
                error: OAuthErrorCode::from(err.to_owned()),
                error_description: description,
            }));
        }
        if let (Some(code), Some(message)) = (
            v.get("code").and_then(serde_json::Value::as_u64),
            v.get("message").and_then(|m| m.as_str()),
        ) {
            return Err(ResponseError::Discord {
                status,
                error: DiscordError {
                    code,
                    message: message.chars().take(300).collect(),
                },
            });
        }
    }
    Err(ResponseError::UnexpectedStatus {
        status,
        excerpt: match quote {
            Quote::Allowed => Some(excerpt(body)),
            Quote::Never => None,
        },
    })
}

/// Decodes a JSON success body. The error quotes the body only if `quote` allows it.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8], quote: Quote) -> Result<T, ResponseError> {
    serde_json::from_slice(body).map_err(|e| ResponseError::Decode {
        reason: match quote {
            // serde_json messages can quote values; for token bodies give only the category
            // and position.
            Quote::Allowed => e.to_string(),
            Quote::Never => format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
        },
        excerpt: match quote {
            Quote::Allowed => Some(excerpt(body)),
            Quote::Never => None,
        },
    })
}

/// An error calling a Discord API endpoint with a bearer or bot token.
///
/// ```
/// use std::time::Duration;
/// use discord_oauth_core::{AccessToken, Endpoints, api, response::{ApiError, ResponseError}};
///
/// let call = api::current_user(&Endpoints::discord(), &AccessToken::new("expired".into()));
/// let answer = |status: u16, body: &[u8]| http::Response::builder().status(status).body(body.to_vec());
///
/// let response = answer(401, br#"{"message":"401: Unauthorized","code":0}"#)?;
/// match call.parse(response) {
///     Ok(user) => println!("hello {}", user.display_name()),
///     // Refresh the tokens, or send the user through login again.
///     Err(ApiError::Unauthorized) => {}
///     Err(ApiError::Forbidden(_)) => { /* a scope is missing */ }
///     Err(e) if e.rate_limit().is_some() => { /* wait, then send call.request() again */ }
///     Err(e) => return Err(e.into()),
/// }
///
/// let response = answer(429, br#"{"message":"You are being rate limited.","retry_after":2.5,"global":false}"#)?;
/// let err = call.parse(response).err().ok_or("expected an error")?;
/// assert_eq!(err.rate_limit().and_then(|rl| rl.retry_after), Some(Duration::from_millis(2500)));
/// assert!(matches!(err, ApiError::Response(ResponseError::RateLimited(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 401: the token is invalid, expired or revoked. Refresh it, or send the user through
    /// login again.
    #[error("Discord rejected the token (401): it is invalid, expired or revoked; refresh it or log in again")]
    Unauthorized,
    /// 403: the token lacks the scope or permission this endpoint needs (Discord code 50001
    /// "Missing Access" when a scope is missing).
    #[error("Discord refused access (403): {}; check that the needed scope was requested and granted", .0.as_ref().map_or("no details", |e| e.message.as_str()))]
    Forbidden(Option<DiscordError>),
    /// 404: the resource does not exist or is not visible to this token (e.g. the user is not
    /// a member of that guild).
    #[error("Discord found nothing there (404){}", .0.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default())]
    NotFound(Option<DiscordError>),
    /// Any other answer that is not a success.
    #[error(transparent)]
    Response(#[from] ResponseError),
}

impl ApiError {
    /// The rate limit, if this is a 429.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        match self {
            Self::Response(ResponseError::RateLimited(rl)) => Some(rl),
            _ => None,
        }
    }
}

pub(crate) fn api_check(response: &http::Response<Vec<u8>>) -> Result<&[u8], ApiError> {
    match check(response, Quote::Allowed) {
        Ok(body) => Ok(body),
        Err(ResponseError::Discord { status, error }) => Err(api_status_error(status, Some(error))),
        Err(ResponseError::UnexpectedStatus { status, excerpt })
            if matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ) =>
        {
            let _ = excerpt;
            Err(api_status_error(status, None))
        }
        Err(ResponseError::OAuth(e)) if response.status() == StatusCode::UNAUTHORIZED => {
            let _ = e;
            Err(ApiError::Unauthorized)
        }
        Err(e) => Err(ApiError::Response(e)),
    }
}

fn api_status_error(status: StatusCode, error: Option<DiscordError>) -> ApiError {
    match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::FORBIDDEN => ApiError::Forbidden(error),
        StatusCode::NOT_FOUND => ApiError::NotFound(error),
        _ => match error {
            Some(error) => ApiError::Response(ResponseError::Discord { status, error }),
            None => ApiError::Response(ResponseError::UnexpectedStatus { status, excerpt: None }),
        },
    }
}

/// Parses a JSON API success response into `T`, mapping error answers to [`ApiError`].
///
/// ```
/// use discord_oauth_core::response::{parse_api_json, ApiError};
/// let resp = http::Response::builder().status(403)
///     .body(br#"{"message":"Missing Access","code":50001}"#.to_vec()).unwrap();
/// let err = parse_api_json::<serde_json::Value>(resp).unwrap_err();
/// assert!(matches!(err, ApiError::Forbidden(Some(e)) if e.code == 50001));
/// ```
pub fn parse_api_json<T: DeserializeOwned>(response: http::Response<Vec<u8>>) -> Result<T, ApiError> {
    let body = api_check(&response)?;
    Ok(decode_json(body, Quote::Allowed)?)
}

/// Parses an API response that carries no body of interest (e.g. 204 No Content).
pub fn parse_api_empty(response: http::Response<Vec<u8>>) -> Result<(), ApiError> {
    api_check(&response).map(|_| ())
}

/// One Discord API call, sans-IO: the request to send and how to read its answer.
///
/// Build one with the functions in [`crate::api`], send [`ApiCall::request`] with any HTTP
/// client, then hand the answer to [`ApiCall::parse`].
///
/// ```
/// use discord_oauth_core::response::ApiCall;
/// let call: ApiCall<serde_json::Value> = ApiCall::new(
///     http::Request::get("https://discord.com/api/v10/users/@me").body(Vec::new()).unwrap(),
///     discord_oauth_core::response::parse_api_json,
/// );
/// assert_eq!(call.request().uri().path(), "/api/v10/users/@me");
/// let resp = http::Response::builder().status(200).body(br#"{"id":"1"}"#.to_vec()).unwrap();
/// assert_eq!(call.parse(resp).unwrap()["id"], "1");
/// ```
pub struct ApiCall<T> {
    method: http::Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Vec<u8>,
    parser: fn(http::Response<Vec<u8>>) -> Result<T, ApiError>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ApiCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers carry the token: show only their names.
        f.debug_struct("ApiCall")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl<T> ApiCall<T> {
    /// Pairs a request with the function that parses its answer.
    pub fn new(request: http::Request<Vec<u8>>, parser: fn(http::Response<Vec<u8>>) -> Result<T, ApiError>) -> Self {
        let (parts, body) = request.into_parts();
        Self {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            parser,
            _marker: PhantomData,
        }
    }

    /// The request to send. Can be called again to retry (e.g. after a 429).
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let mut req = http::Request::new(self.body.clone());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// Parses the answer to [`ApiCall::request`].
    pub fn parse(&self, response: http::Response<Vec<u8>>) -> Result<T, ApiError> {
        (self.parser)(response)
    }
}
