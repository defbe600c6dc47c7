//! The runtime pieces the tower/axum and actix-web integrations of `discord-oauth` share, so
//! that each integration only converts its framework's requests, responses and sessions:
//!
//! - [`Transport`]: how requests reach Discord, any `tower::Service<http::Request<Vec<u8>>>`
//!   ([`ReqwestTransport`], reqwest with rustls, by default), bounded by a timeout and by
//!   [`discord_oauth_core::response::MAX_BODY_BYTES`] of response body;
//! - [`Outbound`]: the one bound on requests to Discord in flight, and the breaker that holds
//!   every request while Discord's global rate limit is in effect;
//! - [`Io`]: both together with a timeout and a clock, as the [`FlowIo`]/[`ClientIo`] the
//!   core's login driver and user-API driver run on (tokio timers);
//! - [`Builder`]: the settings of an integration, one builder type for every framework
//!   (`DiscordOAuthLayerBuilder` and actix's `DiscordOAuthBuilder` are it);
//! - [`refresh::RefreshLocks`]: the refresh strategy (single flight per refresh token, in
//!   process and, with a [`refresh::SharedLock`], across instances with published outcomes);
//! - [`budget`]: the invalid-request budget shared by the instances of a site
//!   ([`budget::SharedBudget`]);
//! - [`redis`]: the Redis lock, the broadcast of ended logins and the shared budget over a
//!   one-method client trait each integration implements for its Redis client;
//! - [`locks`]: the keyed in-process locks under both;
//! - [`api`]: the user client ([`api::UserApi`], [`api::UserClient`], refreshed after a `401`
//!   through each framework's [`api::LoginRefresh`]) and the application's bot client
//!   ([`api::BotApi`]) on any integration's state;
//! - `rotation` (cargo feature `key-rotation`): re-sealing session cookies made with a
//!   previous key.
//!
//! The core (`discord-oauth-core`) stays sans-IO; this crate is where its IO happens, once for
//! every framework.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use discord_oauth_runtime::{Io, Outbound};
//! use discord_oauth_core::login::flow::FlowIo;
//!
//! // A transport that answers 204 to everything (tests use the mock Discord instead).
//! let transport = tower::service_fn(|_req: http::Request<Vec<u8>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::builder().status(204).body(Vec::new()).unwrap())
//! });
//! let io = Io::new(transport, Duration::from_secs(10), Outbound::new(32));
//! let request = http::Request::new(Vec::new());
//! assert_eq!(io.send(request).await.unwrap().status(), 204);
//! # }
//! ```
#![forbid(unsafe_code)]
// On docs.rs (built with every feature), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod budget;
pub mod builder;
pub mod locks;
mod outbound;
pub mod redis;
pub mod refresh;
#[cfg(feature = "key-rotation")]
pub mod rotation;
pub mod store;
pub mod transport;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use discord_oauth_core::api::client::ClientIo;
use discord_oauth_core::login::flow::FlowIo;

pub use builder::{Builder, Integration};
pub use outbound::{Outbound, OutboundSlot};
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;
pub use transport::{BoxFuture, Transport, TransportError};

