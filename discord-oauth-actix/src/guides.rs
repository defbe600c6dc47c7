//! Guides: from an empty project to working code. Every Rust block in them is compiled by this
//! crate's tests, and run against the mock Discord (`discord-oauth-mock`) unless it needs
//! Discord credentials or a Redis. The same files are in the repository
//! (`discord-oauth-actix/guides/`, indexed in `docs/`); `discord-oauth-axum`'s guides cover
//! testing, calling Discord and gating in more depth.

#[doc = include_str!("../guides/sign-in.md")]
pub mod sign_in {}
