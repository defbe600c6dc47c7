//! Logins that have ended, so that no copy of their session is served again: after a logout
//! (while the store deletion and the revocation at Discord are still under way, and for a
//! cookie-held session whose copies cannot be deleted at all), and across instances through a
//! broadcast channel (e.g. Redis pub/sub) that carries [`Revocation::to_message`].
//!
//! A login is named by its [`LoginKey`]: the user's id, the second the login happened, and the
//! login's own id ([`AuthSession::login_id`]), so one browser's logout leaves the same user's
//! other browsers logged in.
//!
//! [`Revocations`] is bounded ([`Revocations::DEFAULT_CAPACITY`] logins and as many users),
//! and forgets an entry once the sessions it names have reached their absolute lifetime (they
//! are dead anyway by then). When full, the entries that would expire soonest go first.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::AuthSession;
use crate::bounded::ExpiringMap;

/// The Redis (or other) channel the integrations' broadcasts use by default; instances of the
/// tower and actix-web integrations on one Redis share it. Sites of different Discord
/// applications sharing one Redis should each use their own: [`channel_for`].
pub const DEFAULT_CHANNEL: &str = "discord_oauth:revocations";

/// The channel for one Discord application's sites: [`DEFAULT_CHANNEL`] and the client id. A
/// "log out of all devices" or a deauthorization then reaches every site of that application
/// and no other.
///
/// ```
/// use discord_oauth_core::login::revocation::channel_for;
/// assert_eq!(channel_for("1100000000000000001"), "discord_oauth:revocations:1100000000000000001");
/// ```
pub fn channel_for(client_id: &str) -> String {
    format!("{DEFAULT_CHANNEL}:{client_id}")
}

/// One Redis command: its name and arguments, for an integration to run on its client.
pub type RedisCommand = (&'static str, Vec<String>);

/// The Redis key where user-wide revocations are kept for instances that start later: a
/// sorted set, member = user id, score = the revocation's `before` (`<channel>:users`).
pub fn redis_kept_key(channel: &str) -> String {
    format!("{channel}:users")
}

/// The commands that keep a user-wide `revocation` in Redis (nothing for a single login's):
/// the newest `before` per user (`ZADD … GT`), entries past `keep_for` dropped, the key
/// expiring with the last of them. Every integration's Redis broadcast runs these before it
/// publishes [`Revocation::to_message`] on `channel`.
///
/// ```
/// use std::time::Duration;
/// use discord_oauth_core::login::revocation::{Revocation, redis_keep_commands};
/// let user = Revocation::User { user_id: 42, before: 1_000 };
/// let commands = redis_keep_commands("c", &user, Duration::from_secs(100));
/// assert_eq!(commands[0], ("ZADD", vec!["c:users".into(), "GT".into(), "1000".into(), "42".into()]));
/// assert_eq!(commands.len(), 3);
/// ```
pub fn redis_keep_commands(channel: &str, revocation: &Revocation, keep_for: Duration) -> Vec<RedisCommand> {
    let Revocation::User { user_id, before } = *revocation else {
        return Vec::new();
    };
    let key = redis_kept_key(channel);
    let cutoff = before.saturating_sub(keep_for.as_secs());
    vec![
        (
            "ZADD",
            vec![key.clone(), "GT".into(), before.to_string(), user_id.to_string()],
        ),
        (
            "ZREMRANGEBYSCORE",
            vec![key.clone(), "-inf".into(), format!("({cutoff}")],
        ),
        ("EXPIRE", vec![key, keep_for.as_secs().max(1).to_string()]),
    ]
}

/// The command that reads the kept user-wide revocations at start-up; its reply (member,
/// score, …) goes to [`Subscribers::remember_kept`].
pub fn redis_kept_query(channel: &str) -> RedisCommand {
    (
        "ZRANGE",
        vec![redis_kept_key(channel), "0".into(), "-1".into(), "WITHSCORES".into()],
    )
}

/// What an instance does with a revocation announced by another one.
pub type Handler = Arc<dyn Fn(Revocation) + Send + Sync>;

/// A channel between the instances of a site for ended logins (the integrations ship a Redis
/// pub/sub one). An interface only: the implementation does the IO.
pub trait Broadcast: Send + Sync + fmt::Debug + 'static {
    /// Announces `revocation` to the other instances (best effort: failures are logged).
    /// `keep_for` is how long it matters (until the sessions it names reach their absolute
    /// lifetime): an implementation that also keeps user-wide revocations for instances that
    /// start later ([`Revocation::User`]) keeps them that long.
    fn publish(&self, revocation: Revocation, keep_for: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// Calls `handler` for every revocation announced from now on.
    fn subscribe(&self, handler: Handler);
}

/// The handlers of a [`Broadcast`] implementation, and the delivery of a received message to
/// them: what every implementation does once it has the text of a message (the IO is the
/// implementation's).
///
/// It also holds the revocations an implementation read from its store at start-up (the
/// backlog, at most [`Revocations::DEFAULT_CAPACITY`]): every handler added later gets them
/// first.
#[derive(Clone, Default)]
pub struct Subscribers(Arc<std::sync::RwLock<(Vec<Handler>, Vec<Revocation>)>>);

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Subscribers")
            .field("handlers", &inner.0.len())
            .field("backlog", &inner.1.len())
            .finish()
    }
}

