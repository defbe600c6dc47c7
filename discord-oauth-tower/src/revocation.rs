//! Announcing ended logins to the other instances, so that a logout (or "log out of all
//! devices") ends every cached copy of the session everywhere within moments, not after the
//! cache TTL.
//!
//! The layer applies a revocation locally first (see
//! [`discord_oauth_core::login::revocation`]), then hands it to its [`Broadcast`]. With the
//! cargo feature `redis`, `RedisRevocations` publishes it on a Redis channel that every
//! instance subscribes to; receiving one drops the matching sessions from that instance's
//! cache and fast path and remembers the login as ended.

pub use discord_oauth_core::login::revocation::{Broadcast, Handler, Revocation, Subscribers};

#[cfg(feature = "redis")]
pub use crate::redis::{DEFAULT_CHANNEL, RedisRevocations};
