//! Discord permission bit flags.
//!
//! [`Permissions`] has one flag per row of Discord's "Bitwise Permission Flags" table. Discord
//! sends permission sets as decimal strings (`"2147483647"`), because they no longer fit in a
//! JavaScript number; this type renders and serializes the same way, and accepts both strings
//! and integers when deserializing (older payloads, such as a role's `permissions` in the
//! advanced bot authorization example, still carry an integer).
//!
//! Bits this version does not name are kept: a permission Discord adds later survives a
//! round trip through this type unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

bitflags::bitflags! {
    /// A set of Discord permissions (a 64-bit bit field).
    ///
    /// ```
    /// use discord_oauth_core::Permissions;
    /// let p = Permissions::SEND_MESSAGES | Permissions::VIEW_CHANNEL;
    /// assert_eq!(p.to_string(), "3072");
    /// assert_eq!("3072".parse::<Permissions>().unwrap(), p);
    ///
    /// // Discord's JSON carries strings; integers are accepted too; unknown bits are kept.
    /// let p: Permissions = serde_json::from_str(r#""9007199254740992""#).unwrap();
    /// assert_eq!(p.bits(), 1 << 53);
    /// let p: Permissions = serde_json::from_str("8").unwrap();
    /// assert!(p.contains(Permissions::ADMINISTRATOR));
    /// assert_eq!(serde_json::to_string(&p).unwrap(), r#""8""#);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct Permissions: u64 {
        /// Create instant invites.
        const CREATE_INSTANT_INVITE = 1 << 0;
        /// Kick members.
        const KICK_MEMBERS = 1 << 1;
        /// Ban members.
        const BAN_MEMBERS = 1 << 2;
        /// All permissions; bypasses channel permission overwrites.
        const ADMINISTRATOR = 1 << 3;
        /// Manage and edit channels.
        const MANAGE_CHANNELS = 1 << 4;
        /// Manage and edit the guild.
        const MANAGE_GUILD = 1 << 5;
        /// Add new reactions to messages.
        const ADD_REACTIONS = 1 << 6;
        /// View audit logs.
        const VIEW_AUDIT_LOG = 1 << 7;
        /// Use priority speaker in a voice channel.
        const PRIORITY_SPEAKER = 1 << 8;
        /// Go live (stream).
        const STREAM = 1 << 9;
        /// View a channel, read its messages, join voice channels.
        const VIEW_CHANNEL = 1 << 10;
        /// Send messages and create threads in forums.
        const SEND_MESSAGES = 1 << 11;
        /// Send `/tts` messages.
        const SEND_TTS_MESSAGES = 1 << 12;
        /// Delete messages of other users.
        const MANAGE_MESSAGES = 1 << 13;
        /// Links sent by this user are embedded automatically.
        const EMBED_LINKS = 1 << 14;
        /// Upload images and files.
        const ATTACH_FILES = 1 << 15;
        /// Read message history.
        const READ_MESSAGE_HISTORY = 1 << 16;
        /// Use `@everyone`, `@here` and mention all roles.
        const MENTION_EVERYONE = 1 << 17;
        /// Use emojis from other guilds.
        const USE_EXTERNAL_EMOJIS = 1 << 18;
        /// View guild insights.
        const VIEW_GUILD_INSIGHTS = 1 << 19;
        /// Join a voice channel.
        const CONNECT = 1 << 20;
        /// Speak in a voice channel.
        const SPEAK = 1 << 21;
        /// Mute members in a voice channel.
        const MUTE_MEMBERS = 1 << 22;
        /// Deafen members in a voice channel.
        const DEAFEN_MEMBERS = 1 << 23;
        /// Move members between voice channels.
        const MOVE_MEMBERS = 1 << 24;
        /// Use voice activity detection.
        const USE_VAD = 1 << 25;
        /// Change one's own nickname.
        const CHANGE_NICKNAME = 1 << 26;
        /// Change other members' nicknames.
        const MANAGE_NICKNAMES = 1 << 27;
        /// Manage and edit roles.
        const MANAGE_ROLES = 1 << 28;
        /// Manage and edit webhooks.
        const MANAGE_WEBHOOKS = 1 << 29;
        /// Edit and delete emojis, stickers and soundboard sounds (formerly
        /// `MANAGE_EMOJIS_AND_STICKERS`).
        const MANAGE_GUILD_EXPRESSIONS = 1 << 30;
        /// Use application commands.
        const USE_APPLICATION_COMMANDS = 1 << 31;
        /// Request to speak in stage channels.
        const REQUEST_TO_SPEAK = 1 << 32;
        /// Edit and delete scheduled events.
        const MANAGE_EVENTS = 1 << 33;
        /// Delete, archive and view all private threads.
        const MANAGE_THREADS = 1 << 34;
        /// Create public and announcement threads.
        const CREATE_PUBLIC_THREADS = 1 << 35;
        /// Create private threads.
        const CREATE_PRIVATE_THREADS = 1 << 36;
        /// Use stickers from other guilds.
        const USE_EXTERNAL_STICKERS = 1 << 37;
        /// Send messages in threads.
        const SEND_MESSAGES_IN_THREADS = 1 << 38;
        /// Use activities (applications with the `EMBEDDED` flag).
        const USE_EMBEDDED_ACTIVITIES = 1 << 39;
        /// Time out users.
        const MODERATE_MEMBERS = 1 << 40;
        /// View role subscription insights.
        const VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41;
        /// Use the soundboard in a voice channel.
        const USE_SOUNDBOARD = 1 << 42;
        /// Create emojis, stickers and soundboard sounds, and edit those one created.
        const CREATE_GUILD_EXPRESSIONS = 1 << 43;
        /// Create scheduled events, and edit those one created.
        const CREATE_EVENTS = 1 << 44;
        /// Use soundboard sounds from other guilds.
        const USE_EXTERNAL_SOUNDS = 1 << 45;
        /// Send voice messages.
        const SEND_VOICE_MESSAGES = 1 << 46;
        // 1 << 47 is not assigned in Discord's table (it was briefly `USE_CLYDE_AI`); it is
        // kept like any other unknown bit.
        /// Set the status of a voice channel.
        const SET_VOICE_CHANNEL_STATUS = 1 << 48;
        /// Send polls.
        const SEND_POLLS = 1 << 49;
        /// Let user-installed apps send public responses.
        const USE_EXTERNAL_APPS = 1 << 50;
        /// Pin and unpin messages.
        const PIN_MESSAGES = 1 << 51;
        /// Bypass slowmode restrictions.
        const BYPASS_SLOWMODE = 1 << 52;
    }
}

