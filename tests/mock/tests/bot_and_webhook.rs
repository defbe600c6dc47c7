//! Bot authorization, advanced bot authorization, webhooks, and adding members with a bot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use discord_oauth_mock::{MockDiscord, MockUser, errors, fixture};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn bot_only_authorization_shows_the_bot_added_page() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    assert!(!mock.bot_in_guild(fixture::CLIENT_ID, fixture::THIRD_GUILD_ID));
    let params = [
        ("client_id", fixture::CLIENT_ID),
        ("scope", "bot applications.commands"),
        ("permissions", "2048"),
    ];
    let page = http
        .get(authorize_url(&mock, &params))
        .header("cookie", format!("discord_mock_user={}", fixture::LENA_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"guild\""), "guild picker shown");
    assert!(html.contains(fixture::THIRD_GUILD_ID));
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "approve".into()));
    form.push(("guild_id".into(), fixture::THIRD_GUILD_ID.into()));
    let resp = http
        .post(mock.authorize_url())
        .header("cookie", format!("discord_mock_user={}", fixture::LENA_ID))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("location").is_none());
    let done = resp.text().await.unwrap();
    assert!(done.contains("id=\"bot-added\""));
    assert!(done.contains("Quiet Corner"));
    assert!(done.contains(">2048<"));
    assert!(mock.bot_in_guild(fixture::CLIENT_ID, fixture::THIRD_GUILD_ID));
}

