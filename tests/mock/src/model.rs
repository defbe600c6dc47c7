//! The things the mock knows about: applications (clients), users, guilds, members, connections.
//!
//! All of them are plain builders: `MockUser::new(id, username).email("a@b.c")`.

use serde_json::{Value, json};

/// Discord's `ADMINISTRATOR` permission bit.
pub const PERMISSION_ADMINISTRATOR: u64 = 1 << 3;
/// Discord's `MANAGE_GUILD` permission bit (needed to add a bot to a guild).
pub const PERMISSION_MANAGE_GUILD: u64 = 1 << 5;
/// Every permission bit Discord currently defines (what guild owners and administrators get).
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;

/// A registered Discord application: what the consent page shows and the token endpoint
/// authenticates.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{MockClient, MockDiscord};
///
/// let app = MockClient::confidential("157730590492196864", "client-secret")
///     .name("My App")
///     .redirect_uri("http://127.0.0.1:3000/auth/callback")
///     .bot_token("my-bot-token");
/// assert_eq!(app.redirect_uris(), ["http://127.0.0.1:3000/auth/callback"]);
/// assert!(!format!("{app:?}").contains("client-secret"));
///
/// // A native or single-page app: no secret, so PKCE is required.
/// let spa = MockClient::public("157730590492196865").redirect_uri("http://127.0.0.1:5173/callback");
/// assert!(spa.is_public());
///
/// let discord = MockDiscord::builder().client(app).start().await?; // before it starts…
/// discord.add_client(spa); // …or while it runs
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockClient {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) icon: Option<String>,
    pub(crate) public: bool,
    pub(crate) team: bool,
    pub(crate) bot_token: Option<String>,
    pub(crate) owner_id: Option<String>,
    pub(crate) bot_public: bool,
    pub(crate) bot_require_code_grant: bool,
    pub(crate) verify_key: String,
}

impl std::fmt::Debug for MockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockClient")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("redirect_uris", &self.redirect_uris)
            .field("name", &self.name)
            .field("public", &self.public)
            .field("team", &self.team)
            .field("bot_token", &self.bot_token.as_ref().map(|_| "***"))
            .field("owner_id", &self.owner_id)
            .finish_non_exhaustive()
    }
}

impl MockClient {
    fn base(id: String) -> Self {
        Self {
            name: format!("Mock App {id}"),
            id,
            secret: None,
            redirect_uris: Vec::new(),
            description: String::new(),
            icon: None,
            public: false,
            team: false,
            bot_token: None,
            owner_id: None,
            bot_public: true,
            bot_require_code_grant: false,
            verify_key: "c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8".to_owned(),
        }
    }

    /// A confidential client: it must authenticate to the token endpoint with its secret
    /// (HTTP Basic or `client_id` + `client_secret` in the form body).
    pub fn confidential(id: impl Into<String>, secret: impl Into<String>) -> Self {
        let mut c = Self::base(id.into());
        c.secret = Some(secret.into());
        c
    }

    /// A public client (Discord's "Public Client" switch): it may send only `client_id` to the
    /// token endpoint, and then PKCE is required.
    pub fn public(id: impl Into<String>) -> Self {
        let mut c = Self::base(id.into());
        c.public = true;
        c
    }

