//! API calls and models: exact requests, every answer class, Discord's documented examples
//! (verbatim, from the OAuth2 reference) and spec-shaped payloads with nulls and extra fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use discord_oauth_core::api::{
    self, AddGuildMember, AddGuildMemberOutcome, ApiCall, ApiError, AuthorizationInfo, BotToken, Connection,
    CurrentUserGuild, Guild, GuildsQuery, IncomingWebhook, Member, MetadataType, PremiumType, RoleConnection,
    RoleConnectionMetadata, User,
};
use discord_oauth_core::cdn::ImageSize;
use discord_oauth_core::oidc::IdToken;
use discord_oauth_core::{AccessToken, Endpoints, Permissions, ResponseError, Scope, Snowflake};
use http::{Method, StatusCode};

const SEED_OAUTH2_ME: &str = include_str!("data/seed003_oauth2_me.json");
const SEED_BOT_TOKEN: &str = include_str!("data/seed003_bot_token_response.json");
const SEED_WEBHOOK_TOKEN: &str = include_str!("data/seed003_webhook_token_response.json");

const USER_TOKEN: &str = "user-access-token-6qrZcUqja7812RVdnEKjpzOL4CvHBFG";
const BOT: &str = "MTE.bot-token.secret";

fn endpoints() -> Endpoints {
    Endpoints::discord()
}

fn user_token() -> AccessToken {
    AccessToken::new(USER_TOKEN.into())
}

fn bot() -> BotToken {
    BotToken::new(BOT.into())
}

fn response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// Checks the request line and headers of a call.
fn assert_request<T>(
    call: &ApiCall<T>,
    method: Method,
    url: &str,
    auth: Option<&str>,
    json_body: Option<serde_json::Value>,
) {
    let req = call.request();
    assert_eq!(req.method(), method);
    assert_eq!(req.uri().to_string(), url);
    assert_eq!(req.headers()["accept"], "application/json");
    match auth {
        Some(a) => {
            assert_eq!(req.headers()["authorization"], a);
            assert!(req.headers()["authorization"].is_sensitive());
        }
        None => assert!(req.headers().get("authorization").is_none()),
    }
    // Tokens never travel in the URL.
    assert!(!url.contains(USER_TOKEN) && !url.contains(BOT));
    if let Some(expected) = json_body {
        assert_eq!(req.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body, expected);
    } else {
        assert!(req.headers().get("content-type").is_none());
        assert!(req.body().is_empty());
    }
    // Debug output of the call never shows the credential.
    let debug = format!("{call:?}");
    assert!(!debug.contains(USER_TOKEN) && !debug.contains(BOT), "{debug}");
}

