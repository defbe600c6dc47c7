//! The Activity endpoints as one driver, written once for every framework.
//!
//! An integration serves a request to the token or refresh endpoint in four steps, each a
//! call into this module; it decides nothing itself:
//! it calls [`EmbeddedConfig::serve`] with the request head, its body stream and its
//! [`EmbeddedIo`] (the bound on requests to Discord and the transport), and sends the
//! `http::Response<String>` it gives, unchanged. In between the driver
//! 1. refuses from the head at once ([`EmbeddedRequest::start`]: `415` for anything but JSON,
//!    `413` for a `Content-Length` over [`MAX_BODY_BYTES`]);
//! 2. reads the body chunk by chunk, never past [`MAX_BODY_BYTES`]` + 1` bytes
//!    ([`EmbeddedRequest::push`]; `400` when it breaks off, [`EmbeddedRequest::unreadable`]);
//! 3. validates the body, checks the proof of a refresh, takes one request slot
//!    ([`EmbeddedIo::admit`]; none free or the global-429 breaker closed: `503` with
//!    `Retry-After`, nothing sent), and drives the flow in it.
//!
//! The websocket-token extractor and the proxy check are [`WebsocketAuth`] and
//! [`ProxyCheck`]: the integration hands them the request's headers and its wall clock.
//!
//! Nothing here reads a clock: the integration passes its wall clock (`SystemTime::now`) as a
//! function, used unless a [`Clock`] was set for tests
//! ([`EmbeddedConfig::with_clock`], [`WebsocketAuth::with_clock`], [`ProxyCheck::with_clock`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::{
    EmbeddedConfig, MAX_BODY_BYTES, ProxyAuth, ProxyPayload, ProxyRejection, RefreshFlow, TokenFlow, WebsocketClaims,
    WebsocketRejection, WebsocketTokenVerifier, answer,
};
use crate::login::flow::{Flow, FlowIo, Step, drive};
use crate::login::outbound::NotSent;

/// A replaceable wall clock (tests, clock-skew drills): the same type as the integrations'
/// `Clock`.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The default per-request time limit towards Discord (10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest WebSocket message an Activity's socket should read (64 KiB, all frames of a
/// fragmented message together): give it to the framework's WebSocket upgrade (axum's
/// `WebSocketUpgrade::max_message_size`, actix's `ws::Codec::max_size`). A larger one closes
/// that connection; nothing larger is buffered.
pub const MAX_WEBSOCKET_MESSAGE_BYTES: usize = 64 * 1024;
/// The largest single WebSocket frame an Activity's socket should read (64 KiB): a frame
/// header announcing more closes the connection before its payload is buffered.
pub const MAX_WEBSOCKET_FRAME_BYTES: usize = 64 * 1024;
/// The most bytes of outgoing messages to buffer for one slow client before its connection
/// is closed (256 KiB).
pub const MAX_WEBSOCKET_WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// The time: `clock` when one was set, else the integration's `wall` clock.
fn now_of(clock: Option<&Clock>, wall: fn() -> SystemTime) -> SystemTime {
    clock.map_or_else(wall, |clock| clock())
}

/// Shows whether a clock was replaced, never the clock.
struct ClockSet<'a>(Option<&'a Clock>);

impl fmt::Debug for ClockSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "replaced" } else { "wall" })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a request
// ---------------------------------------------------------------------------------------------

/// The endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The token endpoint ([`EmbeddedConfig::token_flow`]).
    Token,
    /// The refresh endpoint ([`EmbeddedConfig::refresh_flow`]).
    Refresh,
}

/// A request to one of the endpoints, while its body is read.
///
/// ```
/// use discord_oauth_core::embedded::{EmbeddedRequest, Endpoint, MAX_BODY_BYTES};
///
/// let head = http::Request::post("/api/token")
///     .header("content-type", "application/json")
///     .body(())
///     .unwrap()
///     .into_parts()
///     .0;
/// let mut request = EmbeddedRequest::start(Endpoint::Token, head).unwrap();
/// assert!(request.push(br#"{"code":"#));
/// assert!(!request.push(&[b' '; MAX_BODY_BYTES])); // over the limit: stop reading
///
/// let form = http::Request::post("/api/token")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(())
///     .unwrap()
///     .into_parts()
///     .0;
/// assert_eq!(EmbeddedRequest::start(Endpoint::Token, form).unwrap_err().status(), 415);
/// ```
#[derive(Debug)]
pub struct EmbeddedRequest {
    endpoint: Endpoint,
    head: http::request::Parts,
    body: Vec<u8>,
}

