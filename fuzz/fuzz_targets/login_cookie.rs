//! `cargo fuzz run login_cookie`: see `fuzz/src/checks.rs` (`checks::login_cookie`) for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_oauth_fuzz::checks::login_cookie(data));
