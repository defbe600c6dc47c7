//! Guilds, roles and members: `GET /users/@me/guilds`, `GET /users/@me/guilds/{id}/member`,
//! `PUT /guilds/{id}/members/{user}` (`guilds.join`), and the guild object of an advanced bot
//! authorization's token response.

use oauth2::AccessToken;
use serde::{Deserialize, Serialize};
use url::Url;
use url::form_urlencoded;

use super::de::{lenient_u64, null_default, present};
use super::user::{AvatarDecoration, Collectibles, User};
use super::{ApiCall, ApiError, BotToken, Credential, api_request};
use crate::cdn::{self, ImageSize};
use crate::response::{Quote, api_check, decode_json, parse_api_json};
use crate::{Endpoints, Permissions, Snowflake};

/// A guild as the token response of an advanced bot authorization carries it (`guild` next
/// to `access_token`), with its roles.
///
/// Only `id` is required; everything else tolerates being absent or `null`, so the older
/// fields of Discord's example (`region`, a role's integer `permissions`) and fields Discord
/// adds later both parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Guild {
    /// The guild's id.
    pub id: Snowflake,
    /// The guild's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The icon hash.
    #[serde(default)]
    pub icon: Option<String>,
    /// The invite splash hash.
    #[serde(default)]
    pub splash: Option<String>,
    /// The discovery splash hash.
    #[serde(default)]
    pub discovery_splash: Option<String>,
    /// The banner hash.
    #[serde(default)]
    pub banner: Option<String>,
    /// The description (community guilds).
    #[serde(default)]
    pub description: Option<String>,
    /// The owner's user id.
    #[serde(default)]
    pub owner_id: Option<Snowflake>,
    /// The roles.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Role>,
    /// The custom emojis.
    #[serde(default, deserialize_with = "null_default")]
    pub emojis: Vec<Emoji>,
    /// Enabled guild features (`COMMUNITY`, `VERIFIED`, …).
    #[serde(default, deserialize_with = "null_default")]
    pub features: Vec<String>,
    /// The id of the application that created the guild, if a bot did.
    #[serde(default)]
    pub application_id: Option<Snowflake>,
    /// The AFK channel.
    #[serde(default)]
    pub afk_channel_id: Option<Snowflake>,
    /// The AFK timeout in seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub afk_timeout: Option<u64>,
    /// Whether the server widget is enabled.
    #[serde(default)]
    pub widget_enabled: Option<bool>,
    /// The widget's channel.
    #[serde(default)]
    pub widget_channel_id: Option<Snowflake>,
    /// The verification level (0 none … 4 very high).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub verification_level: Option<u64>,
    /// The default message notification level (0 all messages, 1 only mentions).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub default_message_notifications: Option<u64>,
    /// The explicit content filter level.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub explicit_content_filter: Option<u64>,
    /// The MFA level required for moderators (0 none, 1 elevated).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub mfa_level: Option<u64>,
    /// The NSFW level.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub nsfw_level: Option<u64>,
    /// The system channel (welcome and boost messages).
    #[serde(default)]
    pub system_channel_id: Option<Snowflake>,
    /// The system channel flags.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub system_channel_flags: Option<u64>,
    /// The rules channel (community guilds).
    #[serde(default)]
    pub rules_channel_id: Option<Snowflake>,
    /// The channel for Discord's community updates.
    #[serde(default)]
    pub public_updates_channel_id: Option<Snowflake>,
    /// The channel for safety alerts.
    #[serde(default)]
    pub safety_alerts_channel_id: Option<Snowflake>,
    /// The maximum number of presences (`None` except for the largest guilds).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_presences: Option<u64>,
    /// The maximum number of members.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_members: Option<u64>,
    /// The maximum number of users in a video channel.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_video_channel_users: Option<u64>,
    /// The maximum number of users in a stage video channel.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_stage_video_channel_users: Option<u64>,
    /// The vanity invite code.
    #[serde(default)]
    pub vanity_url_code: Option<String>,
    /// The boost tier (0–3).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub premium_tier: Option<u64>,
    /// The number of boosts.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub premium_subscription_count: Option<u64>,
    /// Whether the boost progress bar is shown.
    #[serde(default)]
    pub premium_progress_bar_enabled: Option<bool>,
    /// The preferred locale of a community guild, e.g. `"en-US"`.
    #[serde(default)]
    pub preferred_locale: Option<String>,
    /// The approximate member count, when Discord includes it.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_member_count: Option<u64>,
    /// The approximate online member count, when Discord includes it.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_presence_count: Option<u64>,
    /// The voice region (deprecated by Discord; still present in older payloads).
    #[serde(default)]
    pub region: Option<String>,
}

