//! Discord's Activity proxy signatures (Ed25519), and the optional activity-instance check.
//!
//! When proxy authentication is on for an application, every request Discord's proxy forwards
//! to the Activity's backend carries three headers:
//! - [`PAYLOAD_HEADER`] (`X-Discord-Proxy-Payload`): base64 of a JSON object with the user
//!   context, at least `created_at` and `expires_at` (Unix seconds);
//! - [`SIGNATURE_HEADER`] (`X-Signature-Ed25519`): the Ed25519 signature of the *decoded*
//!   payload bytes under the application's public key (hex; base64 is accepted too, as
//!   Discord's own examples use both);
//! - [`TIMESTAMP_HEADER`] (`X-Signature-Timestamp`): the payload's `created_at`, as text.
//!
//! [`ProxyVerifier::verify`] checks all of it: the signature first (nothing unsigned is
//! parsed), then that the timestamp header is the signed `created_at`, then the time window
//! (`created_at` not in the future, `expires_at` not passed, both with a small clock skew, and
//! optionally a maximum age). Refusals are `401` JSON naming the reason
//! ([`ProxyRejection::answer`]). [`ProxyAuth`] adds an optional hook that checks the activity
//! instance (e.g. with Discord's `GET /applications/{id}/activity-instances/{instance_id}`),
//! refusing with `403`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::answer;
use crate::public_key::{ApplicationPublicKey, decode_base64, decode_signature, sign_hex};

/// The header carrying the Ed25519 signature (hex or base64).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed payload's `created_at` (seconds since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// The header carrying the signed payload (base64 of JSON).
pub const PAYLOAD_HEADER: &str = "x-discord-proxy-payload";
/// The default allowance for clock differences between Discord and this server (one minute).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Payload headers longer than this are refused before decoding.
pub const MAX_PAYLOAD_HEADER_BYTES: usize = 8192;

/// Why a proxy-signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxySignatureError {
    /// A header is missing (is proxy authentication enabled for the application?).
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A header is not in the expected form (hex/base64, JSON with `created_at` and
    /// `expires_at`), or the payload is too long.
    #[error("the proxy signature headers are malformed")]
    Malformed,
    /// The signature does not match the payload under the public key: the payload was
    /// changed, or signed with another key.
    #[error("the proxy signature is not valid")]
    BadSignature,
    /// `X-Signature-Timestamp` is not the signed payload's `created_at`.
    #[error("the signature timestamp does not match the signed payload")]
    TimestampMismatch,
    /// `created_at` is in the future, beyond the allowed clock skew.
    #[error("the proxy payload is not valid yet")]
    NotYetValid,
    /// `expires_at` has passed (or the payload is older than the configured maximum age).
    #[error("the proxy payload has expired")]
    Expired,
}

impl ProxySignatureError {
    /// A stable, machine-readable reason (the `reason` field of the `401` answer).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_header",
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::TimestampMismatch => "timestamp_mismatch",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
        }
    }
}

/// The application's Ed25519 public key (from the Developer Portal, hex), for the proxy
/// check. A thin wrapper over [`ApplicationPublicKey`], the same key the webhook event
/// receiver uses; convert with `From`/[`public_key`](Self::public_key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyPublicKey(ApplicationPublicKey);

impl ProxyPublicKey {
    /// Parses the 64-hex-digit public key shown in the Developer Portal.
    /// [`ApplicationPublicKey::from_hex`] says what is wrong with a refused key.
    pub fn from_hex(hex: &str) -> Option<Self> {
        ApplicationPublicKey::from_hex(hex).ok().map(Self)
    }

    /// From the raw 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        ApplicationPublicKey::from_bytes(bytes).ok().map(Self)
    }

    /// The public half of the key [`sign_proxy_payload`] makes from `seed` (tests and local
    /// tools; Discord's own key comes from the Developer Portal).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ApplicationPublicKey::from_seed(seed))
    }

    /// The key as 64 hex digits, as the Developer Portal shows it.
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }

    /// The application key this wraps.
    pub fn public_key(&self) -> &ApplicationPublicKey {
        &self.0
    }
}

