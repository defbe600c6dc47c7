//! Announcing ended logins to the other instances: see
//! [`discord_oauth_core::login::revocation`]. With the cargo feature `redis`,
//! `RedisRevocations` carries them over Redis pub/sub.

pub use discord_oauth_core::login::revocation::{Broadcast, Handler, Revocation, Subscribers};

#[cfg(feature = "redis")]
pub use crate::redis::{DEFAULT_CHANNEL, RedisRevocations};
