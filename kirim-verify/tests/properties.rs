//! Properties of the verifier, the signer and the header parser, checked on generated inputs.
//!
//! Failing cases are saved in `kirim-verify/proptest-regressions/properties.txt` (committed) and
//! re-run first on every run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/incremental.rs"]
mod incremental;
use incremental::{chunks, incremental};

use std::time::Duration;

use kirim_verify::header::{MalformedHeader, SignatureHeader};
use kirim_verify::{Secret, Signer, Verifier, VerifyError};
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::test_runner::FileFailurePersistence;

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/properties.txt"
);

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// The default tolerance.
const TOLERANCE: u64 = 300;

/// Secret strings as Kirim issues them: `whsec_` and a non-empty printable suffix (never
/// ending in a blank, which `Secret::new` refuses).
fn secret_value() -> impl Strategy<Value = String> {
    "([ -~éüßñλж字]{0,38}[!-~éüßñλж字])".prop_map(|suffix| format!("whsec_{suffix}"))
}

/// 1 to 4 distinct secrets.
fn secret_values() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(secret_value(), 1..=4).prop_map(|set| set.into_iter().collect())
}

/// A secret the strategies above never produce (`¤` is not in their alphabet).
fn outsider(suffix: &str) -> String {
    format!("whsec_\u{a4}{suffix}")
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        2 => prop::collection::vec(any::<u8>(), 0..4096),
        1 => "\\PC{0,200}".prop_map(String::into_bytes),
    ]
}

/// A signing time in unix seconds, from the epoch to well past 2100, and a receiver's clock
/// within the default tolerance of it.
fn fresh_times() -> impl Strategy<Value = (u64, u64)> {
    (0u64..5_000_000_000, -300i64..=300).prop_map(|(t, skew)| (t, t.saturating_add_signed(skew)))
}

fn secrets(values: &[String]) -> Vec<Secret> {
    values
        .iter()
        .map(|v| Secret::new(v.as_str()).unwrap())
        .collect()
}

fn verifier(values: &[String]) -> Verifier {
    Verifier::new(secrets(values)).unwrap()
}

fn signer(values: &[String]) -> Signer {
    Signer::new(secrets(values)).unwrap()
}

/// Splits `body` at the given cut points, empty chunks included.
fn chunked<'b>(body: &'b [u8], cuts: &[Index]) -> Vec<&'b [u8]> {
    let cuts: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
    chunks(body, &cuts)
}

/// One edit to a header value.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
    /// Blanks around the element boundary at this comma (or the ends).
    Blanks(Index, &'static str, &'static str),
    /// ASCII upper-case one stretch.
    Uppercase(Index, usize),
    /// An extra element, which may be unknown, bare, or look like t or v1.
    Element(Index, String),
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => select(&b",= \t0123456789abcdefABCDEFtTv+-"[..]),
        1 => any::<u8>(),
    ]
}

/// Mutations; `whole_v1` also allows inserting a complete, well-formed `v1` (a signature from
/// some other secret, as during a rotation the receiver does not know about).
fn mutation(whole_v1: bool) -> impl Strategy<Value = Mutation> {
    let element = prop_oneof![
        Just(String::new()),
        Just("v0=legacy".to_owned()),
        Just("v2=".to_owned()),
        Just("foo".to_owned()),
        Just("t".to_owned()),
        Just("v1".to_owned()),
        Just("T=1".to_owned()),
        Just("V1=00".to_owned()),
        Just("t=1".to_owned()),
        Just("v1=00".to_owned()),
        "[a-z0-9]{0,4}=[ -~]{0,8}",
        "v1=[0-9a-f]{63}|v1=[0-9a-f]{65}",
    ];
    let element = if whole_v1 {
        prop_oneof![4 => element, 1 => "v1=[0-9a-fA-F]{64}"].boxed()
    } else {
        element.boxed()
    };
    let blanks = select(&["", " ", "\t", " \t ", "  "][..]);
    prop_oneof![
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<Index>(), blanks.clone(), blanks)
            .prop_map(|(i, before, after)| Mutation::Blanks(i, before, after)),
        (any::<Index>(), 1usize..80).prop_map(|(i, n)| Mutation::Uppercase(i, n)),
        (any::<Index>(), element).prop_map(|(i, e)| Mutation::Element(i, e)),
    ]
}

