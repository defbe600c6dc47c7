//! The user API: scope gates, shapes, paging, Discord's error bodies, rate-limit headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use discord_oauth_mock::{ALL_PERMISSIONS, MockDiscord, errors, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn role_connection_path() -> String {
    format!("/users/@me/applications/{}/role-connection", fixture::CLIENT_ID)
}

#[tokio::test]
async fn every_scope_gated_endpoint_with_and_without_its_scope() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let member_path = format!("/users/@me/guilds/{}/member", fixture::GUILD_ID);
    let rc_path = role_connection_path();
    let table: [(&str, &str); 6] = [
        ("/users/@me", "identify"),
        ("/users/@me/guilds", "guilds"),
        (&member_path, "guilds.members.read"),
        ("/users/@me/connections", "connections"),
        ("/oauth2/userinfo", "openid"),
        (&rc_path, "role_connections.write"),
    ];
    let unrelated = mock.issue_tokens(fixture::WUMPUS_ID, "gdm.join email").unwrap();
    for (path, scope) in table {
        let with = mock.issue_tokens(fixture::WUMPUS_ID, scope).unwrap();
        let (s, body) = get_api(&http, &mock, path, &with.access_token).await;
        assert_eq!(s, StatusCode::OK, "{path} with {scope}: {body}");
        let (s, body) = get_api(&http, &mock, path, &unrelated.access_token).await;
        assert_eq!(
            (s, body),
            (StatusCode::FORBIDDEN, api_err(errors::MISSING_ACCESS)),
            "{path} without {scope}"
        );
        let (s, body) = get_api(&http, &mock, path, "not-a-token").await;
        assert_eq!(
            (s, body),
            (StatusCode::UNAUTHORIZED, api_err(errors::UNAUTHORIZED)),
            "{path} bad token"
        );
        let resp = http.get(format!("{}{path}", mock.api_base())).send().await.unwrap();
        let (s, body) = json_of(resp).await;
        assert_eq!(
            (s, body),
            (StatusCode::UNAUTHORIZED, api_err(errors::UNAUTHORIZED)),
            "{path} no token"
        );
    }
}

#[tokio::test]
async fn current_user_shapes() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let (_, me) = get_api(&http, &mock, "/users/@me", &t.access_token).await;
    for key in [
        "id",
        "username",
        "avatar",
        "discriminator",
        "public_flags",
        "flags",
        "global_name",
        "mfa_enabled",
        "locale",
        "premium_type",
        "banner",
        "accent_color",
    ] {
        assert!(me.get(key).is_some(), "missing {key}");
    }
    assert!(me.get("email").is_none() && me.get("verified").is_none());
    assert_eq!(me["global_name"], "Wumpus");
    assert_eq!(me["discriminator"], "0");

    let t = mock.issue_tokens(fixture::NOVA_ID, "identify email").unwrap();
    let (_, me) = get_api(&http, &mock, "/users/@me", &t.access_token).await;
    assert!(me["email"].is_null() && me["avatar"].is_null() && me["global_name"].is_null());
    assert_eq!(me["verified"], false);

    // A bot token gets the bot user.
    let resp = http
        .get(format!("{}/users/@me", mock.api_base()))
        .header("authorization", format!("Bot {}", fixture::BOT_TOKEN))
        .send()
        .await
        .unwrap();
    let (s, bot) = json_of(resp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bot["bot"], true);
    assert_eq!(bot["id"], fixture::CLIENT_ID);
}

