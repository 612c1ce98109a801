//! SignatureHeader.

use super::*;

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
