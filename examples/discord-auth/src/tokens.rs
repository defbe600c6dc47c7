//! A valid access token for a connection, refreshing it first when it is expired or close to
//! it — once, however many processes ask at the same time.
//!
//! Discord rotates refresh tokens: a refresh returns a new one and the old one stops working.
//! Two processes refreshing with the same stored refresh token would therefore make one of
//! them fail and could lose the grant. So a refresh happens only while holding the
//! connection's file lock, and the vault is read again once the lock is held: a process that
//! waited finds the tokens another one just stored and uses them. The new tokens are written
//! (atomically) before anything uses them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::connection::{Connection, REFRESH_MARGIN};
use crate::error::{Error, Result};
use crate::transport::Http;
use crate::vault::Vault;

/// Why a connection was (or was not) refreshed; for messages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The stored access token was valid.
    Stored,
    /// This process refreshed it.
    Refreshed,
    /// Another process refreshed it while this one waited for the lock.
    RefreshedElsewhere,
    /// The refresh failed for a transient reason and the old token, still valid, was kept.
    KeptAfterTransientFailure,
}

/// Loads the connection and makes sure its access token is valid for at least
/// [`REFRESH_MARGIN`] (or `min_validity`, if larger).
pub async fn fresh_connection(
    vault: &Arc<Vault>,
    name: &str,
    http: &Http,
    min_validity: Duration,
) -> Result<(Connection, Freshness)> {
    let margin = min_validity.max(REFRESH_MARGIN);
    let connection = vault.load(name)?.ok_or_else(|| Error::NotLoggedIn(name.to_owned()))?;
    if !connection.tokens.expires_within(SystemTime::now(), margin) {
        return Ok((connection, Freshness::Stored));
    }
    refresh_locked(vault, name, http, margin, Some(&connection)).await
}

/// Refreshes under the connection's lock unless another process already did. `seen` is the
/// connection as read before taking the lock (a different access token after it means another
/// process refreshed).
pub async fn refresh_locked(
    vault: &Arc<Vault>,
    name: &str,
    http: &Http,
    margin: Duration,
    seen: Option<&Connection>,
) -> Result<(Connection, Freshness)> {
    let lock = {
        let vault = Arc::clone(vault);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || vault.lock(&name))
            .await
            .map_err(|e| Error::Usage(format!("lock task failed: {e}")))??
    };
    let connection = vault.load(name)?.ok_or_else(|| Error::NotLoggedIn(name.to_owned()))?;
    let changed = seen.is_some_and(|s| s.tokens.access_token.secret() != connection.tokens.access_token.secret());
    let now = SystemTime::now();
    if !connection.tokens.expires_within(now, margin) {
        let how = if changed {
            Freshness::RefreshedElsewhere
        } else {
            Freshness::Stored
        };
        return Ok((connection, how));
    }
    let result = refresh(vault, name, http, connection).await;
    drop(lock);
    result
}

async fn refresh(
    vault: &Vault,
    name: &str,
    http: &Http,
    mut connection: Connection,
) -> Result<(Connection, Freshness)> {
    let client = connection.client()?;
    if connection.tokens.refresh_token.is_none() {
        return Err(Error::GrantGone(name.to_owned()));
    }
    let exchange = client
        .refresh(connection.tokens.clone())
        .map_err(|e| Error::Discord(e.to_string()))?;
    let now = SystemTime::now();
    let outcome = match http.send(exchange.request()).await {
        Ok(response) => exchange.finish(response, now).map_err(|e| {
            if e.is_invalid_grant() {
                Error::GrantGone(name.to_owned())
            } else if e.is_transient() {
                Error::Discord(format!("the refresh failed for now: {e}"))
            } else {
                Error::Discord(format!("the refresh failed: {e}"))
            }
        }),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(tokens) => {
            connection.tokens = tokens;
            // Persist the rotated refresh token before anything uses the new access token.
            vault.store(name, &connection)?;
            Ok((connection, Freshness::Refreshed))
        }
        Err(Error::GrantGone(n)) => Err(Error::GrantGone(n)),
        Err(e) => {
            if connection.tokens.expires_within(SystemTime::now(), Duration::ZERO) {
                Err(e)
            } else {
                Ok((connection, Freshness::KeptAfterTransientFailure))
            }
        }
    }
}
