//! The invariants the fuzz targets check, as plain functions over the fuzzer's bytes.
//!
//! This file depends on `kirim-verify` and `std` only. Each target in `fuzz_targets/` calls one
//! function, and the replay test of the `kirim-benches` crate (`benches/tests/fuzz_corpus.rs`)
//! runs every file of `corpus/<target>/` and `regressions/<target>/` through the same function
//! on stable Rust, so every input ever found stays a regression test.
//!
//! The inputs are decoded by [`Input`], a small explicit reader (fixed-width little-endian
//! numbers and length-prefixed byte strings; missing bytes read as zero), so that any byte string
//! is a valid input and seed files can be written by hand or by `seed-corpus`.

// Each fuzz target calls one of these.
#![allow(dead_code)]

use kirim_verify::flow::{MAX_META_BYTES, names};
use kirim_verify::header::{MAX_HEADER_BYTES, MAX_SIGNATURES, SignatureHeader};
use kirim_verify::{DEFAULT_TOLERANCE, Delivery, Secret, Signer, Source, Verifier, VerifyError};

/// The secrets the `verify` target's verifier is configured with (the fixtures' two).
pub(crate) const SECRETS: [&str; 2] = ["whsec_test", "whsec_rotating"];

/// The largest `t` the header grammar admits: 19 digits.
pub(crate) const MAX_TIMESTAMP: u64 = 9_999_999_999_999_999_999;