#[tokio::test]
async fn client_id_alone_uses_the_default_install_and_needs_a_manageable_guild() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let resp = http
        .get(authorize_url(&mock, &[("client_id", fixture::CLIENT_ID)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("id=\"bot-added\""));
    // nova manages no guild.
    let resp = http
        .get(authorize_url(
            &mock,
            &[("client_id", fixture::CLIENT_ID), ("scope", "bot")],
        ))
        .header("cookie", format!("discord_mock_user={}", fixture::NOVA_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // disable_guild_select with a guild the user cannot manage.
    let resp = http
        .get(authorize_url(
            &mock,
            &[
                ("client_id", fixture::CLIENT_ID),
                ("scope", "bot"),
                ("guild_id", fixture::THIRD_GUILD_ID),
                ("disable_guild_select", "true"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn advanced_bot_authorization_returns_guild_id_permissions_and_guild() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let mut params = code_params("bot identify", "adv", None);
    params.push(("permissions", "8"));
    params.push(("guild_id", fixture::SECOND_GUILD_ID));
    params.push(("disable_guild_select", "true"));
    let page = http.get(authorize_url(&mock, &params)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"guild\" disabled"), "locked guild select");
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "approve".into()));
    let resp = http.post(mock.authorize_url()).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = params_of(&location(&resp), false);
    assert_eq!(q["guild_id"], fixture::SECOND_GUILD_ID);
    assert_eq!(q["permissions"], "8");
    assert_eq!(q["state"], "adv");
    let (s, t) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "bot identify");
    assert!(t["refresh_token"].is_string());
    let guild = &t["guild"];
    assert_eq!(guild["id"], fixture::SECOND_GUILD_ID);
    assert_eq!(guild["name"], "Lena's Lounge");
    assert_eq!(guild["owner_id"], fixture::LENA_ID);
    assert_eq!(guild["roles"][0]["name"], "@everyone");
    assert_eq!(guild["roles"][0]["id"], fixture::SECOND_GUILD_ID);
    assert_eq!(guild["roles"][0]["permissions_new"], "104324673");
    assert_eq!(guild["max_video_channel_users"], 25);
    assert_eq!(guild["preferred_locale"], "en-US");
    assert!(guild["emojis"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn webhook_incoming_returns_a_webhook() {
    let mock = MockDiscord::builder().auto_consent(true).start().await.unwrap();
    let http = http();
    let resp = http
        .get(authorize_url(&mock, &code_params("webhook.incoming", "wh", None)))
        .send()
        .await
        .unwrap();
    let q = params_of(&location(&resp), false);
    assert!(!q.contains_key("guild_id"), "guild_id is for bot authorizations");
    let (s, t) = json_of(exchange(&http, &mock, &q["code"], None).await).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "webhook.incoming");
    assert!(t.get("guild").is_none());
    let w = &t["webhook"];
    assert_eq!(w["type"], 1);
    assert_eq!(w["application_id"], fixture::CLIENT_ID);
    assert_eq!(w["guild_id"], fixture::GUILD_ID);
    assert_eq!(w["channel_id"], "1200000000000000002");
    assert_eq!(w["name"], "Mock Webhook");
    assert!(w["avatar"].is_null());
    let token = w["token"].as_str().unwrap();
    assert_eq!(token.len(), 68);
    let id = w["id"].as_str().unwrap();
    assert!(id.parse::<u64>().is_ok());
    assert_eq!(w["url"], format!("{}/api/webhooks/{id}/{token}", mock.base_url()));
}

async fn put_member(mock: &MockDiscord, auth: &str, guild: &str, user: &str, body: &str) -> reqwest::Response {
    http()
        .put(format!("{}/guilds/{guild}/members/{user}", mock.api_base()))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn add_guild_member_with_guilds_join() {
    let mock = MockDiscord::start().await.unwrap();
    mock.add_user(MockUser::new("600000000000000001", "newcomer"));
    let bot = format!("Bot {}", fixture::BOT_TOKEN);
    let user = "600000000000000001";
    let t = mock.issue_tokens(user, "identify guilds.join").unwrap();
    let body =
        json!({"access_token": t.access_token, "nick": "Newbie", "roles": [fixture::MEMBER_ROLE_ID]}).to_string();

    let resp = put_member(&mock, &bot, fixture::GUILD_ID, user, &body).await;
    let (s, m) = json_of(resp).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["nick"], "Newbie");
    assert_eq!(m["roles"], json!([fixture::MEMBER_ROLE_ID]));
    assert_eq!(m["user"]["id"], user);
    assert!(mock.is_member(fixture::GUILD_ID, user));

    let resp = put_member(&mock, &bot, fixture::GUILD_ID, user, &body).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.unwrap().is_empty());

    // Errors, in Discord's shapes.
    let no_join = mock.issue_tokens(user, "identify").unwrap();
    let cases: Vec<(String, &str, &str, String, StatusCode, serde_json::Value)> = vec![
        (
            bot.clone(),
            fixture::SECOND_GUILD_ID,
            user,
            json!({"access_token": no_join.access_token}).to_string(),
            StatusCode::FORBIDDEN,
            api_err(errors::MISSING_ACCESS),
        ),
        (
            bot.clone(),
            fixture::SECOND_GUILD_ID,
            user,
            json!({"access_token": "bogus"}).to_string(),
            StatusCode::FORBIDDEN,
            api_err(errors::INVALID_OAUTH2_ACCESS_TOKEN),
        ),
        (
            bot.clone(),
            fixture::SECOND_GUILD_ID,
            fixture::NOVA_ID,
            json!({"access_token": t.access_token}).to_string(),
            StatusCode::FORBIDDEN,
            api_err(errors::INVALID_OAUTH2_ACCESS_TOKEN),
        ),
        (
            bot.clone(),
            fixture::THIRD_GUILD_ID,
            user,
            body.clone(),
            StatusCode::FORBIDDEN,
            api_err(errors::MISSING_ACCESS),
        ),
        (
            bot.clone(),
            "1",
            user,
            body.clone(),
            StatusCode::NOT_FOUND,
            api_err(errors::UNKNOWN_GUILD),
        ),
        (
            bot.clone(),
            fixture::SECOND_GUILD_ID,
            "2",
            body.clone(),
            StatusCode::NOT_FOUND,
            api_err(errors::UNKNOWN_USER),
        ),
        (
            bot.clone(),
            fixture::SECOND_GUILD_ID,
            user,
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
            api_err(errors::INVALID_JSON),
        ),
        (
            format!("Bearer {}", t.access_token),
            fixture::SECOND_GUILD_ID,
            user,
            body.clone(),
            StatusCode::UNAUTHORIZED,
            api_err(errors::UNAUTHORIZED),
        ),
        (
            "Bot wrong".to_owned(),
            fixture::SECOND_GUILD_ID,
            user,
            body.clone(),
            StatusCode::UNAUTHORIZED,
            api_err(errors::UNAUTHORIZED),
        ),
    ];
    for (auth, guild, u, b, status, expected) in cases {
        let (s, v) = json_of(put_member(&mock, &auth, guild, u, &b).await).await;
        assert_eq!((s, &v), (status, &expected), "{auth} {guild} {u} {b}");
    }
    let (s, v) = json_of(put_member(&mock, &bot, fixture::SECOND_GUILD_ID, user, "{}").await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], 50035);
    assert_eq!(v["message"], "Invalid Form Body");
    assert_eq!(v["errors"]["access_token"]["_errors"][0]["code"], "BASE_TYPE_REQUIRED");
    assert!(!mock.is_member(fixture::SECOND_GUILD_ID, user));
}
