//! The bearer- and bot-authenticated REST endpoints, plus the public OpenID documents.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::errors;
use crate::model::{MockClient, MockMember};
use crate::state::{Grant, Shared, State};
use crate::util::{first, iso8601, parse_form};

pub(crate) fn api_error(status: StatusCode, (message, code): (&str, u32)) -> Response {
    (status, axum::Json(json!({"message": message, "code": code}))).into_response()
}

fn unauthorized() -> Response {
    api_error(StatusCode::UNAUTHORIZED, errors::UNAUTHORIZED)
}

fn missing_access() -> Response {
    api_error(StatusCode::FORBIDDEN, errors::MISSING_ACCESS)
}

fn form_body_error(field: &str, code: &str, message: &str) -> Response {
    let (m, c) = errors::INVALID_FORM_BODY;
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "message": m,
            "code": c,
            "errors": { field: { "_errors": [ { "code": code, "message": message } ] } },
        })),
    )
        .into_response()
}

enum Caller {
    Bearer { grant: Grant, expires_at: SystemTime },
    Bot(MockClient),
}

fn authorization(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    Some((scheme.to_ascii_lowercase(), token.trim().to_owned()))
}

fn caller(st: &State, headers: &HeaderMap) -> Result<Caller, Response> {
    match authorization(headers) {
        Some((scheme, token)) if scheme == "bearer" => {
            let (rec, grant) = st.bearer(&token).ok_or_else(unauthorized)?;
            Ok(Caller::Bearer {
                grant: grant.clone(),
                expires_at: rec.expires_at,
            })
        }
        Some((scheme, token)) if scheme == "bot" => st
            .clients
            .values()
            .find(|c| c.bot_token.as_deref().is_some_and(|t| crate::util::ct_eq(t, &token)))
            .cloned()
            .map(Caller::Bot)
            .ok_or_else(unauthorized),
        _ => Err(unauthorized()),
    }
}

/// A bearer grant carrying `scope`.
fn bearer_with(st: &State, headers: &HeaderMap, scope: &str) -> Result<Grant, Response> {
    match caller(st, headers)? {
        Caller::Bearer { grant, .. } if grant.scopes.iter().any(|s| s == scope) => Ok(grant),
        Caller::Bearer { .. } => Err(missing_access()),
        Caller::Bot(_) => Err(unauthorized()),
    }
}

fn has(grant: &Grant, scope: &str) -> bool {
    grant.scopes.iter().any(|s| s == scope)
}

