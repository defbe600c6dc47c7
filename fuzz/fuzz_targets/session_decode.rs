//! `cargo fuzz run session_decode`: see `fuzz/src/checks.rs` (`checks::session_decode`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::session_decode(data));
