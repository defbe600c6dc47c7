//! `/oauth2/authorize`, `/oauth2/token` and `/oauth2/token/revoke`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::errors;
use crate::html::{self, Choice, Consent};
use crate::model::MockClient;
use crate::record::{is_form_content_type, parse_basic};
use crate::state::{CodeRecord, Grant, IssuedTokens, Shared, State};
use crate::util::{ct_eq, encode_form, first, later, parse_form, random_alnum};

/// Every scope name Discord knows (the OpenAPI `OAuth2Scopes` enum). Any other name is
/// refused with `invalid_scope`.
pub const KNOWN_SCOPES: &[&str] = &[
    "activities.invites.write",
    "activities.read",
    "activities.write",
    "applications.builds.read",
    "applications.builds.upload",
    "applications.commands",
    "applications.commands.permissions.update",
    "applications.commands.update",
    "applications.entitlements",
    "applications.store.update",
    "bot",
    "connections",
    "dm_channels.read",
    "email",
    "gdm.join",
    "guilds",
    "guilds.join",
    "guilds.members.read",
    "identify",
    "messages.read",
    "openid",
    "relationships.read",
    "role_connections.write",
    "rpc",
    "rpc.activities.write",
    "rpc.notifications.read",
    "rpc.screenshare.read",
    "rpc.screenshare.write",
    "rpc.video.read",
    "rpc.video.write",
    "rpc.voice.read",
    "rpc.voice.write",
    "voice",
    "webhook.incoming",
];

/// The cookie that says which mock user is "logged in to Discord" in a browser.
pub const USER_COOKIE: &str = "discord_mock_user";

const BOT_ONLY: &[&str] = &["bot", "applications.commands"];
const PASSTHROUGH: &[&str] = &["bot", "webhook.incoming"];

// ---------------------------------------------------------------------------------------------
// Shared helpers

pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"discord\""),
        );
    }
    resp
}

fn bad_request(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

fn invalid_client() -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", errors::INVALID_CLIENT)
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (status, Html(html::error_page(message))).into_response()
}

fn parse_scopes(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split([' ', '+']).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

fn all_known(scopes: &[String]) -> bool {
    scopes.iter().all(|s| KNOWN_SCOPES.contains(&s.as_str()))
}

fn has(scopes: &[String], name: &str) -> bool {
    scopes.iter().any(|s| s == name)
}

pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

pub(crate) fn user_cookie(user_id: &str) -> String {
    format!("{USER_COOKIE}={user_id}; Path=/; HttpOnly; SameSite=Lax")
}

/// Appends parameters to a redirect URI's query (or, for the implicit grant, fragment).
fn redirect_with(base: &str, params: &[(&str, &str)], fragment: bool) -> String {
    let base = base.split('#').next().unwrap_or(base);
    let encoded = encode_form(params.iter().copied());
    if fragment {
        format!("{base}#{encoded}")
    } else if base.contains('?') {
        let sep = if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        };
        format!("{base}{sep}{encoded}")
    } else {
        format!("{base}?{encoded}")
    }
}

fn found(location: &str, cookie: Option<String>) -> Response {
    let Ok(loc) = HeaderValue::from_str(location) else {
        return error_page(StatusCode::BAD_REQUEST, "Invalid OAuth2 redirect_uri");
    };
    let mut resp = StatusCode::FOUND.into_response();
    resp.headers_mut().insert(header::LOCATION, loc);
    set_cookie(&mut resp, cookie);
    resp
}

