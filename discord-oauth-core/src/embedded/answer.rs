//! The JSON answers of the embedded endpoints, as `http::Response<String>`, so every framework
//! sends byte-for-byte the same status, headers and body.
//!
//! Every answer is `application/json` with `Cache-Control: no-store` (they carry tokens, or
//! say why none was given) and `X-Content-Type-Options: nosniff`. Errors are
//! `{"error": "<code>", "message": "<what happened and what to do>"}`.
//!
//! ```
//! use discord_oauth_core::embedded::{RateLimitedBody, answer};
//!
//! let refused = answer::unauthorized("invalid_token", "The websocket token has expired; authorize again.");
//! assert_eq!(refused.status(), 401);
//! assert_eq!(refused.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
//! assert_eq!(refused.headers()["cache-control"], "no-store");
//!
//! let discord = http::Response::builder().status(429).body(br#"{"retry_after":0.5,"global":false}"#.to_vec())?;
//! let busy = answer::rate_limited(&RateLimitedBody::from_response(&discord));
//! assert_eq!(busy.status(), 429);
//! assert_eq!(busy.headers()["retry-after"], "1");
//! # Ok::<(), http::Error>(())
//! ```

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use super::RateLimitedBody;
use crate::login::outbound::NotSent;

/// `status` with `value` serialized as the JSON body.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<String> {
    // The answers are plain structs and JSON values: serializing them cannot fail.
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// `{"error": code, "message": message}` with `status`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json(status, &serde_json::json!({ "error": code, "message": message }))
}

/// `401` with `WWW-Authenticate: Bearer` (RFC 6750) and the JSON error.
pub fn unauthorized(code: &str, message: &str) -> Response<String> {
    let mut r = error(StatusCode::UNAUTHORIZED, code, message);
    let challenge = if code == "invalid_token" {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// `429` with the [`RateLimitedBody`] and, when Discord named a wait, `Retry-After`.
pub fn rate_limited(body: &RateLimitedBody) -> Response<String> {
    let mut r = json(StatusCode::TOO_MANY_REQUESTS, body);
    if let Some(secs) = body.retry_after_header() {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// `413`: the body is larger than the endpoint reads.
pub fn payload_too_large() -> Response<String> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The body is too large.",
    )
}

/// `503` with `Retry-After`: nothing was sent to Discord, because every request slot is taken
/// ([`NotSent::Busy`], `"error": "busy"`) or Discord's global rate limit is in effect
/// ([`NotSent::GlobalRateLimit`], `"error": "rate_limited"`, `"global": true`). The body's
/// `retry_after` is the header's value, in seconds.
pub fn not_sent(reason: &NotSent) -> Response<String> {
    let retry_after = reason.retry_after_secs();
    let body = match reason {
        NotSent::GlobalRateLimit(_) => serde_json::json!({
            "error": "rate_limited",
            "message": "Discord is rate limiting this application; nothing was sent. Try again after the wait.",
            "retry_after": retry_after,
            "global": true,
        }),
        NotSent::Busy => serde_json::json!({
            "error": "busy",
            "message": "Too many requests to Discord are in progress; try again in a moment.",
            "retry_after": retry_after,
        }),
    };
    let mut r = json(StatusCode::SERVICE_UNAVAILABLE, &body);
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
    r
}
