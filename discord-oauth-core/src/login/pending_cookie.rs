//! Logins in progress kept in the browser, sealed: an anonymous visitor costs the server no
//! stored state.
//!
//! `GET /auth/login` puts the pending login (state, PKCE verifier, `return_to`, nonce) into a
//! short-lived cookie of its own, encrypted and authenticated with AES-256-GCM under a key
//! derived (HKDF-SHA256) from the site's key material ([`LoginCookieKey`]). Nothing is written
//! to any session store. `GET /auth/callback` finds the cookie named after the callback's
//! `state`, opens it, checks it, deletes it and goes on with the exchange. This is how Auth.js
//! keeps its `state`/`pkce` cookies and oauth2-proxy its CSRF cookie.
//!
//! # The cookies
//! - One per login attempt, named `discord_oauth_login.<id>` (`__Host-discord_oauth_login.<id>`
//!   when cookies are `Secure`), where `<id>` is 16 characters of base64url(SHA-256(state)): the
//!   callback looks up only the cookie of its own `state`, so two tabs log in at once and a
//!   forged callback cannot cancel someone's real login.
//! - `HttpOnly`, `SameSite=Lax` (it must come back on Discord's top-level redirect), `Path=/`,
//!   `Secure` on https, `Max-Age` = the pending-login TTL (10 minutes by default).
//! - The value is `base64url(nonce ‖ AES-256-GCM(JSON))` with the cookie's name as associated
//!   data: a value moved to another name does not open. About 0.5–1.3 KB each (the
//!   `return_to` is at most [`MAX_RETURN_TO_LEN`] bytes).
//! - At most [`LoginConfig::max_pending`] per browser (5 by default): a new login deletes the
//!   oldest beyond that, and any of our cookies that is expired or does not open.
//!
//! # Single use
//! The browser loses the cookie when the callback answers. A copy of it (with the callback URL)
//! is refused too: [`ConsumedStates`] remembers every `state` used on this instance until its
//! login would have expired, in a bounded set (see its docs). Across instances, Discord's
//! authorization codes are single use.
//!
//! # Keys
//! Every instance that may receive a callback must use the same key material
//! ([`super::LoginConfigBuilder::login_cookie_key`]); the integrations make a random one per process
//! when none is set. Key rotation: [`LoginCookieKey::with_previous`] keeps cookies sealed under
//! an old key usable (they live 10 minutes, so one deploy is enough).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use aes_gcm::aead::{Aead as _, AeadInPlace as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use base64::Engine as _;
use http::header::{HeaderValue, SET_COOKIE};
use http::{Response, StatusCode};
use rand_core::CryptoRng;
use sha2::{Digest as _, Sha256};

use super::answer::{self, no_store};
use super::{LoginConfig, LoginError, PendingLogin};
use crate::{CallbackError, CallbackParams, CodeExchange, ConfigError, ReturnTo};

/// The longest `return_to` `/auth/login` accepts: 512 bytes. Longer ones get `400` with the
/// reason (the pending login travels in a cookie, and cookies are small).
pub const MAX_RETURN_TO_LEN: usize = 512;

/// How many of our login cookies one request's `Cookie` header may make the server look at;
/// more are ignored (and so are never opened).
const MAX_COOKIES_EXAMINED: usize = 32;

/// Length of the random nonce of AES-GCM.
const NONCE_LEN: usize = 12;

/// Length of the authentication tag of AES-GCM.
const TAG_LEN: usize = 16;

/// Minimum key material for [`LoginCookieKey::derive`].
pub const MIN_KEY_MATERIAL: usize = 32;

