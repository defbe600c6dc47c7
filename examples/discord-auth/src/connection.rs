//! What the vault keeps for one connection, and how a command turns it into a core client.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use discord_oauth_core::{Client, ClientId, ClientSecret, Endpoints, RedirectUrl, Scope, TokenSet};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// A refresh is due when the access token expires within this margin: a script that just got
/// a token can still use it for a few minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The Discord user a connection belongs to (from `/users/@me`, with the `identify` scope).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredUser {
    /// The user's snowflake id.
    pub id: String,
    /// The username.
    pub username: String,
    /// The display name, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_name: Option<String>,
}

/// One stored login: the application it was made with, Discord's endpoints, the tokens and the
/// user. Only ever written to disk sealed (see [`crate::vault`]). `Debug` redacts the secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    /// The application's client id.
    pub client_id: String,
    /// The client secret, if the login was made as a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// The authorization page used for the login.
    pub authorize_url: Url,
    /// The API base the tokens belong to (refresh, revoke and the `run` proxy use it).
    pub api_base: Url,
    /// The redirect URI of the login.
    pub redirect_uri: String,
    /// The tokens (the refresh token rotates on every refresh).
    pub tokens: TokenSet,
    /// The user, when the `identify` scope was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<StoredUser>,
    /// When the login completed, in seconds since the Unix epoch.
    pub logged_in_at: u64,
}

/// The state of a connection as `status` and `list` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The access token is valid.
    Connected,
    /// The access token has expired (the next `token` or `run` refreshes it if it can).
    Expired,
    /// There is no such connection.
    NotLoggedIn,
}

impl State {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connected => "connected",
            State::Expired => "expired",
            State::NotLoggedIn => "not logged in",
        }
    }
}

impl Connection {
    /// The core client for refresh and revoke.
    pub fn client(&self) -> Result<Client> {
        let endpoints = Endpoints::new(self.authorize_url.clone(), self.api_base.clone())
            .map_err(|e| Error::Usage(format!("stored endpoints are invalid: {e}")))?;
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| Error::Usage(format!("stored redirect URI is invalid: {e}")))?;
        Ok(Client::new(
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone(),
            redirect,
        )
        .with_endpoints(endpoints))
    }

    /// Connected or expired, at `now`.
    pub fn state(&self, now: SystemTime) -> State {
        if self.tokens.expires_within(now, Duration::ZERO) {
            State::Expired
        } else {
            State::Connected
        }
    }

    /// The granted scopes, as Discord spells them.
    pub fn scope_names(&self) -> Vec<String> {
        self.tokens.scopes.iter().map(Scope::to_string).collect()
    }

    /// The access token's expiry in seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> u64 {
        unix_seconds(self.tokens.expires_at)
    }
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 3339 in UTC, e.g. `2026-05-01T12:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let at = time::OffsetDateTime::from(t);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{}", unix_seconds(t)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use discord_oauth_core::Scopes;

    use super::*;

    #[test]
    fn e02_debug_output_redacts_every_secret() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tokens = TokenSet::parse(
            br#"{"access_token":"access-secret-1","token_type":"Bearer","expires_in":600,
                 "refresh_token":"refresh-secret-2","scope":"identify guilds"}"#,
            &Scopes::new(),
            now,
        )
        .unwrap();
        let connection = Connection {
            client_id: "1100000000000000001".into(),
            client_secret: Some(ClientSecret::new("client-secret-3".into())),
            authorize_url: "https://discord.com/oauth2/authorize".parse().unwrap(),
            api_base: "https://discord.com/api/v10".parse().unwrap(),
            redirect_uri: "http://127.0.0.1:53134/callback".into(),
            tokens,
            user: None,
            logged_in_at: 0,
        };
        let debug = format!("{connection:?}");
        for secret in ["access-secret-1", "refresh-secret-2", "client-secret-3"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert_eq!(connection.state(now), State::Connected);
        assert_eq!(connection.state(now + Duration::from_secs(600)), State::Expired);
        assert_eq!(connection.scope_names(), ["identify", "guilds"]);
        assert_eq!(rfc3339(now), "2027-01-15T08:00:00Z");
    }
}
