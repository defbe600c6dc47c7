//! What each fuzz target checks, one function per target, each taking the raw input bytes.
//!
//! This file is compiled twice: as the `discord-oauth-fuzz` library the `cargo fuzz` targets
//! call (`fuzz/fuzz_targets/*.rs`), and into `discord-oauth-core/tests/fuzz_corpus.rs` (via
//! `#[path]`), which replays every file under `fuzz/corpus/<target>/` through the function of
//! the same name under `cargo test`. It may therefore only use crates that both see:
//! `discord-oauth-core` and its own dependencies (`base64`, `http`, `serde_json`, `url`).
//!
//! Every function panics (an `assert!`) when a property is violated; libFuzzer reports the
//! panic as a crash and saves the input. Apart from "never panics", each one checks what its
//! parser promises:
//! - inputs over the parser's size cap are refused (so no input allocates without bound);
//! - what is accepted satisfies the documented rules (a reference model or an invariant);
//! - what can be stored round-trips through serde, and `Debug` output keeps secrets redacted.
#![allow(unreachable_pub, clippy::missing_panics_doc)]

use std::mem::discriminant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use discord_oauth_core::api::{self, BotToken, GuildsQuery, Snowflake};
use discord_oauth_core::login::{AuthSession, LoginConfig, LoginError, PendingLogin, PendingLogins, error_page};
use discord_oauth_core::oidc::{IdToken, IdTokenClaims, IdTokenError, MAX_ID_TOKEN_BYTES};
use discord_oauth_core::response::{ApiError, MAX_BODY_BYTES, RateLimit, ResponseError, parse_api_json};
use discord_oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationGrant, CallbackError, CallbackParams, Client, ClientId, ClientSecret,
    DISCORD_ISSUER, Endpoints, MAX_CALLBACK_QUERY_BYTES, MAX_RETURN_TO_BYTES, PendingAuthorization, PendingImplicit,
    RedirectUrl, RefreshToken, ReturnTo, Scopes, TokenError, TokenSet,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use url::{Url, form_urlencoded};

/// The `state` of the fixed pending authorization (Discord's documented example value, so the
/// documented redirect URLs in the seed corpus are accepted).
pub const STATE: &str = "15773059ghq9183habn";
/// The client id used by the fixed client (Discord's documented example).
pub const CLIENT_ID: &str = "157730590492196864";
/// "Now" for every check, in Unix seconds.
pub const NOW: u64 = 1_700_000_000;
/// When the fixed pending authorizations were created.
const CREATED_AT: u64 = NOW - 60;
/// When the fixed pending authorizations expire (10 minutes after creation).
const EXPIRES_AT: u64 = CREATED_AT + 600;
/// The redirect URI of the fixed client.
const REDIRECT_URI: &str = "https://nicememe.website/auth/callback";
/// The longest lifetime `TokenSet::parse` accepts from `expires_in` (one year).
const MAX_TOKEN_LIFETIME: u64 = 365 * 24 * 3600;
/// The longest wait a `RateLimit` may ask for (one hour).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The longest callback parameter value (1 KiB).
const MAX_PARAM_BYTES: usize = 1024;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The fixed pending authorization the callback is checked against: state [`STATE`], PKCE,
/// advanced bot authorization, created at `NOW - 60`, valid for 10 minutes.
pub fn pending_authorization(require_iss: bool) -> PendingAuthorization {
    let json = format!(
        r#"{{"state":"{STATE}","pkce_verifier":"M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag",
            "redirect_uri":"{REDIRECT_URI}","scopes":"identify guilds.join bot","issuer":"{DISCORD_ISSUER}",
            "require_iss":{require_iss},"bot":true,"created_at":{CREATED_AT},"expires_at":{EXPIRES_AT}}}"#
    );
    match serde_json::from_str(&json) {
        Ok(p) => p,
        Err(e) => panic!("the fixed pending authorization does not decode: {e}"),
    }
}

fn pending_implicit() -> PendingImplicit {
    let json = format!(r#"{{"state":"{STATE}","scopes":"identify","expires_at":{EXPIRES_AT}}}"#);
    match serde_json::from_str(&json) {
        Ok(p) => p,
        Err(e) => panic!("the fixed pending implicit grant does not decode: {e}"),
    }
}

fn client() -> Client {
    let redirect = match RedirectUrl::new(REDIRECT_URI.to_owned()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    Client::new(
        ClientId::new(CLIENT_ID.to_owned()),
        Some(ClientSecret::new("937it3ow87i4ery69876wqire".to_owned())),
        redirect,
    )
}

fn login_config() -> LoginConfig {
    match LoginConfig::builder(CLIENT_ID, REDIRECT_URI)
        .client_secret("937it3ow87i4ery69876wqire")
        .build()
    {
        Ok(c) => c,
        Err(e) => panic!("the fixed login config is invalid: {e}"),
    }
}

fn response(status: u16, headers: &HeaderMap, body: &[u8]) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.to_vec());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    *r.headers_mut() = headers.clone();
    r
}

/// All values of parameter `name` in a form-encoded string.
fn form_values(query: &str, name: &str) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Serializes `value`, decodes it back as `T` and serializes again: the two encodings must be
/// equal (what is stored can be read back, and reading it changes nothing).
fn assert_serde_fixpoint<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T, what: &str) -> String {
    let first = match serde_json::to_string(value) {
        Ok(s) => s,
        Err(e) => panic!("{what}: a decoded value does not serialize: {e}"),
    };
    let again: T = match serde_json::from_str(&first) {
        Ok(v) => v,
        Err(e) => panic!("{what}: its own serialization does not decode: {e}\n{first}"),
    };
    let second = match serde_json::to_string(&again) {
        Ok(s) => s,
        Err(e) => panic!("{what}: {e}"),
    };
    assert_eq!(
        first, second,
        "{what}: serialize → decode → serialize changed the value"
    );
    first
}

