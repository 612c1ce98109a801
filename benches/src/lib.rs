//! Inputs shared by the benchmarks in `benches/` and the fuzz-corpus replay in `tests/`.
//!
//! The benchmarks themselves live in `benches/`; see the README for how to run them and for the
//! last measured results.

use std::hint::black_box;

use hmac::{Hmac, KeyInit, Mac};
use kirim_verify::{Secret, Signer};
use sha2::Sha256;

/// The signed timestamp every benchmark uses, and the `now` it verifies at.
pub const TIMESTAMP: u64 = 1_716_480_000;

/// The secrets the benchmarks configure, in order. The first two are the fixtures' secrets.
pub const SECRETS: [&str; 2] = ["whsec_test", "whsec_rotating"];

/// A secret no benchmark configures: it signs the non-matching `v1` of a rotation header.
pub const STRANGER: &str = "whsec_stranger";

/// The body sizes of the `verify` group, in bytes.
pub const BODY_SIZES: [usize; 4] = [64, 1024, 16 * 1024, 1024 * 1024];

/// A JSON-looking ASCII body of exactly `len` bytes (peers that insist on UTF-8 accept it).
#[must_use]
pub fn body(len: usize) -> Vec<u8> {
    let head = br#"{"id":"evt_01HXYZABCDEFGHJKMNPQRSTVWX","type":"message.created","data":""#;
    let mut body: Vec<u8> = head.iter().copied().take(len).collect();
    let filler = b"abcdefghijklmnopqrstuvwxyz0123456789";
    while body.len() + 2 < len {
        body.push(filler[body.len() % filler.len()]);
    }
    body.extend_from_slice(&br#""}"#[..len - body.len()]);
    body
}

/// The first `n` of [`SECRETS`] as configured secrets.
///
/// # Panics
///
/// If `n` is 0 or larger than [`SECRETS`], or a secret is not a valid Kirim secret.
#[must_use]
pub fn secrets(n: usize) -> Vec<Secret> {
    assert!(
        (1..=SECRETS.len()).contains(&n),
        "1 to {} secrets",
        SECRETS.len()
    );
    SECRETS[..n]
        .iter()
        .map(|s| Secret::new(*s).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

/// A header with `sigs` `v1` entries for `body` at [`TIMESTAMP`], where only the last one matches,
/// and it matches the last of `n_secrets` configured secrets: the worst case for any verifier
/// that tries secrets and entries in order. The other entries are signed by [`STRANGER`].
///
/// # Panics
///
/// If `sigs` or `n_secrets` is 0, or `n_secrets` is larger than [`SECRETS`].
#[must_use]
pub fn worst_case_header(n_secrets: usize, sigs: usize, body: &[u8]) -> String {
    assert!(sigs >= 1);
    let last = secrets(n_secrets).pop().unwrap_or_else(|| unreachable!());
    let stranger = Secret::new(STRANGER).unwrap_or_else(|e| panic!("{e}"));
    let v1 = |secret: Secret| {
        let signed = Signer::new([secret])
            .unwrap_or_else(|e| panic!("{e}"))
            .sign(TIMESTAMP, body);
        let at = signed.find(",v1=").unwrap_or_else(|| unreachable!());
        signed[at..].to_owned()
    };
    let mut header = format!("t={TIMESTAMP}");
    for _ in 1..sigs {
        header.push_str(&v1(stranger.clone()));
    }
    header.push_str(&v1(last));
    header
}

/// Keyed HMAC-SHA256 state for the first `n` of [`SECRETS`], prepared once, as a verifier does.
///
/// # Panics
///
/// If `n` is larger than [`SECRETS`].
#[must_use]
pub fn prepared_macs(n: usize) -> Vec<Hmac<Sha256>> {
    SECRETS[..n]
        .iter()
        .map(|s| Hmac::new_from_slice(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

/// The floor any verifier is measured against: HMAC-SHA256 over `t "." body` once per prepared
/// secret, with no parsing and no comparison. One definition for the `verify` group and
/// `examples/instructions.rs`, so that both measure the same thing.
pub fn limit(prepared: &[Hmac<Sha256>], t: &[u8], body: &[u8]) {
    for mac in prepared {
        let mut mac = mac.clone();
        mac.update(black_box(t));
        mac.update(b".");
        mac.update(black_box(body));
        black_box(mac.finalize());
    }
}

/// Rounds of each paired measurement (`inbox/<backend>/paired`, `http/<framework>/paired`).
pub const PAIRED_ROUNDS: usize = 9;

/// Whether a group's paired rounds run: with no filter, or a filter naming them (`paired`, or
/// the whole `group`). Criterion has parsed the arguments already and does not say what it
/// matched; a positional argument that is not a number (an option's value) is the filter.
#[must_use]
pub fn wants_paired(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-') && arg.parse::<f64>().is_err())
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| f.contains("paired") || *f == group || *f == format!("{group}/"))
}

/// "median× (rounds min× to max×)" of the paired rounds' ratios, as `benches/run` reads it.
///
/// # Panics
///
/// If `ratios` is empty.
#[must_use]
pub fn paired_summary(ratios: &mut [f64]) -> String {
    assert!(!ratios.is_empty(), "no rounds");
    ratios.sort_by(f64::total_cmp);
    format!(
        "{:.2}x (rounds {:.2}x to {:.2}x)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paired_summary_is_the_median_and_the_range() {
        let mut ratios = [0.9, 0.5, 1.1, 0.7, 0.8];
        assert_eq!(paired_summary(&mut ratios), "0.80x (rounds 0.50x to 1.10x)");
    }

    #[test]
    fn bodies_have_the_asked_length() {
        for len in [0, 1, 2, 10, 64, 70, 71, 72, 1024, 1024 * 1024] {
            let b = body(len);
            assert_eq!(b.len(), len);
            assert!(b.is_ascii());
        }
    }

    #[test]
    fn worst_case_header_verifies_with_the_last_secret() {
        let body = body(64);
        for (n, sigs) in [(1, 1), (2, 2), (2, 16)] {
            let verifier = kirim_verify::Verifier::new(secrets(n)).unwrap();
            let header = worst_case_header(n, sigs, &body);
            let verified = verifier
                .verify_at(header.as_bytes(), &body, TIMESTAMP)
                .unwrap();
            assert_eq!(verified.secret_index(), n - 1);
            let parsed = kirim_verify::header::SignatureHeader::parse(header.as_bytes()).unwrap();
            assert_eq!(parsed.signatures().len(), sigs);
        }
    }
}
