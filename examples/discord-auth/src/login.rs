//! The browser login: authorization code + PKCE S256 + state, answered on a loopback redirect
//! (RFC 8252).
//!
//! 1. The redirect URI must be `http://127.0.0.1:PORT/PATH` (or `http://[::1]:PORT/PATH`): a
//!    literal loopback address, not `localhost` (RFC 8252 §8.3), with an explicit port, since
//!    Discord matches redirect URIs exactly and the port must be registered.
//! 2. The listener binds exactly that address and port — never a wildcard — before the browser
//!    opens. A port in use is an error that says so.
//! 3. It answers only `GET` on the redirect path with the right `Host` header (`127.0.0.1:PORT`;
//!    anything else is a DNS-rebinding attempt or a stray request: 400). Other paths get 404 and
//!    change nothing. The first callback decides: its `state` is checked (constant time)
//!    against this login; a wrong state, an error or a denial ends the login with nothing
//!    stored; later callbacks get 409.
//! 4. The browser gets a small static page saying what happened (never a token, never Discord's
//!    free-text error description). The command exits once the tokens are stored, or with a
//!    sentence on stderr and a non-zero status on denial, wrong state, timeout or Ctrl-C. The
//!    listener is closed in every case.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use discord_oauth_core::{
    CallbackError, Client, ClientId, ClientSecret, Endpoints, PendingAuthorization, RedirectUrl, RevocableToken, Scope,
    Scopes, api,
};
use tokio::sync::oneshot;
use url::Url;

use crate::connection::{Connection, StoredUser, unix_seconds};
use crate::error::{Error, Result};
use crate::transport::Http;
use crate::vault::Vault;

/// The redirect URI used unless `--redirect-uri` says otherwise. Register it in the Discord
/// Developer Portal (your application → OAuth2 → Redirects).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53134/callback";

/// The scopes asked for unless `--scopes` says otherwise: `identify` is the least that lets
/// `status` show who is logged in.
pub const DEFAULT_SCOPES: &str = "identify";

/// How long the login waits for the browser unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything a login needs.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The connection name to store the result under.
    pub name: String,
    /// The application's client id.
    pub client_id: String,
    /// The client secret (`None`: a public client, PKCE only).
    pub client_secret: Option<ClientSecret>,
    /// Discord's authorization page.
    pub authorize_url: Url,
    /// Discord's API base.
    pub api_base: Url,
    /// The scopes to ask for.
    pub scopes: Scopes,
    /// The loopback redirect URI (see [`parse_redirect_uri`]).
    pub redirect_uri: Url,
    /// Open the system browser (otherwise the URL is printed on stdout).
    pub open_browser: bool,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

/// Parses `--scopes`: names separated by commas and/or spaces.
pub fn parse_scopes(text: &str) -> Result<Scopes> {
    let scopes = Scopes::parse(&text.replace(',', " "));
    if scopes.is_empty() {
        return Err(Error::Usage("--scopes names no scope".into()));
    }
    Ok(scopes)
}

/// Checks a loopback redirect URI and returns the socket address to listen on.
pub fn parse_redirect_uri(text: &str) -> Result<(Url, SocketAddr)> {
    let bad = |why: &str| {
        Error::Usage(format!(
            "--redirect-uri {text:?} {why}; use http://127.0.0.1:PORT/PATH (the default is {DEFAULT_REDIRECT_URI})"
        ))
    };
    let url = Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if url.scheme() != "http" {
        return Err(bad("must use http (a loopback redirect never leaves the machine)"));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) if ip == Ipv4Addr::LOCALHOST => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => IpAddr::V6(ip),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            return Err(bad(
                "names `localhost`, which may resolve elsewhere; use the literal 127.0.0.1 (RFC 8252 §8.3)",
            ));
        }
        _ => return Err(bad("must name the loopback address 127.0.0.1 (or [::1])")),
    };
    let Some(port) = url.port().filter(|p| *p != 0) else {
        return Err(bad("needs an explicit port, registered at Discord"));
    };
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have user info, a query or a fragment"));
    }
    Ok((url, SocketAddr::new(ip, port)))
}

