//! The receiver's decision: method, size, signature, then parsing; and the answers.

use http::header::{ALLOW, CACHE_CONTROL, HeaderValue};
use http::{Response, StatusCode};

use super::WebhookPayload;
use crate::embedded::answer;
use crate::public_key::{ApplicationPublicKey, PublicKeyError, decode_signature, sign_hex};

/// The header carrying the Ed25519 signature (hex).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed timestamp (Unix seconds, as text).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// The largest body the receiver reads: 64 KiB. Discord's event payloads are a few KiB at
/// most; anything larger is answered `413` without being verified or parsed. Check
/// `Content-Length` against it before reading the body ([`EventVerifier::precheck`]), and
/// read at most this many bytes.
pub const MAX_EVENT_BODY_BYTES: usize = 64 * 1024;

/// The message of every `401` answer: nothing more specific, so a prober learns nothing.
const INVALID_SIGNATURE_MESSAGE: &str = "invalid request signature";

/// Why a webhook request was refused. `Display` names the precise reason, for logs; the
/// answer ([`answer`](Self::answer)) is the same for every signature problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventRejection {
    /// Not a `POST`: `405` with `Allow: POST`.
    #[error("webhook events are POSTed; this request was a {0}")]
    MethodNotAllowed(String),
    /// `Content-Length` or the body is over [`MAX_EVENT_BODY_BYTES`]: `413`.
    #[error("the body is larger than {MAX_EVENT_BODY_BYTES} bytes")]
    TooLarge,
    /// `X-Signature-Ed25519` is missing: `401`.
    #[error("the X-Signature-Ed25519 header is missing")]
    MissingSignature,
    /// `X-Signature-Timestamp` is missing: `401`.
    #[error("the X-Signature-Timestamp header is missing")]
    MissingTimestamp,
    /// The signature is not 64 bytes of hex (or base64): `401`.
    #[error("the X-Signature-Ed25519 header is not a signature")]
    MalformedSignature,
    /// The signature does not cover this timestamp and body under the application's key (a
    /// changed body, another timestamp, another key, or one of Discord's deliberate invalid
    /// signatures): `401`.
    #[error("the signature does not match the timestamp and body")]
    BadSignature,
    /// The signature verified but the body is not a webhook event payload: `400`. The
    /// detail is for logs.
    #[error("the signed body is not a webhook event payload: {0}")]
    InvalidPayload(String),
}

impl EventRejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MissingSignature | Self::MissingTimestamp | Self::MalformedSignature | Self::BadSignature => {
                StatusCode::UNAUTHORIZED
            }
            Self::InvalidPayload(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer, the same on every framework. All JSON
    /// (`{"error": …, "message": …}`, `Cache-Control: no-store`):
    /// - `401` `{"error": "invalid_signature", "message": "invalid request signature"}` for
    ///   every signature problem, whichever it was;
    /// - `400` `{"error": "invalid_payload", …}`;
    /// - `413` `{"error": "payload_too_large", …}`;
    /// - `405` `{"error": "method_not_allowed", …}` with `Allow: POST`.
    pub fn answer(&self) -> Response<String> {
        match self {
            Self::MethodNotAllowed(_) => {
                let mut r = answer::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "Webhook events are sent with POST.",
                );
                r.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
                r
            }
            Self::TooLarge => answer::payload_too_large(),
            Self::MissingSignature | Self::MissingTimestamp | Self::MalformedSignature | Self::BadSignature => {
                answer::error(StatusCode::UNAUTHORIZED, "invalid_signature", INVALID_SIGNATURE_MESSAGE)
            }
            Self::InvalidPayload(_) => answer::error(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                "The body is not a webhook event payload.",
            ),
        }
    }
}

