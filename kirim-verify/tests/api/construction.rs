//! Construction.

use super::*;

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