/// `true` when a browser can be shown: always on macOS and Windows; elsewhere when `DISPLAY` or
/// `WAYLAND_DISPLAY` is set.
pub fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

struct Listener {
    pending: Mutex<Option<PendingAuthorization>>,
    done: Mutex<Option<oneshot::Sender<Result<Connection>>>>,
    expected_host: String,
    path: String,
    client: Client,
    http: Http,
    vault: Arc<Vault>,
    request: LoginRequest,
}

/// Runs the login and stores the connection. Prints the authorize URL on stdout (its own
/// line) when it does not open a browser; everything else goes to stderr.
pub async fn login(vault: Arc<Vault>, http: Http, request: LoginRequest) -> Result<Connection> {
    let (_, addr) = parse_redirect_uri(request.redirect_uri.as_str())?;
    let endpoints = Endpoints::new(request.authorize_url.clone(), request.api_base.clone())
        .map_err(|e| Error::Usage(format!("invalid Discord endpoints: {e}")))?;
    let redirect = RedirectUrl::new(request.redirect_uri.to_string())
        .map_err(|e| Error::Usage(format!("invalid redirect URI: {e}")))?;
    let client = Client::new(
        ClientId::new(request.client_id.clone()),
        request.client_secret.clone(),
        redirect,
    )
    .with_endpoints(endpoints);

    // Bind before anything is shown to the user: the browser must find us listening.
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Error::Login(format!(
                "port {} on {} is already in use; stop the program using it or register and pass another --redirect-uri",
                addr.port(),
                addr.ip()
            ))
        } else {
            Error::Login(format!("cannot listen on {addr}: {e}"))
        }
    })?;

    let (url, pending) = client
        .authorize(request.scopes.clone())
        .ttl(request.timeout)
        .start(&mut rand::rng(), SystemTime::now())
        .map_err(|e| Error::Usage(format!("cannot start the login: {e}")))?;

    let (done_tx, done_rx) = oneshot::channel();
    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    };
    let state = Arc::new(Listener {
        pending: Mutex::new(Some(pending)),
        done: Mutex::new(Some(done_tx)),
        expected_host: host,
        path: request.redirect_uri.path().to_owned(),
        client,
        http,
        vault,
        request: request.clone(),
    });
    let app = axum::Router::new().fallback(callback).with_state(Arc::clone(&state));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });

    // Listen for Ctrl-C (and SIGTERM) before anything is shown, so an interruption at any
    // moment ends the login cleanly.
    let interrupted = interruption()?;

    eprintln!(
        "Waiting for Discord to redirect the browser to {} (this redirect URI must be registered for your application in the Discord Developer Portal).",
        request.redirect_uri
    );
    let opened = request.open_browser && has_display() && webbrowser::open(url.as_str()).is_ok();
    if opened {
        eprintln!(
            "Opened your browser at Discord's authorization page. If it did not appear, run again with --no-browser."
        );
    } else {
        eprintln!("Open this URL in a browser to authorize:");
        println!("{url}");
    }

    let outcome = tokio::select! {
        // An outcome already reported wins over a timeout or Ctrl-C arriving at the same time.
        biased;
        r = done_rx => r.unwrap_or_else(|_| Err(Error::Login("the listener stopped unexpectedly".into()))),
        () = tokio::time::sleep(request.timeout) => {
            abandon(&state, format!(
                "no answer from the browser within {} s; nothing was stored",
                request.timeout.as_secs()
            )).await
        }
        () = interrupted => abandon(&state, "interrupted; nothing was stored".to_owned()).await,
    };
    let _ = stop_tx.send(());
    if tokio::time::timeout(Duration::from_secs(5), server).await.is_err() {
        eprintln!("warning: the login listener did not stop within 5 s");
    }
    outcome
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM; the handlers are installed now.
#[cfg(unix)]
fn interruption() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| signal(kind).map_err(|e| Error::Login(format!("cannot handle signals: {e}")));
    let mut int = listen(SignalKind::interrupt())?;
    let mut term = listen(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn interruption() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Ends a login that is still waiting: takes the pending authorization so no callback can use
/// it. If a callback already took it, that callback is finishing: wait for its outcome.
async fn abandon(state: &Listener, why: String) -> Result<Connection> {
    let taken = state.pending.lock().unwrap_or_else(PoisonError::into_inner).take();
    if taken.is_some() {
        return Err(Error::Login(why));
    }
    let rx = {
        let (tx, rx) = oneshot::channel();
        // Replace the sender: the running callback reports to whoever holds it.
        let mut slot = state.done.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            return Err(Error::Login(why));
        }
        let previous = slot.replace(tx);
        drop(previous);
        rx
    };
    match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(r)) => r,
        _ => Err(Error::Login(why)),
    }
}