#[tokio::test]
async fn guild_list_permissions_paging_and_counts() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "guilds").unwrap();
    let (_, all) = get_api(&http, &mock, "/users/@me/guilds", &t.access_token).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["id"], fixture::GUILD_ID);
    assert_eq!(all[0]["owner"], true);
    assert_eq!(all[0]["permissions"], ALL_PERMISSIONS.to_string());
    assert_eq!(all[0]["features"], json!(["COMMUNITY", "NEWS"]));
    assert!(all[0].get("approximate_member_count").is_none());
    assert_eq!(all[1]["id"], fixture::SECOND_GUILD_ID);
    assert_eq!(all[1]["owner"], false);
    assert_eq!(all[1]["permissions"], (0x637_de41_u64 | (1 << 5)).to_string());
    for key in ["id", "name", "icon", "banner", "owner", "permissions", "features"] {
        assert!(all[1].get(key).is_some(), "missing {key}");
    }

    let page = |q: &'static str| {
        let http = http.clone();
        let mock = mock.clone();
        let token = t.access_token.clone();
        async move { get_api(&http, &mock, &format!("/users/@me/guilds{q}"), &token).await }
    };
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&page("?limit=1").await.1), vec![fixture::GUILD_ID]);
    assert_eq!(
        ids(&page("?after=1200000000000000001").await.1),
        vec![fixture::SECOND_GUILD_ID]
    );
    assert_eq!(
        ids(&page("?before=1200000000000000100").await.1),
        vec![fixture::GUILD_ID]
    );
    assert_eq!(
        ids(&page("?before=1300000000000000000&limit=1").await.1),
        vec![fixture::SECOND_GUILD_ID]
    );
    assert!(ids(&page("?after=1300000000000000000").await.1).is_empty());
    let (_, counted) = page("?with_counts=true").await;
    assert_eq!(counted[0]["approximate_member_count"], 42);
    assert_eq!(counted[0]["approximate_presence_count"], 17);

    for (q, field, code) in [
        ("?limit=0", "limit", "NUMBER_TYPE_MIN"),
        ("?limit=201", "limit", "NUMBER_TYPE_MAX"),
        ("?limit=ten", "limit", "NUMBER_TYPE_COERCE"),
        ("?before=abc", "before", "NUMBER_TYPE_COERCE"),
        ("?after=-1", "after", "NUMBER_TYPE_COERCE"),
        ("?with_counts=maybe", "with_counts", "BOOLEAN_TYPE_COERCE"),
    ] {
        let (s, v) = page(q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["code"], 50035);
        assert_eq!(v["errors"][field]["_errors"][0]["code"], code, "{q}: {v}");
    }
    assert_eq!(page("?limit=200").await.0, StatusCode::OK);
}

#[tokio::test]
async fn guild_member_and_unknown_guild() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::LENA_ID, "guilds.members.read").unwrap();
    let (s, m) = get_api(
        &http,
        &mock,
        &format!("/users/@me/guilds/{}/member", fixture::GUILD_ID),
        &t.access_token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["nick"], "Lena");
    assert_eq!(m["roles"], json!([fixture::MODERATOR_ROLE_ID, fixture::MEMBER_ROLE_ID]));
    assert_eq!(m["user"]["id"], fixture::LENA_ID);
    assert!(m["user"].get("email").is_none());
    for key in [
        "avatar",
        "banner",
        "communication_disabled_until",
        "flags",
        "joined_at",
        "nick",
        "pending",
        "premium_since",
        "roles",
        "user",
        "mute",
        "deaf",
    ] {
        assert!(m.get(key).is_some(), "missing {key}");
    }
    let wumpus = mock.issue_tokens(fixture::WUMPUS_ID, "guilds.members.read").unwrap();
    for guild in [fixture::THIRD_GUILD_ID, "1", "not-a-snowflake"] {
        let (s, v) = get_api(
            &http,
            &mock,
            &format!("/users/@me/guilds/{guild}/member"),
            &wumpus.access_token,
        )
        .await;
        assert_eq!(
            (s, v),
            (StatusCode::NOT_FOUND, api_err(errors::UNKNOWN_GUILD)),
            "{guild}"
        );
    }
    // Removing a member makes the guild unknown to them.
    assert!(mock.remove_member(fixture::SECOND_GUILD_ID, fixture::WUMPUS_ID));
    let (s, _) = get_api(
        &http,
        &mock,
        &format!("/users/@me/guilds/{}/member", fixture::SECOND_GUILD_ID),
        &wumpus.access_token,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connections_list() {
    let mock = MockDiscord::start().await.unwrap();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "connections").unwrap();
    let (_, v) = get_api(&http(), &mock, "/users/@me/connections", &t.access_token).await;
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["type"], "github");
    assert_eq!(v[0]["name"], "wumpus-codes");
    assert_eq!(v[1]["visibility"], 0);
    for key in [
        "id",
        "name",
        "type",
        "friend_sync",
        "show_activity",
        "two_way_link",
        "verified",
        "visibility",
    ] {
        assert!(v[0].get(key).is_some(), "missing {key}");
    }
    let t = mock.issue_tokens(fixture::NOVA_ID, "connections").unwrap();
    let (_, v) = get_api(&http(), &mock, "/users/@me/connections", &t.access_token).await;
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn current_authorization_information() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify guilds.join").unwrap();
    let (s, v) = get_api(&http, &mock, "/oauth2/@me", &t.access_token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["application"]["id"], fixture::CLIENT_ID);
    assert_eq!(v["application"]["name"], "Mock Discord App");
    assert_eq!(v["application"]["bot_public"], true);
    assert_eq!(v["scopes"], json!(["identify", "guilds.join"]));
    let expires = v["expires"].as_str().unwrap();
    assert_eq!(expires.len(), "2021-01-23T02:33:17.017000+00:00".len());
    assert!(expires.ends_with("+00:00"));
    assert_eq!(v["user"]["id"], fixture::WUMPUS_ID);
    assert!(v["user"].get("email").is_none());
    // Any scope works; no identify = no user.
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "guilds").unwrap();
    let (s, v) = get_api(&http, &mock, "/oauth2/@me", &t.access_token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("user").is_none());
}