/// `GET /users/@me`.
pub(crate) async fn current_user(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let st = shared.lock();
    match caller(&st, &headers) {
        Ok(Caller::Bot(client)) => axum::Json(client.bot_user_json()).into_response(),
        Ok(Caller::Bearer { grant, .. }) => {
            if !has(&grant, "identify") {
                return missing_access();
            }
            match st.users.get(&grant.user_id) {
                Some(u) => axum::Json(u.private_json(has(&grant, "email"))).into_response(),
                None => api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_USER),
            }
        }
        Err(resp) => resp,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `GET /users/@me/guilds?before&after&limit&with_counts`.
pub(crate) async fn my_guilds(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let st = shared.lock();
    let grant = match bearer_with(&st, &headers, "guilds") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let q = parse_form(query.unwrap_or_default().as_bytes());
    let limit = match first(&q, "limit") {
        None => 200,
        Some(v) => match v.parse::<i64>() {
            Err(_) => {
                return form_body_error("limit", "NUMBER_TYPE_COERCE", &format!("Value \"{v}\" is not int."));
            }
            Ok(n) if n < 1 => {
                return form_body_error(
                    "limit",
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 1.",
                );
            }
            Ok(n) if n > 200 => {
                return form_body_error(
                    "limit",
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 200.",
                );
            }
            Ok(n) => n as usize,
        },
    };
    let mut bounds = [None, None];
    for (i, name) in ["before", "after"].into_iter().enumerate() {
        if let Some(v) = first(&q, name) {
            match v.parse::<u64>() {
                Ok(n) => bounds[i] = Some(n),
                Err(_) => {
                    return form_body_error(name, "NUMBER_TYPE_COERCE", &format!("Value \"{v}\" is not snowflake."));
                }
            }
        }
    }
    let [before, after] = bounds;
    let with_counts = match first(&q, "with_counts") {
        None => false,
        Some(v) => match parse_bool(v) {
            Some(b) => b,
            None => {
                return form_body_error(
                    "with_counts",
                    "BOOLEAN_TYPE_COERCE",
                    &format!("Value \"{v}\" is not boolean."),
                );
            }
        },
    };
    let guilds: Vec<_> = st
        .user_guilds(&grant.user_id)
        .into_iter()
        .filter(|g| {
            let id = g.id.parse::<u64>().unwrap_or(0);
            before.is_none_or(|b| id < b) && after.is_none_or(|a| id > a)
        })
        .collect();
    let page: Vec<_> = if before.is_some() && after.is_none() {
        guilds[guilds.len().saturating_sub(limit)..].to_vec()
    } else {
        guilds.into_iter().take(limit).collect()
    };
    let out: Vec<Value> = page
        .into_iter()
        .map(|g| {
            let perms = st.permissions(g, &grant.user_id).unwrap_or(0);
            let mut v = json!({
                "id": g.id,
                "name": g.name,
                "icon": g.icon,
                "banner": g.banner,
                "owner": g.owner_id.as_deref() == Some(grant.user_id.as_str()),
                "permissions": perms.to_string(),
                "features": g.features,
            });
            if with_counts && let Some(o) = v.as_object_mut() {
                o.insert("approximate_member_count".into(), json!(g.approximate_member_count));
                o.insert("approximate_presence_count".into(), json!(g.approximate_presence_count));
            }
            v
        })
        .collect();
    axum::Json(out).into_response()
}

/// `GET /users/@me/guilds/{guild.id}/member`.
pub(crate) async fn my_guild_member(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(guild_id): Path<String>,
) -> Response {
    let st = shared.lock();
    let grant = match bearer_with(&st, &headers, "guilds.members.read") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let Some(guild) = st.guilds.get(&guild_id) else {
        return api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_GUILD);
    };
    if st.permissions(guild, &grant.user_id).is_none() {
        return api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_GUILD);
    }
    let member = st
        .members
        .iter()
        .find(|m| m.guild_id == guild_id && m.user_id == grant.user_id)
        .cloned()
        // An owner without an explicit member record.
        .unwrap_or_else(|| MockMember::new(guild_id.clone(), grant.user_id.clone()));
    axum::Json(member.json(st.users.get(&grant.user_id))).into_response()
}

/// `GET /users/@me/connections`.
pub(crate) async fn my_connections(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let st = shared.lock();
    let grant = match bearer_with(&st, &headers, "connections") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let out: Vec<Value> = st
        .connections
        .iter()
        .filter(|c| c.user_id == grant.user_id)
        .map(crate::model::MockConnection::json)
        .collect();
    axum::Json(out).into_response()
}

/// `GET /oauth2/@me`.
pub(crate) async fn current_authorization(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let st = shared.lock();
    let (grant, expires_at) = match caller(&st, &headers) {
        Ok(Caller::Bearer { grant, expires_at }) => (grant, expires_at),
        Ok(Caller::Bot(_)) => return unauthorized(),
        Err(resp) => return resp,
    };
    let app = st
        .clients
        .get(&grant.client_id)
        .map_or(Value::Null, MockClient::partial_json);
    let mut out = json!({
        "application": app,
        "scopes": grant.scopes,
        "expires": iso8601(expires_at),
    });
    if has(&grant, "identify")
        && let Some(u) = st.users.get(&grant.user_id)
        && let Some(o) = out.as_object_mut()
    {
        o.insert("user".into(), u.public_json());
    }
    axum::Json(out).into_response()
}

