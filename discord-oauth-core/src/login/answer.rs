//! The answers of the login routes and guards, as `http::Response<String>`, so every framework
//! sends byte-for-byte the same status, headers and body. Integrations convert them to their
//! own response type; nothing here does IO.
//!
//! Every login-route answer carries `Cache-Control: no-store`, `Referrer-Policy: no-referrer`
//! and `X-Content-Type-Options: nosniff` (checklist A-11, B-18); HTML pages also carry a
//! `Content-Security-Policy` that allows nothing but inline style.

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use http::{Response, StatusCode};

use super::{LoginConfig, LoginError, error_page};

/// The three login routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /auth/login` (also `HEAD`).
    Login,
    /// `GET /auth/callback`.
    Callback,
    /// `POST /auth/logout`.
    Logout,
}

impl Route {
    /// The methods this route accepts, as the `Allow` header says them.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Login | Route::Callback => "GET",
            Route::Logout => "POST",
        }
    }

    /// `Ok` if `method` is accepted, else the `405` answer.
    pub fn check_method(self, method: &str) -> Result<(), Response<String>> {
        let ok = match self {
            Route::Login => method == "GET" || method == "HEAD",
            Route::Callback => method == "GET",
            Route::Logout => method == "POST",
        };
        if ok {
            Ok(())
        } else {
            Err(method_not_allowed(self.allow()))
        }
    }
}

impl LoginConfig {
    /// Which login route `path` is, if any.
    pub fn route(&self, path: &str) -> Option<Route> {
        let routes = self.routes();
        if path == routes.login {
            Some(Route::Login)
        } else if path == routes.callback {
            Some(Route::Callback)
        } else if path == routes.logout {
            Some(Route::Logout)
        } else {
            None
        }
    }

    /// Refuses a logout whose `Origin` header names another site (a cross-site form post:
    /// logout CSRF, G-01). Requests without `Origin` pass (same-origin navigations and
    /// non-browser clients).
    pub fn check_logout_origin(&self, origin: Option<&[u8]>) -> Result<(), Response<String>> {
        match origin {
            Some(o) if o != self.origin().as_bytes() => Err(text(
                StatusCode::FORBIDDEN,
                "Forbidden: cross-site logout request".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// The friendly page for a failed login: its status, and `Retry-After` on 503.
    pub fn login_error_answer(&self, e: &LoginError) -> Response<String> {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let (title, message) = e.page();
        let mut r = html_page(status, title, &message, self.default_return_to().as_str());
        if let Some(secs) = e.retry_after().filter(|_| status == StatusCode::SERVICE_UNAVAILABLE) {
            set_retry_after(&mut r, secs);
        }
        r
    }

    /// The login URL that comes back to `return_to` afterwards.
    ///
    /// ```
    /// # use discord_oauth_core::login::LoginConfig;
    /// # let config = LoginConfig::builder("1", "https://a.example/auth/callback").build().unwrap();
    /// assert_eq!(config.login_url("/guilds?x=1"), "/auth/login?return_to=%2Fguilds%3Fx%3D1");
    /// ```
    pub fn login_url(&self, return_to: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}?return_to={encoded}", self.routes().login)
    }
}

/// `true` if a logout request asks to end every session of the user ("log out of all
/// devices"): `POST /auth/logout?everywhere=1` (`true` and `yes` work too).
///
/// ```
/// use discord_oauth_core::login::answer::logout_everywhere;
/// assert!(logout_everywhere("everywhere=1"));
/// assert!(!logout_everywhere(""));
/// assert!(!logout_everywhere("everywhere=0"));
/// ```
pub fn logout_everywhere(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "everywhere" && matches!(v.as_ref(), "1" | "true" | "yes"))
}

/// The `return_to` parameter of a login route's query, if any (validated later).
pub fn return_to_param(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
}

/// `true` for a top-level browser navigation: `GET`/`HEAD`, accepts HTML, not a CORS fetch
/// (`Sec-Fetch-Mode: cors`), not an `X-Requested-With` script. Such requests are redirected to
/// login; everything else gets `401` JSON.
pub fn wants_html(method: &str, accept: Option<&[u8]>, sec_fetch_mode: Option<&[u8]>, requested_with: bool) -> bool {
    page_method(method) && accepts_html(accept) && navigation(sec_fetch_mode, requested_with)
}

fn page_method(method: &str) -> bool {
    method == "GET" || method == "HEAD"
}

fn accepts_html(accept: Option<&[u8]>) -> bool {
    accept
        .and_then(|a| std::str::from_utf8(a).ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn navigation(sec_fetch_mode: Option<&[u8]>, requested_with: bool) -> bool {
    sec_fetch_mode != Some(b"cors".as_slice()) && !requested_with
}

/// A request header that decides [`is_page_load`]: each integration looks it up in its own
/// header map, by a name it parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLoadHeader {
    /// `Accept`.
    Accept,
    /// `Sec-Fetch-Mode`.
    SecFetchMode,
    /// `X-Requested-With`.
    XRequestedWith,
}

impl PageLoadHeader {
    /// The header's name, lower case.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::SecFetchMode => "sec-fetch-mode",
            Self::XRequestedWith => "x-requested-with",
        }
    }
}

/// [`wants_html`] from a request's method and a lookup of its headers: the headers that decide
/// it, named once for every integration. Each header is looked up only while the answer is
/// open, so an API client's request stops at the method or at `Accept`.
///
/// ```
/// use discord_oauth_core::login::answer::{PageLoadHeader, is_page_load};
/// let header = |h: PageLoadHeader| (h == PageLoadHeader::Accept).then_some(b"text/html".as_slice());
/// assert!(is_page_load("GET", header));
/// assert!(!is_page_load("POST", header));
/// ```
pub fn is_page_load<'a>(method: &str, header: impl Fn(PageLoadHeader) -> Option<&'a [u8]>) -> bool {
    page_method(method)
        && accepts_html(header(PageLoadHeader::Accept))
        && navigation(
            header(PageLoadHeader::SecFetchMode),
            header(PageLoadHeader::XRequestedWith).is_some(),
        )
}

