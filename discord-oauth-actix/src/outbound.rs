//! Every request to Discord goes through one [`Outbound`]: the bound on requests in flight
//! and the global rate-limit breaker (`discord_oauth_runtime`).

pub(crate) use discord_oauth_runtime::{Outbound, OutboundSlot};
