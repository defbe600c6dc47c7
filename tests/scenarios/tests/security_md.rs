//! Keeps `SECURITY.md` honest: every checklist ID has exactly one row, the totals line adds
//! up, every "pinned" or "partly" row names at least one test, and every test the document
//! names (a backticked `path/to/file.rs` followed by backticked function names) exists in that
//! file and is a test: a function marked `#[test]` (or an async test attribute; `proptest!`
//! functions carry `#[test]` too), or a scenario of `tests/scenarios/src/scenarios.rs` listed in
//! `all_scenarios!` (so it runs for both sample sites), or of another module of
//! `tests/scenarios/src/` listed in a test file's macro (e.g. `tests/redis.rs`).
//!
//! A reference is a backticked path ending in `.rs`, then backticked identifiers separated
//! only by whitespace or `, `: "`tests/x.rs` `a`, `b`; `tests/y.rs` `c`". Any other text ends
//! the list, so prose such as "replacing `ct_eq` …" is not read as a test name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The checklist's 119 IDs: A-01 … K-08.
fn checklist_ids() -> BTreeSet<String> {
    let sections = [
        ('A', 15),
        ('B', 21),
        ('C', 9),
        ('D', 8),
        ('E', 7),
        ('F', 12),
        ('G', 7),
        ('H', 15),
        ('I', 11),
        ('J', 6),
        ('K', 8),
    ];
    sections
        .iter()
        .flat_map(|&(letter, n)| (1..=n).map(move |i| format!("{letter}-{i:02}")))
        .collect()
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `(path, function)` pairs referenced in `text` (see the module docs for the format).
fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Split into alternating prose / code spans: odd indexes are inside backticks.
    let parts: Vec<&str> = text.split('`').collect();
    let mut current: Option<&str> = None;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 0 {
            // Prose between code spans: only whitespace or ", " keeps a reference list going.
            let glue = part.trim();
            if !(glue.is_empty() || glue == ",") {
                current = None;
            }
            continue;
        }
        if Path::new(part).extension().is_some_and(|e| e == "rs") && part.contains('/') {
            current = Some(part);
        } else if let Some(path) = current {
            if is_ident(part) {
                out.push((path.to_owned(), (*part).to_owned()));
            } else {
                current = None;
            }
        }
    }
    out
}

/// The scenario names listed in `all_scenarios!` of `tests/scenarios/tests/sites.rs`.
fn listed_scenarios(root: &Path) -> BTreeSet<String> {
    let sites = fs::read_to_string(root.join("tests/scenarios/tests/sites.rs")).unwrap();
    let start = sites
        .find("macro_rules! all_scenarios")
        .expect("all_scenarios! in sites.rs");
    let body = &sites[start..];
    let list_start = body.find(';').expect("scenario list") + 1;
    let list_end = body[list_start..].find(");").expect("end of the scenario list") + list_start;
    body[list_start..list_end]
        .split(',')
        .map(str::trim)
        .filter(|s| is_ident(s))
        .map(str::to_owned)
        .collect()
}

/// `true` if a file of `tests/scenarios/tests/` lists `name` as a macro entry (a line
/// `name,`).
fn listed_in_a_test_file(name: &str) -> bool {
    let dir = repo_root().join("tests/scenarios/tests");
    let entry = format!("{name},");
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|file| fs::read_to_string(file.path()).is_ok_and(|text| text.lines().any(|l| l.trim() == entry)))
}

/// `Ok` if `name` is a test function of `source`: some declaration of it carries a test
/// attribute (a test wrapped by a macro, like the browser tests, is declared twice).
fn check_test_fn(path: &str, source: &str, name: &str, scenarios: &BTreeSet<String>) -> Result<(), String> {
    let lines: Vec<&str> = source.lines().collect();
    let declares = |l: &str| {
        let l = l.trim_start();
        ["fn ", "async fn ", "pub fn ", "pub async fn "].iter().any(|prefix| {
            l.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with('(') || rest.starts_with('<'))
        })
    };
    let decls: Vec<usize> = (0..lines.len()).filter(|&i| declares(lines[i])).collect();
    if decls.is_empty() {
        return Err(format!("`{path}` has no function `{name}`"));
    }
    if path == "tests/scenarios/src/scenarios.rs" {
        return if scenarios.contains(name) {
            Ok(())
        } else {
            Err(format!(
                "scenario `{name}` is not listed in `all_scenarios!` (tests/scenarios/tests/sites.rs), so it never runs"
            ))
        };
    }
    if path.starts_with("tests/scenarios/src/") {
        // Other scenario modules (e.g. `multi_instance`) are run by a macro list in one of
        // the test files.
        return if listed_in_a_test_file(name) {
            Ok(())
        } else {
            Err(format!(
                "`{path}` `{name}` is not listed in any macro of tests/scenarios/tests/*.rs, so it never runs"
            ))
        };
    }
    // Attributes and comments directly above a declaration.
    let is_test = |decl: usize| {
        lines[..decl]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
            .any(|l| l.starts_with("#[") && l.contains("test"))
    };
    if decls.into_iter().any(is_test) {
        Ok(())
    } else {
        Err(format!("`{path}` `{name}` is not marked as a test"))
    }
}