/// Where a request was for (path and query, `/` when it has none) and whether a refusal of
/// it is a redirect to the login page ([`is_page_load`]), for integrations on the `http`
/// crate's types.
///
/// ```
/// use discord_oauth_core::login::answer::request_context;
/// let page = http::Request::get("/guilds?page=2").header("accept", "text/html,*/*").body(())?;
/// assert_eq!(request_context(page.method(), page.uri(), page.headers()), ("/guilds?page=2", true));
///
/// let fetch = http::Request::get("/api/me")
///     .header("accept", "text/html,*/*")
///     .header("sec-fetch-mode", "cors")
///     .body(())?;
/// assert_eq!(request_context(fetch.method(), fetch.uri(), fetch.headers()), ("/api/me", false));
/// # Ok::<(), http::Error>(())
/// ```
pub fn request_context<'a>(method: &http::Method, uri: &'a http::Uri, headers: &'a http::HeaderMap) -> (&'a str, bool) {
    // Names parsed once: a lookup by `&str` parses the name on every call.
    const SEC_FETCH_MODE: http::HeaderName = http::HeaderName::from_static(PageLoadHeader::SecFetchMode.name());
    const X_REQUESTED_WITH: http::HeaderName = http::HeaderName::from_static(PageLoadHeader::XRequestedWith.name());
    let html = is_page_load(method.as_str(), |header| {
        match header {
            PageLoadHeader::Accept => headers.get(http::header::ACCEPT),
            PageLoadHeader::SecFetchMode => headers.get(SEC_FETCH_MODE),
            PageLoadHeader::XRequestedWith => headers.get(X_REQUESTED_WITH),
        }
        .map(HeaderValue::as_bytes)
    });
    (uri.path_and_query().map_or("/", |pq| pq.as_str()), html)
}

fn set_retry_after(r: &mut Response<String>, secs: u64) {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
}

