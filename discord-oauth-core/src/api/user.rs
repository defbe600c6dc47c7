//! The user object (`GET /users/@me`) and what hangs off it.

use oauth2::AccessToken;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use super::de::{lenient_u64, null_default};
use super::{ApiCall, Credential, api_request};
use crate::cdn::{self, ImageSize};
use crate::response::parse_api_json;
use crate::{Endpoints, Snowflake};

/// A Discord user, as `GET /users/@me` returns it (the spec's `UserPIIResponse`) and as it
/// appears inside other objects (`UserResponse`).
///
/// Which fields are filled depends on the scopes: `identify` gives the public profile plus
/// `mfa_enabled`, `locale`, `premium_type` and `flags`; `email` adds `email` and `verified`.
/// Every field except `id` and `username` tolerates being absent or `null`, and unknown fields
/// are ignored, so a payload with fields Discord added later still parses. Serializing leaves
/// out empty fields (for compact session records); the result reads back identically.
///
/// ```
/// use discord_oauth_core::api::User;
/// let user: User = serde_json::from_str(r#"{
///     "id": "80351110224678912", "username": "nelly", "discriminator": "0",
///     "global_name": "Nelly", "avatar": "a_8342729096ea3675442027381ff50dfe",
///     "email": "nelly@discord.com", "verified": true, "flags": 64, "premium_type": 1,
///     "public_flags": 64, "some_new_field": {"x": 1}
/// }"#).unwrap();
/// assert_eq!(user.display_name(), "Nelly");
/// assert_eq!(user.email.as_deref(), Some("nelly@discord.com"));
/// assert_eq!(
///     user.avatar_url(None).as_str(),
///     "https://cdn.discordapp.com/avatars/80351110224678912/a_8342729096ea3675442027381ff50dfe.gif"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The user's id.
    pub id: Snowflake,
    /// The username: unique for migrated ("pomelo") accounts, not unique for legacy ones.
    pub username: String,
    /// The legacy Discord tag (`"1337"`), or `"0"` for users on the new username system.
    #[serde(default = "zero_discriminator", deserialize_with = "discriminator")]
    pub discriminator: String,
    /// The display name, if the user set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_name: Option<String>,
    /// The avatar hash (`a_` prefix when animated); `None` means the default avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Whether the user belongs to an OAuth2 application (a bot).
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_default")]
    pub bot: bool,
    /// Whether the user is an official Discord system user.
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_default")]
    pub system: bool,
    /// Whether the user has two-factor authentication enabled (`identify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_enabled: Option<bool>,
    /// The banner hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// The banner colour as `0xRRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_u32")]
    pub accent_color: Option<u32>,
    /// The user's chosen language, e.g. `"en-US"` (`identify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Whether the email address is verified (`email` scope only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// The email address (`email` scope only; may be `null` for accounts without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The account's flags (a bit field; see Discord's user flags table).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_u64")]
    pub flags: Option<u64>,
    /// The Nitro subscription type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premium_type: Option<PremiumType>,
    /// The account's public flags.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_u64")]
    pub public_flags: Option<u64>,
    /// The avatar decoration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_decoration_data: Option<AvatarDecoration>,
    /// Collectibles (nameplates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collectibles: Option<Collectibles>,
    /// The user's primary guild (server tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_guild: Option<PrimaryGuild>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

fn zero_discriminator() -> String {
    "0".to_owned()
}

/// Discord always sends the discriminator as a string; be lenient about a number or `null`.
fn discriminator<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::S(s)) => s,
        Some(Raw::N(n)) => format!("{n:04}"),
        None => zero_discriminator(),
    })
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_u64(d)?.and_then(|v| u32::try_from(v).ok()))
}

impl User {
    /// A user with only an id and a username, every other field empty. Useful for tests and
    /// mock servers; real users come from [`current_user`].
    pub fn new(id: Snowflake, username: impl Into<String>) -> Self {
        Self {
            id,
            username: username.into(),
            discriminator: zero_discriminator(),
            global_name: None,
            avatar: None,
            bot: false,
            system: false,
            mfa_enabled: None,
            banner: None,
            accent_color: None,
            locale: None,
            verified: None,
            email: None,
            flags: None,
            premium_type: None,
            public_flags: None,
            avatar_decoration_data: None,
            collectibles: None,
            primary_guild: None,
        }
    }

