//! Errors: status and messages.

use super::*;

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

pub(crate) fn every_error() -> Vec<VerifyError> {
    let mut errors = vec![
        VerifyError::MissingHeader {
            name: names::SIGNATURE,
        },
        VerifyError::InvalidHeader {
            name: names::EVENT_ID,
        },
        VerifyError::SignatureMismatch,
        VerifyError::TooOld {
            age_secs: 360,
            tolerance_secs: 300,
        },
        VerifyError::TooNew {
            ahead_secs: 361,
            tolerance_secs: 300,
        },
    ];
    errors.extend(every_malformed_reason().map(VerifyError::MalformedHeader));
    errors
}

#[test]
fn status_codes_follow_the_spec() {
    for reason in every_malformed_reason() {
        assert_eq!(
            VerifyError::MalformedHeader(reason).status(),
            400,
            "{reason:?}"
        );
        assert_eq!(
            VerifyError::from(reason),
            VerifyError::MalformedHeader(reason)
        );
    }
    assert_eq!(
        VerifyError::MissingHeader {
            name: names::SIGNATURE
        }
        .status(),
        400
    );
    assert_eq!(
        VerifyError::InvalidHeader { name: names::EVENT }.status(),
        400
    );
    assert_eq!(VerifyError::SignatureMismatch.status(), 401);
    assert_eq!(
        VerifyError::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
        .status(),
        401
    );
    assert_eq!(
        VerifyError::TooNew {
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
            VerifyError::MalformedHeader(reason)
                .to_string()
                .contains(&text),
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
    let old = VerifyError::TooOld {
        age_secs: 4242,
        tolerance_secs: 300,
    }
    .to_string();
    assert!(old.contains("4242") && old.contains("300"), "{old}");
    let new = VerifyError::TooNew {
        ahead_secs: 777,
        tolerance_secs: 60,
    }
    .to_string();
    assert!(new.contains("777") && new.contains("60"), "{new}");
    let missing = VerifyError::MissingHeader {
        name: names::SIGNATURE,
    }
    .to_string();
    assert!(missing.contains("x-kirim-signature"), "{missing}");
    assert!(
        VerifyError::SignatureMismatch
            .to_string()
            .contains("whsec_"),
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
