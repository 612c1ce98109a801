//! Idempotency keys: one per side-effecting call, the same across that call's retries.

use std::fmt;

use crate::error::{Error, InvalidInput};

/// The longest key Kirim accepts.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// An `Idempotency-Key`: Kirim answers a repeated key with the stored answer instead of acting
/// twice (for 24 hours), so a retried rotation never mints a second secret.
///
/// Every side-effecting POST of [`Client`](crate::Client) sends one; a fresh random UUIDv4 unless
/// you pass your own to the `…_with_key` method, which is how a caller that may itself be
/// restarted (a CLI, a job) continues the same call:
///
/// ```
/// use kirim_api::IdempotencyKey;
///
/// let key = IdempotencyKey::new_v4();
/// assert_eq!(key.as_str().len(), 36);
/// let again = IdempotencyKey::new(key.as_str())?; // read back from where it was kept
/// assert_eq!(key, again);
/// # Ok::<(), kirim_api::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Wraps a key of your own.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::IdempotencyKey`] when empty, longer than 255 characters, or not visible
    /// ASCII (it goes into a header).
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::InvalidInput(InvalidInput::IdempotencyKey));
        }
        Ok(Self(key))
    }

    /// A random UUIDv4, as Kirim recommends.
    #[must_use]
    pub fn new_v4() -> Self {
        let mut bytes = [0u8; 16];
        // The OS generator failing is not recoverable here; a key from the clock is still unique
        // enough per process to keep retries of one call together.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = nanos.to_le_bytes();
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ))
    }

    /// The key as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_shape_and_validation() {
        let key = IdempotencyKey::new_v4();
        let s = key.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(IdempotencyKey::new_v4(), key);
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("x".repeat(256)).is_err());
        assert!(IdempotencyKey::new("x".repeat(255)).is_ok());
    }
}
