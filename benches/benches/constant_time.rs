//! Constant-time measurement of the comparison in `Verifier::verify_at`, with `dudect-bencher`.
//!
//! Each benchmark times one call per sample for two classes of input, interleaved at random, and
//! prints the largest Welch t statistic between the two timing distributions (over a range of
//! cropping percentiles). |t| below about 5 means no timing difference was detected; a large
//! |t| means the classes are told apart by time alone.
//!
//! - `a_match_vs_first_byte`: the matching `v1` against one that differs in its first byte;
//! - `b_match_vs_last_byte`: the matching `v1` against one that differs in its last byte;
//! - `c_first_vs_last_secret`: two secrets, the match in the first against the match in the last;
//! - `d_control_slice_eq`: a plain `==` of two 32-byte slices, equal against differing in the
//!   first byte: a comparison that exits early, which the method must detect;
//! - `e_first_byte_vs_last_byte`: two non-matching `v1`, one wrong in its first byte and one in
//!   its last: how much of a forgery is right must not show.
//!
//! In `a` and `b` the classes differ in outcome too: an accepted delivery also hashes the matched
//! digest for its replay fingerprint. Accept or reject is public (the response says it), so a
//! difference there is expected and is not a leak; the two must show the same difference, and `e`
//! none.
//!
//! Run: `cargo bench -p kirim-benches --bench constant_time [-- FILTER]`. Samples per benchmark:
//! `KIRIM_CT_SAMPLES` (default 5 000 000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use dudect_bencher::ctbench::{BenchFn, BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::RngExt;
use dudect_bencher::{BenchRng, Class, CtRunner};
use kirim_benches::{TIMESTAMP, secrets};
use kirim_verify::{Signer, Verifier};

const BODY_BYTES: usize = 64;
/// Distinct bodies (and headers) per class, reused round robin so memory stays small.
const POOL: usize = 4096;
const DEFAULT_SAMPLES: usize = 5_000_000;

fn samples() -> usize {
    std::env::var("KIRIM_CT_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SAMPLES)
}

struct Delivery {
    body: Vec<u8>,
    header: Vec<u8>,
}

/// `POOL` random bodies signed by `signer`, each header then changed by `corrupt`.
fn pool(signer: &Signer, rng: &mut BenchRng, corrupt: impl Fn(&mut Vec<u8>, u8)) -> Vec<Delivery> {
    (0..POOL)
        .map(|_| {
            let mut body = vec![0; BODY_BYTES];
            rng.fill(&mut body[..]);
            let mut header = signer.sign(TIMESTAMP, &body).into_bytes();
            corrupt(&mut header, rng.random_range(1..=255));
            Delivery { body, header }
        })
        .collect()
}

/// Replaces the `byte`-th byte of the only `v1` digest with itself XOR `flip` (non-zero).
fn corrupt_digest_byte(header: &mut [u8], byte: usize, flip: u8) {
    let at = header.len() - 64 + 2 * byte;
    let hex = std::str::from_utf8(&header[at..at + 2]).expect("hex");
    let value = u8::from_str_radix(hex, 16).expect("hex") ^ flip;
    header[at..at + 2].copy_from_slice(format!("{value:02x}").as_bytes());
}

/// Times `verifier.verify_at` on deliveries drawn from `left` and `right` at random.
fn run_verify(
    runner: &mut CtRunner,
    rng: &mut BenchRng,
    verifier: &Verifier,
    left: &[Delivery],
    right: &[Delivery],
) {
    for i in 0..samples() {
        let (class, pool) = if rng.random::<bool>() {
            (Class::Left, left)
        } else {
            (Class::Right, right)
        };
        let d = &pool[i % POOL];
        runner.run_one(class, || {
            verifier
                .verify_at(black_box(&d.header), black_box(&d.body), TIMESTAMP)
                .is_ok()
        });
    }
}

fn one_secret() -> (Signer, Verifier) {
    let signer = Signer::new(secrets(1)).expect("valid secret");
    let verifier = Verifier::new(secrets(1)).expect("valid secret");
    (signer, verifier)
}

fn a_match_vs_first_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signer, verifier) = one_secret();
    let good = pool(&signer, rng, |_, _| {});
    let bad = pool(&signer, rng, |h, flip| corrupt_digest_byte(h, 0, flip));
    run_verify(runner, rng, &verifier, &good, &bad);
}

fn b_match_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signer, verifier) = one_secret();
    let good = pool(&signer, rng, |_, _| {});
    let bad = pool(&signer, rng, |h, flip| corrupt_digest_byte(h, 31, flip));
    run_verify(runner, rng, &verifier, &good, &bad);
}

fn c_first_vs_last_secret(runner: &mut CtRunner, rng: &mut BenchRng) {
    let both = secrets(2);
    let verifier = Verifier::new(both.clone()).expect("valid secrets");
    let first = Signer::new([both[0].clone()]).expect("valid secret");
    let last = Signer::new([both[1].clone()]).expect("valid secret");
    let in_first = pool(&first, rng, |_, _| {});
    let in_last = pool(&last, rng, |_, _| {});
    run_verify(runner, rng, &verifier, &in_first, &in_last);
}

fn d_control_slice_eq(runner: &mut CtRunner, rng: &mut BenchRng) {
    let pairs: Vec<([u8; 32], [u8; 32], [u8; 32])> = (0..POOL)
        .map(|_| {
            let mut a = [0u8; 32];
            rng.fill(&mut a[..]);
            let mut differs = a;
            differs[0] ^= rng.random_range(1..=255u8);
            (a, a, differs)
        })
        .collect();
    for i in 0..samples() {
        let (a, equal, differs) = &pairs[i % POOL];
        let (class, b) = if rng.random::<bool>() {
            (Class::Left, equal)
        } else {
            (Class::Right, differs)
        };
        runner.run_one(class, || black_box(&a[..]) == black_box(&b[..]));
    }
}

fn e_first_byte_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signer, verifier) = one_secret();
    let first = pool(&signer, rng, |h, flip| corrupt_digest_byte(h, 0, flip));
    let last = pool(&signer, rng, |h, flip| corrupt_digest_byte(h, 31, flip));
    run_verify(runner, rng, &verifier, &first, &last);
}

fn main() {
    // `cargo bench` passes `--bench` (and criterion-style flags): take the first plain argument
    // as a name filter and ignore the rest.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let benches: [(&'static str, BenchFn); 5] = [
        ("a_match_vs_first_byte", a_match_vs_first_byte),
        ("b_match_vs_last_byte", b_match_vs_last_byte),
        ("c_first_vs_last_secret", c_first_vs_last_secret),
        ("d_control_slice_eq", d_control_slice_eq),
        ("e_first_byte_vs_last_byte", e_first_byte_vs_last_byte),
    ];
    let benches = benches
        .into_iter()
        .map(|(name, benchfn)| BenchMetadata {
            name: BenchName(name),
            seed: None,
            benchfn,
        })
        .collect();
    let opts = BenchOpts {
        filter,
        ..BenchOpts::default()
    };
    run_benches_console(opts, benches).expect("stdout");
}