/// The error answers every API call shares.
fn assert_error_answers<T: std::fmt::Debug>(call: &ApiCall<T>) {
    let err = call
        .parse(response(401, r#"{"message": "401: Unauthorized", "code": 0}"#))
        .unwrap_err();
    assert_eq!(err, ApiError::Unauthorized);

    let err = call
        .parse(response(403, r#"{"message": "Missing Access", "code": 50001}"#))
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Forbidden(Some(e)) if e.code == 50001),
        "{err:?}"
    );

    let err = call
        .parse(response(404, r#"{"message": "Unknown Guild", "code": 10004}"#))
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::NotFound(Some(e)) if e.code == 10004),
        "{err:?}"
    );

    let limited = http::Response::builder()
        .status(429)
        .header("x-ratelimit-scope", "user")
        .body(br#"{"message": "You are being rate limited.", "retry_after": 0.75, "global": false}"#.to_vec())
        .unwrap();
    let err = call.parse(limited).unwrap_err();
    let rl = err.rate_limit().expect("a 429 is a rate limit");
    assert_eq!(rl.retry_after, Some(Duration::from_millis(750)));
    assert!(!rl.global);

    let err = call.parse(response(502, "<html>bad gateway</html>")).unwrap_err();
    assert!(
        matches!(&err, ApiError::Response(ResponseError::UnexpectedStatus { status, .. }) if *status == StatusCode::BAD_GATEWAY),
        "{err:?}"
    );
}

fn assert_decode_error<T: std::fmt::Debug>(call: &ApiCall<T>, body: &str) {
    let err = call.parse(response(200, body)).unwrap_err();
    assert!(
        matches!(err, ApiError::Response(ResponseError::Decode { .. })),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Discord's documented examples, verbatim.

#[test]
fn seed_current_authorization_example_parses() {
    let call = api::current_authorization(&endpoints(), &user_token());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/oauth2/@me",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let info: AuthorizationInfo = call.parse(response(200, SEED_OAUTH2_ME)).unwrap();
    assert_eq!(info.application.id, Snowflake::new(159_799_960_412_356_608));
    assert_eq!(info.application.name, "AIRHORN SOLUTIONS");
    assert_eq!(info.application.hook, Some(true));
    assert_eq!(info.application.bot_public, Some(true));
    assert_eq!(
        info.application.verify_key,
        "c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8"
    );
    assert_eq!(
        info.scopes.iter().cloned().collect::<Vec<_>>(),
        vec![Scope::GuildsJoin, Scope::Identify]
    );
    assert_eq!(info.expires.as_deref(), Some("2021-01-23T02:33:17.017000+00:00"));
    let user = info.user.unwrap();
    assert_eq!(user.id, Snowflake::new(268_473_310_986_240_001));
    assert_eq!(user.display_name(), "Discord");
    assert_eq!(user.public_flags, Some(131_072));
    assert_eq!(user.email, None);
    assert_error_answers(&call);
}

#[test]
fn seed_guild_in_bot_token_response_parses() {
    let tokens: serde_json::Value = serde_json::from_str(SEED_BOT_TOKEN).unwrap();
    let guild: Guild = serde_json::from_value(tokens["guild"].clone()).unwrap();
    assert_eq!(guild.id, Snowflake::new(2_909_267_986_347_357_250));
    assert_eq!(guild.name, "SomeTest");
    assert_eq!(guild.owner_id, Some(Snowflake::new(53_908_232_999_183_680)));
    assert_eq!(guild.region.as_deref(), Some("us-east"));
    assert_eq!(guild.max_members, Some(100_000));
    assert_eq!(guild.max_presences, None);
    assert_eq!(guild.application_id, None);
    assert_eq!(guild.preferred_locale.as_deref(), Some("en-US"));
    assert_eq!(guild.roles.len(), 1);
    let everyone = &guild.roles[0];
    assert_eq!(everyone.name, "@everyone");
    assert_eq!(everyone.permissions, Permissions::from_bits_retain(49_794_241));
    assert!(everyone.permissions.contains(Permissions::SEND_MESSAGES));
    assert_eq!(guild.role(Snowflake::new(290_926_798_626_357_250)), Some(everyone));
    assert_eq!(guild.icon_url(None), None);
    // Round trip (the token set is stored in sessions).
    let again: Guild = serde_json::from_str(&serde_json::to_string(&guild).unwrap()).unwrap();
    assert_eq!(again, guild);
}

#[test]
fn seed_webhook_in_token_response_parses() {
    let tokens: serde_json::Value = serde_json::from_str(SEED_WEBHOOK_TOKEN).unwrap();
    let hook: IncomingWebhook = serde_json::from_value(tokens["webhook"].clone()).unwrap();
    let secret = "kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHabuK1vuofjhQDDnlOclJeRIvYK-pj_";
    assert_eq!(hook.id, Snowflake::new(347_114_750_880_120_863));
    assert_eq!(hook.kind, Some(1));
    assert_eq!(hook.name, "testwebhook");
    assert_eq!(hook.channel_id, Some(Snowflake::new(345_626_669_224_982_402)));
    assert_eq!(hook.guild_id, Some(Snowflake::new(290_926_792_226_357_250)));
    assert_eq!(hook.application_id, Some(Snowflake::new(310_954_232_226_357_250)));
    assert_eq!(hook.token.as_ref().unwrap().secret(), secret);
    assert!(hook.url.as_deref().unwrap().ends_with(secret));
    let debug = format!("{hook:?}");
    assert!(!debug.contains(secret), "{debug}");
    // Serializes back with the token (sessions must keep it).
    let again: IncomingWebhook = serde_json::from_str(&serde_json::to_string(&hook).unwrap()).unwrap();
    assert_eq!(again, hook);
}

// ---------------------------------------------------------------------------------------------
// Users.

const FULL_USER: &str = r#"{
    "id": "80351110224678912",
    "username": "nelly",
    "avatar": "8342729096ea3675442027381ff50dfe",
    "discriminator": "0",
    "public_flags": 64,
    "flags": 64,
    "bot": false,
    "banner": "a_06c16474723fe537c283b8efa61a30c8",
    "accent_color": 16711680,
    "global_name": "Nelly",
    "avatar_decoration_data": {"asset": "a_fed43ab12698df65902ba06727e20c0e", "sku_id": "1144058844004233369"},
    "collectibles": {"nameplate": {"sku_id": "2247558840304243311", "asset": "nameplates/nameplates/twilight/", "label": "", "palette": "cobalt"}},
    "primary_guild": {"identity_guild_id": "1234647491267808778", "identity_enabled": true, "tag": "DISC", "badge": "7d1734ae5a615e82bc7a4033b98fade8"},
    "mfa_enabled": true,
    "locale": "en-US",
    "premium_type": 2,
    "email": "nelly@discord.com",
    "verified": true,
    "clan": {"tag": "DISC"},
    "a_field_discord_adds_next_year": [1, {"x": null}]
}"#;

#[test]
fn current_user_request_and_full_payload() {
    let call = api::current_user(&endpoints(), &user_token());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/users/@me",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let user = call.parse(response(200, FULL_USER)).unwrap();
    assert_eq!(user.id, Snowflake::new(80_351_110_224_678_912));
    assert_eq!(user.tag(), "nelly");
    assert!(user.is_migrated());
    assert_eq!(user.mfa_enabled, Some(true));
    assert_eq!(user.accent_color, Some(0xFF_00_00));
    assert_eq!(user.premium_type, Some(PremiumType::Nitro));
    assert_eq!(user.email.as_deref(), Some("nelly@discord.com"));
    assert_eq!(user.verified, Some(true));
    assert_eq!(user.locale.as_deref(), Some("en-US"));
    let nameplate = user.collectibles.as_ref().unwrap().nameplate.as_ref().unwrap();
    assert_eq!(nameplate.palette, "cobalt");
    let guild = user.primary_guild.as_ref().unwrap();
    assert_eq!(guild.tag.as_deref(), Some("DISC"));
    assert_eq!(guild.identity_guild_id, Some(Snowflake::new(1_234_647_491_267_808_778)));
    assert_eq!(
        user.avatar_url(ImageSize::new(256)).as_str(),
        "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png?size=256"
    );
    assert_eq!(
        user.banner_url(None).unwrap().as_str(),
        "https://cdn.discordapp.com/banners/80351110224678912/a_06c16474723fe537c283b8efa61a30c8.gif"
    );
    assert_eq!(
        user.avatar_decoration_url().unwrap().as_str(),
        "https://cdn.discordapp.com/avatar-decoration-presets/a_fed43ab12698df65902ba06727e20c0e.png"
    );
    // Sessions store users: the serialized form reads back identically.
    let again: User = serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
    assert_eq!(again, user);
    assert_error_answers(&call);
    assert_decode_error(&call, r#"{"username": "no id"}"#);
    assert_decode_error(&call, "not json");
}

#[test]
fn users_with_nulls_and_missing_fields_parse() {
    // Every nullable field null, every optional field absent, plus a legacy discriminator.
    let user: User = serde_json::from_str(
        r#"{"id": 53908232506183680, "username": "Mason", "discriminator": "1337",
            "global_name": null, "avatar": null, "banner": null, "accent_color": null,
            "avatar_decoration_data": null, "collectibles": null, "primary_guild": null,
            "public_flags": null, "flags": null, "bot": null, "email": null, "premium_type": null,
            "locale": null}"#,
    )
    .unwrap();
    assert_eq!(user.display_name(), "Mason");
    assert_eq!(user.tag(), "Mason#1337");
    assert!(!user.bot);
    assert_eq!(user.email, None);
    // Legacy default avatar: 1337 % 5 == 2.
    assert_eq!(
        user.avatar_url(None).as_str(),
        "https://cdn.discordapp.com/embed/avatars/2.png"
    );
    assert_eq!(user.banner_url(None), None);

    // Minimal: only id and username; a primary guild whose fields are all null.
    let user: User = serde_json::from_str(
        r#"{"id": "1", "username": "x", "primary_guild": {"identity_guild_id": null,
            "identity_enabled": null, "tag": null, "badge": null}, "premium_type": 7}"#,
    )
    .unwrap();
    assert_eq!(user.discriminator, "0");
    assert_eq!(user.premium_type, Some(PremiumType::Other(7)));
    assert_eq!(user.primary_guild.unwrap().tag, None);
    // New-username default avatar: (1 >> 22) % 6 == 0.
    assert_eq!(
        User::new(Snowflake::new(1), "x").avatar_url(None).as_str(),
        "https://cdn.discordapp.com/embed/avatars/0.png"
    );
    // Serialization leaves out empty fields, for compact session records.
    assert_eq!(
        serde_json::to_string(&User::new(Snowflake::new(1), "x")).unwrap(),
        r#"{"id":"1","username":"x","discriminator":"0"}"#
    );
    // Empty global name falls back to the username.
    let mut u = User::new(Snowflake::new(1), "x");
    u.global_name = Some(String::new());
    assert_eq!(u.display_name(), "x");
}

// ---------------------------------------------------------------------------------------------
// Guilds.

const GUILDS: &str = r#"[
  {"id": "80351110224678912", "name": "1337 Krew", "icon": "8342729096ea3675442027381ff50dfe",
   "banner": "bb42bdc37653b7cf58c4c8cc622e76cb", "owner": true, "permissions": "9007199254740991",
   "features": ["COMMUNITY", "NEWS", "ANIMATED_ICON"], "approximate_member_count": 3268,
   "approximate_presence_count": 784, "brand_new": true},
  {"id": "80351110224678913", "name": "Readers", "icon": null, "banner": null, "owner": false,
   "permissions": "104324673", "features": [], "approximate_member_count": null,
   "approximate_presence_count": null}
]"#;

#[test]
fn current_user_guilds_requests_pages_and_parses() {
    let call = api::current_user_guilds(&endpoints(), &user_token(), &GuildsQuery::default());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/users/@me/guilds",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let guilds = call.parse(response(200, GUILDS)).unwrap();
    assert_eq!(guilds.len(), 2);
    assert!(guilds[0].owner && guilds[0].can_manage());
    assert_eq!(guilds[0].approximate_member_count, Some(3268));
    assert!(guilds[0].permissions.contains(Permissions::BYPASS_SLOWMODE));
    assert!(!guilds[1].can_manage());
    assert_eq!(guilds[1].icon_url(None), None);
    assert_eq!(
        guilds[0].icon_url(ImageSize::new(64)).unwrap().as_str(),
        "https://cdn.discordapp.com/icons/80351110224678912/8342729096ea3675442027381ff50dfe.png?size=64"
    );
    // Discord's spec allows `null` for the list.
    assert!(call.parse(response(200, "null")).unwrap().is_empty());
    assert!(call.parse(response(200, "[]")).unwrap().is_empty());
    assert_error_answers(&call);

    // Every query parameter; limit clamped into 1..=200.
    let q = GuildsQuery {
        before: Some(Snowflake::new(9)),
        after: Some(Snowflake::new(3)),
        limit: Some(0),
        with_counts: true,
    };
    let call = api::current_user_guilds(&endpoints(), &user_token(), &q);
    assert_eq!(
        call.request().uri(),
        "https://discord.com/api/v10/users/@me/guilds?before=9&after=3&limit=1&with_counts=true"
    );

    // Paging forwards with a full page, then a short one.
    let q = GuildsQuery {
        limit: Some(2),
        ..GuildsQuery::default()
    };
    let next = q.next_page(&guilds).unwrap();
    assert_eq!(next.after, Some(Snowflake::new(80_351_110_224_678_913)));
    assert_eq!(next.next_page(&guilds[..1]), None);
    assert_eq!(GuildsQuery::default().next_page(&guilds), None);
    // Backwards with `before`.
    let back = GuildsQuery {
        before: Some(Snowflake::new(u64::MAX)),
        limit: Some(2),
        ..GuildsQuery::default()
    };
    assert_eq!(
        back.next_page(&guilds).unwrap().before,
        Some(Snowflake::new(80_351_110_224_678_912))
    );
}

const MEMBER: &str = r#"{
  "avatar": null, "avatar_decoration_data": null, "banner": null,
  "communication_disabled_until": null, "flags": 0,
  "joined_at": "2015-04-26T06:26:56.936000+00:00", "nick": "NOT API SUPPORT",
  "pending": false, "premium_since": null,
  "roles": ["290926798626357250", "290926798626357999"],
  "collectibles": null,
  "user": {"id": "80351110224678912", "username": "nelly", "avatar": null,
           "discriminator": "0", "public_flags": 0, "flags": 0, "global_name": null,
           "primary_guild": null},
  "mute": false, "deaf": false, "unusual_status": 5
}"#;

