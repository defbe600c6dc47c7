//! The router, the recording/fault middleware and the mock's control routes.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::api::{self, api_error};
use crate::cdn;
use crate::errors;
use crate::events::{self, EventSignature, Outgoing};
use crate::fault::{FaultKind, add_rate_limit_headers, fault_response};
use crate::fixture;
use crate::html;
use crate::oauth::{self, USER_COOKIE, cookie_value, user_cookie};
use crate::record::{Endpoint, RecordedRequest};
use crate::state::Shared;
use crate::util::{first, parse_form};

/// Largest request body the mock reads (Discord's own limit is far larger; tests never need it).
const MAX_BODY: usize = 1 << 20;

/// The API prefixes served: unversioned, v9 and v10.
pub(crate) const API_PREFIXES: [&str; 3] = ["/api", "/api/v9", "/api/v10"];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new()
        .route(
            "/oauth2/authorize",
            get(oauth::authorize_get).post(oauth::authorize_post),
        )
        .route("/.well-known/openid-configuration", get(api::discovery))
        .route(
            "/.well-known/oauth-authorization-server",
            get(api::authorization_server_metadata),
        )
        .route("/", get(index))
        .route("/mock", get(index))
        .route("/mock/", get(index))
        .route("/mock/login-as/{user_id}", get(login_as))
        .route("/mock/logout", get(logout))
        .route("/mock/requests", get(requests_json))
        .route("/mock/faults", axum::routing::post(add_fault).delete(clear_faults))
        .route("/mock/expire-access-tokens", axum::routing::post(expire_access_tokens))
        .route("/mock/advance-time", axum::routing::post(advance_time))
        .route("/mock/sdk/authorize", axum::routing::post(oauth::sdk_authorize))
        .route("/mock/events", get(events_index))
        .route("/mock/events/webhook-url", axum::routing::post(set_event_webhook_url))
        .route("/mock/events/send", axum::routing::post(send_event))
        .route(&format!("{}/{{*path}}", cdn::PREFIX), get(cdn::image));
    for p in API_PREFIXES {
        r = r
            .route(
                &format!("{p}/oauth2/authorize"),
                get(oauth::authorize_get).post(oauth::authorize_post),
            )
            .route(&format!("{p}/oauth2/token"), axum::routing::post(oauth::token))
            .route(&format!("{p}/oauth2/token/revoke"), axum::routing::post(oauth::revoke))
            .route(&format!("{p}/oauth2/@me"), get(api::current_authorization))
            .route(&format!("{p}/oauth2/applications/@me"), get(api::current_application))
            .route(&format!("{p}/oauth2/userinfo"), get(api::userinfo))
            .route(&format!("{p}/oauth2/keys"), get(api::keys))
            .route(&format!("{p}/users/@me"), get(api::current_user))
            .route(&format!("{p}/users/@me/guilds"), get(api::my_guilds))
            .route(
                &format!("{p}/users/@me/guilds/{{guild_id}}/member"),
                get(api::my_guild_member),
            )
            .route(&format!("{p}/users/@me/connections"), get(api::my_connections))
            .route(
                &format!("{p}/users/@me/applications/{{app_id}}/role-connection"),
                get(api::get_role_connection).put(api::put_role_connection),
            )
            .route(
                &format!("{p}/guilds/{{guild_id}}/members/{{user_id}}"),
                axum::routing::put(api::add_guild_member),
            );
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), mock_layer))
        .with_state(shared)
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

async fn not_found(uri: Uri) -> Response {
    if is_api(uri.path()) {
        api_error(StatusCode::NOT_FOUND, errors::NOT_FOUND)
    } else {
        (StatusCode::NOT_FOUND, Html(html::error_page("404: Not Found"))).into_response()
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    if is_api(uri.path()) {
        api_error(StatusCode::METHOD_NOT_ALLOWED, errors::METHOD_NOT_ALLOWED)
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Html(html::error_page("405: Method Not Allowed")),
        )
            .into_response()
    }
}

