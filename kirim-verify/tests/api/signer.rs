//! Signer helpers.

use super::*;

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
        Err(VerifyError::TooOld {
            age_secs: 360,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        check(&s.future(NOW, BODY)),
        Err(VerifyError::TooNew {
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
    assert_eq!(check(&forged), Err(VerifyError::SignatureMismatch));

    // with_extra_signature: a non-matching v1 in front, still accepted.
    let extra = s.with_extra_signature(NOW, BODY);
    let parsed = SignatureHeader::parse(extra.as_bytes()).unwrap();
    assert_eq!(parsed.signatures().len(), 3);
    assert!(extra.ends_with(&signed["t=".len() + t.len()..]));
    assert_eq!(check(&extra).unwrap().secret_index(), 0);
    let first_only = format!("t={NOW},v1={}", hex::encode(parsed.signatures()[0]));
    assert_eq!(check(&first_only), Err(VerifyError::SignatureMismatch));

    // without_timestamp: the valid v1 entries, no t.
    let bare = s.without_timestamp(NOW, BODY);
    assert!(!bare.contains("t="), "{bare}");
    assert_eq!(bare, signed[signed.find("v1=").unwrap()..]);
    assert_eq!(
        check(&bare),
        Err(VerifyError::MalformedHeader(
            MalformedHeader::MissingTimestamp
        ))
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