fn report(state: &Listener, outcome: Result<Connection>) {
    if let Some(tx) = state.done.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = tx.send(outcome);
    }
}

async fn callback(State(state): State<Arc<Listener>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&state.expected_host));
    if !host_ok {
        return page(
            StatusCode::BAD_REQUEST,
            "Wrong address",
            "This listener only answers requests addressed to its own loopback address.",
        );
    }
    if uri.path() != state.path {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This listener only waits for Discord's redirect.",
        );
    }
    if method != Method::GET {
        return page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Discord's redirect is a GET request.",
        );
    }
    let Some(pending) = state.pending.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return page(
            StatusCode::CONFLICT,
            "Already handled",
            "This login has already received its answer. Return to the terminal.",
        );
    };
    let query = uri.query().unwrap_or("");
    let grant = match pending.callback(query, SystemTime::now()) {
        Ok(g) => g,
        Err(e) => {
            let (title, text, err) = callback_failure(&e);
            report(&state, Err(Error::Login(err)));
            return page(StatusCode::BAD_REQUEST, title, &text);
        }
    };
    match complete(&state, grant).await {
        Ok(connection) => {
            let who = connection
                .user
                .as_ref()
                .map_or_else(|| "your Discord account".to_owned(), |u| u.username.clone());
            let text = format!(
                "Logged in as {who}; the connection `{}` is stored. You can close this tab and return to the terminal.",
                state.request.name
            );
            report(&state, Ok(connection));
            page(StatusCode::OK, "Logged in", &text)
        }
        Err(e) => {
            let text = format!("The login failed: {e}. Nothing was stored. Return to the terminal.");
            report(&state, Err(e));
            page(StatusCode::BAD_GATEWAY, "Login failed", &text)
        }
    }
}

/// A page title, a page text and the terminal's sentence for a refused callback. Discord's
/// free-text `error_description` is never put on the page.
fn callback_failure(e: &CallbackError) -> (&'static str, String, String) {
    match e {
        CallbackError::AccessDenied { .. } => (
            "Authorization cancelled",
            "You cancelled the authorization on Discord. Nothing was stored.".into(),
            "the authorization was denied on Discord; nothing was stored".into(),
        ),
        CallbackError::StateMismatch | CallbackError::MissingState | CallbackError::UnknownState => (
            "Login refused",
            "This answer does not belong to the login started in the terminal (state check failed). Nothing was stored."
                .into(),
            "the callback's state did not match this login (a stale or forged redirect); nothing was stored".into(),
        ),
        CallbackError::Provider(o) => (
            "Discord reported an error",
            format!("Discord reported the error `{}`. Nothing was stored.", o.error),
            format!("Discord reported the error `{}`; nothing was stored", o.error),
        ),
        other => (
            "Login refused",
            format!("The answer was refused: {other}. Nothing was stored."),
            format!("the callback was refused ({other}); nothing was stored"),
        ),
    }
}