impl EmbeddedRequest {
    /// Starts a request from its head, or refuses it before its body is read: a
    /// `Content-Type` other than `application/json` is `415`, a `Content-Length` over
    /// [`MAX_BODY_BYTES`] is `413`.
    pub fn start(endpoint: Endpoint, head: http::request::Parts) -> Result<Self, Response<String>> {
        let content_type = head.headers.get(CONTENT_TYPE).map(http::HeaderValue::as_bytes);
        let length = head
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        EmbeddedConfig::check_head(content_type, length)?;
        Ok(Self {
            endpoint,
            head,
            body: Vec::new(),
        })
    }

    /// Adds the next chunk of the body. `false`: more than [`MAX_BODY_BYTES`] were read, stop
    /// reading (the answer will be `413`; nothing beyond the limit is kept).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let room = (MAX_BODY_BYTES + 1).saturating_sub(self.body.len());
        self.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.body.len() <= MAX_BODY_BYTES
    }

    /// The answer when the body broke off while it was read: `400` JSON.
    pub fn unreadable() -> Response<String> {
        answer::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body could not be read.",
        )
    }

    /// The endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }
}

// ---------------------------------------------------------------------------------------------
// Serving it
// ---------------------------------------------------------------------------------------------

/// What [`EmbeddedConfig::serve`] needs from the integration: its bound on requests to
/// Discord (with the global-429 breaker) and its transport.
pub trait EmbeddedIo: Sync {
    /// One request slot, held while a flow runs; dropping it frees the slot.
    type Slot<'a>: Send + Sync
    where
        Self: 'a;
    /// A transport failure (its `Display` is logged; it must not contain secrets).
    type Error: fmt::Display;

    /// Takes a free slot at once, or says why nothing may be sent at `now`.
    fn admit(&self, now: SystemTime) -> Result<Self::Slot<'_>, NotSent>;

    /// Sends one request to Discord in `slot`.
    fn send(&self, slot: &Self::Slot<'_>, outgoing: Outgoing<'_>) -> impl Sending<Self::Error>;
}

/// One request to Discord, with its time limit and the clock (to read when the answer comes).
#[non_exhaustive]
pub struct Outgoing<'a> {
    /// The request.
    pub request: http::Request<Vec<u8>>,
    /// Its time limit ([`EmbeddedConfig::timeout`]).
    pub timeout: Duration,
    /// The clock ([`EmbeddedConfig::now`]).
    pub clock: &'a (dyn Fn() -> SystemTime + Send + Sync),
}

impl fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What [`EmbeddedIo::send`] gives: the future of Discord's answer (or the transport's
/// failure).
pub trait Sending<E>: Future<Output = Result<http::Response<Vec<u8>>, E>> + Send {}

impl<E, F: Future<Output = Result<http::Response<Vec<u8>>, E>> + Send> Sending<E> for F {}

/// An [`EmbeddedIo`] with one slot taken: what the flows send through.
struct Admitted<'a, I: EmbeddedIo> {
    timeout: Duration,
    clock: &'a (dyn Fn() -> SystemTime + Send + Sync),
    io: &'a I,
    slot: I::Slot<'a>,
}

impl<I: EmbeddedIo> FlowIo for Admitted<'_, I> {
    type Error = I::Error;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, I::Error>> + Send {
        let outgoing = Outgoing {
            request,
            timeout: self.timeout,
            clock: self.clock,
        };
        self.io.send(&self.slot, outgoing)
    }

    fn wait(&self, _duration: Duration) -> impl Future<Output = ()> + Send {
        // The embedded flows never ask to wait: a Discord 429 goes back to the client.
        std::future::ready(())
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }
}