#[test]
fn current_user_guild_member_request_and_payload() {
    let call = api::current_user_guild_member(&endpoints(), &user_token(), Snowflake::new(290_926_798_626_357_250));
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/users/@me/guilds/290926798626357250/member",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let member: Member = call.parse(response(200, MEMBER)).unwrap();
    assert_eq!(member.nick.as_deref(), Some("NOT API SUPPORT"));
    assert!(member.has_role(Snowflake::new(290_926_798_626_357_999)));
    assert_eq!(member.user.as_ref().unwrap().username, "nelly");
    assert_eq!(member.joined_at.as_deref(), Some("2015-04-26T06:26:56.936000+00:00"));
    assert_error_answers(&call);
}

#[test]
fn add_guild_member_request_and_both_outcomes() {
    let options = AddGuildMember {
        nick: Some("newbie".into()),
        roles: vec![Snowflake::new(11), Snowflake::new(12)],
        mute: Some(false),
        deaf: None,
        flags: Some(1 << 2),
    };
    let call = api::add_guild_member(
        &endpoints(),
        &bot(),
        Snowflake::new(41_771_983_423_143_937),
        Snowflake::new(80_351_110_224_678_912),
        &user_token(),
        &options,
    );
    assert_request(
        &call,
        Method::PUT,
        "https://discord.com/api/v10/guilds/41771983423143937/members/80351110224678912",
        Some(&format!("Bot {BOT}")),
        Some(serde_json::json!({
            "access_token": USER_TOKEN,
            "nick": "newbie",
            "roles": ["11", "12"],
            "mute": false,
            "flags": 4,
        })),
    );
    match call.parse(response(201, MEMBER)).unwrap() {
        AddGuildMemberOutcome::Added(member) => assert_eq!(member.roles.len(), 2),
        other => panic!("{other:?}"),
    }
    let already = http::Response::builder().status(204).body(Vec::new()).unwrap();
    assert_eq!(call.parse(already).unwrap(), AddGuildMemberOutcome::AlreadyMember);
    assert_error_answers(&call);
    // Only the access token when no option is set.
    let call = api::add_guild_member(
        &endpoints(),
        &bot(),
        Snowflake::new(1),
        Snowflake::new(2),
        &user_token(),
        &AddGuildMember::default(),
    );
    assert_eq!(
        call.request().body(),
        format!(r#"{{"access_token":"{USER_TOKEN}"}}"#).as_bytes()
    );
}

#[test]
fn roles_prefer_permissions_new_and_read_presence_tags() {
    let role: discord_oauth_core::api::Role = serde_json::from_str(
        r#"{"id": "1", "name": "Booster", "permissions": 1, "permissions_new": "4503599627370496",
            "position": 3, "color": 16711680, "colors": {"primary_color": 16711680,
            "secondary_color": null, "tertiary_color": null}, "hoist": true, "managed": true,
            "mentionable": false, "icon": null, "unicode_emoji": null, "flags": 0,
            "tags": {"premium_subscriber": null, "bot_id": "5"}}"#,
    )
    .unwrap();
    assert_eq!(role.permissions, Permissions::BYPASS_SLOWMODE);
    let tags = role.tags.clone().unwrap();
    assert!(tags.premium_subscriber);
    assert!(!tags.guild_connections);
    assert_eq!(tags.bot_id, Some(Snowflake::new(5)));
    // Serialized tags use Discord's presence encoding and read back the same.
    let json = serde_json::to_value(&role).unwrap();
    assert_eq!(
        json["tags"],
        serde_json::json!({"bot_id": "5", "premium_subscriber": null})
    );
    let again: discord_oauth_core::api::Role = serde_json::from_value(json).unwrap();
    assert_eq!(again, role);
}

