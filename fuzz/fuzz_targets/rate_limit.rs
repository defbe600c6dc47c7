//! `cargo fuzz run rate_limit`: see `fuzz/src/checks.rs` (`checks::rate_limit`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::rate_limit(data));
