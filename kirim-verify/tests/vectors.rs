//! Runs every known-answer vector file in `tests/vectors/` against the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

#[path = "support/vectors.rs"]
mod vectors;

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_vector_file_agrees() {
    let files = vector_files();
    let mut report = Vec::new();
    for path in &files {
        let json = std::fs::read_to_string(path).unwrap();
        let (passed, failed) =
            vectors::check_file(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(passed > 0, "{name}: no vector passed");
        for d in &failed {
            report.push(format!("{name}: {}: {}", d.name, d.detail));
        }
    }
    assert!(report.is_empty(), "disagreements:\n{}", report.join("\n"));
}

#[test]
fn both_vector_files_are_present() {
    let names: Vec<String> = vector_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["signature-vectors.json", "edge-vectors.json"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from tests/vectors/: {names:?}"
        );
    }
}

/// The checker itself must notice a wrong answer, or a passing run means nothing.
#[test]
fn checker_reports_a_wrong_expectation() {
    let json = r#"{"vectors": [
        {"name": "flipped", "secrets": ["whsec_test"], "tolerance_s": 300, "now": 1716480000,
         "header": "t=1716480000", "body_b64": "", "expect": "accept"},
        {"name": "random v1", "secrets": ["whsec_test"], "tolerance_s": 300, "now": 1,
         "header": "t=1,v1=7c2d8c2e0ab8dba7e4cc7db9e5c6a3ea0b0c7f68f4e5f7c2a39b2a4a1d0b5e5e",
         "body_b64": "", "expect": "no_match"},
        {"name": "wrong index", "secrets": ["whsec_test", "whsec_other"], "tolerance_s": 300,
         "now": 1716480000,
         "header": "t=1716480000,v1=52958eca69937ed17c6141b7c5b2aca19cf956978cdad6aee4a8eeb955159a97",
         "body_b64": "", "expect": "accept", "matched_secret": 1},
        {"name": "bad expect", "secrets": ["whsec_test"], "tolerance_s": 300, "now": 1,
         "header": "t=1", "body_b64": "", "expect": "maybe"}
    ]}"#;
    let (passed, failed) = vectors::check_file(json).unwrap();
    assert_eq!(passed, 1);
    let names: Vec<&str> = failed.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["flipped", "wrong index", "bad expect"]);
    assert!(
        failed[0].detail.contains("expected accept"),
        "{}",
        failed[0].detail
    );
    assert!(
        failed[1].detail.contains("secret 1"),
        "{}",
        failed[1].detail
    );
}