/// `GET /oauth2/applications/@me` (bot token).
pub(crate) async fn current_application(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let st = shared.lock();
    let client = match caller(&st, &headers) {
        Ok(Caller::Bot(c)) => c,
        Ok(Caller::Bearer { .. }) => return unauthorized(),
        Err(resp) => return resp,
    };
    let owner = client
        .owner_id
        .as_ref()
        .and_then(|o| st.users.get(o))
        .map_or_else(|| client.bot_user_json(), crate::model::MockUser::public_json);
    let guild_count = st.bot_guilds.iter().filter(|(c, _)| *c == client.id).count();
    let mut app = client.partial_json();
    if let Some(o) = app.as_object_mut() {
        let extra = json!({
            "bot": client.bot_user_json(),
            "redirect_uris": client.redirect_uris,
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "owner": owner,
            "approximate_guild_count": guild_count,
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": st.authorizations.keys().filter(|(c, _)| *c == client.id).count(),
            "explicit_content_filter": 0,
            "team": null,
            "summary": "",
            "tags": [],
            "rpc_origins": [],
            "integration_types_config": {"0": {}, "1": {}},
            "eligible_oauth2_scopes": crate::oauth::KNOWN_SCOPES,
        });
        if let Value::Object(extra) = extra {
            o.extend(extra);
        }
    }
    axum::Json(app).into_response()
}

/// `PUT /guilds/{guild.id}/members/{user.id}` (bot token, body `{"access_token": …}`).
pub(crate) async fn add_guild_member(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path((guild_id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut st = shared.lock();
    let client = match caller(&st, &headers) {
        Ok(Caller::Bot(c)) => c,
        Ok(Caller::Bearer { .. }) => return unauthorized(),
        Err(resp) => return resp,
    };
    if !st.guilds.contains_key(&guild_id) {
        return api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_GUILD);
    }
    if !st.bot_guilds.contains(&(client.id.clone(), guild_id.clone())) {
        return missing_access();
    }
    if !st.users.contains_key(&user_id) {
        return api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_USER);
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, errors::INVALID_JSON);
    };
    let Some(access_token) = payload.get("access_token").and_then(Value::as_str) else {
        return form_body_error("access_token", "BASE_TYPE_REQUIRED", "This field is required");
    };
    if st.is_member(&guild_id, &user_id) {
        return StatusCode::NO_CONTENT.into_response();
    }
    let grant = match st.bearer(access_token) {
        Some((_, g)) if g.user_id == user_id && g.client_id == client.id => g.clone(),
        _ => return api_error(StatusCode::FORBIDDEN, errors::INVALID_OAUTH2_ACCESS_TOKEN),
    };
    if !has(&grant, "guilds.join") {
        return missing_access();
    }
    let mut member = MockMember::new(guild_id.clone(), user_id.clone()).joined_at(iso8601(st.now()));
    if let Some(nick) = payload.get("nick").and_then(Value::as_str) {
        member = member.nick(nick);
    }
    if let Some(roles) = payload.get("roles").and_then(Value::as_array) {
        for r in roles.iter().filter_map(Value::as_str) {
            member = member.role(r);
        }
    }
    member.mute = payload.get("mute").and_then(Value::as_bool).unwrap_or(false);
    member.deaf = payload.get("deaf").and_then(Value::as_bool).unwrap_or(false);
    let out = member.json(st.users.get(&user_id));
    st.members.push(member);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

fn empty_role_connection() -> Value {
    json!({"platform_name": null, "platform_username": null, "metadata": {}})
}