fn apply(header: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Insert(i, b) => {
            let at = i.index(header.len() + 1);
            header.insert(at, *b);
        }
        Mutation::Delete(i) if !header.is_empty() => {
            let at = i.index(header.len());
            header.remove(at);
        }
        Mutation::Replace(i, b) if !header.is_empty() => {
            let at = i.index(header.len());
            header[at] = *b;
        }
        Mutation::Delete(_) | Mutation::Replace(..) => {}
        Mutation::Blanks(i, before, after) => {
            // Boundaries: the start, every comma, the end.
            let mut bounds = vec![0];
            bounds.extend(
                header
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b',')
                    .map(|(at, _)| at),
            );
            bounds.push(header.len());
            let at = bounds[i.index(bounds.len())];
            let mut blanks = before.as_bytes().to_vec();
            if at < header.len() && header[at] == b',' {
                blanks.push(b',');
                blanks.extend_from_slice(after.as_bytes());
                header.splice(at..=at, blanks);
            } else {
                blanks.extend_from_slice(after.as_bytes());
                header.splice(at..at, blanks);
            }
        }
        Mutation::Uppercase(i, n) => {
            let start = i.index(header.len() + 1);
            let end = (start + n).min(header.len());
            header[start..end].make_ascii_uppercase();
        }
        Mutation::Element(i, element) => {
            let mut bounds = vec![0];
            bounds.extend(
                header
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b',')
                    .map(|(at, _)| at + 1),
            );
            bounds.push(header.len());
            let at = bounds[i.index(bounds.len())];
            let mut inserted = element.as_bytes().to_vec();
            if at == header.len() {
                inserted.insert(0, b',');
            } else {
                inserted.push(b',');
            }
            header.splice(at..at, inserted);
        }
    }
}

