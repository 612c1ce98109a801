//! Checks known-answer vectors (the format of `tests/vectors/signature-vectors.json`) against the
//! verifier. Shared by the `vectors` example and the `vectors` test.

use std::time::Duration;

use base64::Engine as _;
use kirim_verify::{Secret, Verifier, VerifyError};
use serde_json::Value;

/// One vector that did not give the expected answer.
pub(crate) struct Disagreement {
    pub(crate) name: String,
    pub(crate) detail: String,
}

/// Checks every vector in a vector file; returns the number that passed and the disagreements.
pub(crate) fn check_file(json: &str) -> Result<(usize, Vec<Disagreement>), String> {
    let file: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let vectors = file["vectors"]
        .as_array()
        .ok_or("no \"vectors\" array at the top level")?;
    let mut passed = 0;
    let mut failed = Vec::new();
    for (i, vector) in vectors.iter().enumerate() {
        let name = vector["name"]
            .as_str()
            .map_or_else(|| format!("#{i}"), String::from);
        match check(vector) {
            Ok(()) => passed += 1,
            Err(detail) => failed.push(Disagreement { name, detail }),
        }
    }
    Ok((passed, failed))
}

fn check(vector: &Value) -> Result<(), String> {
    let field = |name: &str| vector.get(name).ok_or(format!("no field {name:?}"));
    let secrets = field("secrets")?
        .as_array()
        .ok_or("secrets is not an array")?
        .iter()
        .map(|s| {
            let s = s.as_str().ok_or("a secret is not a string")?;
            Secret::new(s).map_err(|e| format!("secret refused: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let tolerance = field("tolerance_s")?
        .as_u64()
        .ok_or("tolerance_s is not a u64")?;
    let now = field("now")?.as_u64().ok_or("now is not a u64")?;
    let header = field("header")?.as_str().ok_or("header is not a string")?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(
            field("body_b64")?
                .as_str()
                .ok_or("body_b64 is not a string")?,
        )
        .map_err(|e| format!("body_b64: {e}"))?;
    let expect = field("expect")?.as_str().ok_or("expect is not a string")?;

    let verifier = Verifier::new(secrets)
        .map_err(|e| format!("verifier refused: {e}"))?
        .with_tolerance(Duration::from_secs(tolerance));
    let got = verifier.verify_at(header.as_bytes(), &body, now);
    let agrees = match (expect, &got) {
        ("accept", Ok(verified)) => match vector.get("matched_secret").and_then(Value::as_u64) {
            Some(index) if index != verified.secret_index() as u64 => {
                return Err(format!(
                    "expected secret {index} to match, secret {} did",
                    verified.secret_index()
                ));
            }
            _ => true,
        },
        ("malformed_header", Err(VerifyError::MalformedHeader(_)))
        | ("no_match", Err(VerifyError::SignatureMismatch))
        | ("too_old", Err(VerifyError::TooOld { .. }))
        | ("too_new", Err(VerifyError::TooNew { .. }))
        | ("reject_any", Err(_)) => true,
        ("accept" | "malformed_header" | "no_match" | "too_old" | "too_new" | "reject_any", _) => {
            false
        }
        (other, _) => return Err(format!("unknown expect {other:?}")),
    };
    if agrees {
        Ok(())
    } else {
        let got = match got {
            Ok(v) => format!("accept (secret {})", v.secret_index()),
            Err(e) => format!("{e:?}"),
        };
        Err(format!("expected {expect}, got {got}"))
    }
}
