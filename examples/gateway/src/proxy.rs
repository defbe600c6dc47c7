//! Forwarding to `UPSTREAM` with hyper's client: bodies stream both ways (hyper's own bounded
//! buffers, nothing collected), WebSocket and other `Upgrade`s are spliced byte for byte,
//! hop-by-hop headers stay on their hop, identity headers come only from the gateway.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use discord_oauth_core::login::answer::{self, Refusal};
use http::header::{CONNECTION, COOKIE, HOST, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::settings::Upstream;

/// The identity headers sent to the upstream. A client's headers of these names are removed
/// from every request, logged in or not, skip-auth route or not.
pub(crate) const IDENTITY_HEADERS: [&str; 5] = [
    "x-forwarded-user",
    "x-forwarded-preferred-username",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-access-token",
];

/// The forward-auth answer's headers: never taken from a client either.
const AUTH_REQUEST_HEADERS: [&str; 5] = [
    "x-auth-request-user",
    "x-auth-request-preferred-username",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-access-token",
];

/// Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// How long connecting to the upstream may take before the visitor gets `502`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the upstream is told the user is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Headers to add (already validated values).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// The upstream and the HTTP client that reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    client: Client<HttpConnector, Body>,
    upstream: Upstream,
    /// `X-Forwarded-Proto`: `https` when the public redirect URI is.
    proto: HeaderValue,
    /// Cookies the upstream never sees: the session cookie and the logins in progress.
    session_cookie: &'static str,
    login_cookie_prefix: &'static str,
}

impl Proxy {
    pub(crate) fn new(
        upstream: Upstream,
        https: bool,
        session_cookie: &'static str,
        login_cookie_prefix: &'static str,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self {
            client,
            upstream,
            proto: HeaderValue::from_static(if https { "https" } else { "http" }),
            session_cookie,
            login_cookie_prefix,
        }
    }

    /// Sends the request to the upstream and streams its answer back; `502` when the upstream
    /// cannot be reached or breaks off before answering.
    pub(crate) async fn forward(
        &self,
        mut parts: Parts,
        body: Body,
        peer: SocketAddr,
        identity: Option<Identity>,
        html: bool,
    ) -> Response {
        let upgrade = upgrade_protocol(&parts.headers);
        let client_upgrade = upgrade
            .as_ref()
            .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
        parts.extensions = http::Extensions::new();
        remove_hop_by_hop(&mut parts.headers);
        if let (Some(protocol), Some(_)) = (&upgrade, &client_upgrade) {
            parts.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(UPGRADE, protocol.clone());
        }
        self.set_forwarded(&mut parts.headers, peer);
        self.remove_own_cookies(&mut parts.headers);
        if let Some(identity) = identity {
            for (name, value) in identity.headers {
                parts.headers.insert(name, value);
            }
        }
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        parts.uri = match self.upstream.uri_for(path_and_query) {
            Ok(uri) => uri,
            Err(e) => {
                tracing::warn!(error = %e, "could not build the upstream URL");
                return bad_gateway(html);
            }
        };
        parts.version = Version::HTTP_11;
        let request = http::Request::from_parts(parts, body);
        let mut response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(error = %e, upstream = %self.upstream.authority, "the upstream did not answer");
                return bad_gateway(html);
            }
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let upstream_protocol = upgrade_protocol(response.headers());
            let (Some(client), Some(protocol)) = (client_upgrade, upstream_protocol) else {
                tracing::warn!("the upstream switched protocols on a request that did not ask to");
                return bad_gateway(html);
            };
            let upstream = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                match tokio::try_join!(client, upstream) {
                    Ok((client, upstream)) => {
                        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                            tracing::debug!(error = %e, "upgraded connection ended");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                }
            });
            remove_hop_by_hop(response.headers_mut());
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
            response.headers_mut().insert(UPGRADE, protocol);
            return response.map(|_| Body::empty());
        }
        remove_hop_by_hop(response.headers_mut());
        response.map(Body::new)
    }

    /// `X-Forwarded-For` (the peer appended to what came before), `-Proto`, `-Host`.
    fn set_forwarded(&self, headers: &mut HeaderMap, peer: SocketAddr) {
        let peer_ip = peer.ip().to_string();
        let chain = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .chain(std::iter::once(peer_ip.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        headers.remove("x-forwarded-for");
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", value);
        }
        headers.insert("x-forwarded-proto", self.proto.clone());
        match headers.get(HOST).cloned() {
            Some(host) => {
                headers.insert("x-forwarded-host", host);
            }
            None => {
                headers.remove("x-forwarded-host");
            }
        }
    }

    /// Removes the gateway's session cookie and login-in-progress cookies from `Cookie`.
    fn remove_own_cookies(&self, headers: &mut HeaderMap) {
        let kept: Vec<String> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(n, _)| n).trim();
                name != self.session_cookie && !name.starts_with(self.login_cookie_prefix)
            })
            .map(str::to_owned)
            .collect();
        headers.remove(COOKIE);
        if !kept.is_empty()
            && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
        {
            headers.insert(COOKIE, value);
        }
    }
}

