//! Incremental verification.

use super::*;

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
        assert_ne!(expected, VerifyError::SignatureMismatch);
    }
    // A fresh, well-formed header starts; the timestamp is readable before the body.
    let header = s.sign(NOW, BODY);
    let verification = verifier.start_at(header.as_bytes(), NOW).unwrap();
    assert_eq!(verification.timestamp(), NOW);
    // Finishing without the body is a mismatch, not a panic.
    assert_eq!(verification.finish(), Err(VerifyError::SignatureMismatch));
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
        Err(VerifyError::TooOld { .. })
    ));
    assert!(matches!(
        verifier.start(s.sign(NOW, BODY).as_bytes()),
        Err(VerifyError::TooOld { .. })
    ));
}
