//! `cargo fuzz run callback_query`: see `fuzz/src/checks.rs` (`checks::callback_query`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::callback_query(data));
