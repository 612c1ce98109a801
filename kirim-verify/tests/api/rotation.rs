//! Rotation: which secret matched.

use super::*;
use crate::delivery::lookup;

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
        Err(VerifyError::SignatureMismatch)
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
    let mut intake = receiver.begin(lookup(&headers), None, now)?;
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
        Err(Rejection::Verify(VerifyError::TooOld {
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
        Err(VerifyError::TooOld { age_secs: 301, .. })
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
            Err(VerifyError::SignatureMismatch)
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
        Err(VerifyError::SignatureMismatch)
    );
}
