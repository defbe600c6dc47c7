//! The endpoints of an Activity backend, sans-IO: request in, flow out, answer out.
//!
//! [`EmbeddedConfig::token_flow`] and [`EmbeddedConfig::refresh_flow`] either refuse a request
//! at once (an answer) or give a [`Flow`]; the driver of `serve.rs`
//! ([`EmbeddedConfig::serve`]) reads the request, runs that flow in one request slot of the
//! integration and gives the `http::Response<String>` it ends with. The flows never wait and
//! never retry: a Discord 429 becomes the client's 429 with Discord's `retry_after`.
//!
//! Every request of these flows goes through the same bound on concurrent requests and
//! global-429 breaker as the login layer ([`login::outbound`](crate::login::outbound)): one
//! request slot is taken before a flow starts and held until it ends (so a code is never
//! exchanged and then left without its `/users/@me`), and a request that finds no free slot,
//! or the breaker closed, is answered `503` with `Retry-After` ([`answer::not_sent`]) without
//! anything reaching Discord. A flow whose request the breaker holds back mid-way answers the
//! same.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::{Response, StatusCode};
use serde::Deserialize;

use super::answer;
use super::serve::{Clock, DEFAULT_TIMEOUT};
use super::{
    AuthorizeSuccess, PAYLOAD_HEADER, ProxyAuth, ProxyPayload, ProxyRejection, RateLimitedBody, RefreshProofError,
    RefreshSuccess, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebsocketClaims, WebsocketTokenError, WebsocketTokenSigner,
    WebsocketTokenVerifier, refresh_only,
};
use crate::api::{self, User};
use crate::login::flow::{Flow, Step};
use crate::login::outbound::{DEFAULT_MAX_CONCURRENT_REQUESTS, NotSent};
use crate::response::ApiCall;
use crate::{
    AuthorizationCode, AuthorizationGrant, Client, CodeExchange, Endpoints, OAuthErrorCode, RefreshExchange,
    RefreshToken, Scope, Scopes, Snowflake, TokenError, TokenSet,
};

/// The largest JSON body the endpoints read; larger ones get `413`.
pub const MAX_BODY_BYTES: usize = 4096;
/// How long after it was issued a websocket token still proves a refresh by default (30
/// days); see [`EmbeddedConfig::with_refresh_proof_max_age`].
pub const DEFAULT_REFRESH_PROOF_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest `code` or `refresh_token` accepted.
const MAX_SECRET_LEN: usize = 512;
/// The most scopes a token request may name.
const MAX_SCOPES: usize = 32;

/// The configuration of an Activity backend's endpoints: the OAuth2 client, the websocket
/// token signer and verifier, and how codes are exchanged. Cheap to clone.
///
/// ```
/// use discord_oauth_core::embedded::{EmbeddedConfig, WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, RedirectUrl};
///
/// let client = Client::new(
///     ClientId::new("1100000000000000001".into()),
///     Some(ClientSecret::new("secret".into())),
///     RedirectUrl::new("https://example.com/unused".into()).unwrap(),
/// );
/// // The current key signs; the verifier also accepts the previous one during a rotation.
/// let current = WebsocketKey::new("2025-06", vec![1; 32]).unwrap();
/// let previous = WebsocketKey::new("2025-05", vec![2; 32]).unwrap();
/// let signer = WebsocketTokenSigner::new(current.clone(), "my-activity").unwrap();
/// let verifier = WebsocketTokenVerifier::new([current, previous], "my-activity").unwrap();
/// let config = EmbeddedConfig::new(client, signer, verifier);
/// assert!(config.redirect_uri().is_none()); // SDK codes are exchanged without one
/// ```
#[derive(Clone)]
pub struct EmbeddedConfig {
    client: Client,
    signer: WebsocketTokenSigner,
    verifier: WebsocketTokenVerifier,
    redirect_uri: Option<String>,
    default_scopes: Scopes,
    refresh_proxy: Option<ProxyAuth>,
    refresh_proof_max_age: Duration,
    timeout: Duration,
    max_concurrent_requests: usize,
    pub(super) clock: Option<Clock>,
}