impl Permissions {
    /// `true` if this set grants `permission`, counting [`Permissions::ADMINISTRATOR`] as
    /// granting everything (which is how Discord evaluates guild-level permissions, e.g. the
    /// `permissions` of a guild in `GET /users/@me/guilds`).
    ///
    /// ```
    /// use discord_oauth_core::Permissions;
    /// assert!(Permissions::ADMINISTRATOR.grants(Permissions::MANAGE_GUILD));
    /// assert!(!Permissions::SEND_MESSAGES.grants(Permissions::MANAGE_GUILD));
    /// ```
    pub fn grants(self, permission: Self) -> bool {
        self.contains(Self::ADMINISTRATOR) || self.contains(permission)
    }
}

impl fmt::Display for Permissions {
    /// The decimal string Discord uses, e.g. `"2147483647"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.bits(), f)
    }
}

/// The error returned when a permission string is not a decimal `u64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permissions must be a decimal integer that fits in 64 bits")]
pub struct ParsePermissionsError;

impl FromStr for Permissions {
    type Err = ParsePermissionsError;

    /// Parses the decimal form. Unknown bits are kept.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParsePermissionsError);
        }
        s.parse::<u64>()
            .map(Self::from_bits_retain)
            .map_err(|_| ParsePermissionsError)
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Permissions;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission bit set as a decimal string or an integer")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Permissions, E> {
                Ok(Permissions::from_bits_retain(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Permissions, E> {
                u64::try_from(v)
                    .map(Permissions::from_bits_retain)
                    .map_err(|_| E::custom("permissions cannot be negative"))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Permissions, E> {
                v.parse().map_err(E::custom)
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
    fn table_values() {
        assert_eq!(Permissions::MANAGE_GUILD_EXPRESSIONS.bits(), 1 << 30);
        assert_eq!(Permissions::USE_APPLICATION_COMMANDS.bits(), 2_147_483_648);
        assert_eq!(Permissions::MODERATE_MEMBERS.bits(), 1 << 40);
        assert_eq!(Permissions::SEND_VOICE_MESSAGES.bits(), 1 << 46);
        assert_eq!(Permissions::SET_VOICE_CHANNEL_STATUS.bits(), 1 << 48);
        assert_eq!(Permissions::SEND_POLLS.bits(), 1 << 49);
        assert_eq!(Permissions::USE_EXTERNAL_APPS.bits(), 1 << 50);
        assert_eq!(Permissions::PIN_MESSAGES.bits(), 1 << 51);
        assert_eq!(Permissions::BYPASS_SLOWMODE.bits(), 1 << 52);
        // Every bit from 0 to 52 is named, except 47.
        let expected = ((1u64 << 53) - 1) & !(1 << 47);
        assert_eq!(Permissions::all().bits(), expected);
        assert_eq!(Permissions::all().iter().count(), 52);
    }

    #[test]
    fn parses_strings_and_integers_keeping_unknown_bits() {
        let p: Permissions = serde_json::from_str(r#""2147483647""#).unwrap();
        assert_eq!(p.bits(), 2_147_483_647);
        let p: Permissions = serde_json::from_str("49794241").unwrap();
        assert_eq!(p.to_string(), "49794241");
        let unknown = (1u64 << 63) | (1 << 47) | 1;
        let p: Permissions = serde_json::from_str(&format!("\"{unknown}\"")).unwrap();
        assert_eq!(p.bits(), unknown);
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{unknown}\""));
        for bad in [r#""""#, r#""-1""#, r#""12a""#, "-5", "1.5", r#""+3""#, "null"] {
            assert!(
                serde_json::from_str::<Permissions>(bad).is_err(),
                "{bad} should not parse"
            );
        }
        assert_eq!(" 8 ".parse::<Permissions>(), Ok(Permissions::ADMINISTRATOR));
    }

    proptest! {
        #[test]
        fn round_trips(bits in any::<u64>()) {
            let p = Permissions::from_bits_retain(bits);
            let s = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<Permissions>(&s).unwrap(), p);
            prop_assert_eq!(serde_json::from_str::<Permissions>(&bits.to_string()).unwrap(), p);
            prop_assert_eq!(p.to_string().parse::<Permissions>().unwrap(), p);
        }
    }
}