/// What to do with one webhook request: the answer to send, and what it said.
///
/// `response` is complete (status, headers, body): send it as it is. `payload` is `Some`
/// exactly when the answer is the `204` (a verified PING or event); `rejection` is `Some`
/// exactly when it is not.
#[derive(Debug)]
#[non_exhaustive]
pub struct Receipt {
    /// The answer.
    pub response: Response<String>,
    /// The verified, parsed body.
    pub payload: Option<WebhookPayload>,
    /// Why the request was refused.
    pub rejection: Option<EventRejection>,
}

impl Receipt {
    fn accepted(payload: WebhookPayload) -> Self {
        let mut response = Response::new(String::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self {
            response,
            payload: Some(payload),
            rejection: None,
        }
    }

    fn rejected(rejection: EventRejection) -> Self {
        Self {
            response: rejection.answer(),
            payload: None,
            rejection: Some(rejection),
        }
    }

    /// The verified event, if any (a PING included).
    pub fn event(&self) -> Option<&super::WebhookEvent> {
        self.payload.as_ref().map(|p| &p.event)
    }

    /// The user whose sessions must end now (the app was deauthorized), logging that or
    /// why the request was refused: what every integration does with a receipt before its
    /// application's own handler sees the payload.
    pub fn deauthorized_user(&self) -> Option<u64> {
        if let Some(rejection) = &self.rejection {
            tracing::info!(reason = %rejection, "webhook event refused");
        }
        let user = self.payload.as_ref()?.event.deauthorized_user_id()?;
        tracing::info!(user_id = %user, "the app was deauthorized; ending the user's sessions");
        Some(user.get())
    }
}

/// `503` with `Retry-After: 5`: what to answer instead of a [`Receipt`]'s `204` when the
/// application could not act on a verified event (say its session store is unreachable), so
/// that Discord delivers it again later.
pub fn retry_later() -> Response<String> {
    let mut r = answer::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "retry_later",
        "The event could not be handled now; deliver it again later.",
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// Verifies and reads webhook requests with the application's public key. Cheap to clone.
///
/// ```
/// use discord_oauth_core::events::{EventVerifier, MAX_EVENT_BODY_BYTES};
/// use discord_oauth_core::PublicKeyError;
///
/// assert!(matches!(EventVerifier::from_hex("not hex"), Err(PublicKeyError::NotHex)));
/// let verifier = EventVerifier::from_hex("c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8")?;
///
/// // Before reading the body: the method and the announced length.
/// assert_eq!(verifier.precheck("GET", None).unwrap().status(), 405);
/// assert_eq!(verifier.precheck("POST", Some(MAX_EVENT_BODY_BYTES as u64 + 1)).unwrap().status(), 413);
/// assert!(verifier.precheck("POST", Some(512)).is_none());
///
/// // No signature: 401, whatever the body.
/// let receipt = verifier.receive("POST", Some(2), None, None, b"{}");
/// assert_eq!(receipt.response.status(), 401);
/// assert_eq!(receipt.response.body(), r#"{"error":"invalid_signature","message":"invalid request signature"}"#);
/// # Ok::<(), PublicKeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventVerifier {
    key: ApplicationPublicKey,
}

impl EventVerifier {
    /// A verifier for the application with this public key.
    pub fn new(key: ApplicationPublicKey) -> Self {
        Self { key }
    }

    /// A verifier from the Developer Portal's "Public Key" (64 hex digits); the error says
    /// what is wrong with it.
    pub fn from_hex(public_key_hex: &str) -> Result<Self, PublicKeyError> {
        ApplicationPublicKey::from_hex(public_key_hex).map(Self::new)
    }

    /// The public key.
    pub fn public_key(&self) -> &ApplicationPublicKey {
        &self.key
    }

    /// The checks that need no body: `Some(answer)` (`405`, or `413` for a `Content-Length`
    /// over [`MAX_EVENT_BODY_BYTES`]) when the request is refused before reading it.
    pub fn precheck(&self, method: &str, content_length: Option<u64>) -> Option<Response<String>> {
        precheck(method, content_length).err().map(|r| r.answer())
    }

