//! The anonymous side of the fast path: a request without a session cookie skips the session
//! layer (tower-sessions and tower-cookies) and still gives its handler a working
//! `tower_sessions::Session`.
//!
//! The handler's `Session` has no id and keeps what it is given in memory, as the session
//! layer's would. Only if the handler changed it (and did not answer `5xx`, as the session
//! layer has it) is it saved, in two steps:
//! 1. into [`Capture`], a store that only holds the record until this request takes it back
//!    (at most [`CAPTURE_CAPACITY`] records, for the saves in flight at one time);
//! 2. through the application's own session layer, around [`SessionCopy`], with a request made
//!    for it: the layer starts a session, [`SessionCopy`] copies the record into it, and the
//!    layer saves it in the real store and sends its cookie, with every setting the
//!    application gave it (name, attributes, signed or private). Its `Set-Cookie` goes onto
//!    the handler's answer.
//!
//! A store failure there answers `503` (as a failed save on the authenticated fast path does),
//! never the handler's answer without its session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use async_trait::async_trait;
use http::header::SET_COOKIE;
use http::{HeaderValue, Request, Response};
use tower::{Service, ServiceExt as _};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session};

/// Most records the anonymous path's capture store holds at once: sessions that anonymous
/// visitors' handlers started, between their save and their copy into the session layer (the
/// same request, a moment later). A save beyond it fails, and that request is answered `503`.
pub const CAPTURE_CAPACITY: usize = 1024;

/// A session store that holds each saved record until [`Capture::take`]: where the anonymous
/// path's handler sessions are saved first (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct Capture(Mutex<HashMap<Id, Record>>);

impl Capture {
    /// The record last saved under `id`, removed.
    fn take(&self, id: Id) -> Option<Record> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&id)
    }
}

#[async_trait]
impl SessionStore for Capture {
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if held.len() >= CAPTURE_CAPACITY && !held.contains_key(&record.id) {
            return Err(session_store::Error::Backend(
                "too many anonymous sessions being saved at once".to_owned(),
            ));
        }
        held.insert(record.id, record.clone());
        Ok(())
    }

    async fn load(&self, _: &Id) -> session_store::Result<Option<Record>> {
        // The handler's session has no id until it is saved, and is never loaded.
        Ok(None)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.take(*id);
        Ok(())
    }
}

/// What a handler put into a new session, on its way into the session layer's: its data, and
/// its expiry if the handler set one (else the session layer's applies).
#[derive(Clone, Debug)]
struct Copied {
    data: HashMap<String, serde_json::Value>,
    expiry: SetExpiry,
}

/// The expiry of a session a handler started.
#[derive(Clone, Copy, Debug)]
enum SetExpiry {
    /// Left as it was: the session layer's applies.
    Unchanged,
    /// Set by the handler (`None`: a browser-session cookie).
    To(Option<Expiry>),
}

/// The service the application's session layer is put around to save a session that an
/// anonymous visitor's handler started (see [`crate::fast`]): it copies what the handler put
/// into its session into the session layer's, which then saves it and sends its cookie.
/// [`crate::FastPathLayer`] builds it; nothing else needs to.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionCopy;

impl Service<Request<()>> for SessionCopy {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<()>) -> Self::Future {
        let session = req.extensions().get::<Session>().cloned();
        let copied = req.extensions_mut().remove::<Copied>();
        Box::pin(async move {
            let (Some(session), Some(copied)) = (session, copied) else {
                return Ok(unsaved("SessionCopy runs inside a session layer"));
            };
            if let SetExpiry::To(expiry) = copied.expiry {
                session.set_expiry(expiry);
            }
            for (key, value) in copied.data {
                if let Err(e) = session.insert_value(&key, value).await {
                    tracing::error!(error = %e, "session store failed");
                    return Ok(unsaved("the session could not be copied"));
                }
            }
            Ok(Response::new(String::new()))
        })
    }
}

/// `500` from [`SessionCopy`]: nothing to save.
fn unsaved(reason: &str) -> Response<String> {
    let mut response = Response::new(reason.to_owned());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// The session layer around [`SessionCopy`], called once per session to save.
type Write = dyn Fn(Request<()>) -> Pin<Box<dyn Future<Output = Response<String>> + Send>> + Send + Sync;

/// The anonymous path's sessions: the [`Capture`] store the handlers' sessions save into, and
/// the application's session layer around [`SessionCopy`].
pub(crate) struct Anonymous {
    capture: Arc<Capture>,
    expiry: Option<Expiry>,
    write: Box<Write>,
}

impl fmt::Debug for Anonymous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anonymous")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl Anonymous {
    /// `writer`: the application's session layer around [`SessionCopy`]; `expiry`: the
    /// handlers' sessions' (the session layer's).
    pub(crate) fn new<W>(writer: W, expiry: Option<Expiry>) -> Self
    where
        W: Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone + Send + Sync + 'static,
        W::Future: Send + 'static,
    {
        let write = move |req: Request<()>| -> Pin<Box<dyn Future<Output = Response<String>> + Send>> {
            let writer = writer.clone();
            Box::pin(async move {
                match writer.oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
        };
        Self {
            capture: Arc::new(Capture::default()),
            expiry,
            write: Box::new(write),
        }
    }

    /// The handler's session for an anonymous request: empty, kept in memory until saved. Its
    /// expiry reads as [`crate::session_layer`]'s default; one the handler sets is kept.
    pub(crate) fn session(&self) -> Session {
        Session::new(None, Arc::clone(&self.capture), self.expiry)
    }

    /// Saves what the handler put into `session` through the session layer: the `Set-Cookie`
    /// values to send (none if there was nothing to save), or `Err` if the store failed.
    pub(crate) async fn save(&self, session: &Session) -> Result<Vec<HeaderValue>, ()> {
        if let Err(e) = session.save().await {
            tracing::error!(error = %e, "session store failed");
            return Err(());
        }
        let Some(record) = session.id().and_then(|id| self.capture.take(id)) else {
            return Ok(Vec::new());
        };
        let mut req = Request::new(());
        req.extensions_mut().insert(Copied {
            data: record.data,
            expiry: if session.expiry() == self.expiry {
                SetExpiry::Unchanged
            } else {
                SetExpiry::To(session.expiry())
            },
        });
        let response = (self.write)(req).await;
        if response.status().is_server_error() {
            return Err(());
        }
        Ok(response.headers().get_all(SET_COOKIE).iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_capture_store_holds_a_record_until_it_is_taken_and_is_bounded() {
        let capture = Capture::default();
        let mut record = Record {
            id: Id::default(),
            data: HashMap::from([("cart".to_owned(), serde_json::json!([1, 2]))]),
            expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc(),
        };
        capture.create(&mut record).await.unwrap();
        assert!(capture.load(&record.id).await.unwrap().is_none(), "never loaded");
        assert_eq!(capture.take(record.id).unwrap().data["cart"], serde_json::json!([1, 2]));
        assert!(capture.take(record.id).is_none(), "taken once");
        for n in 0..CAPTURE_CAPACITY {
            let mut r = record.clone();
            r.id = Id(n as i128 + 1);
            capture.save(&r).await.unwrap();
        }
        record.id = Id(-1);
        assert!(capture.save(&record).await.is_err(), "bounded");
        capture.delete(&Id(1)).await.unwrap();
        capture.save(&record).await.unwrap();
    }
}