// ---------------------------------------------------------------------------------------------
// Connections, application, role connections, OpenID.

#[test]
fn connections_request_and_payload() {
    let call = api::current_user_connections(&endpoints(), &user_token());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/users/@me/connections",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let list: Vec<Connection> = call
        .parse(response(
            200,
            r#"[{"id": "UCabc", "name": "Nelly Plays", "type": "youtube", "friend_sync": false,
                 "integrations": [{"id": "33590653072239123", "type": "youtube",
                   "account": {"id": "UCabc", "name": "Nelly Plays"},
                   "guild": {"id": "290926798626357250", "name": "Fans", "icon": null}}],
                 "show_activity": true, "two_way_link": false, "verified": true,
                 "visibility": 0, "revoked": false, "metadata_visibility": 1},
                {"id": "1", "name": null, "type": "domain", "friend_sync": false,
                 "show_activity": false, "two_way_link": false, "verified": true, "visibility": 1}]"#,
        ))
        .unwrap();
    assert_eq!(list[0].kind, "youtube");
    assert!(!list[0].is_public());
    let integration = &list[0].integrations[0];
    assert_eq!(integration.guild.as_ref().unwrap().name, "Fans");
    assert_eq!(list[1].name, None);
    assert!(list[1].is_public());
    assert!(call.parse(response(200, "null")).unwrap().is_empty());
    assert_error_answers(&call);
}