impl Guild {
    /// The URL of the guild's icon, if it has one.
    pub fn icon_url(&self, size: Option<ImageSize>) -> Option<Url> {
        self.icon
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| cdn::guild_icon(self.id, h, size))
    }

    /// The role with this id (the `@everyone` role has the guild's id).
    pub fn role(&self, id: Snowflake) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }
}

/// A guild role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawRole")]
#[non_exhaustive]
pub struct Role {
    /// The role's id.
    pub id: Snowflake,
    /// The role's name.
    pub name: String,
    /// The permissions the role grants. Read from `permissions_new` when Discord sends both
    /// that and a (possibly truncated) integer `permissions`, as in its older payloads.
    pub permissions: Permissions,
    /// The position in the role list.
    pub position: i64,
    /// The colour as `0xRRGGBB` (0 means none).
    pub color: u32,
    /// The gradient colours, when Discord sends them.
    pub colors: Option<RoleColors>,
    /// Whether members are listed separately.
    pub hoist: bool,
    /// Whether an integration manages the role.
    pub managed: bool,
    /// Whether the role can be mentioned.
    pub mentionable: bool,
    /// The role icon hash.
    pub icon: Option<String>,
    /// The role's unicode emoji.
    pub unicode_emoji: Option<String>,
    /// The role's tags (bot, integration, booster, …).
    pub tags: Option<RoleTags>,
    /// The role flags.
    pub flags: u64,
}

#[derive(Deserialize)]
struct RawRole {
    id: Snowflake,
    #[serde(default, deserialize_with = "null_default")]
    name: String,
    #[serde(default)]
    permissions: Option<Permissions>,
    #[serde(default)]
    permissions_new: Option<Permissions>,
    #[serde(default, deserialize_with = "null_default")]
    position: i64,
    #[serde(default, deserialize_with = "lenient_u64")]
    color: Option<u64>,
    #[serde(default)]
    colors: Option<RoleColors>,
    #[serde(default, deserialize_with = "null_default")]
    hoist: bool,
    #[serde(default, deserialize_with = "null_default")]
    managed: bool,
    #[serde(default, deserialize_with = "null_default")]
    mentionable: bool,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    unicode_emoji: Option<String>,
    #[serde(default)]
    tags: Option<RoleTags>,
    #[serde(default, deserialize_with = "lenient_u64")]
    flags: Option<u64>,
}

impl From<RawRole> for Role {
    fn from(r: RawRole) -> Self {
        Self {
            id: r.id,
            name: r.name,
            permissions: r.permissions_new.or(r.permissions).unwrap_or_default(),
            position: r.position,
            color: r.color.and_then(|c| u32::try_from(c).ok()).unwrap_or_default(),
            colors: r.colors,
            hoist: r.hoist,
            managed: r.managed,
            mentionable: r.mentionable,
            icon: r.icon,
            unicode_emoji: r.unicode_emoji,
            tags: r.tags,
            flags: r.flags.unwrap_or_default(),
        }
    }
}

/// A role's gradient colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleColors {
    /// The primary colour.
    #[serde(default, deserialize_with = "null_default")]
    pub primary_color: u32,
    /// The secondary colour, for a gradient.
    #[serde(default)]
    pub secondary_color: Option<u32>,
    /// The tertiary colour, for a holographic style.
    #[serde(default)]
    pub tertiary_color: Option<u32>,
}

/// What a role is for. Discord marks the boolean tags by *including the key with a `null`
/// value*; here they are plain `bool`s.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleTags {
    /// The bot this role belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<Snowflake>,
    /// The integration this role belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<Snowflake>,
    /// Whether this is the guild's booster role.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "is_false",
        serialize_with = "as_present"
    )]
    pub premium_subscriber: bool,
    /// The role subscription listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_listing_id: Option<Snowflake>,
    /// Whether the role can be purchased.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "is_false",
        serialize_with = "as_present"
    )]
    pub available_for_purchase: bool,
    /// Whether this is a guild's linked role.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "is_false",
        serialize_with = "as_present"
    )]
    pub guild_connections: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