/// Error pages built from an error show no markup from the input.
fn assert_page_is_escaped(error: LoginError) {
    let (title, message) = error.page();
    let page = error_page(title, &message, "/");
    let escaped = discord_oauth_core::login::html_escape(&message);
    assert!(
        !escaped.contains(['<', '>', '"', '\'']),
        "unescaped markup in {escaped:?}"
    );
    assert!(
        page.matches("<script").count() == 0,
        "a script tag reached the error page"
    );
}

// ---------------------------------------------------------------------------------------------
// callback_query
// ---------------------------------------------------------------------------------------------

/// `callback_query`: `CallbackParams::parse`, and `PendingAuthorization::callback` against a
/// fixed pending authorization (with and without a required `iss`, before and after expiry).
///
/// Asserts: over 8 KiB is `TooLarge`; an accepted query has each known parameter at most once
/// (value kept verbatim, at most 1 KiB), no token parameter, not both `code` and `error`;
/// `Debug` redacts `code` and `state`; `callback` gives exactly the outcome of the documented
/// check order (state, expiry, iss, error, code, guild_id/permissions), so no query without our
/// state, after expiry, or with a foreign `iss` ever yields a grant; error pages are escaped.
pub fn callback_query(data: &[u8]) {
    let query = text(data);
    let parsed = CallbackParams::parse(&query);
    if query.len() > MAX_CALLBACK_QUERY_BYTES {
        assert_eq!(parsed, Err(CallbackError::TooLarge));
    }
    if let Ok(p) = &parsed {
        assert!(
            !(p.code.is_some() && p.error.is_some()),
            "code and error together accepted"
        );
        for (name, field) in [
            ("code", &p.code),
            ("state", &p.state),
            ("error", &p.error),
            ("error_description", &p.error_description),
            ("iss", &p.iss),
            ("guild_id", &p.guild_id),
            ("permissions", &p.permissions),
        ] {
            let values = form_values(&query, name);
            assert!(values.len() <= 1, "`{name}` repeated but accepted");
            assert_eq!(field.as_deref(), values.first().map(String::as_str), "`{name}` altered");
            assert!(
                field.as_ref().is_none_or(|v| v.len() <= MAX_PARAM_BYTES),
                "`{name}` over 1 KiB"
            );
        }
        for name in ["access_token", "id_token", "refresh_token"] {
            assert!(
                form_values(&query, name).is_empty(),
                "`{name}` in a callback query accepted"
            );
        }
        let debug = format!("{p:?}");
        if let Some(code) = p.code.as_deref().filter(|c| c.len() >= 16) {
            let shown = [&p.error, &p.error_description, &p.iss, &p.guild_id, &p.permissions];
            if !shown.iter().any(|f| f.as_deref().is_some_and(|v| v.contains(code))) {
                assert!(!debug.contains(code), "Debug shows the code");
            }
        }
    }

    for require_iss in [false, true] {
        for now in [NOW, EXPIRES_AT, EXPIRES_AT + 1] {
            let result = pending_authorization(require_iss).callback(&query, at(now));
            let expected = expected_callback(&parsed, require_iss, now);
            match (&result, &expected) {
                (Ok(grant), Ok(())) => {
                    let Ok(p) = &parsed else { unreachable!() };
                    let guild_id = p.guild_id.as_deref().map(str::parse::<u64>).and_then(Result::ok);
                    assert_eq!(grant.guild_id, guild_id);
                    assert_eq!(
                        grant.permissions.map(|x| x.bits()),
                        p.permissions.as_deref().map(str::parse::<u64>).and_then(Result::ok)
                    );
                    assert_eq!(grant.requested_scopes().to_string(), "identify guilds.join bot");
                    let debug = format!("{grant:?}");
                    assert!(
                        debug.contains(r#"code: "[redacted]""#),
                        "grant Debug does not redact the code"
                    );
                }
                (Err(e), Err(want)) => {
                    assert_eq!(
                        discriminant(e),
                        discriminant(want),
                        "got {e:?}, the documented order gives {want:?}"
                    );
                    if let (CallbackError::DuplicateParameter(a), CallbackError::DuplicateParameter(b)) = (e, want) {
                        assert_eq!(a, b);
                    }
                }
                _ => panic!("callback returned {result:?}, the documented checks give {expected:?}"),
            }
            if let Err(e) = result {
                assert_page_is_escaped(LoginError::Callback(e));
            }
        }
    }
}

/// The outcome the documented check order of `PendingAuthorization::callback_params` gives.
fn expected_callback(
    parsed: &Result<CallbackParams, CallbackError>,
    require_iss: bool,
    now: u64,
) -> Result<(), CallbackError> {
    let p = parsed.as_ref().map_err(Clone::clone)?;
    let state = p
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::MissingState)?;
    if state != STATE {
        return Err(CallbackError::StateMismatch);
    }
    if now > EXPIRES_AT {
        return Err(CallbackError::Expired);
    }
    match p.iss.as_deref() {
        Some(iss) if iss != DISCORD_ISSUER => return Err(CallbackError::IssuerMismatch),
        None if require_iss => return Err(CallbackError::MissingIssuer),
        _ => {}
    }
    if let Some(error) = &p.error {
        return Err(if error == "access_denied" {
            CallbackError::AccessDenied { description: None }
        } else {
            CallbackError::Provider(discord_oauth_core::OAuthError {
                error: error.clone().into(),
                error_description: None,
            })
        });
    }
    if p.code.as_deref().is_none_or(str::is_empty) {
        return Err(CallbackError::MissingCode);
    }
    for v in [&p.guild_id, &p.permissions].into_iter().flatten() {
        if v.parse::<u64>().is_err() {
            return Err(CallbackError::Malformed("not a number"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// implicit_fragment
// ---------------------------------------------------------------------------------------------

/// `implicit_fragment`: `PendingImplicit::parse_fragment` with a fixed pending implicit grant,
/// before and after its expiry.
///
/// Asserts: the outcome is exactly what the documented checks give, in their order (over 8 KiB
/// `TooLarge`, repeated parameters, `access_token` with `error`, state, expiry, `error`, a
/// non-empty `access_token`, a Bearer `token_type`, a numeric `expires_in`), so no fragment
/// without our state or after expiry yields tokens; the token set carries that access token,
/// no refresh token, expires no earlier than now, takes its scopes from `scope` (or the
/// requested ones), redacts its `Debug` and survives serde.
pub fn implicit_fragment(data: &[u8]) {
    let fragment = text(data);
    let bare = fragment.strip_prefix('#').unwrap_or(&fragment);
    for now in [NOW, EXPIRES_AT, EXPIRES_AT + 1] {
        let result = pending_implicit().parse_fragment(&fragment, at(now));
        let expected = expected_implicit(bare, now);
        match (&result, &expected) {
            (Ok(tokens), Ok(())) => {
                let access = form_values(bare, "access_token");
                assert_eq!(tokens.access_token.secret(), &access[0]);
                assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
                assert!(tokens.guild.is_none() && tokens.webhook.is_none());
                assert!(tokens.expires_at >= at(now), "expires before it was issued");
                let want = form_values(bare, "scope")
                    .first()
                    .map_or_else(|| Scopes::parse("identify"), |s| Scopes::parse(s));
                assert_eq!(tokens.scopes, want);
                check_token_set(tokens);
            }
            (Err(e), Err(want)) => {
                assert_eq!(
                    discriminant(e),
                    discriminant(want),
                    "got {e:?}, the documented order gives {want:?}"
                );
                if let (CallbackError::DuplicateParameter(a), CallbackError::DuplicateParameter(b)) = (e, want) {
                    assert_eq!(a, b);
                }
            }
            _ => panic!("parse_fragment returned {result:?}, the documented checks give {expected:?}"),
        }
    }
}

/// The outcome `PendingImplicit::parse_fragment` documents for the fixed pending grant.
fn expected_implicit(bare: &str, now: u64) -> Result<(), CallbackError> {
    const KNOWN: [&str; 7] = [
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "state",
        "error",
        "error_description",
    ];
    if bare.len() > MAX_CALLBACK_QUERY_BYTES {
        return Err(CallbackError::TooLarge);
    }
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in form_urlencoded::parse(bare.as_bytes()) {
        if let Some(name) = KNOWN.iter().find(|n| **n == k) {
            if seen.contains(name) {
                return Err(CallbackError::DuplicateParameter(name));
            }
            seen.push(name);
        }
    }
    let one = |name: &str| form_values(bare, name).into_iter().next();
    if one("access_token").is_some() && one("error").is_some() {
        return Err(CallbackError::Malformed("both"));
    }
    let state = one("state")
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::MissingState)?;
    if state != STATE {
        return Err(CallbackError::StateMismatch);
    }
    if now > EXPIRES_AT {
        return Err(CallbackError::Expired);
    }
    if let Some(error) = one("error") {
        return Err(if error == "access_denied" {
            CallbackError::AccessDenied { description: None }
        } else {
            CallbackError::Provider(discord_oauth_core::OAuthError {
                error: error.into(),
                error_description: None,
            })
        });
    }
    if one("access_token").is_none_or(|t| t.is_empty()) {
        return Err(CallbackError::Malformed("no access_token"));
    }
    if one("token_type").is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(CallbackError::Malformed("token_type"));
    }
    if one("expires_in").is_some_and(|e| e.trim().parse::<u64>().is_err()) {
        return Err(CallbackError::Malformed("expires_in"));
    }
    Ok(())
}

/// Properties of any token set: `Debug` redacts the tokens, and it round-trips through serde
/// with every field intact.
fn check_token_set(tokens: &TokenSet) {
    let debug = format!("{tokens:?}");
    assert!(
        debug.contains(r#"access_token: "[redacted]""#),
        "TokenSet Debug shows the access token"
    );
    let json = assert_serde_fixpoint(tokens, "TokenSet");
    let back: TokenSet = match serde_json::from_str(&json) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(back.access_token.secret(), tokens.access_token.secret());
    assert_eq!(
        back.refresh_token.as_ref().map(RefreshToken::secret),
        tokens.refresh_token.as_ref().map(RefreshToken::secret)
    );
    assert_eq!(unix(back.expires_at), unix(tokens.expires_at));
    assert_eq!(back.scopes, tokens.scopes);
    assert_eq!(back.guild, tokens.guild);
    assert_eq!(back.webhook, tokens.webhook);
    assert_eq!(back.id_token, tokens.id_token);
}

// ---------------------------------------------------------------------------------------------
// return_to
// ---------------------------------------------------------------------------------------------

/// Origins a validated `return_to` is joined onto.
const BASES: [&str; 4] = [
    "https://site.example/",
    "https://site.example:8443/auth/callback?code=x#frag",
    "http://127.0.0.1:3000/deep/path/",
    "http://localhost/",
];

/// `return_to`: `ReturnTo::parse`.
///
/// Asserts, for anything accepted: at most 2 KiB; kept verbatim; starts with exactly one `/`;
/// neither it nor its percent-decoded form contains a backslash, a control character or
/// whitespace, or starts with `//` or `/\`; joined onto several bases (as a browser resolves a
/// `Location` header), it and its decoded form keep the base's scheme, host and port, add no
/// user info, and serialize without backslash or control character; it is a valid header
/// value; parsing is idempotent and survives serde.
pub fn return_to(data: &[u8]) {
    let input = text(data);
    let Some(r) = ReturnTo::parse(&input) else {
        return;
    };
    assert_eq!(r.as_str(), input);
    assert_eq!(r.to_string(), input);
    assert!(input.len() <= MAX_RETURN_TO_BYTES, "over the 2 KiB cap");
    let decoded = percent_encoding_decode(&input);
    for (what, s) in [("input", input.as_str()), ("decoded", decoded.as_str())] {
        assert!(s.starts_with('/'), "{what} is not a path: {s:?}");
        assert!(
            !s.starts_with("//") && !s.starts_with("/\\"),
            "{what} is scheme-relative: {s:?}"
        );
        assert!(!s.contains('\\'), "{what} has a backslash: {s:?}");
        assert!(
            !s.chars().any(char::is_control),
            "{what} has a control character: {s:?}"
        );
    }
    assert!(
        !input.chars().any(char::is_whitespace),
        "whitespace accepted: {input:?}"
    );
    assert!(
        HeaderValue::from_str(&input).is_ok(),
        "not a valid Location header value"
    );
    for base in BASES {
        let base = match Url::parse(base) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        };
        for s in [input.as_str(), decoded.as_str()] {
            let joined = match base.join(s) {
                Ok(j) => j,
                Err(e) => panic!("accepted {s:?} does not resolve against {base}: {e}"),
            };
            assert_eq!(joined.origin(), base.origin(), "{s:?} leaves {base} for {joined}");
            assert_eq!(joined.scheme(), base.scheme());
            assert_eq!(joined.host_str(), base.host_str(), "{s:?} changes the host: {joined}");
            assert_eq!(joined.port_or_known_default(), base.port_or_known_default());
            assert!(
                joined.username().is_empty() && joined.password().is_none(),
                "{s:?} adds user info"
            );
            let out = joined.as_str();
            assert!(
                !out.contains('\\') && !out.chars().any(char::is_control),
                "{s:?} joins to {out:?}"
            );
        }
    }
    assert_eq!(ReturnTo::parse(r.as_str()).as_ref(), Some(&r), "not idempotent");
    assert_serde_fixpoint(&r, "ReturnTo");
}

/// Percent-decodes once, lossily (invalid UTF-8 becomes U+FFFD, which is neither a control
/// character nor a slash, so it cannot hide a violation).
fn percent_encoding_decode(s: &str) -> String {
    let bytes = form_urlencoded_bytes(s);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Plain `%XX` decoding (no `+` to space: this is a path, not a form).
fn form_urlencoded_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c)))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------------------------
// token_response
// ---------------------------------------------------------------------------------------------

/// `token_response`: `TokenSet::parse` on the body, and `CodeExchange::finish` with that body
/// under statuses 200, 400, 401, 429 and 503.
///
/// Asserts: an accepted body is a JSON object with a non-empty string `access_token` and a
/// Bearer (or absent) `token_type`; `expires_at` lies within `[now, now + 1 year]`; the scopes
/// are the body's `scope` or the requested ones; the set survives serde with every field and
/// redacts its `Debug`; no error message contains the access or refresh token; `finish` agrees
/// with `parse` on 200 and never yields tokens for another status (429 → `RateLimited`).
pub fn token_response(data: &[u8]) {
    let requested = Scopes::parse("identify guilds");
    let parsed = TokenSet::parse(data, &requested, at(NOW));
    let json: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    let secrets = token_secrets(json.as_ref());
    match &parsed {
        Ok(tokens) => {
            let Some(obj) = json.as_ref().and_then(serde_json::Value::as_object) else {
                panic!("tokens from a body that is not a JSON object");
            };
            assert_eq!(
                obj.get("access_token").and_then(serde_json::Value::as_str),
                Some(tokens.access_token.secret().as_str())
            );
            assert!(!tokens.access_token.secret().is_empty());
            if let Some(tt) = obj.get("token_type").filter(|v| !v.is_null()) {
                assert!(
                    tt.as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
                    "token_type {tt}"
                );
            }
            let lifetime = unix(tokens.expires_at).checked_sub(NOW);
            assert!(
                lifetime.is_some_and(|l| l <= MAX_TOKEN_LIFETIME),
                "expires_at out of range"
            );
            match obj.get("scope").and_then(serde_json::Value::as_str) {
                Some(s) => assert_eq!(tokens.scopes, Scopes::parse(s)),
                None => assert_eq!(tokens.scopes, requested),
            }
            if let Some(rt) = &tokens.refresh_token {
                assert!(!rt.secret().is_empty());
            }
            check_token_set(tokens);
        }
        Err(e) => assert_no_secret(&format!("{e} {e:?}"), &secrets),
    }

    let grant = AuthorizationGrant::from_code(
        AuthorizationCode::new("NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee".to_owned()),
        Some(REDIRECT_URI.to_owned()),
        requested.clone(),
    );
    let exchange = client().exchange_code(grant);
    for status in [200, 400, 401, 429, 503] {
        let result = exchange.finish(response(status, &HeaderMap::new(), data), at(NOW));
        match (&result, status) {
            (Ok(t), 200) => {
                let Ok(p) = &parsed else {
                    panic!("finish accepted what parse refused")
                };
                assert_eq!(t.access_token.secret(), p.access_token.secret());
            }
            (Err(_), 200) => assert!(parsed.is_err(), "finish refused what parse accepted"),
            (Ok(_), _) => panic!("tokens from a {status} answer"),
            (Err(e), 429) => assert!(matches!(e, TokenError::RateLimited(_)), "429 gave {e:?}"),
            (Err(e), _) => {
                assert!(!matches!(e, TokenError::RateLimited(_)));
                assert_no_secret(&format!("{e} {e:?}"), &secrets);
            }
        }
    }
}

/// The access and refresh token strings of a token body, when they look like tokens (12 or
/// more characters of `[A-Za-z0-9_-]` with letters and digits, so no error text can contain
/// them by chance) and appear nowhere else in the body.
fn token_secrets(json: Option<&serde_json::Value>) -> Vec<String> {
    let Some(obj) = json.and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    let mut rest = obj.clone();
    let mut secrets = Vec::new();
    for name in ["access_token", "refresh_token"] {
        if let Some(serde_json::Value::String(s)) = rest.remove(name)
            && s.len() >= 12
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic())
        {
            secrets.push(s);
        }
    }
    let rest = serde_json::Value::Object(rest).to_string();
    secrets.retain(|s| !rest.contains(s.as_str()));
    secrets
}

