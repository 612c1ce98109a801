//! Redaction: nothing formatted carries a secret or a signature.

use super::*;
use crate::errors::every_error;

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
