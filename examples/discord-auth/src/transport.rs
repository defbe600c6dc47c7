//! Sends the core's `http::Request<Vec<u8>>` values with reqwest (rustls), the way the
//! library's own transports do: no redirects, bounded timeouts, bodies capped while reading.

use discord_oauth_core::http_client::{CONNECT_TIMEOUT, CappedBody, TOTAL_TIMEOUT, USER_AGENT};

use crate::error::{Error, Result};

/// An HTTP client for Discord's token endpoints and API.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// The default client.
    pub fn new() -> Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::Usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// The underlying reqwest client (the `run` proxy streams with it).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request and reads the answer (body capped).
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>> {
        // Only the path is shown in errors: URLs never carry tokens here, but keep them short.
        let url = request.uri().to_string();
        let network = |e: reqwest::Error| Error::Network {
            url: url.clone(),
            reason: without_url(&e),
        };
        let request = reqwest::Request::try_from(request).map_err(network)?;
        let mut response = self.client.execute(request).await.map_err(network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = CappedBody::default();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if !body.push(&chunk) {
                break;
            }
        }
        let mut out = http::Response::new(body.into_inner());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// A reqwest error's text without the URL it appends (the caller names the URL once).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
