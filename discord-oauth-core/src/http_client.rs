//! The IO-free half of an HTTP client adapter: the settings every integration's default client
//! uses, and the body cap applied while reading. The adapters (`discord-oauth-tower`,
//! `discord-oauth-actix`) do the IO; this module keeps them identical.
//!
//! Defaults, and why:
//! - no redirects: a token endpoint that redirects is an error (checklist C-03); the adapters
//!   configure their client with redirects off;
//! - [`CONNECT_TIMEOUT`] 5 s, [`TOTAL_TIMEOUT`] 15 s: a hung Discord costs a request at most this
//!   long (the integrations add a shorter per-request limit of their own, 10 s by default);
//! - bodies capped at [`MAX_BODY_BYTES`] while reading ([`CappedBody`]), so an oversized answer
//!   is never fully buffered.

use std::time::Duration;

pub use crate::response::MAX_BODY_BYTES;

/// The `User-Agent` of the default clients, as Discord asks API clients to send.
pub const USER_AGENT: &str = concat!(
    "discord-oauth (https://github.com/discord-oauth/discord-oauth, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Connect timeout of the default clients.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Total timeout of the default clients.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);

/// A response body read chunk by chunk, up to [`MAX_BODY_BYTES`] plus one byte (so the parser
/// sees an oversized body and reports it, without the rest being buffered).
///
/// ```
/// use discord_oauth_core::http_client::{CappedBody, MAX_BODY_BYTES};
/// let mut body = CappedBody::default();
/// assert!(body.push(b"{}"), "keep reading");
/// assert!(!body.push(&vec![0; MAX_BODY_BYTES]), "stop: over the cap");
/// assert_eq!(body.into_inner().len(), MAX_BODY_BYTES + 1);
/// ```
#[derive(Debug, Default)]
pub struct CappedBody(Vec<u8>);

impl CappedBody {
    /// Appends a chunk; `false` once the cap is exceeded (stop reading).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        if self.0.len() + chunk.len() > MAX_BODY_BYTES {
            let room = (MAX_BODY_BYTES + 1).saturating_sub(self.0.len()).min(chunk.len());
            self.0.extend_from_slice(&chunk[..room]);
            return false;
        }
        self.0.extend_from_slice(chunk);
        true
    }

    /// The bytes read.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

/// Checks a response a transport produced (when it could not cap while reading): `Err` with
/// a log message if its body is over [`MAX_BODY_BYTES`].
pub fn check_body_size(response: &http::Response<Vec<u8>>) -> Result<(), String> {
    if response.body().len() > MAX_BODY_BYTES {
        Err(format!("response body over {MAX_BODY_BYTES} bytes"))
    } else {
        Ok(())
    }
}