/// The wall clock an integration reads (replaceable for tests and clock-skew drills).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The default timeout of one request to Discord: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The IO every flow of an integration runs on: the [`Transport`], the per-request timeout,
/// the [`Outbound`] bound and breaker, and the clock. One per site, shared by every request.
///
/// It is the [`FlowIo`] the core's flows run on:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::embedded::{EmbeddedConfig, WebsocketKey, WebsocketTokenSigner, WebsocketTokenVerifier};
/// use discord_oauth_core::login::flow::drive;
/// use discord_oauth_core::{Client, ClientId, ClientSecret};
/// use discord_oauth_runtime::{Io, Outbound};
///
/// // Discord, as far as this example needs it: the token endpoint and `/users/@me`.
/// let discord = tower::service_fn(|req: http::Request<Vec<u8>>| async move {
///     let body: &[u8] = if req.uri().path().ends_with("/oauth2/token") {
///         br#"{"access_token":"at","token_type":"Bearer","expires_in":604800,"refresh_token":"rt","scope":"identify"}"#
///     } else {
///         br#"{"id":"80351110224678912","username":"nelly","discriminator":"0","avatar":null}"#
///     };
///     Ok::<_, std::convert::Infallible>(http::Response::new(body.to_vec()))
/// });
/// let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let io = Io::new(discord, Duration::from_secs(10), Outbound::new(8)).with_clock(Arc::new(move || fixed));
/// assert_eq!(io.now(), fixed);
///
/// let key = WebsocketKey::new("k1", [1u8; 32])?;
/// let config = EmbeddedConfig::new(
///     Client::without_redirect(ClientId::new("157730590492196864".into()), Some(ClientSecret::new("s".into()))),
///     WebsocketTokenSigner::new(key.clone(), "my-activity")?,
///     WebsocketTokenVerifier::new([key], "my-activity")?,
/// );
/// let Ok(flow) = config.token_flow(Some(b"application/json"), br#"{"code":"abc"}"#) else {
///     return Err("refused".into());
/// };
/// let answer = drive(flow, &io).await; // every request goes through `io`
/// assert_eq!(answer.status(), 200);
/// # Ok(()) }
/// ```
pub struct Io {
    transport: Arc<dyn Transport>,
    timeout: Duration,
    outbound: Outbound,
    clock: Clock,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("timeout", &self.timeout)
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

impl Io {
    /// IO over `transport`, each request bounded by `timeout`, every request through
    /// `outbound`, on the system clock.
    pub fn new(transport: impl Transport, timeout: Duration, outbound: Outbound) -> Self {
        Self::shared(Arc::new(transport), timeout, outbound)
    }

    /// [`Io::new`] with a transport already shared.
    pub fn shared(transport: Arc<dyn Transport>, timeout: Duration, outbound: Outbound) -> Self {
        Self {
            transport,
            timeout,
            outbound,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Reads the wall clock from `clock` instead (tests shift it to make tokens expire).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The wall clock.
    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// The clock, to share with other parts of the integration.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The timeout of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The transport.
    pub fn transport(&self) -> &dyn Transport {
        self.transport.as_ref()
    }

    /// The bound on requests in flight and the global-rate-limit breaker.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }
}

impl FlowIo for Io {
    type Error = TransportError;

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        self.outbound
            .send(self.transport.as_ref(), request, self.timeout, || self.now())
    }

    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tracing::debug!(
            wait_ms = duration.as_millis() as u64,
            "waiting before the next request to Discord"
        );
        tokio::time::sleep(duration)
    }

