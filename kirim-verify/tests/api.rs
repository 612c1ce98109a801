//! Public-API tests for the core: construction, tolerance, rotation, incremental verification,
//! error mapping, redaction, the signer's helpers, delivery headers and the header's canonical
//! form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/incremental.rs"]
mod incremental;
use incremental::{chunks, incremental};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use hmac::{Hmac, KeyInit, Mac};
use kirim_verify::{
    ConfigError, DEFAULT_TOLERANCE, Delivery, Error, MAX_HEADER_BYTES, MAX_SECRETS, MAX_SIGNATURES,
    MalformedHeader, Receiver, Rejection, Secret, SignatureHeader, Signer, Source, Verifier,
    Webhook, names,
};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_716_480_000;
const BODY: &[u8] =
    br#"{"id":"evt_01HXYZABCDEFGHJKMNPQRSTVWX","type":"contact.created","created_at":"2026-05-23T10:00:00Z","livemode":true,"data":{}}"#;
/// The v1 for `BODY` at `NOW` with `whsec_test` (the first shared known-answer vector).
const KNOWN_V1: &str = "6317b47eecc3a55a1b1f2c0511df9c14344ef8cd78484b04bd8b77b9a6da3fd3";

fn secret(value: &str) -> Secret {
    Secret::new(value).unwrap()
}

fn verifier(values: &[&str]) -> Verifier {
    Verifier::new(values.iter().map(|v| secret(v))).unwrap()
}

fn signer(values: &[&str]) -> Signer {
    Signer::new(values.iter().map(|v| secret(v))).unwrap()
}

/// HMAC-SHA256 of `t "." body` keyed with the whole secret string, computed here rather than by
/// the crate, as lowercase hex.
fn v1(secret: &str, t: &str, body: &[u8]) -> String {
    v1_with_key(secret.as_bytes(), t, body)
}