impl From<ApplicationPublicKey> for ProxyPublicKey {
    fn from(key: ApplicationPublicKey) -> Self {
        Self(key)
    }
}

/// The verified, signed payload of a proxied request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyPayload {
    /// When the proxy signed it (Unix seconds); equals `X-Signature-Timestamp`.
    pub created_at: u64,
    /// Until when it is valid (Unix seconds).
    pub expires_at: u64,
    /// Every other field of the payload (the user context), as Discord sent it.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ProxyPayload {
    /// A string field of the user context, e.g. `payload.str_field("user_id")`.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(serde_json::Value::as_str)
    }
}

/// Verifies proxy-signed requests with the application's public key.
#[derive(Debug, Clone)]
pub struct ProxyVerifier {
    key: ProxyPublicKey,
    skew: Duration,
    max_age: Option<Duration>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ProxyVerifier {
    /// A verifier with the [default clock skew](DEFAULT_CLOCK_SKEW) and no maximum age beyond
    /// the payload's own `expires_at`.
    pub fn new(key: ProxyPublicKey) -> Self {
        Self {
            key,
            skew: DEFAULT_CLOCK_SKEW,
            max_age: None,
        }
    }

    /// Allows this much clock difference (at most five minutes).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew.min(Duration::from_secs(300));
        self
    }

    /// Also refuses payloads signed longer ago than `max_age`, even if `expires_at` has not
    /// passed: a tighter replay window.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Checks the three header values at `now`.
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        payload: Option<&str>,
        now: SystemTime,
    ) -> Result<ProxyPayload, ProxySignatureError> {
        use ProxySignatureError as E;
        let signature = signature.ok_or(E::Missing(SIGNATURE_HEADER))?;
        let timestamp = timestamp.ok_or(E::Missing(TIMESTAMP_HEADER))?;
        let payload = payload.ok_or(E::Missing(PAYLOAD_HEADER))?;
        if payload.len() > MAX_PAYLOAD_HEADER_BYTES {
            return Err(E::Malformed);
        }
        let sig = decode_signature(signature).ok_or(E::Malformed)?;
        let bytes = decode_base64(payload.trim()).ok_or(E::Malformed)?;
        if !self.key.0.verifies(&bytes, &sig) {
            return Err(E::BadSignature);
        }
        // Only signed bytes are parsed from here on.
        let claims: ProxyPayload = serde_json::from_slice(&bytes).map_err(|_| E::Malformed)?;
        if timestamp.trim() != claims.created_at.to_string() {
            return Err(E::TimestampMismatch);
        }
        let now = secs(now);
        let skew = self.skew.as_secs();
        if claims.created_at > now.saturating_add(skew) {
            return Err(E::NotYetValid);
        }
        let mut until = claims.expires_at;
        if let Some(max_age) = self.max_age {
            until = until.min(claims.created_at.saturating_add(max_age.as_secs()));
        }
        if now > until.saturating_add(skew) {
            return Err(E::Expired);
        }
        Ok(claims)
    }

    /// [`verify`](Self::verify) reading the three headers from `headers`.
    pub fn verify_headers(
        &self,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> Result<ProxyPayload, ProxySignatureError> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.verify(get(SIGNATURE_HEADER), get(TIMESTAMP_HEADER), get(PAYLOAD_HEADER), now)
    }
}