/// The key that seals pending-login cookies (and keys that still open older ones). Derived
/// from key material with HKDF-SHA256, so the same material can also serve as the session
/// cookie key: the two keys differ. `Debug` shows no key.
///
/// ```
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_core::login::pending_cookie::LoginCookieKey;
///
/// // The same secret on every instance (from the environment, at least 32 bytes).
/// let material = [7u8; 64];
/// let key = LoginCookieKey::derive(&material)?;
/// assert!(format!("{key:?}").contains("redacted"));
/// assert!(LoginCookieKey::derive(b"short").is_err());
///
/// // Rotating: seal with the new material, still open cookies sealed with the old one.
/// let rotated = LoginCookieKey::derive(&[8u8; 64])?.with_previous(&material)?;
/// let config = LoginConfig::builder("157730590492196864", "https://example.com/auth/callback")
///     .login_cookie_key(rotated)
///     .build()?;
/// assert!(config.login_cookie_key().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LoginCookieKey {
    /// The ciphers with their keys expanded once (not on every login).
    keys: Arc<Vec<Aes256Gcm>>,
}

impl fmt::Debug for LoginCookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginCookieKey([redacted]; {} key(s))", self.keys.len())
    }
}

impl LoginCookieKey {
    /// Derives the sealing key from at least [`MIN_KEY_MATERIAL`] bytes of secret key material
    /// (e.g. the site's session key).
    pub fn derive(material: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            keys: Arc::new(vec![cipher(&derive_key(material)?)]),
        })
    }

    /// A random key, for one process (logins started here must come back here).
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self {
            keys: Arc::new(vec![cipher(&key)]),
        }
    }

    /// Also opens cookies sealed with a key derived from `material` (during a key rotation).
    pub fn with_previous(mut self, material: &[u8]) -> Result<Self, ConfigError> {
        let previous = derive_key(material)?;
        Arc::make_mut(&mut self.keys).push(cipher(&previous));
        Ok(self)
    }

    fn seal(&self, name: &str, plaintext: &[u8], rng: &mut impl CryptoRng) -> Option<String> {
        let cipher = self.keys.first()?;
        // nonce ‖ ciphertext ‖ tag, encrypted in place in the buffer that is encoded.
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.resize(NONCE_LEN, 0);
        rng.fill_bytes(&mut out);
        out.extend_from_slice(plaintext);
        let (nonce, message) = out.split_at_mut(NONCE_LEN);
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), name.as_bytes(), message)
            .ok()?;
        out.extend_from_slice(&tag);
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    fn open(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        // A pending login is well under 2 KiB sealed; refuse to decode anything much larger.
        if value.len() > 4096 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        self.keys.iter().find_map(|cipher| {
            cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: name.as_bytes(),
                    },
                )
                .ok()
        })
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

fn derive_key(material: &[u8]) -> Result<[u8; 32], ConfigError> {
    if material.len() < MIN_KEY_MATERIAL {
        return Err(ConfigError::Invalid(format!(
            "the login cookie key material is {} bytes; at least {MIN_KEY_MATERIAL} are needed",
            material.len()
        )));
    }
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(b"discord-oauth pending login cookie"), material)
        .expand(b"v1", &mut key)
        .map_err(|_| ConfigError::Invalid("the login cookie key could not be derived".into()))?;
    Ok(key)
}

/// The `state`s of callbacks already served on this instance, so that a copied login cookie
/// cannot be replayed with its callback URL. Bounded: at most `capacity` entries (default
/// [`ConsumedStates::DEFAULT_CAPACITY`], 10,000: about 0.6 MB), each kept until its login would
/// have expired; when full, the oldest is forgotten first (its replay then still fails at
/// Discord, which accepts each code once). Only callbacks that carry a valid sealed cookie of
/// ours add an entry.
pub struct ConsumedStates {
    inner: Mutex<Consumed>,
    capacity: usize,
}

#[derive(Default)]
struct Consumed {
    set: HashSet<[u8; 32]>,
    order: VecDeque<([u8; 32], SystemTime)>,
}

