//! The implicit grant: the access token comes back in the URL fragment.
//!
//! Discord still offers it, so this crate can build and read it, but RFC 9700 §2.1.2 says
//! clients should not use it: the token is exposed to the browser, its history and any script
//! on the page, and there is no refresh token. The login layers of this project never use it;
//! prefer the authorization code grant with PKCE, which works for public clients too.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use discord_oauth_core::{CallbackError, Client, ClientId, RedirectUrl, Scope};
//! use rand::SeedableRng;
//!
//! let client = Client::new(
//!     ClientId::new("157730590492196864".into()),
//!     None,
//!     RedirectUrl::new("https://example.com/auth/callback".into())?,
//! );
//! let mut rng = rand::rngs::StdRng::seed_from_u64(3); // in production: rand::rng()
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let (url, pending) = client.implicit_authorize([Scope::Identify], &mut rng, now)?;
//! assert!(url.as_str().contains("response_type=token"));
//!
//! // The browser comes back to https://example.com/auth/callback#access_token=…; the page's
//! // script hands the fragment over.
//! let fragment = format!(
//!     "#access_token=6qrZcUqja7812RVdnEKjpzOL4CvHBFG&token_type=Bearer&expires_in=604800&scope=identify&state={}",
//!     pending.state().secret(),
//! );
//! let tokens = pending.parse_fragment(&fragment, now + Duration::from_secs(10))?;
//! assert!(tokens.refresh_token.is_none()); // the implicit grant has none
//!
//! // A fragment with another state is refused.
//! let (_url, pending) = client.implicit_authorize([Scope::Identify], &mut rng, now)?;
//! let forged = pending.parse_fragment("access_token=x&token_type=Bearer&state=forged", now);
//! assert!(matches!(forged, Err(CallbackError::StateMismatch)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, SystemTime};

use oauth2::{AccessToken, CsrfToken};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use url::{Url, form_urlencoded};

use crate::authorize::{DEFAULT_AUTHORIZATION_TTL, Query, constant_time_eq, random_token};
use crate::callback::{CallbackError, MAX_CALLBACK_QUERY_BYTES};
use crate::token::{DEFAULT_TOKEN_LIFETIME, TokenSet};
use crate::{Client, ConfigError, Scopes, unix_time};

/// A pending implicit grant: the `state` to check when the fragment comes back.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingImplicit {
    state: CsrfToken,
    scopes: Scopes,
    #[serde(with = "unix_time")]
    expires_at: SystemTime,
}

impl Client {
    /// Builds an implicit grant URL (`response_type=token`). See the [module docs](crate::implicit)
    /// for why you should prefer [`Client::authorize`].
    ///
    /// Refuses `role_connections.write`, which Discord does not allow in the implicit grant.
    pub fn implicit_authorize(
        &self,
        scopes: impl Into<Scopes>,
        rng: &mut impl CryptoRng,
        now: SystemTime,
    ) -> Result<(Url, PendingImplicit), ConfigError> {
        let scopes = scopes.into();
        let redirect_uri = self.redirect_uri.as_ref().ok_or(ConfigError::MissingRedirectUri)?;
        if scopes.is_empty() {
            return Err(ConfigError::NoScopes);
        }
        if let Some(s) = scopes.iter().find(|s| !s.allowed_in_implicit_grant()) {
            return Err(ConfigError::ScopeNotAllowed {
                scope: s.to_string(),
                reason: "Discord does not allow it in the implicit grant",
            });
        }
        let state = CsrfToken::new(random_token(rng));
        let mut url = self.endpoints.authorize.clone();
        let mut q = Query::after(url.query());
        q.pair("response_type", "token");
        q.pair("client_id", self.client_id.as_str());
        q.pair("scope", &scopes.to_string());
        q.pair("state", state.secret());
        q.pair("redirect_uri", redirect_uri.as_str());
        q.set_on(&mut url);
        let pending = PendingImplicit {
            state,
            scopes,
            expires_at: now.checked_add(DEFAULT_AUTHORIZATION_TTL).unwrap_or(now),
        };
        Ok((url, pending))
    }
}

impl PendingImplicit {
    /// The `state` sent with the request.
    pub fn state(&self) -> &CsrfToken {
        &self.state
    }

    /// Reads the redirect's fragment (everything after `#`, with or without the `#`):
    /// `access_token`, `token_type`, `expires_in`, `scope`, `state`, or `error`. The state is
    /// checked in constant time; repeated parameters are rejected.
    pub fn parse_fragment(self, fragment: &str, now: SystemTime) -> Result<TokenSet, CallbackError> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let f = parse_fragment_params(fragment)?;
        let state = f
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        if !constant_time_eq(self.state.secret(), state) {
            return Err(CallbackError::StateMismatch);
        }
        if now > self.expires_at {
            return Err(CallbackError::Expired);
        }
        if let Some(error) = f.error {
            return Err(CallbackError::from_provider(error, f.error_description));
        }
        let access = f
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(CallbackError::Malformed("no access_token"))?;
        if let Some(tt) = &f.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(CallbackError::Malformed("token_type is not Bearer"));
        }
        let lifetime = match f.expires_in {
            Some(e) => Duration::from_secs(
                e.trim()
                    .parse()
                    .map_err(|_| CallbackError::Malformed("expires_in is not a number"))?,
            ),
            None => DEFAULT_TOKEN_LIFETIME,
        };
        Ok(TokenSet {
            access_token: AccessToken::new(access),
            refresh_token: None,
            expires_at: now.checked_add(lifetime).unwrap_or(now),
            scopes: f.scope.map_or(self.scopes, |s| Scopes::parse(&s)),
            guild: None,
            webhook: None,
            id_token: None,
        })
    }
}

/// The parameters of an implicit-grant redirect fragment.
#[derive(Default)]
struct FragmentParams {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn parse_fragment_params(fragment: &str) -> Result<FragmentParams, CallbackError> {
    if fragment.len() > MAX_CALLBACK_QUERY_BYTES {
        return Err(CallbackError::TooLarge);
    }
    let mut f = FragmentParams::default();
    for (k, v) in form_urlencoded::parse(fragment.as_bytes()) {
        let (slot, name) = match k.as_ref() {
            "access_token" => (&mut f.access_token, "access_token"),
            "token_type" => (&mut f.token_type, "token_type"),
            "expires_in" => (&mut f.expires_in, "expires_in"),
            "scope" => (&mut f.scope, "scope"),
            "state" => (&mut f.state, "state"),
            "error" => (&mut f.error, "error"),
            "error_description" => (&mut f.error_description, "error_description"),
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::DuplicateParameter(name));
        }
        *slot = Some(v.into_owned());
    }
    if f.access_token.is_some() && f.error.is_some() {
        return Err(CallbackError::Malformed("both `access_token` and `error` are present"));
    }
    Ok(f)
}
