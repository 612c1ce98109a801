//! The verifier: keyed HMAC state prepared once, constant-time comparison, timestamp tolerance.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::error::{ConfigError, VerifyError};
use crate::header::SignatureHeader;
use crate::secret::Secret;

/// The most secrets one verifier accepts. Each costs one HMAC per request.
pub const MAX_SECRETS: usize = 16;

/// The default tolerance, both ways: 300 s (spec section 2).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

/// One configured secret, reduced to its keyed HMAC state (the inner and outer pads already
/// absorbed), so a request never touches the raw key. The state is zeroized on drop.
#[derive(Clone)]
struct Key {
    mac: HmacSha256,
    label: Option<Arc<str>>,
}

/// Checks `X-Kirim-Signature` against one or more secrets.
///
/// Build it once at startup and share it (`Arc` or the framework's state); verifying takes
/// `&self`. A delivery is authentic when any configured secret matches any `v1` in the header
/// and the signed timestamp is within the tolerance of now (300 s both ways by default; exactly
/// at the limit is accepted).
///
/// ```
/// use kirim_verify::{Secret, Verifier};
///
/// let verifier = Verifier::new([Secret::new("whsec_test")?])?;
/// let header = b"t=1716480000,v1=6317b47eecc3a55a1b1f2c0511df9c14344ef8cd78484b04bd8b77b9a6da3fd3";
/// let body = br#"{"id":"evt_01HXYZABCDEFGHJKMNPQRSTVWX","type":"contact.created","created_at":"2026-05-23T10:00:00Z","livemode":true,"data":{}}"#;
///
/// let verified = verifier.verify_at(header, body, 1_716_480_000)?;
/// assert_eq!(verified.timestamp(), 1_716_480_000);
/// assert_eq!(verified.secret_index(), 0);
///
/// // One byte changed: refused, with a reason for the operator.
/// let err = verifier.verify_at(header, b"{}", 1_716_480_000).unwrap_err();
/// assert_eq!(err, kirim_verify::VerifyError::SignatureMismatch);
/// assert_eq!(err.status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<Key>,
    past: Option<u64>,
    future: Option<u64>,
}

impl Verifier {
    /// Prepares a verifier for the given secrets, in order: when several match,
    /// [`Verified::secret_index`] reports the first.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoSecrets`] for an empty list, [`ConfigError::TooManySecrets`] for more
    /// than [`MAX_SECRETS`].
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Result<Self, ConfigError> {
        let keys = keys_from(secrets)?;
        let tolerance = DEFAULT_TOLERANCE.as_secs();
        Ok(Self {
            keys,
            past: Some(tolerance),
            future: Some(tolerance),
        })
    }

    /// Sets both the past and the future tolerance. Defaults to 300 s. Sub-second parts are
    /// ignored.
    #[must_use]
    pub fn with_tolerance(self, tolerance: Duration) -> Self {
        self.with_past_tolerance(tolerance)
            .with_future_tolerance(tolerance)
    }

    /// How old a signed timestamp may be. Defaults to 300 s.
    #[must_use]
    pub fn with_past_tolerance(mut self, tolerance: Duration) -> Self {
        self.past = Some(tolerance.as_secs());
        self
    }

    /// How far in the future a signed timestamp may be (clock skew). Defaults to 300 s.
    #[must_use]
    pub fn with_future_tolerance(mut self, tolerance: Duration) -> Self {
        self.future = Some(tolerance.as_secs());
        self
    }

    /// Accepts any timestamp, however old. A captured delivery then verifies forever: use it
    /// only to re-verify stored deliveries, never on a live endpoint.
    #[must_use]
    pub fn dangerous_disable_timestamp_check(mut self) -> Self {
        self.past = None;
        self.future = None;
        self
    }

    /// The past tolerance, or `None` when the timestamp check is disabled.
    #[must_use]
    pub fn past_tolerance(&self) -> Option<Duration> {
        self.past.map(Duration::from_secs)
    }

    /// The future tolerance, or `None` when the timestamp check is disabled.
    #[must_use]
    pub fn future_tolerance(&self) -> Option<Duration> {
        self.future.map(Duration::from_secs)
    }

    /// The number of configured secrets.
    #[must_use]
    pub fn secret_count(&self) -> usize {
        self.keys.len()
    }