/// `GET /users/@me/applications/{application.id}/role-connection`.
pub(crate) async fn get_role_connection(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> Response {
    let st = shared.lock();
    let grant = match bearer_with(&st, &headers, "role_connections.write") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    if grant.client_id != app_id {
        return missing_access();
    }
    let v = st
        .role_connections
        .get(&(app_id, grant.user_id))
        .cloned()
        .unwrap_or_else(empty_role_connection);
    axum::Json(v).into_response()
}

fn optional_string(v: Option<&Value>, field: &str, max: usize) -> Result<Value, Response> {
    match v {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(json!(s)),
        Some(Value::String(_)) => Err(form_body_error(
            field,
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {max} or fewer in length."),
        )),
        Some(_) => Err(form_body_error(
            field,
            "STRING_TYPE_CONVERT",
            "Could not interpret value as string.",
        )),
    }
}

/// `PUT /users/@me/applications/{application.id}/role-connection`.
pub(crate) async fn put_role_connection(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut st = shared.lock();
    let grant = match bearer_with(&st, &headers, "role_connections.write") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    if grant.client_id != app_id {
        return missing_access();
    }
    let Ok(Value::Object(payload)) = serde_json::from_slice::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, errors::INVALID_JSON);
    };
    let platform_name = match optional_string(payload.get("platform_name"), "platform_name", 50) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let platform_username = match optional_string(payload.get("platform_username"), "platform_username", 100) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut metadata = Map::new();
    match payload.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if m.len() > 5 {
                return form_body_error("metadata", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.");
            }
            for (k, v) in m {
                match v {
                    Value::String(s) if (1..=100).contains(&s.chars().count()) => {
                        metadata.insert(k.clone(), json!(s));
                    }
                    _ => {
                        return form_body_error(
                            "metadata",
                            "STRING_TYPE_CONVERT",
                            "Values must be strings of 1 to 100 characters.",
                        );
                    }
                }
            }
        }
        Some(_) => {
            return form_body_error(
                "metadata",
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            );
        }
    }
    let v = json!({
        "platform_name": platform_name,
        "platform_username": platform_username,
        "metadata": metadata,
    });
    st.role_connections.insert((app_id, grant.user_id), v.clone());
    axum::Json(v).into_response()
}

/// `GET /oauth2/userinfo` (`openid`).
pub(crate) async fn userinfo(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let st = shared.lock();
    let grant = match bearer_with(&st, &headers, "openid") {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let Some(u) = st.users.get(&grant.user_id) else {
        return api_error(StatusCode::NOT_FOUND, errors::UNKNOWN_USER);
    };
    let mut out = json!({
        "sub": u.id,
        "preferred_username": u.username,
        "nickname": u.global_name,
        "picture": format!("{}{}/{}", shared.base_url, crate::cdn::PREFIX, u.avatar_path()),
        "locale": u.locale,
    });
    if has(&grant, "email")
        && let Some(o) = out.as_object_mut()
    {
        o.insert("email".into(), json!(u.email));
        o.insert("email_verified".into(), json!(u.verified));
    }
    axum::Json(out).into_response()
}

/// `GET /oauth2/keys` (no authentication).
pub(crate) async fn keys() -> Response {
    axum::Json(crate::jwt::jwks()).into_response()
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let base = &shared.base_url;
    let issuer = shared.lock().config.issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/api/v10/oauth2/token"),
        "revocation_endpoint": format!("{base}/api/v10/oauth2/token/revoke"),
        "userinfo_endpoint": format!("{base}/api/v10/oauth2/userinfo"),
        "jwks_uri": format!("{base}/api/v10/oauth2/keys"),
        "response_types_supported": ["code", "token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": crate::oauth::KNOWN_SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified"],
    }))
    .into_response()
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414), shaped like Discord's.
pub(crate) async fn authorization_server_metadata(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let base = &shared.base_url;
    let (issuer, iss) = {
        let st = shared.lock();
        (st.config.issuer.clone(), st.config.include_iss)
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/api/oauth2/token"),
        "revocation_endpoint": format!("{base}/api/oauth2/token/revoke"),
        "jwks_uri": format!("{base}/api/oauth2/keys"),
        "userinfo_endpoint": format!("{base}/api/oauth2/userinfo"),
        "scopes_supported": crate::oauth::KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": iss,
    }))
    .into_response()
}
