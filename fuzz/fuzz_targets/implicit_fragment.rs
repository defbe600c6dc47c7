//! `cargo fuzz run implicit_fragment`: see `fuzz/src/checks.rs` (`checks::implicit_fragment`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::implicit_fragment(data));
