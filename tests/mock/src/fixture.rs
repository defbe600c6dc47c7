//! The default fixture: what a mock started with [`MockDiscord::start`](crate::MockDiscord::start)
//! or [`MockDiscord::builder`](crate::MockDiscord::builder) knows without any setup.
//!
//! | what | id | notes |
//! |---|---|---|
//! | confidential client | [`CLIENT_ID`] | secret [`CLIENT_SECRET`], bot token [`BOT_TOKEN`], redirect URIs [`REDIRECT_URIS`] |
//! | public client | [`PUBLIC_CLIENT_ID`] | no secret (PKCE required), same redirect URIs |
//! | team client | [`TEAM_CLIENT_ID`] | secret [`TEAM_CLIENT_SECRET`], client credentials limited to `identify applications.commands.update` |
//! | user `wumpus` (default) | [`WUMPUS_ID`] | animated avatar `a_…`, verified e-mail, Nitro, owner of [`GUILD_ID`] |
//! | user `legacy_lena#4821` | [`LENA_ID`] | legacy discriminator, static avatar, unverified e-mail |
//! | user `nova` | [`NOVA_ID`] | no avatar, no e-mail, no global name |
//! | guild "Mock Guild" | [`GUILD_ID`] | owner wumpus; roles [`MODERATOR_ROLE_ID`], [`MEMBER_ROLE_ID`]; bot present |
//! | guild "Lena's Lounge" | [`SECOND_GUILD_ID`] | owner lena; wumpus is a moderator; bot present |
//! | guild "Quiet Corner" | [`THIRD_GUILD_ID`] | owner lena; bot absent |
//! | webhook events key | [`EVENTS_PUBLIC_KEY_HEX`] | every application's events are signed with the key of [`EVENTS_SIGNING_SEED`] |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use discord_oauth_mock::{MockDiscord, fixture};
//!
//! let discord = MockDiscord::start().await?;
//! let tokens = discord.issue_tokens(fixture::WUMPUS_ID, "identify guilds")?;
//! let guilds: serde_json::Value = reqwest::Client::new()
//!     .get(format!("{}/users/@me/guilds", discord.api_base()))
//!     .bearer_auth(&tokens.access_token)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let ids: Vec<&str> = guilds.as_array().into_iter().flatten().filter_map(|g| g["id"].as_str()).collect();
//! assert!(ids.contains(&fixture::GUILD_ID) && ids.contains(&fixture::SECOND_GUILD_ID));
//! assert!(discord.bot_in_guild(fixture::CLIENT_ID, fixture::GUILD_ID));
//! assert!(!discord.bot_in_guild(fixture::CLIENT_ID, fixture::THIRD_GUILD_ID));
//! # discord.shutdown().await;
//! # Ok(()) }
//! ```

use crate::model::{MockClient, MockConnection, MockGuild, MockMember, MockRole, MockUser};
use crate::state::State;

/// The default confidential client id.
pub const CLIENT_ID: &str = "1100000000000000001";
/// The default client's secret.
pub const CLIENT_SECRET: &str = "mock-client-secret";
/// The default client's bot token (`Authorization: Bot mock-bot-token`).
pub const BOT_TOKEN: &str = "mock-bot-token";
/// A public client (PKCE, no secret).
pub const PUBLIC_CLIENT_ID: &str = "1100000000000000002";
/// A team-owned confidential client.
pub const TEAM_CLIENT_ID: &str = "1100000000000000003";
/// The team client's secret.
pub const TEAM_CLIENT_SECRET: &str = "mock-team-secret";
/// Redirect URIs registered for the fixture clients (the sample sites' defaults).
pub const REDIRECT_URIS: &[&str] = &[
    "http://127.0.0.1:3000/auth/callback",
    "http://localhost:3000/auth/callback",
];

/// `wumpus` (the default user): animated avatar, verified e-mail.
pub const WUMPUS_ID: &str = "301234567890123456";
/// `legacy_lena#4821`: legacy discriminator.
pub const LENA_ID: &str = "412345678901234567";
/// `nova`: no avatar, no e-mail.
pub const NOVA_ID: &str = "523456789012345678";

/// "Mock Guild", owned by wumpus.
pub const GUILD_ID: &str = "1200000000000000001";
/// "Lena's Lounge", owned by lena; wumpus is a moderator.
pub const SECOND_GUILD_ID: &str = "1200000000000000100";
/// "Quiet Corner", owned by lena; the fixture bot is not in it.
pub const THIRD_GUILD_ID: &str = "1200000000000000200";
/// The Moderator role of [`GUILD_ID`] (`MANAGE_GUILD`, `KICK_MEMBERS`, …).
pub const MODERATOR_ROLE_ID: &str = "1200000000000000011";
/// The Member role of [`GUILD_ID`].
pub const MEMBER_ROLE_ID: &str = "1200000000000000012";
/// The Moderator role of [`SECOND_GUILD_ID`] (`MANAGE_GUILD`).
pub const SECOND_MODERATOR_ROLE_ID: &str = "1200000000000000111";

