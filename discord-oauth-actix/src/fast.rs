//! The authenticated fast path: a request of a logged-in user whose session this process has
//! recently seen skips the session cookie's decryption, the store and the decoding of the
//! login record.
//!
//! [`DiscordSessions`](crate::DiscordSessions) does it:
//!
//! - **What is remembered.** After a request that went the whole way (the cookie opened, the
//!   store had the session, the login driver found a valid login) and left the session
//!   unchanged, the request's `Cookie` header — the whole header, byte for byte — is
//!   remembered with the session's content and the decoded login. A request with the same
//!   header carries the same session cookie, so it names the same session: nothing is trusted
//!   that was not checked first. Requests with several `Cookie` fields or a header over 4 KiB
//!   always take the normal path.
//! - **What is served.** A request whose header is remembered, on a path other than the login
//!   routes, whose login is valid *now* (not ended, no refresh due, no activity mark due:
//!   checked with the clock on every request, one reading against the instant the entry was
//!   kept with, [`LoginConfig::valid_until`] and [`LoginConfig::active_until`]) goes straight
//!   to the handler with the remembered login. Anything
//!   else takes the normal path, where refresh is single flight.
//! - **Handlers still get a working `actix_session::Session`**, filled with the remembered
//!   keys of the application (the login is kept beside it, see [`crate::DiscordSessions`]):
//!   filling a session without any costs nothing. A change a handler makes to it (insert,
//!   remove, clear, purge, renew) is written after the handler returns, exactly as on the
//!   normal path, and the entry is forgotten. To see whether there is a change, the
//!   middleware asks for the request's `Session` after the handler; actix-session cannot
//!   tell whether one exists without creating it, so a request whose handler took none gets
//!   an empty one then (about 300 instructions, most of what the fast path costs over a
//!   bare lookup; actix-session's own `SessionMiddleware` creates one before every handler).
//! - **Logout** on this process forgets every remembered header of that login at once, before
//!   the grant is revoked at Discord, and remembers the login as ended: no request can bring it
//!   back. Logouts announced by other instances through a revocation broadcast
//!   ([`crate::DiscordOAuthBuilder::revocation_broadcast`]) do the same here as they arrive.
//!   Refreshes and expiries on *other* instances (a shared Redis store) are seen here when the
//!   remembered entry expires: after
//!   [`DEFAULT_FAST_PATH_TTL`] (30 s) by default, set with
//!   `DiscordOAuthBuilder::cache_ttl`. A token refresh due on the remembered login is
//!   seen at once (the login's expiry is checked on every request).
//! - **Bounded**: at most [`DEFAULT_FAST_PATH_CAPACITY`] entries by default, [`DEFAULT_INDEX_BYTES`]
//!   of headers and [`MAX_HEADERS_PER_LOGIN`] headers per login (`discord_oauth_core::bounded::KeyIndex`:
//!   expired entries are swept long before it fills, then an arbitrary tenth goes), each
//!   forgotten after its TTL. A zero TTL or capacity turns the fast path off.
//! - **Cost.** The lookup is made before the middleware's future is built: a request served
//!   here polls the handler's future in place (not boxed) and, unless the handler changed
//!   the session, ends with the `Cache-Control: private, no-store` that personal pages need
//!   (H-14). A request without a session cookie (an anonymous visitor) is polled in place
//!   too, with an anonymous [`crate::AuthState`]; if its handler starts a session, that is
//!   written afterwards as on the normal path. The benchmark crate's `--bin instructions`
//!   (BENCHMARKS.md) has the figures, against the bare framework and against a floor
//!   middleware that only looks the login up and hands it over.
//! - **Not done on the fast path**: the daily mark of activity. An entry is served only
//!   until its mark is due; the next request takes the normal path, which writes it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{COOKIE, HeaderMap, HeaderValue};
use discord_oauth_core::fast_index::cookie_key;
use discord_oauth_core::login::driver::{SEEN_KEY, from_unix_seconds};
use discord_oauth_core::login::revocation::{LoginKey, Revocation, login_key};
use discord_oauth_core::login::{AuthSession, LoginConfig};

pub use discord_oauth_core::fast_index::DEFAULT_INDEX_BYTES;

use crate::snapshot::Snapshot;

/// How long a remembered session is served without the store by default: also the bound
/// on how late a logout or refresh on *another* instance is seen here.
pub const DEFAULT_FAST_PATH_TTL: Duration = Duration::from_secs(30);

/// How many sessions are remembered at most by default.
pub const DEFAULT_FAST_PATH_CAPACITY: usize = 10_000;

/// Most `Cookie` headers remembered per login: a client that varies its header on every
/// request replaces its own entries.
pub const MAX_HEADERS_PER_LOGIN: usize = discord_oauth_core::fast_index::MAX_HEADERS_PER_OWNER;

