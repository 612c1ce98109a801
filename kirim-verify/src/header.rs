//! The `X-Kirim-Signature` header, parsed by borrowing: for tools that inspect or build headers
//! rather than verify requests.

use core::fmt::{self, Write as _};

/// The longest header value accepted, in bytes (spec: 8 KiB).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The most `v1` entries accepted in one header (spec: 16).
pub const MAX_SIGNATURES: usize = 16;

/// The most digits a `t` may have (spec: 1 to 19).
const MAX_TIMESTAMP_DIGITS: usize = 19;

/// Length of one decoded `v1` digest (HMAC-SHA256 output).
pub(crate) const DIGEST_LEN: usize = 32;

/// Why a `X-Kirim-Signature` value was rejected before any HMAC was computed.
///
/// Every variant means the same thing to the sender (answer 400): the header is not in the form
/// `t=<unix seconds>,v1=<64 hex>[,v1=…]`. The variant tells the operator which part is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MalformedHeader {
    /// The value is longer than [`MAX_HEADER_BYTES`].
    TooLong,
    /// No `t=` element.
    MissingTimestamp,
    /// More than one `t=` element.
    DuplicateTimestamp,
    /// A `t=` element that is not 1 to 19 ASCII digits.
    InvalidTimestamp,
    /// A `v1=` element that is not exactly 64 hex digits.
    InvalidSignature,
    /// No `v1=` element.
    MissingSignature,
    /// More than [`MAX_SIGNATURES`] `v1=` elements.
    TooManySignatures,
}

impl fmt::Display for MalformedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "signature header is longer than 8 KiB",
            Self::MissingTimestamp => "signature header has no t= element",
            Self::DuplicateTimestamp => "signature header has more than one t= element",
            Self::InvalidTimestamp => {
                "signature header t= is not 1 to 19 ASCII digits of unix seconds"
            }
            Self::InvalidSignature => "signature header has a v1= that is not 64 hex digits",
            Self::MissingSignature => "signature header has no v1= element",
            Self::TooManySignatures => "signature header has more than 16 v1= elements",
        })
    }
}

impl core::error::Error for MalformedHeader {}

/// A parsed `X-Kirim-Signature` value: one timestamp and 1 to 16 decoded `v1` digests.
///
/// Parsing never allocates and never panics; the digests live inline (at most 16 × 32 bytes).
/// The [`Display`](fmt::Display) impl writes the canonical form (`t=…,v1=…`, the `t` digits as
/// received, lowercase hex, no spaces, unknown elements dropped), which parses back to an equal
/// value and verifies exactly as the original.
///
/// ```
/// use kirim_verify::header::SignatureHeader;
///
/// let header = SignatureHeader::parse(
///     b"t=1716480000, v1=6317b47eecc3a55a1b1f2c0511df9c14344ef8cd78484b04bd8b77b9a6da3fd3, v0=old",
/// )?;
/// assert_eq!(header.timestamp(), 1_716_480_000);
/// assert_eq!(header.signatures().len(), 1);
/// # Ok::<(), kirim_verify::header::MalformedHeader>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    timestamp: u64,
    /// The `t` digits exactly as received (leading zeros kept): they are what was signed.
    digits: [u8; MAX_TIMESTAMP_DIGITS],
    digit_count: usize,
    digests: [[u8; DIGEST_LEN]; MAX_SIGNATURES],
    count: usize,
}

impl SignatureHeader {
    /// Parses a raw header value, following the spec's rules exactly:
    ///
    /// - split on `,`; trim spaces and tabs around each element; split each element at its first
    ///   `=`; keys are case-sensitive;
    /// - exactly one `t`, 1 to 19 ASCII digits;
    /// - every `v1` exactly 64 hex digits (either case), at least one, at most 16;
    /// - elements with other keys, and elements without `=`, are ignored;
    /// - a value longer than 8 KiB is rejected before it is looked at.
    ///
    /// # Errors
    ///
    /// [`MalformedHeader`] names the first rule the value breaks.
    #[inline]
    pub fn parse(value: &[u8]) -> Result<Self, MalformedHeader> {
        if value.len() > MAX_HEADER_BYTES {
            return Err(MalformedHeader::TooLong);
        }
        let mut timestamp = None;
        let mut header = Self {
            timestamp: 0,
            digits: [0; MAX_TIMESTAMP_DIGITS],
            digit_count: 0,
            digests: [[0; DIGEST_LEN]; MAX_SIGNATURES],
            count: 0,
        };
        for element in value.split(|&b| b == b',') {
            let element = trim_blanks(element);
            let Some(eq) = element.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, val) = (&element[..eq], &element[eq + 1..]);
            match key {
                b"t" => {
                    if timestamp.is_some() {
                        return Err(MalformedHeader::DuplicateTimestamp);
                    }
                    timestamp = Some(parse_timestamp(val)?);
                    header.digits[..val.len()].copy_from_slice(val);
                    header.digit_count = val.len();
                }
                b"v1" => {
                    if header.count == MAX_SIGNATURES {
                        return Err(MalformedHeader::TooManySignatures);
                    }
                    decode_hex(val, &mut header.digests[header.count])?;
                    header.count += 1;
                }
                _ => {}
            }
        }
        header.timestamp = timestamp.ok_or(MalformedHeader::MissingTimestamp)?;
        if header.count == 0 {
            return Err(MalformedHeader::MissingSignature);
        }
        Ok(header)
    }

    /// The signed timestamp `t`, in unix seconds.
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The `t` value exactly as received: the ASCII digits that were signed, leading zeros
    /// included. The signed payload is these bytes, `.`, then the body.
    #[must_use]
    pub fn timestamp_digits(&self) -> &[u8] {
        &self.digits[..self.digit_count]
    }

    /// The decoded `v1` digests, in header order (1 to 16 of them).
    #[must_use]
    pub fn signatures(&self) -> &[[u8; DIGEST_LEN]] {
        &self.digests[..self.count]
    }
}