/// The future an [`InstanceCheck`] returns: `Ok(())` to let the request in, `Err(message)` to
/// refuse it with `403` (the message is sent to the client: keep secrets out).
pub type InstanceCheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// The optional activity-instance check of [`ProxyAuth`], run after the signature passed.
///
/// Where the instance id comes from is the application's choice (a field of the signed
/// payload, a header or query parameter the page sends with `discordSdk.instanceId`); the
/// usual check asks Discord `GET /applications/{application_id}/activity-instances/{instance_id}`
/// with the bot token and looks for the user in its `users`. Implemented for closures:
///
/// ```
/// use discord_oauth_core::embedded::{InstanceCheck, ProxyPayload};
/// let check = |payload: &ProxyPayload, request: &http::request::Parts| {
///     let ok = request.headers.get("x-instance-id").is_some() && payload.str_field("user_id").is_some();
///     async move { if ok { Ok(()) } else { Err("not in this activity instance".to_owned()) } }
/// };
/// fn takes(_: impl InstanceCheck) {}
/// takes(check);
/// ```
pub trait InstanceCheck: Send + Sync + 'static {
    /// Decides whether the verified request belongs to a live instance of the activity.
    fn check(&self, payload: &ProxyPayload, request: &http::request::Parts) -> InstanceCheckFuture;
}

impl<F, Fut> InstanceCheck for F
where
    F: Fn(&ProxyPayload, &http::request::Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn check(&self, payload: &ProxyPayload, request: &http::request::Parts) -> InstanceCheckFuture {
        Box::pin(self(payload, request))
    }
}

/// Why [`ProxyAuth`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyRejection {
    /// The signature headers did not verify: `401`.
    Signature(ProxySignatureError),
    /// The instance check said no: `403` with its message.
    Instance(String),
}

impl fmt::Display for ProxyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signature(e) => e.fmt(f),
            Self::Instance(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ProxyRejection {}

impl ProxyRejection {
    /// The answer, the same for every framework: `401` JSON
    /// `{"error": "invalid_proxy_signature", "reason": …, "message": …}` for a signature
    /// problem, `403` JSON `{"error": "activity_instance_refused", "message": …}` for the
    /// instance check.
    pub fn answer(&self) -> http::Response<String> {
        match self {
            Self::Signature(e) => answer::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({
                    "error": "invalid_proxy_signature",
                    "reason": e.reason(),
                    "message": e.to_string(),
                }),
            ),
            Self::Instance(m) => answer::error(StatusCode::FORBIDDEN, "activity_instance_refused", m),
        }
    }
}

/// Proxy-signature verification plus the optional instance check, as the framework crates'
/// middleware and extractors use it. Cheap to clone.
#[derive(Clone)]
pub struct ProxyAuth {
    verifier: ProxyVerifier,
    instance_check: Option<Arc<dyn InstanceCheck>>,
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("verifier", &self.verifier)
            .field("instance_check", &self.instance_check.is_some())
            .finish()
    }
}

impl ProxyAuth {
    /// Signature verification only.
    pub fn new(verifier: ProxyVerifier) -> Self {
        Self {
            verifier,
            instance_check: None,
        }
    }

    /// Adds the activity-instance check, run after the signature verified.
    pub fn with_instance_check(mut self, check: impl InstanceCheck) -> Self {
        self.instance_check = Some(Arc::new(check));
        self
    }

    /// The signature verifier.
    pub fn verifier(&self) -> &ProxyVerifier {
        &self.verifier
    }

    /// The signature step, on the request's headers at `now`.
    pub fn verify_headers(&self, headers: &http::HeaderMap, now: SystemTime) -> Result<ProxyPayload, ProxyRejection> {
        self.verifier
            .verify_headers(headers, now)
            .map_err(ProxyRejection::Signature)
    }

    /// The instance step, if one is configured (`None`: nothing to check).
    pub fn check_instance(
        &self,
        payload: &ProxyPayload,
        request: &http::request::Parts,
    ) -> Option<impl Future<Output = Result<(), ProxyRejection>> + Send + 'static + use<>> {
        let fut = self.instance_check.as_ref()?.check(payload, request);
        Some(async move { fut.await.map_err(ProxyRejection::Instance) })
    }

    /// Both steps.
    pub async fn check(&self, request: &http::request::Parts, now: SystemTime) -> Result<ProxyPayload, ProxyRejection> {
        let payload = self.verify_headers(&request.headers, now)?;
        if let Some(fut) = self.check_instance(&payload, request) {
            fut.await?;
        }
        Ok(payload)
    }
}

