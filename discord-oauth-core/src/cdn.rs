//! URLs of images on Discord's CDN (`https://cdn.discordapp.com`): avatars, banners, guild
//! icons.
//!
//! Hashes starting with `a_` are animated and get a `.gif` URL; every other image is `.png`.
//! Hashes are inserted as a single, percent-encoded path segment, so a hostile hash can never
//! change the URL's host or path structure.
//!
//! ```
//! use discord_oauth_core::{Snowflake, cdn::{self, ImageSize}};
//! let id = Snowflake::new(80351110224678912);
//! assert_eq!(
//!     cdn::user_avatar(id, "8342729096ea3675442027381ff50dfe", ImageSize::new(128)).as_str(),
//!     "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png?size=128"
//! );
//! // New-username users: (id >> 22) % 6.
//! assert_eq!(cdn::default_avatar(id, "0").as_str(), "https://cdn.discordapp.com/embed/avatars/5.png");
//! // Legacy users: discriminator % 5.
//! assert_eq!(cdn::default_avatar(id, "1337").as_str(), "https://cdn.discordapp.com/embed/avatars/2.png");
//! ```

use url::Url;

use crate::Snowflake;

/// The CDN's origin.
pub const CDN_BASE: &str = "https://cdn.discordapp.com";

/// An image size the CDN accepts: a power of two from 16 to 4096.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageSize(u16);

impl ImageSize {
    /// The smallest size, 16 px.
    pub const MIN: Self = Self(16);
    /// The largest size, 4096 px.
    pub const MAX: Self = Self(4096);

    /// `Some` if `px` is a power of two in `16..=4096`.
    pub fn new(px: u32) -> Option<Self> {
        if px.is_power_of_two() && (16..=4096).contains(&px) {
            u16::try_from(px).ok().map(Self)
        } else {
            None
        }
    }

    /// The smallest valid size at least `px` (clamped to `16..=4096`).
    ///
    /// ```
    /// use discord_oauth_core::cdn::ImageSize;
    /// assert_eq!(ImageSize::at_least(100).get(), 128);
    /// assert_eq!(ImageSize::at_least(0).get(), 16);
    /// assert_eq!(ImageSize::at_least(1_000_000).get(), 4096);
    /// ```
    pub fn at_least(px: u32) -> Self {
        let clamped = px.clamp(16, 4096).next_power_of_two();
        Self(u16::try_from(clamped).unwrap_or(4096))
    }

    /// The size in pixels.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// Builds `{CDN_BASE}/{segments…}` with the last segment being `{hash}.{ext}`, plus `?size=`.
fn image(prefix: &[&str], hash: &str, size: Option<ImageSize>) -> Url {
    let ext = if hash.starts_with("a_") { "gif" } else { "png" };
    let mut url = base();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        segments.extend(prefix);
        segments.push(&format!("{hash}.{ext}"));
    }
    if let Some(size) = size {
        url.query_pairs_mut().append_pair("size", &size.get().to_string());
    }
    url
}

fn base() -> Url {
    match Url::parse(CDN_BASE) {
        Ok(u) => u,
        Err(_) => unreachable!("the CDN base URL is a valid constant"),
    }
}

/// A user's avatar: `avatars/{user_id}/{hash}.png` (or `.gif` for `a_` hashes).
///
/// ```
/// use discord_oauth_core::{Snowflake, cdn::{self, ImageSize}};
///
/// let id = Snowflake::new(80351110224678912);
/// let gif = cdn::user_avatar(id, "a_1269e74af4df7417b13759eae50c83dc", Some(ImageSize::at_least(100)));
/// assert_eq!(
///     gif.as_str(),
///     "https://cdn.discordapp.com/avatars/80351110224678912/a_1269e74af4df7417b13759eae50c83dc.gif?size=128"
/// );
/// // A hostile hash stays one path segment.
/// let odd = cdn::user_avatar(id, "../../evil", None);
/// assert_eq!(odd.host_str(), Some("cdn.discordapp.com"));
/// assert!(odd.path().starts_with("/avatars/80351110224678912/"));
/// ```
pub fn user_avatar(user_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(&["avatars", &user_id.to_string()], hash, size)
}

/// Discord's default avatar for a user without one: `embed/avatars/{index}.png`, where
/// `index` is `(user_id >> 22) % 6` for users on the new username system (discriminator
/// `"0"`) and `discriminator % 5` for legacy users.
pub fn default_avatar(user_id: Snowflake, discriminator: &str) -> Url {
    let index = match discriminator.parse::<u64>() {
        Ok(d) if d != 0 => d % 5,
        _ => (user_id.get() >> 22) % 6,
    };
    let mut url = base();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        segments.extend(["embed", "avatars", &format!("{index}.png")]);
    }
    url
}

