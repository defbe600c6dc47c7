//! Fault injection: rate limits, error statuses, slow responses, dropped connections.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::record::Endpoint;

/// How an injected 429 looks on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitStyle {
    /// What Discord normally sends: JSON body
    /// `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`,
    /// `Retry-After`, `X-RateLimit-*` (with `Remaining: 0`) and `X-RateLimit-Scope`.
    Full,
    /// `Retry-After` and `X-RateLimit-*` headers, empty body.
    HeadersOnly,
    /// The JSON body only, no `Retry-After` or `X-RateLimit-*` headers.
    BodyOnly,
    /// An HTML page (what an edge proxy sends) with `Retry-After` but no JSON and no
    /// `X-RateLimit-*` headers.
    Html,
    /// Cloudflare's ban: JSON `{"code": 40333, "message": "internal network error"}`, no
    /// `Retry-After`.
    CloudflareBan,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer 429.
    RateLimited {
        /// Seconds, as in the body's `retry_after` (the `Retry-After` header is rounded up).
        retry_after: f64,
        /// Whether it is the global limit (`"global": true`, `X-RateLimit-Global`,
        /// `X-RateLimit-Scope: global`); otherwise the scope is `user`.
        global: bool,
        /// The wire shape.
        style: RateLimitStyle,
    },
    /// Answer this status with a Discord-style JSON body (`{"message": "503: Service
    /// Unavailable", "code": 0}`).
    Status(u16),
    /// Answer this status with an HTML body (a proxy error page).
    Html(u16),
    /// Wait this long, then handle the request normally. A long delay simulates a hung server.
    Delay(Duration),
    /// Send the status line and headers of a 200, then drop the connection mid-body.
    CloseConnection,
    /// Answer with exactly this response (a redirect, a token response missing a field, a
    /// `"token_type": "bearer"`, …). `X-RateLimit-*` headers are not added.
    Response {
        /// The status code.
        status: u16,
        /// Extra headers, in order.
        headers: Vec<(String, String)>,
        /// The body (sent as given; set `content-type` through `headers`).
        body: String,
    },
}

/// A fault to inject on one endpoint (or all), a number of times (or forever).
///
/// ```
/// use discord_oauth_mock::{Endpoint, Fault, RateLimitStyle};
/// let f = Fault::rate_limited(Endpoint::Token).retry_after(0.25).once();
/// let g = Fault::rate_limited(Endpoint::CurrentUser).style(RateLimitStyle::HeadersOnly).times(2);
/// let h = Fault::status(Endpoint::Token, 503).any_endpoint();
/// # let _ = (f, g, h);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) kind: FaultKind,
    pub(crate) remaining: Option<u32>,
}

impl Fault {
    /// A fault of any kind on `endpoint`, firing for every matching request until cleared.
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self {
            endpoint: Some(endpoint),
            kind,
            remaining: None,
        }
    }

    /// A Discord-style 429: `retry_after` 1.5 s, not global, [`RateLimitStyle::Full`].
    pub fn rate_limited(endpoint: Endpoint) -> Self {
        Self::new(
            endpoint,
            FaultKind::RateLimited {
                retry_after: 1.5,
                global: false,
                style: RateLimitStyle::Full,
            },
        )
    }

    /// A status with a Discord-style JSON body (500, 502, 503, …).
    pub fn status(endpoint: Endpoint, status: u16) -> Self {
        Self::new(endpoint, FaultKind::Status(status))
    }

    /// A status with an HTML body.
    pub fn html(endpoint: Endpoint, status: u16) -> Self {
        Self::new(endpoint, FaultKind::Html(status))
    }

    /// Handle normally after `delay`.
    pub fn delay(endpoint: Endpoint, delay: Duration) -> Self {
        Self::new(endpoint, FaultKind::Delay(delay))
    }

    /// Drop the connection mid-response.
    pub fn close_connection(endpoint: Endpoint) -> Self {
        Self::new(endpoint, FaultKind::CloseConnection)
    }

    /// A canned response: `status`, `content-type: application/json` when `body` parses as
    /// JSON, and `body`. Add headers with [`header`](Self::header).
    ///
    /// ```
    /// use discord_oauth_mock::{Endpoint, Fault};
    /// // A token endpoint that redirects instead of answering.
    /// let f = Fault::response(Endpoint::Token, 302, "").header("location", "http://169.254.169.254/");
    /// // A refresh response without a new refresh token.
    /// let g = Fault::response(Endpoint::Token, 200, r#"{"access_token":"a","token_type":"bearer","expires_in":60,"scope":"identify"}"#);
    /// # let _ = (f, g);
    /// ```
    pub fn response(endpoint: Endpoint, status: u16, body: impl Into<String>) -> Self {
        let body = body.into();
        let mut headers = Vec::new();
        if serde_json::from_str::<serde_json::Value>(&body).is_ok() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        Self::new(endpoint, FaultKind::Response { status, headers, body })
    }

    /// Adds a header to a [`response`](Self::response) fault.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let FaultKind::Response { headers, .. } = &mut self.kind {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Sets `retry_after` (seconds) of a rate-limit fault.
    pub fn retry_after(mut self, seconds: f64) -> Self {
        if let FaultKind::RateLimited { retry_after, .. } = &mut self.kind {
            *retry_after = seconds;
        }
        self
    }

    /// Makes a rate-limit fault global.
    pub fn global(mut self, is_global: bool) -> Self {
        if let FaultKind::RateLimited { global, .. } = &mut self.kind {
            *global = is_global;
        }
        self
    }

    /// Sets the wire shape of a rate-limit fault.
    pub fn style(mut self, new_style: RateLimitStyle) -> Self {
        if let FaultKind::RateLimited { style, .. } = &mut self.kind {
            *style = new_style;
        }
        self
    }

    /// Fires for the next `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fires for the next matching request only.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Matches every endpoint instead of one.
    pub fn any_endpoint(mut self) -> Self {
        self.endpoint = None;
        self
    }

    /// What it does.
    pub fn kind(&self) -> &FaultKind {
        &self.kind
    }

    pub(crate) fn matches(&self, endpoint: Endpoint) -> bool {
        self.remaining != Some(0) && self.endpoint.is_none_or(|e| e == endpoint)
    }

    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            FaultKind::RateLimited { style, global, .. } => {
                format!("rate_limited({style:?}, global={global})")
            }
            FaultKind::Status(s) => format!("status({s})"),
            FaultKind::Html(s) => format!("html({s})"),
            FaultKind::Delay(d) => format!("delay({d:?})"),
            FaultKind::CloseConnection => "close_connection".to_owned(),
            FaultKind::Response { status, .. } => format!("response({status})"),
        }
    }
}