/// Signs a payload the way Discord's proxy does, for tests and local tools: with the Ed25519
/// key made from the 32-byte `seed`, returns the three headers (signature as hex, timestamp,
/// payload as base64) for `payload`, whose `created_at` is the timestamp. Verify with
/// [`ProxyPublicKey::from_seed`] of the same seed.
pub fn sign_proxy_payload(seed: &[u8; 32], payload: &ProxyPayload) -> [(&'static str, String); 3] {
    // Serializing a map of JSON values cannot fail.
    let bytes = serde_json::to_vec(payload).unwrap_or_default();
    [
        (SIGNATURE_HEADER, sign_hex(seed, &bytes)),
        (TIMESTAMP_HEADER, payload.created_at.to_string()),
        (PAYLOAD_HEADER, STANDARD.encode(bytes)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_key::decode_hex;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    const T: u64 = 1_700_000_000;

    fn payload(created_at: u64, expires_at: u64) -> ProxyPayload {
        let mut fields = serde_json::Map::new();
        fields.insert("user_id".into(), "301234567890123456".into());
        ProxyPayload {
            created_at,
            expires_at,
            fields,
        }
    }

    fn headers(h: &[(&'static str, String); 3]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in h {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    fn setup() -> ([u8; 32], ProxyVerifier) {
        let sk = [7; 32];
        let hex = ProxyPublicKey::from_seed(&sk).to_hex();
        (sk, ProxyVerifier::new(ProxyPublicKey::from_hex(&hex).unwrap()))
    }

    #[test]
    fn right_key_passes_and_the_payload_is_returned() {
        let (sk, v) = setup();
        let h = sign_proxy_payload(&sk, &payload(T, T + 3600));
        let p = v.verify_headers(&headers(&h), at(T + 10)).unwrap();
        assert_eq!(p.created_at, T);
        assert_eq!(p.str_field("user_id"), Some("301234567890123456"));
        // a base64 signature (as in Discord's JavaScript example) is accepted too
        let sig = decode_hex(&h[0].1).unwrap();
        let b64 = [(SIGNATURE_HEADER, STANDARD.encode(sig)), h[1].clone(), h[2].clone()];
        assert!(v.verify_headers(&headers(&b64), at(T)).is_ok());
    }

    #[test]
    fn changed_payload_other_key_and_timestamp_are_refused() {
        use ProxySignatureError as E;
        let (sk, v) = setup();
        let h = sign_proxy_payload(&sk, &payload(T, T + 3600));
        // a changed payload (another user), signature kept
        let forged = sign_proxy_payload(&sk, &{
            let mut p = payload(T, T + 3600);
            p.fields.insert("user_id".into(), "1".into());
            p
        });
        let swapped = [h[0].clone(), h[1].clone(), forged[2].clone()];
        assert_eq!(v.verify_headers(&headers(&swapped), at(T)), Err(E::BadSignature));
        // another key
        let other = sign_proxy_payload(&[8; 32], &payload(T, T + 3600));
        assert_eq!(v.verify_headers(&headers(&other), at(T)), Err(E::BadSignature));
        // a timestamp header that is not the signed created_at
        let ts = [h[0].clone(), (TIMESTAMP_HEADER, (T + 1).to_string()), h[2].clone()];
        assert_eq!(v.verify_headers(&headers(&ts), at(T)), Err(E::TimestampMismatch));
    }

    #[test]
    fn outside_the_window_is_refused() {
        use ProxySignatureError as E;
        let (sk, v) = setup();
        let h = headers(&sign_proxy_payload(&sk, &payload(T, T + 600)));
        // signed in the future beyond the skew
        assert_eq!(v.verify_headers(&h, at(T - 61)), Err(E::NotYetValid));
        assert!(v.verify_headers(&h, at(T - 60)).is_ok());
        // expired (beyond the skew)
        assert!(v.verify_headers(&h, at(T + 660)).is_ok());
        assert_eq!(v.verify_headers(&h, at(T + 661)), Err(E::Expired));
        // a tighter maximum age
        let strict = v
            .clone()
            .with_max_age(Duration::from_secs(30))
            .with_clock_skew(Duration::ZERO);
        assert!(strict.verify_headers(&h, at(T + 30)).is_ok());
        assert_eq!(strict.verify_headers(&h, at(T + 31)), Err(E::Expired));
    }

    #[test]
    fn missing_and_malformed() {
        use ProxySignatureError as E;
        let (sk, v) = setup();
        let h = sign_proxy_payload(&sk, &payload(T, T + 600));
        assert_eq!(
            v.verify(None, Some(&h[1].1), Some(&h[2].1), at(T)),
            Err(E::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            v.verify(Some(&h[0].1), None, Some(&h[2].1), at(T)),
            Err(E::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            v.verify(Some(&h[0].1), Some(&h[1].1), None, at(T)),
            Err(E::Missing(PAYLOAD_HEADER))
        );
        assert_eq!(
            v.verify(Some("zz"), Some(&h[1].1), Some(&h[2].1), at(T)),
            Err(E::Malformed)
        );
        assert_eq!(
            v.verify(Some(&h[0].1), Some(&h[1].1), Some("!!"), at(T)),
            Err(E::Malformed)
        );
        let long = "A".repeat(MAX_PAYLOAD_HEADER_BYTES + 4);
        assert_eq!(
            v.verify(Some(&h[0].1), Some(&h[1].1), Some(&long), at(T)),
            Err(E::Malformed)
        );
        // signed, but not the expected JSON
        let sig = sign_hex(&sk, b"[]");
        assert_eq!(
            v.verify(Some(&sig), Some("1"), Some(&STANDARD.encode(b"[]")), at(T)),
            Err(E::Malformed)
        );
        assert!(ProxyPublicKey::from_hex("abc").is_none());
    }

    #[test]
    fn answers_and_instance_check() {
        let (sk, v) = setup();
        let r = ProxyRejection::Signature(ProxySignatureError::Expired).answer();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = serde_json::from_str(r.body()).unwrap();
        assert_eq!(body["reason"], "expired");
        assert_eq!(body["error"], "invalid_proxy_signature");
        let r = ProxyRejection::Instance("no".into()).answer();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        let auth = ProxyAuth::new(v).with_instance_check(|p: &ProxyPayload, req: &http::request::Parts| {
            let ok = req.headers.contains_key("x-instance") && p.str_field("user_id").is_some();
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("not in the instance".to_owned())
                }
            }
        });
        let h = sign_proxy_payload(&sk, &payload(T, T + 600));
        let mut req = http::Request::get("/api/x").body(()).unwrap();
        req.headers_mut().extend(headers(&h));
        let (mut parts, ()) = req.into_parts();
        let p = auth.verify_headers(&parts.headers, at(T)).unwrap();
        let fut = auth.check_instance(&p, &parts).unwrap();
        assert_eq!(
            block_on(fut),
            Err(ProxyRejection::Instance("not in the instance".into()))
        );
        parts.headers.insert("x-instance", "i-1".parse().unwrap());
        assert_eq!(block_on(auth.check_instance(&p, &parts).unwrap()), Ok(()));
        assert!(block_on(auth.check(&parts, at(T))).is_ok());
        assert!(matches!(
            block_on(auth.check(&parts, at(T + 3600))),
            Err(ProxyRejection::Signature(ProxySignatureError::Expired))
        ));
    }

    /// A minimal executor for futures that never wait.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
