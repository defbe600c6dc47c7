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
    keys: Arc<Keys>,
}

struct Keys {
    name: String,
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for SessionKeyRotationLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotationLayer")
            .field("cookie", &self.keys.name)
            .field("previous_keys", &self.keys.previous.len())
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
            keys: Arc::new(Keys {
                name: name.into(),
                current,
                previous: previous.into_iter().collect(),
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
    keys: Arc<Keys>,
}

impl<S: fmt::Debug> fmt::Debug for SessionKeyRotation<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotation")
            .field("inner", &self.inner)
            .field("cookie", &self.keys.name)
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
        if !self.keys.previous.is_empty() {
            let headers = req.headers_mut();
            let rewritten: Vec<HeaderValue> = headers
                .get_all(COOKIE)
                .iter()
                .map(|value| self.keys.rewrite(value))
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

impl Keys {
    /// One `Cookie` header with the session cookie re-encrypted under the current key, if it
    /// was under a previous one. Anything else is left as it was.
    fn rewrite(&self, header: &HeaderValue) -> HeaderValue {
        let Ok(text) = header.to_str() else {
            return header.clone();
        };
        let mut changed = false;
        let pairs: Vec<String> = text
            .split(';')
            .map(|pair| {
                let pair = pair.trim();
                // Values may be percent-encoded (tower-cookies decodes them).
                match Cookie::parse_encoded(pair) {
                    Ok(cookie) if cookie.name() == self.name => match self.reencrypt(cookie.value()) {
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
        if !changed {
            return header.clone();
        }
        HeaderValue::from_str(&pairs.join("; ")).unwrap_or_else(|_| header.clone())
    }

    /// The value encrypted with the current key, if `value` opens only with a previous key.
    fn reencrypt(&self, value: &str) -> Option<String> {
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
        let value = jar.get(&self.name)?.value().to_owned();
        tracing::debug!("session cookie under a previous key accepted (key rotation)");
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(key: &Key, name: &str, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(Cookie::new(name.to_owned(), value.to_owned()));
        jar.get(name).unwrap().value().to_owned()
    }

    fn opened(key: &Key, name: &str, value: &str) -> Option<String> {
        CookieJar::new()
            .private(key)
            .decrypt(Cookie::new(name.to_owned(), value.to_owned()))
            .map(|c| c.value().to_owned())
    }

    #[test]
    fn h12_previous_key_cookies_are_reencrypted_others_left_alone() {
        let (old, new, unknown) = (Key::generate(), Key::generate(), Key::generate());
        let keys = Keys {
            name: "discord_oauth".into(),
            current: new.clone(),
            previous: vec![old.clone()],
        };
        let under_old = sealed(&old, "discord_oauth", "session-id");
        let header = HeaderValue::from_str(&format!("theme=dark; discord_oauth={under_old}; x=1")).unwrap();
        let out = keys.rewrite(&header);
        let out = out.to_str().unwrap();
        assert!(out.starts_with("theme=dark; discord_oauth="), "{out}");
        assert!(out.ends_with("; x=1"), "{out}");
        let pair = Cookie::parse_encoded(out.split("; ").nth(1).unwrap().to_owned()).unwrap();
        assert_eq!(pair.name(), "discord_oauth");
        assert_eq!(
            opened(&new, "discord_oauth", pair.value()).as_deref(),
            Some("session-id")
        );
        // Percent-encoded, as a browser may send it back.
        let encoded = Cookie::new("discord_oauth", under_old.clone()).encoded().to_string();
        let out = keys.rewrite(&HeaderValue::from_str(&encoded).unwrap());
        let pair = Cookie::parse_encoded(out.to_str().unwrap().to_owned()).unwrap();
        assert_eq!(
            opened(&new, "discord_oauth", pair.value()).as_deref(),
            Some("session-id")
        );

        // Already under the current key, under an unknown key, or another cookie's value
        // under the old key: untouched.
        for value in [
            sealed(&new, "discord_oauth", "session-id"),
            sealed(&unknown, "discord_oauth", "session-id"),
            sealed(&old, "other_cookie", "session-id"),
            "garbage".to_owned(),
        ] {
            let header = HeaderValue::from_str(&format!("discord_oauth={value}")).unwrap();
            assert_eq!(keys.rewrite(&header), header);
        }
    }
}
