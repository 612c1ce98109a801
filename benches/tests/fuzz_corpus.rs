//! Replays every fuzz input kept in the repository, `fuzz/corpus/<target>/` (the seeds) and
//! `fuzz/regressions/<target>/` (inputs that once failed), through the same invariants the fuzz
//! targets check, on stable Rust and without libFuzzer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/invariants.rs"]
mod invariants;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs each kept input of `target` through `check`; fails listing every input that panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert_ne!(kind, "corpus", "{} is missing", dir.display());
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs for {target}");
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("readable input");
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

#[test]
fn header() {
    replay("header", invariants::header);
}

#[test]
fn verify() {
    replay("verify", invariants::verify);
}

#[test]
fn roundtrip() {
    replay("roundtrip", invariants::roundtrip);
}

#[test]
fn delivery() {
    replay("delivery", invariants::delivery);
}

#[test]
fn event() {
    replay("event", invariants::event);
}