    /// Adds a registered redirect URI (exact-match, like Discord). The first one registered is
    /// used when an authorization request has no `redirect_uri`.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        if !self.redirect_uris.contains(&uri) {
            self.redirect_uris.push(uri);
        }
        self
    }

    /// Sets the secret (public clients may also have one).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sets the application name shown on the consent page and in `/oauth2/@me`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the application description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the application icon hash.
    pub fn icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = Some(icon.into());
        self
    }

    /// Marks the application as owned by a team: client credentials are then limited to the
    /// `identify` and `applications.commands.update` scopes.
    pub fn team(mut self, team: bool) -> Self {
        self.team = team;
        self
    }

    /// Sets the bot token accepted as `Authorization: Bot <token>` for this application.
    pub fn bot_token(mut self, token: impl Into<String>) -> Self {
        self.bot_token = Some(token.into());
        self
    }

    /// Sets the owner (a user id): the user a client-credentials token acts as.
    pub fn owner(mut self, user_id: impl Into<String>) -> Self {
        self.owner_id = Some(user_id.into());
        self
    }

    /// Sets `bot_require_code_grant` (reported by the application endpoints).
    pub fn bot_require_code_grant(mut self, required: bool) -> Self {
        self.bot_require_code_grant = required;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The registered redirect URIs, in registration order.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// Whether this is a public client.
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// The synthetic bot user of this application (its id is the application id).
    pub(crate) fn bot_user_json(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.name,
            "avatar": self.icon,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": true,
            "banner": null,
            "accent_color": null,
            "global_name": null,
            "avatar_decoration_data": null,
            "collectibles": null,
            "primary_guild": null,
        })
    }

    /// The partial application object of `/oauth2/@me`.
    pub(crate) fn partial_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "icon": self.icon,
            "description": self.description,
            "type": null,
            "hook": true,
            "bot_public": self.bot_public,
            "bot_require_code_grant": self.bot_require_code_grant,
            "verify_key": self.verify_key,
            "flags": 0,
            "flags_new": "0",
        })
    }
}

/// A Discord user that can log in to the mock and authorize applications.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{MockDiscord, MockUser};
///
/// let discord = MockDiscord::start().await?;
/// discord.add_user(
///     MockUser::new("80351110224678912", "nelly")
///         .global_name("Nelly")
///         .avatar("8342729096ea3675442027381ff50dfe")
///         .email("nelly@example.com", false)
///         .locale("en-GB"),
/// );
/// discord.set_default_user("80351110224678912")?; // the one the consent page acts as
///
/// let tokens = discord.issue_tokens("80351110224678912", "identify email")?;
/// let me: serde_json::Value = reqwest::Client::new()
///     .get(format!("{}/users/@me", discord.api_base()))
///     .bearer_auth(&tokens.access_token)
///     .send()
///     .await?
///     .json()
///     .await?;
/// assert_eq!(me["global_name"], "Nelly");
/// assert_eq!(me["verified"], false);
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MockUser {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) global_name: Option<String>,
    pub(crate) discriminator: String,
    pub(crate) avatar: Option<String>,
    pub(crate) banner: Option<String>,
    pub(crate) accent_color: Option<u32>,
    pub(crate) email: Option<String>,
    pub(crate) verified: bool,
    pub(crate) mfa_enabled: bool,
    pub(crate) locale: String,
    pub(crate) premium_type: u8,
    pub(crate) flags: u64,
    pub(crate) public_flags: u64,
}

