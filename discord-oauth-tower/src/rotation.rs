//! Rotating the session cookie key without logging everybody out (checklist H-12): while a
//! rotation is under way, [`SessionKeyRotationLayer`] accepts session cookies encrypted with
//! a previous key.
//!
//! The session layer knows one key (`SessionManagerLayer::with_private(current)`). This layer
//! goes *outside* it: when the request's session cookie does not open with the current key
//! but does with a previous one, it is re-encrypted with the current key before the session
//! layer reads it. The browser gets a cookie under the current key the next time its session
//! is written: a login or refresh, or the mark of activity the login layer writes about once
//! a day ([`LoginConfig::idle_timeout`] / 8).
//!
//! # Running a rotation
//! 1. Deploy every instance with the new key as the current one and the old key as previous.
//! 2. Keep it so for at least the idle timeout (7 days by default). Every session still alive
//!    after that has been marked active since the rotation began, so its cookie is under the
//!    new key; the others expired.
//! 3. Drop the old key. A cookie still under it is then ignored: that browser is logged out.
//!
//! Rotating by just changing the key (no previous key) logs everybody out at once.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use discord_oauth_core::login::LoginConfig;
use http::Request;
use http::header::{COOKIE, HeaderValue};
use tower::{Layer, Service};
use tower_sessions::cookie::{Cookie, CookieJar, Key};

/// Accepts session cookies made with previous keys; see the [module docs](self). Add it
/// outside the session layer (`.layer()` it last, or before the session layer in a
/// `ServiceBuilder`).
///
/// ```
/// use discord_oauth_core::login::LoginConfig;
/// use discord_oauth_tower::SessionKeyRotationLayer;
/// use tower_sessions::cookie::Key;
///
/// let config = LoginConfig::builder("1100000000000000001", "https://example.com/auth/callback")
///     .build()
///     .unwrap();
/// let (current, previous) = (Key::generate(), Key::generate()); // from configuration
/// let rotation = SessionKeyRotationLayer::new(&config, current.clone(), [previous]);
/// // ServiceBuilder::new()
/// //     .layer(rotation)
/// //     .layer(session_layer(store, &config).with_private(current))
/// //     .layer(DiscordOAuthLayer::new(config)?)
/// # let _ = rotation;
/// ```
#[derive(Clone)]
pub struct SessionKeyRotationLayer {
    keys: Arc<KeyRing>,
}

impl fmt::Debug for SessionKeyRotationLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotationLayer")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl SessionKeyRotationLayer {
    /// Accepts cookies of [`crate::session_layer`]'s session cookie (for `config`) made with
    /// any of `previous`, given that the session layer uses `current`.
    pub fn new(config: &LoginConfig, current: Key, previous: impl IntoIterator<Item = Key>) -> Self {
        Self::for_cookie(crate::session_cookie_name(config), current, previous)
    }

    /// The same for a session cookie of another name.
    pub fn for_cookie(name: impl Into<String>, current: Key, previous: impl IntoIterator<Item = Key>) -> Self {
        Self {
            keys: Arc::new({
                let previous: Vec<Key> = previous.into_iter().collect();
                KeyRing::new(name, current.master(), previous.iter().map(Key::master))
            }),
        }
    }
}

impl<S> Layer<S> for SessionKeyRotationLayer {
    type Service = SessionKeyRotation<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionKeyRotation {
            inner,
            keys: Arc::clone(&self.keys),
        }
    }
}

/// The service of [`SessionKeyRotationLayer`].
#[derive(Clone)]
pub struct SessionKeyRotation<S> {
    inner: S,
    keys: Arc<KeyRing>,
}

impl<S: fmt::Debug> fmt::Debug for SessionKeyRotation<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotation")
            .field("inner", &self.inner)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for SessionKeyRotation<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if self.keys.rotating() {
            let headers = req.headers_mut();
            let rewritten: Vec<HeaderValue> = headers
                .get_all(COOKIE)
                .iter()
                .map(|value| rewrite(&self.keys, value))
                .collect();
            if !rewritten.is_empty() {
                headers.remove(COOKIE);
                for value in rewritten {
                    headers.append(COOKIE, value);
                }
            }
        }
        self.inner.call(req)
    }
}

/// One `Cookie` header with the session cookie re-sealed under the current key.
fn rewrite(keys: &KeyRing, header: &HeaderValue) -> HeaderValue {
    let rewritten = header.to_str().ok().and_then(|text| keys.rewrite(text));
    rewritten
        .and_then(|text| HeaderValue::from_str(&text).ok())
        .unwrap_or_else(|| header.clone())
}

