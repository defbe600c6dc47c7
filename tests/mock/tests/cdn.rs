//! The CDN: the images of what the mock knows, at the paths Discord's CDN uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{get_api, http};
use discord_oauth_core::Snowflake;
use discord_oauth_core::cdn::{self, ImageSize};
use discord_oauth_mock::{MockDiscord, fixture};

/// `url` (built for `https://cdn.discordapp.com`) on the mock's CDN.
fn on_mock(mock: &MockDiscord, url: &url::Url) -> String {
    let path = url.as_str().trim_start_matches(cdn::CDN_BASE);
    format!("{}{path}", mock.cdn_base())
}

async fn fetch(url: &str) -> (u16, String, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn avatars_default_avatars_and_icons_are_served() {
    let mock = MockDiscord::start().await.unwrap();
    let id = |s: &str| Snowflake::new(s.parse().unwrap());
    let size = ImageSize::new(128);
    let png = [
        // Lena's static avatar, nova's default avatar, the guild's icon.
        cdn::user_avatar(id(fixture::LENA_ID), "8342729096ea3675442027381ff50dfe", size),
        cdn::default_avatar(id(fixture::NOVA_ID), "0"),
        cdn::default_avatar(id(fixture::LENA_ID), "4821"),
        cdn::guild_icon(id(fixture::GUILD_ID), "1f6d6c1c3a1e5e0e1a2b3c4d5e6f7a8b", None),
        // An animated avatar asked for as a still picture.
        cdn::user_avatar(id(fixture::WUMPUS_ID), "a_1269e74af4df7417b13759eae50c83dc", size)
            .as_str()
            .replace(".gif", ".png")
            .parse()
            .unwrap(),
    ];
    for url in &png {
        let (status, content_type, body) = fetch(&on_mock(&mock, url)).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"), "{url}");
        assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"), "{url}: a PNG");
    }
    let animated = cdn::user_avatar(id(fixture::WUMPUS_ID), "a_1269e74af4df7417b13759eae50c83dc", size);
    let (status, content_type, body) = fetch(&on_mock(&mock, &animated)).await;
    assert_eq!((status, content_type.as_str()), (200, "image/gif"));
    assert!(body.starts_with(b"GIF89a"));
    // What the userinfo endpoint hands out is served too.
    let tokens = mock.issue_tokens(fixture::NOVA_ID, "openid").unwrap();
    let (status, info) = get_api(&http(), &mock, "/oauth2/userinfo", &tokens.access_token).await;
    assert_eq!(status, 200);
    let picture = info["picture"].as_str().unwrap();
    assert!(picture.starts_with(&mock.cdn_base()), "{picture}");
    assert_eq!(fetch(picture).await.0, 200);
}

#[tokio::test]
async fn unknown_images_and_bad_sizes_are_refused() {
    let mock = MockDiscord::start().await.unwrap();
    let base = mock.cdn_base();
    for path in [
        format!("/avatars/{}/0123456789abcdef0123456789abcdef.png", fixture::LENA_ID),
        "/avatars/999/8342729096ea3675442027381ff50dfe.png".to_owned(),
        format!("/avatars/{}/8342729096ea3675442027381ff50dfe.gif", fixture::LENA_ID),
        "/embed/avatars/6.png".to_owned(),
        "/nothing-here.png".to_owned(),
    ] {
        assert_eq!(fetch(&format!("{base}{path}")).await.0, 404, "{path}");
    }
    let lena = format!(
        "{base}/avatars/{}/8342729096ea3675442027381ff50dfe.png",
        fixture::LENA_ID
    );
    assert_eq!(fetch(&format!("{lena}?size=100")).await.0, 400);
    assert_eq!(fetch(&format!("{lena}?size=4096")).await.0, 200);
}
