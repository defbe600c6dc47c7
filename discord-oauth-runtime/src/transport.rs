//! How requests reach Discord: any `tower::Service<http::Request<Vec<u8>>>` answering
//! `http::Response<Vec<u8>>`.
//!
//! The default, [`ReqwestTransport`], uses reqwest with rustls, follows no redirects (a token
//! endpoint that redirects is an error, checklist C-03), has connect and total timeouts, and
//! stops reading a body past [`MAX_BODY_BYTES`]. Tests and unusual deployments (proxies,
//! custom TLS) plug in their own service.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use discord_oauth_core::response::MAX_BODY_BYTES;
use tower::{Service, ServiceExt};

/// An error sending a request: connection, timeout, TLS, or a body over the size cap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use discord_oauth_runtime::Transport;
/// use discord_oauth_runtime::transport::{TransportError, from_fn};
///
/// // A Discord that never answers in time.
/// let slow = from_fn(|_req: http::Request<Vec<u8>>| async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok(http::Response::new(Vec::new()))
/// });
/// match slow.send(http::Request::new(Vec::new()), Duration::from_millis(10)).await {
///     Ok(response) => println!("answered {}", response.status()),
///     // The request may or may not have reached Discord: do not assume either.
///     Err(TransportError::Timeout(limit)) => assert_eq!(limit, Duration::from_millis(10)),
///     // `Failed`: connection, TLS, a body over the cap; `Busy`: shed under load.
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer within the time limit. The request may or may not have reached Discord.
    #[error("Discord did not answer within {0:?}")]
    Timeout(Duration),
    /// Any other failure.
    #[error("request to Discord failed: {0}")]
    Failed(String),
    /// Not sent: the layer's bound on concurrent requests to Discord was reached and no slot
    /// came free within the time limit (a burst of logins is shed rather than sent, K-04).
    #[error("not sent: too many requests to Discord in flight for {0:?}")]
    Busy(Duration),
}

/// A boxed future, as returned by [`Transport::send`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The transport abstraction: any cloneable `tower::Service` from `http::Request<Vec<u8>>` to
/// `http::Response<Vec<u8>>` whose error displays (`tower::service_fn` turns a closure into
/// one). Blanket-implemented; never implement it by hand. Object safe: the integrations keep
/// one as `dyn Transport`.
pub trait Transport: Send + Sync + 'static {
    /// Sends one request, bounded by `timeout`.
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>>;
}

impl<S> Transport for S
where
    S: Service<http::Request<Vec<u8>>, Response = http::Response<Vec<u8>>> + Clone + Send + Sync + 'static,
    S::Error: std::fmt::Display + Send,
    S::Future: Send + 'static,
{
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>> {
        let svc = self.clone();
        Box::pin(async move {
            match tokio::time::timeout(timeout, svc.oneshot(request)).await {
                Err(_) => Err(TransportError::Timeout(timeout)),
                Ok(Err(e)) => Err(TransportError::Failed(e.to_string())),
                Ok(Ok(resp)) => match discord_oauth_core::http_client::check_body_size(&resp) {
                    Err(e) => Err(TransportError::Failed(e)),
                    Ok(()) => Ok(resp),
                },
            }
        })
    }
}

/// A [`Transport`] from an async function: [`from_fn`].
#[derive(Clone)]
pub struct FnTransport<F>(F);

impl<F> std::fmt::Debug for FnTransport<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnTransport").finish_non_exhaustive()
    }
}

/// A transport from an async function of the request (tests, proxies). Its errors are
/// reported as they are; the timeout and the body cap apply as to any transport.
///
/// ```
/// use discord_oauth_runtime::transport::{TransportError, from_fn};
/// let offline = from_fn(|_req: http::Request<Vec<u8>>| async {
///     Err::<http::Response<Vec<u8>>, _>(TransportError::Failed("offline".into()))
/// });
/// # let _ = offline;
/// ```
pub fn from_fn<F, Fut>(f: F) -> FnTransport<F>
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    FnTransport(f)
}

impl<F, Fut> Transport for FnTransport<F>
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<Result<http::Response<Vec<u8>>, TransportError>> {
        let call = (self.0)(request);
        Box::pin(async move {
            let response = tokio::time::timeout(timeout, call)
                .await
                .map_err(|_| TransportError::Timeout(timeout))??;
            discord_oauth_core::http_client::check_body_size(&response).map_err(TransportError::Failed)?;
            Ok(response)
        })
    }
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_transport::ReqwestTransport;

#[cfg(feature = "reqwest")]
mod reqwest_transport {
    use discord_oauth_core::http_client::{CONNECT_TIMEOUT, CappedBody, TOTAL_TIMEOUT, USER_AGENT};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// The default transport: reqwest with rustls, no redirects, 5 s connect timeout, 15 s
    /// total timeout, bodies capped at [`super::MAX_BODY_BYTES`] (see
    /// [`discord_oauth_core::http_client`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use discord_oauth_runtime::{Io, Outbound, ReqwestTransport};
    ///
    /// // Building it sends nothing.
    /// let io = Io::new(ReqwestTransport::new()?, Duration::from_secs(10), Outbound::default());
    ///
    /// // Or with a client you configured: keep redirects off.
    /// let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    /// let _transport = ReqwestTransport::from_client(client);
    /// # let _ = io; Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct ReqwestTransport {
        client: reqwest::Client,
    }

    impl ReqwestTransport {
        /// Builds the default client.
        pub fn new() -> Result<Self, reqwest::Error> {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TOTAL_TIMEOUT)
                .user_agent(USER_AGENT)
                .build()?;
            Ok(Self { client })
        }

        /// Wraps a reqwest client you configured (proxy, custom TLS). Disable redirects on it.
        pub fn from_client(client: reqwest::Client) -> Self {
            Self { client }
        }
    }

    impl tower::Service<http::Request<Vec<u8>>> for ReqwestTransport {
        type Response = http::Response<Vec<u8>>;
        type Error = reqwest::Error;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Vec<u8>>) -> Self::Future {
            let client = self.client.clone();
            Box::pin(async move {
                let request = reqwest::Request::try_from(request)?;
                let mut response = client.execute(request).await?;
                let status = response.status();
                let version = response.version();
                let headers = response.headers().clone();
                let mut body = CappedBody::default();
                while let Some(chunk) = response.chunk().await? {
                    if !body.push(&chunk) {
                        break;
                    }
                }
                let mut out = http::Response::new(body.into_inner());
                *out.status_mut() = status;
                *out.version_mut() = version;
                *out.headers_mut() = headers;
                Ok(out)
            })
        }
    }
}