impl EmbeddedConfig {
    /// Serves one request to `endpoint`, all of it: the head checks, the body read with
    /// `poll_body` (the integration's body stream, chunk by chunk; only as far as needed),
    /// the endpoint's flow in one request slot of `io`, or the answer that refuses it. `wall`
    /// is the integration's wall clock (`SystemTime::now`; see [`now`](Self::now)). Send the
    /// answer as it is.
    pub async fn serve<I, D, E>(
        &self,
        endpoint: Endpoint,
        head: http::request::Parts,
        mut poll_body: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<D, E>>>,
        io: &I,
        wall: fn() -> SystemTime,
    ) -> Response<String>
    where
        I: EmbeddedIo,
        D: AsRef<[u8]>,
    {
        let mut request = match EmbeddedRequest::start(endpoint, head) {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        while let Some(chunk) = std::future::poll_fn(&mut poll_body).await {
            let Ok(chunk) = chunk else {
                return EmbeddedRequest::unreadable();
            };
            if !request.push(chunk.as_ref()) {
                break;
            }
        }
        self.serve_read(request, io, wall).await
    }

    /// [`serve`](Self::serve) for a request whose body was read already.
    pub async fn serve_read<I: EmbeddedIo>(
        &self,
        request: EmbeddedRequest,
        io: &I,
        wall: fn() -> SystemTime,
    ) -> Response<String> {
        let EmbeddedRequest { endpoint, head, body } = request;
        let flow = match endpoint {
            Endpoint::Token => {
                let content_type = head.headers.get(CONTENT_TYPE).map(http::HeaderValue::as_bytes);
                self.token_flow(content_type, &body).map(EitherFlow::Token)
            }
            Endpoint::Refresh => self
                .refresh_flow(&head, &body, self.now(wall))
                .await
                .map(EitherFlow::Refresh),
        };
        let flow = match flow {
            Ok(flow) => flow,
            Err(answer) => return answer,
        };
        let clock = move || self.now(wall);
        match io.admit(clock()) {
            Ok(slot) => {
                let admitted = Admitted {
                    timeout: self.timeout(),
                    clock: &clock,
                    io,
                    slot,
                };
                drive(flow, &admitted).await
            }
            Err(not_sent) => answer::not_sent(&not_sent),
        }
    }

    /// The time for these endpoints: the clock set with [`with_clock`](Self::with_clock), else
    /// the integration's `wall` clock.
    pub fn now(&self, wall: fn() -> SystemTime) -> SystemTime {
        now_of(self.clock.as_ref(), wall)
    }

    /// The [`WebsocketAuth`] of these endpoints: their verifier and clock.
    pub fn websocket_auth(&self) -> WebsocketAuth {
        WebsocketAuth {
            verifier: self.verifier().clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The flow of either endpoint.
enum EitherFlow {
    Token(TokenFlow),
    Refresh(RefreshFlow),
}

impl Flow for EitherFlow {
    type Output = Response<String>;

    fn poll(&mut self) -> Step {
        match self {
            Self::Token(f) => f.poll(),
            Self::Refresh(f) => f.poll(),
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) {
        match self {
            Self::Token(f) => f.handle_response(response, now),
            Self::Refresh(f) => f.handle_response(response, now),
        }
    }

    fn handle_unreachable(&mut self, error: String) {
        match self {
            Self::Token(f) => f.handle_unreachable(error),
            Self::Refresh(f) => f.handle_unreachable(error),
        }
    }

    fn finish(self) -> Self::Output {
        match self {
            Self::Token(f) => f.finish(),
            Self::Refresh(f) => f.finish(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// websocket_token and proxy signatures on a request
// ---------------------------------------------------------------------------------------------

/// The verifier and clock of the websocket-token extractors.
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
/// use discord_oauth_core::embedded::{WebsocketAuth, WebsocketKey, WebsocketRejection, WebsocketTokenVerifier};
///
/// let key = WebsocketKey::new("k1", vec![1; 32]).unwrap();
/// let auth = WebsocketAuth::new(WebsocketTokenVerifier::new([key], "my-activity").unwrap());
/// let refused = auth.verify_request(None, Some("a=1"), SystemTime::now).unwrap_err();
/// assert_eq!(refused, WebsocketRejection::Missing);
/// assert_eq!(refused.answer().status(), 401);
/// ```
#[derive(Clone)]
pub struct WebsocketAuth {
    verifier: WebsocketTokenVerifier,
    clock: Option<Clock>,
}

impl fmt::Debug for WebsocketAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebsocketAuth")
            .field("verifier", &self.verifier)
            .field("clock", &ClockSet(self.clock.as_ref()))
            .finish()
    }
}

impl WebsocketAuth {
    /// With the integration's wall clock.
    pub fn new(verifier: WebsocketTokenVerifier) -> Self {
        Self { verifier, clock: None }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &WebsocketTokenVerifier {
        &self.verifier
    }

    /// [`WebsocketTokenVerifier::verify_request`] with the request's `Authorization` header
    /// and query string, at the time of the clock (else of `wall`). An empty query is none.
    pub fn verify_request(
        &self,
        authorization: Option<&[u8]>,
        query: Option<&str>,
        wall: fn() -> SystemTime,
    ) -> Result<WebsocketClaims, WebsocketRejection> {
        let now = now_of(self.clock.as_ref(), wall);
        self.verifier
            .verify_request(authorization, query.filter(|q| !q.is_empty()), now)
    }
}

/// The proxy check ([`ProxyAuth`]: signature and optional instance hook) with a clock: the
/// state of the proxy middleware and extractors.
#[derive(Clone)]
pub struct ProxyCheck {
    auth: ProxyAuth,
    clock: Option<Clock>,
}

impl fmt::Debug for ProxyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCheck")
            .field("auth", &self.auth)
            .field("clock", &ClockSet(self.clock.as_ref()))
            .finish()
    }
}

impl ProxyCheck {
    /// With the integration's wall clock.
    pub fn new(auth: ProxyAuth) -> Self {
        Self { auth, clock: None }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The check.
    pub fn auth(&self) -> &ProxyAuth {
        &self.auth
    }

    /// [`ProxyAuth::check`] of the request head, at the time of the clock (else of `wall`).
    /// Refusals answer with [`ProxyRejection::answer`].
    pub fn check(
        &self,
        request: &http::request::Parts,
        wall: fn() -> SystemTime,
    ) -> impl Future<Output = Result<ProxyPayload, ProxyRejection>> + Send + 'static + use<> {
        let now = now_of(self.clock.as_ref(), wall);
        let verified = self.auth.verify_headers(&request.headers, now);
        let instance = verified
            .as_ref()
            .ok()
            .and_then(|payload| self.auth.check_instance(payload, request));
        async move {
            let payload = verified?;
            if let Some(instance) = instance {
                instance.await?;
            }
            Ok(payload)
        }
    }
}

/// A refusal of the websocket-token or proxy check, with its answer (the same on every
/// framework): what the integrations' rejection types wrap.
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// The answer: `401`/`403` JSON.
    fn answer(&self) -> Response<String>;
}

impl Rejection for WebsocketRejection {
    fn answer(&self) -> Response<String> {
        WebsocketRejection::answer(self)
    }
}

impl Rejection for ProxyRejection {
    fn answer(&self) -> Response<String> {
        ProxyRejection::answer(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut r = http::Request::post("/api/token");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_head_and_the_body_limit() {
        let json = ("content-type", "application/json; charset=utf-8");
        assert!(EmbeddedRequest::start(Endpoint::Token, head(&[json])).is_ok());
        let a = EmbeddedRequest::start(Endpoint::Token, head(&[json, ("content-length", "4097")])).unwrap_err();
        assert_eq!(a.status(), 413);
        let a = EmbeddedRequest::start(Endpoint::Refresh, head(&[("content-type", "text/plain")])).unwrap_err();
        assert_eq!(a.status(), 415);
        assert_eq!(
            EmbeddedRequest::start(Endpoint::Token, head(&[])).unwrap_err().status(),
            415
        );
        let mut r = EmbeddedRequest::start(Endpoint::Refresh, head(&[json])).unwrap();
        assert_eq!(r.endpoint(), Endpoint::Refresh);
        assert!(r.push(&[b'x'; MAX_BODY_BYTES]));
        assert!(!r.push(&[b'x'; 10_000]));
        assert_eq!(r.body.len(), MAX_BODY_BYTES + 1, "nothing past the limit is kept");
        let a = EmbeddedRequest::unreadable();
        assert_eq!(a.status(), 400);
        assert!(a.body().contains("invalid_request"));
    }

    /// Discord played by a script, with a bound of `slots` requests at a time.
    struct Scripted {
        answers: std::sync::Mutex<Vec<(u16, &'static str)>>,
        sent: std::sync::Mutex<Vec<String>>,
        slots: std::sync::atomic::AtomicUsize,
    }

    impl Scripted {
        fn new(slots: usize, answers: &[(u16, &'static str)]) -> Self {
            Self {
                answers: std::sync::Mutex::new(answers.iter().rev().copied().collect()),
                sent: std::sync::Mutex::default(),
                slots: std::sync::atomic::AtomicUsize::new(slots),
            }
        }
    }

    impl EmbeddedIo for Scripted {
        type Slot<'a> = ();
        type Error = &'static str;

        fn admit(&self, _now: SystemTime) -> Result<(), NotSent> {
            use std::sync::atomic::Ordering::SeqCst;
            let free = self.slots.load(SeqCst);
            if free == 0 {
                return Err(NotSent::Busy);
            }
            self.slots.store(free - 1, SeqCst);
            Ok(())
        }

        fn send(&self, _slot: &Self::Slot<'_>, out: Outgoing<'_>) -> impl Sending<&'static str> {
            assert_eq!(out.timeout, DEFAULT_TIMEOUT);
            assert_eq!((out.clock)(), at(), "the configuration's clock");
            self.sent.lock().unwrap().push(out.request.uri().path().to_owned());
            let answer = self.answers.lock().unwrap().pop();
            std::future::ready(answer.ok_or("unreachable").map(|(status, body)| {
                let r = http::Response::builder().status(status);
                r.header("content-type", "application/json").body(body.into()).unwrap()
            }))
        }
    }

    const T0: u64 = 1_700_000_000;

    fn at() -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(T0)
    }

    fn config() -> EmbeddedConfig {
        use crate::embedded::{WebsocketKey, WebsocketTokenSigner};
        let client = crate::Client::new(
            crate::ClientId::new("1100000000000000001".into()),
            Some(crate::ClientSecret::new("s".into())),
            crate::RedirectUrl::new("http://127.0.0.1/unused".into()).unwrap(),
        );
        let key = || WebsocketKey::new("k1", vec![7; 32]).unwrap();
        let signer = WebsocketTokenSigner::new(key(), "activity").unwrap();
        let verifier = WebsocketTokenVerifier::new([key()], "activity").unwrap();
        EmbeddedConfig::new(client, signer, verifier).with_clock(Arc::new(at))
    }

    fn never() -> SystemTime {
        unreachable!("a clock was set: the wall clock is never read")
    }

    /// Serves `chunks` as the body of a JSON request to `endpoint`.
    fn serve(io: &Scripted, endpoint: Endpoint, chunks: Vec<Result<&'static str, ()>>) -> Response<String> {
        let head = head(&[("content-type", "application/json")]);
        let mut chunks = chunks.into_iter();
        let poll_body = |_: &mut Context<'_>| Poll::Ready(chunks.next());
        block_on(config().serve(endpoint, head, poll_body, io, never))
    }

    const TOKENS: &str =
        r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r","scope":"identify"}"#;
    const USER: &str = r#"{"id":"42","username":"x","discriminator":"0"}"#;

    #[test]
    fn a_body_in_chunks_is_served_in_one_slot() {
        let io = Scripted::new(1, &[(200, TOKENS), (200, USER)]);
        let answer = serve(&io, Endpoint::Token, vec![Ok(r#"{"co"#), Ok(r#"de":"c"}"#)]);
        assert_eq!(answer.status(), 200, "{}", answer.body());
        assert_eq!(
            *io.sent.lock().unwrap(),
            ["/api/v10/oauth2/token", "/api/v10/users/@me"]
        );
        let v: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
        assert_eq!(v["expires_in"], 60);
        let claims = config()
            .verifier()
            .verify(v["websocket_token"].as_str().unwrap(), at())
            .unwrap();
        assert_eq!(claims.iat, T0);
    }

    #[test]
    fn refusals_take_no_slot_and_send_nothing() {
        let io = Scripted::new(0, &[]);
        // a body that breaks off, one over the limit (the rest is never read), a bad body, and
        // a refresh without proof: each answered before admission
        let broken = serve(&io, Endpoint::Token, vec![Ok("{"), Err(())]);
        assert_eq!(broken.status(), 400);
        assert!(broken.body().contains("could not be read"));
        let big: &'static str = Box::leak("x".repeat(MAX_BODY_BYTES).into_boxed_str());
        let mut chunks = vec![Ok(big), Ok("xx")];
        chunks.extend(std::iter::repeat_with(|| Err(())).take(3));
        assert_eq!(serve(&io, Endpoint::Token, chunks).status(), 413);
        assert_eq!(serve(&io, Endpoint::Token, vec![Ok("{}")]).status(), 400);
        let no_proof = serve(&io, Endpoint::Refresh, vec![Ok(r#"{"refresh_token":"r"}"#)]);
        assert_eq!(no_proof.status(), 401);
        // a valid request finds no free slot: 503 busy, nothing sent
        let busy = serve(&io, Endpoint::Token, vec![Ok(r#"{"code":"c"}"#)]);
        assert_eq!(
            (busy.status().as_u16(), busy.headers()["retry-after"].to_str().unwrap()),
            (503, "1")
        );
        assert!(busy.body().contains("\"busy\""));
        assert!(io.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn the_checks_use_their_clock_else_the_wall_clock() {
        let config = config();
        let token = config
            .signer()
            .sign(crate::Snowflake::from(42), &crate::Scopes::parse("identify"), at());
        let query = format!("token={token}");
        let auth = config.websocket_auth();
        assert!(auth.verify_request(None, Some(&query), never).is_ok());
        let late = || at() + Duration::from_secs(3600);
        let wall = WebsocketAuth::new(config.verifier().clone());
        let refused = wall.verify_request(None, Some(&query), late).unwrap_err();
        assert_eq!(
            refused,
            WebsocketRejection::Invalid(crate::embedded::WebsocketTokenError::Expired)
        );
        assert_eq!(Rejection::answer(&refused).status(), 401);
        assert_eq!(
            wall.verify_request(None, Some(""), late),
            Err(WebsocketRejection::Missing)
        );
        assert!(format!("{auth:?}").contains("replaced") && format!("{wall:?}").contains("wall"));

        let seed = [9; 32];
        let proxy = ProxyAuth::new(crate::embedded::ProxyVerifier::new(
            crate::embedded::ProxyPublicKey::from_seed(&seed),
        ));
        let payload = ProxyPayload {
            created_at: T0,
            expires_at: T0 + 60,
            fields: serde_json::Map::new(),
        };
        let mut signed = http::Request::get("/api/x");
        for (name, value) in crate::embedded::sign_proxy_payload(&seed, &payload) {
            signed = signed.header(name, value);
        }
        let signed = signed.body(()).unwrap().into_parts().0;
        let check = ProxyCheck::new(proxy);
        assert_eq!(block_on(check.check(&signed, at)), Ok(payload.clone()));
        let expired = block_on(check.check(&signed, late)).unwrap_err();
        assert_eq!(Rejection::answer(&expired).status(), 401);
        let clocked = check.with_clock(Arc::new(at));
        assert_eq!(block_on(clocked.check(&signed, never)), Ok(payload));
        assert!(clocked.auth().verifier().verify_headers(&signed.headers, at()).is_ok());
    }

    /// A minimal executor for futures that never wait.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
