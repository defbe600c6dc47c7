//! Rotating a session cookie's key without logging everybody out (checklist H-12):
//! [`KeyRing`] re-seals, in a request's `Cookie` header, a session cookie encrypted with a
//! previous key under the current one, before the session layer reads it. Framework-neutral
//! (strings and `http` headers); `discord-oauth-tower`'s `SessionKeyRotationLayer` runs it on
//! every request. Cargo feature `key-rotation`.

use std::fmt;

use cookie::{Cookie, CookieJar, Key};
use http::HeaderValue;
use http::header::COOKIE;

/// The current session cookie key and the previous ones still accepted (private cookies:
/// AES-256-GCM, the cookie name as associated data).
pub struct KeyRing {
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
    /// ```
    /// use discord_oauth_runtime::rotation::KeyRing;
    /// let (current, previous) = ([9u8; 64], [7u8; 64]); // from configuration
    /// assert!(KeyRing::new("session", &current, [&previous[..]]).rotating());
    /// assert!(!KeyRing::new("session", &current, []).rotating());
    /// ```
    pub fn new<'a>(name: impl Into<String>, current: &[u8], previous: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let key = |master: &[u8]| Key::try_from(master).ok();
        Self {
            name: name.into(),
            current: key(current).unwrap_or_else(Key::generate),
            previous: previous.into_iter().filter_map(key).collect(),
        }
    }

    /// Re-seals the session cookie in every `Cookie` header of `headers` (see
    /// [`KeyRing::rewrite`]); nothing to do while no rotation is under way.
    ///
    /// ```
    /// use discord_oauth_runtime::rotation::KeyRing;
    /// let ring = KeyRing::new("session", &[9; 64], [&[7u8; 64][..]]);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", http::HeaderValue::from_static("theme=dark"));
    /// ring.rewrite_headers(&mut headers);
    /// assert_eq!(headers["cookie"], "theme=dark", "no session cookie: left alone");
    /// ```
    pub fn rewrite_headers(&self, headers: &mut http::HeaderMap) {
        if !self.rotating() {
            return;
        }
        let rewritten: Vec<HeaderValue> = headers
            .get_all(COOKIE)
            .iter()
            .map(|value| {
                let text = value.to_str().ok().and_then(|text| self.rewrite(text));
                text.and_then(|t| HeaderValue::from_str(&t).ok())
                    .unwrap_or_else(|| value.clone())
            })
            .collect();
        if !rewritten.is_empty() {
            headers.remove(COOKIE);
            for value in rewritten {
                headers.append(COOKIE, value);
            }
        }
    }

    /// Whether there are previous keys (else there is nothing to re-seal).
    pub fn rotating(&self) -> bool {
        !self.previous.is_empty()
    }

    /// One `Cookie` header with the session cookie re-sealed under the current key, if a
    /// previous key sealed it; `None` when there is nothing to change.
    ///
    /// ```
    /// use discord_oauth_runtime::rotation::KeyRing;
    /// let ring = KeyRing::new("session", &[9; 64], [&[7u8; 64][..]]);
    /// assert_eq!(ring.rewrite("theme=dark; session=not-sealed-by-any-key"), None);
    /// ```
    pub fn rewrite(&self, header: &str) -> Option<String> {
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