/// Exchanges the code, reads the user, stores the connection. If anything after the exchange
/// fails, the fresh grant is revoked (best effort) so no live authorization is left behind.
async fn complete(state: &Listener, grant: discord_oauth_core::AuthorizationGrant) -> Result<Connection> {
    let exchange = state.client.exchange_code(grant);
    let response = state.http.send(exchange.request()).await?;
    let tokens = exchange
        .finish(response, SystemTime::now())
        .map_err(|e| Error::Discord(format!("the code exchange failed: {e}")))?;
    let result = async {
        let user = if tokens.has_scope(&Scope::Identify) {
            let call = api::current_user(state.client.endpoints(), &tokens.access_token);
            let response = state.http.send(call.request()).await?;
            let user = call
                .parse(response)
                .map_err(|e| Error::Discord(format!("cannot read the user: {e}")))?;
            Some(StoredUser {
                id: user.id.to_string(),
                username: user.username,
                global_name: user.global_name,
            })
        } else {
            None
        };
        let request = &state.request;
        let connection = Connection {
            client_id: request.client_id.clone(),
            client_secret: request.client_secret.clone(),
            authorize_url: request.authorize_url.clone(),
            api_base: request.api_base.clone(),
            redirect_uri: request.redirect_uri.to_string(),
            tokens: tokens.clone(),
            user,
            logged_in_at: unix_seconds(SystemTime::now()),
        };
        let vault = Arc::clone(&state.vault);
        let name = request.name.clone();
        let to_store = connection.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = vault.lock(&name)?;
            vault.store(&name, &to_store)
        })
        .await
        .map_err(|e| Error::Usage(format!("store task failed: {e}")))??;
        Ok(connection)
    }
    .await;
    if result.is_err() {
        let revoke = state.client.revoke(RevocableToken::from_set(&tokens));
        let _ = state.http.send(revoke.request()).await;
    }
    result
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The static result page: escaped text, no scripts, not cached, no referrer (the callback URL
/// carries the authorization code).
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>discord-auth: {t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}}</style></head>\
         <body><h1 id=\"title\">{t}</h1><p id=\"message\">{m}</p></body></html>",
        t = escape(title),
        m = escape(text)
    );
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn i03_redirect_uri_must_be_a_literal_loopback_address_with_a_port() {
        let (url, addr) = parse_redirect_uri("http://127.0.0.1:53134/callback").unwrap();
        assert_eq!(addr, "127.0.0.1:53134".parse().unwrap());
        assert_eq!(url.path(), "/callback");
        assert_eq!(
            parse_redirect_uri("http://[::1]:8080/cb").unwrap().1,
            "[::1]:8080".parse().unwrap()
        );
        for bad in [
            "http://localhost:53134/callback",
            "https://127.0.0.1:53134/callback",
            "http://0.0.0.0:53134/callback",
            "http://192.168.1.2:53134/callback",
            "http://example.com:53134/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:53134/callback?x=1",
            "http://user@127.0.0.1:53134/callback",
            "not a url",
        ] {
            assert!(parse_redirect_uri(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_redirect_uri(DEFAULT_REDIRECT_URI).is_ok());
    }

    #[test]
    fn scopes_accept_commas_and_spaces() {
        let s = parse_scopes("identify,email guilds").unwrap();
        assert_eq!(s.to_string(), "identify email guilds");
        assert!(parse_scopes(" , ").is_err());
    }

    #[test]
    fn i08_result_page_escapes_text() {
        let r = page(StatusCode::OK, "<b>", "a <script>alert(1)</script> & 'q'");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::REFERRER_POLICY], "no-referrer");
        assert!(escape("<script>").contains("&lt;script&gt;"));
        assert!(!escape("a <script>").contains('<'));
    }
}
