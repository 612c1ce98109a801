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
//!   its last: how much of a forgery is right must not show;
//! - `f_same_input`: the same delivery in both classes: the noise floor of the harness itself;
//! - `g_last_byte_vs_first_byte`: `e` with its classes swapped. A difference that comes from
//!   where the forgery is wrong changes sign between `e` and `g`; one that comes from the
//!   harness (which class is which) keeps it.
//!
//! In `a` and `b` the classes differ in outcome too: an accepted delivery also builds its
//! `Verified` value. Accept or reject is public (the response says it), so a
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
/// Distinct random bodies, each with both classes' headers, reused round robin.
const POOL: usize = 1 << 14;
const DEFAULT_SAMPLES: usize = 5_000_000;

fn samples() -> usize {
    std::env::var("KIRIM_CT_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SAMPLES)
}

/// One random body and the headers the classes use for it.
struct Case {
    body: Vec<u8>,
    headers: [Vec<u8>; 2],
}

/// `POOL` random bodies, each with the left and the right class's header.
fn pool(rng: &mut BenchRng, headers: impl Fn(&[u8], &mut BenchRng) -> [Vec<u8>; 2]) -> Vec<Case> {
    (0..POOL)
        .map(|_| {
            let mut body = vec![0; BODY_BYTES];
            rng.fill(&mut body[..]);
            let headers = headers(&body, rng);
            Case { body, headers }
        })
        .collect()
}

/// `header` with the `byte`-th byte of its only `v1` digest XORed with a random non-zero value.
fn corrupt(header: &[u8], byte: usize, rng: &mut BenchRng) -> Vec<u8> {
    let mut header = header.to_vec();
    let at = header.len() - 64 + 2 * byte;
    let hex = std::str::from_utf8(&header[at..at + 2]).expect("hex");
    let value = u8::from_str_radix(hex, 16).expect("hex") ^ rng.random_range(1..=255u8);
    header[at..at + 2].copy_from_slice(format!("{value:02x}").as_bytes());
    header
}

/// Times `verifier.verify_at` on the cases, each sample's class drawn at random. The chosen
/// header is first copied into one buffer, so both classes are read from the same addresses and
/// only their contents differ.
fn run_verify(runner: &mut CtRunner, rng: &mut BenchRng, verifier: &Verifier, cases: &[Case]) {
    let mut header = Vec::with_capacity(256);
    for i in 0..samples() {
        let case = &cases[i % POOL];
        // Indexed rather than branched on, so the class leaves no trace in the branch history.
        let side = usize::from(rng.random::<bool>());
        let class = [Class::Left, Class::Right][side];
        header.clear();
        header.extend_from_slice(&case.headers[side]);
        runner.run_one(class, || {
            verifier
                .verify_at(black_box(&header), black_box(&case.body), TIMESTAMP)
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
    let cases = pool(rng, |body, rng| {
        let good = signer.sign(TIMESTAMP, body).into_bytes();
        let bad = corrupt(&good, 0, rng);
        [good, bad]
    });
    run_verify(runner, rng, &verifier, &cases);
}

fn b_match_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signer, verifier) = one_secret();
    let cases = pool(rng, |body, rng| {
        let good = signer.sign(TIMESTAMP, body).into_bytes();
        let bad = corrupt(&good, 31, rng);
        [good, bad]
    });
    run_verify(runner, rng, &verifier, &cases);
}

fn c_first_vs_last_secret(runner: &mut CtRunner, rng: &mut BenchRng) {
    let both = secrets(2);
    let verifier = Verifier::new(both.clone()).expect("valid secrets");
    let first = Signer::new([both[0].clone()]).expect("valid secret");
    let last = Signer::new([both[1].clone()]).expect("valid secret");
    let cases = pool(rng, |body, _| {
        [
            first.sign(TIMESTAMP, body).into_bytes(),
            last.sign(TIMESTAMP, body).into_bytes(),
        ]
    });
    run_verify(runner, rng, &verifier, &cases);
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
    let mut b = [0u8; 32];
    for i in 0..samples() {
        let (a, equal, differs) = &pairs[i % POOL];
        let (class, chosen) = if rng.random::<bool>() {
            (Class::Left, equal)
        } else {
            (Class::Right, differs)
        };
        b.copy_from_slice(chosen);
        runner.run_one(class, || black_box(&a[..]) == black_box(&b[..]));
    }
}

fn e_first_byte_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    forgeries(runner, rng, [0, 31]);
}

/// `e` mirrored: the last-byte forgery on the left, the first-byte one on the right.
fn g_last_byte_vs_first_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    forgeries(runner, rng, [31, 0]);
}

/// Two forgeries of each body's signature, wrong in the digest byte `wrong[0]` (left class)
/// and `wrong[1]` (right class).
fn forgeries(runner: &mut CtRunner, rng: &mut BenchRng, wrong: [usize; 2]) {
    let (signer, verifier) = one_secret();
    let cases = pool(rng, |body, rng| {
        let good = signer.sign(TIMESTAMP, body).into_bytes();
        wrong.map(|byte| corrupt(&good, byte, rng))
    });
    run_verify(runner, rng, &verifier, &cases);
}

fn f_same_input(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signer, verifier) = one_secret();
    let cases = pool(rng, |body, _| {
        let good = signer.sign(TIMESTAMP, body).into_bytes();
        [good.clone(), good]
    });
    run_verify(runner, rng, &verifier, &cases);
}

fn main() {
    // `cargo bench` passes `--bench` (and criterion-style flags): take the first plain argument
    // as a name filter and ignore the rest.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let benches: [(&'static str, BenchFn); 7] = [
        ("a_match_vs_first_byte", a_match_vs_first_byte),
        ("b_match_vs_last_byte", b_match_vs_last_byte),
        ("c_first_vs_last_secret", c_first_vs_last_secret),
        ("d_control_slice_eq", d_control_slice_eq),
        ("e_first_byte_vs_last_byte", e_first_byte_vs_last_byte),
        ("f_same_input", f_same_input),
        ("g_last_byte_vs_first_byte", g_last_byte_vs_first_byte),
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