impl fmt::Debug for ConsumedStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumedStates")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for ConsumedStates {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl ConsumedStates {
    /// The default bound.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty set holding at most `capacity` states (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Consumed::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records `state` as used until `expires_at`; `false` if it was already recorded.
    pub fn consume(&self, state: &str, expires_at: SystemTime, now: SystemTime) -> bool {
        let digest: [u8; 32] = Sha256::digest(state.as_bytes()).into();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((old, at)) = inner.order.front().copied() {
            if at < now || inner.order.len() >= self.capacity {
                inner.order.pop_front();
                inner.set.remove(&old);
            } else {
                break;
            }
        }
        if !inner.set.insert(digest) {
            return false;
        }
        inner.order.push_back((digest, expires_at));
        true
    }

    /// How many states are remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).order.len()
    }

    /// `true` if none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the callback route found in its login cookie: the exchange to perform (or why not),
/// and the `Set-Cookie` headers that delete the used cookie, to add to whatever the route
/// answers.
#[derive(Debug)]
pub struct CallbackStart {
    /// The exchange and where to land afterwards, or the refusal.
    pub result: Result<(CodeExchange, ReturnTo), LoginError>,
    /// The deletion of the used login cookie, for the route's answer.
    pub clear: ClearCookies,
}

/// `Set-Cookie` headers that delete login cookies; [`ClearCookies::finish`] adds them to an
/// answer.
#[derive(Debug, Default)]
pub struct ClearCookies(Vec<HeaderValue>);

impl ClearCookies {
    /// Adds the cookie deletions to the route's answer.
    pub fn finish(&self, mut response: Response<String>) -> Response<String> {
        for c in &self.0 {
            response.headers_mut().append(SET_COOKIE, c.clone());
        }
        response
    }
}

/// The cookie pairs (`name`, `value`) in `Cookie` header values.
fn cookie_pairs<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers
        .into_iter()
        .filter_map(|h| std::str::from_utf8(h).ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim(), value.trim()))
        })
}