/// Records the request, applies an injected fault if one matches, adds `X-RateLimit-*`.
async fn mock_layer(AxState(shared): AxState<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return api_error(StatusCode::PAYLOAD_TOO_LARGE, ("413: Request Entity Too Large", 0));
    };
    let path = parts.uri.path().to_owned();
    let endpoint = Endpoint::classify(&path);
    let api = is_api(&path);
    let _in_flight = InFlightGuard::enter(&shared, endpoint, api);
    let (seq, fault, now_secs) = {
        let mut st = shared.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        let fault = st.faults.iter_mut().find(|f| f.matches(endpoint)).map(|f| {
            if let Some(n) = &mut f.remaining {
                *n -= 1;
            }
            f.clone()
        });
        st.faults.retain(|f| f.remaining != Some(0));
        let now = st.now();
        let record = RecordedRequest {
            seq,
            at: now,
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: bytes.to_vec(),
            endpoint,
            status: None,
            fault: fault.as_ref().map(crate::fault::Fault::describe),
        };
        let max = st.config.max_recorded.max(1);
        if st.requests.len() >= max {
            let excess = st.requests.len() + 1 - max;
            st.requests.drain(..excess);
        }
        st.requests.push(record);
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        (seq, fault, now_secs)
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut resp = match fault.map(|f| f.kind).or_else(|| global_limit(&shared, &path)) {
        Some(FaultKind::Delay(d)) => {
            let mut rx = shared.shutdown.subscribe();
            let cancelled = tokio::select! {
                () = tokio::time::sleep(d) => false,
                _ = rx.wait_for(|stop| *stop) => true,
            };
            if cancelled {
                api_error(StatusCode::SERVICE_UNAVAILABLE, ("503: Service Unavailable", 0))
            } else {
                let mut resp = next.run(req).await;
                if is_api(&path) {
                    add_rate_limit_headers(&mut resp, endpoint, now_secs);
                }
                resp
            }
        }
        Some(kind) => fault_response(&kind, endpoint, now_secs),
        None => match bucket_turn(&shared, &req, endpoint) {
            Some(Err(limited)) => limited,
            turn => {
                let mut resp = next.run(req).await;
                if let Some(Ok(headers)) = turn {
                    resp.headers_mut().extend(headers);
                }
                if is_api(&path) {
                    add_rate_limit_headers(&mut resp, endpoint, now_secs);
                }
                resp
            }
        },
    };
    let status = resp.status().as_u16();
    // The path only: queries and bodies may carry secrets.
    tracing::debug!(endpoint = endpoint.name(), %path, status, "mock Discord request");
    {
        let mut st = shared.lock();
        if let Some(r) = st.requests.iter_mut().rev().find(|r| r.seq == seq) {
            r.status = Some(status);
        }
    }
    if !resp.headers().contains_key("via") {
        resp.headers_mut()
            .insert("via", HeaderValue::from_static("1.1 discord-oauth-mock"));
    }
    resp
}

/// The global `429` an API request at `path` gets while
/// [`crate::MockDiscord::global_rate_limit`] lasts: `retry_after` is the time left.
fn global_limit(shared: &Arc<Shared>, path: &str) -> Option<FaultKind> {
    if !is_api(path) {
        return None;
    }
    let mut st = shared.lock();
    let until = st.global_until?;
    let left = until.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        st.global_until = None;
        return None;
    }
    Some(FaultKind::RateLimited {
        retry_after: left.as_secs_f64(),
        global: true,
        style: crate::fault::RateLimitStyle::Full,
    })
}