impl Subscribers {
    /// Adds a handler (what [`Broadcast::subscribe`] does); it is called at once with every
    /// revocation of the backlog.
    pub fn add(&self, handler: Handler) {
        let backlog = {
            let mut inner = self.0.write().unwrap_or_else(PoisonError::into_inner);
            inner.0.push(Arc::clone(&handler));
            inner.1.clone()
        };
        for revocation in backlog {
            handler(revocation);
        }
    }

    /// Keeps `revocation` for the handlers added later (read from a store at start-up).
    pub fn remember(&self, revocation: Revocation) {
        let mut inner = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if inner.1.len() < Revocations::DEFAULT_CAPACITY {
            inner.1.push(revocation);
        }
    }

    /// Keeps the user-wide revocations of a Redis reply to [`redis_kept_query`] (member,
    /// score pairs); returns how many it read.
    ///
    /// ```
    /// use discord_oauth_core::login::revocation::Subscribers;
    /// let subscribers = Subscribers::default();
    /// let reply = ["42".to_owned(), "1700000000".to_owned(), "bad".to_owned(), "1".to_owned()];
    /// assert_eq!(subscribers.remember_kept(&reply), 1);
    /// ```
    pub fn remember_kept(&self, reply: &[String]) -> usize {
        let mut read = 0;
        for pair in reply.chunks(2) {
            if let [user, before] = pair
                && let (Ok(user_id), Ok(before)) = (user.parse(), before.parse::<f64>())
            {
                self.remember(Revocation::User {
                    user_id,
                    before: before as u64,
                });
                read += 1;
            }
        }
        read
    }

    /// Parses a received message and calls every handler with it; `false` (and nobody called)
    /// if it is not a revocation.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use discord_oauth_core::login::revocation::{Revocation, Subscribers};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let subscribers = Subscribers::default();
    /// let sink = Arc::clone(&seen);
    /// subscribers.add(Arc::new(move |r| sink.lock().unwrap().push(r)));
    /// subscribers.remember(Revocation::User { user_id: 7, before: 1 });
    /// let late = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&late);
    /// subscribers.add(Arc::new(move |r| sink.lock().unwrap().push(r)));
    /// assert_eq!(late.lock().unwrap().len(), 1, "a handler added later gets the backlog");
    /// assert!(subscribers.deliver("user:1:2"));
    /// assert!(!subscribers.deliver("nonsense"));
    /// assert_eq!(*seen.lock().unwrap(), [Revocation::User { user_id: 1, before: 2 }]);
    /// ```
    pub fn deliver(&self, message: &str) -> bool {
        let Some(revocation) = Revocation::parse(message) else {
            return false;
        };
        let handlers = self.0.read().unwrap_or_else(PoisonError::into_inner).0.clone();
        for h in handlers {
            h(revocation);
        }
        true
    }
}

/// A login's identity: `(user id, Unix second of the login, login id)`.
pub type LoginKey = (u64, u64, u64);

/// The [`LoginKey`] of a session.
pub fn login_key(auth: &AuthSession) -> LoginKey {
    (auth.user.id.get(), unix_secs(auth.authenticated_at), auth.login_id)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What ended.
///
/// ```
/// use discord_oauth_core::login::revocation::Revocation;
/// let r = Revocation::User { user_id: 80351110224678912, before: 1_700_000_000 };
/// assert_eq!(Revocation::parse(&r.to_message()), Some(r));
/// assert_eq!(Revocation::parse("garbage"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// One login (a logout).
    Login(LoginKey),
    /// Every login of a user that happened at or before `before` (Unix seconds): "log out of
    /// all devices", or Discord deauthorizing the app.
    User {
        /// The user.
        user_id: u64,
        /// Logins up to this second end.
        before: u64,
    },
}

impl Revocation {
    /// The revocation of `auth`'s login.
    pub fn of_login(auth: &AuthSession) -> Self {
        Revocation::Login(login_key(auth))
    }

