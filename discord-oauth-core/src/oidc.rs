//! OpenID Connect: the `id_token` Discord returns when the `openid` scope is granted, its
//! claims and their validation, plus the types of `/oauth2/userinfo` and `/oauth2/keys`
//! (the calls are [`crate::api::userinfo`] and [`crate::api::keys`]).
//!
//! # Signatures
//!
//! OpenID Connect Core 1.0 §3.1.3.7 (step 6) lets a client that receives the ID token
//! *directly from the token endpoint over TLS* use the TLS server validation instead of
//! checking the token's signature. That is how the authorization code flow of this crate
//! receives it, so [`IdToken::validate`] checks the claims (issuer, audience, expiry,
//! issue time, nonce) but not the signature.
//!
//! An ID token that reached you any other way (from a browser, another service, a cache you
//! do not trust) must have its signature checked: enable this crate's `jwt-verify` feature
//! and use `IdToken::verify` with the keys from [`crate::api::keys`]. The feature pulls in
//! `jsonwebtoken` (with its pure-Rust `rust_crypto` backend), which is why it is off by
//! default.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::{AccessToken, ClientId};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The largest ID token this module will decode (16 KiB). Discord's are well under 2 KiB.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// A raw OpenID Connect ID token (a compact JWS), as found in a token response.
///
/// `Debug` does not show it: it identifies the user and may carry their email.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use base64::Engine as _;
/// use discord_oauth_core::{ClientId, oidc::{IdToken, IdTokenError}};
///
/// # let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
/// # let raw = format!("{}.{}.sig", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(r#"{
/// #   "iss":"https://discord.com","sub":"80351110224678912","aud":"157730590492196864",
/// #   "exp":1700000600,"iat":1700000000,"nonce":"n-0S6_WzA2Mj","email":"nelly@discord.com",
/// #   "email_verified":true}"#));
/// let token = IdToken::new(raw); // from TokenSet::id_token
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
/// let client_id = ClientId::new("157730590492196864".into());
/// let claims = token
///     .validate(&client_id, "https://discord.com", now, Some("n-0S6_WzA2Mj"), Duration::from_secs(60))
///     .unwrap();
/// assert_eq!(claims.sub, "80351110224678912");
/// assert_eq!(claims.email.as_deref(), Some("nelly@discord.com"));
///
/// let later = UNIX_EPOCH + Duration::from_secs(1_700_001_000);
/// let err = token.validate(&client_id, "https://discord.com", later, None, Duration::ZERO);
/// assert!(matches!(err, Err(IdTokenError::Expired { .. })));
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a compact JWS string.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The raw compact JWS.
    ///
    /// # Security
    /// Do not log this value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits the token into its three base64url parts.
    fn parts(&self) -> Result<[&str; 3], IdTokenError> {
        if self.0.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::TooLarge {
                size: self.0.len(),
                limit: MAX_ID_TOKEN_BYTES,
            });
        }
        let mut it = self.0.split('.');
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok([h, p, s]),
            _ => Err(IdTokenError::Malformed("not a compact JWS (three dot-separated parts)")),
        }
    }

    /// Decodes the JOSE header without checking anything.
    pub fn header_unverified(&self) -> Result<IdTokenHeader, IdTokenError> {
        let [header, _, _] = self.parts()?;
        let bytes = b64_decode(header).ok_or(IdTokenError::Malformed("the header is not base64url"))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| IdTokenError::Malformed("the header is not a JSON object with `alg`"))
    }

    /// Decodes the claims **without checking the signature or any claim**.
    ///
    /// Use [`IdToken::validate`] (or, with the `jwt-verify` feature, `IdToken::verify`) to
    /// decide whether to trust them. Never panics, whatever the token contains.
    pub fn claims_unverified(&self) -> Result<IdTokenClaims, IdTokenError> {
        let [_, payload, _] = self.parts()?;
        let bytes = b64_decode(payload).ok_or(IdTokenError::Malformed("the payload is not base64url"))?;
        let raw: RawClaims = serde_json::from_slice(&bytes)
            .map_err(|_| IdTokenError::Malformed("the payload is not a JSON object of claims"))?;
        raw.into_claims()
    }

    /// Decodes the claims and checks them as OpenID Connect Core §3.1.3.7 requires, except
    /// the signature (see the [module docs](self) for when that is allowed):
    ///
    /// - `iss` equals `issuer` exactly (Discord: [`crate::DISCORD_ISSUER`]);
    /// - `aud` contains `client_id`, and `azp`, if present, equals it (a token with several
    ///   audiences must carry `azp`);
    /// - `exp` is after `now` (minus `leeway`), and `iat` is not after `now` (plus `leeway`);
    /// - with `expected_nonce`, the token's `nonce` equals it (compared in constant time).
    ///   Pass the nonce you sent in the authorization request; `None` skips the check.
    pub fn validate(
        &self,
        client_id: &ClientId,
        issuer: &str,
        now: SystemTime,
        expected_nonce: Option<&str>,
        leeway: Duration,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let claims = self.claims_unverified()?;
        claims.check(client_id, issuer, now, expected_nonce, leeway)?;
        Ok(claims)
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

fn b64_decode(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// Why an ID token was refused.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use discord_oauth_core::{ClientId, DISCORD_ISSUER, oidc::{IdToken, IdTokenError}};
///
/// # use base64::Engine as _;
/// # let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
/// # let raw = format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(r#"{
/// #   "iss":"https://discord.com","sub":"80351110224678912","aud":"157730590492196864",
/// #   "exp":1700000600,"iat":1700000000,"nonce":"n-0S6_WzA2Mj"}"#));
/// let token = IdToken::new(raw); // from TokenSet::id_token
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
/// let other_app = ClientId::new("222222222222222222".into());
///
/// match token.validate(&other_app, DISCORD_ISSUER, now, Some("n-0S6_WzA2Mj"), Duration::ZERO) {
///     Ok(claims) => println!("logged in as {}", claims.sub),
///     Err(IdTokenError::WrongAudience { found, .. }) => {
///         assert_eq!(found, ["157730590492196864"]); // issued to another application
///     }
///     Err(IdTokenError::NonceMismatch | IdTokenError::MissingNonce) => { /* a replay: refuse */ }
///     Err(IdTokenError::Expired { .. }) => { /* too old: log in again */ }
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The token is not a well-formed JWT.
    #[error("the id_token is malformed: {0}")]
    Malformed(&'static str),
    /// The token is larger than [`MAX_ID_TOKEN_BYTES`].
    #[error("the id_token is too large ({size} bytes; the limit is {limit})")]
    TooLarge {
        /// The token's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A required claim is missing or has the wrong type.
    #[error("the id_token lacks the required `{0}` claim")]
    MissingClaim(&'static str),
    /// `iss` is not the expected issuer.
    #[error("the id_token was issued by {found:?}, not {expected:?}; check `Endpoints::issuer`")]
    WrongIssuer {
        /// The expected issuer.
        expected: String,
        /// The token's issuer.
        found: String,
    },
    /// `aud` does not contain this client.
    #[error("the id_token is for {found:?}, not for client {expected:?}")]
    WrongAudience {
        /// This client's id.
        expected: String,
        /// The token's audiences.
        found: Vec<String>,
    },
    /// `azp` is present but is not this client, or is missing while there are several
    /// audiences.
    #[error("the id_token's authorized party is {found:?}, not client {expected:?}")]
    WrongAuthorizedParty {
        /// This client's id.
        expected: String,
        /// The token's `azp`.
        found: Option<String>,
    },
    /// `exp` has passed.
    #[error("the id_token expired at {expired_at} (now {now}, Unix seconds); log in again")]
    Expired {
        /// The token's `exp`.
        expired_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `iat` is in the future (beyond the leeway): the clocks disagree or the token is forged.
    #[error("the id_token claims to be issued at {issued_at}, after now ({now}); check the clock")]
    IssuedInFuture {
        /// The token's `iat`.
        issued_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// A nonce was expected but the token has none.
    #[error("the id_token has no `nonce`, but one was sent in the authorization request")]
    MissingNonce,
    /// The token's nonce is not the one sent.
    #[error("the id_token's `nonce` does not match the one sent (possible replay)")]
    NonceMismatch,
    /// `at_hash` does not match the access token it came with.
    #[error("the id_token's `at_hash` does not match the access token")]
    AtHashMismatch,
    /// The token is signed with an algorithm other than RS256 (`jwt-verify`).
    #[error("the id_token uses the unsupported signing algorithm {0:?} (only RS256 is accepted)")]
    UnsupportedAlgorithm(String),
    /// No key in the key set matches the token's `kid` (`jwt-verify`). Fetch
    /// [`crate::api::keys`] again: Discord may have rotated its keys.
    #[error("no key in the key set matches the id_token's key id {0:?}; refresh the keys")]
    UnknownKey(Option<String>),
    /// The signature does not verify (`jwt-verify`).
    #[error("the id_token's signature is invalid: {0}")]
    BadSignature(String),
}

/// The JOSE header of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdTokenHeader {
    /// The signing algorithm (Discord: `RS256`).
    pub alg: String,
    /// The id of the signing key in `/oauth2/keys`.
    #[serde(default)]
    pub kid: Option<String>,
    /// The token type (`JWT`).
    #[serde(default)]
    pub typ: Option<String>,
}

/// The claims of an ID token.
///
/// An `openid` login from start to end: the nonce generated with the authorization URL comes
/// back in the `id_token`, which arrives with the tokens.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::{Client, ClientId, ClientSecret, DISCORD_ISSUER, RedirectUrl, Scope};
/// use rand::SeedableRng;
///
/// let client = Client::new(
///     ClientId::new("157730590492196864".into()),
///     Some(ClientSecret::new("client-secret".into())),
///     RedirectUrl::new("https://example.com/auth/callback".into())?,
/// );
/// let mut rng = rand::rngs::StdRng::seed_from_u64(9); // in production: rand::rng()
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let (url, pending) = client.authorize([Scope::Identify, Scope::OpenId]).start(&mut rng, now)?;
/// assert!(url.as_str().contains("nonce="));
/// let query = format!("code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}", pending.state().secret());
/// let grant = pending.callback(&query, now)?;
/// let nonce = grant.nonce().map(str::to_owned); // keep it: the exchange consumes the grant
/// let exchange = client.exchange_code(grant);
///
/// # use base64::Engine as _;
/// # let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
/// # let id_token = format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(&format!(r#"{{
/// #   "iss":"https://discord.com","sub":"80351110224678912","aud":"157730590492196864",
/// #   "exp":1700000600,"iat":1700000000,"nonce":"{}"}}"#, nonce.as_deref().unwrap_or_default())));
/// let body = format!(
///     r#"{{"access_token":"at","token_type":"Bearer","expires_in":604800,
///         "scope":"identify openid","id_token":"{id_token}"}}"#
/// );
/// let tokens = exchange.finish(http::Response::builder().status(200).body(body.into_bytes())?, now)?;
///
/// let Some(id_token) = &tokens.id_token else { return Err("no id_token".into()) };
/// let claims = id_token.validate(
///     client.client_id(),
///     DISCORD_ISSUER,
///     now,
///     nonce.as_deref(),
///     Duration::from_secs(60),
/// )?;
/// claims.check_access_token(&tokens.access_token)?; // passes: this token has no `at_hash`
/// assert_eq!(claims.user_id().map(u64::from), Some(80351110224678912));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// The issuer (`https://discord.com`).
    pub iss: String,
    /// The subject: the user's Discord id.
    pub sub: String,
    /// The audiences (this application's client id). A single string on the wire is read as
    /// a one-element list.
    pub aud: Vec<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, in seconds since the Unix epoch.
    pub iat: u64,
    /// When the user authenticated, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The nonce from the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The access token hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The authorized party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The email address (`email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address is verified (`email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Any other claims.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl IdTokenClaims {
    /// Checks `iss`, `aud`/`azp`, `exp`, `iat` and `nonce`; see [`IdToken::validate`].
    pub fn check(
        &self,
        client_id: &ClientId,
        issuer: &str,
        now: SystemTime,
        expected_nonce: Option<&str>,
        leeway: Duration,
    ) -> Result<(), IdTokenError> {
        if self.iss != issuer {
            return Err(IdTokenError::WrongIssuer {
                expected: issuer.to_owned(),
                found: self.iss.clone(),
            });
        }
        let client = client_id.as_str();
        if !self.aud.iter().any(|a| a == client) {
            return Err(IdTokenError::WrongAudience {
                expected: client.to_owned(),
                found: self.aud.clone(),
            });
        }
        let azp_ok = match &self.azp {
            Some(azp) => azp == client,
            None => self.aud.len() == 1,
        };
        if !azp_ok {
            return Err(IdTokenError::WrongAuthorizedParty {
                expected: client.to_owned(),
                found: self.azp.clone(),
            });
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let leeway = leeway.as_secs();
        if now >= self.exp.saturating_add(leeway) {
            return Err(IdTokenError::Expired {
                expired_at: self.exp,
                now,
            });
        }
        if self.iat > now.saturating_add(leeway) {
            return Err(IdTokenError::IssuedInFuture {
                issued_at: self.iat,
                now,
            });
        }
        if let Some(expected) = expected_nonce {
            let found = self.nonce.as_deref().ok_or(IdTokenError::MissingNonce)?;
            if !bool::from(found.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(IdTokenError::NonceMismatch);
            }
        }
        Ok(())
    }

    /// Checks `at_hash` (if present) against the access token that came with the ID token:
    /// the base64url of the left half of its SHA-256 (RS256). A token without `at_hash`
    /// passes.
    pub fn check_access_token(&self, access_token: &AccessToken) -> Result<(), IdTokenError> {
        let Some(at_hash) = &self.at_hash else {
            return Ok(());
        };
        let digest = Sha256::digest(access_token.secret().as_bytes());
        let expected = URL_SAFE_NO_PAD.encode(&digest[..16]);
        if bool::from(expected.as_bytes().ct_eq(at_hash.as_bytes())) {
            Ok(())
        } else {
            Err(IdTokenError::AtHashMismatch)
        }
    }

    /// The subject as a Discord user id, if it is one.
    pub fn user_id(&self) -> Option<crate::Snowflake> {
        self.sub.parse().ok()
    }
}

/// Claims as they come off the wire: everything optional and leniently typed, so a bad claim
/// becomes a typed error rather than a serde message.
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<serde_json::Value>,
    #[serde(default)]
    sub: Option<serde_json::Value>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
    #[serde(default)]
    auth_time: Option<serde_json::Value>,
    #[serde(default)]
    nonce: Option<serde_json::Value>,
    #[serde(default)]
    at_hash: Option<serde_json::Value>,
    #[serde(default)]
    azp: Option<serde_json::Value>,
    #[serde(default)]
    email: Option<serde_json::Value>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

fn string_claim(v: Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A NumericDate: an integer or a non-negative finite number of seconds (fractions dropped).
fn date_claim(v: Option<&serde_json::Value>) -> Option<u64> {
    let n = v?.as_number()?;
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

impl RawClaims {
    fn into_claims(self) -> Result<IdTokenClaims, IdTokenError> {
        let aud = match self.aud {
            Some(serde_json::Value::String(s)) => vec![s],
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(IdTokenError::MissingClaim("aud")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(IdTokenError::MissingClaim("aud")),
        };
        Ok(IdTokenClaims {
            iss: string_claim(self.iss).ok_or(IdTokenError::MissingClaim("iss"))?,
            sub: string_claim(self.sub).ok_or(IdTokenError::MissingClaim("sub"))?,
            aud,
            exp: date_claim(self.exp.as_ref()).ok_or(IdTokenError::MissingClaim("exp"))?,
            iat: date_claim(self.iat.as_ref()).ok_or(IdTokenError::MissingClaim("iat"))?,
            auth_time: date_claim(self.auth_time.as_ref()),
            nonce: string_claim(self.nonce),
            at_hash: string_claim(self.at_hash),
            azp: string_claim(self.azp),
            email: string_claim(self.email),
            email_verified: self.email_verified.as_ref().and_then(serde_json::Value::as_bool),
            extra: self.extra,
        })
    }
}

/// `GET /oauth2/userinfo`: the OpenID Connect profile of the user (`openid` scope; `email`
/// and `email_verified` need the `email` scope too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's Discord id.
    pub sub: String,
    /// The email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the email address is verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// The username.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The display name.
    #[serde(default)]
    pub nickname: Option<String>,
    /// The avatar URL.
    #[serde(default)]
    pub picture: Option<String>,
    /// The user's locale.
    #[serde(default)]
    pub locale: Option<String>,
}

/// Discord's signing keys, from `GET /oauth2/keys` (a JSON Web Key Set).
///
/// ```
/// use discord_oauth_core::{Endpoints, api, oidc::Jwks};
///
/// let call = api::keys(&Endpoints::discord());
/// let response = http::Response::builder().status(200).body(
///     br#"{"keys":[{"kty":"RSA","use":"sig","kid":"k1","alg":"RS256","n":"sXch","e":"AQAB"}]}"#.to_vec(),
/// )?;
/// let keys: Jwks = call.parse(response)?;
/// assert_eq!(keys.find(Some("k1")).map(|k| k.e.as_str()), Some("AQAB"));
/// assert!(keys.find(Some("k2")).is_none());
/// assert!(keys.find(None).is_some()); // the only RSA key
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Jwks {
    /// The keys.
    #[serde(default, deserialize_with = "keys_or_null")]
    pub keys: Vec<Jwk>,
}

fn keys_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Jwk>, D::Error> {
    Ok(Option::<Vec<Jwk>>::deserialize(d)?.unwrap_or_default())
}

impl Jwks {
    /// The key with this `kid`; with no `kid`, the only RSA signing key if there is exactly
    /// one.
    pub fn find(&self, kid: Option<&str>) -> Option<&Jwk> {
        let mut rsa = self
            .keys
            .iter()
            .filter(|k| k.kty == "RSA" && k.key_use.as_deref().is_none_or(|u| u == "sig"));
        if let Some(kid) = kid {
            return rsa.find(|k| k.kid.as_deref() == Some(kid));
        }
        let first = rsa.next()?;
        rsa.next().is_none().then_some(first)
    }
}

/// One JSON Web Key (Discord publishes RSA keys: `kty` `RSA`, `alg` `RS256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Jwk {
    /// The key type (`RSA`).
    #[serde(default)]
    pub kty: String,
    /// The intended use (`sig`).
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    /// The key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// The algorithm (`RS256`).
    #[serde(default)]
    pub alg: Option<String>,
    /// The RSA modulus, base64url.
    #[serde(default)]
    pub n: String,
    /// The RSA public exponent, base64url.
    #[serde(default)]
    pub e: String,
}

#[cfg(feature = "jwt-verify")]
mod verify {
    use std::collections::HashSet;

    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::{ClientId, Duration, IdToken, IdTokenClaims, IdTokenError, Jwks, SystemTime};

    impl IdToken {
        /// Verifies the RS256 signature against `keys` (from [`crate::api::keys`]), then
        /// checks the claims like [`IdToken::validate`]. Needs the `jwt-verify` feature.
        ///
        /// Use this for ID tokens that did not come straight from Discord's token endpoint.
        /// Keys may be cached; on [`IdTokenError::UnknownKey`], fetch them again.
        ///
        /// Only RS256 is accepted, so a token cannot downgrade itself to `none` or to an
        /// HMAC keyed with the public key. The signature check reads no clock: `now` is the
        /// only time used.
        ///
        /// `jsonwebtoken` picks its crypto backend from its features; if your dependency
        /// graph enables both its `rust_crypto` and `aws_lc_rs` features, install a
        /// `jsonwebtoken::crypto::CryptoProvider` at startup.
        pub fn verify(
            &self,
            keys: &Jwks,
            client_id: &ClientId,
            issuer: &str,
            now: SystemTime,
            expected_nonce: Option<&str>,
            leeway: Duration,
        ) -> Result<IdTokenClaims, IdTokenError> {
            let header = self.header_unverified()?;
            if header.alg != "RS256" {
                return Err(IdTokenError::UnsupportedAlgorithm(header.alg));
            }
            let key = keys
                .find(header.kid.as_deref())
                .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
                .ok_or_else(|| IdTokenError::UnknownKey(header.kid.clone()))?;
            let decoding = DecodingKey::from_rsa_components(&key.n, &key.e)
                .map_err(|e| IdTokenError::BadSignature(format!("unusable key: {e}")))?;
            let mut validation = Validation::new(Algorithm::RS256);
            // Claims are checked below with the caller's `now`; jsonwebtoken must not read
            // the system clock or apply its own rules.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims = HashSet::new();
            jsonwebtoken::decode::<serde_json::Value>(self.as_str(), &decoding, &validation)
                .map_err(|e| IdTokenError::BadSignature(e.to_string()))?;
            self.validate(client_id, issuer, now, expected_nonce, leeway)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(claims: &str) -> IdToken {
        IdToken::new(format!("{}.{}.c2ln", b64(r#"{"alg":"RS256","kid":"1"}"#), b64(claims)))
    }

    const CLIENT: &str = "157730590492196864";

    fn good() -> String {
        format!(
            r#"{{"iss":"https://discord.com","sub":"80351110224678912","aud":"{CLIENT}",
                "exp":1000,"iat":400,"nonce":"abc","at_hash":"x","email":"a@b.c",
                "email_verified":true,"custom":[1,2]}}"#
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn check(t: &IdToken, now: u64, nonce: Option<&str>) -> Result<IdTokenClaims, IdTokenError> {
        t.validate(
            &ClientId::new(CLIENT.into()),
            "https://discord.com",
            at(now),
            nonce,
            Duration::from_secs(30),
        )
    }

    #[test]
    fn decodes_and_validates() {
        let t = token(&good());
        let c = check(&t, 500, Some("abc")).unwrap();
        assert_eq!(c.aud, vec![CLIENT.to_owned()]);
        assert_eq!(c.user_id(), Some(crate::Snowflake::new(80_351_110_224_678_912)));
        assert_eq!(c.extra["custom"], serde_json::json!([1, 2]));
        assert_eq!(t.header_unverified().unwrap().kid.as_deref(), Some("1"));
        // Leeway: 1020 is within 30 s of exp 1000; 1030 is not.
        assert!(check(&t, 1020, None).is_ok());
        assert_eq!(
            check(&t, 1030, None).unwrap_err(),
            IdTokenError::Expired {
                expired_at: 1000,
                now: 1030
            }
        );
        assert!(matches!(check(&t, 100, None), Err(IdTokenError::IssuedInFuture { .. })));
        assert_eq!(check(&t, 500, Some("abd")).unwrap_err(), IdTokenError::NonceMismatch);
    }

    #[test]
    fn refuses_wrong_claims() {
        let wrong_iss = token(&good().replace("https://discord.com", "https://evil.example"));
        assert!(matches!(
            check(&wrong_iss, 500, None),
            Err(IdTokenError::WrongIssuer { .. })
        ));
        let wrong_aud = token(&good().replace(CLIENT, "1"));
        assert!(matches!(
            check(&wrong_aud, 500, None),
            Err(IdTokenError::WrongAudience { .. })
        ));
        let multi = token(&good().replace(&format!("\"{CLIENT}\""), &format!("[\"{CLIENT}\",\"2\"]")));
        assert!(matches!(
            check(&multi, 500, None),
            Err(IdTokenError::WrongAuthorizedParty { found: None, .. })
        ));
        let multi_azp = token(&good().replace(
            &format!("\"{CLIENT}\""),
            &format!("[\"{CLIENT}\",\"2\"],\"azp\":\"{CLIENT}\""),
        ));
        assert!(check(&multi_azp, 500, None).is_ok());
        let no_nonce = token(&good().replace("\"nonce\":\"abc\",", ""));
        assert_eq!(
            check(&no_nonce, 500, Some("abc")).unwrap_err(),
            IdTokenError::MissingNonce
        );
        assert!(check(&no_nonce, 500, None).is_ok());
        let no_exp = token(&good().replace("\"exp\":1000,", ""));
        assert_eq!(
            check(&no_exp, 500, None).unwrap_err(),
            IdTokenError::MissingClaim("exp")
        );
        let float_exp = token(&good().replace("\"exp\":1000", "\"exp\":1000.9"));
        assert_eq!(check(&float_exp, 500, None).unwrap().exp, 1000);
    }

    #[test]
    fn malformed_tokens() {
        for raw in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "!!!.b.c",
            &format!("{}.!!!.c", b64("{}")),
            &format!("{}.{}.c", b64("{}"), b64("not json")),
            &format!("{}.{}.c", b64("{}"), b64("[1,2]")),
        ] {
            let err = IdToken::new(raw.to_owned()).claims_unverified().unwrap_err();
            assert!(matches!(err, IdTokenError::Malformed(_)), "{raw:?}: {err:?}");
        }
        let huge = IdToken::new("a".repeat(MAX_ID_TOKEN_BYTES + 1));
        assert!(matches!(huge.claims_unverified(), Err(IdTokenError::TooLarge { .. })));
        let bad_sub = token(r#"{"iss":"i","sub":5,"aud":"a","exp":1,"iat":1}"#);
        assert_eq!(
            bad_sub.claims_unverified().unwrap_err(),
            IdTokenError::MissingClaim("sub")
        );
        // Padded base64 is tolerated.
        let padded = IdToken::new(format!("{}==.{}=.s", b64("{\"alg\":\"RS256\"}"), b64(&good())));
        assert!(padded.claims_unverified().is_ok());
        assert!(padded.header_unverified().is_ok());
    }

    #[test]
    fn at_hash() {
        // OpenID Connect Core A.3 example: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
        let claims = token(&good().replace("\"x\"", "\"77QmUPtjPfzWtF2AnpK9RQ\""))
            .claims_unverified()
            .unwrap();
        let token = AccessToken::new("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".into());
        assert_eq!(claims.check_access_token(&token), Ok(()));
        assert_eq!(
            claims.check_access_token(&AccessToken::new("other".into())),
            Err(IdTokenError::AtHashMismatch)
        );
    }

    #[test]
    fn keys_lookup() {
        let jwks: Jwks = serde_json::from_str(
            r#"{"keys":[{"kty":"RSA","use":"sig","kid":"a","n":"AQAB","e":"AQAB","alg":"RS256"},
                        {"kty":"EC","kid":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(jwks.find(Some("a")).and_then(|k| k.kid.as_deref()), Some("a"));
        assert!(jwks.find(Some("b")).is_none());
        assert_eq!(jwks.find(None).and_then(|k| k.kid.as_deref()), Some("a"));
        assert!(
            serde_json::from_str::<Jwks>(r#"{"keys":null}"#)
                .unwrap()
                .keys
                .is_empty()
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(s in ".{0,300}") {
            let t = IdToken::new(s);
            let _ = t.claims_unverified();
            let _ = t.header_unverified();
        }

        #[test]
        fn never_panics_on_garbage_payloads(p in "[A-Za-z0-9_-]{0,200}", json in ".{0,100}") {
            let _ = IdToken::new(format!("{p}.{p}.{p}")).claims_unverified();
            let _ = IdToken::new(format!("{}.{}.s", b64(&json), b64(&json))).claims_unverified();
        }
    }
}