fn set_cookie(resp: &mut Response, cookie: Option<String>) {
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

// ---------------------------------------------------------------------------------------------
// Authorize

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResponseType {
    Code,
    Token,
}

#[derive(Debug)]
struct AuthzRequest {
    client: MockClient,
    response_type: Option<ResponseType>,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    state: Option<String>,
    prompt: Option<String>,
    challenge: Option<String>,
    nonce: Option<String>,
    permissions: String,
    guild_id: Option<String>,
    disable_guild_select: bool,
}

enum AuthzError {
    Page(StatusCode, String),
    Redirect {
        redirect_uri: String,
        fragment: bool,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl AuthzError {
    fn into_response(self) -> Response {
        match self {
            AuthzError::Page(status, msg) => error_page(status, &msg),
            AuthzError::Redirect {
                redirect_uri,
                fragment,
                error,
                description,
                state,
            } => {
                let mut p = vec![("error", error), ("error_description", description.as_str())];
                if let Some(s) = &state {
                    p.push(("state", s.as_str()));
                }
                found(&redirect_with(&redirect_uri, &p, fragment), None)
            }
        }
    }
}

fn validate(st: &State, params: &[(String, String)]) -> Result<AuthzRequest, AuthzError> {
    let page = |m: &str| AuthzError::Page(StatusCode::BAD_REQUEST, m.to_owned());
    let client_id = first(params, "client_id").ok_or_else(|| page("Invalid OAuth2 client_id"))?;
    let client = st
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| page("Unknown Application"))?;
    let response_type_raw = first(params, "response_type");
    let scope_raw = first(params, "scope");
    let mut scopes = scope_raw.map(parse_scopes).unwrap_or_default();
    if scope_raw.is_none() && response_type_raw.is_none() {
        // Only `client_id` (+ bot parameters): the application's default install settings.
        scopes = vec!["bot".to_owned(), "applications.commands".to_owned()];
    }
    let bot_only =
        response_type_raw.is_none() && !scopes.is_empty() && scopes.iter().all(|s| BOT_ONLY.contains(&s.as_str()));
    let state = first(params, "state").map(str::to_owned);
    let permissions = first(params, "permissions").unwrap_or("0");
    let permissions = match permissions.parse::<u64>() {
        Ok(p) => p.to_string(),
        Err(_) => return Err(page("Invalid permissions")),
    };
    let guild_id = first(params, "guild_id").filter(|g| !g.is_empty()).map(str::to_owned);
    let disable_guild_select = first(params, "disable_guild_select") == Some("true");

    let mut req = AuthzRequest {
        client,
        response_type: None,
        redirect_uri: None,
        scopes,
        state,
        prompt: None,
        challenge: None,
        nonce: first(params, "nonce").map(str::to_owned),
        permissions,
        guild_id,
        disable_guild_select,
    };
    if bot_only {
        return Ok(req);
    }

    // The redirect URI must be valid before any error may be sent to it.
    let redirect_uri = match first(params, "redirect_uri") {
        Some(uri) => {
            if !req.client.redirect_uris.iter().any(|r| r == uri) {
                return Err(page(&unregistered_redirect_uri(&req.client, Some(uri))));
            }
            uri.to_owned()
        }
        None => req
            .client
            .redirect_uris
            .first()
            .cloned()
            .ok_or_else(|| page(&unregistered_redirect_uri(&req.client, None)))?,
    };
    let fragment = response_type_raw == Some("token");
    let fail = |error: &'static str, description: &str| AuthzError::Redirect {
        redirect_uri: redirect_uri.clone(),
        fragment,
        error,
        description: description.to_owned(),
        state: req.state.clone(),
    };
    let response_type = match response_type_raw {
        Some("code") => ResponseType::Code,
        Some("token") => ResponseType::Token,
        _ => {
            return Err(fail("unsupported_response_type", errors::UNSUPPORTED_RESPONSE_TYPE));
        }
    };
    if req.scopes.is_empty() || !all_known(&req.scopes) {
        return Err(fail("invalid_scope", errors::INVALID_SCOPE));
    }
    let prompt = first(params, "prompt");
    if let Some(p) = prompt
        && p != "consent"
        && p != "none"
    {
        return Err(fail("invalid_request", errors::INVALID_PROMPT));
    }
    let challenge = first(params, "code_challenge");
    let method = first(params, "code_challenge_method");
    if response_type == ResponseType::Code && (challenge.is_some() || method.is_some()) {
        if method != Some("S256") {
            return Err(fail("invalid_request", errors::UNSUPPORTED_CHALLENGE_METHOD));
        }
        let Some(ch) = challenge else {
            return Err(fail("invalid_request", errors::INVALID_CODE_CHALLENGE));
        };
        let ok = ch.len() == 43 && ch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(fail("invalid_request", errors::INVALID_CODE_CHALLENGE));
        }
        if has(&req.scopes, "role_connections.write") {
            return Err(fail("invalid_request", errors::ROLE_CONNECTIONS_WITH_PKCE));
        }
        req.challenge = Some(ch.to_owned());
    }
    if response_type == ResponseType::Token && has(&req.scopes, "role_connections.write") {
        return Err(fail("invalid_request", errors::ROLE_CONNECTIONS_IMPLICIT));
    }
    req.response_type = Some(response_type);
    req.redirect_uri = Some(redirect_uri);
    req.prompt = prompt.map(str::to_owned);
    Ok(req)
}

