//! OAuth2 scopes: every scope Discord documents, plus any unknown scope kept verbatim.
//!
//! [`Scope`] covers the union of Discord's OAuth2 reference and the `OAuth2Scopes` schema of
//! Discord's official OpenAPI spec; a test fails if the spec gains a scope this enum lacks.
//! [`Scopes`] is an ordered set that renders space-separated, the way the `scope` parameter and
//! the token response's `scope` field spell it.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! scopes {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// One Discord OAuth2 scope.
        ///
        /// Unknown scope names are preserved in [`Scope::Other`], so a scope Discord adds later
        /// round-trips through this type unchanged.
        ///
        /// ```
        /// use discord_oauth_core::Scope;
        /// assert_eq!("guilds.members.read".parse::<Scope>().unwrap(), Scope::GuildsMembersRead);
        /// assert_eq!(Scope::Identify.as_str(), "identify");
        /// assert_eq!("future.scope".parse::<Scope>().unwrap().as_str(), "future.scope");
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Scope {
            $( $(#[$doc])* $variant, )*
            /// A scope name this version does not know, kept verbatim.
            Other(String),
        }

        impl Scope {
            /// Every scope this version knows, in documentation order.
            pub const KNOWN: &'static [Scope] = &[$( Scope::$variant, )*];

            /// The scope's wire name, e.g. `"guilds.join"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Scope::$variant => $name, )*
                    Scope::Other(s) => s,
                }
            }

            /// Parses a scope name. Never fails: unknown names become [`Scope::Other`].
            pub fn parse(name: &str) -> Scope {
                match name {
                    $( $name => Scope::$variant, )*
                    other => Scope::Other(other.to_owned()),
                }
            }
        }
    };
}

scopes! {
    /// Read the user's "Now Playing/Recently Played" list (not currently available for apps).
    ActivitiesRead => "activities.read",
    /// Update the user's activity (not currently available for apps).
    ActivitiesWrite => "activities.write",
    /// Send activity invites on the user's behalf.
    ActivitiesInvitesWrite => "activities.invites.write",
    /// Read build data for the user's applications.
    ApplicationsBuildsRead => "applications.builds.read",
    /// Upload/update builds for the user's applications (approved partners only).
    ApplicationsBuildsUpload => "applications.builds.upload",
    /// Add commands to a guild; included by default with `bot`.
    ApplicationsCommands => "applications.commands",
    /// Update the app's own commands with a bearer token (client credentials grant only).
    ApplicationsCommandsUpdate => "applications.commands.update",
    /// Update permissions for the app's commands in a guild the user may manage.
    ApplicationsCommandsPermissionsUpdate => "applications.commands.permissions.update",
    /// Read entitlements for the user's applications.
    ApplicationsEntitlements => "applications.entitlements",
    /// Read and update store data for the user's applications.
    ApplicationsStoreUpdate => "applications.store.update",
    /// Put the app's bot in a guild (bot authorization).
    Bot => "bot",
    /// `/users/@me/connections`: linked third-party accounts.
    Connections => "connections",
    /// See the user's DMs and group DMs (approved partners only).
    DmChannelsRead => "dm_channels.read",
    /// `/users/@me` also returns `email` and `verified`.
    Email => "email",
    /// Join users to a group DM.
    GdmJoin => "gdm.join",
    /// `/users/@me/guilds`: basic information about the user's guilds.
    Guilds => "guilds",
    /// Add the user to a guild (`PUT /guilds/{guild}/members/{user}` with a bot token).
    GuildsJoin => "guilds.join",
    /// `/users/@me/guilds/{guild}/member`: the user's member object in a guild.
    GuildsMembersRead => "guilds.members.read",
    /// `/users/@me` without `email`.
    Identify => "identify",
    /// Read the user's Nitro subscription type (approved partners only).
    IdentifyPremium => "identify.premium",
    /// Local RPC: read messages from all client channels.
    MessagesRead => "messages.read",
    /// Access the user's friends list (Social SDK).
    RelationshipsRead => "relationships.read",
    /// Update the user's role connection and metadata for the app. Not allowed in the
    /// implicit grant, and Discord refuses it together with PKCE.
    RoleConnectionsWrite => "role_connections.write",
    /// Local RPC: control the user's local Discord client (approved partners only).
    Rpc => "rpc",
    /// Local RPC: update the user's activity.
    RpcActivitiesWrite => "rpc.activities.write",
    /// Local RPC: receive notifications pushed to the user.
    RpcNotificationsRead => "rpc.notifications.read",
    /// Local RPC: read the user's screenshare status.
    RpcScreenshareRead => "rpc.screenshare.read",
    /// Local RPC: update the user's screenshare settings.
    RpcScreenshareWrite => "rpc.screenshare.write",
    /// Local RPC: read the user's video status.
    RpcVideoRead => "rpc.video.read",
    /// Local RPC: update the user's video settings.
    RpcVideoWrite => "rpc.video.write",
    /// Local RPC: read the user's voice settings and listen for voice events.
    RpcVoiceRead => "rpc.voice.read",
    /// Local RPC: update the user's voice settings.
    RpcVoiceWrite => "rpc.voice.write",
    /// Connect to voice on the user's behalf (approved partners only).
    Voice => "voice",
    /// Create an incoming webhook, returned in the token response of a code grant.
    WebhookIncoming => "webhook.incoming",
    /// OpenID Connect: the token response carries an `id_token`; `/oauth2/userinfo` works.
    OpenId => "openid",
}