/// Redacted: the digests are valid signatures for some body and are not printed.
impl fmt::Debug for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("timestamp", &self.timestamp)
            .field("signatures", &self.count)
            .finish()
    }
}

impl fmt::Display for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("t=")?;
        for &digit in self.timestamp_digits() {
            f.write_char(char::from(digit))?;
        }
        for digest in self.signatures() {
            f.write_str(",v1=")?;
            for byte in digest {
                write!(f, "{byte:02x}")?;
            }
        }
        Ok(())
    }
}

fn trim_blanks(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Hex digit values, `INVALID` for every other byte: one lookup per character, no branches on
/// the character's class. (Received signatures are public; this is about speed, not secrecy.)
const HEX: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

/// Decodes exactly 64 hex digits (either case) into 32 bytes.
fn decode_hex(hex: &[u8], out: &mut [u8; DIGEST_LEN]) -> Result<(), MalformedHeader> {
    if hex.len() != 2 * DIGEST_LEN {
        return Err(MalformedHeader::InvalidSignature);
    }
    // Any invalid digit has the high bit set; OR them all and check once.
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    if invalid & 0x80 != 0 {
        return Err(MalformedHeader::InvalidSignature);
    }
    Ok(())
}

fn parse_timestamp(digits: &[u8]) -> Result<u64, MalformedHeader> {
    if digits.is_empty() || digits.len() > 19 {
        return Err(MalformedHeader::InvalidTimestamp);
    }
    // 19 decimal digits are at most 9_999_999_999_999_999_999 < u64::MAX: no overflow possible.
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + u64::from(b - b'0'))
        } else {
            Err(MalformedHeader::InvalidTimestamp)
        }
    })
}