/// Adds the headers every login-route answer carries.
pub fn no_store(r: &mut Response<String>) {
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: String) -> Response<String> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// `303 See Other` to `location`.
pub fn redirect(location: &str) -> Response<String> {
    let mut r = Response::new(String::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    no_store(&mut r);
    r
}

/// A self-contained HTML page ([`error_page`]) with the given status.
pub fn html_page(status: StatusCode, title: &str, message: &str, back: &str) -> Response<String> {
    let mut r = Response::new(error_page(title, message, back));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    no_store(&mut r);
    r
}

/// `405` with `Allow`.
pub fn method_not_allowed(allow: &'static str) -> Response<String> {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method Not Allowed: use {allow}"),
    );
    r.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    no_store(&mut r);
    r
}

/// `503` with `Retry-After`.
///
/// ```
/// use discord_oauth_core::login::answer::unavailable;
/// let answer = unavailable("Service Unavailable: Discord could not be reached; try again shortly.", 7);
/// assert_eq!(answer.status(), 503);
/// assert_eq!(answer.headers()["retry-after"], "7");
/// assert_eq!(answer.headers()["cache-control"], "no-store");
/// ```
pub fn unavailable(message: &str, retry_after: u64) -> Response<String> {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, message.to_owned());
    set_retry_after(&mut r, retry_after);
    no_store(&mut r);
    r
}

/// `503` for a failed session store: whether anyone is logged in is unknown, so nobody is
/// treated as anonymous (H-15).
///
/// ```
/// use discord_oauth_core::login::answer::store_unavailable;
/// let answer = store_unavailable();
/// assert_eq!(answer.status(), 503);
/// assert_eq!(answer.headers()["retry-after"], "5");
/// assert!(answer.body().contains("session store"));
/// ```
pub fn store_unavailable() -> Response<String> {
    unavailable(
        "Service Unavailable: the session store is not responding; try again shortly.",
        5,
    )
}

/// `500` for a login that cannot start because of the configuration (logged by the caller).
pub fn internal_error() -> Response<String> {
    text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".to_owned())
}

/// Why a protected resource was refused; [`Refusal::answer`] renders it the same way for
/// every framework.
///
/// ```
/// use discord_oauth_core::login::answer::Refusal;
/// // A page load by someone not logged in: to the login page, coming back afterwards.
/// let refusal = Refusal::NotLoggedIn { login_url: "/auth/login?return_to=%2Fadmin".into(), html: true };
/// assert_eq!(refusal.status(), 303);
/// assert_eq!(refusal.answer("/").headers()["location"], "/auth/login?return_to=%2Fadmin");
///
/// // Discord could not be asked: 503, try again later.
/// let busy = Refusal::Unavailable { retry_after: 3 }.answer("/");
/// assert_eq!(busy.status(), 503);
/// assert_eq!(busy.headers()["retry-after"], "3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The session store failed: `503` JSON with `Retry-After: 5`.
    StoreUnavailable,
    /// Nobody is logged in: `303` to `login_url` for a browser page load (`html`), else `401`
    /// JSON naming `login_url`.
    NotLoggedIn {
        /// The login URL that returns to the requested page.
        login_url: String,
        /// See [`wants_html`].
        html: bool,
    },
    /// The session keeps no Discord token (identity-only mode): `403` JSON.
    NoToken,
    /// Logged in but not allowed: `403`, an HTML page or JSON.
    Forbidden {
        /// See [`wants_html`].
        html: bool,
        /// What the user lacks.
        reason: &'static str,
    },
    /// Discord could not be asked (guard checks, throttled API calls): `503` JSON with
    /// `Retry-After`.
    Unavailable {
        /// Seconds.
        retry_after: u64,
    },
    /// Discord found nothing where an API call looked (e.g. the user is not in that guild):
    /// `404` JSON.
    NotFound,
    /// Discord answered an API call with something unexpected: `502` JSON.
    BadGateway,
    /// The integration is set up wrong (its middleware is missing on this route): a generic
    /// `500` ("Internal Server Error", checklist E-05); `message`, what to fix, goes to the
    /// log as an error.
    Misconfigured {
        /// What to fix.
        message: &'static str,
    },
}

