//! Guides: from an empty project to working code, one task each. Every Rust block in them is
//! compiled and run by this crate's tests, against the mock Discord (`discord-oauth-mock`).
//! The same files are in the repository (`discord-oauth-core/guides/`, indexed in `docs/`).

#[doc = include_str!("../guides/tokens-by-hand.md")]
pub mod tokens_by_hand {}