    /// Checks that `signature` (the `X-Signature-Ed25519` value) is the application's
    /// signature of `timestamp` (the `X-Signature-Timestamp` value, as sent) followed by
    /// `body`.
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), EventRejection> {
        let signature = signature.ok_or(EventRejection::MissingSignature)?;
        let timestamp = timestamp.ok_or(EventRejection::MissingTimestamp)?;
        let signature = std::str::from_utf8(signature)
            .ok()
            .and_then(decode_signature)
            .ok_or(EventRejection::MalformedSignature)?;
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp);
        message.extend_from_slice(body);
        if self.key.verifies(&message, &signature) {
            Ok(())
        } else {
            Err(EventRejection::BadSignature)
        }
    }

    /// The whole decision for one request, sans-IO: pass the method, the `Content-Length`
    /// header (if any), the two signature headers' raw values and the raw body.
    ///
    /// In order: a method other than `POST` is `405`; a body (or `Content-Length`) over
    /// [`MAX_EVENT_BODY_BYTES`] is `413`; a missing, malformed or wrong signature is `401`;
    /// only then is the body parsed, and a signed body that is not a webhook payload is `400`.
    /// A verified PING or event is `204` with an empty body, and [`Receipt::payload`] holds it.
    pub fn receive(
        &self,
        method: &str,
        content_length: Option<u64>,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
    ) -> Receipt {
        let decided = self.decide(method, content_length, signature, timestamp, body);
        match decided {
            Ok(payload) => Receipt::accepted(payload),
            Err(rejection) => Receipt::rejected(rejection),
        }
    }

    fn decide(
        &self,
        method: &str,
        content_length: Option<u64>,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
    ) -> Result<WebhookPayload, EventRejection> {
        precheck(method, content_length)?;
        if body.len() > MAX_EVENT_BODY_BYTES {
            return Err(EventRejection::TooLarge);
        }
        self.verify(signature, timestamp, body)?;
        // Only signed bytes are parsed.
        WebhookPayload::from_slice(body).map_err(|e| EventRejection::InvalidPayload(e.to_string()))
    }

    /// [`receive`](Self::receive) on an `http::Request`, reading the method and the three
    /// headers from it.
    pub fn receive_request<B: AsRef<[u8]>>(&self, request: &http::Request<B>) -> Receipt {
        let headers = request.headers();
        let content_length = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        self.receive(
            request.method().as_str(),
            content_length,
            headers.get(SIGNATURE_HEADER).map(HeaderValue::as_bytes),
            headers.get(TIMESTAMP_HEADER).map(HeaderValue::as_bytes),
            request.body().as_ref(),
        )
    }
}

fn precheck(method: &str, content_length: Option<u64>) -> Result<(), EventRejection> {
    if method != "POST" {
        return Err(EventRejection::MethodNotAllowed(method.chars().take(32).collect()));
    }
    if content_length.is_some_and(|n| n > MAX_EVENT_BODY_BYTES as u64) {
        return Err(EventRejection::TooLarge);
    }
    Ok(())
}

/// Signs a webhook request the way Discord does, for tests and local tools: the Ed25519
/// signature, as hex (the `X-Signature-Ed25519` value), of `timestamp` (the
/// `X-Signature-Timestamp` value) followed by `body`, with the key made from the 32-byte
/// `seed`. Verify with [`ApplicationPublicKey::from_seed`] of the same seed.
///
/// ```
/// use discord_oauth_core::ApplicationPublicKey;
/// use discord_oauth_core::events::{EventVerifier, sign_event};
/// let verifier = EventVerifier::new(ApplicationPublicKey::from_seed(&[1; 32]));
/// let sig = sign_event(&[1; 32], "1700000000", b"{}");
/// assert_eq!(sig.len(), 128);
/// assert!(verifier.verify(Some(sig.as_bytes()), Some(b"1700000000"), b"{}").is_ok());
/// ```
pub fn sign_event(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    sign_hex(seed, &message)
}