fn v1_with_key(key: &[u8], t: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// Construction

#[test]
fn verifier_needs_one_to_sixteen_secrets() {
    assert_eq!(
        Verifier::new(Vec::<Secret>::new()).err(),
        Some(ConfigError::NoSecrets)
    );
    let many = |n: usize| (0..n).map(|i| secret(&format!("whsec_{i}")));
    assert_eq!(MAX_SECRETS, 16);
    assert_eq!(
        Verifier::new(many(17)).err(),
        Some(ConfigError::TooManySecrets)
    );
    assert_eq!(Verifier::new(many(16)).unwrap().secret_count(), 16);
    assert_eq!(Verifier::new(many(1)).unwrap().secret_count(), 1);
}

#[test]
fn signer_needs_one_to_sixteen_secrets() {
    assert_eq!(
        Signer::new(Vec::<Secret>::new()).err(),
        Some(ConfigError::NoSecrets)
    );
    let many = |n: usize| (0..n).map(|i| secret(&format!("whsec_{i}")));
    assert_eq!(
        Signer::new(many(17)).err(),
        Some(ConfigError::TooManySecrets)
    );
    let header = Signer::new(many(16)).unwrap().sign(NOW, BODY);
    assert_eq!(
        SignatureHeader::parse(header.as_bytes())
            .unwrap()
            .signatures()
            .len(),
        16
    );
}

#[test]
fn secret_refuses_what_could_never_verify() {
    assert_eq!(Secret::new("").err(), Some(ConfigError::EmptySecret));
    assert_eq!(Secret::new("test").err(), Some(ConfigError::MissingPrefix));
    assert_eq!(
        Secret::new("WHSEC_test").err(),
        Some(ConfigError::MissingPrefix)
    );
    // Base64 of the part after the prefix, as a receiver that "decodes" the secret would hold.
    assert_eq!(
        Secret::new("dGVzdA==").err(),
        Some(ConfigError::MissingPrefix)
    );
    for padded in [
        " whsec_test",
        "whsec_test ",
        "whsec_test\n",
        "whsec_test\r\n",
        "\twhsec_test",
    ] {
        assert_eq!(
            Secret::new(padded).err(),
            Some(ConfigError::SurroundingWhitespace),
            "{padded:?}"
        );
    }
    assert!(Secret::new("whsec_test").is_ok());
    assert_eq!(Secret::new("whsec_test").unwrap().label(), None);
}

#[test]
fn secret_labels() {
    let s = secret("whsec_test").with_label("sec_2024");
    assert_eq!(s.label(), Some("sec_2024"));

    let s: Secret = "sec_2024=whsec_test".parse().unwrap();
    assert_eq!(s.label(), Some("sec_2024"));
    let s: Secret = " old = whsec_test ".trim().parse().unwrap();
    assert_eq!(s.label(), Some("old"));
    let s: Secret = "whsec_test".parse().unwrap();
    assert_eq!(s.label(), None);

    assert_eq!(
        "=whsec_test".parse::<Secret>().err(),
        Some(ConfigError::EmptyLabel)
    );
    assert_eq!(
        " =whsec_test".parse::<Secret>().err(),
        Some(ConfigError::EmptyLabel)
    );
    assert_eq!(
        "old=".parse::<Secret>().err(),
        Some(ConfigError::EmptySecret)
    );
    assert_eq!(
        "old=test".parse::<Secret>().err(),
        Some(ConfigError::MissingPrefix)
    );
    assert_eq!("".parse::<Secret>().err(), Some(ConfigError::EmptySecret));
}

/// A parsed entry keys HMAC with exactly the secret string: check it against a signature
/// computed here, so a wrong split (at an `=` inside the secret) cannot pass unnoticed.
fn assert_keys_with(entry: &str, key: &str, label: Option<&str>) {
    let parsed: Secret = entry.parse().unwrap();
    assert_eq!(parsed.label(), label, "{entry:?}");
    let header = format!("t={NOW},v1={}", v1(key, &NOW.to_string(), BODY));
    let verified = Verifier::new([parsed])
        .unwrap()
        .verify_at(header.as_bytes(), BODY, NOW);
    assert!(verified.is_ok(), "{entry:?} does not key with {key:?}");
}

#[test]
fn secrets_containing_equals_signs() {
    // Base64 padding and inner '=': an entry starting with whsec_ is never split.
    assert_keys_with("whsec_Zm9vYmFyYg==", "whsec_Zm9vYmFyYg==", None);
    assert_keys_with("whsec_a=b=c", "whsec_a=b=c", None);
    // label=whsec_… splits at the first '=' only.
    assert_keys_with(
        "sec_1=whsec_Zm9vYmFyYg==",
        "whsec_Zm9vYmFyYg==",
        Some("sec_1"),
    );
    assert_keys_with("new = whsec_a=b", "whsec_a=b", Some("new"));
}

#[test]
fn secret_lists() {
    let list = Secret::parse_list("old=whsec_test, new=whsec_rotating==, whsec_third").unwrap();
    let labels: Vec<Option<&str>> = list.iter().map(Secret::label).collect();
    assert_eq!(labels, [Some("old"), Some("new"), None]);

    // The order is kept, so indexes reported by the verifier point into the list.
    let verifier = Verifier::new(list).unwrap();
    let header = signer(&["whsec_rotating=="]).sign(NOW, BODY);
    let verified = verifier.verify_at(header.as_bytes(), BODY, NOW).unwrap();
    assert_eq!(
        (verified.secret_index(), verified.secret_label()),
        (1, Some("new"))
    );

    assert_eq!(Secret::parse_list("whsec_a,,\twhsec_b ,").unwrap().len(), 2);
    assert_eq!(Secret::parse_list("").err(), Some(ConfigError::NoSecrets));
    assert_eq!(
        Secret::parse_list(" , ,").err(),
        Some(ConfigError::NoSecrets)
    );
    assert_eq!(
        Secret::parse_list("whsec_a,oops").err(),
        Some(ConfigError::MissingPrefix)
    );
    assert_eq!(
        Secret::parse_list("whsec_a,=whsec_b").err(),
        Some(ConfigError::EmptyLabel)
    );
}

// ---------------------------------------------------------------------------------------------
// Timestamp tolerance

#[test]
fn default_tolerance_is_300_s_both_ways_inclusive() {
    let verifier = verifier(&["whsec_test"]);
    assert_eq!(DEFAULT_TOLERANCE, Duration::from_secs(300));
    assert_eq!(verifier.past_tolerance(), Some(Duration::from_secs(300)));
    assert_eq!(verifier.future_tolerance(), Some(Duration::from_secs(300)));

    let header = signer(&["whsec_test"]).sign(NOW, BODY);
    let at = |now| verifier.verify_at(header.as_bytes(), BODY, now);
    assert!(at(NOW).is_ok());
    assert!(at(NOW + 300).is_ok());
    assert!(at(NOW - 300).is_ok());
    assert_eq!(
        at(NOW + 301).unwrap_err(),
        Error::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        at(NOW - 301).unwrap_err(),
        Error::TooNew {
            ahead_secs: 301,
            tolerance_secs: 300
        }
    );
}

#[test]
fn past_and_future_tolerances_are_separate() {
    let header = signer(&["whsec_test"]).sign(NOW, BODY);

    let past = verifier(&["whsec_test"]).with_past_tolerance(Duration::from_secs(10));
    assert_eq!(past.past_tolerance(), Some(Duration::from_secs(10)));
    assert_eq!(past.future_tolerance(), Some(Duration::from_secs(300)));
    assert!(past.verify_at(header.as_bytes(), BODY, NOW + 10).is_ok());
    assert_eq!(
        past.verify_at(header.as_bytes(), BODY, NOW + 11),
        Err(Error::TooOld {
            age_secs: 11,
            tolerance_secs: 10
        })
    );
    assert!(past.verify_at(header.as_bytes(), BODY, NOW - 300).is_ok());
    assert!(matches!(
        past.verify_at(header.as_bytes(), BODY, NOW - 301),
        Err(Error::TooNew { .. })
    ));

    let future = verifier(&["whsec_test"]).with_future_tolerance(Duration::from_secs(5));
    assert_eq!(future.past_tolerance(), Some(Duration::from_secs(300)));
    assert_eq!(future.future_tolerance(), Some(Duration::from_secs(5)));
    assert!(future.verify_at(header.as_bytes(), BODY, NOW - 5).is_ok());
    assert_eq!(
        future.verify_at(header.as_bytes(), BODY, NOW - 6),
        Err(Error::TooNew {
            ahead_secs: 6,
            tolerance_secs: 5
        })
    );
    assert!(future.verify_at(header.as_bytes(), BODY, NOW + 300).is_ok());
    assert!(matches!(
        future.verify_at(header.as_bytes(), BODY, NOW + 301),
        Err(Error::TooOld { .. })
    ));

    // with_tolerance sets both; sub-second parts are ignored.
    let both = verifier(&["whsec_test"]).with_tolerance(Duration::from_millis(60_999));
    assert_eq!(both.past_tolerance(), Some(Duration::from_secs(60)));
    assert_eq!(both.future_tolerance(), Some(Duration::from_secs(60)));
    assert!(both.verify_at(header.as_bytes(), BODY, NOW + 61).is_err());
    assert!(both.verify_at(header.as_bytes(), BODY, NOW - 61).is_err());

    // Zero tolerance: only the same second.
    let zero = verifier(&["whsec_test"]).with_tolerance(Duration::ZERO);
    assert!(zero.verify_at(header.as_bytes(), BODY, NOW).is_ok());
    assert!(zero.verify_at(header.as_bytes(), BODY, NOW + 1).is_err());
    assert!(zero.verify_at(header.as_bytes(), BODY, NOW - 1).is_err());
}

#[test]
fn disabled_timestamp_check_accepts_a_year_old_delivery() {
    let year = 365 * 24 * 3600;
    let header = signer(&["whsec_test"]).sign(NOW - year, BODY);
    let strict = verifier(&["whsec_test"]);
    assert_eq!(
        strict.verify_at(header.as_bytes(), BODY, NOW),
        Err(Error::TooOld {
            age_secs: year,
            tolerance_secs: 300
        })
    );

    let lax = strict.dangerous_disable_timestamp_check();
    assert_eq!(lax.past_tolerance(), None);
    assert_eq!(lax.future_tolerance(), None);
    assert_eq!(
        lax.verify_at(header.as_bytes(), BODY, NOW)
            .unwrap()
            .timestamp(),
        NOW - year
    );
    // Any timestamp, however far off: the epoch and a far future alike.
    for t in [0, NOW + year] {
        let header = signer(&["whsec_test"]).sign(t, BODY);
        assert!(lax.verify_at(header.as_bytes(), BODY, NOW).is_ok(), "{t}");
    }
    // The signature is still checked.
    assert_eq!(
        lax.verify_at(header.as_bytes(), b"{}", NOW),
        Err(Error::SignatureMismatch)
    );
    // A setter afterwards turns that one direction back on.
    let past_again = lax.with_past_tolerance(Duration::from_secs(300));
    assert!(past_again.verify_at(header.as_bytes(), BODY, NOW).is_err());
    assert_eq!(past_again.future_tolerance(), None);
}

#[test]
fn too_old_and_too_new_carry_the_numbers() {
    let verifier = verifier(&["whsec_test"]).with_tolerance(Duration::from_secs(42));
    let header = signer(&["whsec_test"]).sign(1_000, BODY);
    assert_eq!(
        verifier.verify_at(header.as_bytes(), BODY, 1_000 + 4242),
        Err(Error::TooOld {
            age_secs: 4242,
            tolerance_secs: 42
        })
    );
    assert_eq!(
        verifier.verify_at(header.as_bytes(), BODY, 0),
        Err(Error::TooNew {
            ahead_secs: 1_000,
            tolerance_secs: 42
        })
    );
    // The timestamp is checked before the signature: a stale forgery reports its age.
    let forged = signer(&["whsec_test"]).forged(1_000, BODY);
    assert!(matches!(
        verifier.verify_at(forged.as_bytes(), BODY, 9_999),
        Err(Error::TooOld {
            age_secs: 8_999,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Rotation: which secret matched

#[test]
fn rotation_reports_the_matching_secret() {
    let old = || secret("whsec_old").with_label("old");
    let new = || secret("whsec_new").with_label("new");
    // Kirim signs with both during a rotation.
    let both_signed = Signer::new([old(), new()]).unwrap().sign(NOW, BODY);
    let new_signed = signer(&["whsec_new"]).sign(NOW, BODY);

    let only_new = Verifier::new([new()]).unwrap();
    let v = only_new
        .verify_at(both_signed.as_bytes(), BODY, NOW)
        .unwrap();
    assert_eq!((v.secret_index(), v.secret_label()), (0, Some("new")));

    let old_then_new = Verifier::new([old(), new()]).unwrap();
    let v = old_then_new
        .verify_at(new_signed.as_bytes(), BODY, NOW)
        .unwrap();
    assert_eq!((v.secret_index(), v.secret_label()), (1, Some("new")));

    let unlabelled = verifier(&["whsec_old", "whsec_new"]);
    let v = unlabelled
        .verify_at(new_signed.as_bytes(), BODY, NOW)
        .unwrap();
    assert_eq!((v.secret_index(), v.secret_label()), (1, None));

    // Neither configured secret: refused.
    let other = verifier(&["whsec_other", "whsec_another"]);
    assert_eq!(
        other.verify_at(both_signed.as_bytes(), BODY, NOW),
        Err(Error::SignatureMismatch)
    );
}

#[test]
fn first_matching_secret_wins() {
    let old = || secret("whsec_old").with_label("old");
    let new = || secret("whsec_new").with_label("new");
    let verifier = Verifier::new([old(), new()]).unwrap();
    // Both v1 match; whatever their order in the header, the first configured secret wins.
    for header in [
        Signer::new([old(), new()]).unwrap().sign(NOW, BODY),
        Signer::new([new(), old()]).unwrap().sign(NOW, BODY),
    ] {
        let v = verifier.verify_at(header.as_bytes(), BODY, NOW).unwrap();
        assert_eq!(
            (v.secret_index(), v.secret_label()),
            (0, Some("old")),
            "{header}"
        );
    }
    // The same secret configured twice: the first copy.
    let twice = Verifier::new([secret("whsec_new"), new()]).unwrap();
    let v = twice
        .verify_at(signer(&["whsec_new"]).sign(NOW, BODY).as_bytes(), BODY, NOW)
        .unwrap();
    assert_eq!((v.secret_index(), v.secret_label()), (0, None));
}

/// Runs the receiving flow's first two steps on one request: the headers at `begin`, the body
/// in two chunks, `finish` at `finished`.
fn receive(
    receiver: &Receiver,
    header: &str,
    body: &[u8],
    now: u64,
    finished: u64,
) -> Result<Webhook, Rejection> {
    let headers: [(&str, &[u8]); 3] = [
        (names::SIGNATURE, header.as_bytes()),
        (names::EVENT, b"contact.created"),
        (names::EVENT_ID, b"evt_01HXYZABCDEFGHJKMNPQRSTVWX"),
    ];
    let mut intake = receiver.begin(lookup(&headers), now)?;
    let (head, tail) = body.split_at(body.len() / 2);
    intake.push(Bytes::copy_from_slice(head))?;
    intake.push(Bytes::copy_from_slice(tail))?;
    intake.finish(finished)
}

#[test]
fn replay_fingerprint_is_the_digest_of_the_signed_message() {
    let receiver = Receiver::new(verifier(&["whsec_old", "whsec_new"]));
    let both = signer(&["whsec_old", "whsec_new"]).sign(NOW, BODY);
    let webhook = receive(&receiver, &both, BODY, NOW, NOW).unwrap();
    let expected: [u8; 32] = Sha256::digest(
        format!("{NOW}.")
            .as_bytes()
            .iter()
            .chain(BODY)
            .copied()
            .collect::<Vec<u8>>(),
    )
    .into();
    assert_eq!(webhook.replay_fingerprint(), expected);

    // The same delivery with only one of its signatures, either one, in any order: the same
    // fingerprint, so dropping a v1 cannot get a captured delivery past the replay guard.
    let old_only = format!("t={NOW},v1={}", v1("whsec_old", &NOW.to_string(), BODY));
    let new_only = format!("t={NOW},v1={}", v1("whsec_new", &NOW.to_string(), BODY));
    let swapped = format!(
        "t={NOW},v1={},v1={}",
        v1("whsec_new", &NOW.to_string(), BODY),
        v1("whsec_old", &NOW.to_string(), BODY)
    );
    for header in [old_only, new_only, swapped] {
        let again = receive(&receiver, &header, BODY, NOW, NOW).unwrap();
        assert_eq!(again.replay_fingerprint(), expected, "{header}");
    }
    // Nor does the receiver's configuration matter (a rollout of a new secret).
    let new_receiver = Receiver::new(verifier(&["whsec_new"]));
    let elsewhere = receive(&new_receiver, &both, BODY, NOW, NOW).unwrap();
    assert_eq!(elsewhere.replay_fingerprint(), expected);

    // Another body or another t is another signed message.
    let s = signer(&["whsec_new"]);
    let other_body = receive(&receiver, &s.sign(NOW, b"{}"), b"{}", NOW, NOW).unwrap();
    let other_t = receive(&receiver, &s.sign(NOW + 1, BODY), BODY, NOW, NOW).unwrap();
    assert_ne!(other_body.replay_fingerprint(), expected);
    assert_ne!(other_t.replay_fingerprint(), expected);
    assert_ne!(
        other_t.replay_fingerprint(),
        other_body.replay_fingerprint()
    );
}

#[test]
fn a_body_that_outlasts_the_tolerance_is_refused_when_it_ends() {
    let receiver = Receiver::new(verifier(&["whsec_test"]));
    let header = signer(&["whsec_test"]).sign(NOW, BODY);
    // The header arrives 200 s after signing, fresh; the body ends 300 s after signing,
    // still within the tolerance, or 301 s after, outside it.
    assert!(receive(&receiver, &header, BODY, NOW + 200, NOW + 300).is_ok());
    assert!(matches!(
        receive(&receiver, &header, BODY, NOW + 200, NOW + 301),
        Err(Rejection::Verify(Error::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        }))
    ));
    // The incremental verifier alone: finish_at checks again, finish does not.
    let verifier = verifier(&["whsec_test"]);
    let late = |finish_at: bool| {
        let mut verification = verifier.start_at(header.as_bytes(), NOW + 200).unwrap();
        verification.update(BODY);
        if finish_at {
            verification.finish_at(NOW + 301)
        } else {
            verification.finish()
        }
    };
    assert!(matches!(
        late(true),
        Err(Error::TooOld { age_secs: 301, .. })
    ));
    assert_eq!(late(false).unwrap().timestamp(), NOW);
}

#[test]
fn known_answer_and_key_is_the_whole_secret_string() {
    let verifier = verifier(&["whsec_test"]);
    let header = format!("t={NOW},v1={KNOWN_V1}");
    assert_eq!(
        verifier
            .verify_at(header.as_bytes(), BODY, NOW)
            .unwrap()
            .timestamp(),
        NOW
    );
    assert_eq!(v1("whsec_test", &NOW.to_string(), BODY), KNOWN_V1);
    // Keyed without the prefix, with the remainder base64-decoded, or with a trailing newline:
    // not Kirim's signature.
    for wrong_key in [&b"test"[..], b"\xb5\xeb\x2d", b"whsec_test\n"] {
        let header = format!(
            "t={NOW},v1={}",
            v1_with_key(wrong_key, &NOW.to_string(), BODY)
        );
        assert_eq!(
            verifier.verify_at(header.as_bytes(), BODY, NOW),
            Err(Error::SignatureMismatch)
        );
    }
}

#[test]
fn t_digits_are_signed_exactly_as_received() {
    let verifier = verifier(&["whsec_test"]);
    let padded = format!("000{NOW}");
    let as_received = format!("t={padded},v1={}", v1("whsec_test", &padded, BODY));
    let v = verifier
        .verify_at(as_received.as_bytes(), BODY, NOW)
        .unwrap();
    assert_eq!(v.timestamp(), NOW);
    let renormalised = format!("t={padded},v1={KNOWN_V1}");
    assert_eq!(
        verifier.verify_at(renormalised.as_bytes(), BODY, NOW),
        Err(Error::SignatureMismatch)
    );
}

// ---------------------------------------------------------------------------------------------
// Incremental verification

#[test]
fn incremental_equals_one_shot() {
    let verifier = Verifier::new([
        secret("whsec_old").with_label("old"),
        secret("whsec_new").with_label("new"),
    ])
    .unwrap();
    let s = signer(&["whsec_new"]);
    let bodies: [&[u8]; 4] = [BODY, b"", b"\xff\x00\xfe binary", &[7u8; 3000]];
    for body in bodies {
        let headers = [
            s.sign(NOW, body),
            s.forged(NOW, body),
            s.with_extra_signature(NOW, body),
            s.sign(NOW, b"another body"),
        ];
        let len = body.len();
        let chunkings: [Vec<usize>; 6] = [
            vec![],
            vec![0],
            vec![len],
            vec![1, 2, 3],
            vec![len / 2, len / 2, len / 3],
            (0..len).step_by(97).collect(),
        ];
        for header in &headers {
            let one_shot = verifier.verify_at(header.as_bytes(), body, NOW);
            for cuts in &chunkings {
                let parts = chunks(body, cuts);
                assert_eq!(parts.concat(), body);
                assert_eq!(
                    incremental(&verifier, header.as_bytes(), &parts, NOW),
                    one_shot,
                    "{header} {cuts:?}"
                );
            }
        }
        // Byte by byte.
        let header = s.sign(NOW, body);
        let parts: Vec<&[u8]> = body.chunks(1).collect();
        let v = incremental(&verifier, header.as_bytes(), &parts, NOW).unwrap();
        assert_eq!((v.secret_index(), v.secret_label()), (1, Some("new")));
    }
}

#[test]
fn stale_or_malformed_is_refused_before_any_body() {
    let verifier = verifier(&["whsec_test"]);
    let s = signer(&["whsec_test"]);
    let cases = [
        (s.expired(NOW, BODY), NOW),
        (s.future(NOW, BODY), NOW),
        (s.without_timestamp(NOW, BODY), NOW),
        (format!("t={NOW}"), NOW),
        (format!("t={NOW},v1=abc"), NOW),
        (String::new(), NOW),
        (s.sign(NOW, BODY), NOW + 301),
    ];
    for (header, now) in &cases {
        let started = verifier.start_at(header.as_bytes(), *now);
        let expected = verifier
            .verify_at(header.as_bytes(), BODY, *now)
            .unwrap_err();
        assert_eq!(started.err(), Some(expected), "{header:?}");
        assert_ne!(expected, Error::SignatureMismatch);
    }
    // A fresh, well-formed header starts; the timestamp is readable before the body.
    let header = s.sign(NOW, BODY);
    let verification = verifier.start_at(header.as_bytes(), NOW).unwrap();
    assert_eq!(verification.timestamp(), NOW);
    // Finishing without the body is a mismatch, not a panic.
    assert_eq!(verification.finish(), Err(Error::SignatureMismatch));
}

#[test]
fn system_clock_entry_points() {
    let verifier = verifier(&["whsec_test"]);
    let s = signer(&["whsec_test"]);
    let header = s.sign_now(BODY);
    let v = verifier.verify(header.as_bytes(), BODY).unwrap();
    assert!(v.timestamp().abs_diff(now_secs()) <= 5);
    let mut verification = verifier.start(header.as_bytes()).unwrap();
    verification.update(BODY);
    assert_eq!(verification.finish().unwrap().timestamp(), v.timestamp());
    assert!(matches!(
        verifier.verify(s.expired(now_secs(), BODY).as_bytes(), BODY),
        Err(Error::TooOld { .. })
    ));
    assert!(matches!(
        verifier.start(s.sign(NOW, BODY).as_bytes()),
        Err(Error::TooOld { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Errors: status and messages

fn every_malformed_reason() -> [MalformedHeader; 7] {
    [
        MalformedHeader::TooLong,
        MalformedHeader::MissingTimestamp,
        MalformedHeader::DuplicateTimestamp,
        MalformedHeader::InvalidTimestamp,
        MalformedHeader::InvalidSignature,
        MalformedHeader::MissingSignature,
        MalformedHeader::TooManySignatures,
    ]
}

fn every_error() -> Vec<Error> {
    let mut errors = vec![
        Error::MissingHeader {
            name: names::SIGNATURE,
        },
        Error::InvalidHeader {
            name: names::EVENT_ID,
        },
        Error::SignatureMismatch,
        Error::TooOld {
            age_secs: 360,
            tolerance_secs: 300,
        },
        Error::TooNew {
            ahead_secs: 361,
            tolerance_secs: 300,
        },
    ];
    errors.extend(every_malformed_reason().map(Error::MalformedHeader));
    errors
}

#[test]
fn status_codes_follow_the_spec() {
    for reason in every_malformed_reason() {
        assert_eq!(Error::MalformedHeader(reason).status(), 400, "{reason:?}");
        assert_eq!(Error::from(reason), Error::MalformedHeader(reason));
    }
    assert_eq!(
        Error::MissingHeader {
            name: names::SIGNATURE
        }
        .status(),
        400
    );
    assert_eq!(Error::InvalidHeader { name: names::EVENT }.status(), 400);
    assert_eq!(Error::SignatureMismatch.status(), 401);
    assert_eq!(
        Error::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
        .status(),
        401
    );
    assert_eq!(
        Error::TooNew {
            ahead_secs: 301,
            tolerance_secs: 300
        }
        .status(),
        401
    );

    // And what the verifier returns for real deliveries maps the same way.
    let verifier = verifier(&["whsec_test"]);
    let s = signer(&["whsec_test"]);
    let status = |header: String| {
        verifier
            .verify_at(header.as_bytes(), BODY, NOW)
            .unwrap_err()
            .status()
    };
    assert_eq!(status(s.without_timestamp(NOW, BODY)), 400);
    assert_eq!(status("garbage".into()), 400);
    assert_eq!(status(s.forged(NOW, BODY)), 401);
    assert_eq!(status(s.expired(NOW, BODY)), 401);
    assert_eq!(status(s.future(NOW, BODY)), 401);
}

fn assert_operator_message(text: &str) {
    let first = text.chars().next().expect("empty message");
    assert!(first.is_lowercase(), "not lowercase: {text:?}");
    assert!(!text.ends_with('.'), "trailing period: {text:?}");
    assert!(text.len() >= 15, "too terse to help: {text:?}");
}

#[test]
fn display_messages_are_lowercase_and_helpful() {
    for error in every_error() {
        let text = error.to_string();
        assert_operator_message(&text);
        // A std error, usable with `?` into Box<dyn Error>.
        let boxed: Box<dyn std::error::Error> = Box::new(error);
        assert_eq!(boxed.to_string(), text);
    }
    for reason in every_malformed_reason() {
        let text = reason.to_string();
        assert_operator_message(&text);
        // The wrapped reason is part of the outer message.
        assert!(
            Error::MalformedHeader(reason).to_string().contains(&text),
            "{reason:?}"
        );
    }
    for config in [
        ConfigError::EmptySecret,
        ConfigError::MissingPrefix,
        ConfigError::SurroundingWhitespace,
        ConfigError::EmptyLabel,
        ConfigError::NoSecrets,
        ConfigError::TooManySecrets,
    ] {
        assert_operator_message(&config.to_string());
    }

    // Specifics an operator needs.
    let old = Error::TooOld {
        age_secs: 4242,
        tolerance_secs: 300,
    }
    .to_string();
    assert!(old.contains("4242") && old.contains("300"), "{old}");
    let new = Error::TooNew {
        ahead_secs: 777,
        tolerance_secs: 60,
    }
    .to_string();
    assert!(new.contains("777") && new.contains("60"), "{new}");
    let missing = Error::MissingHeader {
        name: names::SIGNATURE,
    }
    .to_string();
    assert!(missing.contains("x-kirim-signature"), "{missing}");
    assert!(
        Error::SignatureMismatch.to_string().contains("whsec_"),
        "the mismatch message should point at the usual cause"
    );
    assert!(ConfigError::MissingPrefix.to_string().contains("whsec_"));
    assert!(MalformedHeader::TooLong.to_string().contains("8 KiB"));
    assert!(
        MalformedHeader::TooManySignatures
            .to_string()
            .contains("16")
    );
}

// ---------------------------------------------------------------------------------------------
// Redaction: nothing formatted carries a secret or a signature

const SECRET_VALUE: &str = "whsec_Sup3rS3cretValue+/xyz==";
const SECRET_TAIL: &str = "Sup3rS3cretValue";

/// Every 16-character window of every signature, either case, so that a partial print is
/// caught too.
fn forbidden_fragments(signatures: &[String]) -> Vec<String> {
    let mut out = vec![SECRET_VALUE.to_owned(), SECRET_TAIL.to_owned()];
    for sig in signatures {
        assert_eq!(sig.len(), 64);
        for start in 0..=sig.len() - 16 {
            let window = &sig[start..start + 16];
            out.push(window.to_ascii_lowercase());
            out.push(window.to_ascii_uppercase());
        }
    }
    out
}

fn assert_redacted(what: &str, text: &str, forbidden: &[String]) {
    for fragment in forbidden {
        assert!(
            !text.contains(fragment.as_str()),
            "{what} prints {fragment:?}: {text}"
        );
    }
}

#[test]
fn nothing_prints_a_secret_or_a_signature() {
    let labelled = || secret(SECRET_VALUE).with_label("sec_live");
    let verifier = Verifier::new([labelled(), secret("whsec_other")]).unwrap();
    let s = Signer::new([labelled()]).unwrap();
    let t = NOW.to_string();

    let good = v1(SECRET_VALUE, &t, BODY);
    let for_other_body = v1(SECRET_VALUE, &t, b"{}");
    let other_secret = v1("whsec_other", &t, b"{}");
    let forged_header = s.forged(NOW, BODY);
    let forged = SignatureHeader::parse(forged_header.as_bytes())
        .unwrap()
        .to_string()
        .split("v1=")
        .nth(1)
        .unwrap()
        .to_owned();
    let forbidden = forbidden_fragments(&[good.clone(), for_other_body, other_secret, forged]);

    let header = s.sign(NOW, BODY);
    assert!(header.contains(&good));
    let upper = format!("t={NOW},v1={}", good.to_ascii_uppercase());
    let parsed = SignatureHeader::parse(header.as_bytes()).unwrap();
    let verified = verifier.verify_at(header.as_bytes(), BODY, NOW).unwrap();
    let mut verification = verifier.start_at(upper.as_bytes(), NOW).unwrap();
    verification.update(b"{");

    let mut texts = vec![
        ("Secret", format!("{:?} {:#?}", labelled(), labelled())),
        ("Verifier", format!("{verifier:?} {verifier:#?}")),
        ("Signer", format!("{s:?} {s:#?}")),
        ("Verified", format!("{verified:?} {verified:#?}")),
        ("SignatureHeader", format!("{parsed:?} {parsed:#?}")),
        (
            "Verification",
            format!("{verification:?} {verification:#?}"),
        ),
    ];
    // Every error the verifier can return here, from requests carrying those signatures.
    let requests: Vec<(String, &[u8], u64)> = vec![
        (header.clone(), b"{}", NOW),
        (upper.clone(), b"{}", NOW),
        (forged_header.clone(), BODY, NOW),
        (header.clone(), BODY, NOW + 1000),
        (header.clone(), BODY, NOW - 1000),
        (format!("{header},v1=zz"), BODY, NOW),
        (format!("{header},t=1"), BODY, NOW),
        (
            format!("{header},{}", "x".repeat(MAX_HEADER_BYTES)),
            BODY,
            NOW,
        ),
        (
            format!("t={NOW}{}", format!(",v1={good}").repeat(17)),
            BODY,
            NOW,
        ),
    ];
    for (header, body, now) in &requests {
        let error = verifier
            .verify_at(header.as_bytes(), body, *now)
            .unwrap_err();
        texts.push(("Error", format!("{error} {error:?} {error:#?}")));
    }
    for error in every_error() {
        texts.push(("Error", format!("{error} {error:?}")));
    }
    assert!(verification.finish().is_err());

    for (what, text) in &texts {
        assert_redacted(what, text, &forbidden);
    }
    // The labels are what an operator needs, and they are shown.
    assert!(texts[0].1.contains("sec_live") && texts[1].1.contains("sec_live"));
    assert!(texts[3].1.contains("sec_live"));
}

// ---------------------------------------------------------------------------------------------
// Signer helpers

#[test]
fn signer_helpers_give_the_documented_results() {
    let secrets = ["whsec_a", "whsec_b"];
    let s = signer(&secrets);
    let verifier = verifier(&secrets);
    let only_b = verifier_only("whsec_b");
    let check = |header: &str| verifier.verify_at(header.as_bytes(), BODY, NOW);

    // sign: one v1 per secret, in order, each independently correct.
    let signed = s.sign(NOW, BODY);
    let t = NOW.to_string();
    assert_eq!(
        signed,
        format!(
            "t={NOW},v1={},v1={}",
            v1("whsec_a", &t, BODY),
            v1("whsec_b", &t, BODY)
        )
    );
    assert_eq!(check(&signed).unwrap().secret_index(), 0);
    assert_eq!(
        only_b
            .verify_at(signed.as_bytes(), BODY, NOW)
            .unwrap()
            .secret_index(),
        0
    );

    // expired / future: correctly signed, 60 s beyond the default tolerance.
    assert_eq!(
        check(&s.expired(NOW, BODY)),
        Err(Error::TooOld {
            age_secs: 360,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        check(&s.future(NOW, BODY)),
        Err(Error::TooNew {
            ahead_secs: 360,
            tolerance_secs: 300
        })
    );
    let lax = verifier.clone().dangerous_disable_timestamp_check();
    assert!(
        lax.verify_at(s.expired(NOW, BODY).as_bytes(), BODY, NOW)
            .is_ok()
    );
    assert!(
        lax.verify_at(s.future(NOW, BODY).as_bytes(), BODY, NOW)
            .is_ok()
    );

    // forged: well formed and fresh, matching none of the signer's secrets.
    let forged = s.forged(NOW, BODY);
    let parsed = SignatureHeader::parse(forged.as_bytes()).unwrap();
    assert_eq!((parsed.timestamp(), parsed.signatures().len()), (NOW, 1));
    assert_eq!(check(&forged), Err(Error::SignatureMismatch));

    // with_extra_signature: a non-matching v1 in front, still accepted.
    let extra = s.with_extra_signature(NOW, BODY);
    let parsed = SignatureHeader::parse(extra.as_bytes()).unwrap();
    assert_eq!(parsed.signatures().len(), 3);
    assert!(extra.ends_with(&signed["t=".len() + t.len()..]));
    assert_eq!(check(&extra).unwrap().secret_index(), 0);
    let first_only = format!("t={NOW},v1={}", hex::encode(parsed.signatures()[0]));
    assert_eq!(check(&first_only), Err(Error::SignatureMismatch));

    // without_timestamp: the valid v1 entries, no t.
    let bare = s.without_timestamp(NOW, BODY);
    assert!(!bare.contains("t="), "{bare}");
    assert_eq!(bare, signed[signed.find("v1=").unwrap()..]);
    assert_eq!(
        check(&bare),
        Err(Error::MalformedHeader(MalformedHeader::MissingTimestamp))
    );
}

fn verifier_only(value: &str) -> Verifier {
    verifier(&[value])
}

#[test]
fn sign_now_uses_the_system_clock() {
    let s = signer(&["whsec_test"]);
    let before = now_secs();
    let header = s.sign_now(BODY);
    let after = now_secs();
    let t = SignatureHeader::parse(header.as_bytes())
        .unwrap()
        .timestamp();
    assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");
    assert_eq!(header, s.sign(t, BODY));
    assert!(
        verifier(&["whsec_test"])
            .verify(header.as_bytes(), BODY)
            .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Delivery headers

fn lookup<'h>(
    headers: &'h [(&'h str, &'h [u8])],
) -> impl Fn(&'static str) -> Option<&'h [u8]> + 'h {
    move |name| {
        assert_eq!(name, name.to_ascii_lowercase(), "names are asked lowercase");
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[test]
fn delivery_from_lookup() {
    let headers: [(&str, &[u8]); 6] = [
        ("X-Kirim-Event", b"message.status"),
        (
            "X-KIRIM-EVENT-ID",
            b"wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQ0U=",
        ),
        ("x-kirim-source", b"meta"),
        ("X-Kirim-Delivery-Id", b"wbd_01HXYZ"),
        ("X-Kirim-Attempt", b"3"),
        ("User-Agent", b"Kirim-Webhook/1.0"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "message.status");
    assert_eq!(d.event_id(), "wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQ0U=");
    assert_eq!(d.source(), &Source::Meta);
    assert_eq!(d.delivery_id(), Some("wbd_01HXYZ"));
    assert_eq!(d.attempt(), Some(3));

    // Kirim source; informational headers absent or unusable are not errors.
    let headers: [(&str, &[u8]); 4] = [
        ("x-kirim-event", b" contact.created\t"),
        ("x-kirim-event-id", b"evt_01HXYZABCDEFGHJKMNPQRSTVWX"),
        ("x-kirim-source", b"kirim"),
        ("x-kirim-attempt", b"first"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "contact.created");
    assert_eq!(d.source(), &Source::Kirim);
    assert_eq!(d.source().to_string(), "kirim");
    assert_eq!((d.delivery_id(), d.attempt()), (None, None));

    // An unknown event type or source is normal.
    let headers: [(&str, &[u8]); 3] = [
        ("x-kirim-event", b"customer.merged"),
        ("x-kirim-event-id", b"evt_1"),
        ("x-kirim-source", b"partner"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "customer.merged");
    assert_eq!(d.source(), &Source::Other("partner".into()));
    assert_eq!(d.source().as_str(), "partner");
}

#[test]
fn delivery_required_headers() {
    let event: (&str, &[u8]) = ("x-kirim-event", b"contact.created");
    let id: (&str, &[u8]) = ("x-kirim-event-id", b"evt_1");
    assert_eq!(
        Delivery::from_lookup(lookup(&[id])),
        Err(Error::MissingHeader { name: names::EVENT })
    );
    assert_eq!(
        Delivery::from_lookup(lookup(&[event])),
        Err(Error::MissingHeader {
            name: names::EVENT_ID
        })
    );
    let long = vec![b'a'; kirim_verify::MAX_META_BYTES + 1];
    let exact = vec![b'a'; kirim_verify::MAX_META_BYTES];
    for bad in [
        &b""[..],
        b"  ",
        b"evt 1",
        b"evt\x001",
        b"\xffevt",
        long.as_slice(),
    ] {
        let err = Delivery::from_lookup(lookup(&[event, ("x-kirim-event-id", bad)])).unwrap_err();
        assert_eq!(
            err,
            Error::InvalidHeader {
                name: names::EVENT_ID
            },
            "{bad:?}"
        );
        assert_eq!(err.status(), 400);
    }
    assert!(Delivery::from_lookup(lookup(&[event, ("x-kirim-event-id", &exact)])).is_ok());
}

#[test]
fn delivery_from_an_http_header_map() {
    use http::{HeaderMap, HeaderName, HeaderValue};

    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("X-Kirim-Event", "message.received"),
        ("X-KIRIM-EVENT-ID", "wamid.abc=="),
        ("X-Kirim-Source", "meta"),
        ("x-kirim-delivery-id", "wbd_7"),
        ("X-Kirim-Attempt", "8"),
        ("X-Kirim-Signature", "t=1,v1=00"),
    ] {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
    }
    let d = Delivery::from_headers(&headers).unwrap();
    assert_eq!(d.event(), "message.received");
    assert_eq!(d.event_id(), "wamid.abc==");
    assert_eq!(d.source(), &Source::Meta);
    assert_eq!(d.delivery_id(), Some("wbd_7"));
    assert_eq!(d.attempt(), Some(8));

    headers.remove("x-kirim-event-id");
    assert_eq!(
        Delivery::from_headers(&headers),
        Err(Error::MissingHeader {
            name: names::EVENT_ID
        })
    );
    headers.insert(
        HeaderName::from_bytes(b"X-Kirim-Event-Id").unwrap(),
        HeaderValue::from_bytes(b"evt\xff").unwrap(),
    );
    assert_eq!(
        Delivery::from_headers(&headers),
        Err(Error::InvalidHeader {
            name: names::EVENT_ID
        })
    );
}

#[test]
fn header_names_are_lowercase() {
    for name in [
        names::SIGNATURE,
        names::EVENT,
        names::EVENT_ID,
        names::SOURCE,
        names::DELIVERY_ID,
        names::ATTEMPT,
    ] {
        assert_eq!(name, name.to_ascii_lowercase());
        assert!(name.starts_with("x-kirim-"));
    }
}

// ---------------------------------------------------------------------------------------------
// SignatureHeader

#[test]
fn signature_header_display_round_trips() {
    let upper = KNOWN_V1.to_ascii_uppercase();
    let second = v1("whsec_rotating", &NOW.to_string(), BODY);
    let raw = format!(" t=000{NOW} ,\tv0=legacy, v1={upper},foo,v1={second} , v2=next");
    let parsed = SignatureHeader::parse(raw.as_bytes()).unwrap();
    assert_eq!(parsed.timestamp(), NOW);
    assert_eq!(parsed.timestamp_digits(), format!("000{NOW}").as_bytes());
    assert_eq!(parsed.signatures().len(), 2);
    assert_eq!(hex::encode(parsed.signatures()[0]), KNOWN_V1);
    assert_eq!(hex::encode(parsed.signatures()[1]), second);

    let canonical = parsed.to_string();
    assert_eq!(canonical, format!("t=000{NOW},v1={KNOWN_V1},v1={second}"));
    let reparsed = SignatureHeader::parse(canonical.as_bytes()).unwrap();
    assert_eq!(reparsed, parsed);
    assert_eq!(reparsed.to_string(), canonical);

    // The canonical form verifies exactly as the original.
    let verifier = verifier(&["whsec_test"]);
    let padded = format!("000{NOW}");
    let raw = format!(" t={padded}, v1={}, v9=x", v1("whsec_test", &padded, BODY));
    let canonical = SignatureHeader::parse(raw.as_bytes()).unwrap().to_string();
    assert_eq!(
        verifier.verify_at(raw.as_bytes(), BODY, NOW),
        verifier.verify_at(canonical.as_bytes(), BODY, NOW)
    );
    assert!(verifier.verify_at(canonical.as_bytes(), BODY, NOW).is_ok());

    // What the signer produces is already canonical.
    let signed = signer(&["whsec_test", "whsec_rotating"]).sign(NOW, BODY);
    assert_eq!(
        SignatureHeader::parse(signed.as_bytes())
            .unwrap()
            .to_string(),
        signed
    );
}

#[test]
fn signature_header_bounds() {
    assert_eq!(MAX_HEADER_BYTES, 8192);
    assert_eq!(MAX_SIGNATURES, 16);
    let head = format!("t={NOW},v1={KNOWN_V1},x=");
    let at_limit = format!("{head}{}", "a".repeat(MAX_HEADER_BYTES - head.len()));
    assert_eq!(at_limit.len(), MAX_HEADER_BYTES);
    assert!(SignatureHeader::parse(at_limit.as_bytes()).is_ok());
    let over = format!("{at_limit}a");
    assert_eq!(
        SignatureHeader::parse(over.as_bytes()),
        Err(MalformedHeader::TooLong)
    );
    let sixteen = format!("t=1{}", format!(",v1={KNOWN_V1}").repeat(16));
    assert_eq!(
        SignatureHeader::parse(sixteen.as_bytes())
            .unwrap()
            .signatures()
            .len(),
        16
    );
    let seventeen = format!("{sixteen},v1={KNOWN_V1}");
    assert_eq!(
        SignatureHeader::parse(seventeen.as_bytes()),
        Err(MalformedHeader::TooManySignatures)
    );
    assert_eq!(
        SignatureHeader::parse(format!("t={},v1={KNOWN_V1}", "9".repeat(19)).as_bytes())
            .unwrap()
            .timestamp(),
        9_999_999_999_999_999_999
    );
    assert_eq!(
        SignatureHeader::parse(format!("t={},v1={KNOWN_V1}", "1".repeat(20)).as_bytes()),
        Err(MalformedHeader::InvalidTimestamp)
    );
}