/// What is remembered for a `Cookie` header: the login and the session's content (served
/// until the login stops being valid or its activity mark is due, see
/// [`FastIndex::remember`]).
pub(crate) struct Entry {
    pub(crate) auth: Arc<AuthSession>,
    pub(crate) snapshot: Snapshot,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("user_id", &self.auth.user.id)
            .field("keys", &self.snapshot.app.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The index: the core's [`discord_oauth_core::fast_index::FastIndex`] (bounds, TTL, the
/// epoch that keeps a read from before a logout out), by login.
#[derive(Debug)]
pub(crate) struct FastIndex(
    discord_oauth_core::fast_index::FastIndex<LoginKey, Arc<Entry>, foldhash::fast::RandomState>,
);

impl FastIndex {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self(discord_oauth_core::fast_index::FastIndex::new(ttl, capacity))
    }

    /// The request's key: its one `Cookie` header, if short enough.
    pub(crate) fn key(headers: &HeaderMap) -> Option<&[u8]> {
        cookie_key(headers.get_all(COOKIE).map(HeaderValue::as_bytes))
    }

    /// The entry to serve a request whose key ([`cookie_key`]) is `key` with: remembered, and
    /// its login valid and active `now` (read only for a remembered entry).
    pub(crate) fn serve(&self, key: &[u8], now: impl FnOnce() -> SystemTime) -> Option<Arc<Entry>> {
        self.0.get(key, now)
    }

    /// The current removal count, to pass to [`FastIndex::remember`] once the request is done.
    pub(crate) fn epoch(&self) -> u64 {
        self.0.epoch()
    }

    /// Remembers a session the store had at `now` (the layer's clock), unless a removal
    /// happened since `epoch`: served until the TTL is over, the login stops being valid
    /// ([`LoginConfig::valid_until`]) or its activity mark is due
    /// ([`LoginConfig::active_until`]), whichever comes first. A session without a readable
    /// mark, or marked later than `now` (another instance's clock is ahead), is not
    /// remembered: the normal path marks it first.
    pub(crate) fn remember(
        &self,
        cookie: &[u8],
        snapshot: Snapshot,
        auth: Arc<AuthSession>,
        epoch: u64,
        now: SystemTime,
        config: &LoginConfig,
    ) {
        if snapshot.key.is_none() {
            return;
        }
        let Some(seen) = snapshot
            .login
            .get(SEEN_KEY)
            .and_then(|v| serde_json::from_str::<u64>(v).ok())
            .map(from_unix_seconds)
            .filter(|seen| *seen <= now)
        else {
            return;
        };
        let (Some(valid), Some(active)) = (config.valid_until(&auth), config.active_until(Some(seen))) else {
            return;
        };
        let login = login_key(&auth);
        let entry = Arc::new(Entry { auth, snapshot });
        self.0.insert(cookie, login, entry, epoch, now, valid.min(active));
    }

    #[cfg(test)]
    fn get(&self, cookie: &[u8]) -> Option<Arc<Entry>> {
        self.0.get(cookie, SystemTime::now)
    }

    /// Forgets one header (its session changed).
    pub(crate) fn remove(&self, cookie: &[u8]) {
        self.0.remove(cookie);
    }

    /// Forgets what `revocation` ended.
    pub(crate) fn forget(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Login(login) => self.0.remove_owner(login),
            Revocation::User { .. } => self.0.retain(|e| !revocation.matches(&e.auth)),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    fn enabled(&self) -> bool {
        self.0.enabled()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use discord_oauth_core::api::User;
    use serde_json::value::RawValue;

    use discord_oauth_core::fast_index::MAX_KEY_LEN;

    use super::*;

    /// When the test user logged in: the same for every call (the login key reads it).
    static LOGGED_IN: std::sync::LazyLock<SystemTime> = std::sync::LazyLock::new(SystemTime::now);

    /// A login of the test user; `login` tells logins apart.
    fn auth(login: u64) -> Arc<AuthSession> {
        let user: User = serde_json::from_str(
            r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":null,"avatar":null}"#,
        )
        .unwrap();
        Arc::new(AuthSession {
            user,
            tokens: None,
            authenticated_at: *LOGGED_IN,
            login_id: login,
        })
    }

    fn stored(pairs: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            key: Some("session-key".to_owned()),
            login: pairs
                .iter()
                .filter(|(k, _)| *k == SEEN_KEY)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            app: pairs
                .iter()
                .filter(|(k, _)| *k != SEEN_KEY)
                .map(|(k, v)| ((*k).to_owned(), RawValue::from_string((*v).to_owned()).unwrap()))
                .collect(),
        }
    }

    fn config() -> LoginConfig {
        LoginConfig::builder("1", "https://a.example/auth/callback")
            .build()
            .unwrap()
    }

    /// An activity mark (unix seconds) made `at`.
    fn mark(at: SystemTime) -> String {
        at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs().to_string()
    }

    fn remember(index: &FastIndex, cookie: &str, login: u64) {
        let now = SystemTime::now();
        let marked = mark(now);
        index.remember(
            cookie.as_bytes(),
            stored(&[(SEEN_KEY, &marked)]),
            auth(login),
            index.epoch(),
            now,
            &config(),
        );
    }

    #[test]
    fn only_sessions_the_store_has_with_a_good_activity_mark_are_remembered() {
        let index = FastIndex::new(Duration::from_secs(60), 10);
        let config = config();
        let now = SystemTime::now();
        let today = mark(now);
        index.remember(b"s=1", stored(&[(SEEN_KEY, "\"soon\"")]), auth(1), 0, now, &config);
        index.remember(b"s=2", Snapshot::default(), auth(1), 0, now, &config);
        index.remember(b"s=3", stored(&[("cart", "[1,2]")]), auth(1), 0, now, &config);
        let due = mark(now - config.touch_interval() - Duration::from_secs(1));
        index.remember(b"s=4", stored(&[(SEEN_KEY, &due)]), auth(1), 0, now, &config);
        let mark_ahead = mark(now + Duration::from_secs(120));
        index.remember(b"s=5", stored(&[(SEEN_KEY, &mark_ahead)]), auth(1), 0, now, &config);
        assert_eq!(index.len(), 0, "no key, no readable mark, a mark due, a mark ahead");
        index.remember(
            b"s=6",
            stored(&[(SEEN_KEY, &today), ("cart", "[1,2]")]),
            auth(1),
            0,
            now,
            &config,
        );
        assert!(index.get(b"s=6").is_some());
        // Served until the mark is due, not past it.
        let soon_due = mark(now - config.touch_interval() + Duration::from_secs(5));
        index.remember(b"s=7", stored(&[(SEEN_KEY, &soon_due)]), auth(2), 0, now, &config);
        assert!(index.0.get(b"s=7", || now).is_some());
        assert!(
            index.0.get(b"s=7", || now + Duration::from_secs(10)).is_none(),
            "the mark is due"
        );
        // A login that has ended is not remembered.
        let mut ended = (*auth(3)).clone();
        ended.authenticated_at = now - config.session_lifetime();
        index.remember(b"s=8", stored(&[(SEEN_KEY, &today)]), Arc::new(ended), 0, now, &config);
        assert!(index.get(b"s=8").is_none());
    }

    #[test]
    fn the_index_is_bounded_expires_and_forgets_a_login() {
        let index = FastIndex::new(Duration::from_secs(60), 3);
        for n in 0..10u64 {
            remember(&index, &format!("s={n}"), n % 2);
            assert!(index.len() <= 3);
            assert!(index.get(format!("s={n}").as_bytes()).is_some(), "the newest is in");
        }
        let index = FastIndex::new(Duration::from_secs(60), 10);
        for n in 0..10u64 {
            remember(&index, &format!("s={n}"), n % 2);
        }
        assert!(index.get(b"s=9 ").is_none(), "the key is the exact header");
        index.forget(&Revocation::Login(login_key(&auth(1))));
        assert!(index.get(b"s=9").is_none() && index.get(b"s=7").is_none());
        assert!(index.get(b"s=8").is_some(), "another login stays");
        let before = index.epoch();
        index.remove(b"s=8");
        assert!(index.get(b"s=8").is_none());
        let now = SystemTime::now();
        let marked = mark(now);
        index.remember(b"s=8", stored(&[(SEEN_KEY, &marked)]), auth(0), before, now, &config());
        assert!(
            index.get(b"s=8").is_none(),
            "an entry from a request that started before a removal is not remembered"
        );

        let index = FastIndex::new(Duration::from_millis(1), 3);
        remember(&index, "s=1", 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(index.get(b"s=1").is_none(), "expired entries are not served");

        for off in [
            FastIndex::new(Duration::ZERO, 3),
            FastIndex::new(Duration::from_secs(1), 0),
        ] {
            remember(&off, "s=1", 1);
            assert_eq!(off.len(), 0);
            assert!(!off.enabled());
        }
    }

    #[test]
    fn one_login_cannot_pin_more_than_a_few_headers() {
        let index = FastIndex::new(Duration::from_secs(60), 10_000);
        for n in 0..5_000 {
            remember(&index, &format!("s=1; pad{n}={}", "x".repeat(4000)), 1);
            assert!(index.len() <= MAX_HEADERS_PER_LOGIN);
        }
        let newest = format!("s=1; pad4999={}", "x".repeat(4000));
        assert!(
            index.get(newest.as_bytes()).is_some(),
            "the newest header still takes the fast path"
        );
        index.forget(&Revocation::of_user(80_351_110_224_678_912, SystemTime::now()));
        assert_eq!(index.len(), 0, "a user's revocation forgets their logins");
    }

    #[test]
    fn only_one_short_cookie_header_is_a_key() {
        let mut headers = HeaderMap::new();
        assert!(FastIndex::key(&headers).is_none());
        headers.insert(COOKIE, HeaderValue::from_static("a=1"));
        assert_eq!(FastIndex::key(&headers), Some(&b"a=1"[..]));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert!(FastIndex::key(&headers).is_none());
        let mut big = HeaderMap::new();
        big.insert(COOKIE, HeaderValue::from_str(&"a".repeat(MAX_KEY_LEN + 1)).unwrap());
        assert!(FastIndex::key(&big).is_none());
    }
}