    /// Verifies a delivery: `header` is the raw `X-Kirim-Signature` value, `body` the raw body
    /// exactly as received, `now` the current time in unix seconds. The signed payload is the
    /// `t` digits exactly as received, `.`, and the body: no re-encoding of either.
    ///
    /// Work is bounded: the header is parsed (at most 8 KiB, 16 `v1`) and the timestamp checked
    /// before any HMAC; then one HMAC per configured secret, whatever the number of `v1`.
    ///
    /// # Errors
    ///
    /// [`VerifyError::MalformedHeader`], [`VerifyError::TooOld`], [`VerifyError::TooNew`] or
    /// [`VerifyError::SignatureMismatch`].
    pub fn verify_at(&self, header: &[u8], body: &[u8], now: u64) -> Result<Verified, VerifyError> {
        let header = SignatureHeader::parse(header)?;
        self.check_timestamp(header.timestamp(), now)?;
        let t = header.timestamp_digits();
        let tags = self.keys.iter().map(|key| {
            let mut mac = key.mac.clone();
            mac.update(t);
            mac.update(b".");
            mac.update(body);
            mac
        });
        self.compare(&header, tags)
    }

    /// [`verify_at`](Self::verify_at) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`verify_at`](Self::verify_at).
    #[cfg(feature = "std")]
    pub fn verify(&self, header: &[u8], body: &[u8]) -> Result<Verified, VerifyError> {
        self.verify_at(header, body, crate::unix_now())
    }

    /// Starts an incremental verification, for bodies that arrive in chunks: the header is
    /// parsed and the timestamp checked now, so a stale or malformed delivery is refused before
    /// its body is read. Feed the chunks with [`Verification::update`] and finish with
    /// [`Verification::finish`]; the result is the one [`verify_at`](Self::verify_at) gives.
    ///
    /// ```
    /// use kirim_verify::{Secret, Signer, Verifier};
    ///
    /// let secret = Secret::new("whsec_test")?;
    /// let header = Signer::new([secret.clone()])?.sign(1_000, b"hello world");
    /// let verifier = Verifier::new([secret])?;
    ///
    /// let mut verification = verifier.start_at(header.as_bytes(), 1_000)?;
    /// verification.update(b"hello ");
    /// verification.update(b"world");
    /// assert_eq!(verification.finish()?.timestamp(), 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`VerifyError::MalformedHeader`], [`VerifyError::TooOld`] or [`VerifyError::TooNew`].
    pub fn start_at(&self, header: &[u8], now: u64) -> Result<Verification<'_>, VerifyError> {
        let header = SignatureHeader::parse(header)?;
        self.check_timestamp(header.timestamp(), now)?;
        let t = header.timestamp_digits();
        let macs = self
            .keys
            .iter()
            .map(|key| {
                let mut mac = key.mac.clone();
                mac.update(t);
                mac.update(b".");
                mac
            })
            .collect();
        Ok(Verification {
            verifier: self,
            header,
            macs,
        })
    }

    /// [`start_at`](Self::start_at) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`start_at`](Self::start_at).
    #[cfg(feature = "std")]
    pub fn start(&self, header: &[u8]) -> Result<Verification<'_>, VerifyError> {
        self.start_at(header, crate::unix_now())
    }

    fn check_timestamp(&self, timestamp: u64, now: u64) -> Result<(), VerifyError> {
        if let Some(tolerance_secs) = self.past {
            let age_secs = now.saturating_sub(timestamp);
            if age_secs > tolerance_secs {
                return Err(VerifyError::TooOld {
                    age_secs,
                    tolerance_secs,
                });
            }
        }
        if let Some(tolerance_secs) = self.future {
            let ahead_secs = timestamp.saturating_sub(now);
            if ahead_secs > tolerance_secs {
                return Err(VerifyError::TooNew {
                    ahead_secs,
                    tolerance_secs,
                });
            }
        }
        Ok(())
    }

    /// Compares every computed tag with every `v1`, in constant time and without an early exit:
    /// the work and the memory access pattern depend only on the number of secrets and of `v1`
    /// entries, never on their values or on where (or whether) a match is. Only the final
    /// accept/reject bit and, on accept, the index of the first matching secret leave this
    /// function.
    fn compare(
        &self,
        header: &SignatureHeader,
        tags: impl Iterator<Item = HmacSha256>,
    ) -> Result<Verified, VerifyError> {
        let mut found = Choice::from(0);
        let mut secret = 0u32;
        for (i, mac) in (0u32..).zip(tags) {
            let tag = mac.finalize().into_bytes();
            for digest in header.signatures() {
                let hit = tag.as_slice().ct_eq(digest);
                secret.conditional_assign(&i, hit & !found);
                found |= hit;
            }
        }
        if !bool::from(found) {
            return Err(VerifyError::SignatureMismatch);
        }
        // The index is below 16: it came from enumerating a bounded list.
        let secret = secret as usize;
        Ok(Verified {
            timestamp: header.timestamp(),
            secret_index: secret,
            secret_label: self.keys.get(secret).and_then(|k| k.label.clone()),
        })
    }
}