/// A user's profile banner: `banners/{user_id}/{hash}.png` (or `.gif`).
pub fn user_banner(user_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(&["banners", &user_id.to_string()], hash, size)
}

/// A guild's icon: `icons/{guild_id}/{hash}.png` (or `.gif`).
pub fn guild_icon(guild_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(&["icons", &guild_id.to_string()], hash, size)
}

/// A guild's banner: `banners/{guild_id}/{hash}.png` (or `.gif`).
pub fn guild_banner(guild_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(&["banners", &guild_id.to_string()], hash, size)
}

/// A member's guild-specific avatar: `guilds/{guild_id}/users/{user_id}/avatars/{hash}.png`.
pub fn member_avatar(guild_id: Snowflake, user_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(
        &[
            "guilds",
            &guild_id.to_string(),
            "users",
            &user_id.to_string(),
            "avatars",
        ],
        hash,
        size,
    )
}

/// An application's icon: `app-icons/{application_id}/{hash}.png`.
pub fn application_icon(application_id: Snowflake, hash: &str, size: Option<ImageSize>) -> Url {
    image(&["app-icons", &application_id.to_string()], hash, size)
}

/// An avatar decoration: `avatar-decoration-presets/{asset}.png` (always PNG; the CDN
/// animates it unless `passthrough=false` is added).
pub fn avatar_decoration(asset: &str) -> Url {
    let mut url = base();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        segments.extend(["avatar-decoration-presets", &format!("{asset}.png")]);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Snowflake = Snowflake::new(80_351_110_224_678_912);

    #[test]
    fn animated_and_sizes() {
        assert_eq!(
            user_avatar(ID, "a_1269e74af4df7417b13759eae50c83dc", ImageSize::new(4096)).as_str(),
            "https://cdn.discordapp.com/avatars/80351110224678912/a_1269e74af4df7417b13759eae50c83dc.gif?size=4096"
        );
        assert_eq!(
            guild_icon(ID, "abc", None).as_str(),
            "https://cdn.discordapp.com/icons/80351110224678912/abc.png"
        );
        assert_eq!(
            user_banner(ID, "a_b", ImageSize::new(16)).as_str(),
            "https://cdn.discordapp.com/banners/80351110224678912/a_b.gif?size=16"
        );
        assert_eq!(
            member_avatar(Snowflake::new(1), Snowflake::new(2), "h", None).as_str(),
            "https://cdn.discordapp.com/guilds/1/users/2/avatars/h.png"
        );
        assert_eq!(
            application_icon(Snowflake::new(3), "h", None).as_str(),
            "https://cdn.discordapp.com/app-icons/3/h.png"
        );
        assert_eq!(
            avatar_decoration("a_deco").as_str(),
            "https://cdn.discordapp.com/avatar-decoration-presets/a_deco.png"
        );
        for bad in [0, 8, 15, 17, 100, 8192, u32::MAX] {
            assert_eq!(ImageSize::new(bad), None, "{bad}");
        }
        for good in [16, 32, 64, 128, 256, 512, 1024, 2048, 4096] {
            assert_eq!(ImageSize::new(good).map(|s| u32::from(s.get())), Some(good));
        }
    }

    #[test]
    fn default_avatars() {
        // (80351110224678912 >> 22) % 6 == 5
        assert_eq!(
            default_avatar(ID, "0").as_str(),
            "https://cdn.discordapp.com/embed/avatars/5.png"
        );
        assert_eq!(
            default_avatar(ID, "").as_str(),
            "https://cdn.discordapp.com/embed/avatars/5.png"
        );
        assert_eq!(
            default_avatar(ID, "0004").as_str(),
            "https://cdn.discordapp.com/embed/avatars/4.png"
        );
        assert_eq!(
            default_avatar(ID, "1340").as_str(),
            "https://cdn.discordapp.com/embed/avatars/0.png"
        );
        for id in [0u64, 1 << 22, 5 << 22, 6 << 22, u64::MAX] {
            let url = default_avatar(Snowflake::new(id), "0");
            let expected = format!("https://cdn.discordapp.com/embed/avatars/{}.png", (id >> 22) % 6);
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn hostile_hashes_stay_in_one_segment() {
        let url = user_avatar(ID, "../../evil?x=1#y", None);
        assert_eq!(url.host_str(), Some("cdn.discordapp.com"));
        assert!(url.path().starts_with("/avatars/80351110224678912/"));
        assert_eq!(url.path_segments().map(Iterator::count), Some(3));
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
    }
}
