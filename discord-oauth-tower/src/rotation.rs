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
use discord_oauth_runtime::rotation::KeyRing;
use http::Request;
use tower::{Layer, Service};
use tower_sessions::cookie::Key;

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
        self.keys.rewrite_headers(req.headers_mut());
        self.inner.call(req)
    }
}
