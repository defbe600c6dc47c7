//! The anonymous side of the fast path: a request without a session cookie skips the session
//! layer (tower-sessions and tower-cookies) and still gives its handler a working
//! `tower_sessions::Session`.
//!
//! The handler's `Session` has no id and keeps what it is given in memory, as the session
//! layer's would. Only if the handler changed it (and did not answer `5xx`, as the session
//! layer has it) is it saved, in two steps:
//! 1. into [`Capture`], this request's own store, which only holds the record until the
//!    request takes it back (and goes with the request: nothing outlives it);
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

/// The store of one anonymous request's handler session: holds the record it is saved with
/// until [`Capture::take`] (see the [module docs](self)). One per request, so that nothing a
/// request leaves behind (a handler that saved and then failed, a dropped connection) can
/// outlive it.
#[derive(Debug, Default)]
pub(crate) struct Capture(Mutex<Option<Record>>);

impl Capture {
    /// The record last saved, removed.
    fn take(&self) -> Option<Record> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[async_trait]
impl SessionStore for Capture {
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(record.clone());
        Ok(())
    }

    async fn load(&self, _: &Id) -> session_store::Result<Option<Record>> {
        // The handler's session has no id until it is saved, and is never loaded.
        Ok(None)
    }

    async fn delete(&self, _: &Id) -> session_store::Result<()> {
        self.take();
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

/// The anonymous path's sessions: their expiry, and the application's session layer around
/// [`SessionCopy`].
pub(crate) struct Anonymous {
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
            expiry,
            write: Box::new(write),
        }
    }

    /// The handler's session for an anonymous request, empty, with the request's own store:
    /// kept in memory until saved. Its expiry reads as [`crate::session_layer`]'s default; one
    /// the handler sets is kept.
    pub(crate) fn session(&self) -> (Session, Arc<Capture>) {
        let capture = Arc::new(Capture::default());
        (Session::new(None, Arc::clone(&capture), self.expiry), capture)
    }

    /// Saves what the handler put into `session` (whose store is `capture`) through the
    /// session layer: the `Set-Cookie` values to send (none if there was nothing to save), or
    /// `Err` if the store failed.
    pub(crate) async fn save(&self, session: &Session, capture: &Capture) -> Result<Vec<HeaderValue>, ()> {
        if let Err(e) = session.save().await {
            tracing::error!(error = %e, "session store failed");
            return Err(());
        }
        let Some(record) = capture.take() else {
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
    async fn the_capture_store_holds_the_last_record_until_it_is_taken() {
        let capture = Capture::default();
        let mut record = Record {
            id: Id::default(),
            data: HashMap::from([("cart".to_owned(), serde_json::json!([1, 2]))]),
            expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc(),
        };
        capture.create(&mut record).await.unwrap();
        assert!(capture.load(&record.id).await.unwrap().is_none(), "never loaded");
        record.data.insert("more".to_owned(), serde_json::json!(true));
        capture.save(&record).await.unwrap();
        let taken = capture.take().unwrap();
        assert_eq!(taken.data["cart"], serde_json::json!([1, 2]));
        assert_eq!(taken.data["more"], serde_json::json!(true), "the last save");
        assert!(capture.take().is_none(), "taken once");
        capture.save(&record).await.unwrap();
        capture.delete(&record.id).await.unwrap();
        assert!(capture.take().is_none(), "deleted");
    }
}