#[test]
fn current_application_request_and_private_payload() {
    let call = api::current_application(&endpoints(), &bot());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/oauth2/applications/@me",
        Some(&format!("Bot {BOT}")),
        None,
    );
    let app = call
        .parse(response(
            200,
            r#"{"id": "159799960412356608", "name": "AIRHORN SOLUTIONS",
                "icon": "f03590d3eb764081d154a66340ea7d6d", "description": "Toot", "type": null,
                "bot": {"id": "159799960412356608", "username": "airhorn", "avatar": null,
                        "discriminator": "0", "public_flags": 0, "flags": 0, "bot": true,
                        "global_name": null, "primary_guild": null},
                "summary": "", "bot_public": true, "bot_require_code_grant": false,
                "verify_key": "c8cd", "flags": 8953856, "flags_new": "8953856",
                "redirect_uris": ["https://example.com/auth/callback"],
                "interactions_endpoint_url": null, "role_connections_verification_url": null,
                "owner": {"id": "1", "username": "team1", "avatar": null, "discriminator": "0",
                          "public_flags": 1024, "flags": 1024, "global_name": null},
                "approximate_guild_count": 12, "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 3, "explicit_content_filter": 0,
                "team": {"id": "2", "icon": null, "name": "Team", "owner_user_id": "3",
                         "members": [{"user": {"id": "3", "username": "o", "avatar": null,
                           "discriminator": "0", "public_flags": 0, "flags": 0, "global_name": null},
                           "team_id": "2", "membership_state": 2, "role": "admin", "permissions": ["*"]}]},
                "eligible_oauth2_scopes": ["identify", "bot"],
                "install_params": {"scopes": ["applications.commands", "bot"], "permissions": "8"},
                "integration_types_config": {"0": {"oauth2_install_params": null}, "1": {}},
                "event_webhooks_url": null, "event_webhooks_status": 1,
                "is_monetized": false}"#,
        ))
        .unwrap();
    assert!(app.bot.as_ref().unwrap().bot);
    assert_eq!(app.flags, Some(8_953_856));
    assert_eq!(app.team.as_ref().unwrap().members[0].role, "admin");
    assert_eq!(
        app.install_params.as_ref().unwrap().permissions,
        Permissions::ADMINISTRATOR
    );
    assert_eq!(app.integration_types_config.len(), 2);
    assert_eq!(
        app.icon_url(None).unwrap().as_str(),
        "https://cdn.discordapp.com/app-icons/159799960412356608/f03590d3eb764081d154a66340ea7d6d.png"
    );
    assert_error_answers(&call);
}