/// Writes `n` in ASCII decimal into `buf`, returning the used tail. Exactly what `t=` carries in a
/// header the signer produces, without allocating.
pub(crate) fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const SIG: &str = "6317b47eecc3a55a1b1f2c0511df9c14344ef8cd78484b04bd8b77b9a6da3fd3";

    fn parse(s: &str) -> Result<SignatureHeader, MalformedHeader> {
        SignatureHeader::parse(s.as_bytes())
    }

    #[test]
    fn strict_form() {
        let h = parse(&alloc::format!("t=1716480000,v1={SIG}")).unwrap();
        assert_eq!(h.timestamp(), 1_716_480_000);
        assert_eq!(hex::encode(h.signatures()[0]), SIG);
    }

    #[test]
    fn blanks_around_elements_are_trimmed() {
        let h = parse(&alloc::format!(" \tt=5 ,\tv1={SIG}\t, ")).unwrap();
        assert_eq!(h.timestamp(), 5);
        assert_eq!(h.signatures().len(), 1);
    }

    #[test]
    fn blanks_inside_values_are_not_trimmed() {
        assert_eq!(
            parse(&alloc::format!("t= 5,v1={SIG}")),
            Err(MalformedHeader::InvalidTimestamp)
        );
        assert_eq!(parse("t=5,v1= aa"), Err(MalformedHeader::InvalidSignature));
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let upper = SIG.to_ascii_uppercase();
        let h = parse(&alloc::format!("t=1,v1={upper}")).unwrap();
        assert_eq!(hex::encode(h.signatures()[0]), SIG);
    }

    #[test]
    fn unknown_keys_and_bare_elements_are_ignored() {
        let h = parse(&alloc::format!("v0=zz,foo,t=1,v2=,,=x,V1=bad,v1={SIG},T=9")).unwrap();
        assert_eq!(h.timestamp(), 1);
        assert_eq!(h.signatures().len(), 1);
    }

    #[test]
    fn element_splits_at_first_equals() {
        // "v1==..." has the value "=...", which is not hex.
        assert_eq!(
            parse(&alloc::format!("t=1,v1=={SIG}")),
            Err(MalformedHeader::InvalidSignature)
        );
    }

    #[test]
    fn timestamp_rules() {
        let ok = |t: &str| parse(&alloc::format!("t={t},v1={SIG}")).map(|h| h.timestamp());
        assert_eq!(ok("0"), Ok(0));
        assert_eq!(ok("0017"), Ok(17));
        assert_eq!(ok("9999999999999999999"), Ok(9_999_999_999_999_999_999));
        for bad in ["", "+1", "-1", "1 2", "12a", "10000000000000000000", "١"] {
            assert_eq!(ok(bad), Err(MalformedHeader::InvalidTimestamp), "{bad:?}");
        }
        assert_eq!(
            parse(&alloc::format!("v1={SIG}")),
            Err(MalformedHeader::MissingTimestamp)
        );
        assert_eq!(
            parse(&alloc::format!("t=1,t=1,v1={SIG}")),
            Err(MalformedHeader::DuplicateTimestamp)
        );
        // A bare `t` (no `=`) is an element without `=`, so it is ignored.
        assert_eq!(
            parse(&alloc::format!("t,t=3,v1={SIG}"))
                .unwrap()
                .timestamp(),
            3
        );
    }

    #[test]
    fn signature_rules() {
        assert_eq!(parse("t=1"), Err(MalformedHeader::MissingSignature));
        assert_eq!(parse(""), Err(MalformedHeader::MissingTimestamp));
        assert_eq!(
            parse(&alloc::format!("t=1,v1={}", &SIG[..62])),
            Err(MalformedHeader::InvalidSignature)
        );
        assert_eq!(
            parse(&alloc::format!("t=1,v1={SIG}00")),
            Err(MalformedHeader::InvalidSignature)
        );
        assert_eq!(
            parse(&alloc::format!("t=1,v1={}g", &SIG[..63])),
            Err(MalformedHeader::InvalidSignature)
        );
        assert_eq!(parse("t=1,v1="), Err(MalformedHeader::InvalidSignature));
    }

    #[test]
    fn at_most_sixteen_signatures() {
        let mut s = alloc::string::String::from("t=1");
        for _ in 0..16 {
            s.push_str(",v1=");
            s.push_str(SIG);
        }
        assert_eq!(parse(&s).unwrap().signatures().len(), 16);
        s.push_str(",v1=");
        s.push_str(SIG);
        assert_eq!(parse(&s), Err(MalformedHeader::TooManySignatures));
    }

    #[test]
    fn length_cap_is_checked_first() {
        let mut s = alloc::format!("t=1,v1={SIG},x=");
        while s.len() < MAX_HEADER_BYTES {
            s.push('a');
        }
        assert!(parse(&s).is_ok());
        s.push('a');
        assert_eq!(parse(&s), Err(MalformedHeader::TooLong));
        // Over the cap and wrong in every other way too (no t, a bad t, more than 16 v1, not
        // UTF-8): the length is what is reported, so nothing else was looked at.
        let mut worst = alloc::vec::Vec::from(&b"t=x,t=y,\xff"[..]);
        while worst.len() <= MAX_HEADER_BYTES {
            worst.extend_from_slice(b",v1=zz");
        }
        assert_eq!(
            SignatureHeader::parse(&worst),
            Err(MalformedHeader::TooLong)
        );
    }

    #[test]
    fn non_utf8_bytes_do_not_panic() {
        assert_eq!(
            SignatureHeader::parse(b"t=1,\xff\xfe=\x80,v1=\xc3\x28"),
            Err(MalformedHeader::InvalidSignature)
        );
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let upper = SIG.to_ascii_uppercase();
        let h = parse(&alloc::format!(" t=0042 , v1={upper}, v9=x")).unwrap();
        let canonical = h.to_string();
        assert_eq!(canonical, alloc::format!("t=0042,v1={SIG}"));
        assert_eq!(h.timestamp_digits(), b"0042");
        assert_eq!(parse(&canonical).unwrap(), h);
    }

    #[test]
    fn debug_does_not_print_digests() {
        let h = parse(&alloc::format!("t=1,v1={SIG}")).unwrap();
        let debug = alloc::format!("{h:?}");
        assert!(!debug.contains("6317"), "{debug}");
        assert!(debug.contains("signatures: 1"), "{debug}");
    }

    #[test]
    fn decimal_matches_core_formatting() {
        let mut buf = [0; 20];
        for n in [0, 7, 10, 1_716_480_000, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