/// The fuzzer's bytes, read front to back; once they run out, every read gives zeros.
pub(crate) struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    pub(crate) fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    pub(crate) fn u16(&mut self) -> u16 {
        let mut buf = [0; 2];
        let b = self.bytes(2);
        buf[..b.len()].copy_from_slice(b);
        u16::from_le_bytes(buf)
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut buf = [0; 8];
        let b = self.bytes(8);
        buf[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(buf)
    }

    /// A byte string preceded by its length as a `u16`.
    pub(crate) fn field(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.bytes(len)
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn secret(value: &str) -> Secret {
    Secret::new(value).unwrap_or_else(|e| panic!("{value:?} is a valid secret: {e}"))
}

fn verifier_for(secrets: &[&str]) -> Verifier {
    Verifier::new(secrets.iter().map(|s| secret(s))).unwrap_or_else(|e| panic!("{e}"))
}

fn parses(header: &[u8]) -> SignatureHeader {
    SignatureHeader::parse(header).unwrap_or_else(|e| panic!("{header:?} parses: {e}"))
}

/// `header`: the whole input is a header value.
///
/// `SignatureHeader::parse` never panics, and whatever it accepts is within the grammar's bounds
/// and its canonical form (`Display`) parses back to an equal value, itself canonical.
pub(crate) fn header(data: &[u8]) {
    let Ok(parsed) = SignatureHeader::parse(data) else {
        return;
    };
    assert!(
        data.len() <= MAX_HEADER_BYTES,
        "accepted {} bytes",
        data.len()
    );
    let count = parsed.signatures().len();
    assert!((1..=MAX_SIGNATURES).contains(&count), "{count} signatures");
    let digits = parsed.timestamp_digits();
    assert!((1..=19).contains(&digits.len()), "{digits:?}");
    assert!(digits.iter().all(u8::is_ascii_digit), "{digits:?}");
    let value = digits
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    assert_eq!(value, parsed.timestamp());

    let canonical = parsed.to_string();
    let again = parses(canonical.as_bytes());
    assert_eq!(
        again, parsed,
        "canonical form {canonical:?} re-parses equal"
    );
    assert_eq!(
        again.to_string(),
        canonical,
        "canonical form is a fixed point"
    );
}

/// `verify`: `[now: u64][mode: u8]…`. Even modes verify an arbitrary delivery, odd modes sign
/// one and mutate it.
pub(crate) fn verify(data: &[u8]) {
    let mut input = Input::new(data);
    let now = input.u64();
    if input.u8().is_multiple_of(2) {
        verify_arbitrary(now, input);
    } else {
        verify_mutated(now, input);
    }
}

/// `…[split: u16][header: field][body: rest]`: whatever arrives, `verify_at` never panics; it
/// agrees with the incremental `start_at` + `update` (body split in two) + `finish`, and with
/// itself on the header's canonical form; an acceptance is fresh and names a configured secret.
fn verify_arbitrary(now: u64, mut input: Input<'_>) {
    let split = usize::from(input.u16());
    let header = input.field();
    let body = input.rest();
    let verifier = verifier_for(&SECRETS);
    let result = verifier.verify_at(header, body, now);

    let incremental = verifier.start_at(header, now).and_then(|mut v| {
        let (first, second) = body.split_at(split.min(body.len()));
        v.update(first);
        v.update(second);
        v.finish()
    });
    assert_eq!(incremental, result, "incremental and one-shot agree");

    match SignatureHeader::parse(header) {
        Err(reason) => assert_eq!(result, Err(VerifyError::MalformedHeader(reason))),
        Ok(parsed) => {
            let canonical = parsed.to_string();
            assert_eq!(
                verifier.verify_at(canonical.as_bytes(), body, now),
                result,
                "the canonical form {canonical:?} verifies as the original"
            );
        }
    }

    if let Ok(verified) = result {
        let tolerance = DEFAULT_TOLERANCE.as_secs();
        assert!(verified.timestamp().abs_diff(now) <= tolerance);
        let index = verified.secret_index();
        assert!(index < SECRETS.len());
        let alone = verifier_for(&SECRETS[index..=index]);
        assert!(alone.verify_at(header, body, now).is_ok());
        if index > 0 {
            // The first match is reported: the earlier secrets do not match.
            let earlier = verifier_for(&SECRETS[..index]);
            assert_eq!(
                earlier.verify_at(header, body, now),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }
}

/// `…[signers: u8][target: u8][position: u16][flip: u8][skew: u16][body: rest]`: sign `body` with
/// one or both of [`SECRETS`] at a fresh `t`, change one byte of the body (even `target`) or of
/// the header (odd) by XOR with `flip` (0 counts as 1), and verify with both secrets.
///
/// It must be accepted exactly when the body is unchanged and the header still parses with the
/// same `t` digits and at least one of the original digests; so, with a single signer, exactly
/// when the body and the canonical header are unchanged. The secret reported is the first one
/// whose digest survived.
fn verify_mutated(now: u64, mut input: Input<'_>) {
    let signers: &[usize] = match input.u8() % 3 {
        0 => &[0],
        1 => &[1],
        _ => &[0, 1],
    };
    let target_body = input.u8().is_multiple_of(2);
    let position = usize::from(input.u16());
    let flip = input.u8().max(1);
    let skew = u64::from(input.u16()) % (2 * DEFAULT_TOLERANCE.as_secs() + 1);
    let body = input.rest();

    let t = now.min(MAX_TIMESTAMP);
    // Anywhere in [t - 300, t + 300]: fresh, the limits included.
    let verify_now = (t + skew).saturating_sub(DEFAULT_TOLERANCE.as_secs());
    let signer =
        Signer::new(signers.iter().map(|&i| secret(SECRETS[i]))).unwrap_or_else(|e| panic!("{e}"));
    let signed = signer.sign(t, body);
    let original = parses(signed.as_bytes());
    assert_eq!(
        original.to_string(),
        signed,
        "the signer writes canonical headers"
    );

    let (mut header, mut changed) = (signed.clone().into_bytes(), body.to_vec());
    if target_body && !changed.is_empty() {
        let at = position % changed.len();
        changed[at] ^= flip;
    } else {
        let at = position % header.len();
        header[at] ^= flip;
    }

    let verifier = verifier_for(&SECRETS);
    let result = verifier.verify_at(&header, &changed, verify_now);

    let survivors: Vec<usize> = match SignatureHeader::parse(&header) {
        Ok(h) if h.timestamp_digits() == original.timestamp_digits() => original
            .signatures()
            .iter()
            .zip(signers)
            .filter(|(digest, _)| h.signatures().contains(digest))
            .map(|(_, &secret)| secret)
            .collect(),
        _ => Vec::new(),
    };
    let unchanged_canonical = SignatureHeader::parse(&header).ok().as_ref() == Some(&original);
    let body_unchanged = changed == body;
    if body_unchanged && unchanged_canonical {
        assert!(result.is_ok(), "nothing that matters changed: {result:?}");
    }
    if !body_unchanged || survivors.is_empty() {
        assert!(result.is_err(), "a mutated delivery was accepted");
        return;
    }
    let verified = result.unwrap_or_else(|e| panic!("a surviving signature is refused: {e}"));
    assert_eq!(
        verified.secret_index(),
        survivors.iter().copied().min().unwrap_or(0)
    );
    assert_eq!(verified.timestamp(), t);
    if signers.len() == 1 {
        assert!(
            unchanged_canonical,
            "one signer: accepted only when canonical is unchanged"
        );
    }
}

/// `roundtrip`: `[t: u64][secrets: u8][chunk: u16]([secret: u8-length-prefixed])*[body: rest]`.
///
/// For 1 to 4 secrets (`whsec_` + the bytes, lossily UTF-8), what `Signer::sign` writes is
/// canonical (a `t` past 19 digits signed as the largest 19-digit one) and `Verifier::verify_at`
/// accepts it at `t` and at `t ± 300`, refuses it at `t ± 301`, in chunks as in one piece, and
/// refuses it for any other body or `t`.
pub(crate) fn roundtrip(data: &[u8]) {
    let mut input = Input::new(data);
    let requested = input.u64();
    let count = usize::from(input.u8() % 4) + 1;
    let chunk = usize::from(input.u16() % 1024) + 1;
    let mut values = Vec::new();
    for _ in 0..count {
        let len = usize::from(input.u8());
        let tail = String::from_utf8_lossy(input.bytes(len));
        let value = format!("whsec_{tail}");
        match Secret::new(value.clone()) {
            Ok(_) => values.push(value),
            Err(e) => assert!(
                tail.is_empty() || value.trim() != value || value.chars().any(char::is_control),
                "{value:?} refused, but it is neither bare, blank-padded nor holding a control \
                 character: {e}"
            ),
        }
    }
    if values.is_empty() {
        values.push(String::from("whsec_roundtrip"));
    }
    let body = input.rest();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();

    let signer = Signer::new(values.iter().map(|s| secret(s))).unwrap_or_else(|e| panic!("{e}"));
    let header = signer.sign(requested, body);
    let t = requested.min(MAX_TIMESTAMP);
    if requested > MAX_TIMESTAMP {
        assert_eq!(
            header,
            signer.sign(MAX_TIMESTAMP, body),
            "signed as the largest t"
        );
    }
    let verifier = verifier_for(&values);
    assert_eq!(parses(header.as_bytes()).to_string(), header, "canonical");
    assert_eq!(parses(header.as_bytes()).signatures().len(), values.len());

    let verified = verifier
        .verify_at(header.as_bytes(), body, t)
        .unwrap_or_else(|e| panic!("{header:?} is refused: {e}"));
    assert_eq!((verified.timestamp(), verified.secret_index()), (t, 0));

    let tolerance = DEFAULT_TOLERANCE.as_secs();
    let at = |now| verifier.verify_at(header.as_bytes(), body, now);
    assert!(at(t + tolerance).is_ok());
    assert!(matches!(
        at(t + tolerance + 1),
        Err(VerifyError::TooOld { .. })
    ));
    if let Some(earliest) = t.checked_sub(tolerance) {
        assert!(at(earliest).is_ok());
    }
    if let Some(too_early) = t.checked_sub(tolerance + 1) {
        assert!(matches!(at(too_early), Err(VerifyError::TooNew { .. })));
    }

    let mut incremental = verifier
        .start_at(header.as_bytes(), t)
        .unwrap_or_else(|e| panic!("{e}"));
    for piece in body.chunks(chunk) {
        incremental.update(piece);
    }
    assert_eq!(incremental.finish(), Ok(verified));

    // The last secret alone, and after one that is not among them.
    let last = values[values.len() - 1];
    assert!(verifier_index(&[last], &header, body, t) == Some(0));
    let stranger = "whsec_roundtrip-stranger";
    if !values.iter().any(|v| same_hmac_key(v, stranger)) {
        assert_eq!(verifier_index(&[stranger, last], &header, body, t), Some(1));
        assert_eq!(
            verifier_for(&[stranger]).verify_at(header.as_bytes(), body, t),
            Err(VerifyError::SignatureMismatch)
        );
    }

    let mut longer = body.to_vec();
    longer.push(0);
    assert_eq!(
        verifier.verify_at(header.as_bytes(), &longer, t),
        Err(VerifyError::SignatureMismatch)
    );
    if t < MAX_TIMESTAMP {
        let digits = t.to_string();
        let rest = &header[2 + digits.len()..];
        let later = format!("t={}{rest}", t + 1);
        assert_eq!(
            verifier.verify_at(later.as_bytes(), body, t),
            Err(VerifyError::SignatureMismatch)
        );
    }
}

/// Whether two secrets key HMAC-SHA256 identically: a key up to one block (64 bytes) is padded
/// with zeros, so `whsec_x` and `whsec_x\0` are the same key.
fn same_hmac_key(a: &str, b: &str) -> bool {
    let block = 64;
    if a.len() <= block && b.len() <= block {
        a.trim_end_matches('\0') == b.trim_end_matches('\0')
    } else {
        a == b
    }
}

fn verifier_index(secrets: &[&str], header: &str, body: &[u8], now: u64) -> Option<usize> {
    verifier_for(secrets)
        .verify_at(header.as_bytes(), body, now)
        .ok()
        .map(|v| v.secret_index())
}

/// The delivery headers `delivery` fills, in input order.
const DELIVERY_HEADERS: [&str; 6] = [
    names::EVENT,
    names::EVENT_ID,
    names::SOURCE,
    names::DELIVERY_ID,
    names::ATTEMPT,
    names::SIGNATURE,
];

/// `delivery`: `[present: u8 bitmask]([value: field])×6` for the headers in
/// `DELIVERY_HEADERS` order.
///
/// `Delivery::from_lookup` never panics; it fails exactly when the event type or id is absent
/// (`MissingHeader`) or unusable (`InvalidHeader`), naming the first such header; what it accepts
/// is visible ASCII, 1 to 256 bytes, the value with blanks trimmed.
pub(crate) fn delivery(data: &[u8]) {
    let mut input = Input::new(data);
    let present = input.u8();
    let values: Vec<Option<&[u8]>> = (0..DELIVERY_HEADERS.len())
        .map(|i| {
            let value = input.field();
            (present & (1 << i) != 0).then_some(value)
        })
        .collect();
    let get = |name: &'static str| {
        let i = DELIVERY_HEADERS.iter().position(|n| *n == name)?;
        values[i]
    };
    let result = Delivery::from_lookup(get);

    let expected_error = [names::EVENT, names::EVENT_ID]
        .into_iter()
        .find_map(|name| match get(name) {
            None => Some(VerifyError::MissingHeader { name }),
            Some(v) if token(v).is_none() => Some(VerifyError::InvalidHeader { name }),
            Some(_) => None,
        });
    let delivery = match (result, expected_error) {
        (Err(error), Some(expected)) => return assert_eq!(error, expected),
        (Err(error), None) => panic!("usable headers refused: {error}"),
        (Ok(d), Some(expected)) => panic!("accepted {d:?}, expected {expected}"),
        (Ok(d), None) => d,
    };
    for (value, name) in [
        (delivery.event(), names::EVENT),
        (delivery.event_id(), names::EVENT_ID),
    ] {
        assert!(
            !value.is_empty() && value.len() <= MAX_META_BYTES,
            "{value:?}"
        );
        assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{value:?}");
        assert_eq!(get(name).and_then(token), Some(value));
    }
    let source = get(names::SOURCE).and_then(token);
    match delivery.source() {
        Source::Kirim => assert_eq!(source, Some("kirim")),
        Source::Meta => assert_eq!(source, Some("meta")),
        Source::Other(other) => {
            assert_eq!(source.unwrap_or(""), other);
            assert!(other != "kirim" && other != "meta");
        }
    }
    assert_eq!(
        delivery.delivery_id(),
        get(names::DELIVERY_ID).and_then(token)
    );
    if let Some(id) = delivery.delivery_id() {
        assert!(id.len() <= MAX_META_BYTES && id.bytes().all(|b| b.is_ascii_graphic()));
    }
    // Lenient: blanks trimmed, then ASCII digits that fit a u32; anything else reads as none.
    let attempt = get(names::ATTEMPT)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|v| v.trim_matches([' ', '\t']))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok());
    assert_eq!(delivery.attempt(), attempt);
}

/// The documented rule for a delivery header value: blanks (space, tab) around it trimmed, then
/// 1 to 256 bytes of visible ASCII.
fn token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let ok = !value.is_empty()
        && value.len() <= MAX_META_BYTES
        && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(value)
}
