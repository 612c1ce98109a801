//! The signer at the edges of the timestamp range: each helper gives its documented result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kirim_verify::{Secret, Signer, Verifier, VerifyError};

fn pair() -> (Signer, Verifier) {
    let secret = Secret::new("whsec_test").unwrap();
    (
        Signer::new([secret.clone()]).unwrap(),
        Verifier::new([secret]).unwrap(),
    )
}

#[test]
fn expired_is_too_old_from_the_smallest_clock_that_allows_it() {
    let (signer, verifier) = pair();
    for now in [360, 361, 1_716_480_000] {
        let header = signer.expired(now, b"{}");
        assert!(
            matches!(
                verifier.verify_at(header.as_bytes(), b"{}", now),
                Err(VerifyError::TooOld { .. })
            ),
            "{header} at now={now}"
        );
    }
    // Below that no timestamp is old enough: signed at 0, as documented.
    assert!(signer.expired(100, b"{}").starts_with("t=0,v1="));
}

#[test]
fn sign_clamps_timestamps_to_nineteen_digits() {
    let (signer, verifier) = pair();
    let header = signer.sign(u64::MAX, b"{}");
    assert!(header.starts_with("t=9999999999999999999,v1="), "{header}");
    let verified = verifier
        .dangerous_disable_timestamp_check()
        .verify_at(header.as_bytes(), b"{}", 0)
        .unwrap();
    assert_eq!(verified.timestamp(), 9_999_999_999_999_999_999);
}

#[test]
fn future_is_too_new_up_to_the_documented_limit() {
    let (signer, verifier) = pair();
    for now in [0, 1_716_480_000, 9_999_999_999_999_999_999 - 360] {
        let header = signer.future(now, b"{}");
        assert!(
            matches!(
                verifier.verify_at(header.as_bytes(), b"{}", now),
                Err(VerifyError::TooNew { .. })
            ),
            "{header} at now={now}"
        );
    }
}
