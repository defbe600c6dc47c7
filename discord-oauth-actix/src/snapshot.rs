//! A request's session as the middleware loaded it ([`Snapshot`]: the login's keys apart from
//! the application's) and the login's part of it that the driver reads and writes during the
//! request ([`LoginPart`]); what changed, and so what to write ([`Change`]). Plain data: this
//! module reads no other of the crate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use actix_session::{Session, SessionExt as _, SessionStatus};
use actix_web::dev::ServiceRequest;
use discord_oauth_core::login::driver::{AUTH_KEY, SEEN_KEY};
use serde_json::value::RawValue;

/// A session as loaded: its key in the store (if the cookie named a session the store has),
/// the login's keys ([`AUTH_KEY`], [`SEEN_KEY`]) and the application's (JSON per key, as
/// actix-session writes them).
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) key: Option<String>,
    pub(crate) login: HashMap<String, String>,
    pub(crate) app: Vec<(String, Box<RawValue>)>,
}

/// How a request's session is written.
pub(crate) enum Change {
    /// New content: written under the same key, or under a new one (`renew`).
    Write { renew: bool },
    /// Purged or emptied: deleted, with its cookie.
    Purge,
}

impl Snapshot {
    /// A loaded state; application values that are not JSON (not written through
    /// actix-session) are dropped.
    pub(crate) fn new(key: String, state: HashMap<String, String>) -> Self {
        let (login, app): (HashMap<_, _>, HashMap<_, _>) =
            state.into_iter().partition(|(k, _)| k == AUTH_KEY || k == SEEN_KEY);
        let app = app
            .into_iter()
            .filter_map(|(k, v)| RawValue::from_string(v).ok().map(|raw| (k, raw)))
            .collect();
        Self {
            key: Some(key),
            login,
            app,
        }
    }

    /// Puts the application's keys into the request's (empty) `Session`.
    pub(crate) fn fill(&self, req: &ServiceRequest) {
        if self.app.is_empty() {
            return;
        }
        let session = req.get_session();
        for (key, value) in &self.app {
            // Serializing a `RawValue` copies its text: this cannot fail.
            let _ = session.insert(key.clone(), value.as_ref());
        }
    }

    /// What the request did to the session — the application's `session` (filled by
    /// [`Snapshot::fill`]) and the driver's `login` — and the state to write, if anything.
    pub(crate) fn change(
        &self,
        session: &Session,
        login: Option<&LoginPart>,
    ) -> Option<(Change, HashMap<String, String>)> {
        let status = session.status();
        if status == SessionStatus::Purged || login.is_some_and(|l| l.purged.load(Relaxed)) {
            return Some((Change::Purge, HashMap::new()));
        }
        let renew = status == SessionStatus::Renewed || login.is_some_and(|l| l.renewed.load(Relaxed));
        let app_changed = status != SessionStatus::Unchanged && {
            let entries = session.entries();
            entries.len() != self.app.len()
                || !self
                    .app
                    .iter()
                    .all(|(k, v)| entries.get(k).is_some_and(|now| now == v.get()))
        };
        if !renew && !app_changed && !login.is_some_and(|l| l.changed.load(Relaxed)) {
            return None;
        }
        let mut state = session.entries().clone();
        match login {
            Some(login) => state.extend(login.state().clone()),
            None => state.extend(self.login.clone()),
        }
        Some((
            if state.is_empty() {
                Change::Purge
            } else {
                Change::Write { renew }
            },
            state,
        ))
    }
}

/// The login's part of a session, beside the application's `actix_session::Session`: what the
/// login driver reads and writes (through [`crate::routes::ActixSession`]) during a request,
/// in the request extensions. `Send`, so that a [`crate::DiscordClient`] refreshing after a
/// `401` can write it from the handler's future.
#[derive(Debug, Default)]
pub(crate) struct LoginPart {
    state: Mutex<HashMap<String, String>>,
    pub(crate) changed: AtomicBool,
    pub(crate) renewed: AtomicBool,
    pub(crate) purged: AtomicBool,
}

impl LoginPart {
    pub(crate) fn new(state: &HashMap<String, String>) -> Self {
        Self {
            state: Mutex::new(state.clone()),
            ..Self::default()
        }
    }

    /// The login's keys as they stand.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_told_apart() {
        let state = HashMap::from([
            (AUTH_KEY.to_owned(), "{}".to_owned()),
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "x".to_owned()),
        ]);
        let snapshot = Snapshot::new("k".to_owned(), state);
        assert_eq!(snapshot.app.len(), 1, "values that are not JSON are dropped");
        assert_eq!(snapshot.login.len(), 1, "the login is kept apart");
        let run = |login: Option<&LoginPart>, f: &dyn Fn(&Session)| {
            let req = actix_web::test::TestRequest::default().to_srv_request();
            snapshot.fill(&req);
            let session = req.get_session();
            assert!(
                !session.contains_key(AUTH_KEY),
                "handlers see only the application's keys"
            );
            f(&session);
            snapshot.change(&session, login)
        };
        let fresh = |f: &dyn Fn(&Session)| run(None, f);
        assert!(fresh(&|_| {}).is_none(), "filled, untouched");
        assert!(fresh(&|s| s.insert("a", 1).unwrap()).is_none(), "the same value again");
        let Some((Change::Write { renew: false }, written)) = fresh(&|s| s.insert("a", 2).unwrap()) else {
            panic!("a change is written");
        };
        assert_eq!(written[AUTH_KEY], "{}", "with the login");
        assert_eq!(written["a"], "2");
        assert!(matches!(
            fresh(&Session::renew),
            Some((Change::Write { renew: true }, _))
        ));
        assert!(matches!(fresh(&Session::purge), Some((Change::Purge, _))));
        let Some((Change::Write { .. }, written)) = fresh(&Session::clear) else {
            panic!("clearing the application's keys keeps the login");
        };
        assert_eq!(written.len(), 1);

        let login = LoginPart::new(&snapshot.login);
        login.purged.store(true, Relaxed);
        assert!(
            matches!(run(Some(&login), &|_| {}), Some((Change::Purge, _))),
            "logged out"
        );
        let login = LoginPart::new(&snapshot.login);
        login.renewed.store(true, Relaxed);
        assert!(matches!(
            run(Some(&login), &|_| {}),
            Some((Change::Write { renew: true }, _))
        ));
        let login = LoginPart::new(&HashMap::new());
        login.changed.store(true, Relaxed);
        assert!(
            matches!(run(Some(&login), &Session::clear), Some((Change::Purge, _))),
            "nothing left: deleted"
        );
        let empty = Snapshot::default();
        let req = actix_web::test::TestRequest::default().to_srv_request();
        assert!(empty.change(&req.get_session(), None).is_none(), "nothing to write");
    }
}
