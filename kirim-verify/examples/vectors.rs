//! Conformance runner: checks a known-answer vector file against the verifier.
//!
//! ```text
//! cargo run -p kirim-verify --example vectors -- kirim-verify/tests/vectors/signature-vectors.json
//! ```
//!
//! Prints one line per disagreement and a final `N passed, M failed`; exits non-zero on any
//! failure.

use std::process::ExitCode;

#[path = "../tests/support/vectors.rs"]
mod vectors;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: vectors PATH (a file in the format of signature-vectors.json)");
        return ExitCode::from(2);
    };
    let json = match std::fs::read_to_string(&path) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    match vectors::check_file(&json) {
        Ok((passed, failed)) => {
            for d in &failed {
                println!("FAIL {}: {}", d.name, d.detail);
            }
            println!("{passed} passed, {} failed", failed.len());
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            ExitCode::from(2)
        }
    }
}
