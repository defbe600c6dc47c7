//! `cargo fuzz run webhook_event`: see `fuzz/src/checks.rs` (`checks::webhook_event`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::webhook_event(data));