/// With enforced buckets ([`crate::MockDiscordBuilder::rate_limit_buckets`]): an API request
/// with a token (`Bearer …` or `Bot …`) takes a turn in its token's bucket for that endpoint.
/// `Ok`: the `X-RateLimit-*` headers to answer with; `Err`: the 429 to answer instead (the
/// request is not served). `None`: not limited.
fn bucket_turn(
    shared: &Arc<Shared>,
    req: &Request,
    endpoint: Endpoint,
) -> Option<Result<axum::http::HeaderMap, Response>> {
    // The whole header: a bot token and a bearer token with the same text are two tokens.
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()
        .filter(|h| h.starts_with("Bearer ") || h.starts_with("Bot "))?
        .to_owned();
    let mut st = shared.lock();
    let (limit, window) = st.config.buckets?;
    let now = std::time::Instant::now();
    let key = (token, endpoint.bucket());
    if st.buckets.len() > 10_000 {
        st.buckets.retain(|_, (start, _)| now.duration_since(*start) < window);
    }
    let (start, used) = st.buckets.entry(key.clone()).or_insert((now, 0));
    if now.duration_since(*start) >= window {
        *start = now;
        *used = 0;
    }
    let reset_after = window.saturating_sub(now.duration_since(*start)).as_secs_f64();
    let mut headers = axum::http::HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("x-ratelimit-bucket", key.1.clone());
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-reset-after", format!("{reset_after:.3}"));
    if *used >= limit {
        put("x-ratelimit-remaining", "0".to_owned());
        put("x-ratelimit-scope", "user".to_owned());
        put("retry-after", format!("{}", reset_after.ceil().max(1.0)));
        let body = serde_json::json!({
            "message": "You are being rate limited.",
            "retry_after": reset_after,
            "global": false,
        });
        let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        resp.headers_mut().extend(headers);
        return Some(Err(resp));
    }
    *used += 1;
    put("x-ratelimit-remaining", (limit - *used).to_string());
    Some(Ok(headers))
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
struct InFlightGuard {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    api: bool,
}

impl InFlightGuard {
    fn enter(shared: &Arc<Shared>, endpoint: Endpoint, api: bool) -> Self {
        shared.lock().in_flight.enter(endpoint, api);
        Self {
            shared: Arc::clone(shared),
            endpoint,
            api,
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.shared.lock().in_flight.leave(self.endpoint, self.api);
    }
}

async fn index(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let current = cookie_value(&headers, USER_COOKIE);
    let st = shared.lock();
    let users: Vec<(String, String)> = st.users.values().map(|u| (u.id.clone(), u.username.clone())).collect();
    let current = current.or_else(|| st.default_user.clone());
    Html(html::login_index(&users, current.as_deref())).into_response()
}

/// `GET /mock/login-as/{user_id}[?next=URL]`: sets the "logged in to Discord" cookie.
async fn login_as(
    AxState(shared): AxState<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let name = {
        let st = shared.lock();
        st.users.get(&user_id).map(|u| u.username.clone())
    };
    let Some(name) = name else {
        return (StatusCode::NOT_FOUND, Html(html::error_page("Unknown mock user"))).into_response();
    };
    let q = parse_form(query.unwrap_or_default().as_bytes());
    let next = first(&q, "next").filter(|n| {
        (n.starts_with('/') && !n.starts_with("//")) || n.starts_with("http://") || n.starts_with("https://")
    });
    let mut resp = match next.and_then(|n| HeaderValue::from_str(n).ok()) {
        Some(loc) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, loc);
            r
        }
        None => Html(html::logged_in(&name, &user_id)).into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&user_cookie(&user_id)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout() -> Response {
    let mut resp = Html(html::page(
        "Discord (mock) - logged out",
        "<h1 id=\"logged-out\">Logged out</h1><p><a href=\"/mock\">Log in</a></p>",
    ))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("discord_mock_user=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    resp
}

/// `GET /mock/requests`: every recorded request, secrets masked.
async fn requests_json(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let st = shared.lock();
    let list: Vec<serde_json::Value> = st.requests.iter().map(RecordedRequest::to_masked_json).collect();
    axum::Json(list).into_response()
}

fn control_form(body: &[u8]) -> Vec<(String, String)> {
    parse_form(body)
}

fn control_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "message": message, "code": 0 })),
    )
        .into_response()
}