impl MockUser {
    /// A user with the new-style username (`discriminator` `"0"`), no avatar, no email, locale
    /// `en-US`.
    pub fn new(id: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            global_name: None,
            discriminator: "0".to_owned(),
            avatar: None,
            banner: None,
            accent_color: None,
            email: None,
            verified: false,
            mfa_enabled: false,
            locale: "en-US".to_owned(),
            premium_type: 0,
            flags: 0,
            public_flags: 0,
        }
    }

    /// Sets the display name (`global_name`).
    pub fn global_name(mut self, name: impl Into<String>) -> Self {
        self.global_name = Some(name.into());
        self
    }

    /// Sets a legacy four-digit discriminator (`"0"` means a migrated username).
    pub fn discriminator(mut self, discriminator: impl Into<String>) -> Self {
        self.discriminator = discriminator.into();
        self
    }

    /// Sets the avatar hash (`a_` prefix = animated).
    pub fn avatar(mut self, hash: impl Into<String>) -> Self {
        self.avatar = Some(hash.into());
        self
    }

    /// Sets the banner hash.
    pub fn banner(mut self, hash: impl Into<String>) -> Self {
        self.banner = Some(hash.into());
        self
    }

    /// Sets the banner colour.
    pub fn accent_color(mut self, color: u32) -> Self {
        self.accent_color = Some(color);
        self
    }

    /// Sets the e-mail address and whether it is verified (returned only with the `email`
    /// scope).
    pub fn email(mut self, email: impl Into<String>, verified: bool) -> Self {
        self.email = Some(email.into());
        self.verified = verified;
        self
    }

    /// Sets whether two-factor authentication is on.
    pub fn mfa_enabled(mut self, on: bool) -> Self {
        self.mfa_enabled = on;
        self
    }

    /// Sets the locale (`en-US`, `fr`, …).
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }

    /// Sets the Nitro type (0 none, 1 classic, 2 Nitro, 3 basic).
    pub fn premium_type(mut self, premium_type: u8) -> Self {
        self.premium_type = premium_type;
        self
    }

    /// Sets `flags` and `public_flags`.
    pub fn flags(mut self, flags: u64) -> Self {
        self.flags = flags;
        self.public_flags = flags;
        self
    }

    /// The user id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The public user object (`UserResponse`).
    pub(crate) fn public_json(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.username,
            "avatar": self.avatar,
            "discriminator": self.discriminator,
            "public_flags": self.public_flags,
            "flags": self.flags,
            "banner": self.banner,
            "accent_color": self.accent_color,
            "global_name": self.global_name,
            "avatar_decoration_data": null,
            "collectibles": null,
            "primary_guild": null,
        })
    }

    /// `/users/@me` (`UserPIIResponse`); `email` and `verified` only with the `email` scope.
    pub(crate) fn private_json(&self, with_email: bool) -> Value {
        let mut v = self.public_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("mfa_enabled".into(), json!(self.mfa_enabled));
            o.insert("locale".into(), json!(self.locale));
            o.insert("premium_type".into(), json!(self.premium_type));
            if with_email {
                o.insert("email".into(), json!(self.email));
                o.insert("verified".into(), json!(self.verified));
            }
        }
        v
    }

    /// The avatar's path on the CDN (or the default avatar's).
    pub(crate) fn avatar_path(&self) -> String {
        if let Some(h) = &self.avatar {
            let ext = if h.starts_with("a_") { "gif" } else { "png" };
            format!("avatars/{}/{h}.{ext}", self.id)
        } else {
            let index = if self.discriminator == "0" {
                self.id.parse::<u64>().map_or(0, |id| (id >> 22) % 6)
            } else {
                self.discriminator.parse::<u64>().map_or(0, |d| d % 5)
            };
            format!("embed/avatars/{index}.png")
        }
    }
}

/// A guild role.
#[derive(Clone, Debug)]
pub struct MockRole {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) permissions: u64,
    pub(crate) color: u32,
    pub(crate) position: u32,
    pub(crate) hoist: bool,
    pub(crate) managed: bool,
    pub(crate) mentionable: bool,
}

impl MockRole {
    /// A role with no permissions.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            permissions: 0,
            color: 0,
            position: 1,
            hoist: false,
            managed: false,
            mentionable: false,
        }
    }

    /// Sets the permission bits.
    pub fn permissions(mut self, bits: u64) -> Self {
        self.permissions = bits;
        self
    }

    /// Sets the colour.
    pub fn color(mut self, color: u32) -> Self {
        self.color = color;
        self
    }

    /// Sets the position in the role list.
    pub fn position(mut self, position: u32) -> Self {
        self.position = position;
        self
    }

    /// The role id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A guild (server). It always has an `@everyone` role whose id is the guild id.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_oauth_mock::{MockDiscord, MockGuild, MockMember, MockRole, MockUser, PERMISSION_MANAGE_GUILD};