/// Discord's "Invalid OAuth2 redirect_uri", followed (the mock is for tests) by the URI it got
/// and the ones the application has registered, and how to register one.
fn unregistered_redirect_uri(client: &MockClient, got: Option<&str>) -> String {
    let got = got.map_or_else(|| "none was sent".to_owned(), |uri| format!("got {uri:?}"));
    let registered = if client.redirect_uris.is_empty() {
        "none".to_owned()
    } else {
        let quoted: Vec<String> = client.redirect_uris.iter().map(|uri| format!("{uri:?}")).collect();
        quoted.join(", ")
    };
    format!(
        "Invalid OAuth2 redirect_uri: {got}; application {} has registered: {registered}. Register it with \
         MockDiscord::add_redirect_uri (MockDiscord::login_config does it) or the binary's \
         --redirect-uri.",
        client.id
    )
}

/// `GET /oauth2/authorize`: validate, then show the consent page (or approve at once).
pub(crate) async fn authorize_get(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = parse_form(query.unwrap_or_default().as_bytes());
    let cookie = cookie_value(&headers, USER_COOKIE);
    authorize(&shared, &params, cookie.as_deref(), None)
}

/// `POST /oauth2/authorize`: the consent form (`action=approve|deny`, `user_id`, `guild_id`).
pub(crate) async fn authorize_post(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !is_form_content_type(ct) {
        return error_page(StatusCode::BAD_REQUEST, "The consent form must be form-encoded.");
    }
    let form = parse_form(&body);
    let action = match first(&form, "action") {
        Some("approve") => Action::Approve,
        Some("deny") => Action::Deny,
        _ => return error_page(StatusCode::BAD_REQUEST, "Unknown consent action."),
    };
    let cookie = cookie_value(&headers, USER_COOKIE);
    authorize(&shared, &form, cookie.as_deref(), Some(action))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Approve,
    Deny,
}

