//! Discord's 64-bit ids ("snowflakes").

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds from the Unix epoch to the Discord epoch (the first second of 2015, UTC).
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A Discord id: a user, guild, role, channel, application, …
///
/// Discord sends ids as decimal strings (they do not fit in a JavaScript number); this type
/// serializes as a string and deserializes from a string or an integer. The top 42 bits are
/// the creation time in milliseconds since the Discord epoch.
///
/// ```
/// use discord_oauth_core::Snowflake;
/// let id: Snowflake = serde_json::from_str(r#""175928847299117063""#).unwrap();
/// assert_eq!(id.get(), 175928847299117063);
/// assert_eq!(id.to_string(), "175928847299117063");
/// assert_eq!(id.timestamp(), 41944705796);            // ms since the Discord epoch
/// assert_eq!(id.unix_timestamp_ms(), 1462015105796);  // 2016-04-30T11:18:25.796Z
/// assert_eq!(serde_json::to_string(&id).unwrap(), r#""175928847299117063""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Snowflake(u64);

impl Snowflake {
    /// Wraps a raw id.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The raw id.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Milliseconds since the Discord epoch (2015-01-01T00:00:00Z) at which this id was made.
    pub const fn timestamp(self) -> u64 {
        self.0 >> 22
    }

    /// Milliseconds since the Unix epoch at which this id was made.
    pub const fn unix_timestamp_ms(self) -> u64 {
        (self.0 >> 22) + DISCORD_EPOCH_MS
    }

    /// When this id was made.
    pub fn created_at(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.unix_timestamp_ms())
    }
}

impl From<u64> for Snowflake {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl From<Snowflake> for u64 {
    fn from(id: Snowflake) -> Self {
        id.0
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Snowflake {
    type Err = ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Snowflake;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Discord id as a decimal string or an integer")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Snowflake, E> {
                Ok(Snowflake(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Snowflake, E> {
                u64::try_from(v)
                    .map(Snowflake)
                    .map_err(|_| E::custom("a Discord id cannot be negative"))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Snowflake, E> {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("a Discord id must be a decimal number"));
                }
                v.parse()
                    .map(Snowflake)
                    .map_err(|_| E::custom("a Discord id must fit in 64 bits"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_strings_and_integers_only() {
        assert_eq!(
            serde_json::from_str::<Snowflake>("80351110224678912").unwrap(),
            Snowflake::new(80_351_110_224_678_912)
        );
        for bad in [
            r#""""#,
            r#""-1""#,
            "-1",
            r#""1e3""#,
            "1.5",
            "null",
            r#""18446744073709551616""#,
        ] {
            assert!(serde_json::from_str::<Snowflake>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Snowflake::new(175_928_847_299_117_063).created_at(),
            UNIX_EPOCH + Duration::from_millis(1_462_015_105_796)
        );
    }

    proptest! {
        #[test]
        fn round_trips(id in any::<u64>()) {
            let s = Snowflake::new(id);
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(json.clone(), format!("\"{id}\""));
            prop_assert_eq!(serde_json::from_str::<Snowflake>(&json).unwrap(), s);
            prop_assert_eq!(serde_json::from_str::<Snowflake>(&id.to_string()).unwrap(), s);
            prop_assert_eq!(s.to_string().parse::<Snowflake>().unwrap(), s);
        }
    }
}