///
/// let discord = MockDiscord::start().await?;
/// discord.add_user(MockUser::new("80351110224678912", "nelly"));
/// discord.add_guild(
///     MockGuild::new("613425648685547541", "Discord Developers")
///         .owner("80351110224678912")
///         .role(MockRole::new("613425648685547542", "Moderators").permissions(PERMISSION_MANAGE_GUILD))
///         .counts(1200, 300),
/// );
/// discord.add_member(
///     MockMember::new("613425648685547541", "80351110224678912").nick("Nel").role("613425648685547542"),
/// );
/// assert!(discord.is_member("613425648685547541", "80351110224678912"));
///
/// let tokens = discord.issue_tokens("80351110224678912", "identify guilds.members.read")?;
/// let member: serde_json::Value = reqwest::Client::new()
///     .get(format!("{}/users/@me/guilds/613425648685547541/member", discord.api_base()))
///     .bearer_auth(&tokens.access_token)
///     .send()
///     .await?
///     .json()
///     .await?;
/// assert_eq!(member["nick"], "Nel");
/// assert_eq!(member["roles"][0], "613425648685547542");
/// # discord.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MockGuild {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) icon: Option<String>,
    pub(crate) banner: Option<String>,
    pub(crate) owner_id: Option<String>,
    pub(crate) features: Vec<String>,
    pub(crate) roles: Vec<MockRole>,
    pub(crate) channel_id: String,
    pub(crate) approximate_member_count: u32,
    pub(crate) approximate_presence_count: u32,
}

impl MockGuild {
    /// A guild with an `@everyone` role (default permissions `104324673`) and one text channel.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        let id = id.into();
        let everyone = MockRole::new(id.clone(), "@everyone")
            .permissions(104_324_673)
            .position(0);
        let channel_id = id
            .parse::<u64>()
            .map_or_else(|_| format!("{id}1"), |n| (n + 1).to_string());
        Self {
            name: name.into(),
            icon: None,
            banner: None,
            owner_id: None,
            features: Vec::new(),
            roles: vec![everyone],
            channel_id,
            approximate_member_count: 0,
            approximate_presence_count: 0,
            id,
        }
    }

    /// Sets the owner (a user id). Owners have every permission.
    pub fn owner(mut self, user_id: impl Into<String>) -> Self {
        self.owner_id = Some(user_id.into());
        self
    }

    /// Sets the icon hash.
    pub fn icon(mut self, hash: impl Into<String>) -> Self {
        self.icon = Some(hash.into());
        self
    }

    /// Sets the banner hash.
    pub fn banner(mut self, hash: impl Into<String>) -> Self {
        self.banner = Some(hash.into());
        self
    }

    /// Adds a guild feature (`COMMUNITY`, `VERIFIED`, …).
    pub fn feature(mut self, feature: impl Into<String>) -> Self {
        self.features.push(feature.into());
        self
    }

    /// Adds a role (or replaces the one with the same id, e.g. `@everyone`).
    pub fn role(mut self, role: MockRole) -> Self {
        if let Some(r) = self.roles.iter_mut().find(|r| r.id == role.id) {
            *r = role;
        } else {
            self.roles.push(role);
        }
        self
    }

    /// Sets the text channel id webhooks are created in.
    pub fn channel(mut self, channel_id: impl Into<String>) -> Self {
        self.channel_id = channel_id.into();
        self
    }

    /// Sets the approximate member and presence counts (`with_counts=true`).
    pub fn counts(mut self, members: u32, presences: u32) -> Self {
        self.approximate_member_count = members;
        self.approximate_presence_count = presences;
        self
    }

    /// The guild id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The guild object of the "Extended Bot Authorization Access Token Example".
    pub(crate) fn full_json(&self) -> Value {
        let roles: Vec<Value> = self
            .roles
            .iter()
            .map(|r| {
                json!({
                    "hoist": r.hoist,
                    "name": r.name,
                    "mentionable": r.mentionable,
                    "color": r.color,
                    "position": r.position,
                    "id": r.id,
                    "managed": r.managed,
                    "permissions": r.permissions,
                    "permissions_new": r.permissions.to_string(),
                })
            })
            .collect();
        json!({
            "mfa_level": 0,
            "emojis": [],
            "application_id": null,
            "name": self.name,
            "roles": roles,
            "afk_timeout": 300,
            "system_channel_id": self.channel_id,
            "widget_channel_id": null,
            "region": "us-east",
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "splash": null,
            "features": self.features,
            "afk_channel_id": null,
            "widget_enabled": false,
            "verification_level": 0,
            "owner_id": self.owner_id,
            "id": self.id,
            "icon": self.icon,
            "description": null,
            "public_updates_channel_id": null,
            "safety_alerts_channel_id": null,
            "rules_channel_id": null,
            "max_members": 100_000,
            "vanity_url_code": null,
            "premium_subscription_count": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "banner": self.banner,
            "max_presences": null,
            "discovery_splash": null,
            "max_video_channel_users": 25,
        })
    }
}