    /// The name to show: the display name (`global_name`) if set, else the username.
    pub fn display_name(&self) -> &str {
        self.global_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.username)
    }

    /// `true` for users on the new username system (discriminator `"0"`).
    pub fn is_migrated(&self) -> bool {
        self.discriminator == "0" || self.discriminator.is_empty()
    }

    /// The username as Discord shows it: `name` for migrated users, `name#1234` for legacy
    /// ones.
    pub fn tag(&self) -> String {
        if self.is_migrated() {
            self.username.clone()
        } else {
            format!("{}#{}", self.username, self.discriminator)
        }
    }

    /// The URL of the user's avatar: their own image if they set one, else Discord's default
    /// avatar for them (see [`cdn::default_avatar`]; default avatars ignore `size`).
    pub fn avatar_url(&self, size: Option<ImageSize>) -> Url {
        match &self.avatar {
            Some(hash) if !hash.is_empty() => cdn::user_avatar(self.id, hash, size),
            _ => self.default_avatar_url(),
        }
    }

    /// The URL of Discord's default avatar for this user.
    pub fn default_avatar_url(&self) -> Url {
        cdn::default_avatar(self.id, &self.discriminator)
    }

    /// The URL of the user's banner, if they have one.
    pub fn banner_url(&self, size: Option<ImageSize>) -> Option<Url> {
        self.banner
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|hash| cdn::user_banner(self.id, hash, size))
    }

    /// The URL of the user's avatar decoration, if any.
    pub fn avatar_decoration_url(&self) -> Option<Url> {
        self.avatar_decoration_data
            .as_ref()
            .map(|d| cdn::avatar_decoration(&d.asset))
    }
}

/// A user's Nitro subscription type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PremiumType {
    /// No Nitro (0).
    None,
    /// Nitro Classic (1).
    NitroClassic,
    /// Nitro (2).
    Nitro,
    /// Nitro Basic (3).
    NitroBasic,
    /// A value this version does not know.
    Other(u64),
}

impl From<u64> for PremiumType {
    fn from(v: u64) -> Self {
        match v {
            0 => Self::None,
            1 => Self::NitroClassic,
            2 => Self::Nitro,
            3 => Self::NitroBasic,
            other => Self::Other(other),
        }
    }
}

impl From<PremiumType> for u64 {
    fn from(p: PremiumType) -> Self {
        match p {
            PremiumType::None => 0,
            PremiumType::NitroClassic => 1,
            PremiumType::Nitro => 2,
            PremiumType::NitroBasic => 3,
            PremiumType::Other(v) => v,
        }
    }
}

impl Serialize for PremiumType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::from(*self))
    }
}

impl<'de> Deserialize<'de> for PremiumType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(lenient_u64(d)?.map_or(Self::None, Self::from))
    }
}

/// A user's (or member's) avatar decoration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AvatarDecoration {
    /// The decoration's asset hash (see [`cdn::avatar_decoration`]).
    #[serde(default, deserialize_with = "null_default")]
    pub asset: String,
    /// The id of the decoration's SKU.
    #[serde(default)]
    pub sku_id: Option<Snowflake>,
}

/// A user's collectibles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collectibles {
    /// The nameplate, if any.
    #[serde(default)]
    pub nameplate: Option<Nameplate>,
}

/// A nameplate collectible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Nameplate {
    /// The id of the nameplate's SKU.
    #[serde(default)]
    pub sku_id: Option<Snowflake>,
    /// The path to the nameplate asset.
    #[serde(default, deserialize_with = "null_default")]
    pub asset: String,
    /// The nameplate's label (currently unused by Discord).
    #[serde(default, deserialize_with = "null_default")]
    pub label: String,
    /// The background palette name (`crimson`, `berry`, `sky`, …).
    #[serde(default, deserialize_with = "null_default")]
    pub palette: String,
}

/// The guild whose server tag a user displays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrimaryGuild {
    /// The guild's id.
    #[serde(default)]
    pub identity_guild_id: Option<Snowflake>,
    /// Whether the user displays the tag (`None` when Discord has reset it).
    #[serde(default)]
    pub identity_enabled: Option<bool>,
    /// The tag text (up to 4 characters).
    #[serde(default)]
    pub tag: Option<String>,
    /// The tag badge hash.
    #[serde(default)]
    pub badge: Option<String>,
}

/// `GET /users/@me`: the user who authorized the token. Needs the `identify` scope (and
/// `email` for [`User::email`]).
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// let call = api::current_user(&Endpoints::discord(), &AccessToken::new("tok".into()));
/// let req = call.request();
/// assert_eq!(req.uri(), "https://discord.com/api/v10/users/@me");
/// assert_eq!(req.headers()["authorization"], "Bearer tok");
/// // … send `req`, then:
/// let resp = http::Response::builder().status(200)
///     .body(br#"{"id":"1","username":"a","discriminator":"0","avatar":null}"#.to_vec()).unwrap();
/// assert_eq!(call.parse(resp).unwrap().username, "a");
/// ```
pub fn current_user(endpoints: &Endpoints, token: &AccessToken) -> ApiCall<User> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            "users/@me",
            Credential::Bearer(token),
            None,
        ),
        parse_api_json,
    )
}