#[tokio::test]
async fn current_application_needs_a_bot_token() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let resp = http
        .get(format!("{}/oauth2/applications/@me", mock.api_base()))
        .header("authorization", format!("Bot {}", fixture::BOT_TOKEN))
        .send()
        .await
        .unwrap();
    let (s, app) = json_of(resp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app["id"], fixture::CLIENT_ID);
    assert_eq!(app["bot"]["id"], fixture::CLIENT_ID);
    assert_eq!(app["owner"]["id"], fixture::WUMPUS_ID);
    assert_eq!(app["approximate_guild_count"], 2);
    assert_eq!(app["redirect_uris"], json!(fixture::REDIRECT_URIS));
    for key in [
        "id",
        "name",
        "icon",
        "description",
        "type",
        "verify_key",
        "flags",
        "flags_new",
        "redirect_uris",
        "interactions_endpoint_url",
        "role_connections_verification_url",
        "owner",
        "approximate_guild_count",
        "approximate_user_install_count",
        "approximate_user_authorization_count",
        "explicit_content_filter",
        "team",
        "eligible_oauth2_scopes",
    ] {
        assert!(app.get(key).is_some(), "missing {key}");
    }
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    let (s, v) = get_api(&http, &mock, "/oauth2/applications/@me", &t.access_token).await;
    assert_eq!((s, v), (StatusCode::UNAUTHORIZED, api_err(errors::UNAUTHORIZED)));
}

