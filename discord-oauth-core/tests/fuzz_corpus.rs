//! Replays the fuzz seed corpus under `cargo test`: every file in `fuzz/corpus/<target>/` goes
//! through the same check function the `cargo fuzz` target `<target>` runs. The checks live in
//! `fuzz/src/checks.rs`, compiled into this test with `#[path]` (see `fuzz/README.md`).

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/checks.rs"]
mod checks;

/// A fuzz target's check function.
type Check = fn(&[u8]);

/// Every fuzz target and its check; a target without an entry here fails `every_target_is_replayed`.
const TARGETS: [(&str, Check); 10] = [
    ("api_models", checks::api_models),
    ("callback_query", checks::callback_query),
    ("id_token", checks::id_token),
    ("implicit_fragment", checks::implicit_fragment),
    ("login_cookie", checks::login_cookie),
    ("rate_limit", checks::rate_limit),
    ("return_to", checks::return_to),
    ("session_decode", checks::session_decode),
    ("token_response", checks::token_response),
    ("webhook_event", checks::webhook_event),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn names_in(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| n.strip_suffix(suffix).map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn replay(target: &str) {
    let Some((_, check)) = TARGETS.iter().find(|(name, _)| *name == target) else {
        panic!("no check for {target}");
    };
    let dir = fuzz_dir().join("corpus").join(target);
    let files = names_in(&dir, "");
    assert!(!files.is_empty(), "{} has no seed inputs", dir.display());
    let mut failures = Vec::new();
    for name in &files {
        let path = dir.join(name);
        let Ok(data) = fs::read(&path) else {
            continue; // a directory or an unreadable entry
        };
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus inputs fail (the panic messages are above; reproduce with \
         `cargo fuzz run {target} <file>`):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_is_replayed() {
    let mut listed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(
        names_in(&fuzz_dir().join("fuzz_targets"), ".rs"),
        listed,
        "fuzz/fuzz_targets/"
    );
    assert_eq!(names_in(&fuzz_dir().join("corpus"), ""), listed, "fuzz/corpus/");
}

#[test]
fn corpus_api_models() {
    replay("api_models");
}

#[test]
fn corpus_callback_query() {
    replay("callback_query");
}

#[test]
fn corpus_id_token() {
    replay("id_token");
}

#[test]
fn corpus_implicit_fragment() {
    replay("implicit_fragment");
}

#[test]
fn corpus_rate_limit() {
    replay("rate_limit");
}

#[test]
fn corpus_return_to() {
    replay("return_to");
}

#[test]
fn corpus_login_cookie() {
    replay("login_cookie");
}

#[test]
fn corpus_session_decode() {
    replay("session_decode");
}

#[test]
fn corpus_token_response() {
    replay("token_response");
}

#[test]
fn corpus_webhook_event() {
    replay("webhook_event");
}
