//! Logging a test's client in to an app through the mock, the way a browser does it: the app's
//! login route, the mock's consent page, the app's callback. The app is served on loopback
//! ([`MockDiscord::log_in_at`], any framework, reqwest), called in-process as a tower service
//! ([`MockDiscord::log_in`], e.g. an axum `Router` with `oneshot`), through actix-web's
//! `test::init_service` ([`MockDiscord::log_in_actix`], feature `actix-web`), or through any
//! function that answers requests ([`MockDiscord::log_in_with`]).

use std::fmt;
use std::future::Future;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{self, Request, Response, header};

use crate::{MockDiscord, MockError, USER_COOKIE};

/// How much of an app's answer the helpers read (the start of an error page is quoted).
const BODY_LIMIT: usize = 1 << 20;

/// The cookies a browser holds after logging in to an app through the mock, as the value of
/// one `Cookie` header: send it with every request that should be logged in.
///
/// Made by [`MockDiscord::log_in`] and its siblings. `Debug` shows the cookies' names only.
///
/// ```
/// let mut cookies = discord_oauth_mock::CookieHeader::default();
/// cookies.set_cookie("discord_oauth_login.x=pending; Path=/; HttpOnly");
/// cookies.set_cookie("discord_oauth_login.x=; Max-Age=0");
/// cookies.set_cookie("discord_oauth=s3ss10n; HttpOnly; SameSite=Lax; Path=/");
/// assert_eq!(cookies.as_str(), "discord_oauth=s3ss10n");
/// assert_eq!(format!("{cookies:?}"), r#"CookieHeader { names: ["discord_oauth"] }"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CookieHeader {
    pairs: Vec<(String, String)>,
    header: String,
}

impl CookieHeader {
    /// The `Cookie` header value: `name=value; name2=value2`.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The value of one cookie.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The cookies' names, in the order they were first set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }

    /// Whether no cookie is held.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Applies a `Set-Cookie` header value as a browser would (attributes other than
    /// `Max-Age` are not checked): sets or replaces the cookie, or removes it when it is set
    /// empty or with `Max-Age` zero or less.
    pub fn set_cookie(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.filter_map(|a| a.split_once('=')).any(|(attribute, seconds)| {
            attribute.trim().eq_ignore_ascii_case("max-age") && seconds.trim().parse::<i64>().is_ok_and(|s| s <= 0)
        });
        self.pairs.retain(|(n, _)| n != name);
        if !expired && !value.is_empty() {
            self.pairs.push((name.to_owned(), value.to_owned()));
        }
        let pairs: Vec<String> = self.pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        self.header = pairs.join("; ");
    }

    /// Applies every `Set-Cookie` of a response.
    fn absorb<B>(&mut self, response: &Response<B>) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            if let Ok(value) = value.to_str() {
                self.set_cookie(value);
            }
        }
    }
}

impl fmt::Display for CookieHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl fmt::Debug for CookieHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieHeader")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

fn failed(message: impl Into<String>) -> MockError {
    MockError::Login(message.into())
}