fn as_present<S: serde::Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

/// A custom emoji.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Emoji {
    /// The emoji's id.
    #[serde(default)]
    pub id: Option<Snowflake>,
    /// The emoji's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The roles allowed to use it.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Snowflake>,
    /// Who created it.
    #[serde(default)]
    pub user: Option<User>,
    /// Whether it must be wrapped in colons.
    #[serde(default)]
    pub require_colons: Option<bool>,
    /// Whether it is managed by an integration.
    #[serde(default)]
    pub managed: Option<bool>,
    /// Whether it is animated.
    #[serde(default)]
    pub animated: Option<bool>,
    /// Whether it can be used (false when boosts were lost).
    #[serde(default)]
    pub available: Option<bool>,
}

/// A guild in the list `GET /users/@me/guilds` returns (the spec's `MyGuildResponse`).
///
/// ```
/// use discord_oauth_core::{Permissions, api::CurrentUserGuild};
/// let g: CurrentUserGuild = serde_json::from_str(r#"{
///     "id": "80351110224678912", "name": "1337 Krew", "icon": "8342729096ea3675442027381ff50dfe",
///     "banner": null, "owner": true, "permissions": "36953089",
///     "features": ["COMMUNITY", "NEWS"], "approximate_member_count": 3268
/// }"#).unwrap();
/// assert!(g.permissions.contains(Permissions::SEND_MESSAGES));
/// assert!(g.can_manage());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CurrentUserGuild {
    /// The guild's id.
    pub id: Snowflake,
    /// The guild's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The icon hash.
    #[serde(default)]
    pub icon: Option<String>,
    /// The banner hash.
    #[serde(default)]
    pub banner: Option<String>,
    /// Whether the user owns the guild.
    #[serde(default, deserialize_with = "null_default")]
    pub owner: bool,
    /// The user's guild-level permissions (not counting channel overwrites).
    #[serde(default, deserialize_with = "null_default")]
    pub permissions: Permissions,
    /// Enabled guild features.
    #[serde(default, deserialize_with = "null_default")]
    pub features: Vec<String>,
    /// The approximate member count (with [`GuildsQuery::with_counts`]).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_member_count: Option<u64>,
    /// The approximate online member count (with [`GuildsQuery::with_counts`]).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub approximate_presence_count: Option<u64>,
}

impl CurrentUserGuild {
    /// `true` if the user owns the guild or has `MANAGE_GUILD` (or `ADMINISTRATOR`) there:
    /// the usual test for "may configure a bot for this server".
    pub fn can_manage(&self) -> bool {
        self.owner || self.permissions.grants(Permissions::MANAGE_GUILD)
    }

    /// The URL of the guild's icon, if it has one.
    pub fn icon_url(&self, size: Option<ImageSize>) -> Option<Url> {
        self.icon
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| cdn::guild_icon(self.id, h, size))
    }
}

/// A guild member (the spec's `PrivateGuildMemberResponse` / `GuildMemberResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// The user (always sent by these endpoints).
    #[serde(default)]
    pub user: Option<User>,
    /// The guild nickname.
    #[serde(default)]
    pub nick: Option<String>,
    /// The guild-specific avatar hash (see [`cdn::member_avatar`]).
    #[serde(default)]
    pub avatar: Option<String>,
    /// The guild-specific banner hash.
    #[serde(default)]
    pub banner: Option<String>,
    /// The ids of the member's roles.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Snowflake>,
    /// When the user joined, as an ISO 8601 timestamp.
    #[serde(default)]
    pub joined_at: Option<String>,
    /// When the user started boosting, as an ISO 8601 timestamp.
    #[serde(default)]
    pub premium_since: Option<String>,
    /// Whether the member is deafened in voice channels.
    #[serde(default, deserialize_with = "null_default")]
    pub deaf: bool,
    /// Whether the member is muted in voice channels.
    #[serde(default, deserialize_with = "null_default")]
    pub mute: bool,
    /// Guild member flags.
    #[serde(default, deserialize_with = "null_default")]
    pub flags: u64,
    /// Whether the member has not yet passed membership screening.
    #[serde(default, deserialize_with = "null_default")]
    pub pending: bool,
    /// When the member's timeout ends (ISO 8601), if timed out.
    #[serde(default)]
    pub communication_disabled_until: Option<String>,
    /// The member's permissions, when Discord includes them.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// The member's guild avatar decoration.
    #[serde(default)]
    pub avatar_decoration_data: Option<AvatarDecoration>,
    /// The member's collectibles.
    #[serde(default)]
    pub collectibles: Option<Collectibles>,
}

