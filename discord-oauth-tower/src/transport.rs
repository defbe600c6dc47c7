//! How requests reach Discord: any `tower::Service<http::Request<Vec<u8>>>` answering
//! `http::Response<Vec<u8>>` ([`ReqwestTransport`], reqwest with rustls, by default). Shared
//! with the actix-web integration: see `discord_oauth_runtime::transport`.

pub use discord_oauth_runtime::transport::*;
