//! `cargo fuzz run id_token`: see `fuzz/src/checks.rs` (`checks::id_token`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::id_token(data));
