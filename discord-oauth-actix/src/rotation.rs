//! Rotating the session cookie key without logging everybody out (checklist H-12): while a
//! rotation is under way, [`SessionKeyRotation`] accepts session cookies encrypted with a
//! previous key.
//!
//! actix-session knows one key. This middleware goes *outside* the session middleware
//! (`.wrap()` it last): when the request's session cookie does not open with the current key
//! but does with a previous one, it is re-encrypted with the current key before actix-session
//! reads it. The browser gets a cookie under the current key the next time its session
//! changes: a login or refresh, or the mark of activity [`crate::DiscordSessions`] writes about
//! once a day ([`LoginConfig::idle_timeout`](discord_oauth_core::login::LoginConfig::idle_timeout) / 8).
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
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{COOKIE, HeaderValue};

use discord_oauth_runtime::rotation::KeyRing;

use crate::shared::DiscordOAuth;

impl DiscordOAuth {
    /// The name of the session cookie [`DiscordOAuth::session_middleware`] sets:
    /// `__Host-discord_oauth` when cookies are `Secure`, else `discord_oauth`.
    pub fn session_cookie_name(&self) -> &'static str {
        self.shared.config().session_cookie_name()
    }

    /// A middleware that accepts session cookies made with any of `previous` while the
    /// session middleware uses `current`; see [`SessionKeyRotation`]. `.wrap()` it after
    /// (outside) the session middleware.
    ///
    /// ```no_run
    /// # let discord: discord_oauth_actix::DiscordOAuth = todo!();
    /// use actix_web::{App, cookie::Key};
    /// let (current, previous) = (Key::generate(), Key::generate()); // from configuration
    /// App::new()
    ///     .configure(discord.routes())
    ///     .wrap(discord.cookie_session(current.clone()))
    ///     .wrap(discord.session_key_rotation(current, [previous]));
    /// ```
    pub fn session_key_rotation(&self, current: Key, previous: impl IntoIterator<Item = Key>) -> SessionKeyRotation {
        SessionKeyRotation {
            keys: Arc::new({
                let previous: Vec<Key> = previous.into_iter().collect();
                KeyRing::new(
                    self.session_cookie_name(),
                    current.master(),
                    previous.iter().map(Key::master),
                )
            }),
        }
    }
}

/// Accepts session cookies made with previous keys; see the [module docs](self) and
/// [`DiscordOAuth::session_key_rotation`].
#[derive(Clone)]
pub struct SessionKeyRotation {
    keys: Arc<KeyRing>,
}

impl fmt::Debug for SessionKeyRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotation")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionKeyRotation
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SessionKeyRotationMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionKeyRotationMiddleware {
            service: Rc::new(service),
            keys: Arc::clone(&self.keys),
        }))
    }
}

/// The service of [`SessionKeyRotation`].
pub struct SessionKeyRotationMiddleware<S> {
    service: Rc<S>,
    keys: Arc<KeyRing>,
}

impl<S> fmt::Debug for SessionKeyRotationMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeyRotationMiddleware")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for SessionKeyRotationMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if self.keys.rotating() {
            let headers = req.headers_mut();
            let rewritten: Vec<HeaderValue> = headers.get_all(COOKIE).map(|v| rewrite(&self.keys, v)).collect();
            if !rewritten.is_empty() {
                headers.remove(COOKIE);
                for value in rewritten {
                    headers.append(COOKIE, value);
                }
            }
        }
        self.service.call(req)
    }
}

/// One `Cookie` header with the session cookie re-sealed under the current key.
fn rewrite(keys: &KeyRing, header: &HeaderValue) -> HeaderValue {
    let rewritten = header.to_str().ok().and_then(|text| keys.rewrite(text));
    rewritten
        .and_then(|text| HeaderValue::from_str(&text).ok())
        .unwrap_or_else(|| header.clone())
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::{Cookie, CookieJar};

    use super::*;

    fn sealed(key: &Key, name: &'static str, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(Cookie::new(name, value.to_owned()));
        jar.get(name).unwrap().value().to_owned()
    }

    #[test]
    fn h12_previous_key_cookies_are_reencrypted_others_left_alone() {
        let (old, new, unknown) = (Key::generate(), Key::generate(), Key::generate());
        // actix-web's keys (cookie 0.16) given to the shared ring: the sealed format is the same.
        let keys = KeyRing::new("discord_oauth", new.master(), [old.master()]);
        // As actix-session sends it: percent-encoded.
        let under_old = Cookie::new("discord_oauth", sealed(&old, "discord_oauth", "{\"state\":1}"));
        let header = HeaderValue::from_str(&format!("theme=dark; {}", under_old.encoded())).unwrap();
        let out = rewrite(&keys, &header);
        let pair = out.to_str().unwrap().strip_prefix("theme=dark; ").unwrap();
        let opened = CookieJar::new()
            .private(&new)
            .decrypt(Cookie::parse_encoded(pair.to_owned()).unwrap())
            .unwrap();
        assert_eq!(opened.value(), "{\"state\":1}");
        for value in [
            sealed(&new, "discord_oauth", "x"),
            sealed(&unknown, "discord_oauth", "x"),
            sealed(&old, "other_cookie", "x"),
            "garbage".to_owned(),
        ] {
            let pair = Cookie::new("discord_oauth", value).encoded().to_string();
            let header = HeaderValue::from_str(&pair).unwrap();
            assert_eq!(rewrite(&keys, &header), header);
        }
    }
}
