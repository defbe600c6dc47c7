//! `cargo fuzz run token_response`: see `fuzz/src/checks.rs` (`checks::token_response`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::token_response(data));