/// The current session cookie key and the previous ones still accepted (private cookies:
/// AES-256-GCM, the cookie name as associated data).
pub(crate) struct KeyRing {
    name: String,
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("cookie", &self.name)
            .field("previous_keys", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The ring of the cookie `name`, from the master keys (64 bytes each, as
    /// `cookie::Key::master` gives them; a key of another length is ignored: its cookies are
    /// then not re-sealed).
    ///
    pub(crate) fn new<'a>(
        name: impl Into<String>,
        current: &[u8],
        previous: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let key = |master: &[u8]| Key::try_from(master).ok();
        Self {
            name: name.into(),
            current: key(current).unwrap_or_else(Key::generate),
            previous: previous.into_iter().filter_map(key).collect(),
        }
    }

    /// Whether there are previous keys (else there is nothing to re-seal).
    pub(crate) fn rotating(&self) -> bool {
        !self.previous.is_empty()
    }

    /// One `Cookie` header with the session cookie re-sealed under the current key, if a
    /// previous key sealed it; `None` when there is nothing to change.
    pub(crate) fn rewrite(&self, header: &str) -> Option<String> {
        let mut changed = false;
        let pairs: Vec<String> = header
            .split(';')
            .map(|pair| {
                let pair = pair.trim();
                // Values may be percent-encoded.
                match Cookie::parse_encoded(pair) {
                    Ok(cookie) if cookie.name() == self.name => match self.reseal(cookie.value()) {
                        Some(value) => {
                            changed = true;
                            Cookie::new(self.name.clone(), value).encoded().to_string()
                        }
                        None => pair.to_owned(),
                    },
                    _ => pair.to_owned(),
                }
            })
            .collect();
        changed.then(|| pairs.join("; "))
    }

    /// `value` sealed under the current key, if it is sealed under a previous one.
    fn reseal(&self, value: &str) -> Option<String> {
        let sealed = Cookie::new(self.name.clone(), value.to_owned());
        let jar = CookieJar::new();
        if jar.private(&self.current).decrypt(sealed.clone()).is_some() {
            return None;
        }
        let opened = self
            .previous
            .iter()
            .find_map(|key| jar.private(key).decrypt(sealed.clone()))?;
        let mut jar = CookieJar::new();
        jar.private_mut(&self.current).add(opened);
        jar.get(&self.name).map(|c| c.value().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &Key, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(Cookie::new("s", value.to_owned()));
        jar.get("s").map(|c| c.value().to_owned()).unwrap()
    }

    #[test]
    fn h12_a_cookie_under_a_previous_key_is_resealed_under_the_current_one() {
        let (old, new) = (Key::from(&[7; 64]), Key::from(&[9; 64]));
        let ring = KeyRing::new("s", new.master(), [old.master()]);
        let header = format!("a=1; s={}; b=2", seal(&old, "id"));
        let rewritten = ring.rewrite(&header).unwrap();
        let pair = rewritten.split("; ").find(|p| p.starts_with("s=")).unwrap();
        let value = Cookie::parse_encoded(pair).unwrap().value().to_owned();
        let opened = CookieJar::new().private(&new).decrypt(Cookie::new("s", value)).unwrap();
        assert_eq!(opened.value(), "id");
        assert!(rewritten.starts_with("a=1; s=") && rewritten.ends_with("; b=2"));
        // Percent-encoded, as a browser may send it back.
        let encoded = Cookie::new("s", seal(&old, "id")).encoded().to_string();
        let rewritten = ring.rewrite(&encoded).unwrap();
        let value = Cookie::parse_encoded(rewritten).unwrap().value().to_owned();
        let opened = CookieJar::new().private(&new).decrypt(Cookie::new("s", value));
        assert_eq!(opened.unwrap().value(), "id");
    }

    #[test]
    fn h12_current_foreign_and_unknown_cookies_are_left_alone() {
        let (old, new, other) = (Key::from(&[7; 64]), Key::from(&[9; 64]), Key::from(&[3; 64]));
        let ring = KeyRing::new("s", new.master(), [old.master()]);
        assert_eq!(
            ring.rewrite(&format!("s={}", seal(&new, "id"))),
            None,
            "already current"
        );
        assert_eq!(ring.rewrite(&format!("s={}", seal(&other, "id"))), None, "unknown key");
        assert_eq!(ring.rewrite("t=1; s=garbage"), None);
        let other_cookie = seal(&old, "id");
        assert_eq!(
            ring.rewrite(&format!("t={other_cookie}")),
            None,
            "another cookie's value"
        );
        assert!(!KeyRing::new("s", new.master(), []).rotating());
    }
}
