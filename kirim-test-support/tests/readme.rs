//! The front door's code stays true: every Rust example in the workspace README is a verbatim
//! copy of an example in a crate README, where it compiles as a doctest.

use std::path::Path;

fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(String::new()),
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn workspace_readme_examples_are_the_crates_doctests() {
    let front = rust_blocks(&read("README.md"));
    assert!(
        front.len() >= 2,
        "the README shows an axum and an actix receiver"
    );
    let tested: Vec<String> = [
        "kirim-verify-axum/README.md",
        "kirim-verify-actix/README.md",
    ]
    .iter()
    .flat_map(|readme| rust_blocks(&read(readme)))
    .collect();
    for block in &front {
        assert!(
            tested.contains(block),
            "this README example is not a crate README doctest:\n{block}"
        );
        assert!(
            block.lines().count() < 30,
            "an example over 30 lines:\n{block}"
        );
    }
}