#[test]
fn role_connection_get_and_put() {
    let app = Snowflake::new(159_799_960_412_356_608);
    let call = api::get_role_connection(&endpoints(), &user_token(), app);
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/users/@me/applications/159799960412356608/role-connection",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    // A user without a connection yet: Discord answers with an empty object.
    assert_eq!(call.parse(response(200, "{}")).unwrap(), RoleConnection::default());
    let rc = call
        .parse(response(
            200,
            r#"{"platform_name": "Game", "platform_username": null,
                "metadata": {"level": "42", "verified": 1, "since": "2020-01-01", "gone": null}}"#,
        ))
        .unwrap();
    assert_eq!(rc.platform_username, None);
    assert_eq!(rc.metadata["level"], "42");
    assert_eq!(rc.metadata["verified"], "1");
    assert!(!rc.metadata.contains_key("gone"));
    assert_error_answers(&call);

    let update = RoleConnection::new("Game")
        .with_username("p1")
        .with_metadata("level", "43");
    let call = api::update_role_connection(&endpoints(), &user_token(), app, &update);
    assert_request(
        &call,
        Method::PUT,
        "https://discord.com/api/v10/users/@me/applications/159799960412356608/role-connection",
        Some(&format!("Bearer {USER_TOKEN}")),
        Some(serde_json::json!({
            "platform_name": "Game",
            "platform_username": "p1",
            "metadata": {"level": "43"},
        })),
    );
    let stored = call
        .parse(response(200, &serde_json::to_string(&update).unwrap()))
        .unwrap();
    assert_eq!(stored, update);
    assert_error_answers(&call);
}

