//! The sample sites' pages: the same HTML and JSON on every framework.

use std::fmt::{Display, Write as _};
use std::sync::Arc;

use discord_oauth_core::Scope;
use discord_oauth_core::Scopes;
use discord_oauth_core::api::client::UserCalls;
use discord_oauth_core::api::{GuildsQuery, User};
use discord_oauth_core::cdn::{CDN_BASE, ImageSize};
use discord_oauth_core::login::html_escape;
use url::Url;

/// Renders the home page and `/me`. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Page(Arc<Settings>);

#[derive(Debug)]
struct Settings {
    framework: String,
    offline_mock: Option<String>,
    cdn_base: Url,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:40rem;margin:3rem auto}\
.banner{background:#fff3cd;padding:.5rem}.button,button{background:#5865f2;color:#fff;padding:.6rem 1rem;\
border:0;border-radius:4px;text-decoration:none;font-size:1rem}img{border-radius:50%}";

impl Page {
    /// The pages of the `framework` sample; `offline_mock`: the mock Discord's URL, shown in a
    /// banner; `cdn_base`: where avatars are (`https://cdn.discordapp.com` on Discord).
    pub fn new(framework: &str, offline_mock: Option<String>, cdn_base: Url) -> Self {
        Self(Arc::new(Settings {
            framework: framework.to_owned(),
            offline_mock,
            cdn_base,
        }))
    }

    /// The URL of `user`'s avatar (128 px), on this site's CDN.
    pub fn avatar_url(&self, user: &User) -> Url {
        // The core builds Discord's CDN URLs; only the origin (and a path prefix) differ here.
        let url = user.avatar_url(Some(ImageSize::at_least(128)));
        let mut rebased = self.0.cdn_base.clone();
        let path = url.as_str().strip_prefix(CDN_BASE).unwrap_or(url.path());
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        rebased.set_path(&format!("{}{path}", self.0.cdn_base.path().trim_end_matches('/')));
        rebased.set_query(query);
        rebased
    }

    /// `/me`: the user as JSON, with its Discord `id`.
    pub fn me(&self, user: &User, scopes: &Scopes) -> serde_json::Value {
        serde_json::json!({
            "id": user.id.to_string(),
            "username": user.username,
            "global_name": user.global_name,
            "avatar_url": self.avatar_url(user).to_string(),
            "scopes": scopes.to_string(),
        })
    }

    /// `/`: logged out, a "Log in with Discord" button; logged in, the avatar, the names, the
    /// user's guilds (asked through `client`, the library's API client with its read cache),
    /// and the "Log out" and "Log out of all devices" buttons.
    pub async fn home<C>(&self, user: Option<(&User, &Scopes)>, client: Option<&C>) -> String
    where
        C: UserCalls,
        C::Error: Display,
    {
        let banner = self.0.offline_mock.as_ref().map_or_else(String::new, |base| {
            format!(
                "<p class=\"banner\">Offline demo: logging in against the mock Discord at <code>{}</code>. \
                 Set <code>DISCORD_CLIENT_ID</code> to use discord.com.</p>",
                html_escape(base)
            )
        });
        let body = match user {
            Some((user, scopes)) => {
                let guilds = match client {
                    Some(client) if scopes.contains(&Scope::Guilds) => guild_list(client).await,
                    _ => String::new(),
                };
                format!(
                    "<div class=\"user\"><img src=\"{avatar}\" alt=\"avatar of {name}\" width=\"96\" height=\"96\">\
                     <h1 id=\"display-name\">{name}</h1><p id=\"username\">@{username}</p></div>{guilds}\
                     <form method=\"post\" action=\"/auth/logout\"><button type=\"submit\" id=\"logout\">Log out</button></form>\
                     <form method=\"post\" action=\"/auth/logout?everywhere=1\"><button type=\"submit\" \
                     id=\"logout-everywhere\">Log out of all devices</button></form>",
                    avatar = html_escape(self.avatar_url(user).as_str()),
                    name = html_escape(user.display_name()),
                    username = html_escape(&user.username),
                )
            }
            None => "<h1>Welcome</h1><p>You are not logged in.</p>\
                 <p><a class=\"button\" id=\"login\" href=\"/auth/login?return_to=%2F\">Log in with Discord</a></p>"
                .to_owned(),
        };
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>discord-oauth {} sample</title><meta name=\"viewport\" content=\"width=device-width\">\
             <style>{STYLE}</style></head><body>{banner}{body}</body></html>",
            html_escape(&self.0.framework)
        )
    }
}

/// The user's guilds as a list.
async fn guild_list<C>(client: &C) -> String
where
    C: UserCalls,
    C::Error: Display,
{
    match client.guilds(&GuildsQuery::default()).await {
        Ok(guilds) if guilds.is_empty() => "<p>You are in no guilds.</p>".to_owned(),
        Ok(guilds) => {
            let items = guilds.iter().fold(String::new(), |mut items, g| {
                let _ = write!(items, "<li>{}</li>", html_escape(&g.name));
                items
            });
            format!("<h2>Your guilds</h2><ul class=\"guilds\">{items}</ul>")
        }
        Err(e) => format!("<p>Could not load your guilds: {}</p>", html_escape(&e.to_string())),
    }
}

/// `/me`'s `401` body when nobody is logged in.
pub fn not_logged_in() -> serde_json::Value {
    serde_json::json!({ "error": "unauthorized", "login_url": "/auth/login?return_to=%2Fme" })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(avatar: Option<&str>) -> User {
        serde_json::from_value(serde_json::json!({
            "id": "80351110224678912", "username": "nelly", "discriminator": "0",
            "global_name": "Nelly <3", "avatar": avatar,
        }))
        .unwrap()
    }

    #[test]
    fn avatars_come_from_the_configured_cdn() {
        let discord = Page::new("axum", None, CDN_BASE.parse().unwrap());
        let mock = Page::new("axum", None, "http://127.0.0.1:9/cdn".parse().unwrap());
        let hash = "8342729096ea3675442027381ff50dfe";
        assert_eq!(
            discord.avatar_url(&user(Some(hash))).as_str(),
            format!("{CDN_BASE}/avatars/80351110224678912/{hash}.png?size=128")
        );
        assert_eq!(
            mock.avatar_url(&user(Some(hash))).as_str(),
            format!("http://127.0.0.1:9/cdn/avatars/80351110224678912/{hash}.png?size=128")
        );
        assert_eq!(
            mock.avatar_url(&user(None)).as_str(),
            "http://127.0.0.1:9/cdn/embed/avatars/5.png"
        );
        let me = mock.me(&user(None), &Scopes::new());
        assert_eq!(me["id"], "80351110224678912");
        assert_eq!(me["avatar_url"], "http://127.0.0.1:9/cdn/embed/avatars/5.png");
    }
}