impl Scope {
    /// `true` for scopes that only make sense in bot authorization: `bot` and
    /// `applications.commands`. A login that asks only for these gets no user token.
    pub fn is_bot_scope(&self) -> bool {
        matches!(self, Scope::Bot | Scope::ApplicationsCommands)
    }

    /// `true` if Discord allows this scope in the implicit grant
    /// (`role_connections.write` is not allowed there).
    pub fn allowed_in_implicit_grant(&self) -> bool {
        !matches!(self, Scope::RoleConnectionsWrite)
    }

    /// `true` if Discord allows this scope together with PKCE
    /// (`role_connections.write` is refused with PKCE).
    pub fn allowed_with_pkce(&self) -> bool {
        !matches!(self, Scope::RoleConnectionsWrite)
    }

    /// `true` for scopes only the client credentials grant can obtain
    /// (`applications.commands.update`).
    pub fn client_credentials_only(&self) -> bool {
        matches!(self, Scope::ApplicationsCommandsUpdate)
    }

    /// `true` for the scopes a team-owned application may request with client credentials:
    /// `identify` and `applications.commands.update`.
    pub fn allowed_for_team_apps(&self) -> bool {
        matches!(self, Scope::Identify | Scope::ApplicationsCommandsUpdate)
    }
}

impl FromStr for Scope {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scope::parse(s))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Scope::parse(&s))
    }
}

impl From<Scope> for oauth2::Scope {
    fn from(s: Scope) -> Self {
        oauth2::Scope::new(s.as_str().to_owned())
    }
}

/// A set of scopes, kept in the order they were first added, without duplicates.
///
/// Renders space-separated (`identify guilds`), which is how both the `scope` request
/// parameter and the token response's `scope` field spell a set; serde uses the same string.
///
/// ```
/// use discord_oauth_core::{Scope, Scopes};
/// let scopes: Scopes = "identify  guilds identify".parse().unwrap();
/// assert_eq!(scopes.to_string(), "identify guilds");
/// assert!(scopes.contains(&Scope::Guilds));
/// assert!(!scopes.contains(&Scope::Email));
/// let more = Scopes::from_iter([Scope::Identify, Scope::Email]);
/// assert_eq!(more.to_string(), "identify email");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// An empty set.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Parses a space-separated list (any run of ASCII whitespace separates). Never fails.
    pub fn parse(s: &str) -> Self {
        s.split_ascii_whitespace().map(Scope::parse).collect()
    }

    /// Adds a scope unless already present. Returns `true` if it was added.
    pub fn insert(&mut self, scope: Scope) -> bool {
        if self.0.contains(&scope) {
            false
        } else {
            self.0.push(scope);
            true
        }
    }

    /// Adds a scope, builder style.
    pub fn with(mut self, scope: Scope) -> Self {
        self.insert(scope);
        self
    }

    /// `true` if the scope is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// `true` if every scope of `other` is in this set.
    pub fn contains_all(&self, other: &Scopes) -> bool {
        other.iter().all(|s| self.contains(s))
    }

    /// The scopes of `other` that are not in this set.
    pub fn missing_from(&self, other: &Scopes) -> Scopes {
        other.iter().filter(|s| !self.contains(s)).cloned().collect()
    }

    /// Iterates in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `true` if every scope is a bot-only scope (`bot`, `applications.commands`), i.e. an
    /// authorization with these scopes yields no user token.
    pub fn is_bot_only(&self) -> bool {
        !self.is_empty() && self.iter().all(Scope::is_bot_scope)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut s = Scopes::new();
        s.extend(iter);
        s
    }
}