struct Row {
    id: String,
    status: String,
    notes: String,
}

fn coverage_rows(doc: &str) -> Vec<Row> {
    let start = doc
        .find("## Checklist coverage")
        .expect("a `## Checklist coverage` section");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
            let id = *cells.first()?;
            let well_formed = id.len() == 4
                && id.as_bytes()[0].is_ascii_uppercase()
                && id.as_bytes()[1] == b'-'
                && id[2..].bytes().all(|b| b.is_ascii_digit());
            (well_formed && cells.len() >= 4).then(|| Row {
                id: id.to_owned(),
                status: cells[2].to_owned(),
                notes: cells[3..].join(" | "),
            })
        })
        .collect()
}

#[test]
fn security_md_maps_every_checklist_id_once_and_the_totals_add_up() {
    let root = repo_root();
    let doc = fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let rows = coverage_rows(&doc);
    let mut seen = BTreeMap::new();
    for row in &rows {
        *seen.entry(row.id.clone()).or_insert(0) += 1;
    }
    let expected = checklist_ids();
    let missing: Vec<_> = expected.iter().filter(|id| !seen.contains_key(*id)).collect();
    let unknown: Vec<_> = seen.keys().filter(|id| !expected.contains(*id)).collect();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
    assert!(missing.is_empty(), "IDs without a row: {missing:?}");
    assert!(unknown.is_empty(), "rows for IDs not in the checklist: {unknown:?}");
    assert!(twice.is_empty(), "IDs with more than one row: {twice:?}");

    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        let status = row.status.as_str();
        assert!(
            ["pinned", "partly", "not applicable", "not yet"].contains(&status),
            "{}: unknown status {status:?}",
            row.id
        );
        *totals.entry(status).or_default() += 1;
    }
    let count = |s: &str| totals.get(s).copied().unwrap_or(0);
    let line = format!(
        "Totals: {} pinned, {} partly, {} not applicable, {} not yet ({} IDs).",
        count("pinned"),
        count("partly"),
        count("not applicable"),
        count("not yet"),
        rows.len()
    );
    assert!(doc.contains(&line), "the totals line should read: {line}");
}

#[test]
fn security_md_rows_that_apply_name_tests() {
    let doc = fs::read_to_string(repo_root().join("SECURITY.md")).unwrap();
    let bare: Vec<String> = coverage_rows(&doc)
        .into_iter()
        .filter(|r| r.status == "pinned" || r.status == "partly")
        .filter(|r| references(&r.notes).is_empty())
        .map(|r| r.id)
        .collect();
    assert!(bare.is_empty(), "pinned/partly rows naming no test: {bare:?}");
}

#[test]
fn every_test_named_in_security_md_exists() {
    let root = repo_root();
    let doc = fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let scenarios = listed_scenarios(&root);
    let refs: BTreeSet<(String, String)> = doc.lines().flat_map(references).collect();
    assert!(refs.len() > 100, "the parser found only {} references", refs.len());
    let mut sources: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, name) in &refs {
        let source = sources
            .entry(path.clone())
            .or_insert_with(|| fs::read_to_string(root.join(path)).ok());
        match source {
            None => problems.push(format!("`{path}` does not exist")),
            Some(source) => {
                if let Err(e) = check_test_fn(path, source, name, &scenarios) {
                    problems.push(e);
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "SECURITY.md names tests that do not exist:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reference_parser_reads_lists_and_stops_at_prose() {
    let text = "`a/x.rs` `one`, `two`; `b/y.rs` `three` (both sites, via `c/z.rs`) but `ct_eq` is not; \
                `d/w.rs` `Type::method` `four`";
    assert_eq!(
        references(text),
        vec![
            ("a/x.rs".to_owned(), "one".to_owned()),
            ("a/x.rs".to_owned(), "two".to_owned()),
            ("b/y.rs".to_owned(), "three".to_owned()),
        ]
    );
}