/// The start of a body, for an error message: the mock's or the app's error sentence when
/// the page has one, else the text itself.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text
        .split("id=\"mock-error\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map_or_else(|| text.trim().to_owned(), unescape);
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Where a redirect goes.
fn location<B>(response: &Response<B>) -> Option<String> {
    let location = response.headers().get(header::LOCATION)?;
    location.to_str().ok().map(str::to_owned)
}

/// `http://host/path?query` → `/path?query`.
fn origin_form(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
    {
        Some(path) => path.to_owned(),
        None => url.to_owned(),
    }
}

impl MockDiscord {
    /// Logs in to an app, as the mock user `user_id`, through `send`, a function that answers
    /// the app's requests: `GET login` (the app's login route, e.g. `/auth/login` or
    /// `/auth/login?return_to=/dashboard`), which must redirect to this mock; the consent,
    /// approved as `user_id` whether or not the mock shows its consent page; the app's
    /// callback, which must answer a redirect. Returns the cookies the app set.
    ///
    /// `send` gets requests with the cookies so far and `Accept: text/html`; their URI is in
    /// origin form (`/auth/callback?code=…`) when `login` is a path, absolute when `login` is
    /// a URL. It answers with the app's status, headers and body (the body is only quoted in
    /// errors), or an error, quoted too. The other helpers are this function with a `send`
    /// made for a framework.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::http::{Request, Response};
    /// use discord_oauth_mock::{MockDiscord, fixture};
    ///
    /// let discord = MockDiscord::start().await?;
    /// // A stand-in for an app: its login route sends the browser to the mock's consent page,
    /// // its callback sets a cookie (a real app exchanges the code first).
    /// let authorize = format!(
    ///     "{}?response_type=code&client_id={}&scope=identify&redirect_uri={}",
    ///     discord.authorize_url(),
    ///     fixture::CLIENT_ID,
    ///     "http%3A%2F%2F127.0.0.1%3A3000%2Fauth%2Fcallback",
    /// );
    /// let app = |request: Request<()>| {
    ///     let path = request.uri().path().to_owned();
    ///     let authorize = authorize.clone();
    ///     async move {
    ///         let response = match path.as_str() {
    ///             "/auth/login" => Response::builder().status(303).header("location", authorize),
    ///             _ => Response::builder().status(303).header("location", "/").header("set-cookie", "app_session=1"),
    ///         };
    ///         response.body(Vec::new())
    ///     }
    /// };
    /// let cookies = discord.log_in_with(app, "/auth/login", fixture::LENA_ID).await?;
    /// assert_eq!(cookies.as_str(), "app_session=1");
    /// # Ok(()) }
    /// ```
    pub async fn log_in_with<F, Fut, E>(
        &self,
        mut send: F,
        login: &str,
        user_id: &str,
    ) -> Result<CookieHeader, MockError>
    where
        F: FnMut(Request<()>) -> Fut,
        Fut: Future<Output = Result<Response<Vec<u8>>, E>>,
        E: fmt::Display,
    {
        let mut cookies = CookieHeader::default();
        let start = ask(&mut send, login, &cookies).await?;
        cookies.absorb(&start);
        let authorize = location(&start)
            .filter(|_| start.status().is_redirection())
            .ok_or_else(|| {
                failed(format!(
                    "GET {login} answered {}, not a redirect to Discord: {}",
                    start.status(),
                    excerpt(start.body())
                ))
            })?;
        if !authorize.starts_with(&format!("{}?", self.authorize_url())) {
            return Err(failed(format!(
                "GET {login} sent the browser to {authorize}, not to this mock's {}: point the \
                 app's LoginConfig at the mock (MockDiscord::login_config)",
                self.authorize_url()
            )));
        }
        // The mock's own client (no cookies, no redirects), whatever `send` uses.
        let http = self.shared.http_client().map_err(failed)?;
        let callback = approve_as(&http, &authorize, user_id).await?;
        let callback = if login.starts_with('/') {
            origin_form(&callback)
        } else {
            callback
        };
        let done = ask(&mut send, &callback, &cookies).await?;
        cookies.absorb(&done);
        if !done.status().is_redirection() {
            return Err(failed(format!(
                "the app's callback (GET {callback}) answered {}, not a redirect: {}",
                done.status(),
                excerpt(done.body())
            )));
        }
        if cookies.is_empty() {
            return Err(failed(format!("the app's callback (GET {callback}) set no cookie")));
        }
        Ok(cookies)
    }

    /// [`log_in_with`](Self::log_in_with) for an app served on loopback (any framework):
    /// `login` is the URL of its login route, e.g. `http://127.0.0.1:41234/auth/login`.
    /// `http` must not follow redirects (`reqwest::redirect::Policy::none()`); if it keeps
    /// cookies (`cookie_store(true)`), it is logged in afterwards as well.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_oauth_mock::{MockDiscord, fixture};
    ///
    /// let discord = MockDiscord::start().await?;
    /// let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    /// // Not an app: the mock's own page answers 200 where a login route would redirect.
    /// let refused = discord.log_in_at(&http, &format!("{}/mock", discord.base_url()), fixture::WUMPUS_ID).await;
    /// assert!(refused.unwrap_err().to_string().contains("answered 200 OK, not a redirect to Discord"));
    /// # Ok(()) }
    /// ```
    pub async fn log_in_at(
        &self,
        http: &reqwest::Client,
        login: &str,
        user_id: &str,
    ) -> Result<CookieHeader, MockError> {
        let send = |request: Request<()>| async move {
            let url = request.uri().to_string();
            let sent = http.get(&url).headers(request.headers().clone()).send().await;
            let response = sent.map_err(|e| format!("GET {url}: {e}"))?;
            if reqwest::Url::parse(&url).ok().as_ref() != Some(response.url()) {
                return Err(format!(
                    "the client followed a redirect from {url} to {}: build it with \
                     .redirect(reqwest::redirect::Policy::none())",
                    response.url()
                ));
            }
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let body = response.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
            answer.body(body.to_vec()).map_err(|e| e.to_string())
        };
        self.log_in_with(send, login, user_id).await
    }

    /// [`log_in_with`](Self::log_in_with) for an app called in-process as a tower service:
    /// an axum `Router`, sent every request with `oneshot`, no socket. `login` is the path of
    /// its login route, e.g. `/auth/login`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::{Router, routing::get};
    /// use discord_oauth_mock::{MockDiscord, fixture};
    ///
    /// let discord = MockDiscord::start().await?;
    /// // An app without a login route: the helper says what it got.
    /// let app = Router::new().route("/", get(|| async { "home" }));
    /// let refused = discord.log_in(&app, "/auth/login", fixture::WUMPUS_ID).await;
    /// assert!(refused.unwrap_err().to_string().contains("GET /auth/login answered 404 Not Found"));
    /// # Ok(()) }
    /// ```
    ///
    /// A whole test of an app on `discord-oauth-axum` is in the [crate docs](crate).
    pub async fn log_in<S, B>(&self, app: &S, login: &str, user_id: &str) -> Result<CookieHeader, MockError>
    where
        S: tower::Service<Request<Body>, Response = Response<B>> + Clone,
        S::Error: fmt::Display,
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        use tower::ServiceExt as _;
        let send = |request: Request<()>| {
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(|()| Body::empty())).await;
                let (parts, body) = response.map_err(|e| e.to_string())?.into_parts();
                let body = axum::body::to_bytes(Body::new(body), BODY_LIMIT).await;
                Ok::<_, String>(Response::from_parts(
                    parts,
                    body.map(|b| b.to_vec()).unwrap_or_default(),
                ))
            }
        };
        self.log_in_with(send, login, user_id).await
    }

    /// [`log_in_with`](Self::log_in_with) for an actix-web app made with
    /// `actix_web::test::init_service` (feature `actix-web`). `login` is the path of its login
    /// route, e.g. `/auth/login`.
    #[cfg(feature = "actix-web")]
    pub async fn log_in_actix<S, B>(&self, app: &S, login: &str, user_id: &str) -> Result<CookieHeader, MockError>
    where
        S: actix_web::dev::Service<
                actix_http::Request,
                Response = actix_web::dev::ServiceResponse<B>,
                Error = actix_web::Error,
            >,
        B: actix_web::body::MessageBody,
    {
        let send = |request: Request<()>| async move {
            let mut test = actix_web::test::TestRequest::get().uri(&request.uri().to_string());
            for (name, value) in request.headers() {
                test = test.insert_header((name.as_str(), value.as_bytes()));
            }
            let response = app.call(test.to_request()).await.map_err(|e| e.to_string())?;
            let mut answer = Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
            let body = actix_web::body::to_bytes(response.into_body()).await;
            answer
                .body(body.map(|b| b.to_vec()).unwrap_or_default())
                .map_err(|e| e.to_string())
        };
        self.log_in_with(send, login, user_id).await
    }
}

