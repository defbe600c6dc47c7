//! How requests reach Discord: any [`Transport`], i.e. an `async` function from
//! `http::Request<Vec<u8>>` to `http::Response<Vec<u8>>` (closures qualify).
//!
//! The default, [`ReqwestTransport`], uses reqwest with rustls, follows no redirects (a token
//! endpoint that redirects is an error, checklist C-03), has connect and total timeouts, and
//! stops reading a body past [`MAX_BODY_BYTES`] (settings shared with the tower crate through
//! [`discord_oauth_core::http_client`]). The middleware adds its own per-request time limit.
//!
//! Why not actix's own `awc`: its client is `!Send` and bound to one worker's runtime, while
//! the login's flows are shared by every worker; reqwest's is `Send`, pools connections across
//! workers, and is the one the tower crate uses, so both integrations speak to Discord the same
//! way.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use discord_oauth_core::http_client::MAX_BODY_BYTES;

/// An error sending a request: connection, timeout, TLS, or a body over the size cap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer within the time limit. The request may or may not have reached Discord.
    #[error("Discord did not answer within {0:?}")]
    Timeout(Duration),
    /// Any other failure.
    #[error("request to Discord failed: {0}")]
    Failed(String),
    /// Not sent: the bound on concurrent requests to Discord was reached and no slot came
    /// free within the time limit (a burst of logins is shed rather than sent, K-04).
    #[error("not sent: too many requests to Discord in flight for {0:?}")]
    Busy(Duration),
}

/// A boxed, `Send` future, as returned by [`Transport::send`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Sends requests to Discord. Implemented for [`ReqwestTransport`] and for every
/// `Fn(http::Request<Vec<u8>>) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>>`,
/// so tests and unusual deployments (proxies, custom TLS) can plug in a closure.
///
/// ```
/// use discord_oauth_actix::transport::{Transport, TransportError};
/// let offline = |_req: http::Request<Vec<u8>>| async {
///     Err::<http::Response<Vec<u8>>, _>(TransportError::Failed("offline".into()))
/// };
/// fn takes(_: impl Transport) {}
/// takes(offline);
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Sends one request.
    fn send(&self, request: http::Request<Vec<u8>>) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>>;
}

impl<F, Fut> Transport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    fn send(&self, request: http::Request<Vec<u8>>) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(self(request))
    }
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_transport::ReqwestTransport;

#[cfg(feature = "reqwest")]
mod reqwest_transport {
    use discord_oauth_core::http_client::{CONNECT_TIMEOUT, CappedBody, TOTAL_TIMEOUT, USER_AGENT};

    use super::{BoxFuture, Transport, TransportError};

    /// The default transport: reqwest with rustls, no redirects, 5 s connect timeout, 15 s
    /// total timeout, bodies capped at [`super::MAX_BODY_BYTES`].
    #[derive(Debug, Clone)]
    pub struct ReqwestTransport {
        client: reqwest::Client,
    }

    impl ReqwestTransport {
        /// Builds the default client.
        pub fn new() -> Result<Self, reqwest::Error> {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TOTAL_TIMEOUT)
                .user_agent(USER_AGENT)
                .build()
                .map(|client| Self { client })
        }

        /// Wraps a reqwest client you configured (proxy, custom TLS). Disable redirects on it.
        pub fn from_client(client: reqwest::Client) -> Self {
            Self { client }
        }

        async fn execute(
            client: reqwest::Client,
            request: http::Request<Vec<u8>>,
        ) -> reqwest::Result<http::Response<Vec<u8>>> {
            let mut response = client.execute(reqwest::Request::try_from(request)?).await?;
            let mut out = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = out.headers_mut() {
                headers.clone_from(response.headers());
            }
            let mut body = CappedBody::default();
            while let Some(chunk) = response.chunk().await? {
                if !body.push(&chunk) {
                    break;
                }
            }
            // Status, version and headers came from a valid response: this cannot fail.
            Ok(out.body(body.into_inner()).unwrap_or_default())
        }
    }

    impl Transport for ReqwestTransport {
        fn send(&self, request: http::Request<Vec<u8>>) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>> {
            let client = self.client.clone();
            Box::pin(async move {
                Self::execute(client, request)
                    .await
                    .map_err(|e| TransportError::Failed(e.without_url().to_string()))
            })
        }
    }
}