fn authorize(
    shared: &Shared,
    params: &[(String, String)],
    cookie_user: Option<&str>,
    action: Option<Action>,
) -> Response {
    let mut st = shared.lock();
    let req = match validate(&st, params) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let chosen_user = first(params, "user_id");
    let Some(user_id) = st.pick_user(&[chosen_user, cookie_user]) else {
        return error_page(StatusCode::BAD_REQUEST, "The mock has no users to log in as.");
    };
    // Remember a user picked on the consent form, like a Discord login would.
    let cookie = (chosen_user == Some(user_id.as_str()) && cookie_user != chosen_user).then(|| user_cookie(&user_id));

    let action = if let Some(a) = action {
        a
    } else {
        let passthrough = req.scopes.iter().any(|s| PASSTHROUGH.contains(&s.as_str()));
        let already = st
            .authorizations
            .get(&(req.client.id.clone(), user_id.clone()))
            .is_some_and(|granted| req.scopes.iter().all(|s| granted.contains(s)));
        if st.config.auto_consent || (req.prompt.as_deref() == Some("none") && !passthrough && already) {
            Action::Approve
        } else {
            return consent_page(&st, &req, params, &user_id);
        }
    };

    if action == Action::Deny {
        let Some(redirect_uri) = &req.redirect_uri else {
            let mut resp = Html(html::page(
                "Discord (mock) - cancelled",
                "<h1 id=\"cancelled\">Authorization cancelled</h1>",
            ))
            .into_response();
            set_cookie(&mut resp, cookie);
            return resp;
        };
        let mut p = vec![("error", "access_denied"), ("error_description", errors::ACCESS_DENIED)];
        if let Some(s) = &req.state {
            p.push(("state", s.as_str()));
        }
        let fragment = req.response_type == Some(ResponseType::Token);
        return found(&redirect_with(redirect_uri, &p, fragment), cookie);
    }
    approve(&mut st, req, &user_id, cookie)
}

fn consent_page(st: &State, req: &AuthzRequest, params: &[(String, String)], user_id: &str) -> Response {
    let hidden: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "user_id" | "action" | "guild_id"))
        .cloned()
        .collect();
    let users = st
        .users
        .values()
        .map(|u| Choice {
            value: u.id.clone(),
            label: match &u.global_name {
                Some(g) => format!("{g} (@{})", u.username),
                None => format!("@{}", u.username),
            },
            selected: u.id == user_id,
        })
        .collect();
    let needs_guild = req.scopes.iter().any(|s| PASSTHROUGH.contains(&s.as_str()));
    let guilds = needs_guild.then(|| {
        let manageable = st.manageable_guilds(user_id);
        let preselect = req
            .guild_id
            .as_deref()
            .filter(|g| manageable.iter().any(|m| m.id == *g));
        manageable
            .iter()
            .enumerate()
            .map(|(i, g)| Choice {
                value: g.id.clone(),
                label: g.name.clone(),
                selected: preselect.map_or(i == 0, |p| p == g.id),
            })
            .collect::<Vec<_>>()
    });
    let guild_locked = req.disable_guild_select
        && guilds
            .as_ref()
            .is_some_and(|gs| gs.iter().any(|g| g.selected && Some(&g.value) == req.guild_id.as_ref()));
    let redirect_host = req
        .redirect_uri
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization());
    Html(html::consent(&Consent {
        app_name: &req.client.name,
        scopes: &req.scopes,
        hidden: &hidden,
        users,
        guilds,
        guild_locked,
        redirect_host,
    }))
    .into_response()
}

