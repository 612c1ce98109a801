//! A signer that produces `X-Kirim-Signature` values, for tests of code that receives webhooks.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ConfigError;
use crate::header::decimal;
use crate::secret::Secret;
use crate::verifier::{DEFAULT_TOLERANCE, MAX_SECRETS, keyed};

/// The largest timestamp a header can carry (19 digits); larger ones are signed as this.
const MAX_TIMESTAMP: u64 = 9_999_999_999_999_999_999;

/// The secret behind [`Signer::forged`]: not one a receiver would configure.
const FORGER_SECRET: &str = "whsec_forged-by-kirim-verify-signer";

/// Signs bodies as Kirim does: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, one `v1` per secret (as
/// during a rotation). Made for tests: build deliveries your handler must accept, and the bad
/// ones it must refuse.
///
/// ```
/// use kirim_verify::{Secret, Signer, Verifier, VerifyError};
///
/// let secret = Secret::new("whsec_test")?;
/// let signer = Signer::new([secret.clone()])?;
/// let verifier = Verifier::new([secret])?;
/// let now = 1_716_480_000;
/// let body = br#"{"id":"evt_1","type":"contact.created"}"#;
///
/// assert!(verifier.verify_at(signer.sign(now, body).as_bytes(), body, now).is_ok());
/// assert_eq!(
///     verifier.verify_at(signer.forged(now, body).as_bytes(), body, now),
///     Err(VerifyError::SignatureMismatch),
/// );
/// assert!(matches!(
///     verifier.verify_at(signer.expired(now, body).as_bytes(), body, now),
///     Err(VerifyError::TooOld { .. }),
/// ));
/// # Ok::<(), kirim_verify::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    macs: Vec<Hmac<Sha256>>,
}

impl Signer {
    /// A signer for the given secrets; each signature carries one `v1` per secret, in order.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoSecrets`] or [`ConfigError::TooManySecrets`].
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Result<Self, ConfigError> {
        let macs: Vec<_> = secrets.into_iter().map(|s| keyed(s.key_bytes())).collect();
        match macs.len() {
            0 => Err(ConfigError::NoSecrets),
            n if n > MAX_SECRETS => Err(ConfigError::TooManySecrets),
            _ => Ok(Self { macs }),
        }
    }

    /// A valid header for `body` signed at `timestamp` (unix seconds). A header carries at most
    /// 19 digits, so timestamps above 9 999 999 999 999 999 999 are signed as that value.
    #[must_use]
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let mut header = timestamp_element(timestamp);
        for mac in &self.macs {
            push_v1(&mut header, &tag(mac, timestamp, body));
        }
        header
    }

    /// A valid header for `body` signed now, by the system clock.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn sign_now(&self, body: &[u8]) -> String {
        self.sign(crate::unix_now(), body)
    }

    /// Correctly signed, but 60 s further in the past than the default tolerance allows:
    /// refused with [`VerifyError::TooOld`](crate::VerifyError::TooOld) by a verifier with the default
    /// tolerance. There is no such timestamp when `now` is below 360; the header is then signed
    /// at `t=0`, and only a verifier with a tolerance below `now` refuses it.
    #[must_use]
    pub fn expired(&self, now: u64, body: &[u8]) -> String {
        self.sign(now.saturating_sub(DEFAULT_TOLERANCE.as_secs() + 60), body)
    }

    /// Correctly signed, but 60 s further in the future than the default tolerance allows:
    /// refused with [`VerifyError::TooNew`](crate::VerifyError::TooNew) by a verifier with the default
    /// tolerance (for any `now` up to 360 s below the largest timestamp a header can carry).
    #[must_use]
    pub fn future(&self, now: u64, body: &[u8]) -> String {
        self.sign(now.saturating_add(DEFAULT_TOLERANCE.as_secs() + 60), body)
    }

    /// Well formed and fresh, but signed with a secret that is not this signer's: refused with
    /// [`VerifyError::SignatureMismatch`](crate::VerifyError::SignatureMismatch).
    #[must_use]
    pub fn forged(&self, timestamp: u64, body: &[u8]) -> String {
        let forger = forger();
        let mut header = timestamp_element(timestamp);
        push_v1(&mut header, &tag(&forger, timestamp, body));
        header
    }

    /// A valid header with an extra, non-matching `v1` in front of the valid ones (what a
    /// receiver sees while Kirim rotates to a secret it does not know yet): still accepted.
    #[must_use]
    pub fn with_extra_signature(&self, timestamp: u64, body: &[u8]) -> String {
        let mut header = timestamp_element(timestamp);
        push_v1(&mut header, &tag(&forger(), timestamp, body));
        for mac in &self.macs {
            push_v1(&mut header, &tag(mac, timestamp, body));
        }
        header
    }

    /// Valid `v1` entries but no `t=`: refused as a malformed header
    /// ([`MalformedHeader::MissingTimestamp`](crate::header::MalformedHeader::MissingTimestamp)).
    #[must_use]
    pub fn without_timestamp(&self, timestamp: u64, body: &[u8]) -> String {
        let signed = self.sign(timestamp, body);
        let v1 = signed.find(",v1=").map_or("", |at| &signed[at + 1..]);
        String::from(v1)
    }
}

/// Redacted: the keyed HMAC states are not printed.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("secrets", &self.macs.len())
            .finish()
    }
}

fn forger() -> Hmac<Sha256> {
    keyed(FORGER_SECRET.as_bytes())
}

fn timestamp_element(timestamp: u64) -> String {
    let timestamp = timestamp.min(MAX_TIMESTAMP);
    let mut buf = [0; 20];
    let mut header = String::with_capacity(2 + 20 + 68);
    header.push_str("t=");
    header.extend(decimal(timestamp, &mut buf).iter().map(|&b| char::from(b)));
    header
}

fn tag(mac: &Hmac<Sha256>, timestamp: u64, body: &[u8]) -> [u8; 32] {
    let mut buf = [0; 20];
    let mut mac = mac.clone();
    mac.update(decimal(timestamp.min(MAX_TIMESTAMP), &mut buf));
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn push_v1(header: &mut String, tag: &[u8; 32]) {
    header.push_str(",v1=");
    for byte in tag {
        // Writing to a String cannot fail.
        let _ = write!(header, "{byte:02x}");
    }
}