/// The `X-RateLimit-*` headers of a normal response.
pub(crate) fn add_rate_limit_headers(resp: &mut Response, endpoint: Endpoint, now_secs: f64) {
    let h = resp.headers_mut();
    if h.contains_key("x-ratelimit-bucket") {
        return;
    }
    let pairs = [
        ("x-ratelimit-limit", "50".to_owned()),
        ("x-ratelimit-remaining", "49".to_owned()),
        ("x-ratelimit-reset", format!("{:.3}", now_secs + 1.0)),
        ("x-ratelimit-reset-after", "1.000".to_owned()),
        ("x-ratelimit-bucket", endpoint.bucket()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// Builds the response of a non-delay fault.
pub(crate) fn fault_response(kind: &FaultKind, endpoint: Endpoint, now_secs: f64) -> Response {
    match kind {
        FaultKind::RateLimited {
            retry_after,
            global,
            style,
        } => rate_limited(*retry_after, *global, *style, endpoint, now_secs),
        FaultKind::Status(s) => {
            let status = StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({
                "message": format!("{}: {}", status.as_u16(), reason(status)),
                "code": 0,
            });
            (status, axum::Json(body)).into_response()
        }
        FaultKind::Html(s) => {
            let status = StatusCode::from_u16(*s).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = format!("{} {}", status.as_u16(), reason(status));
            let page = format!(
                "<!DOCTYPE html><html><head><title>{text}</title></head><body><center><h1>{text}</h1></center><hr><center>cloudflare</center></body></html>"
            );
            (status, axum::response::Html(page)).into_response()
        }
        FaultKind::CloseConnection => {
            let stream = futures_util::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault injection: connection closed",
                ))
            });
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        FaultKind::Response { status, headers, body } => {
            let mut resp = Response::new(Body::from(body.clone()));
            *resp.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (header::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                    resp.headers_mut().append(k, v);
                }
            }
            resp
        }
        // Delays are handled by the middleware; answer normally-shaped if reached.
        FaultKind::Delay(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn rate_limited(retry_after: f64, global: bool, style: RateLimitStyle, endpoint: Endpoint, now_secs: f64) -> Response {
    let retry_after = if retry_after.is_finite() {
        retry_after.max(0.0)
    } else {
        1.0
    };
    let body = json!({
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": global,
    });
    let (mut resp, headers, retry_header) = match style {
        RateLimitStyle::Full => (
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response(),
            true,
            true,
        ),
        RateLimitStyle::HeadersOnly => (StatusCode::TOO_MANY_REQUESTS.into_response(), true, true),
        RateLimitStyle::BodyOnly => (
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response(),
            false,
            false,
        ),
        RateLimitStyle::Html => (
            (
                StatusCode::TOO_MANY_REQUESTS,
                axum::response::Html(
                    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head><body><h1>Error 1015</h1><p>You are being rate limited</p></body></html>",
                ),
            )
                .into_response(),
            false,
            true,
        ),
        RateLimitStyle::CloudflareBan => (
            (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"code": 40333, "message": "internal network error"})),
            )
                .into_response(),
            false,
            false,
        ),
    };
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    if retry_header {
        put("retry-after", format!("{}", retry_after.ceil() as u64));
    }
    if headers {
        put("x-ratelimit-limit", "50".to_owned());
        put("x-ratelimit-remaining", "0".to_owned());
        put("x-ratelimit-reset", format!("{:.3}", now_secs + retry_after));
        put("x-ratelimit-reset-after", format!("{retry_after:.3}"));
        put("x-ratelimit-bucket", endpoint.bucket());
        put("x-ratelimit-scope", if global { "global" } else { "user" }.to_owned());
        if global {
            put("x-ratelimit-global", "true".to_owned());
        }
    }
    resp
}