/// `POST /mock/faults` with form field `spec=ENDPOINT:KIND[*N]` (repeatable).
async fn add_fault(AxState(shared): AxState<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form = control_form(&body);
    let mut faults = Vec::new();
    for (k, v) in &form {
        if k == "spec" {
            match v.parse::<crate::fault::Fault>() {
                Ok(f) => faults.push(f),
                Err(e) => return control_error(&e.to_string()),
            }
        }
    }
    if faults.is_empty() {
        return control_error("missing \"spec\"");
    }
    shared.lock().faults.extend(faults);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /mock/faults`.
async fn clear_faults(AxState(shared): AxState<Arc<Shared>>) -> Response {
    shared.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /mock/expire-access-tokens`.
async fn expire_access_tokens(AxState(shared): AxState<Arc<Shared>>) -> Response {
    shared.lock().expire_access_tokens();
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /mock/advance-time` with form field `seconds`.
async fn advance_time(AxState(shared): AxState<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form = control_form(&body);
    match first(&form, "seconds").and_then(|s| s.parse::<u64>().ok()) {
        Some(secs) => {
            let mut st = shared.lock();
            st.clock_offset = st.clock_offset.saturating_add(std::time::Duration::from_secs(secs));
            StatusCode::NO_CONTENT.into_response()
        }
        None => control_error("missing or invalid \"seconds\""),
    }
}

/// `GET /mock/events`: the public key, every Events Webhook URL and every delivery.
async fn events_index(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let st = shared.lock();
    axum::Json(serde_json::json!({
        "public_key": fixture::EVENTS_PUBLIC_KEY_HEX,
        "webhook_urls": st.event_webhook_urls,
        "deliveries": st.event_deliveries,
    }))
    .into_response()
}

/// `POST /mock/events/webhook-url` with form fields `client_id` (default the fixture client)
/// and `url` (empty: remove).
async fn set_event_webhook_url(AxState(shared): AxState<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form = control_form(&body);
    let client_id = first(&form, "client_id").unwrap_or(fixture::CLIENT_ID);
    let mut st = shared.lock();
    if !st.clients.contains_key(client_id) {
        return control_error("unknown \"client_id\"");
    }
    match first(&form, "url").filter(|u| !u.is_empty()) {
        Some(url) => st.event_webhook_urls.insert(client_id.to_owned(), url.to_owned()),
        None => st.event_webhook_urls.remove(client_id),
    };
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /mock/events/send`: signs and sends one webhook request, answers `{"status": N}`
/// (or `502` when the receiver gave no answer). Form fields: `url` (default: the
/// application's Events Webhook URL), `client_id` (default the fixture client), `type`
/// (`PING`, the default, or an event type), the event's data as `data` (JSON) or built from
/// a mock user with `user_id`, or a whole payload as `body`; `signature` = `valid` (default)
/// | `wrong-key` | `other-timestamp` | `missing`.
async fn send_event(AxState(shared): AxState<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form = control_form(&body);
    let signature = match first(&form, "signature").unwrap_or("valid").parse::<EventSignature>() {
        Ok(s) => s,
        Err(e) => return control_error(&e),
    };
    let client_id = first(&form, "client_id").unwrap_or(fixture::CLIENT_ID);
    let out = {
        let st = shared.lock();
        let url = first(&form, "url")
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .or_else(|| st.event_webhook_urls.get(client_id).cloned());
        let Some(url) = url else {
            return control_error("missing \"url\" (and the application has no Events Webhook URL)");
        };
        let payload = if let Some(whole) = first(&form, "body") {
            whole.to_owned()
        } else {
            let kind = first(&form, "type").unwrap_or("PING");
            if kind == "PING" {
                events::ping_payload(client_id).to_string()
            } else {
                let data = if let Some(d) = first(&form, "data") {
                    match serde_json::from_str(d) {
                        Ok(v) => v,
                        Err(e) => return control_error(&format!("\"data\" is not JSON: {e}")),
                    }
                } else if let Some(user_id) = first(&form, "user_id") {
                    let Some(user) = st.users.get(user_id).map(crate::model::MockUser::public_json) else {
                        return control_error("unknown \"user_id\"");
                    };
                    if kind == "APPLICATION_AUTHORIZED" {
                        serde_json::json!({ "integration_type": 1, "scopes": ["applications.commands"], "user": user })
                    } else {
                        serde_json::json!({ "user": user })
                    }
                } else {
                    serde_json::json!({})
                };
                events::event_payload(client_id, kind, &events::event_timestamp(st.now()), data).to_string()
            }
        };
        Outgoing::new(&st, &url, payload, signature)
    };
    match events::deliver(&shared, out).await {
        Ok(status) => axum::Json(serde_json::json!({ "status": status })).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(serde_json::json!({ "message": e, "code": 0 })),
        )
            .into_response(),
    }
}
