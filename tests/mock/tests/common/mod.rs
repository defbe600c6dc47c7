//! Helpers shared by the integration tests: a non-redirecting HTTP client, PKCE, and the
//! browser steps of the authorization code flow.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use discord_oauth_mock::{MockDiscord, fixture};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub const REDIRECT: &str = "http://127.0.0.1:3000/auth/callback";

pub fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// (verifier, S256 challenge)
pub fn pkce() -> (String, String) {
    let verifier = format!("{}-verifier.~_{}", "v".repeat(40), rand_suffix());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in {resp:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Query (or fragment) parameters of a URL.
pub fn params_of(url: &str, fragment: bool) -> HashMap<String, String> {
    let u = url::Url::parse(url).unwrap();
    let part = if fragment {
        u.fragment().unwrap_or("")
    } else {
        u.query().unwrap_or("")
    };
    url::form_urlencoded::parse(part.as_bytes()).into_owned().collect()
}

pub fn authorize_url(mock: &MockDiscord, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&mock.authorize_url()).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// Standard code-flow parameters for the fixture client.
pub fn code_params<'a>(scope: &'a str, state: &'a str, challenge: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", fixture::CLIENT_ID),
        ("scope", scope),
        ("state", state),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(c) = challenge {
        p.push(("code_challenge", c));
        p.push(("code_challenge_method", "S256"));
    }
    p
}

/// GET the authorize URL, then press a button on the consent page (as `user`, if given).
/// Returns the final response (a 302 for redirect flows).
pub async fn consent(
    http: &Client,
    mock: &MockDiscord,
    params: &[(&str, &str)],
    action: &str,
    user: Option<&str>,
) -> Response {
    let page = http.get(authorize_url(mock, params)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "consent page expected");
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"approve\"") && html.contains("id=\"deny\""));
    let mut form: Vec<(String, String)> = hidden_fields(&html);
    form.push(("action".into(), action.into()));
    if let Some(u) = user {
        form.push(("user_id".into(), u.into()));
    }
    http.post(mock.authorize_url()).form(&form).send().await.unwrap()
}

/// The hidden inputs of the consent form (what a browser would submit).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = between(part, "name=\"", "\"");
        let value = between(part, "value=\"", "\"");
        out.push((unescape(&name), unescape(&value)));
    }
    out
}

fn between(s: &str, a: &str, b: &str) -> String {
    let start = s.find(a).unwrap() + a.len();
    let end = s[start..].find(b).unwrap() + start;
    s[start..end].to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs authorize + approve; returns the redirect's query parameters.
pub async fn get_code(
    http: &Client,
    mock: &MockDiscord,
    scope: &str,
    challenge: Option<&str>,
) -> HashMap<String, String> {
    let resp = consent(http, mock, &code_params(scope, "st4te", challenge), "approve", None).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = location(&resp);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = params_of(&loc, false);
    assert_eq!(q.get("state").map(String::as_str), Some("st4te"));
    q
}

pub async fn token_request(http: &Client, mock: &MockDiscord, form: &[(&str, &str)]) -> Response {
    http.post(mock.token_url())
        .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub async fn exchange(http: &Client, mock: &MockDiscord, code: &str, verifier: Option<&str>) -> Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token_request(http, mock, &form).await
}

pub async fn json_of(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

pub fn oauth_err(error: &str, description: &str) -> Value {
    serde_json::json!({"error": error, "error_description": description})
}

pub fn api_err((message, code): (&str, u32)) -> Value {
    serde_json::json!({"message": message, "code": code})
}

pub async fn get_api(http: &Client, mock: &MockDiscord, path: &str, token: &str) -> (StatusCode, Value) {
    let resp = http
        .get(format!("{}{path}", mock.api_base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(resp).await
}