/// Why a fault spec did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpecError(String);

impl std::fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid fault spec {:?}: expected ENDPOINT:KIND[*N], e.g. token:429*2, current_user:503, any:delay-500, token:close",
            self.0
        )
    }
}

impl std::error::Error for FaultSpecError {}

impl std::str::FromStr for Fault {
    type Err = FaultSpecError;

    /// Parses `ENDPOINT:KIND[*N]` (used by `--fault` and `POST /mock/faults`).
    ///
    /// `ENDPOINT` is an [`Endpoint::name`] or `any`. `KIND` is one of `429`, `429-global`,
    /// `429-headers`, `429-body`, `429-html`, `429-cloudflare`, a status like `503` (JSON
    /// body), `html-502` (HTML body), `delay-<milliseconds>`, `close`. `*N` limits it to the
    /// next N matching requests.
    ///
    /// ```
    /// use discord_oauth_mock::{Endpoint, Fault};
    /// let f: Fault = "token:429*2".parse().unwrap();
    /// assert_eq!(f, Fault::rate_limited(Endpoint::Token).times(2));
    /// assert!("token:teapot".parse::<Fault>().is_err());
    /// ```
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = || FaultSpecError(spec.to_owned());
        let (endpoint, rest) = spec.trim().split_once(':').ok_or_else(err)?;
        let (kind, times) = match rest.split_once('*') {
            Some((k, n)) => (k, Some(n.parse::<u32>().map_err(|_| err())?)),
            None => (rest, None),
        };
        let target = if endpoint == "any" {
            None
        } else {
            Some(Endpoint::from_name(endpoint).ok_or_else(err)?)
        };
        let kind = match kind {
            "429" => Fault::rate_limited(Endpoint::Other).kind,
            "429-global" => Fault::rate_limited(Endpoint::Other).global(true).kind,
            "429-headers" => {
                Fault::rate_limited(Endpoint::Other)
                    .style(RateLimitStyle::HeadersOnly)
                    .kind
            }
            "429-body" => {
                Fault::rate_limited(Endpoint::Other)
                    .style(RateLimitStyle::BodyOnly)
                    .kind
            }
            "429-html" => Fault::rate_limited(Endpoint::Other).style(RateLimitStyle::Html).kind,
            "429-cloudflare" => {
                Fault::rate_limited(Endpoint::Other)
                    .style(RateLimitStyle::CloudflareBan)
                    .kind
            }
            "close" => FaultKind::CloseConnection,
            k => {
                if let Some(ms) = k.strip_prefix("delay-") {
                    FaultKind::Delay(Duration::from_millis(ms.parse().map_err(|_| err())?))
                } else if let Some(s) = k.strip_prefix("html-") {
                    FaultKind::Html(parse_status(s).ok_or_else(err)?)
                } else {
                    FaultKind::Status(parse_status(k).ok_or_else(err)?)
                }
            }
        };
        Ok(Fault {
            endpoint: target,
            kind,
            remaining: times,
        })
    }
}

fn parse_status(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|n| (100..=599).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let p = |s: &str| s.parse::<Fault>();
        assert_eq!(
            p("current_user:503").unwrap(),
            Fault::status(Endpoint::CurrentUser, 503)
        );
        assert_eq!(
            p("any:html-502*1").unwrap(),
            Fault::html(Endpoint::Token, 502).any_endpoint().once()
        );
        assert_eq!(
            p("keys:delay-250").unwrap(),
            Fault::delay(Endpoint::Keys, Duration::from_millis(250))
        );
        assert_eq!(p("revoke:close").unwrap(), Fault::close_connection(Endpoint::Revoke));
        assert_eq!(
            p("token:429-cloudflare").unwrap(),
            Fault::rate_limited(Endpoint::Token).style(RateLimitStyle::CloudflareBan)
        );
        assert_eq!(
            p("token:429-global").unwrap(),
            Fault::rate_limited(Endpoint::Token).global(true)
        );
        for bad in [
            "",
            "token",
            "nowhere:429",
            "token:42",
            "token:429*x",
            "token:delay-x",
            "token:html-9999",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