fn assert_no_secret(message: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !message.contains(s.as_str()),
            "an error message quotes a token: {message}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// rate_limit
// ---------------------------------------------------------------------------------------------

/// Splits `name: value` lines up to the first empty line into a header map (invalid names or
/// values are skipped); the rest is the body.
pub fn split_headers(data: &[u8]) -> (HeaderMap, &[u8]) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    (headers, body)
}

/// The body as a JSON object when it has at most one of `retry_after`, `global` and `code`,
/// `global` is a boolean or null and `code` an unsigned integer or null: the bodies whose
/// fields `RateLimit::from_parts` documents as winning over the headers.
fn well_typed_rate_limit_body(body: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    let keys = serde_json::from_slice::<Keys>(body).ok()?.0;
    for name in ["retry_after", "global", "code"] {
        if keys.iter().filter(|k| *k == name).count() > 1 {
            return None;
        }
    }
    let serde_json::Value::Object(obj) = serde_json::from_slice::<serde_json::Value>(body).ok()? else {
        return None;
    };
    let global_ok = obj.get("global").is_none_or(|g| g.is_boolean() || g.is_null());
    let code_ok = obj.get("code").is_none_or(|c| c.is_u64() || c.is_null());
    (global_ok && code_ok).then_some(obj)
}

/// `rate_limit`: `RateLimit::from_parts` (and `from_headers`) with fuzzed headers and body;
/// the input is header lines, an empty line, then the body. Also feeds the same answer as a
/// 429 to the API and token-endpoint parsers.
///
/// Asserts: `retry_after` and `reset_after` never exceed one hour; `X-RateLimit-Scope: global`
/// or `"global": true` in a JSON body make it global; a body `retry_after` wins over the
/// headers (for a well-typed JSON object body; a body that is not JSON changes nothing);
/// `limit`/`remaining`/`scope`/`bucket`/`reset_after` are what the headers say; a 429 is always a rate limit, carrying
/// exactly `from_parts`' values, through `parse_api_json` and the token exchange.
pub fn rate_limit(data: &[u8]) {
    let (headers, body) = split_headers(data);
    let rl = RateLimit::from_parts(&headers, body);
    let from_headers = RateLimit::from_headers(&headers);
    for d in [rl.retry_after, rl.reset_after, from_headers.retry_after]
        .into_iter()
        .flatten()
    {
        assert!(d <= MAX_RETRY_AFTER, "a wait of {d:?}");
    }
    assert_eq!(rl.reset_after, from_headers.reset_after);
    assert_eq!(rl.limit, from_headers.limit);
    assert_eq!(rl.remaining, from_headers.remaining);
    assert_eq!(rl.scope, from_headers.scope);
    assert_eq!(rl.bucket, from_headers.bucket);
    if rl.scope.as_deref() == Some("global") {
        assert!(rl.global, "X-RateLimit-Scope: global but not global");
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        // Not JSON (HTML, empty, truncated): the body changes nothing.
        assert_eq!(
            rl.retry_after, from_headers.retry_after,
            "a non-JSON body changed retry_after"
        );
        assert_eq!(rl.code, None);
        if rl.scope.as_deref() != Some("global") {
            assert_eq!(rl.global, from_headers.global);
        }
    } else if let Some(obj) = well_typed_rate_limit_body(body) {
        // A JSON object with at most one of each field, each of the documented type: its
        // values win over the headers.
        match obj.get("global").and_then(serde_json::Value::as_bool) {
            Some(true) => assert!(rl.global, "\"global\": true but not global"),
            Some(false) if rl.scope.as_deref() != Some("global") => assert!(!rl.global),
            _ => {}
        }
        assert_eq!(rl.code, obj.get("code").and_then(serde_json::Value::as_u64));
        let body_retry = match obj.get("retry_after") {
            Some(serde_json::Value::Number(n)) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0),
            _ => None,
        };
        match body_retry {
            Some(secs) => {
                let got = rl.retry_after.map(|d| d.as_secs_f64());
                let want = secs.min(MAX_RETRY_AFTER.as_secs_f64());
                assert!(
                    got.is_some_and(|g| (g - want).abs() < 1e-6),
                    "body retry_after {secs} gave {got:?}"
                );
            }
            None => assert_eq!(rl.retry_after, from_headers.retry_after),
        }
    }
    let _ = rl.to_string();

    let api = parse_api_json::<serde_json::Value>(response(429, &headers, body));
    match api {
        Err(ApiError::Response(ResponseError::RateLimited(got))) => assert_eq!(got, rl),
        other => panic!("a 429 gave {other:?}"),
    }
    let grant = AuthorizationGrant::from_code(
        AuthorizationCode::new("code".to_owned()),
        None,
        Scopes::parse("identify"),
    );
    match client()
        .exchange_code(grant)
        .finish(response(429, &headers, body), at(NOW))
    {
        Err(TokenError::RateLimited(got)) => {
            assert_eq!(got, rl);
            assert!(TokenError::RateLimited(got).is_transient());
        }
        other => panic!("a 429 token answer gave {other:?}"),
    }
    let login = LoginError::Token(TokenError::RateLimited(rl));
    assert_eq!(login.status(), 503);
    assert!(login.retry_after().is_some_and(|s| (1..=3600).contains(&s)));
}