fn approve(st: &mut State, req: AuthzRequest, user_id: &str, cookie: Option<String>) -> Response {
    let needs_guild = req.scopes.iter().any(|s| PASSTHROUGH.contains(&s.as_str()));
    let guild = if needs_guild {
        let manageable = st.manageable_guilds(user_id);
        let picked = req
            .guild_id
            .as_deref()
            .and_then(|g| manageable.iter().find(|m| m.id == g));
        let picked = match (picked, &req.guild_id) {
            (Some(g), _) => Some(*g),
            (None, Some(_)) if req.disable_guild_select => None,
            (None, _) => manageable.first().copied(),
        };
        match picked {
            Some(g) => Some((g.id.clone(), g.name.clone(), g.channel_id.clone())),
            None => {
                return error_page(
                    StatusCode::FORBIDDEN,
                    "You need the Manage Server permission in a server to add this application.",
                );
            }
        }
    } else {
        None
    };
    let has_bot = has(&req.scopes, "bot");
    if has_bot && let Some((gid, _, _)) = &guild {
        st.bot_guilds.insert((req.client.id.clone(), gid.clone()));
    }
    let Some(response_type) = req.response_type else {
        // Bot authorization: no redirect, just the confirmation page.
        let (gid, gname) = guild.map(|(id, name, _)| (id, name)).unwrap_or_default();
        let mut resp = Html(html::bot_added(&req.client.name, &gname, &gid, &req.permissions)).into_response();
        set_cookie(&mut resp, cookie);
        return resp;
    };
    let Some(redirect_uri) = req.redirect_uri.clone() else {
        return error_page(StatusCode::BAD_REQUEST, "Invalid OAuth2 redirect_uri");
    };
    let key = (req.client.id.clone(), user_id.to_owned());
    let remembered: Vec<String> = req
        .scopes
        .iter()
        .filter(|s| !PASSTHROUGH.contains(&s.as_str()))
        .cloned()
        .collect();
    st.authorizations.entry(key).or_default().extend(remembered);

    let mut p: Vec<(&str, String)> = Vec::new();
    let fragment = match response_type {
        ResponseType::Code => {
            let code = random_alnum(30);
            let record = CodeRecord {
                client_id: req.client.id.clone(),
                user_id: user_id.to_owned(),
                redirect_uri: Some(redirect_uri.clone()),
                scopes: req.scopes.clone(),
                challenge: req.challenge.clone(),
                nonce: req.nonce.clone(),
                expires_at: later(st.now(), st.config.code_ttl),
                used_by: None,
                guild_id: guild.as_ref().map(|(id, _, _)| id.clone()),
                webhook_channel: guild
                    .as_ref()
                    .filter(|_| has(&req.scopes, "webhook.incoming"))
                    .map(|(id, _, ch)| (id.clone(), ch.clone())),
            };
            st.codes.insert(code.clone(), record);
            p.push(("code", code));
            if let Some(s) = &req.state {
                p.push(("state", s.clone()));
            }
            if has_bot && let Some((gid, _, _)) = &guild {
                p.push(("guild_id", gid.clone()));
                p.push(("permissions", req.permissions.clone()));
            }
            if st.config.include_iss {
                p.push(("iss", st.config.issuer.clone()));
            }
            false
        }
        ResponseType::Token => {
            let grant = Grant {
                client_id: req.client.id.clone(),
                user_id: user_id.to_owned(),
                scopes: req.scopes.clone(),
                revoked: false,
            };
            let (_, tokens) = st.issue(grant, false, req.nonce.as_deref());
            p.push(("access_token", tokens.access_token));
            p.push(("token_type", "Bearer".to_owned()));
            p.push(("expires_in", tokens.expires_in.to_string()));
            p.push(("scope", tokens.scope));
            if let Some(s) = &req.state {
                p.push(("state", s.clone()));
            }
            true
        }
    };
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    found(&redirect_with(&redirect_uri, &pairs, fragment), cookie)
}

// ---------------------------------------------------------------------------------------------
// The Embedded App SDK's `authorize`

/// Issues a code the way the Discord client does for an Activity's `authorize` command: no
/// redirect, no PKCE, consent implied. `scopes` must be known and non-empty, and may not ask
/// for what needs a redirect (`bot`, `webhook.incoming`).
pub(crate) fn sdk_code(st: &mut State, client_id: &str, user_id: &str, scopes: &[String]) -> Result<String, String> {
    if !st.clients.contains_key(client_id) {
        return Err("Unknown Application".to_owned());
    }
    if !st.users.contains_key(user_id) {
        return Err("Unknown User".to_owned());
    }
    if scopes.is_empty() || !all_known(scopes) || scopes.iter().any(|s| PASSTHROUGH.contains(&s.as_str())) {
        return Err(errors::INVALID_SCOPE.to_owned());
    }
    st.authorizations
        .entry((client_id.to_owned(), user_id.to_owned()))
        .or_default()
        .extend(scopes.iter().cloned());
    let code = random_alnum(30);
    let record = CodeRecord {
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        redirect_uri: None,
        scopes: scopes.to_vec(),
        challenge: None,
        nonce: None,
        expires_at: later(st.now(), st.config.code_ttl),
        used_by: None,
        guild_id: None,
        webhook_channel: None,
    };
    st.codes.insert(code.clone(), record);
    Ok(code)
}

