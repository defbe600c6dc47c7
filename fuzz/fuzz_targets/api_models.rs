//! `cargo fuzz run api_models`: see `fuzz/src/checks.rs` (`checks::api_models`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::api_models(data));