fn keys_from(secrets: impl IntoIterator<Item = Secret>) -> Result<Vec<Key>, ConfigError> {
    let mut keys = Vec::new();
    for secret in secrets {
        if keys.len() == MAX_SECRETS {
            return Err(ConfigError::TooManySecrets);
        }
        keys.push(Key {
            mac: keyed(secret.key_bytes()),
            label: secret.label().map(Arc::from),
        });
    }
    if keys.is_empty() {
        return Err(ConfigError::NoSecrets);
    }
    Ok(keys)
}

pub(crate) fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail; the
    // fallback keeps the no-panic promise without an unwrap.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

/// Redacted: the keyed HMAC states are not printed.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<Option<&str>> = self.keys.iter().map(|k| k.label.as_deref()).collect();
        f.debug_struct("Verifier")
            .field("secrets", &labels)
            .field("past_tolerance_secs", &self.past)
            .field("future_tolerance_secs", &self.future)
            .finish()
    }
}

/// An incremental verification, started by [`Verifier::start_at`]: the header is parsed and
/// fresh; the body is being hashed as it arrives, without being copied.
pub struct Verification<'a> {
    verifier: &'a Verifier,
    header: SignatureHeader,
    macs: Vec<HmacSha256>,
}

impl Verification<'_> {
    /// Hashes the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        for mac in &mut self.macs {
            mac.update(chunk);
        }
    }

    /// Compares, in constant time, and gives the same result as the one-shot
    /// [`Verifier::verify_at`] over the concatenated chunks.
    ///
    /// # Errors
    ///
    /// [`VerifyError::SignatureMismatch`].
    pub fn finish(self) -> Result<Verified, VerifyError> {
        self.verifier.compare(&self.header, self.macs.into_iter())
    }

    /// [`finish`](Self::finish), after checking the timestamp again against `now`, the time the
    /// last chunk arrived. [`Verifier::start_at`] checked it when the header arrived; a body
    /// sent slowly enough could outlast the tolerance after that, and a replay guard that
    /// remembers signatures only for the tolerance window would then have forgotten it.
    ///
    /// # Errors
    ///
    /// [`VerifyError::TooOld`] or [`VerifyError::TooNew`] against `now`; otherwise as
    /// [`finish`](Self::finish).
    pub fn finish_at(self, now: u64) -> Result<Verified, VerifyError> {
        self.verifier
            .check_timestamp(self.header.timestamp(), now)?;
        self.finish()
    }

    /// The signed timestamp from the header.
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.header.timestamp()
    }
}

impl fmt::Debug for Verification<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verification")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Proof that a delivery verified: only a [`Verifier`] makes one.
///
/// It says when the delivery was signed and which configured secret matched, so an operator can
/// see when an old secret stops being used and delete it.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    timestamp: u64,
    secret_index: usize,
    secret_label: Option<Arc<str>>,
}

impl Verified {
    /// The signed timestamp `t`, in unix seconds.
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The position, in the list given to [`Verifier::new`], of the first secret that matched.
    #[must_use]
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// The label of that secret, if it has one.
    #[must_use]
    pub fn secret_label(&self) -> Option<&str> {
        self.secret_label.as_deref()
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("timestamp", &self.timestamp)
            .field("secret_index", &self.secret_index)
            .field("secret_label", &self.secret_label)
            .finish_non_exhaustive()
    }
}
