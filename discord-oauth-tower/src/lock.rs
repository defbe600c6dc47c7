//! Refresh single flight: no two requests spend the same refresh token.
//!
//! Discord rotates the refresh token on every refresh: the old one stops working. The layer
//! refreshes under a lock named after the refresh token about to be spent, the strategy every
//! integration runs ([`RefreshLocks`], see its docs): requests of one process queue on an
//! in-process lock (the default, enough with `MemoryStore` or one instance per session); with
//! a [`SharedLock`] — `RedisRefreshLock`, cargo feature `redis` — requests of every instance
//! queue on it too, and use the outcome the first one published.
//!
//! A holder keeps a lock for at most its lease (twice the [timeout] plus 10 s), so a crashed
//! holder blocks a login's refresh for at most one lease; waiting longer answers `503`.
//!
//! [timeout]: crate::DiscordOAuthLayerBuilder::timeout

/// The lock could not be taken; the layer answers `503` with `Retry-After`.
pub use discord_oauth_runtime::locks::LockError;
pub use discord_oauth_runtime::refresh::{RefreshLocks, SharedHeld, SharedLock};

#[cfg(feature = "redis")]
pub use crate::redis::{DEFAULT_REDIS_PREFIX, Fred, RedisRefreshLock};
