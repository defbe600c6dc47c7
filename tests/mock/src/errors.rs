//! The exact error strings the mock sends, so tests can compare whole error bodies.
//!
//! OAuth2 errors (token, revoke, and the `error_description` of authorize redirects) are
//! `{"error": "<code>", "error_description": "<text>"}`; API errors are
//! `{"message": "<text>", "code": <number>}`, as on discord.com.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use discord_oauth_mock::{MockDiscord, errors, fixture};
//!
//! let discord = MockDiscord::start().await?;
//! let http = reqwest::Client::new();
//!
//! // A code the mock never issued.
//! let answer = http
//!     .post(discord.token_url())
//!     .basic_auth(fixture::CLIENT_ID, Some(fixture::CLIENT_SECRET))
//!     .form(&[
//!         ("grant_type", "authorization_code"),
//!         ("code", "not-a-code"),
//!         ("redirect_uri", fixture::REDIRECT_URIS[0]),
//!     ])
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 400);
//! let body: serde_json::Value = answer.json().await?;
//! assert_eq!(body["error"], "invalid_grant");
//! assert_eq!(body["error_description"], errors::INVALID_CODE);
//!
//! // An API call without a valid token.
//! let answer = http.get(format!("{}/users/@me", discord.api_base())).bearer_auth("nope").send().await?;
//! assert_eq!(answer.status(), 401);
//! let body: serde_json::Value = answer.json().await?;
//! let (message, code) = errors::UNAUTHORIZED;
//! assert_eq!((body["message"].as_str(), body["code"].as_u64()), (Some(message), Some(u64::from(code))));
//! # discord.shutdown().await;
//! # Ok(()) }
//! ```

/// `invalid_grant`: unknown, expired, already used, or another client's authorization code.
pub const INVALID_CODE: &str = "Invalid \"code\" in request.";
/// `invalid_grant`: `redirect_uri` missing or different from the authorization request's.
pub const INVALID_REDIRECT_URI: &str = "Invalid \"redirect_uri\" in request.";
/// `invalid_grant`: unknown, rotated, revoked, or another client's refresh token.
pub const INVALID_REFRESH_TOKEN: &str = "Invalid \"refresh_token\" in request.";
/// `invalid_client` (HTTP 401): unknown client, wrong secret, malformed Basic header.
pub const INVALID_CLIENT: &str = "Invalid client";
/// `invalid_request`: a required form field is missing (`{field}` is replaced).
pub const MISSING_FIELD: &str = "Missing \"{field}\" in request.";
/// `invalid_grant`: the authorization had a `code_challenge` but no `code_verifier` was sent.
pub const MISSING_CODE_VERIFIER: &str = "Missing \"code_verifier\" in request.";
/// `invalid_request`: `code_verifier` is not 43 to 128 characters of `[A-Za-z0-9-._~]`
/// (Discord's wording for a too-short verifier).
pub const MALFORMED_CODE_VERIFIER: &str = "Invalid \"code_verifier\"";
/// `invalid_grant`: `code_verifier` does not hash to the `code_challenge`.
pub const CODE_VERIFIER_MISMATCH: &str = "\"code_verifier\" does not match \"code_challenge\".";
/// `invalid_request`: a `code_verifier` was sent but the authorization had no
/// `code_challenge`.
pub const UNEXPECTED_CODE_VERIFIER: &str = "\"code_verifier\" sent for an authorization without \"code_challenge\".";
/// `invalid_request`: a public client exchanged a code without PKCE.
pub const PKCE_REQUIRED: &str = "PKCE is required for public clients.";
/// `invalid_request` (authorize): `code_challenge_method` other than `S256` (or missing).
pub const UNSUPPORTED_CHALLENGE_METHOD: &str = "Unsupported \"code_challenge_method\"";
/// `invalid_request` (authorize): `code_challenge` is not 43 base64url characters.
pub const INVALID_CODE_CHALLENGE: &str = "Invalid \"code_challenge\"";
/// `invalid_request` (authorize): `role_connections.write` with PKCE.
pub const ROLE_CONNECTIONS_WITH_PKCE: &str = "\"role_connections.write\" cannot be used with PKCE";
/// `invalid_request` (authorize): `role_connections.write` with the implicit grant.
pub const ROLE_CONNECTIONS_IMPLICIT: &str = "\"role_connections.write\" cannot be used with the implicit grant";
/// `invalid_request` (authorize): `prompt` other than `consent` or `none`.
pub const INVALID_PROMPT: &str = "Invalid \"prompt\"";
/// `unsupported_response_type` (authorize).
pub const UNSUPPORTED_RESPONSE_TYPE: &str = "Unsupported \"response_type\"";
/// `invalid_scope` (authorize, client credentials, refresh): unknown, empty or not allowed.
pub const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
/// `invalid_scope` (client credentials) for team applications.
pub const TEAM_SCOPE: &str = "Team applications are limited to the identify and applications.commands.update scopes.";
/// `access_denied` (authorize): the user pressed "Cancel".
pub const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request";

/// `unsupported_grant_type`: `Grant type None is not supported` when the form has no
/// `grant_type` (this is also what a JSON body gets, as on discord.com: only forms are read).
pub fn unsupported_grant_type(grant_type: Option<&str>) -> String {
    format!("Grant type {} is not supported", grant_type.unwrap_or("None"))
}

/// The `error_description` for a missing form field.
pub fn missing_field(field: &str) -> String {
    MISSING_FIELD.replace("{field}", field)
}

/// API error: `401 {"message": "401: Unauthorized", "code": 0}`.
pub const UNAUTHORIZED: (&str, u32) = ("401: Unauthorized", 0);
/// API error: `403 {"message": "Missing Access", "code": 50001}`.
pub const MISSING_ACCESS: (&str, u32) = ("Missing Access", 50001);
/// API error: `404 {"message": "Unknown Guild", "code": 10004}`.
pub const UNKNOWN_GUILD: (&str, u32) = ("Unknown Guild", 10004);
/// API error: `404 {"message": "Unknown User", "code": 10013}`.
pub const UNKNOWN_USER: (&str, u32) = ("Unknown User", 10013);
/// API error: `403 {"message": "Invalid OAuth2 access token", "code": 50025}`.
pub const INVALID_OAUTH2_ACCESS_TOKEN: (&str, u32) = ("Invalid OAuth2 access token", 50025);
/// API error: `400 {"message": "Invalid Form Body", "code": 50035, "errors": {...}}`.
pub const INVALID_FORM_BODY: (&str, u32) = ("Invalid Form Body", 50035);
/// API error: `400 {"message": "400: Bad Request", "code": 0}` (unparseable body).
pub const BAD_REQUEST: (&str, u32) = ("400: Bad Request", 0);
/// API error: `404 {"message": "404: Not Found", "code": 0}`.
pub const NOT_FOUND: (&str, u32) = ("404: Not Found", 0);
/// API error: `405 {"message": "405: Method Not Allowed", "code": 0}`.
pub const METHOD_NOT_ALLOWED: (&str, u32) = ("405: Method Not Allowed", 0);
/// API error: `400 {"message": "The request body contains invalid JSON.", "code": 50109}`.
pub const INVALID_JSON: (&str, u32) = ("The request body contains invalid JSON.", 50109);