/// A user's membership in a guild.
#[derive(Clone, Debug)]
pub struct MockMember {
    pub(crate) guild_id: String,
    pub(crate) user_id: String,
    pub(crate) nick: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) joined_at: String,
    pub(crate) avatar: Option<String>,
    pub(crate) pending: bool,
    pub(crate) premium_since: Option<String>,
    pub(crate) mute: bool,
    pub(crate) deaf: bool,
}

impl MockMember {
    /// A member with no nickname and no roles besides `@everyone`.
    pub fn new(guild_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            guild_id: guild_id.into(),
            user_id: user_id.into(),
            nick: None,
            roles: Vec::new(),
            joined_at: "2021-06-01T12:00:00.000000+00:00".to_owned(),
            avatar: None,
            pending: false,
            premium_since: None,
            mute: false,
            deaf: false,
        }
    }

    /// Sets the guild nickname.
    pub fn nick(mut self, nick: impl Into<String>) -> Self {
        self.nick = Some(nick.into());
        self
    }

    /// Adds a role id.
    pub fn role(mut self, role_id: impl Into<String>) -> Self {
        self.roles.push(role_id.into());
        self
    }

    /// Sets when the user joined (ISO 8601).
    pub fn joined_at(mut self, joined_at: impl Into<String>) -> Self {
        self.joined_at = joined_at.into();
        self
    }

    /// Sets the per-guild avatar hash.
    pub fn avatar(mut self, hash: impl Into<String>) -> Self {
        self.avatar = Some(hash.into());
        self
    }

    /// Sets whether membership screening is pending.
    pub fn pending(mut self, pending: bool) -> Self {
        self.pending = pending;
        self
    }

    /// Sets when the member started boosting (ISO 8601).
    pub fn premium_since(mut self, since: impl Into<String>) -> Self {
        self.premium_since = Some(since.into());
        self
    }

    pub(crate) fn json(&self, user: Option<&MockUser>) -> Value {
        json!({
            "avatar": self.avatar,
            "avatar_decoration_data": null,
            "banner": null,
            "communication_disabled_until": null,
            "flags": 0,
            "joined_at": self.joined_at,
            "nick": self.nick,
            "pending": self.pending,
            "premium_since": self.premium_since,
            "roles": self.roles,
            "collectibles": null,
            "user": user.map(MockUser::public_json),
            "mute": self.mute,
            "deaf": self.deaf,
        })
    }
}

/// A third-party account linked to a user (`/users/@me/connections`).
#[derive(Clone, Debug)]
pub struct MockConnection {
    pub(crate) user_id: String,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) verified: bool,
    pub(crate) visibility: u8,
    pub(crate) show_activity: bool,
    pub(crate) friend_sync: bool,
    pub(crate) two_way_link: bool,
    pub(crate) revoked: bool,
}

impl MockConnection {
    /// A verified, visible connection of type `kind` (`github`, `twitch`, `steam`, …).
    pub fn new(
        user_id: impl Into<String>,
        kind: impl Into<String>,
        id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            kind: kind.into(),
            id: id.into(),
            name: name.into(),
            verified: true,
            visibility: 1,
            show_activity: true,
            friend_sync: false,
            two_way_link: false,
            revoked: false,
        }
    }

    /// Sets whether the connection is verified.
    pub fn verified(mut self, verified: bool) -> Self {
        self.verified = verified;
        self
    }

    /// Sets the visibility (0 none, 1 everyone).
    pub fn visibility(mut self, visibility: u8) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets whether the connection has been revoked.
    pub fn revoked(mut self, revoked: bool) -> Self {
        self.revoked = revoked;
        self
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "friend_sync": self.friend_sync,
            "integrations": [],
            "show_activity": self.show_activity,
            "two_way_link": self.two_way_link,
            "verified": self.verified,
            "visibility": self.visibility,
            "revoked": self.revoked,
        })
    }
}