/// One request of the walk: `GET target` with the cookies so far.
async fn ask<F, Fut, E>(send: &mut F, target: &str, cookies: &CookieHeader) -> Result<Response<Vec<u8>>, MockError>
where
    F: FnMut(Request<()>) -> Fut,
    Fut: Future<Output = Result<Response<Vec<u8>>, E>>,
    E: fmt::Display,
{
    let mut request = Request::get(target).header(header::ACCEPT, "text/html");
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies.as_str());
    }
    let request = request
        .body(())
        .map_err(|e| failed(format!("GET {target}: not a request: {e}")))?;
    send(request)
        .await
        .map_err(|e| failed(format!("GET {target} failed: {e}")))
}

/// Approves the mock's consent as a person would: `authorize_url` is where a site sent the
/// browser (its `/auth/login` redirect). The mock's page is loaded as the mock user `user_id`;
/// when it shows the consent form (the mock's default), the form is sent back approved. With
/// [auto-consent](crate::MockDiscordBuilder::auto_consent) (or `prompt=none` for a grant the
/// user already gave) the mock redirects at once. Returns where the mock sends the browser
/// next: the site's callback URL with `code` and `state`. `http` must not follow redirects.
/// An error page of the mock (an unregistered redirect URI, an unknown client) is an error
/// quoting its sentence.
pub async fn approve_as(http: &reqwest::Client, authorize_url: &str, user_id: &str) -> Result<String, MockError> {
    let failed = |what: &str, e: &dyn fmt::Display| MockError::Consent(format!("{what}: {e}"));
    let page = http
        .get(authorize_url)
        .header(header::COOKIE, format!("{USER_COOKIE}={user_id}"))
        .send()
        .await
        .map_err(|e| failed("could not load it", &e))?;
    let status = page.status();
    if status.is_redirection() {
        return redirected(&page);
    }
    let html = page.text().await.map_err(|e| failed("could not read it", &e))?;
    if status != reqwest::StatusCode::OK {
        return Err(MockError::Consent(format!(
            "it answered {status}: {}",
            excerpt(html.as_bytes())
        )));
    }
    let mut form: Vec<(String, String)> = html
        .split("<input ")
        .skip(1)
        .filter(|tag| tag.starts_with("type=\"hidden\""))
        .filter_map(|tag| Some((html_attribute(tag, "name")?, html_attribute(tag, "value")?)))
        .collect();
    form.push(("user_id".into(), user_id.into()));
    form.push(("action".into(), "approve".into()));
    let approved = http
        .post(authorize_url)
        .form(&form)
        .send()
        .await
        .map_err(|e| failed("could not send it", &e))?;
    if !approved.status().is_redirection() {
        let status = approved.status();
        let body = approved.bytes().await.unwrap_or_default();
        return Err(MockError::Consent(format!(
            "approving answered {status}: {}",
            excerpt(&body)
        )));
    }
    redirected(&approved)
}

