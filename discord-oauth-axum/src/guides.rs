//! Guides: from an empty project to working code, one task each. Every Rust block in them is
//! compiled and run by this crate's tests, against the mock Discord (`discord-oauth-mock`).
//! The same files are in the repository (`discord-oauth-axum/guides/`, indexed in `docs/`).

#[doc = include_str!("../guides/sign-in.md")]
pub mod sign_in {}

#[doc = include_str!("../guides/testing.md")]
pub mod testing {}

#[doc = include_str!("../guides/calling-discord.md")]
pub mod calling_discord {}

#[doc = include_str!("../guides/guild-gating.md")]
pub mod guild_gating {}

#[doc = include_str!("../guides/production.md")]
pub mod production {}

#[doc = include_str!("../guides/client-credentials.md")]
pub mod client_credentials {}

#[doc = include_str!("../guides/adding-a-bot.md")]
pub mod adding_a_bot {}

#[doc = include_str!("../guides/incoming-webhook.md")]
pub mod incoming_webhook {}

#[doc = include_str!("../guides/openid-connect.md")]
pub mod openid_connect {}

#[doc = include_str!("../guides/webhook-events.md")]
pub mod webhook_events {}

#[doc = include_str!("../guides/activity-backend.md")]
pub mod activity_backend {}

#[cfg(test)]
mod tests {
    /// The testing guide's first test is `tests/first_test.rs`, which `cargo test` runs: the
    /// guide shows that file as it is.
    #[test]
    fn the_testing_guide_shows_tests_first_test_rs_as_it_is() {
        let guide = include_str!("../guides/testing.md");
        let file = include_str!("../tests/first_test.rs");
        assert!(
            guide.contains(&format!("```rust,ignore\n{file}```\n")),
            "guides/testing.md and tests/first_test.rs differ"
        );
        let lines = file.lines().count();
        assert!(
            guide.contains(&format!("a whole test of a fresh app's login, {lines} lines")),
            "the guide gives the test's length: {lines} lines"
        );
    }
}