/// `POST /mock/sdk/authorize` (form `client_id`, `scope` space- or comma-separated, optional
/// `user_id`): plays the Discord client answering an Activity's `authorize` command, and
/// answers `{"code": "…"}`. Any origin may call it (`Access-Control-Allow-Origin: *`), so a
/// page served by the app under test can stand in for the SDK.
pub(crate) async fn sdk_authorize(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = read_form(&headers, &body);
    let scopes = first(&form, "scope")
        .map(|s| parse_scopes(&s.replace(',', " ")))
        .unwrap_or_default();
    let mut st = shared.lock();
    let user = st.pick_user(&[first(&form, "user_id"), cookie_value(&headers, USER_COOKIE).as_deref()]);
    let result = match (first(&form, "client_id"), user) {
        (Some(client_id), Some(user_id)) => sdk_code(&mut st, client_id, &user_id, &scopes),
        (None, _) => Err(errors::missing_field("client_id")),
        (_, None) => Err("The mock has no users to log in as.".to_owned()),
    };
    drop(st);
    let mut resp = match result {
        Ok(code) => axum::Json(json!({ "code": code })).into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "message": message, "code": 0 })),
        )
            .into_response(),
    };
    resp.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// Token and revoke

struct Authenticated {
    client: MockClient,
    with_secret: bool,
}

fn authenticate(st: &State, headers: &HeaderMap, form: &[(String, String)]) -> Result<Authenticated, Response> {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let basic = match auth {
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("basic") => {
            Some(parse_basic(v).ok_or_else(invalid_client)?)
        }
        _ => None,
    };
    let body_id = first(form, "client_id");
    let body_secret = first(form, "client_secret");
    let (id, secret) = match &basic {
        Some((id, secret)) => {
            if body_id.is_some_and(|b| b != id) {
                return Err(invalid_client());
            }
            (id.as_str(), Some(secret.as_str()))
        }
        None => (body_id.ok_or_else(invalid_client)?, body_secret),
    };
    let client = st.clients.get(id).cloned().ok_or_else(invalid_client)?;
    // An empty secret (`Basic base64("id:")`) is how some public clients authenticate.
    let secret = secret.filter(|s| !s.is_empty());
    match (secret, &client.secret) {
        (Some(given), Some(expected)) if ct_eq(given, expected) => Ok(Authenticated {
            client,
            with_secret: true,
        }),
        (None, _) if client.public => Ok(Authenticated {
            client,
            with_secret: false,
        }),
        _ => Err(invalid_client()),
    }
}

fn read_form(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // Like discord.com, only form bodies are read; JSON is as good as an empty form.
    if is_form_content_type(ct) {
        parse_form(body)
    } else {
        Vec::new()
    }
}

