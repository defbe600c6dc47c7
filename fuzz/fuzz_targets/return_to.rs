//! `cargo fuzz run return_to`: see `fuzz/src/checks.rs` (`checks::return_to`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::return_to(data));
