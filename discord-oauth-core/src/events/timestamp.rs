//! Lenient RFC 3339 timestamps, as webhook events carry them.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A timestamp from a webhook event, kept exactly as Discord wrote it, with the instant it
/// names when it could be read.
///
/// Discord's documented examples write event timestamps without a timezone
/// (`"2024-10-18T18:41:21.109604"`), while entitlement dates carry one
/// (`"2024-10-18T18:41:21.109604+00:00"`). Both read: `YYYY-MM-DD`, `T` (or `t`, or a space),
/// `HH:MM:SS`, an optional fraction of any length (nanoseconds kept), then an optional `Z` or
/// `±HH:MM` / `±HHMM` / `±HH` offset. No offset means UTC. Anything else keeps its text and
/// has no [`instant`](Self::instant): a timestamp never makes an event unreadable.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use discord_oauth_core::events::EventTimestamp;
///
/// let t = EventTimestamp::parse("2024-10-18T18:41:21.109604");
/// assert_eq!(t.as_str(), "2024-10-18T18:41:21.109604");
/// assert_eq!(t.instant(), Some(UNIX_EPOCH + Duration::from_micros(1_729_276_881_109_604)));
/// assert_eq!(EventTimestamp::parse("2024-10-18T20:41:21.109604+02:00").instant(), t.instant());
/// assert_eq!(EventTimestamp::parse("yesterday").instant(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventTimestamp {
    raw: String,
    instant: Option<SystemTime>,
}

impl fmt::Debug for EventTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl fmt::Display for EventTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl EventTimestamp {
    /// Reads `raw` leniently. Never fails; see the type's documentation.
    pub fn parse(raw: &str) -> Self {
        Self {
            raw: raw.to_owned(),
            instant: parse_rfc3339_lenient(raw),
        }
    }

    /// The text exactly as Discord sent it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The instant it names (UTC when it names no offset), or `None` when it is not a
    /// timestamp this type reads.
    pub fn instant(&self) -> Option<SystemTime> {
        self.instant
    }
}

impl Serialize for EventTimestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for EventTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::parse(&raw))
    }
}

/// Two ASCII digits at `at`.
fn two(b: &[u8], at: usize) -> Option<u32> {
    let d = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| u32::from(c - b'0'));
    Some(d(at)? * 10 + d(at + 1)?)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil: days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[:MM]]`, no offset meaning UTC.
pub(crate) fn parse_rfc3339_lenient(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    let year = i64::from(two(b, 0)? * 100 + two(b, 2)?);
    let month = two(b, 5)?;
    let day = two(b, 8)?;
    let (hour, minute, second) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|(i, c)| b.get(*i) != Some(c)) || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.' | b',', tail)) = rest.split_first() {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for i in 0..9 {
            let digit = tail.get(i).filter(|_| i < digits).map_or(0, |c| u32::from(c - b'0'));
            nanos = nanos * 10 + digit;
        }
        rest = &tail[digits..];
    }
    let offset: i64 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let hours = two(tail, 0)?;
            let minutes = match &tail[2..] {
                [] => 0,
                [b':', _, _] => two(tail, 3)?,
                [_, _] => two(tail, 2)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }?;
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(s: &str) -> Option<(i64, u32)> {
        parse_rfc3339_lenient(s).map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (i64::try_from(d.as_secs()).unwrap(), d.subsec_nanos()),
            Err(e) => (
                -i64::try_from(e.duration().as_secs()).unwrap(),
                e.duration().subsec_nanos(),
            ),
        })
    }

    #[test]
    fn reads_every_documented_shape() {
        // Discord's webhook event examples: no offset (UTC), microseconds
        assert_eq!(unix("2024-10-18T18:41:21.109604"), Some((1_729_276_881, 109_604_000)));
        assert_eq!(unix("2024-10-18T14:42:53.064834"), Some((1_729_262_573, 64_834_000)));
        // with an offset, a Z, no fraction, a space, nanoseconds and beyond
        assert_eq!(
            unix("2024-10-18T18:41:21.109604+00:00"),
            Some((1_729_276_881, 109_604_000))
        );
        assert_eq!(unix("2024-10-18T18:41:21Z"), Some((1_729_276_881, 0)));
        assert_eq!(unix("2024-10-18 18:41:21z"), Some((1_729_276_881, 0)));
        assert_eq!(unix("2024-10-18T20:41:21+02:00"), Some((1_729_276_881, 0)));
        assert_eq!(unix("2024-10-18T17:41:21-0100"), Some((1_729_276_881, 0)));
        assert_eq!(unix("2024-10-18T20:41:21+02"), Some((1_729_276_881, 0)));
        assert_eq!(
            unix("2024-10-18T18:41:21.123456789123"),
            Some((1_729_276_881, 123_456_789))
        );
        assert_eq!(unix("2024-10-18T18:41:21,5"), Some((1_729_276_881, 500_000_000)));
        assert_eq!(unix("1970-01-01T00:00:00"), Some((0, 0)));
        assert_eq!(unix("2024-02-29T00:00:00"), Some((1_709_164_800, 0)));
        assert_eq!(unix("1969-12-31T23:59:59"), Some((-1, 0)));
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for s in [
            "",
            "2024-10-18",
            "2024-10-18T18:41",
            "2024-13-01T00:00:00",
            "2023-02-29T00:00:00",
            "2024-10-18T24:00:00",
            "2024-10-18T18:41:21.",
            "2024-10-18T18:41:21+2:00",
            "2024-10-18T18:41:21+02:00:00",
            "2024-10-18T18:41:21 UTC",
            "2024/10/18T18:41:21",
            "1729276881",
            "２０２４-10-18T18:41:21",
        ] {
            assert_eq!(unix(s), None, "{s:?}");
        }
        let t = EventTimestamp::parse("not a time");
        assert_eq!(t.as_str(), "not a time");
        assert_eq!(t.instant(), None);
        assert_eq!(format!("{t:?}"), "\"not a time\"");
    }

    #[test]
    fn serde_keeps_the_text() {
        let t: EventTimestamp = serde_json::from_str(r#""2024-10-18T18:41:21.109604""#).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""2024-10-18T18:41:21.109604""#);
        assert!(t.instant().is_some());
    }
}