/// Removes identity and forward-auth headers a client sent.
pub(crate) fn remove_identity_headers(headers: &mut HeaderMap) {
    for name in IDENTITY_HEADERS.iter().chain(&AUTH_REQUEST_HEADERS) {
        headers.remove(*name);
    }
}

/// The protocol a request or `101` answer upgrades to (`Connection: upgrade` + `Upgrade`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if asks { headers.get(UPGRADE).cloned() } else { None }
}

/// Removes hop-by-hop headers, with those `Connection` names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(UPGRADE);
}

/// `502`: a page for page loads, the core's JSON otherwise.
pub(crate) fn bad_gateway(html: bool) -> Response {
    let answer = if html {
        answer::html_page(
            StatusCode::BAD_GATEWAY,
            "Bad Gateway",
            "The application behind this login is not answering. Try again in a moment.",
            "/",
        )
    } else {
        Refusal::BadGateway.answer("/")
    };
    answer.into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn proxy() -> Proxy {
        let upstream = crate::settings::tests_upstream();
        Proxy::new(upstream, false, "discord_oauth", "discord_oauth_login.")
    }

    #[test]
    fn own_cookies_stay_here() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; discord_oauth=secret; discord_oauth_login.abc=x"),
        );
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        proxy().remove_own_cookies(&mut headers);
        assert_eq!(headers.get_all(COOKIE).iter().count(), 1);
        assert_eq!(headers[COOKIE], "a=1; b=2");
        let mut only_ours = HeaderMap::new();
        only_ours.insert(COOKIE, HeaderValue::from_static("discord_oauth=secret"));
        proxy().remove_own_cookies(&mut only_ours);
        assert!(only_ours.get(COOKIE).is_none());
    }

    #[test]
    fn forwarded_headers_and_hop_by_hop() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("gopher"));
        headers.insert(HOST, HeaderValue::from_static("app.example"));
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        remove_hop_by_hop(&mut headers);
        proxy().set_forwarded(&mut headers, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "app.example");
        assert!(headers.get("x-secret").is_none() && headers.get("te").is_none());
        assert!(headers.get(CONNECTION).is_none());
    }

    #[test]
    fn identity_headers_from_clients_are_removed() {
        let mut headers = HeaderMap::new();
        for name in IDENTITY_HEADERS.iter().chain(&AUTH_REQUEST_HEADERS) {
            headers.insert(*name, HeaderValue::from_static("spoofed"));
        }
        headers.insert("x-other", HeaderValue::from_static("kept"));
        remove_identity_headers(&mut headers);
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn upgrades_need_connection_upgrade() {
        let mut headers = HeaderMap::new();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(upgrade_protocol(&headers).is_none());
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert_eq!(upgrade_protocol(&headers).unwrap(), "websocket");
    }
}