impl Member {
    /// `true` if the member has the role.
    pub fn has_role(&self, role: Snowflake) -> bool {
        self.roles.contains(&role)
    }
}

/// The largest page `GET /users/@me/guilds` returns (and its default).
pub const MAX_GUILDS_PAGE: u8 = 200;

/// Paging options for [`current_user_guilds`].
///
/// `limit` is clamped into `1..=200` (Discord's range) rather than rejected: `0` becomes 1 and
/// anything above 200 becomes 200. Leave everything unset for the first 200 guilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuildsQuery {
    /// Guilds with ids before this one.
    pub before: Option<Snowflake>,
    /// Guilds with ids after this one.
    pub after: Option<Snowflake>,
    /// The page size (Discord's default is 200).
    pub limit: Option<u8>,
    /// Include `approximate_member_count` and `approximate_presence_count`.
    pub with_counts: bool,
}

impl GuildsQuery {
    /// The effective page size.
    pub fn page_size(&self) -> u8 {
        self.limit.map_or(MAX_GUILDS_PAGE, |l| l.clamp(1, MAX_GUILDS_PAGE))
    }

    /// The query for the page after `page` (the answer to `self`), or `None` when `page` was
    /// the last one (shorter than the page size). When paging backwards with `before` (and
    /// no `after`), continues before the smallest id of `page`; otherwise after the largest.
    ///
    /// ```
    /// use discord_oauth_core::{Snowflake, api::{GuildsQuery, CurrentUserGuild}};
    /// let q = GuildsQuery { limit: Some(2), ..Default::default() };
    /// let page: Vec<CurrentUserGuild> = serde_json::from_str(
    ///     r#"[{"id":"10","name":"a","permissions":"0"},{"id":"20","name":"b","permissions":"0"}]"#,
    /// ).unwrap();
    /// let next = q.next_page(&page).unwrap();
    /// assert_eq!(next.after, Some(Snowflake::new(20)));
    /// assert_eq!(next.next_page(&page[..1]), None);
    /// ```
    pub fn next_page(&self, page: &[CurrentUserGuild]) -> Option<GuildsQuery> {
        if page.len() < usize::from(self.page_size()) {
            return None;
        }
        let mut next = *self;
        if self.before.is_some() && self.after.is_none() {
            next.before = Some(page.iter().map(|g| g.id).min()?);
        } else {
            next.after = Some(page.iter().map(|g| g.id).max()?);
        }
        Some(next)
    }

    fn to_query(self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(b) = self.before {
            q.append_pair("before", &b.to_string());
        }
        if let Some(a) = self.after {
            q.append_pair("after", &a.to_string());
        }
        if self.limit.is_some() {
            q.append_pair("limit", &self.page_size().to_string());
        }
        if self.with_counts {
            q.append_pair("with_counts", "true");
        }
        q.finish()
    }
}

/// Parses a JSON array that Discord may also send as `null` (which means empty).
pub(crate) fn parse_list<T: serde::de::DeserializeOwned>(
    response: http::Response<Vec<u8>>,
) -> Result<Vec<T>, ApiError> {
    Ok(parse_api_json::<Option<Vec<T>>>(response)?.unwrap_or_default())
}

/// `GET /users/@me/guilds`: the guilds the user is in, one page at a time. Needs the
/// `guilds` scope. Use [`GuildsQuery::next_page`] to walk users with more than 200 guilds.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, Snowflake, api::{self, GuildsQuery}};
/// let q = GuildsQuery { after: Some(Snowflake::new(42)), limit: Some(250), with_counts: true, ..Default::default() };
/// let call = api::current_user_guilds(&Endpoints::discord(), &AccessToken::new("t".into()), &q);
/// assert_eq!(
///     call.request().uri(),
///     "https://discord.com/api/v10/users/@me/guilds?after=42&limit=200&with_counts=true"
/// );
/// ```
pub fn current_user_guilds(
    endpoints: &Endpoints,
    token: &AccessToken,
    query: &GuildsQuery,
) -> ApiCall<Vec<CurrentUserGuild>> {
    let q = query.to_query();
    let path = if q.is_empty() {
        "users/@me/guilds".to_owned()
    } else {
        format!("users/@me/guilds?{q}")
    };
    ApiCall::new(
        api_request(endpoints, http::Method::GET, &path, Credential::Bearer(token), None),
        parse_list,
    )
}