#[test]
fn role_connection_metadata_records() {
    let app = Snowflake::new(7);
    let call = api::role_connection_metadata(&endpoints(), &bot(), app);
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/applications/7/role-connections/metadata",
        Some(&format!("Bot {BOT}")),
        None,
    );
    let records = call
        .parse(response(
            200,
            r#"[{"type": 2, "key": "level", "name": "Level", "name_localizations": null,
                 "description": "Level at least", "description_localizations": {"fr": "Niveau"}},
                {"type": 99, "key": "future", "name": "F", "description": "d"}]"#,
        ))
        .unwrap();
    assert_eq!(records[0].kind, MetadataType::IntegerGreaterThanOrEqual);
    assert_eq!(records[1].kind, MetadataType::Other(99));
    let put = [RoleConnectionMetadata::new(
        MetadataType::BooleanEqual,
        "verified",
        "Verified",
        "Has a verified account",
    )];
    let call = api::update_role_connection_metadata(&endpoints(), &bot(), app, &put);
    assert_request(
        &call,
        Method::PUT,
        "https://discord.com/api/v10/applications/7/role-connections/metadata",
        Some(&format!("Bot {BOT}")),
        Some(serde_json::json!([{
            "type": 7, "key": "verified", "name": "Verified", "description": "Has a verified account"
        }])),
    );
    assert_error_answers(&call);
}