fn redirected(response: &reqwest::Response) -> Result<String, MockError> {
    response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| MockError::Consent(format!("it answered {} with no Location", response.status())))
}

/// The value of attribute `name` in an HTML tag (`tag` from just after `<input ` or `<img `),
/// its escapes undone (`&amp;` last): for tests that read the pages a site or the mock serves.
///
/// ```
/// let tag = r#"img src="/a?x=1&amp;y=&quot;2&quot;" alt="">"#;
/// assert_eq!(discord_oauth_mock::html_attribute(tag, "src").unwrap(), r#"/a?x=1&y="2""#);
/// ```
pub fn html_attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// HTML's escapes undone (`&amp;` last).
fn unescape(text: &str) -> String {
    let entities = [
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ];
    entities
        .iter()
        .fold(text.to_owned(), |text, (entity, raw)| text.replace(entity, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_keeps_path_and_query() {
        assert_eq!(
            origin_form("http://127.0.0.1:3000/auth/callback?code=a&state=b"),
            "/auth/callback?code=a&state=b"
        );
        assert_eq!(origin_form("/already?x"), "/already?x");
    }

    #[test]
    fn excerpt_quotes_the_mock_error_sentence() {
        let page = br#"<main><h1>Something went wrong</h1><p id="mock-error">Invalid &quot;x&quot;</p></main>"#;
        assert_eq!(excerpt(page), r#"Invalid "x""#);
        assert_eq!(excerpt("x".repeat(400).as_bytes()).chars().count(), 301);
    }

    #[test]
    fn cookies_replace_and_expire() {
        let mut c = CookieHeader::default();
        c.set_cookie("a=1; Path=/");
        c.set_cookie("b=2");
        c.set_cookie("a=3");
        assert_eq!(c.as_str(), "b=2; a=3");
        c.set_cookie("b=2; max-age=-1");
        assert_eq!(c.as_str(), "a=3");
        assert_eq!(c.get("a"), Some("3"));
        c.set_cookie("not a cookie");
        assert_eq!(c.as_str(), "a=3");
    }
}