    fn now(&self) -> SystemTime {
        Io::now(self)
    }
}

impl ClientIo for Io {
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// Declares a public newtype that derefs to the type it wraps: the integrations' extractor
/// types (`DiscordUser`, `DiscordToken`, `DiscordClientError`) over the core's, written once.
/// Attributes (docs, derives) go before `pub struct`, as on any struct.
///
/// ```
/// discord_oauth_runtime::deref_newtype! {
///     /// A name.
///     #[derive(Debug, Clone)]
///     pub struct Name(pub String);
/// }
/// assert_eq!(Name("a".into()).len(), 1);
/// ```
#[macro_export]
macro_rules! deref_newtype {
    ($(#[$meta:meta])* pub struct $name:ident($(#[$field:meta])* pub $inner:ty);) => {
        $(#[$meta])*
        pub struct $name($(#[$field])* pub $inner);

        impl ::std::ops::Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
    };
}

/// Declares an integration's `RedisRevocations`: a newtype over
/// [`redis::RedisRevocations`] on that integration's Redis client, answering as the
/// [`Broadcast`](discord_oauth_core::login::revocation::Broadcast) it wraps. Written once for
/// both frameworks; each adds its `connect` (its client's pub/sub). Attributes (docs) go
/// before `pub struct`.
#[macro_export]
macro_rules! redis_revocations {
    ($(#[$meta:meta])* pub struct $name:ident($client:ty);) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name($crate::redis::RedisRevocations<$client>);

        impl discord_oauth_core::login::revocation::Broadcast for $name {
            fn publish(
                &self,
                revocation: discord_oauth_core::login::revocation::Revocation,
                keep_for: ::std::time::Duration,
            ) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + Send + '_>> {
                self.0.publish(revocation, keep_for)
            }

            fn subscribe(&self, handler: discord_oauth_core::login::revocation::Handler) {
                self.0.subscribe(handler);
            }
        }
    };
}

/// Declares an integration's `AuthState`: the core's
/// [`Visitor`](discord_oauth_core::login::visitor::Visitor) of the request (its `Deref`
/// target; `Debug` shows only it) beside the integration's own fields. Written once for both
/// frameworks. Docs go before `pub struct`.
#[macro_export]
macro_rules! auth_state {
    ($(#[$meta:meta])* pub struct AuthState { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct AuthState {
            visitor: discord_oauth_core::login::visitor::Visitor,
            $($(#[$fmeta])* $field: $ty,)*
        }

        impl ::std::fmt::Debug for AuthState {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("AuthState").field("visitor", &self.visitor).finish_non_exhaustive()
            }
        }

        impl ::std::ops::Deref for AuthState {
            type Target = discord_oauth_core::login::visitor::Visitor;
            fn deref(&self) -> &discord_oauth_core::login::visitor::Visitor {
                &self.visitor
            }
        }
    };
}

/// Declares an integration's `DiscordClient` (a [`api::UserClient`] bound to the request's
/// login, whose failures answer the way the request asked: a login page for a page load,
/// JSON otherwise) and its `DiscordClientError` (the core's
/// [`CallFailure`](discord_oauth_core::api::client::CallFailure) as a local type, so that
/// each framework can render it). Written once for both frameworks; each adds its extractor
/// and its response conversion. The docs of `DiscordClient` go before `pub struct`.
#[macro_export]
macro_rules! discord_client {
    ($(#[$meta:meta])* pub struct DiscordClient;) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct DiscordClient {
            client: $crate::api::UserClient,
            login_url: String,
            html: bool,
        }

        $crate::deref_newtype! {
            /// Why a [`DiscordClient`] call gave no result: the core's
            /// [`CallFailure`](discord_oauth_core::api::client::CallFailure) (derefs to it, and
            /// through it to the `ClientError` with `error()`), answered the way the core
            /// renders it, the same on every framework.
            #[derive(Debug, thiserror::Error)]
            #[error(transparent)]
            pub struct DiscordClientError(#[from] pub discord_oauth_core::api::client::CallFailure);
        }

        impl From<discord_oauth_core::api::client::ClientError> for DiscordClientError {
            fn from(error: discord_oauth_core::api::client::ClientError) -> Self {
                Self(error.into())
            }
        }

        impl discord_oauth_core::api::client::UserCalls for DiscordClient {
            type Error = DiscordClientError;

            fn endpoints(&self) -> &discord_oauth_core::Endpoints {
                self.client.endpoints()
            }

            fn access_token(&self) -> &discord_oauth_core::AccessToken {
                self.client.access_token()
            }

            async fn call<R: Send>(
                &self,
                call: &discord_oauth_core::response::ApiCall<R>,
            ) -> Result<R, DiscordClientError> {
                self.client.call(call).await.map_err(|error| {
                    let failure = discord_oauth_core::api::client::CallFailure::new(error, self.login_url.clone(), self.html);
                    DiscordClientError(failure)
                })
            }
        }

        impl DiscordClient {
            /// The client underneath: errors as `ClientError`, the newest token after a
            /// refresh (`current_token`), the driver's statistics through
            /// `user_client().user_api().driver()`.
            ///
            /// ```
            /// use discord_oauth_core::api::client::{ClientError, UserCalls};
            #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::DiscordClient;")]
            /// async fn me(client: DiscordClient) -> Result<String, ClientError> {
            ///     Ok(client.user_client().current_user().await?.username)
            /// }
            /// ```
            pub fn user_client(&self) -> &$crate::api::UserClient {
                &self.client
            }
        }
    };
}