impl<const N: usize> From<[Scope; N]> for Scopes {
    fn from(arr: [Scope; N]) -> Self {
        arr.into_iter().collect()
    }
}

impl From<Scope> for Scopes {
    fn from(s: Scope) -> Self {
        Scopes(vec![s])
    }
}

impl Extend<Scope> for Scopes {
    fn extend<I: IntoIterator<Item = Scope>>(&mut self, iter: I) {
        // Deduplicate through a hash set: `insert`'s linear scan per scope made parsing a
        // long `scope` string quadratic (a 1 MiB token response took tens of seconds).
        let mut seen: HashSet<Scope> = self.0.iter().cloned().collect();
        for s in iter {
            if seen.insert(s.clone()) {
                self.0.push(s);
            }
        }
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Scopes {
    type Item = Scope;
    type IntoIter = std::vec::IntoIter<Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromStr for Scopes {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scopes::parse(s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Scopes::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_scope_round_trips_through_its_name() {
        for s in Scope::KNOWN {
            assert_eq!(&Scope::parse(s.as_str()), s);
            assert!(!matches!(s, Scope::Other(_)));
        }
    }

    #[test]
    fn unknown_scope_is_preserved() {
        let s = Scope::parse("brand.new.scope");
        assert_eq!(s, Scope::Other("brand.new.scope".into()));
        assert_eq!(s.to_string(), "brand.new.scope");
        let set = Scopes::parse("identify brand.new.scope");
        assert_eq!(serde_json::to_string(&set).unwrap(), r#""identify brand.new.scope""#);
    }

    #[test]
    fn scope_rules_follow_discord_docs() {
        assert!(!Scope::RoleConnectionsWrite.allowed_in_implicit_grant());
        assert!(Scope::Identify.allowed_in_implicit_grant());
        assert!(!Scope::RoleConnectionsWrite.allowed_with_pkce());
        assert!(Scope::ApplicationsCommandsUpdate.client_credentials_only());
        assert!(!Scope::Identify.client_credentials_only());
        assert!(Scope::Identify.allowed_for_team_apps());
        assert!(Scope::ApplicationsCommandsUpdate.allowed_for_team_apps());
        assert!(!Scope::Connections.allowed_for_team_apps());
        assert!(Scopes::from([Scope::Bot, Scope::ApplicationsCommands]).is_bot_only());
        assert!(!Scopes::from([Scope::Bot, Scope::Identify]).is_bot_only());
        assert!(!Scopes::new().is_bot_only());
    }

    #[test]
    fn scopes_set_operations() {
        let granted = Scopes::parse("identify email");
        let wanted = Scopes::parse("identify guilds email");
        assert!(!granted.contains_all(&wanted));
        assert_eq!(granted.missing_from(&wanted).to_string(), "guilds");
        assert!(wanted.contains_all(&granted));
        assert!(Scopes::parse("  \t ").is_empty());
    }

    #[test]
    fn parsing_many_scopes_keeps_order_and_deduplicates() {
        // The shape found while checking the fuzz targets' input caps: ~140 000 distinct
        // scopes in a 1 MiB body. With a linear scan per scope this took minutes in a debug
        // build (quadratic); the hash set keeps it well under a second. No time is asserted
        // (tests never assert on wall-clock time): a regression shows up as this test
        // becoming very slow.
        let names: Vec<String> = (0..140_000).map(|i| format!("s{i}")).collect();
        let mut text = names.join(" ");
        text.push_str(" s0 s1 identify identify");
        let scopes = Scopes::parse(&text);
        assert_eq!(scopes.len(), 140_001);
        assert_eq!(scopes.iter().next(), Some(&Scope::Other("s0".into())));
        assert_eq!(scopes.iter().last(), Some(&Scope::Identify));
    }

    #[test]
    fn every_spec_scope_is_known() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/discord-api-spec/openapi.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            // The spec lives beside the checkout in the project's shared folder; a crate
            // built from crates.io has no such folder. CI always has it.
            assert!(std::env::var_os("CI").is_none(), "{path} is missing in CI");
            eprintln!("skipping: {path} not found");
            return;
        };
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        let one_of = spec["components"]["schemas"]["OAuth2Scopes"]["oneOf"]
            .as_array()
            .unwrap();
        assert!(one_of.len() >= 30, "spec lists {} scopes", one_of.len());
        for entry in one_of {
            let name = entry["const"].as_str().unwrap();
            assert!(
                !matches!(Scope::parse(name), Scope::Other(_)),
                "scope {name:?} from the OpenAPI spec is missing from Scope"
            );
        }
    }
}