fn token_json(tokens: &IssuedTokens, extra: &[(&str, Value)]) -> Response {
    let mut body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
    });
    if let Some(o) = body.as_object_mut() {
        if let Some(rt) = &tokens.refresh_token {
            o.insert("refresh_token".into(), json!(rt));
        }
        if let Some(id) = &tokens.id_token {
            o.insert("id_token".into(), json!(id));
        }
        for (k, v) in extra {
            o.insert((*k).to_owned(), v.clone());
        }
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /api/v10/oauth2/token`.
pub(crate) async fn token(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = read_form(&headers, &body);
    let mut st = shared.lock();
    let auth = match authenticate(&st, &headers, &form) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    match first(&form, "grant_type") {
        Some("authorization_code") => code_grant(&mut st, &shared.base_url, &auth, &form),
        Some("refresh_token") => refresh_grant(&mut st, &auth, &form),
        Some("client_credentials") => client_credentials(&mut st, &auth, &form),
        other => bad_request("unsupported_grant_type", &errors::unsupported_grant_type(other)),
    }
}

fn verifier_is_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn code_grant(st: &mut State, base_url: &str, auth: &Authenticated, form: &[(String, String)]) -> Response {
    let Some(code) = first(form, "code") else {
        return bad_request("invalid_request", &errors::missing_field("code"));
    };
    let invalid_code = || bad_request("invalid_grant", errors::INVALID_CODE);
    let now = st.now();
    let Some(rec) = st.codes.get(code).cloned() else {
        return invalid_code();
    };
    if rec.client_id != auth.client.id {
        return invalid_code();
    }
    if let Some(grant_id) = rec.used_by {
        if st.config.revoke_on_code_reuse {
            st.revoke_grant(grant_id);
        }
        return invalid_code();
    }
    if rec.expires_at <= now {
        st.codes.remove(code);
        return invalid_code();
    }
    // A code from a redirect needs the same `redirect_uri` back; a code the Embedded App SDK's
    // `authorize` issued had none, and one sent with it is refused too (strict, so tests catch
    // a backend configured for the wrong kind of code).
    if first(form, "redirect_uri") != rec.redirect_uri.as_deref() {
        return bad_request("invalid_grant", errors::INVALID_REDIRECT_URI);
    }
    let verifier = first(form, "code_verifier");
    match (&rec.challenge, verifier) {
        (Some(challenge), Some(v)) => {
            if !verifier_is_well_formed(v) {
                return bad_request("invalid_request", errors::MALFORMED_CODE_VERIFIER);
            }
            if !ct_eq(&s256(v), challenge) {
                return bad_request("invalid_grant", errors::CODE_VERIFIER_MISMATCH);
            }
        }
        (Some(_), None) => return bad_request("invalid_grant", errors::MISSING_CODE_VERIFIER),
        (None, Some(_)) => {
            return bad_request("invalid_request", errors::UNEXPECTED_CODE_VERIFIER);
        }
        (None, None) if !auth.with_secret => {
            return bad_request("invalid_request", errors::PKCE_REQUIRED);
        }
        (None, None) => {}
    }
    let webhook = rec
        .webhook_channel
        .as_ref()
        .map(|(gid, ch)| st.make_webhook(&rec.client_id, gid, ch, base_url));
    let grant = Grant {
        client_id: rec.client_id.clone(),
        user_id: rec.user_id.clone(),
        scopes: rec.scopes.clone(),
        revoked: false,
    };
    let (grant_id, tokens) = st.issue(grant, true, rec.nonce.as_deref());
    if let Some(r) = st.codes.get_mut(code) {
        r.used_by = Some(grant_id);
    }
    let mut extra = Vec::new();
    if has(&rec.scopes, "bot")
        && let Some(g) = rec.guild_id.as_ref().and_then(|g| st.guilds.get(g))
    {
        extra.push(("guild", g.full_json()));
    }
    if let Some(w) = webhook {
        extra.push(("webhook", w));
    }
    token_json(&tokens, &extra)
}

fn refresh_grant(st: &mut State, auth: &Authenticated, form: &[(String, String)]) -> Response {
    let Some(rt) = first(form, "refresh_token") else {
        return bad_request("invalid_request", &errors::missing_field("refresh_token"));
    };
    let invalid = || bad_request("invalid_grant", errors::INVALID_REFRESH_TOKEN);
    let Some(rec) = st.refresh.get(rt).cloned() else {
        return invalid();
    };
    let Some(grant) = st.grants.get(&rec.grant_id).cloned() else {
        return invalid();
    };
    if grant.client_id != auth.client.id || grant.revoked {
        return invalid();
    }
    if rec.rotated {
        if st.config.revoke_on_refresh_reuse {
            st.revoke_grant(rec.grant_id);
        }
        return invalid();
    }
    if let Some(scope) = first(form, "scope") {
        let asked = parse_scopes(scope);
        if !asked.iter().all(|s| grant.scopes.contains(s)) {
            return bad_request("invalid_scope", errors::INVALID_SCOPE);
        }
    }
    if let Some(r) = st.refresh.get_mut(rt) {
        r.rotated = true;
    }
    let tokens = st.tokens_for(rec.grant_id, true, None);
    token_json(&tokens, &[])
}

fn client_credentials(st: &mut State, auth: &Authenticated, form: &[(String, String)]) -> Response {
    if !auth.with_secret {
        return invalid_client();
    }
    let scopes = first(form, "scope").map(parse_scopes).unwrap_or_default();
    if scopes.is_empty()
        || !all_known(&scopes)
        || scopes
            .iter()
            .any(|s| PASSTHROUGH.contains(&s.as_str()) || s == "openid")
    {
        return bad_request("invalid_scope", errors::INVALID_SCOPE);
    }
    if auth.client.team
        && !scopes
            .iter()
            .all(|s| s == "identify" || s == "applications.commands.update")
    {
        return bad_request("invalid_scope", errors::TEAM_SCOPE);
    }
    let user_id = auth
        .client
        .owner_id
        .clone()
        .filter(|o| st.users.contains_key(o))
        .or_else(|| st.pick_user(&[]))
        .unwrap_or_else(|| auth.client.id.clone());
    let grant = Grant {
        client_id: auth.client.id.clone(),
        user_id,
        scopes,
        revoked: false,
    };
    let (_, tokens) = st.issue(grant, false, None);
    token_json(&tokens, &[])
}

/// `POST /api/v10/oauth2/token/revoke`: revokes the whole grant behind the token.
pub(crate) async fn revoke(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = read_form(&headers, &body);
    let mut st = shared.lock();
    let auth = match authenticate(&st, &headers, &form) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let Some(token) = first(&form, "token") else {
        return bad_request("invalid_request", &errors::missing_field("token"));
    };
    let hint = first(&form, "token_type_hint");
    let from_access = || st.access.get(token).map(|a| a.grant_id);
    let from_refresh = || st.refresh.get(token).map(|r| r.grant_id);
    let grant_id = if hint == Some("refresh_token") {
        from_refresh().or_else(from_access)
    } else {
        from_access().or_else(from_refresh)
    };
    let mut deauthorized = None;
    if let Some(gid) = grant_id
        && let Some(g) = st.grants.get(&gid)
        && g.client_id == auth.client.id
    {
        let was_live = !g.revoked;
        let key = (g.client_id.clone(), g.user_id.clone());
        st.revoke_grant(gid);
        st.authorizations.remove(&key);
        // Like Discord: the application learns of the deauthorization through its webhook.
        if was_live {
            deauthorized = crate::events::deauthorized(&st, &key.0, &key.1);
        }
    }
    drop(st);
    if let Some(out) = deauthorized {
        crate::events::spawn(&shared, out);
    }
    axum::Json(json!({})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_params_are_appended() {
        assert_eq!(
            redirect_with("https://a.b/cb", &[("code", "x y")], false),
            "https://a.b/cb?code=x+y"
        );
        assert_eq!(
            redirect_with("https://a.b/cb?x=1#frag", &[("code", "c")], false),
            "https://a.b/cb?x=1&code=c"
        );
        assert_eq!(
            redirect_with("https://a.b/cb", &[("access_token", "t")], true),
            "https://a.b/cb#access_token=t"
        );
    }

    #[test]
    fn pkce_helpers() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verifier_is_well_formed(&"a".repeat(43)));
        assert!(!verifier_is_well_formed(&"a".repeat(42)));
        assert!(!verifier_is_well_formed(&"a".repeat(129)));
        assert!(!verifier_is_well_formed(&format!("{}!", "a".repeat(43))));
    }

    #[test]
    fn scopes_parse_and_dedupe() {
        assert_eq!(parse_scopes("identify  email+identify"), vec!["identify", "email"]);
    }
}
