//! The CDN: Discord serves images from `https://cdn.discordapp.com`, the mock from
//! `{base}/cdn` ([`crate::MockDiscord::cdn_base`]), so that pages showing the mock's users
//! (the sample sites' offline demo) show pictures rather than broken images.
//!
//! Served, for what the mock knows: `avatars/{user_id}/{hash}`, `banners/{user_id}/{hash}`,
//! `embed/avatars/{0..=5}.png` (default avatars), `icons/{guild_id}/{hash}`,
//! `banners/{guild_id}/{hash}`, `app-icons/{application_id}/{hash}`, where the file is
//! `{hash}.png`, or `{hash}.gif` for animated (`a_`) hashes. Every picture is the same small
//! generated image; `?size=` must be a power of two from 16 to 4096, as on Discord. Anything
//! else is a `404`.

use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::state::{Shared, State};

/// The CDN's path on the mock's origin.
pub(crate) const PREFIX: &str = "/cdn";

const PNG: &[u8] = include_bytes!("../assets/avatar.png");
const GIF: &[u8] = include_bytes!("../assets/avatar.gif");

/// The query the CDN reads.
#[derive(Debug, Deserialize)]
pub(crate) struct ImageQuery {
    size: Option<String>,
}

/// `GET /cdn/{*path}`.
pub(crate) async fn image(
    AxState(shared): AxState<Arc<Shared>>,
    Path(path): Path<String>,
    Query(query): Query<ImageQuery>,
) -> Response {
    if let Some(size) = &query.size
        && !size
            .parse::<u32>()
            .is_ok_and(|px| px.is_power_of_two() && (16..=4096).contains(&px))
    {
        return (StatusCode::BAD_REQUEST, "size must be a power of two from 16 to 4096").into_response();
    }
    let segments: Vec<&str> = path.split('/').collect();
    let Some((file, folders)) = segments.split_last() else {
        return not_found();
    };
    let Some((hash, ext)) = file.rsplit_once('.') else {
        return not_found();
    };
    let (body, content_type) = match ext {
        "png" => (PNG, "image/png"),
        "gif" if hash.starts_with("a_") => (GIF, "image/gif"),
        _ => return not_found(),
    };
    if !exists(&shared.lock(), folders, hash) {
        return not_found();
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// Whether the mock has an image with `hash` at `folders`.
fn exists(st: &State, folders: &[&str], hash: &str) -> bool {
    let is = |known: Option<&String>| known.is_some_and(|k| k == hash);
    match folders {
        ["embed", "avatars"] => hash.parse::<u8>().is_ok_and(|index| index <= 5),
        ["avatars", user] => is(st.users.get(*user).and_then(|u| u.avatar.as_ref())),
        ["banners", id] => {
            is(st.users.get(*id).and_then(|u| u.banner.as_ref()))
                || is(st.guilds.get(*id).and_then(|g| g.banner.as_ref()))
        }
        ["icons", guild] => is(st.guilds.get(*guild).and_then(|g| g.icon.as_ref())),
        ["app-icons", app] => is(st.clients.get(*app).and_then(|c| c.icon.as_ref())),
        _ => false,
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404: Not Found").into_response()
}