impl fmt::Debug for EmbeddedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedConfig")
            .field("client_id", &self.client.client_id().as_str())
            .field("redirect_uri", &self.redirect_uri)
            .field("default_scopes", &self.default_scopes)
            .field("refresh_proxy", &self.refresh_proxy.is_some())
            .field("refresh_proof_max_age", &self.refresh_proof_max_age)
            .field("timeout", &self.timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("clock_replaced", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

impl EmbeddedConfig {
    /// Exchanges codes without a `redirect_uri` (the codes the Embedded App SDK's `authorize`
    /// gives), with `identify` as the scope when the request names none.
    pub fn new(client: Client, signer: WebsocketTokenSigner, verifier: WebsocketTokenVerifier) -> Self {
        Self {
            client,
            signer,
            verifier,
            redirect_uri: None,
            default_scopes: Scopes::new().with(Scope::Identify),
            refresh_proxy: None,
            refresh_proof_max_age: DEFAULT_REFRESH_PROOF_MAX_AGE,
            timeout: DEFAULT_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            clock: None,
        }
    }

    /// At most this many requests served at a time may talk to Discord (default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`], at least 1): a token or refresh request arriving
    /// while every slot is taken is answered `503` with `Retry-After: 1` and nothing is sent.
    /// The integration's backend keeps one bound for all its clones (and workers).
    #[must_use]
    pub fn with_max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max.max(1);
        self
    }

    /// The bound on requests to Discord served at a time.
    pub fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    /// The time limit for one request to Discord (default [`DEFAULT_TIMEOUT`], 10 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time limit for one request to Discord.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Replaces the integration's wall clock (token lifetimes, websocket token times, the
    /// breaker): for tests and clock-skew drills.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Also accepts Discord's proxy signature (checked with `auth`, its instance check
    /// included) as proof for a refresh, besides a bound websocket token. Set it when the
    /// Activity's requests come through Discord's proxy with proxy authentication on.
    #[must_use]
    pub fn with_refresh_proxy_auth(mut self, auth: ProxyAuth) -> Self {
        self.refresh_proxy = Some(auth);
        self
    }

    /// How long after it was issued a websocket token still proves a refresh (default
    /// [`DEFAULT_REFRESH_PROOF_MAX_AGE`]). A page that comes back later authorizes again.
    #[must_use]
    pub fn with_refresh_proof_max_age(mut self, max_age: Duration) -> Self {
        self.refresh_proof_max_age = max_age;
        self
    }

    /// Sends this `redirect_uri` with every exchange: for codes that came from a classic
    /// authorize redirect to it (Discord requires the same value back). SDK codes have none.
    #[must_use]
    pub fn with_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The scopes assumed when a token request names none (default `identify`).
    #[must_use]
    pub fn with_default_scopes(mut self, scopes: Scopes) -> Self {
        self.default_scopes = scopes;
        self
    }

    /// The OAuth2 client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The `redirect_uri` sent with exchanges, if any.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The websocket token signer.
    pub fn signer(&self) -> &WebsocketTokenSigner {
        &self.signer
    }

    /// The websocket token verifier.
    pub fn verifier(&self) -> &WebsocketTokenVerifier {
        &self.verifier
    }

    /// Refuses a request before its body is read: a `Content-Type` other than
    /// `application/json` is `415`, a `Content-Length` over [`MAX_BODY_BYTES`] is `413`.
    pub fn check_head(content_type: Option<&[u8]>, content_length: Option<u64>) -> Result<(), Response<String>> {
        if !is_json(content_type) {
            return Err(answer::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send JSON (Content-Type: application/json).",
            ));
        }
        if content_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(answer::payload_too_large());
        }
        Ok(())
    }

    /// The token endpoint (`POST {backend_url}` of the SDK's `authorize`): reads
    /// `{"code": "…", "scopes"?: ["identify", …] or "identify,email"}` and gives the flow that
    /// exchanges the code and fetches the user, or the `4xx` answer for a bad request.
    pub fn token_flow(&self, content_type: Option<&[u8]>, body: &[u8]) -> Result<TokenFlow, Response<String>> {
        let body: TokenBody = read_json(content_type, body)?;
        if !valid_secret(&body.code) {
            return Err(bad_request("The code is missing or malformed."));
        }
        let scopes = match body.scopes {
            None => self.default_scopes.clone(),
            Some(list) => {
                let names = list.names();
                if names.len() > MAX_SCOPES || names.iter().any(|s| s.is_empty() || s.len() > 64) {
                    return Err(bad_request("Too many scopes, or a malformed scope."));
                }
                names.iter().map(|s| Scope::parse(s)).collect()
            }
        };
        let grant = AuthorizationGrant::from_code(AuthorizationCode::new(body.code), self.redirect_uri.clone(), scopes);
        Ok(TokenFlow {
            endpoints: self.client.endpoints().clone(),
            signer: self.signer.clone(),
            stage: TokenStage::Exchange(self.client.exchange_code(grant)),
            answer: None,
        })
    }

    /// The refresh endpoint: reads `{"refresh_token": "…"}` from the body of `request`,
    /// checks the proof that the caller holds that session (see
    /// [`refresh_proof`](Self::refresh_proof)) at
    /// `now`, and gives the flow that refreshes with Discord, or the answer for a bad request
    /// (`4xx` JSON, [`RefreshRejection::answer`] without a proof). Nothing is sent before the
    /// proof passed.
    pub async fn refresh_flow(
        &self,
        request: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<RefreshFlow, Response<String>> {
        let content_type = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(http::HeaderValue::as_bytes);
        let body: RefreshBody = read_json(content_type, body)?;
        if !valid_secret(&body.refresh_token) {
            return Err(bad_request("The refresh token is missing or malformed."));
        }
        let proof = self
            .refresh_proof(request, &body.refresh_token, now)
            .await
            .map_err(|r| r.answer())?;
        let exchange = self
            .client
            .refresh(refresh_only(RefreshToken::new(body.refresh_token)))
            .map_err(|e| token_error(&e))?;
        let reissue = match &proof {
            RefreshProof::WebsocketToken(claims) => Some((self.signer.clone(), claims.sub)),
            RefreshProof::DiscordProxy(_) => None,
        };
        Ok(RefreshFlow {
            exchange,
            reissue,
            answer: None,
        })
    }

    /// The proof that the caller of the refresh endpoint holds the session of
    /// `refresh_token`: a bound websocket token in `Authorization: Bearer`, else (when
    /// configured) Discord's proxy signature.
    ///
    /// A refresh token alone is not enough: the refresh endpoint spends this application's client
    /// secret, and without a proof every anonymous POST would become a token request to Discord
    /// (each failed one counts towards Discord's invalid-request limit). [`EmbeddedConfig::refresh_flow`]
    /// therefore asks for one of:
    /// - `Authorization: Bearer <websocket_token>`: a websocket token this backend signed
    ///   **together with that refresh token**. Every token the endpoints issue carries the
    ///   `rt_hash` claim (a hash of the refresh token of the same answer, see
    ///   [`WebsocketTokenSigner::sign_for_session`]); the refresh is allowed only when it matches
    ///   the refresh token presented. The refresh token was issued to the token's `sub` (the
    ///   token endpoint fetched that user), so the refreshed tokens are that user's without asking
    ///   Discord: a token of another user, or of an older session, is refused (`403`) before
    ///   anything is sent. The token's `exp` is not checked here (see
    ///   [`WebsocketTokenVerifier::verify_refresh_proof`]); its age is, against
    ///   [`DEFAULT_REFRESH_PROOF_MAX_AGE`]. The answer carries a new websocket token bound to the
    ///   new refresh token.
    /// - Discord's proxy signature, if [`EmbeddedConfig::with_refresh_proxy_auth`] is set: the
    ///   caller is then a Discord user inside the Activity (checked with [`ProxyAuth`], its
    ///   instance check included).
    ///
    /// Without either: `401` JSON (`missing_proof`) that says what to send, and no request to
    /// Discord.
    pub async fn refresh_proof(
        &self,
        request: &http::request::Parts,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<RefreshProof, RefreshRejection> {
        let mut refused = None;
        if let Some(token) = bearer(request.headers.get(http::header::AUTHORIZATION)) {
            match self
                .verifier
                .verify_refresh_proof(token, refresh_token, self.refresh_proof_max_age, now)
            {
                Ok(claims) => return Ok(RefreshProof::WebsocketToken(claims)),
                Err(RefreshProofError::OtherSession) => refused = Some(RefreshRejection::OtherSession),
                Err(RefreshProofError::Token(e)) => refused = Some(RefreshRejection::InvalidToken(e)),
            }
        }
        if let Some(auth) = &self.refresh_proxy {
            let signed = [SIGNATURE_HEADER, TIMESTAMP_HEADER, PAYLOAD_HEADER]
                .iter()
                .any(|h| request.headers.contains_key(*h));
            if signed {
                match auth.check(request, now).await {
                    Ok(payload) => return Ok(RefreshProof::DiscordProxy(payload)),
                    Err(e) => {
                        refused.get_or_insert(RefreshRejection::Proxy(e));
                    }
                }
            }
        }
        Err(refused.unwrap_or(RefreshRejection::Missing {
            proxy: self.refresh_proxy.is_some(),
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(value: Option<&http::HeaderValue>) -> Option<&str> {
    let (scheme, token) = value?.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What proved that the caller of the refresh endpoint holds the session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RefreshProof {
    /// A websocket token bound to the refresh token presented; its claims.
    WebsocketToken(WebsocketClaims),
    /// Discord's proxy signature; the signed payload.
    DiscordProxy(ProxyPayload),
}

/// Why a refresh was refused before anything was sent to Discord.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshRejection {
    /// No proof at all: `401` JSON `missing_proof` with `WWW-Authenticate: Bearer`. `proxy`:
    /// whether a proxy signature would also have done (the message says so).
    Missing {
        /// A proxy signature is accepted too.
        proxy: bool,
    },
    /// The websocket token is refused (bad signature, unknown key, another audience, too
    /// old, …): `401` JSON `invalid_token`.
    InvalidToken(WebsocketTokenError),
    /// A genuine websocket token of another session (another user's, or one whose refresh
    /// token was already rotated away): `403` JSON `session_mismatch`.
    OtherSession,
    /// The proxy signature or the instance check refused: its own answer
    /// ([`ProxyRejection::answer`]).
    Proxy(ProxyRejection),
}

impl fmt::Display for RefreshRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { proxy: false } => f.write_str(
                "refreshing needs proof that you hold the session: send the websocket_token that came with this \
                 refresh token (from the token endpoint or the last refresh) as Authorization: Bearer <websocket_token>",
            ),
            Self::Missing { proxy: true } => f.write_str(
                "refreshing needs proof that you hold the session: send the websocket_token that came with this \
                 refresh token (from the token endpoint or the last refresh) as Authorization: Bearer <websocket_token>, \
                 or call through Discord's Activity proxy (signed requests)",
            ),
            Self::InvalidToken(e) => write!(f, "{e}; send the websocket_token that came with this refresh token"),
            Self::OtherSession => f.write_str(
                "the websocket token belongs to another session: send the websocket_token that came with this refresh token",
            ),
            Self::Proxy(e) => e.fmt(f),
        }
    }
}

impl RefreshRejection {
    /// The answer, the same for every framework.
    pub fn answer(&self) -> Response<String> {
        match self {
            Self::Missing { .. } => answer::unauthorized("missing_proof", &self.to_string()),
            Self::InvalidToken(_) => answer::unauthorized("invalid_token", &self.to_string()),
            Self::OtherSession => answer::error(StatusCode::FORBIDDEN, "session_mismatch", &self.to_string()),
            Self::Proxy(e) => e.answer(),
        }
    }
}

/// `true` for `application/json` (any parameters, any case).
pub fn is_json(content_type: Option<&[u8]>) -> bool {
    content_type
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn bad_request(message: &str) -> Response<String> {
    answer::error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

fn read_json<B: for<'de> Deserialize<'de>>(content_type: Option<&[u8]>, body: &[u8]) -> Result<B, Response<String>> {
    EmbeddedConfig::check_head(content_type, None)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(answer::payload_too_large());
    }
    serde_json::from_slice(body).map_err(|_| bad_request("The body is not the expected JSON."))
}

fn valid_secret(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SECRET_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    code: String,
    #[serde(default)]
    scopes: Option<ScopeList>,
}

/// `["identify", "email"]`, or the SDK's comma-separated `"identify,email"` (spaces work too).
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeList {
    List(Vec<String>),
    Text(String),
}

impl ScopeList {
    fn names(self) -> Vec<String> {
        match self {
            ScopeList::List(v) => v,
            ScopeList::Text(s) => s
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

fn unreachable_answer() -> Response<String> {
    answer::error(
        StatusCode::BAD_GATEWAY,
        "discord_unavailable",
        "Discord could not be reached; try again shortly.",
    )
}

fn token_error(e: &TokenError) -> Response<String> {
    match e {
        TokenError::RateLimited(rl) => answer::rate_limited(&RateLimitedBody::from_rate_limit(rl)),
        e if e.is_invalid_grant() => answer::error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The code or refresh token is invalid, expired or already used; authorize again.",
        ),
        TokenError::Rejected(o) if matches!(o.error, OAuthErrorCode::InvalidRequest | OAuthErrorCode::InvalidScope) => {
            answer::error(StatusCode::BAD_REQUEST, "rejected", "Discord refused the request.")
        }
        _ => answer::error(
            StatusCode::BAD_GATEWAY,
            "discord_error",
            "Discord answered unexpectedly; try again later.",
        ),
    }
}

fn is_429(response: &http::Response<Vec<u8>>) -> bool {
    response.status() == StatusCode::TOO_MANY_REQUESTS
}

// One per request, replaced twice: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum TokenStage {
    Exchange(CodeExchange),
    User { tokens: TokenSet, call: ApiCall<User> },
    Finished,
}

/// The token endpoint's network sequence: exchange the code, fetch `/users/@me`, answer
/// [`AuthorizeSuccess`] with a fresh `websocket_token` (signed at the time the user arrived).
///
/// Driven by hand here, with Discord's answers canned (an integration hands it to
/// [`drive`](crate::login::flow::drive) with its HTTP client instead):
///
/// ```
/// use std::time::SystemTime;
/// use discord_oauth_core::embedded::{EmbeddedConfig, WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier};
/// use discord_oauth_core::login::flow::{Flow, Step};
/// use discord_oauth_core::{Client, ClientId, ClientSecret};
///
/// let client = Client::without_redirect(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
/// );
/// let key = WebsocketKey::new("k1", [1u8; 32])?;
/// let config = EmbeddedConfig::new(
///     client,
///     WebsocketTokenSigner::new(key.clone(), "my-activity")?,
///     WebsocketTokenVerifier::new([key], "my-activity")?,
/// );
///
/// // POST {backend_url} from the Activity, with the code of the SDK's `authorize`.
/// let body = br#"{"code":"NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee","scopes":["identify"]}"#;
/// let Ok(mut flow) = config.token_flow(Some(b"application/json"), body) else {
///     return Err("a bad request is answered with the 4xx the Err holds".into());
/// };
///
/// let answers = [
///     br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,"refresh_token":"rt","scope":"identify"}"#.to_vec(),
///     br#"{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}"#.to_vec(),
/// ];
/// let mut answers = answers.into_iter();
/// while let Step::Send(request) = flow.poll() {
///     let body = answers.next().ok_or("one request too many")?;
///     assert!(request.uri().path().ends_with("/oauth2/token") || request.uri().path().ends_with("/users/@me"));
///     flow.handle_response(http::Response::builder().status(200).body(body)?, SystemTime::now());
/// }
/// let answer = flow.finish(); // the Activity's answer
/// assert_eq!(answer.status(), 200);
/// let json: serde_json::Value = serde_json::from_str(answer.body())?;
/// assert_eq!(json["user_data"]["username"], "nelly");
/// assert!(json["websocket_token"].is_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "drive the flow"]
pub struct TokenFlow {
    endpoints: Endpoints,
    signer: WebsocketTokenSigner,
    stage: TokenStage,
    answer: Option<Response<String>>,
}

impl fmt::Debug for TokenFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            TokenStage::Exchange(_) => "exchange",
            TokenStage::User { .. } => "user",
            TokenStage::Finished => "finished",
        };
        f.debug_struct("TokenFlow")
            .field("stage", &stage)
            .field("answered", &self.answer.is_some())
            .finish_non_exhaustive()
    }
}

impl Flow for TokenFlow {
    /// The answer to send the client.
    type Output = Response<String>;

    fn poll(&mut self) -> Step {
        if self.answer.is_some() {
            return Step::Done;
        }
        match &self.stage {
            TokenStage::Exchange(exchange) => Step::Send(exchange.request()),
            TokenStage::User { call, .. } => Step::Send(call.request()),
            TokenStage::Finished => Step::Done,
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) {
        if let Some(reason) = NotSent::from_held(&response) {
            self.stage = TokenStage::Finished;
            self.answer = Some(answer::not_sent(&reason));
            return;
        }
        if is_429(&response) {
            self.stage = TokenStage::Finished;
            self.answer = Some(answer::rate_limited(&RateLimitedBody::from_response(&response)));
            return;
        }
        match std::mem::replace(&mut self.stage, TokenStage::Finished) {
            TokenStage::Exchange(exchange) => match exchange.finish(response, now) {
                Ok(tokens) => {
                    let call = api::current_user(&self.endpoints, &tokens.access_token);
                    self.stage = TokenStage::User { tokens, call };
                }
                Err(e) => self.answer = Some(token_error(&e)),
            },
            TokenStage::User { tokens, call } => {
                self.answer = Some(match call.parse(response) {
                    Ok(user) => {
                        let refresh_token = tokens.refresh_token.as_ref().map(|t| t.secret().as_str());
                        let ws = self
                            .signer
                            .sign_for_session(user.id, &tokens.scopes, refresh_token, now);
                        answer::json(StatusCode::OK, &AuthorizeSuccess::new(&tokens, &user, ws, now))
                    }
                    Err(_) => answer::error(
                        StatusCode::BAD_GATEWAY,
                        "discord_error",
                        "Discord did not return the user; try again later.",
                    ),
                });
            }
            TokenStage::Finished => {}
        }
    }

    fn handle_unreachable(&mut self, _error: String) {
        self.stage = TokenStage::Finished;
        self.answer = Some(unreachable_answer());
    }

    fn finish(self) -> Self::Output {
        self.answer.unwrap_or_else(unreachable_answer)
    }
}

/// The refresh endpoint's network sequence: one refresh request, answered as
/// [`RefreshSuccess`] (with a new websocket token bound to the new refresh token when a
/// websocket token proved the refresh).
#[must_use = "drive the flow"]
pub struct RefreshFlow {
    exchange: RefreshExchange,
    reissue: Option<(WebsocketTokenSigner, Snowflake)>,
    answer: Option<Response<String>>,
}

impl fmt::Debug for RefreshFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshFlow")
            .field("answered", &self.answer.is_some())
            .finish_non_exhaustive()
    }
}

impl Flow for RefreshFlow {
    /// The answer to send the client.
    type Output = Response<String>;

    fn poll(&mut self) -> Step {
        if self.answer.is_some() {
            Step::Done
        } else {
            Step::Send(self.exchange.request())
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) {
        self.answer = Some(if let Some(reason) = NotSent::from_held(&response) {
            answer::not_sent(&reason)
        } else if is_429(&response) {
            answer::rate_limited(&RateLimitedBody::from_response(&response))
        } else {
            match self.exchange.finish(response, now) {
                Ok(tokens) => {
                    let mut success = RefreshSuccess::new(&tokens, now);
                    if let Some((signer, user)) = &self.reissue {
                        let refresh_token = tokens.refresh_token.as_ref().map(|t| t.secret().as_str());
                        success.websocket_token =
                            Some(signer.sign_for_session(*user, &tokens.scopes, refresh_token, now));
                    }
                    answer::json(StatusCode::OK, &success)
                }
                Err(e) => token_error(&e),
            }
        });
    }

    fn handle_unreachable(&mut self, _error: String) {
        self.answer = Some(unreachable_answer());
    }

    fn finish(self) -> Self::Output {
        self.answer.unwrap_or_else(unreachable_answer)
    }
}

// ---------------------------------------------------------------------------------------------
// websocket_token on a request
// ---------------------------------------------------------------------------------------------

/// Why a request carried no valid websocket token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebsocketRejection {
    /// Neither `Authorization: Bearer …` nor a `token` query parameter.
    Missing,
    /// A token was sent but refused.
    Invalid(WebsocketTokenError),
}

impl fmt::Display for WebsocketRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str(
                "a websocket token is required (Authorization: Bearer <token>, or ?token=<token> on a WebSocket upgrade)",
            ),
            Self::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WebsocketRejection {}

impl WebsocketRejection {
    /// `401` JSON (`missing_token` or `invalid_token`) with `WWW-Authenticate: Bearer`, the
    /// same for every framework. A WebSocket upgrade refused this way never upgrades.
    pub fn answer(&self) -> Response<String> {
        match self {
            Self::Missing => answer::unauthorized("missing_token", &self.to_string()),
            Self::Invalid(_) => answer::unauthorized("invalid_token", &self.to_string()),
        }
    }
}

impl WebsocketTokenVerifier {
    /// Finds and verifies the token of a request: `Authorization: Bearer <token>` first, else
    /// the first `token` query parameter (browsers cannot set headers on a WebSocket
    /// upgrade). Query strings end up in access logs: that is why websocket tokens are
    /// short-lived.
    pub fn verify_request(
        &self,
        authorization: Option<&[u8]>,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<WebsocketClaims, WebsocketRejection> {
        let bearer = authorization.and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
        });
        let token = bearer.or_else(|| {
            query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned())
            })
        });
        let token = token.filter(|t| !t.is_empty()).ok_or(WebsocketRejection::Missing)?;
        self.verify(&token, now).map_err(WebsocketRejection::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::embedded::WebsocketKey;
    use crate::login::flow::FlowIo;
    use crate::{ClientId, ClientSecret, RedirectUrl};

    const T: u64 = 1_700_000_000;

    fn config() -> EmbeddedConfig {
        let client = Client::new(
            ClientId::new("1100000000000000001".into()),
            Some(ClientSecret::new("s".into())),
            RedirectUrl::new("http://127.0.0.1:3000/auth/callback".into()).unwrap(),
        );
        let key = || WebsocketKey::new("k1", vec![7; 32]).unwrap();
        EmbeddedConfig::new(
            client,
            WebsocketTokenSigner::new(key(), "activity").unwrap(),
            WebsocketTokenVerifier::new([key()], "activity").unwrap(),
        )
    }

    const JSON: Option<&[u8]> = Some(b"application/json; charset=utf-8");

    fn status(r: Result<impl fmt::Debug, Response<String>>) -> u16 {
        r.err().map_or(200, |a| a.status().as_u16())
    }

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T)
    }

    /// Runs a future that does not wait (no instance check does IO here).
    fn ready<F: std::future::Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) else {
            panic!("the future waited")
        };
        out
    }

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::post("/api/refresh").header("content-type", "application/json; charset=utf-8");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// A websocket token of user 42 bound to the refresh token `rt`, issued at `T`.
    fn bound(rt: &str) -> String {
        config()
            .signer()
            .sign_for_session(crate::Snowflake::from(42), &Scopes::parse("identify"), Some(rt), at())
    }

    fn refresh(c: &EmbeddedConfig, headers: &[(&str, &str)], body: &[u8]) -> Result<RefreshFlow, Response<String>> {
        ready(c.refresh_flow(&parts(headers), body, at()))
    }

    #[test]
    fn bad_requests_are_refused_before_any_io() {
        let c = config();
        assert_eq!(status(c.token_flow(Some(b"text/plain"), br#"{"code":"x"}"#)), 415);
        assert_eq!(status(c.token_flow(None, br#"{"code":"x"}"#)), 415);
        assert_eq!(status(c.token_flow(JSON, b"{}")), 400);
        assert_eq!(status(c.token_flow(JSON, br#"{"code":"x","extra":1}"#)), 400);
        assert_eq!(status(c.token_flow(JSON, br#"{"code":""}"#)), 400);
        assert_eq!(status(c.token_flow(JSON, br#"{"code":"a b"}"#)), 400);
        assert_eq!(status(c.token_flow(JSON, b"nope")), 400);
        assert_eq!(status(c.token_flow(JSON, &[b'x'; MAX_BODY_BYTES + 1])), 413);
        assert_eq!(status(EmbeddedConfig::check_head(JSON, Some(5000))), 413);
        assert_eq!(
            status(c.token_flow(JSON, br#"{"code":"x","scopes":"identify,email"}"#)),
            200
        );
        assert_eq!(
            status(c.token_flow(JSON, br#"{"code":"x","scopes":["identify"]}"#)),
            200
        );
        let auth = format!("Bearer {}", bound("r"));
        let proof = [("authorization", auth.as_str())];
        assert_eq!(status(refresh(&c, &proof, br#"{"refresh_token":"r"}"#)), 200);
        assert_eq!(status(refresh(&c, &proof, br#"{"code":"r"}"#)), 400);
        let a = c.token_flow(JSON, b"{}").unwrap_err();
        assert_eq!(a.headers()["content-type"], "application/json");
        assert_eq!(a.headers()["cache-control"], "no-store");
    }

    /// Answers every request from a script, at a fixed time.
    struct Script(
        std::sync::Mutex<Vec<http::Response<Vec<u8>>>>,
        std::sync::Mutex<Vec<http::Request<Vec<u8>>>>,
    );

    impl FlowIo for Script {
        type Error = String;
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> impl std::future::Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
            self.1.lock().unwrap().push(request);
            let next = self.0.lock().unwrap().pop();
            std::future::ready(next.ok_or_else(|| "no more answers".to_owned()))
        }
        fn wait(&self, _: Duration) -> impl std::future::Future<Output = ()> + Send {
            std::future::ready(())
        }
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(T)
        }
    }

    fn run<F: Flow>(flow: F, answers: Vec<(u16, &str)>) -> (F::Output, Vec<http::Request<Vec<u8>>>) {
        let answers = answers
            .into_iter()
            .rev()
            .map(|(s, b)| {
                http::Response::builder()
                    .status(s)
                    .header("content-type", "application/json")
                    .body(b.as_bytes().to_vec())
                    .unwrap()
            })
            .collect();
        let io = Script(std::sync::Mutex::new(answers), std::sync::Mutex::default());
        run_with(flow, &io)
    }

    fn run_with<F: Flow>(flow: F, io: &Script) -> (F::Output, Vec<http::Request<Vec<u8>>>) {
        let out = ready(crate::login::flow::drive(flow, io));
        let sent = std::mem::take(&mut *io.1.lock().unwrap());
        (out, sent)
    }

    const TOKENS: &str =
        r#"{"access_token":"acc","token_type":"Bearer","expires_in":604800,"refresh_token":"ref","scope":"identify"}"#;
    const USER: &str = r#"{"id":"42","username":"x","discriminator":"0","avatar":null}"#;

    #[test]
    fn token_flow_exchanges_without_redirect_uri_and_answers_the_sdk_shape() {
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (answer, sent) = run(flow, vec![(200, TOKENS), (200, USER)]);
        assert_eq!(answer.status(), 200);
        let form = String::from_utf8(sent[0].body().clone()).unwrap();
        assert!(form.contains("code=abc") && !form.contains("redirect_uri"), "{form}");
        assert_eq!(sent[1].uri().path(), "/api/v10/users/@me");
        let v: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
        assert_eq!(v["expires_in"], 604_800);
        assert_eq!(v["user_data"]["id"], "42");
        let claims = config()
            .verifier()
            .verify(
                v["websocket_token"].as_str().unwrap(),
                UNIX_EPOCH + Duration::from_secs(T),
            )
            .unwrap();
        assert_eq!(claims.iat, T);
        assert_eq!(
            claims.rt_hash,
            Some(crate::embedded::refresh_token_hash("ref")),
            "bound to the session"
        );
        // with a redirect_uri configured, it is sent
        let flow = config()
            .with_redirect_uri("http://x/cb")
            .token_flow(JSON, br#"{"code":"abc"}"#)
            .unwrap();
        let (_, sent) = run(flow, vec![(200, TOKENS), (200, USER)]);
        assert!(String::from_utf8_lossy(sent[0].body()).contains("redirect_uri=http"));
    }

    #[test]
    fn discord_429_is_passed_on_without_a_retry() {
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (answer, sent) = run(flow, vec![(429, r#"{"message":"x","retry_after":0.5,"global":false}"#)]);
        assert_eq!(sent.len(), 1, "no retry");
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["retry-after"], "1");
        let v: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
        assert_eq!(v["retry_after"], 0.5);
        // on the user call too
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (answer, sent) = run(flow, vec![(200, TOKENS), (429, r#"{"retry_after":2.25}"#)]);
        assert_eq!((sent.len(), answer.status().as_u16()), (2, 429));
        // and on refresh; no wait named: null, no Retry-After
        let auth = format!("Bearer {}", bound("r"));
        let flow = refresh(&config(), &[("authorization", &auth)], br#"{"refresh_token":"r"}"#).unwrap();
        let (answer, _) = run(
            flow,
            vec![(429, r#"{"code":40333,"message":"internal network error"}"#)],
        );
        assert_eq!(answer.status(), 429);
        assert!(!answer.headers().contains_key("retry-after"));
        let v: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
        assert!(v["retry_after"].is_null());
    }

    #[test]
    fn errors_map_to_json() {
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (a, _) = run(flow, vec![(400, r#"{"error":"invalid_grant"}"#)]);
        assert_eq!(a.status(), 400);
        assert!(a.body().contains("invalid_grant"));
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (a, _) = run(flow, vec![(500, "{}")]);
        assert_eq!(a.status(), 502);
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let (a, _) = run(flow, vec![]);
        assert_eq!(a.status(), 502);
        assert!(a.body().contains("discord_unavailable"));
        let auth = format!("Bearer {}", bound("r"));
        let flow = refresh(&config(), &[("authorization", &auth)], br#"{"refresh_token":"r"}"#).unwrap();
        let (a, _) = run(flow, vec![(200, TOKENS)]);
        assert_eq!(a.status(), 200);
        let v: serde_json::Value = serde_json::from_str(a.body()).unwrap();
        assert_eq!(v["refresh_token"], "ref");
        assert_eq!(v.as_object().unwrap().len(), 6);
        // the new websocket token proves the next refresh, of the new refresh token only
        let next = v["websocket_token"].as_str().unwrap();
        let verifier = config().verifier().clone();
        let claims = verifier
            .verify_refresh_proof(next, "ref", DEFAULT_REFRESH_PROOF_MAX_AGE, at())
            .unwrap();
        assert_eq!(claims.sub, crate::Snowflake::from(42));
        assert_eq!(
            verifier.verify_refresh_proof(next, "r", DEFAULT_REFRESH_PROOF_MAX_AGE, at()),
            Err(RefreshProofError::OtherSession)
        );
    }

    #[test]
    fn a_refresh_without_proof_is_refused_before_any_io() {
        let c = config();
        let body = br#"{"refresh_token":"r"}"#;
        // no proof at all: 401 naming what to send
        let a = refresh(&c, &[], body).unwrap_err();
        assert_eq!(a.status(), 401);
        assert_eq!(a.headers()["www-authenticate"], "Bearer");
        let v: serde_json::Value = serde_json::from_str(a.body()).unwrap();
        assert_eq!(v["error"], "missing_proof");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer <websocket_token>"),
            "{v}"
        );
        assert!(
            !v["message"].as_str().unwrap().contains("proxy"),
            "no proxy configured: {v}"
        );
        // proxy headers are no proof while no proxy check is configured
        let seed = [5; 32];
        let payload = crate::embedded::ProxyPayload {
            created_at: T,
            expires_at: T + 300,
            fields: serde_json::Map::new(),
        };
        let signed = crate::embedded::sign_proxy_payload(&seed, &payload);
        let signed: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(status(refresh(&c, &signed, body)), 401);

        let refused = |headers: &[(&str, &str)]| -> (u16, serde_json::Value) {
            let a = refresh(&c, headers, body).unwrap_err();
            (a.status().as_u16(), serde_json::from_str(a.body()).unwrap())
        };
        let signer = c.signer();
        let user = crate::Snowflake::from(42);
        let scopes = Scopes::parse("identify");
        // a genuine token of another session (another user's refresh token), an unbound one
        let other = format!("Bearer {}", bound("someone-else"));
        let (s, v) = refused(&[("authorization", &other)]);
        assert_eq!((s, v["error"].as_str()), (403, Some("session_mismatch")));
        let unbound = format!("Bearer {}", signer.sign(user, &scopes, at()));
        assert_eq!(refused(&[("authorization", &unbound)]).0, 403);
        // a forged, a foreign and a too old token
        let forged = format!("Bearer {}x", bound("r"));
        let (s, v) = refused(&[("authorization", &forged)]);
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")));
        let foreign = WebsocketTokenSigner::new(WebsocketKey::new("k1", vec![8; 32]).unwrap(), "activity")
            .unwrap()
            .sign_for_session(user, &scopes, Some("r"), at());
        assert_eq!(refused(&[("authorization", &format!("Bearer {foreign}"))]).0, 401);
        let old = signer.sign_for_session(
            user,
            &scopes,
            Some("r"),
            at() - DEFAULT_REFRESH_PROOF_MAX_AGE - Duration::from_secs(1),
        );
        assert_eq!(refused(&[("authorization", &format!("Bearer {old}"))]).0, 401);
        // past its `exp` but within the maximum age, a bound token still proves the refresh
        let week_old = signer.sign_for_session(user, &scopes, Some("r"), at() - Duration::from_secs(7 * 24 * 3600));
        assert_eq!(
            status(refresh(&c, &[("authorization", &format!("Bearer {week_old}"))], body)),
            200
        );
        // a query-string token is no proof for a refresh
        let query = http::Request::post(format!("/api/refresh?token={}", bound("r")))
            .header("content-type", "application/json")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(status(ready(c.refresh_flow(&query, body, at()))), 401);

        // with the proxy check configured: a valid signature is proof; a bad one is refused
        let proxied =
            c.clone()
                .with_refresh_proxy_auth(crate::embedded::ProxyAuth::new(crate::embedded::ProxyVerifier::new(
                    crate::embedded::ProxyPublicKey::from_seed(&seed),
                )));
        let flow = refresh(&proxied, &signed, body).unwrap();
        let (a, _) = run(flow, vec![(200, TOKENS)]);
        let v: serde_json::Value = serde_json::from_str(a.body()).unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            5,
            "no websocket token without a user: {v}"
        );
        let other_key = crate::embedded::sign_proxy_payload(&[6; 32], &payload);
        let other_key: Vec<(&str, &str)> = other_key.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = refresh(&proxied, &other_key, body).unwrap_err();
        assert_eq!(a.status(), 401);
        assert!(a.body().contains("invalid_proxy_signature"));
        let a = refresh(&proxied, &[], body).unwrap_err();
        assert!(
            a.body().contains("missing_proof") && a.body().contains("proxy"),
            "{}",
            a.body()
        );
    }

    #[test]
    fn a_request_held_by_the_breaker_answers_503_with_retry_after() {
        let held = crate::login::outbound::held_answer(Duration::from_millis(29_500));
        let flow = config().token_flow(JSON, br#"{"code":"abc"}"#).unwrap();
        let io = Script(std::sync::Mutex::new(vec![held]), std::sync::Mutex::default());
        let (a, _) = run_with(flow, &io);
        assert_eq!(a.status(), 503);
        assert_eq!(a.headers()["retry-after"], "30");
        let v: serde_json::Value = serde_json::from_str(a.body()).unwrap();
        assert_eq!(
            (v["error"].as_str(), v["retry_after"].as_u64()),
            (Some("rate_limited"), Some(30))
        );
        let busy = answer::not_sent(&NotSent::Busy);
        assert_eq!(
            (busy.status().as_u16(), &busy.headers()["retry-after"]),
            (503, &"1".parse::<http::HeaderValue>().unwrap())
        );
        assert!(busy.body().contains("\"busy\""));
    }

    #[test]
    fn websocket_token_from_header_or_query() {
        let c = config();
        let now = UNIX_EPOCH + Duration::from_secs(T);
        let t = c
            .signer()
            .sign(crate::Snowflake::from(42), &Scopes::parse("identify"), now);
        let v = c.verifier();
        let bearer = format!("Bearer {t}");
        assert!(v.verify_request(Some(bearer.as_bytes()), None, now).is_ok());
        assert!(
            v.verify_request(Some(format!("bearer {t}").as_bytes()), None, now)
                .is_ok()
        );
        assert!(v.verify_request(None, Some(&format!("a=1&token={t}")), now).is_ok());
        assert_eq!(
            v.verify_request(None, Some("a=1"), now),
            Err(WebsocketRejection::Missing)
        );
        assert_eq!(
            v.verify_request(Some(b"Basic eA=="), None, now),
            Err(WebsocketRejection::Missing)
        );
        assert_eq!(
            v.verify_request(None, Some(&format!("token={t}x")), now),
            Err(WebsocketRejection::Invalid(WebsocketTokenError::BadSignature))
        );
        let a = WebsocketRejection::Missing.answer();
        assert_eq!(a.status(), 401);
        assert_eq!(a.headers()["www-authenticate"], "Bearer");
        let a = WebsocketRejection::Invalid(WebsocketTokenError::Expired).answer();
        assert!(a.body().contains("invalid_token") && a.body().contains("expired"));
    }
}
