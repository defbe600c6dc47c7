//! The fuzz targets' check functions, in one file (`checks.rs`) shared with
//! `discord-oauth-core/tests/fuzz_corpus.rs`, which replays `fuzz/corpus/` through the same
//! functions under `cargo test`.
pub mod checks;