/// The seed of the Ed25519 key the mock signs webhook events with (every application's:
/// Discord's private key, in tests). A published test value, not a secret.
pub const EVENTS_SIGNING_SEED: [u8; 32] = *b"discord-oauth-mock-event-signer!";
/// The public key of [`EVENTS_SIGNING_SEED`], as the Developer Portal shows an application's
/// "Public Key": configure the receiver under test with it.
pub const EVENTS_PUBLIC_KEY_HEX: &str = "9e3f4162f4bb742688d5764642e53d729f378ccbdb8e623860b42197244b2b12";
/// The seed of the *other* key events sent with
/// [`EventSignature::WrongKey`](crate::EventSignature::WrongKey) are signed with.
pub const EVENTS_WRONG_SEED: [u8; 32] = *b"not-the-application-key-seed-32!";

/// Fills a state with the default fixture.
pub(crate) fn install(st: &mut State) {
    let mut confidential = MockClient::confidential(CLIENT_ID, CLIENT_SECRET)
        .name("Mock Discord App")
        .description("The default application of the mock Discord")
        .icon("f03590d3eb764081d154a66340ea7d6d")
        .bot_token(BOT_TOKEN)
        .owner(WUMPUS_ID);
    let mut public = MockClient::public(PUBLIC_CLIENT_ID)
        .name("Mock Public App")
        .owner(WUMPUS_ID);
    let mut team = MockClient::confidential(TEAM_CLIENT_ID, TEAM_CLIENT_SECRET)
        .name("Mock Team App")
        .team(true)
        .bot_token("mock-team-bot-token")
        .owner(LENA_ID);
    for uri in REDIRECT_URIS {
        confidential = confidential.redirect_uri(*uri);
        public = public.redirect_uri(*uri);
        team = team.redirect_uri(*uri);
    }
    for c in [confidential, public, team] {
        st.clients.insert(c.id.clone(), c);
    }

    let users = [
        MockUser::new(WUMPUS_ID, "wumpus")
            .global_name("Wumpus")
            .avatar("a_1269e74af4df7417b13759eae50c83dc")
            .banner("06c16474723fe537c283b8efa61a30c8")
            .accent_color(5_793_266)
            .email("wumpus@example.com", true)
            .mfa_enabled(true)
            .premium_type(2)
            .flags(64),
        MockUser::new(LENA_ID, "legacy_lena")
            .discriminator("4821")
            .avatar("8342729096ea3675442027381ff50dfe")
            .email("lena@example.org", false)
            .locale("fr"),
        MockUser::new(NOVA_ID, "nova"),
    ];
    for u in users {
        st.users.insert(u.id.clone(), u);
    }
    st.default_user = Some(WUMPUS_ID.to_owned());

    let guilds = [
        MockGuild::new(GUILD_ID, "Mock Guild")
            .owner(WUMPUS_ID)
            .icon("1f6d6c1c3a1e5e0e1a2b3c4d5e6f7a8b")
            .feature("COMMUNITY")
            .feature("NEWS")
            .role(
                MockRole::new(MODERATOR_ROLE_ID, "Moderator")
                    .permissions((1 << 1) | (1 << 2) | (1 << 5) | (1 << 13))
                    .color(0x00e6_7e22)
                    .position(2),
            )
            .role(MockRole::new(MEMBER_ROLE_ID, "Member").color(0x002e_cc71).position(1))
            .counts(42, 17),
        MockGuild::new(SECOND_GUILD_ID, "Lena's Lounge")
            .owner(LENA_ID)
            .role(
                MockRole::new(SECOND_MODERATOR_ROLE_ID, "Moderator")
                    .permissions(1 << 5)
                    .position(1),
            )
            .counts(7, 3),
        MockGuild::new(THIRD_GUILD_ID, "Quiet Corner")
            .owner(LENA_ID)
            .counts(2, 1),
    ];
    for g in guilds {
        st.guilds.insert(g.id.clone(), g);
    }
    st.members = vec![
        MockMember::new(GUILD_ID, WUMPUS_ID)
            .role(MEMBER_ROLE_ID)
            .joined_at("2020-03-14T15:09:26.535000+00:00")
            .premium_since("2022-01-01T00:00:00.000000+00:00"),
        MockMember::new(GUILD_ID, LENA_ID)
            .nick("Lena")
            .role(MODERATOR_ROLE_ID)
            .role(MEMBER_ROLE_ID)
            .joined_at("2021-07-04T18:30:00.000000+00:00"),
        MockMember::new(GUILD_ID, NOVA_ID)
            .pending(true)
            .joined_at("2024-11-02T08:00:00.000000+00:00"),
        MockMember::new(SECOND_GUILD_ID, LENA_ID).joined_at("2021-01-01T00:00:00.000000+00:00"),
        MockMember::new(SECOND_GUILD_ID, WUMPUS_ID)
            .nick("wump")
            .role(SECOND_MODERATOR_ROLE_ID)
            .joined_at("2022-05-05T05:05:05.000000+00:00"),
        MockMember::new(THIRD_GUILD_ID, LENA_ID).joined_at("2023-02-02T02:02:02.000000+00:00"),
    ];
    st.connections = vec![
        MockConnection::new(WUMPUS_ID, "github", "1234567", "wumpus-codes"),
        MockConnection::new(WUMPUS_ID, "twitch", "87654321", "wumpus_live").visibility(0),
        MockConnection::new(LENA_ID, "steam", "76561198000000000", "lena").verified(false),
    ];
    for gid in [GUILD_ID, SECOND_GUILD_ID] {
        st.bot_guilds.insert((CLIENT_ID.to_owned(), gid.to_owned()));
    }
}