    /// What a logout ends: `auth`'s login, or with `?everywhere=1` on the logout request
    /// ([`super::answer::logout_everywhere`]) every login of its user up to `now` ("log out
    /// of all devices").
    pub fn at_logout(auth: &AuthSession, query: &str, now: SystemTime) -> Self {
        if super::answer::logout_everywhere(query) {
            Self::of_user(auth.user.id.get(), now)
        } else {
            Self::of_login(auth)
        }
    }

    /// Every login of `user_id` up to `now`.
    pub fn of_user(user_id: u64, now: SystemTime) -> Self {
        Revocation::User {
            user_id,
            before: unix_secs(now),
        }
    }

    /// `true` if `auth` is a login this revocation ends.
    pub fn matches(&self, auth: &AuthSession) -> bool {
        let (user, at, id) = login_key(auth);
        match *self {
            Revocation::Login(key) => key == (user, at, id),
            Revocation::User { user_id, before } => user_id == user && at <= before,
        }
    }

    /// A short text form for a broadcast channel: `login:<user>:<at>:<id>` or
    /// `user:<user>:<before>`.
    pub fn to_message(&self) -> String {
        match *self {
            Revocation::Login((user, at, id)) => format!("login:{user}:{at}:{id}"),
            Revocation::User { user_id, before } => format!("user:{user_id}:{before}"),
        }
    }

    /// Parses [`Revocation::to_message`]'s form; `None` for anything else.
    pub fn parse(message: &str) -> Option<Self> {
        if message.len() > 96 {
            return None;
        }
        let mut parts = message.split(':');
        let kind = parts.next()?;
        let numbers = parts.map(|p| p.parse::<u64>().ok()).collect::<Option<Vec<u64>>>()?;
        match (kind, numbers.as_slice()) {
            ("login", [user, at, id]) => Some(Revocation::Login((*user, *at, *id))),
            ("user", [user_id, before]) => Some(Revocation::User {
                user_id: *user_id,
                before: *before,
            }),
            _ => None,
        }
    }

    /// How long after `now` this revocation still matters: until the sessions it names reach
    /// their absolute `lifetime` (zero once they have).
    pub fn keep_for(&self, lifetime: Duration, now: SystemTime) -> Duration {
        Duration::from_secs(self.moot_after(lifetime).saturating_sub(unix_secs(now)))
    }

    /// The Unix second after which the sessions this names are past their absolute
    /// `lifetime` anyway.
    fn moot_after(&self, lifetime: Duration) -> u64 {
        let at = match *self {
            Revocation::Login((_, at, _)) => at,
            Revocation::User { before, .. } => before,
        };
        at.saturating_add(lifetime.as_secs())
    }
}

/// The logins that ended on this instance or were announced by others (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct Revocations {
    inner: Mutex<Inner>,
    /// Where revocations made here are announced to the other instances, if anywhere.
    broadcast: Option<Arc<dyn Broadcast>>,
}