#[tokio::test]
async fn role_connection_round_trip_and_validation() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "role_connections.write").unwrap();
    let put = |path: String, body: String| {
        let http = http.clone();
        let token = t.access_token.clone();
        let base = mock.api_base();
        async move {
            let resp = http
                .put(format!("{base}{path}"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            json_of(resp).await
        }
    };
    let (_, empty) = get_api(&http, &mock, &role_connection_path(), &t.access_token).await;
    assert_eq!(
        empty,
        json!({"platform_name": null, "platform_username": null, "metadata": {}})
    );

    let body = json!({"platform_name": "Mock Game", "platform_username": "wump", "metadata": {"level": "12", "verified_at": "2024-01-01"}});
    let (s, v) = put(role_connection_path(), body.to_string()).await;
    assert_eq!((s, &v), (StatusCode::OK, &body));
    let (_, got) = get_api(&http, &mock, &role_connection_path(), &t.access_token).await;
    assert_eq!(got, body);
    assert_eq!(mock.role_connection(fixture::CLIENT_ID, fixture::WUMPUS_ID), Some(body));

    let long = "x".repeat(51);
    let six: serde_json::Map<String, Value> = (0..6).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (b, field) in [
        (json!({"platform_name": long}), "platform_name"),
        (json!({"platform_username": 5}), "platform_username"),
        (json!({"metadata": six}), "metadata"),
        (json!({"metadata": {"level": 12}}), "metadata"),
        (json!({"metadata": {"level": ""}}), "metadata"),
        (json!({"metadata": []}), "metadata"),
    ] {
        let (s, v) = put(role_connection_path(), b.to_string()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(v["code"], 50035);
        assert!(v["errors"].get(field).is_some(), "{b}: {v}");
    }
    let (s, v) = put(role_connection_path(), "nope".into()).await;
    assert_eq!((s, v), (StatusCode::BAD_REQUEST, api_err(errors::INVALID_JSON)));
    // Another application's role connection is off limits.
    let other = format!("/users/@me/applications/{}/role-connection", fixture::TEAM_CLIENT_ID);
    let (s, v) = put(other, "{}".into()).await;
    assert_eq!((s, v), (StatusCode::FORBIDDEN, api_err(errors::MISSING_ACCESS)));
}

#[tokio::test]
async fn keys_need_no_auth_and_match_the_published_constants() {
    let mock = MockDiscord::start().await.unwrap();
    let resp = http().get(mock.keys_url()).send().await.unwrap();
    let (s, v) = json_of(resp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["keys"][0]["n"], discord_oauth_mock::JWK_N);
    assert_eq!(v["keys"][0]["e"], "AQAB");
    assert_eq!(v["keys"][0]["kid"], discord_oauth_mock::KEY_ID);
}

#[tokio::test]
async fn rate_limit_headers_on_api_responses_only() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let t = mock.issue_tokens(fixture::WUMPUS_ID, "identify").unwrap();
    for url in [
        format!("{}/users/@me", mock.api_base()),
        format!("{}/api/users/@me", mock.base_url()),
        format!("{}/api/v9/users/@me", mock.base_url()),
        mock.keys_url(),
        format!("{}/nope", mock.api_base()),
    ] {
        let resp = http.get(&url).bearer_auth(&t.access_token).send().await.unwrap();
        for h in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-reset-after",
            "x-ratelimit-bucket",
        ] {
            assert!(resp.headers().contains_key(h), "{url}: {h}");
        }
    }
    let token = token_request(&http, &mock, &[("grant_type", "nope")]).await;
    assert!(token.headers().contains_key("x-ratelimit-bucket"));
    let page = http.get(mock.authorize_url()).send().await.unwrap();
    assert!(!page.headers().contains_key("x-ratelimit-bucket"));
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let mock = MockDiscord::start().await.unwrap();
    let http = http();
    let (s, v) = json_of(
        http.get(format!("{}/channels/1", mock.api_base()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v), (StatusCode::NOT_FOUND, api_err(errors::NOT_FOUND)));
    let (s, v) = json_of(
        http.delete(format!("{}/users/@me", mock.api_base()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v),
        (StatusCode::METHOD_NOT_ALLOWED, api_err(errors::METHOD_NOT_ALLOWED))
    );
    let (s, v) = json_of(http.get(mock.token_url()).send().await.unwrap()).await;
    assert_eq!(
        (s, v),
        (StatusCode::METHOD_NOT_ALLOWED, api_err(errors::METHOD_NOT_ALLOWED))
    );
    let resp = http.get(format!("{}/elsewhere", mock.base_url())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The consent form rejects junk.
    let resp = http
        .post(mock.authorize_url())
        .form(&[("action", "explode")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http
        .post(mock.authorize_url())
        .body("action=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Oversized bodies are refused, not buffered (the server may also cut the upload short).
    if let Ok(resp) = http.post(mock.token_url()).body(vec![b'a'; 2 << 20]).send().await {
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // ...and the mock is still serving.
    assert_eq!(http.get(mock.keys_url()).send().await.unwrap().status(), StatusCode::OK);
}