/// Header values that are often nearly right: mostly one `t` and a few `v1`, sometimes a
/// wrong one of either, with unknown and bare elements and blanks, in any order.
fn headerish() -> impl Strategy<Value = Vec<u8>> {
    let t = prop_oneof![
        20 => "t=[0-9]{1,19}",
        1 => "t=[0-9]{0,21}",
        1 => "t=[+-]?[0-9 ]{1,5}",
    ];
    let v1 = prop_oneof![
        40 => "v1=[0-9a-fA-F]{64}",
        1 => "v1=[0-9a-fA-F]{62,66}",
        1 => "v1=[0-9a-gA-G]{64}",
    ];
    let ts = prop_oneof![
        6 => prop::collection::vec(t.clone(), 1),
        1 => prop::collection::vec(t, 0..=2),
    ];
    let v1s = prop_oneof![
        4 => prop::collection::vec(v1.clone(), 1..=3),
        1 => prop::collection::vec(v1, 0..=17),
    ];
    let noise = prop_oneof![
        "(v0|v2|foo|T|V1|t |x)=[ -~]{0,8}",
        "[a-z]{0,3}",
        "[ -~]{0,10}",
        "\\PC{0,6}",
    ];
    let blank = select(&["", "", " ", "\t", " \t"][..]);
    (ts, v1s, prop::collection::vec(noise, 0..4))
        .prop_flat_map(move |(ts, v1s, noise)| {
            let elements: Vec<String> = ts.into_iter().chain(v1s).chain(noise).collect();
            let n = elements.len();
            (
                Just(elements).prop_shuffle(),
                prop::collection::vec((blank.clone(), blank.clone()), n),
            )
        })
        .prop_map(|(elements, blanks)| {
            elements
                .iter()
                .zip(blanks)
                .map(|(e, (before, after))| format!("{before}{e}{after}"))
                .collect::<Vec<_>>()
                .join(",")
                .into_bytes()
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sign_then_verify_accepts(
        (signed_by, held) in secret_values().prop_flat_map(|all| {
            let n = all.len();
            (Just(all.clone()), subsequence(all, 1..=n))
        }),
        strangers in prop::collection::vec("[a-z]{0,6}", 0..=2),
        body in body(),
        (t, now) in fresh_times(),
    ) {
        // The receiver holds a non-empty subset of the signer's secrets, possibly after secrets
        // the signer does not have.
        let mut receiver: Vec<String> = strangers.iter().map(|s| outsider(s)).collect();
        let first_match = receiver.len();
        receiver.extend(held);
        let header = signer(&signed_by).sign(t, &body);

        // The signer writes the canonical form.
        prop_assert_eq!(SignatureHeader::parse(header.as_bytes()).unwrap().to_string(), header.clone());

        let verified = verifier(&receiver).verify_at(header.as_bytes(), &body, now);
        let verified = verified.unwrap();
        prop_assert_eq!(verified.timestamp(), t);
        prop_assert_eq!(verified.secret_index(), first_match);
    }

    #[test]
    fn any_flipped_bit_in_the_body_rejects(
        values in secret_values(),
        body in prop::collection::vec(any::<u8>(), 1..2048),
        at in any::<Index>(),
        bit in 0u8..8,
        (t, now) in fresh_times(),
    ) {
        let header = signer(&values).sign(t, &body);
        let mut tampered = body.clone();
        tampered[at.index(body.len())] ^= 1 << bit;
        let verifier = verifier(&values);
        prop_assert!(verifier.verify_at(header.as_bytes(), &body, now).is_ok());
        prop_assert_eq!(
            verifier.verify_at(header.as_bytes(), &tampered, now),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn truncated_or_extended_body_rejects(
        values in secret_values(),
        body in body(),
        extra in prop::collection::vec(any::<u8>(), 1..16),
        cut in any::<Index>(),
        (t, now) in fresh_times(),
    ) {
        let header = signer(&values).sign(t, &body);
        let verifier = verifier(&values);
        let mut longer = body.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(
            verifier.verify_at(header.as_bytes(), &longer, now),
            Err(VerifyError::SignatureMismatch)
        );
        if !body.is_empty() {
            let shorter = &body[..cut.index(body.len())];
            prop_assert_eq!(
                verifier.verify_at(header.as_bytes(), shorter, now),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn a_different_secret_rejects(
        values in secret_values(),
        other in secret_value(),
        body in body(),
        (t, now) in fresh_times(),
    ) {
        let header = signer(&values).sign(t, &body);
        // Another secret of the same shape, or one differing only by a trailing character.
        let wrong = [outsider(&other), format!("{}x", values[0])];
        for wrong in wrong.iter().filter(|w| !values.contains(w)) {
            prop_assert_eq!(
                verifier(std::slice::from_ref(wrong)).verify_at(header.as_bytes(), &body, now),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn a_signature_moved_to_another_timestamp_rejects(
        values in secret_values(),
        body in body(),
        (t, now) in fresh_times(),
        shift in prop_oneof![-300i64..=-1, 1i64..=300],
        zeros in 1usize..4,
    ) {
        let header = signer(&values).sign(t, &body);
        let v1s = &header[header.find(",v1=").unwrap()..];
        let verifier = verifier(&values).dangerous_disable_timestamp_check();
        let moved = t.saturating_add_signed(shift);
        if moved != t {
            let header = format!("t={moved}{v1s}");
            prop_assert_eq!(
                verifier.verify_at(header.as_bytes(), &body, now),
                Err(VerifyError::SignatureMismatch)
            );
        }
        // The same number written with leading zeros is another signed payload.
        let padded = format!("t={}{t}{v1s}", "0".repeat(zeros));
        prop_assert_eq!(
            verifier.verify_at(padded.as_bytes(), &body, now),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn now_outside_the_tolerance_rejects(
        values in secret_values(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        t in 1_000_000u64..5_000_000_000,
        past in 0u64..1_000,
        future in 0u64..1_000,
        beyond in 1u64..100_000,
    ) {
        let header = signer(&values).sign(t, &body);
        let verifier = verifier(&values)
            .with_past_tolerance(Duration::from_secs(past))
            .with_future_tolerance(Duration::from_secs(future));
        let at = |now| verifier.verify_at(header.as_bytes(), &body, now);
        prop_assert!(at(t + past).is_ok());
        prop_assert!(at(t - future).is_ok());
        prop_assert_eq!(
            at(t + past + beyond),
            Err(VerifyError::TooOld { age_secs: past + beyond, tolerance_secs: past })
        );
        prop_assert_eq!(
            at(t - future - beyond),
            Err(VerifyError::TooNew { ahead_secs: future + beyond, tolerance_secs: future })
        );
        // The default verifier, both ways.
        let default = self::verifier(&values);
        let too_old = default.verify_at(header.as_bytes(), &body, t + TOLERANCE + beyond);
        prop_assert!(matches!(too_old, Err(VerifyError::TooOld { .. })), "{:?}", too_old);
        let too_new = default.verify_at(header.as_bytes(), &body, t - TOLERANCE - beyond);
        prop_assert!(matches!(too_new, Err(VerifyError::TooNew { .. })), "{:?}", too_new);
    }

    #[test]
    fn parser_never_panics_and_accepts_only_what_round_trips(
        raw in prop_oneof![
            1 => prop::collection::vec(any::<u8>(), 0..9 * 1024),
            2 => prop::collection::vec(any::<u8>(), 0..256),
            3 => headerish(),
        ],
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        match SignatureHeader::parse(&raw) {
            Ok(header) => {
                prop_assert!(raw.len() <= kirim_verify::header::MAX_HEADER_BYTES);
                let canonical = header.to_string();
                prop_assert_eq!(SignatureHeader::parse(canonical.as_bytes()), Ok(header.clone()));
                prop_assert_eq!(SignatureHeader::parse(canonical.as_bytes()).unwrap().to_string(), canonical);
                prop_assert!((1..=kirim_verify::header::MAX_SIGNATURES).contains(&header.signatures().len()));
                prop_assert!((1..=19).contains(&header.timestamp_digits().len()));
            }
            Err(MalformedHeader::TooLong) => {
                prop_assert!(raw.len() > kirim_verify::header::MAX_HEADER_BYTES);
            }
            Err(_) => {}
        }
        // The verifier agrees with the parser on what is malformed, and never panics either.
        let verifier = verifier(&["whsec_test".to_owned()]).dangerous_disable_timestamp_check();
        let verdict = verifier.verify_at(&raw, &body, 0);
        match SignatureHeader::parse(&raw) {
            Err(reason) => prop_assert_eq!(verdict, Err(VerifyError::MalformedHeader(reason))),
            Ok(_) => prop_assert!(
                !matches!(verdict, Err(VerifyError::MalformedHeader(_))),
                "{:?}",
                verdict
            ),
        }
    }

    #[test]
    fn a_mutated_header_verifies_only_if_its_t_and_signature_survive(
        value in secret_value(),
        body in prop::collection::vec(any::<u8>(), 0..128),
        (t, now) in fresh_times(),
        mutations in prop::collection::vec(mutation(false), 1..5),
    ) {
        let values = [value];
        let original = signer(&values).sign(t, &body);
        let signed = SignatureHeader::parse(original.as_bytes()).unwrap();
        let mut mutated = original.clone().into_bytes();
        for m in &mutations {
            apply(&mut mutated, m);
        }
        let verifier = verifier(&values);
        if verifier.verify_at(&mutated, &body, now).is_ok() {
            // Whatever else changed (blanks, hex case, unknown elements, an extra `v1` that
            // nobody can verify), the signed `t` and the signer's own `v1` are still there.
            let accepted = SignatureHeader::parse(&mutated).unwrap();
            prop_assert_eq!(accepted.timestamp_digits(), signed.timestamp_digits());
            prop_assert!(
                accepted.signatures().contains(&signed.signatures()[0]),
                "accepted {:?}",
                String::from_utf8_lossy(&mutated)
            );
            // And the canonical form differs from the original by extra `v1` entries only.
            let canonical = accepted.to_string();
            let original_v1 = &original[original.find(",v1=").unwrap()..];
            prop_assert!(canonical.contains(original_v1), "{} vs {}", canonical, original);
        }
    }

    #[test]
    fn a_mutated_rotation_header_verifies_only_with_the_signers_own_entries(
        values in secret_values(),
        body in prop::collection::vec(any::<u8>(), 0..128),
        (t, now) in fresh_times(),
        mutations in prop::collection::vec(mutation(true), 1..5),
    ) {
        let original = signer(&values).sign(t, &body);
        let signed = SignatureHeader::parse(original.as_bytes()).unwrap();
        let mut mutated = original.clone().into_bytes();
        for m in &mutations {
            apply(&mut mutated, m);
        }
        if verifier(&values).verify_at(&mutated, &body, now).is_ok() {
            // What is left is what a signer holding some of the secrets could have sent, plus
            // at most entries nobody can verify.
            let accepted = SignatureHeader::parse(&mutated).unwrap();
            prop_assert_eq!(accepted.timestamp_digits(), signed.timestamp_digits());
            prop_assert!(
                accepted.signatures().iter().any(|s| signed.signatures().contains(s)),
                "accepted {:?}",
                String::from_utf8_lossy(&mutated)
            );
        }
    }

    #[test]
    fn incremental_equals_one_shot(
        values in secret_values(),
        body in body(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        (t, now) in fresh_times(),
        kind in 0u8..5,
        flip in any::<Index>(),
    ) {
        let s = signer(&values);
        let header = match kind {
            0 => s.sign(t, &body),
            1 => s.forged(t, &body),
            2 => s.with_extra_signature(t, &body),
            3 => s.expired(now, &body),
            _ => s.sign(t, &body),
        };
        let mut body = body;
        if kind == 4 && !body.is_empty() {
            let at = flip.index(body.len());
            body[at] ^= 0x80;
        }
        let verifier = verifier(&values);
        let parts = chunked(&body, &cuts);
        prop_assert_eq!(parts.concat(), body.clone());
        let one_shot = verifier.verify_at(header.as_bytes(), &body, now);
        prop_assert_eq!(incremental(&verifier, header.as_bytes(), &parts, now), one_shot);
    }
}