/// `GET /users/@me/guilds/{guild_id}/member`: the user's membership in one guild (roles,
/// nickname, join date). Needs the `guilds.members.read` scope. A user who is not a member
/// gets [`ApiError::NotFound`] (Discord code 10004 "Unknown Guild").
pub fn current_user_guild_member(endpoints: &Endpoints, token: &AccessToken, guild_id: Snowflake) -> ApiCall<Member> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            &format!("users/@me/guilds/{guild_id}/member"),
            Credential::Bearer(token),
            None,
        ),
        parse_api_json,
    )
}

/// Options for [`add_guild_member`]. The bot needs the matching permissions
/// (`MANAGE_NICKNAMES`, `MANAGE_ROLES`, `MUTE_MEMBERS`, `DEAFEN_MEMBERS`) for each field set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AddGuildMember {
    /// The nickname to give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// The roles to give.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Snowflake>,
    /// Whether to server-mute the member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute: Option<bool>,
    /// Whether to server-deafen the member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deaf: Option<bool>,
    /// Guild member flags to set (Discord's `flags` of `BotAddGuildMemberRequest`, e.g.
    /// `BYPASSES_VERIFICATION` = `1 << 2`; needs `MANAGE_GUILD` or similar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
}

/// What [`add_guild_member`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AddGuildMemberOutcome {
    /// 201 Created: the user joined; here is the new member.
    Added(Box<Member>),
    /// 204 No Content: the user was already a member; nothing changed (the options were
    /// ignored).
    AlreadyMember,
}

fn parse_add_guild_member(response: http::Response<Vec<u8>>) -> Result<AddGuildMemberOutcome, ApiError> {
    let status = response.status();
    let body = api_check(&response)?;
    if status == http::StatusCode::NO_CONTENT || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(AddGuildMemberOutcome::AlreadyMember);
    }
    let member: Member = decode_json(body, Quote::Allowed)?;
    Ok(AddGuildMemberOutcome::Added(Box::new(member)))
}

/// `PUT /guilds/{guild_id}/members/{user_id}`: puts a user in a guild, with the user's access
/// token (granted with the `guilds.join` scope) and the bot's token; the bot must be in the
/// guild with `CREATE_INSTANT_INVITE`.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, Snowflake, api::{self, AddGuildMember, BotToken}};
/// let call = api::add_guild_member(
///     &Endpoints::discord(),
///     &BotToken::new("bot-token".into()),
///     Snowflake::new(1),
///     Snowflake::new(2),
///     &AccessToken::new("user-token".into()),
///     &AddGuildMember { nick: Some("newbie".into()), ..Default::default() },
/// );
/// let req = call.request();
/// assert_eq!(req.method(), "PUT");
/// assert_eq!(req.uri(), "https://discord.com/api/v10/guilds/1/members/2");
/// assert_eq!(req.headers()["authorization"], "Bot bot-token");
/// assert_eq!(req.body(), br#"{"access_token":"user-token","nick":"newbie"}"#);
/// let already = http::Response::builder().status(204).body(Vec::new()).unwrap();
/// assert_eq!(call.parse(already).unwrap(), api::AddGuildMemberOutcome::AlreadyMember);
/// ```
pub fn add_guild_member(
    endpoints: &Endpoints,
    bot: &BotToken,
    guild_id: Snowflake,
    user_id: Snowflake,
    user_token: &AccessToken,
    options: &AddGuildMember,
) -> ApiCall<AddGuildMemberOutcome> {
    #[derive(Serialize)]
    struct Body<'a> {
        access_token: &'a str,
        #[serde(flatten)]
        options: &'a AddGuildMember,
    }
    let body = serde_json::to_vec(&Body {
        access_token: user_token.secret(),
        options,
    })
    .unwrap_or_default();
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::PUT,
            &format!("guilds/{guild_id}/members/{user_id}"),
            Credential::Bot(bot),
            Some(body),
        ),
        parse_add_guild_member,
    )
}
