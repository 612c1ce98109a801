//! Incremental verification over a body cut in pieces: shared by the public-API tests and the
//! properties.

use kirim_verify::{Verified, Verifier, VerifyError};

/// Splits `body` at the given cut points (clamped and sorted), empty chunks included.
pub(crate) fn chunks<'b>(body: &'b [u8], cuts: &[usize]) -> Vec<&'b [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(&body[start..cut]);
        start = cut;
    }
    out.push(&body[start..]);
    out
}

/// `start_at`, one `update` per part, `finish`.
pub(crate) fn incremental(
    verifier: &Verifier,
    header: &[u8],
    parts: &[&[u8]],
    now: u64,
) -> Result<Verified, VerifyError> {
    let mut verification = verifier.start_at(header, now)?;
    for part in parts {
        verification.update(part);
    }
    verification.finish()
}