#[test]
fn openid_userinfo_and_keys() {
    let call = api::userinfo(&endpoints(), &user_token());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/oauth2/userinfo",
        Some(&format!("Bearer {USER_TOKEN}")),
        None,
    );
    let info = call
        .parse(response(
            200,
            r#"{"sub": "80351110224678912", "email": null, "email_verified": false,
                "preferred_username": "nelly", "nickname": null,
                "picture": "https://cdn.discordapp.com/avatars/80351110224678912/x.png",
                "locale": "en-US", "updated_at": 1}"#,
        ))
        .unwrap();
    assert_eq!(info.preferred_username.as_deref(), Some("nelly"));
    assert_eq!(info.email, None);
    assert_error_answers(&call);

    let call = api::keys(&endpoints());
    assert_request(
        &call,
        Method::GET,
        "https://discord.com/api/v10/oauth2/keys",
        None,
        None,
    );
    let keys = call
        .parse(response(200, include_str!("data/oidc-test-jwks.json")))
        .unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.find(Some("test-key-1")).unwrap().kty, "RSA");
}

#[test]
fn calls_follow_overridden_endpoints() {
    let mock = Endpoints::from_base("http://127.0.0.1:7999".parse().unwrap()).unwrap();
    assert_eq!(
        api::current_user(&mock, &user_token()).request().uri(),
        "http://127.0.0.1:7999/api/v10/users/@me"
    );
    assert_eq!(
        api::current_user_guilds(
            &mock,
            &user_token(),
            &GuildsQuery {
                limit: Some(50),
                ..GuildsQuery::default()
            }
        )
        .request()
        .uri(),
        "http://127.0.0.1:7999/api/v10/users/@me/guilds?limit=50"
    );
}

#[test]
fn secrets_stay_out_of_debug() {
    assert!(!format!("{:?}", bot()).contains(BOT));
    let id = IdToken::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln".into());
    assert!(!format!("{id:?}").contains("eyJ"));
    let hook = api::WebhookToken::new("hook-secret".into());
    assert!(!format!("{hook:?}").contains("hook-secret"));
}

#[test]
fn current_user_guild_lists_tolerate_odd_members() {
    // A guild entry with nulls where Discord's spec has required fields still parses.
    let g: Vec<CurrentUserGuild> = serde_json::from_str(
        r#"[{"id": "1", "name": null, "icon": null, "banner": null, "owner": null,
             "permissions": null, "features": null}]"#,
    )
    .unwrap();
    assert_eq!(g[0].permissions, Permissions::empty());
    assert!(!g[0].owner);
}

proptest::proptest! {
    /// Model parsing never panics, whatever the body.
    #[test]
    fn parsing_arbitrary_bodies_never_panics(body in ".{0,200}") {
        let _ = api::current_user(&endpoints(), &user_token()).parse(response(200, &body));
        let _ = serde_json::from_str::<Guild>(&body);
        let _ = serde_json::from_str::<IncomingWebhook>(&body);
        let _ = serde_json::from_str::<AuthorizationInfo>(&body);
    }
}