#[derive(Debug)]
struct Inner {
    logins: ExpiringMap<LoginKey, ()>,
    users: ExpiringMap<u64, u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl Revocations {
    /// How many ended logins (and as many users) are remembered by default: 100,000 each,
    /// about 10 MB at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty set remembering at most `capacity` logins and `capacity` users.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                logins: ExpiringMap::new(capacity, capacity.saturating_mul(64)),
                users: ExpiringMap::new(capacity, capacity.saturating_mul(64)),
            }),
            broadcast: None,
        }
    }

    /// Announces the revocations made here ([`Revocations::announce`]) on `broadcast`.
    pub fn with_broadcast(mut self, broadcast: Option<Arc<dyn Broadcast>>) -> Self {
        self.broadcast = broadcast;
        self
    }

    /// Tells the other instances of `revocation` (already applied here), if there is a
    /// broadcast: it matters until the sessions it names reach `lifetime`.
    pub async fn announce(&self, revocation: Revocation, lifetime: Duration, now: SystemTime) {
        if let Some(b) = &self.broadcast {
            b.publish(revocation, revocation.keep_for(lifetime, now)).await;
        }
    }

    /// Records `revocation` until the sessions it names would have reached `lifetime`
    /// (the absolute session lifetime). `now` and `mono` are the same moment on the wall and
    /// the monotonic clock.
    pub fn revoke(&self, revocation: Revocation, lifetime: Duration, now: SystemTime, mono: Instant) {
        let left = revocation.moot_after(lifetime).saturating_sub(unix_secs(now));
        if left == 0 {
            return;
        }
        let until = mono.checked_add(Duration::from_secs(left)).unwrap_or(mono);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match revocation {
            Revocation::Login(key) => {
                inner.logins.put(key, (), 1, until, mono);
            }
            Revocation::User { user_id, before } => {
                let before = inner
                    .users
                    .get(&user_id, mono)
                    .copied()
                    .map_or(before, |b| b.max(before));
                inner.users.put(user_id, before, 1, until, mono);
            }
        }
    }

    /// `true` if `auth`'s login has ended.
    pub fn is_revoked(&self, auth: &AuthSession, mono: Instant) -> bool {
        let key = login_key(auth);
        let (user, at, _) = key;
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.logins.contains(&key, mono) || inner.users.get(&user, mono).is_some_and(|b| at <= *b)
    }

    /// Makes a login that just happened not count as ended by a "log out of all devices" of
    /// the same second: its time is moved just past the latest such revocation this instance
    /// knows of (at most a second later than the real time; the session lifetime is not
    /// measurably affected). Call it on every new session before storing it.
    pub fn admit(&self, auth: &mut AuthSession, mono: Instant) {
        let (user, at, _) = login_key(auth);
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(before) = inner.users.get(&user, mono).copied()
            && at <= before
        {
            auth.authenticated_at = UNIX_EPOCH + Duration::from_secs(before.saturating_add(1));
        }
    }

    /// How many logins and users are remembered.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (inner.logins.len(), inner.users.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::User;

    fn auth(user: u64, at: u64) -> AuthSession {
        auth_id(user, at, 0)
    }

    fn auth_id(user: u64, at: u64, login_id: u64) -> AuthSession {
        let user: User = serde_json::from_value(serde_json::json!({"id": user.to_string(), "username": "u"})).unwrap();
        AuthSession {
            user,
            tokens: None,
            authenticated_at: UNIX_EPOCH + Duration::from_secs(at),
            login_id,
        }
    }

    #[test]
    fn logins_and_users_end_and_others_do_not() {
        let set = Revocations::default();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let mono = Instant::now();
        let life = Duration::from_secs(30 * 86_400);
        set.revoke(Revocation::of_login(&auth(1, 1_700_000_000)), life, now, mono);
        assert!(set.is_revoked(&auth(1, 1_700_000_000), mono));
        assert!(
            !set.is_revoked(&auth(1, 1_700_000_050), mono),
            "the same user's other login"
        );
        assert!(!set.is_revoked(&auth(2, 1_700_000_000), mono), "another user");
        set.revoke(Revocation::of_user(2, now), life, now, mono);
        assert!(set.is_revoked(&auth(2, 1_700_000_000), mono));
        assert!(set.is_revoked(&auth(2, 1_700_000_100), mono));
        assert!(!set.is_revoked(&auth(2, 1_700_000_101), mono), "a login after it");
        // An old revocation message does not shorten a newer one.
        set.revoke(
            Revocation::User {
                user_id: 2,
                before: 1_600_000_000,
            },
            life,
            now,
            mono,
        );
        assert!(set.is_revoked(&auth(2, 1_700_000_100), mono));
        // Past the lifetime the entry is moot and forgotten.
        assert!(!set.is_revoked(&auth(1, 1_700_000_000), mono + life));
    }

    #[test]
    fn a_login_right_after_logging_out_everywhere_is_not_ended_by_it() {
        let set = Revocations::default();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let mono = Instant::now();
        set.revoke(Revocation::of_user(1, now), Duration::from_secs(3600), now, mono);
        let mut fresh = auth(1, 1_700_000_100);
        assert!(set.is_revoked(&fresh, mono), "the same second is ambiguous");
        set.admit(&mut fresh, mono);
        assert!(!set.is_revoked(&fresh, mono));
        assert_eq!(login_key(&fresh).1, 1_700_000_101);
        let mut other = auth(2, 1_700_000_100);
        set.admit(&mut other, mono);
        assert_eq!(login_key(&other).1, 1_700_000_100, "other users are left alone");
    }

    #[test]
    fn bounded() {
        let set = Revocations::with_capacity(100);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for n in 0..1_000 {
            set.revoke(
                Revocation::Login((n, 1_700_000_000, 0)),
                Duration::from_secs(3600),
                now,
                Instant::now(),
            );
            set.revoke(
                Revocation::of_user(n, now),
                Duration::from_secs(3600),
                now,
                Instant::now(),
            );
            let (a, b) = set.len();
            assert!(a <= 100 && b <= 100);
        }
    }

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        for r in [Revocation::Login((1, 2, 3)), Revocation::of_user(3, UNIX_EPOCH)] {
            assert_eq!(Revocation::parse(&r.to_message()), Some(r));
        }
        for bad in [
            "",
            "login",
            "login:1",
            "login:1:2",
            "login:x:2:3",
            "who:1:2",
            "user:1:2:3",
            "login:1:2:3:4",
        ] {
            assert_eq!(Revocation::parse(bad), None, "{bad}");
        }
    }
}