impl Refusal {
    /// The status of [`Refusal::answer`], without rendering (or logging) it.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::StoreUnavailable | Refusal::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::NotLoggedIn { html: true, .. } => StatusCode::SEE_OTHER,
            Refusal::NotLoggedIn { html: false, .. } => StatusCode::UNAUTHORIZED,
            Refusal::NoToken | Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::BadGateway => StatusCode::BAD_GATEWAY,
            Refusal::Misconfigured { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer; `back` is the link on HTML pages.
    ///
    /// ```
    /// use discord_oauth_core::login::answer::Refusal;
    /// let no_role = Refusal::Forbidden { html: false, reason: "You need the Moderator role." };
    /// let answer = no_role.answer("/");
    /// assert_eq!(answer.status(), 403);
    /// assert_eq!(answer.headers()["content-type"], "application/json");
    /// let body: serde_json::Value = serde_json::from_str(answer.body())?;
    /// assert_eq!(body["error"], "forbidden");
    /// assert_eq!(body["message"], "You need the Moderator role.");
    ///
    /// // The same refusal of a page load is an HTML page, linking back to `/`.
    /// let page = Refusal::Forbidden { html: true, reason: "You need the Moderator role." }.answer("/");
    /// assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn answer(&self, back: &str) -> Response<String> {
        let json = |status: StatusCode, body: serde_json::Value| {
            let mut r = Response::new(body.to_string());
            *r.status_mut() = status;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        };
        let mut r = match self {
            Refusal::StoreUnavailable => {
                let mut r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({ "error": "unavailable", "message": "Sessions are unavailable right now; try again shortly." }),
                );
                set_retry_after(&mut r, 5);
                r
            }
            Refusal::NotLoggedIn { login_url, html: true } => {
                let mut r = Response::new(String::new());
                *r.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(v) = HeaderValue::from_str(login_url) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            }
            Refusal::NotLoggedIn { login_url, html: false } => json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({
                    "error": "unauthorized",
                    "message": "You need to log in with Discord first.",
                    "login_url": login_url,
                }),
            ),
            Refusal::NoToken => json(
                StatusCode::FORBIDDEN,
                serde_json::json!({ "error": "forbidden", "message": "This session keeps no Discord token (identity-only mode)." }),
            ),
            Refusal::Forbidden { html: true, reason } => {
                html_page(StatusCode::FORBIDDEN, "Access denied", reason, back)
            }
            Refusal::Forbidden { html: false, reason } => json(
                StatusCode::FORBIDDEN,
                serde_json::json!({ "error": "forbidden", "message": reason }),
            ),
            Refusal::Unavailable { retry_after } => {
                let mut r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({ "error": "unavailable", "message": "Discord could not be asked; try again shortly." }),
                );
                set_retry_after(&mut r, *retry_after);
                r
            }
            Refusal::NotFound => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "not_found", "message": "Discord found nothing there." }),
            ),
            Refusal::BadGateway => json(
                StatusCode::BAD_GATEWAY,
                serde_json::json!({ "error": "bad_gateway", "message": "Discord answered unexpectedly; try again later." }),
            ),
            Refusal::Misconfigured { message } => {
                tracing::error!("{message}");
                internal_error()
            }
        };
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusals_status_is_the_status_of_its_answer() {
        let every = [
            Refusal::StoreUnavailable,
            Refusal::NotLoggedIn {
                login_url: "/auth/login".into(),
                html: true,
            },
            Refusal::NotLoggedIn {
                login_url: "/auth/login".into(),
                html: false,
            },
            Refusal::NoToken,
            Refusal::Forbidden {
                html: true,
                reason: "no",
            },
            Refusal::Forbidden {
                html: false,
                reason: "no",
            },
            Refusal::Unavailable { retry_after: 5 },
            Refusal::NotFound,
            Refusal::BadGateway,
            Refusal::Misconfigured { message: "fix it" },
        ];
        for refusal in every {
            assert_eq!(refusal.status(), refusal.answer("/").status(), "{refusal:?}");
        }
    }
}
