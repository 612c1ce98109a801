//! Timestamp tolerance.

use super::*;

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
        VerifyError::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        at(NOW - 301).unwrap_err(),
        VerifyError::TooNew {
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
        Err(VerifyError::TooOld {
            age_secs: 11,
            tolerance_secs: 10
        })
    );
    assert!(past.verify_at(header.as_bytes(), BODY, NOW - 300).is_ok());
    assert!(matches!(
        past.verify_at(header.as_bytes(), BODY, NOW - 301),
        Err(VerifyError::TooNew { .. })
    ));

    let future = verifier(&["whsec_test"]).with_future_tolerance(Duration::from_secs(5));
    assert_eq!(future.past_tolerance(), Some(Duration::from_secs(300)));
    assert_eq!(future.future_tolerance(), Some(Duration::from_secs(5)));
    assert!(future.verify_at(header.as_bytes(), BODY, NOW - 5).is_ok());
    assert_eq!(
        future.verify_at(header.as_bytes(), BODY, NOW - 6),
        Err(VerifyError::TooNew {
            ahead_secs: 6,
            tolerance_secs: 5
        })
    );
    assert!(future.verify_at(header.as_bytes(), BODY, NOW + 300).is_ok());
    assert!(matches!(
        future.verify_at(header.as_bytes(), BODY, NOW + 301),
        Err(VerifyError::TooOld { .. })
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
        Err(VerifyError::TooOld {
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
        Err(VerifyError::SignatureMismatch)
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
        Err(VerifyError::TooOld {
            age_secs: 4242,
            tolerance_secs: 42
        })
    );
    assert_eq!(
        verifier.verify_at(header.as_bytes(), BODY, 0),
        Err(VerifyError::TooNew {
            ahead_secs: 1_000,
            tolerance_secs: 42
        })
    );
    // The timestamp is checked before the signature: a stale forgery reports its age.
    let forged = signer(&["whsec_test"]).forged(1_000, BODY);
    assert!(matches!(
        verifier.verify_at(forged.as_bytes(), BODY, 9_999),
        Err(VerifyError::TooOld {
            age_secs: 8_999,
            ..
        })
    ));
}