// ---------------------------------------------------------------------------------------------
// id_token
// ---------------------------------------------------------------------------------------------

/// `id_token`: `IdToken::header_unverified`, `claims_unverified` and `validate`, on two tokens
/// made from each input: the input itself as a compact JWS, and (to reach the claims logic)
/// `base64url(first line).base64url(rest).sig`, i.e. the input as header JSON, a newline, and
/// payload JSON.
///
/// Asserts: over 16 KiB is `TooLarge`; `validate` succeeds only if the decoded claims have our
/// issuer, our client in `aud`, a matching `azp` (required with several audiences), `exp`
/// after now and `iat` not after now (within the leeway) and the expected nonce, and then it
/// returns exactly `claims_unverified`; claims survive serde; `Debug` hides the raw token.
pub fn id_token(data: &[u8]) {
    let raw = text(data);
    check_id_token(&IdToken::new(raw.clone()));
    let (header, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let built = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    check_id_token(&IdToken::new(built));
}

fn check_id_token(token: &IdToken) {
    let big = token.as_str().len() > MAX_ID_TOKEN_BYTES;
    let header = token.header_unverified();
    let claims = token.claims_unverified();
    if big {
        assert!(matches!(header, Err(IdTokenError::TooLarge { .. })));
        assert!(matches!(claims, Err(IdTokenError::TooLarge { .. })));
    }
    assert_eq!(
        format!("{token:?}"),
        "IdToken([redacted])",
        "IdToken Debug shows the token"
    );
    let client_id = ClientId::new(CLIENT_ID.to_owned());
    let leeway = Duration::from_secs(60);
    for nonce in [None, Some("n-0S6_WzA2Mj")] {
        let validated = token.validate(&client_id, DISCORD_ISSUER, at(NOW), nonce, leeway);
        match (&validated, &claims) {
            (Ok(v), Ok(c)) => {
                assert_eq!(v, c, "validate returned other claims than claims_unverified");
                assert_eq!(c.iss, DISCORD_ISSUER);
                assert!(c.aud.iter().any(|a| a == CLIENT_ID), "foreign audience accepted");
                match &c.azp {
                    Some(azp) => assert_eq!(azp, CLIENT_ID),
                    None => assert_eq!(c.aud.len(), 1, "several audiences without azp"),
                }
                assert!(c.exp.saturating_add(60) > NOW, "expired token accepted");
                assert!(c.iat <= NOW + 60, "token from the future accepted");
                if let Some(n) = nonce {
                    assert_eq!(c.nonce.as_deref(), Some(n), "nonce mismatch accepted");
                }
            }
            (Ok(_), Err(e)) => panic!("validate accepted claims that do not decode: {e:?}"),
            (Err(e), Ok(c)) => {
                let fine = c.iss == DISCORD_ISSUER
                    && c.aud.iter().any(|a| a == CLIENT_ID)
                    && c.azp.as_deref().map_or(c.aud.len() == 1, |a| a == CLIENT_ID)
                    && c.exp.saturating_add(60) > NOW
                    && c.iat <= NOW + 60
                    && nonce.is_none_or(|n| c.nonce.as_deref() == Some(n));
                assert!(!fine, "valid claims refused: {e:?}");
            }
            (Err(_), Err(_)) => {}
        }
    }
    if let Ok(c) = &claims {
        let _ = c.user_id();
        let _ = c.check_access_token(&AccessToken::new("6qrZcUqja7812RVdnEKjpzOL4CvHBFG".to_owned()));
        let json = match serde_json::to_string(c) {
            Ok(j) => j,
            Err(e) => panic!("claims do not serialize: {e}"),
        };
        let back: IdTokenClaims = match serde_json::from_str(&json) {
            Ok(b) => b,
            Err(e) => panic!("serialized claims do not decode: {e}\n{json}"),
        };
        assert_eq!((&back.iss, &back.sub, &back.aud), (&c.iss, &c.sub, &c.aud));
        assert_eq!((back.exp, back.iat, &back.nonce), (c.exp, c.iat, &c.nonce));
    }
}

// ---------------------------------------------------------------------------------------------
// session_decode
// ---------------------------------------------------------------------------------------------

/// `session_decode`: what the integrations read back from a session store: `serde_json` of
/// `login::AuthSession`, `login::PendingLogins`, `login::PendingLogin`, `PendingAuthorization`,
/// `PendingImplicit`, `TokenSet` and `ReturnTo`, then the operations done on them.
///
/// Asserts: whatever decodes re-encodes to a fixpoint (store → load → store changes nothing);
/// a decoded `ReturnTo` (also inside a pending login) still passes `ReturnTo::parse`;
/// `session_status` never panics at any time; `AuthSession` `Debug` never shows the tokens;
/// a pending login is taken by its own state exactly once (and a completed callback lands on
/// a valid `return_to`); a decoded pending authorization accepts a callback with its own state
/// only before its expiry.
pub fn session_decode(data: &[u8]) {
    let config = login_config();
    let times = [0, NOW, EXPIRES_AT + 1, u64::from(u32::MAX), i64::MAX as u64 / 2];

    if let Ok(session) = serde_json::from_slice::<AuthSession>(data) {
        assert_serde_fixpoint(&session, "AuthSession");
        for t in times {
            if let Some(now) = UNIX_EPOCH.checked_add(Duration::from_secs(t)) {
                let _ = config.session_status(&session, now);
            }
        }
        if let Some(tokens) = &session.tokens {
            check_token_set(tokens);
            let debug = format!("{session:?}");
            let mut blank = session.clone();
            if let Some(t) = blank.tokens.as_mut() {
                t.access_token = AccessToken::new(String::new());
                t.refresh_token = None;
            }
            let blank_debug = format!("{blank:?}");
            for secret in std::iter::once(tokens.access_token.secret())
                .chain(tokens.refresh_token.as_ref().map(RefreshToken::secret))
                .filter(|s| s.len() >= 8)
            {
                if !blank_debug.contains(secret.as_str()) {
                    assert!(!debug.contains(secret.as_str()), "AuthSession Debug shows a token");
                }
            }
        }
        let _ = (
            session.user.display_name(),
            session.user.tag(),
            session.user.avatar_url(None),
        );
    }

    if let Ok(mut pending) = serde_json::from_slice::<PendingLogins>(data) {
        assert_serde_fixpoint(&pending, "PendingLogins");
        let json = serde_json::to_string(&pending).unwrap_or_default();
        let states: Vec<String> = match serde_json::from_str::<Vec<PendingLogin>>(&json) {
            Ok(v) => v.iter().map(|p| p.authorization.state().secret().clone()).collect(),
            Err(e) => panic!("PendingLogins is not a list of PendingLogin: {e}"),
        };
        let n = pending.len();
        assert_eq!(n, states.len());
        if let Some(first) = states.first() {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", "NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee")
                .append_pair("state", first)
                .finish();
            let result = config.complete_callback(&query, &mut pending, at(NOW));
            if first.is_empty() || first.len() > MAX_PARAM_BYTES || query.len() > MAX_CALLBACK_QUERY_BYTES {
                assert!(result.is_err());
            } else {
                assert_eq!(pending.len(), n - 1, "the callback did not consume its pending login");
                if let Ok((_, return_to)) = &result {
                    assert!(ReturnTo::parse(return_to.as_str()).is_some());
                }
            }
        }
        pending.prune(at(NOW));
        let _ = pending.take(STATE);
    }

    if let Ok(login) = serde_json::from_slice::<PendingLogin>(data) {
        assert_serde_fixpoint(&login, "PendingLogin");
        assert!(
            ReturnTo::parse(login.return_to.as_str()).is_some(),
            "an invalid return_to decoded"
        );
    }

    if let Ok(auth) = serde_json::from_slice::<PendingAuthorization>(data) {
        assert_serde_fixpoint(&auth, "PendingAuthorization");
        let _ = format!("{auth:?}");
        let state = auth.state().secret().clone();
        let expired = auth.is_expired(at(NOW));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &state)
            .append_pair("code", "c")
            .finish();
        let result = auth.callback(&query, at(NOW));
        if result.is_ok() {
            assert!(!expired, "an expired pending authorization accepted a callback");
            assert!(!state.is_empty());
        }
    }

    if let Ok(implicit) = serde_json::from_slice::<PendingImplicit>(data) {
        assert_serde_fixpoint(&implicit, "PendingImplicit");
        let _ = implicit.parse_fragment("access_token=a&state=s", at(NOW));
    }

    if let Ok(tokens) = serde_json::from_slice::<TokenSet>(data) {
        check_token_set(&tokens);
        let _ = tokens.expires_within(at(NOW), Duration::from_secs(300));
    }

    if let Ok(r) = serde_json::from_slice::<ReturnTo>(data) {
        assert!(ReturnTo::parse(r.as_str()).is_some(), "an invalid return_to decoded");
        return_to(r.as_str().as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// api_models
// ---------------------------------------------------------------------------------------------

/// `api_models`: every API response parser (`ApiCall::parse`, i.e. `response::parse_api_json`
/// and friends) on the input as a 200 body: `/users/@me`, `/users/@me/guilds`, guild member,
/// connections, `/oauth2/@me`, `/oauth2/applications/@me`, userinfo, keys, role connection and
/// its metadata, add-guild-member; plus the same body as a 400/401/403/404/500 answer.
///
/// Asserts: bodies over 1 MiB are refused; every decoded model survives serde unchanged (the
/// "reads back identically" promise for session records); CDN URLs built from any decoded
/// hash stay on `cdn.discordapp.com` under the object's own path; guild paging never panics;
/// error statuses never decode as success, 401 is `Unauthorized`, 403 `Forbidden` and 404
/// `NotFound` (or, with an OAuth-style `{"error": …}` body, that OAuth error).
pub fn api_models(data: &[u8]) {
    let e = Endpoints::discord();
    let token = AccessToken::new("6qrZcUqja7812RVdnEKjpzOL4CvHBFG".to_owned());
    let bot = BotToken::new("bot".to_owned());
    let app = Snowflake::new(159_799_960_412_356_608);
    let ok = || response(200, &HeaderMap::new(), data);

    if let Ok(user) = api::current_user(&e, &token).parse(ok()) {
        assert_model_round_trip(&user, "User");
        let id = user.id.to_string();
        assert_cdn(&user.avatar_url(None), &[&format!("/avatars/{id}/"), "/embed/avatars/"]);
        assert_cdn(&user.default_avatar_url(), &["/embed/avatars/"]);
        if let Some(u) = user.banner_url(None) {
            assert_cdn(&u, &[&format!("/banners/{id}/")]);
        }
        if let Some(u) = user.avatar_decoration_url() {
            assert_cdn(&u, &["/avatar-decoration-presets/"]);
        }
        let _ = (
            user.display_name(),
            user.tag(),
            user.is_migrated(),
            user.id.created_at(),
        );
    }
    if let Ok(guilds) = api::current_user_guilds(&e, &token, &GuildsQuery::default()).parse(ok()) {
        assert_model_round_trip(&guilds, "Vec<CurrentUserGuild>");
        for g in &guilds {
            let _ = g.can_manage();
            if let Some(u) = g.icon_url(None) {
                assert_cdn(&u, &[&format!("/icons/{}/", g.id)]);
            }
        }
        for limit in [None, Some(0), Some(1), Some(2), Some(255)] {
            for before in [None, Some(Snowflake::new(1))] {
                let q = GuildsQuery {
                    limit,
                    before,
                    ..GuildsQuery::default()
                };
                let _ = q.next_page(&guilds);
            }
        }
    }
    if let Ok(member) = api::current_user_guild_member(&e, &token, Snowflake::new(1)).parse(ok()) {
        assert_model_round_trip(&member, "Member");
        let _ = member.has_role(Snowflake::new(1));
    }
    if let Ok(connections) = api::current_user_connections(&e, &token).parse(ok()) {
        assert_model_round_trip(&connections, "Vec<Connection>");
        let _ = connections.iter().map(api::Connection::is_public).count();
    }
    if let Ok(info) = api::current_authorization(&e, &token).parse(ok()) {
        assert_model_round_trip(&info, "AuthorizationInfo");
    }
    if let Ok(application) = api::current_application(&e, &bot).parse(ok()) {
        assert_model_round_trip(&application, "Application");
        if let Some(u) = application.icon_url(None) {
            assert_cdn(&u, &[&format!("/app-icons/{}/", application.id)]);
        }
    }
    if let Ok(userinfo) = api::userinfo(&e, &token).parse(ok()) {
        assert_model_round_trip(&userinfo, "UserInfo");
    }
    if let Ok(keys) = api::keys(&e).parse(ok()) {
        assert_model_round_trip(&keys, "Jwks");
        let _ = (keys.find(None), keys.find(Some("k")));
    }
    if let Ok(rc) = api::get_role_connection(&e, &token, app).parse(ok()) {
        assert_model_round_trip(&rc, "RoleConnection");
    }
    if let Ok(meta) = api::role_connection_metadata(&e, &bot, app).parse(ok()) {
        assert_model_round_trip(&meta, "Vec<RoleConnectionMetadata>");
    }
    let add = api::add_guild_member(
        &e,
        &bot,
        Snowflake::new(1),
        Snowflake::new(2),
        &token,
        &api::AddGuildMember::default(),
    );
    let _ = add.parse(response(201, &HeaderMap::new(), data));
    if let Ok(guild) = serde_json::from_slice::<api::Guild>(data) {
        assert_model_round_trip(&guild, "Guild");
        let _ = guild.role(Snowflake::new(1));
    }

    for status in [400, 401, 403, 404, 500] {
        let result = parse_api_json::<serde_json::Value>(response(status, &HeaderMap::new(), data));
        match (status, &result) {
            (_, Ok(_)) => panic!("a {status} answer decoded as a success"),
            (401, Err(e)) => assert!(matches!(e, ApiError::Unauthorized), "401 gave {e:?}"),
            // An OAuth-style body (`{"error": ...}`) on a 403/404 stays an OAuth error.
            (403, Err(e)) => assert!(
                matches!(e, ApiError::Forbidden(_) | ApiError::Response(ResponseError::OAuth(_))),
                "403 gave {e:?}"
            ),
            (404, Err(e)) => assert!(
                matches!(e, ApiError::NotFound(_) | ApiError::Response(ResponseError::OAuth(_))),
                "404 gave {e:?}"
            ),
            (_, Err(e)) => {
                let _ = e.to_string();
            }
        }
    }
    if data.len() > MAX_BODY_BYTES {
        assert!(matches!(
            parse_api_json::<serde_json::Value>(ok()),
            Err(ApiError::Response(ResponseError::BodyTooLarge { .. }))
        ));
    }
}

fn assert_model_round_trip<T>(value: &T, what: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = assert_serde_fixpoint(value, what);
    let back: T = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    };
    assert_eq!(&back, value, "{what} does not read back identically from {json}");
}

fn assert_cdn(url: &Url, prefixes: &[&str]) {
    assert_eq!(url.scheme(), "https");
    assert_eq!(
        url.host_str(),
        Some("cdn.discordapp.com"),
        "CDN URL on another host: {url}"
    );
    assert!(url.username().is_empty() && url.port().is_none());
    assert!(
        prefixes.iter().any(|p| url.path().starts_with(p)),
        "CDN URL outside {prefixes:?}: {url}"
    );
    let path = url.path();
    assert!(
        !path.contains("/../") && !path.contains("/./"),
        "CDN URL path escapes: {url}"
    );
}

// ---------------------------------------------------------------------------------------------
// login_cookie
// ---------------------------------------------------------------------------------------------

/// `login_cookie`: the callback route reading a login's sealed cookie
/// (`login::pending_cookie`). The input's first line is the callback's query string, the rest
/// the request's `Cookie` header.
///
/// Asserts: never a panic; no input yields a code exchange (a login cookie cannot be forged
/// without the key); at most one cookie deletion is answered (the one named by the `state`).
pub fn login_cookie(data: &[u8]) {
    let (query, cookie) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let config = match LoginConfig::builder(CLIENT_ID, REDIRECT_URI)
        .client_secret("937it3ow87i4ery69876wqire")
        .login_cookie_key(
            match discord_oauth_core::login::pending_cookie::LoginCookieKey::derive(&[42u8; 64]) {
                Ok(k) => k,
                Err(e) => panic!("the fixed key is invalid: {e}"),
            },
        )
        .build()
    {
        Ok(c) => c,
        Err(e) => panic!("the fixed login config is invalid: {e}"),
    };
    let consumed = discord_oauth_core::login::pending_cookie::ConsumedStates::with_capacity(4);
    for now in [0, NOW, u64::from(u32::MAX)] {
        let Some(now) = UNIX_EPOCH.checked_add(Duration::from_secs(now)) else {
            continue;
        };
        let start = config.callback_start(&query, [cookie], &consumed, now);
        assert!(start.result.is_err(), "a forged login cookie was accepted");
        let answer = start.clear.finish(http::Response::new(String::new()));
        assert!(answer.headers().get_all(http::header::SET_COOKIE).iter().count() <= 1);
    }
}