impl LoginConfig {
    /// The name prefix of the pending-login cookies.
    pub fn login_cookie_prefix(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-discord_oauth_login."
        } else {
            "discord_oauth_login."
        }
    }

    fn login_cookie_name(&self, state: &str) -> String {
        // The first 16 characters of the digest's base64: those of its first 12 bytes.
        let digest = Sha256::digest(state.as_bytes());
        let prefix = self.login_cookie_prefix();
        let mut name = String::with_capacity(prefix.len() + 16);
        name.push_str(prefix);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&digest[..12], &mut name);
        name
    }

    fn login_cookie(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure_cookies() { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"
        ))
        .ok()
    }

    fn opened(key: &LoginCookieKey, name: &str, value: &str) -> Option<PendingLogin> {
        let plain = key.open(name, value)?;
        serde_json::from_slice(&plain).ok()
    }

    /// The answer of `GET /auth/login` for a request with this query and these `Cookie`
    /// header values: `303` to Discord with the new login's sealed cookie (and deletions of
    /// stale ones), `400` naming the limit when `return_to` is longer than
    /// [`MAX_RETURN_TO_LEN`], `500` if the configuration has no login cookie key.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use discord_oauth_core::login::LoginConfig;
    /// use discord_oauth_core::login::pending_cookie::LoginCookieKey;
    /// use rand::SeedableRng;
    ///
    /// let config = LoginConfig::builder("1100000000000000001", "https://a.example/auth/callback")
    ///     .login_cookie_key(LoginCookieKey::derive(&[1u8; 64]).unwrap())
    ///     .build()
    ///     .unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let answer = config.login_answer("return_to=%2Fme", [], &mut rng, SystemTime::now());
    /// assert_eq!(answer.status(), 303);
    /// let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    /// assert!(cookie.starts_with("__Host-discord_oauth_login."));
    /// assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"));
    /// ```
    pub fn login_answer<'a>(
        &self,
        query: &str,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        rng: &mut impl CryptoRng,
        now: SystemTime,
    ) -> Response<String> {
        let return_to = answer::return_to_param(query);
        if return_to.as_ref().is_some_and(|r| r.len() > MAX_RETURN_TO_LEN) {
            let mut r = answer::text(
                StatusCode::BAD_REQUEST,
                format!("Bad Request: return_to is longer than {MAX_RETURN_TO_LEN} bytes"),
            );
            no_store(&mut r);
            return r;
        }
        let Some(key) = self.login_cookie_key.as_ref() else {
            return answer::internal_error();
        };
        let prefix = self.login_cookie_prefix();
        // The logins this browser already has in progress: keep the newest valid ones.
        let mut stale = Vec::new();
        let mut live: Vec<(SystemTime, &str)> = Vec::new();
        for (name, value) in cookie_pairs(cookie_headers)
            .filter(|(name, _)| name.starts_with(prefix))
            .take(MAX_COOKIES_EXAMINED)
        {
            match Self::opened(key, name, value) {
                Some(p) if !p.authorization.is_expired(now) => live.push((p.authorization.expires_at(), name)),
                _ => stale.push(name),
            }
        }
        live.sort_by_key(|(at, _)| *at);
        let keep = self.max_pending.saturating_sub(1);
        let excess = live.len().saturating_sub(keep);
        stale.extend(live.iter().take(excess).map(|(_, name)| *name));

        let return_to = return_to
            .as_deref()
            .and_then(ReturnTo::parse)
            .unwrap_or_else(|| self.default_return_to.clone());
        let Ok((location, authorization)) = self.authorization_request().start_location(rng, now) else {
            return answer::internal_error();
        };
        let name = self.login_cookie_name(authorization.state().secret());
        let login = PendingLogin {
            authorization,
            return_to,
        };
        let Ok(plain) = serde_json::to_vec(&login) else {
            return answer::internal_error();
        };
        let Some(sealed) = key.seal(&name, &plain, rng) else {
            return answer::internal_error();
        };
        let mut r = answer::redirect(&location);
        for old in stale {
            if let Some(v) = self.login_cookie(old, "", 0) {
                r.headers_mut().append(SET_COOKIE, v);
            }
        }
        if let Some(v) = self.login_cookie(&name, &sealed, self.pending_ttl.as_secs().max(1)) {
            r.headers_mut().append(SET_COOKIE, v);
        }
        r
    }

    /// Starts `GET /auth/callback`: finds the login cookie of the callback's `state` among the
    /// `Cookie` header values, opens and checks it (state in constant time, expiry, `iss`,
    /// single use through `consumed`), and returns the exchange to perform. Nothing is sent to
    /// Discord unless the result is `Ok`. The used cookie is deleted whatever the outcome; a
    /// callback whose `state` has no cookie here deletes nothing (a forged `error=…` callback
    /// cannot cancel a real login, B-12).
    pub fn callback_start<'a>(
        &self,
        query: &str,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        consumed: &ConsumedStates,
        now: SystemTime,
    ) -> CallbackStart {
        let mut clear = Vec::new();
        let result = self.callback_from_cookie(query, cookie_headers, consumed, now, &mut clear);
        CallbackStart {
            result,
            clear: ClearCookies(clear),
        }
    }

    fn callback_from_cookie<'a>(
        &self,
        query: &str,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        consumed: &ConsumedStates,
        now: SystemTime,
        clear: &mut Vec<HeaderValue>,
    ) -> Result<(CodeExchange, ReturnTo), LoginError> {
        let params = CallbackParams::parse(query)?;
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        let name = self.login_cookie_name(state);
        let value = cookie_pairs(cookie_headers)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or(CallbackError::UnknownState)?;
        clear.extend(self.login_cookie(&name, "", 0));
        let key = self.login_cookie_key.as_ref().ok_or(CallbackError::UnknownState)?;
        let login = Self::opened(key, &name, value).ok_or(CallbackError::UnknownState)?;
        if !login.authorization.matches_state(state) {
            return Err(CallbackError::StateMismatch.into());
        }
        if !login.authorization.is_expired(now) && !consumed.consume(state, login.authorization.expires_at(), now) {
            return Err(CallbackError::UnknownState.into());
        }
        let grant = login.authorization.callback_params(params, now)?;
        // Re-validate the stored target before using it (checklist D-08).
        let return_to = ReturnTo::parse(login.return_to.as_str()).unwrap_or_else(|| self.default_return_to.clone());
        Ok((self.client.exchange_code(grant), return_to))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;

    fn config(secure: bool) -> LoginConfig {
        let uri = if secure {
            "https://a.example/auth/callback"
        } else {
            "http://127.0.0.1:3000/auth/callback"
        };
        LoginConfig::builder("1100000000000000001", uri)
            .client_secret("s")
            .login_cookie_key(LoginCookieKey::derive(&[9u8; 64]).unwrap())
            .build()
            .unwrap()
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn set_cookies(r: &Response<String>) -> Vec<String> {
        r.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Cookie` header a browser would send after these answers (live cookies only).
    fn jar(cookies: &mut Vec<(String, String)>, r: &Response<String>) {
        for c in set_cookies(r) {
            let pair = c.split(';').next().unwrap();
            let (n, v) = pair.split_once('=').unwrap();
            cookies.retain(|(name, _)| name != n);
            if !c.contains("Max-Age=0") {
                cookies.push((n.to_owned(), v.to_owned()));
            }
        }
    }

    fn header(cookies: &[(String, String)]) -> String {
        cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn state_of(r: &Response<String>) -> String {
        let url = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
    }

    #[test]
    fn a_login_round_trips_through_its_cookie_and_is_single_use() {
        let config = config(false);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let consumed = ConsumedStates::default();
        let r = config.login_answer("return_to=%2Fguilds%3Fx%3D1", [], &mut rng, t0());
        assert_eq!(r.status(), 303);
        let mut cookies = Vec::new();
        jar(&mut cookies, &r);
        assert_eq!(cookies.len(), 1);
        let state = state_of(&r);
        let h = header(&cookies);
        let query = format!("code=abc&state={state}");
        let start = config.callback_start(&query, [h.as_bytes()], &consumed, t0());
        let (_, return_to) = start.result.as_ref().unwrap();
        assert_eq!(return_to.as_str(), "/guilds?x=1");
        let done = start.clear.finish(answer::redirect("/"));
        assert!(
            set_cookies(&done)[0].contains("Max-Age=0"),
            "the used cookie is deleted"
        );
        // The same cookie and callback again (a copy): refused, and no exchange.
        let again = config.callback_start(&query, [h.as_bytes()], &consumed, t0());
        assert!(matches!(
            again.result,
            Err(LoginError::Callback(CallbackError::UnknownState))
        ));
    }

    #[test]
    fn the_cookie_holds_no_readable_secret_and_tampering_is_refused() {
        let config = config(true);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let r = config.login_answer("", [], &mut rng, t0());
        let mut cookies = Vec::new();
        jar(&mut cookies, &r);
        let (name, value) = cookies[0].clone();
        assert!(name.starts_with("__Host-discord_oauth_login."));
        let c = &set_cookies(&r)[0];
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=600"] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        let state = state_of(&r);
        assert!(!value.contains(&state), "the state is not readable in the cookie");
        // Flip one character of the sealed value.
        let mut bytes = value.into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        let forged = format!("{name}={}", String::from_utf8(bytes).unwrap());
        let start = config.callback_start(
            &format!("code=x&state={state}"),
            [forged.as_bytes()],
            &ConsumedStates::default(),
            t0(),
        );
        assert!(matches!(
            start.result,
            Err(LoginError::Callback(CallbackError::UnknownState))
        ));
        // Another site's key cannot open it either.
        let other = LoginConfig::builder("1100000000000000001", "https://a.example/auth/callback")
            .login_cookie_key(LoginCookieKey::derive(&[8u8; 64]).unwrap())
            .build()
            .unwrap();
        let h = header(&cookies);
        let start = other.callback_start(
            &format!("code=x&state={state}"),
            [h.as_bytes()],
            &ConsumedStates::default(),
            t0(),
        );
        assert!(start.result.is_err());
        // The previous key still opens it during a rotation.
        let rotated = LoginConfig::builder("1100000000000000001", "https://a.example/auth/callback")
            .login_cookie_key(
                LoginCookieKey::derive(&[8u8; 64])
                    .unwrap()
                    .with_previous(&[9u8; 64])
                    .unwrap(),
            )
            .build()
            .unwrap();
        let start = rotated.callback_start(
            &format!("code=x&state={state}"),
            [h.as_bytes()],
            &ConsumedStates::default(),
            t0(),
        );
        assert!(start.result.is_ok(), "{:?}", start.result.err());
    }

    #[test]
    fn a_browser_keeps_at_most_max_pending_logins_the_newest() {
        let config = config(false);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut cookies = Vec::new();
        let mut states = Vec::new();
        for i in 0..12u64 {
            let h = header(&cookies);
            let r = config.login_answer("", [h.as_bytes()], &mut rng, t0() + Duration::from_secs(i));
            jar(&mut cookies, &r);
            states.push(state_of(&r));
            assert!(cookies.len() <= 5, "{} cookies after {} logins", cookies.len(), i + 1);
        }
        let h = header(&cookies);
        let consumed = ConsumedStates::default();
        let ok = |s: &str| {
            config
                .callback_start(
                    &format!("code=x&state={s}"),
                    [h.as_bytes()],
                    &consumed,
                    t0() + Duration::from_secs(20),
                )
                .result
                .is_ok()
        };
        assert!(states[7..].iter().all(|s| ok(s)), "the five newest work");
        assert!(!states[..7].iter().any(|s| ok(s)), "older ones are gone");
    }

    #[test]
    fn expired_and_overlong_and_forged_callbacks() {
        let config = config(false);
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let long = format!("return_to=/{}", "a".repeat(MAX_RETURN_TO_LEN));
        let r = config.login_answer(&long, [], &mut rng, t0());
        assert_eq!(r.status(), 400);
        assert!(r.body().contains("512"));
        assert!(r.headers().get(SET_COOKIE).is_none());
        let ok = format!("return_to=/{}", "a".repeat(MAX_RETURN_TO_LEN - 1));
        let longest = config.login_answer(&ok, [], &mut rng, t0());
        assert_eq!(longest.status(), 303);
        let cookie = set_cookies(&longest).remove(0);
        assert!(
            cookie.len() < 1500,
            "the largest login cookie is {} bytes",
            cookie.len()
        );

        let r = config.login_answer("", [], &mut rng, t0());
        let mut cookies = Vec::new();
        jar(&mut cookies, &r);
        let h = header(&cookies);
        let state = state_of(&r);
        let late = config.callback_start(
            &format!("code=x&state={state}"),
            [h.as_bytes()],
            &ConsumedStates::default(),
            t0() + Duration::from_secs(601),
        );
        assert!(matches!(late.result, Err(LoginError::Callback(CallbackError::Expired))));
        // A forged error callback with another state leaves the real login alone.
        let forged = config.callback_start(
            "error=access_denied&state=forged",
            [h.as_bytes()],
            &ConsumedStates::default(),
            t0(),
        );
        assert!(forged.result.is_err());
        assert!(
            forged
                .clear
                .finish(answer::redirect("/"))
                .headers()
                .get(SET_COOKIE)
                .is_none()
        );
    }

    #[test]
    fn consumed_states_are_bounded_and_expire() {
        let set = ConsumedStates::with_capacity(100);
        for i in 0..1000 {
            assert!(set.consume(&format!("s{i}"), t0() + Duration::from_secs(600), t0()));
            assert!(set.len() <= 100);
        }
        assert!(!set.consume("s999", t0() + Duration::from_secs(600), t0()));
        // Past their expiry, entries go as new ones arrive.
        set.consume(
            "late",
            t0() + Duration::from_secs(2000),
            t0() + Duration::from_secs(700),
        );
        assert_eq!(set.len(), 1);
    }
}
