//! Webhook secrets: validated on construction, redacted in `Debug`, zeroized on drop.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use zeroize::Zeroizing;

use crate::error::ConfigError;

/// The prefix of every secret Kirim issues.
const PREFIX: &str = "whsec_";

/// One webhook signing secret, exactly as Kirim issued it (`whsec_…`), with an optional label.
///
/// The label is yours: the Kirim secret id (`sec_…`), `"old"`/`"new"`, anything that tells an
/// operator which secret verified a delivery, so an old one can be deleted once unused.
///
/// The value is zeroized when the `Secret` is dropped and never printed:
///
/// ```
/// use kirim_verify::Secret;
///
/// let secret = Secret::new("whsec_test")?.with_label("sec_2024");
/// assert_eq!(format!("{secret:?}"), r#"Secret { label: Some("sec_2024"), value: "whsec_…" }"#);
///
/// // The env-var form `label=whsec_…` parses too.
/// let secret: Secret = "sec_2024=whsec_test".parse()?;
/// assert_eq!(secret.label(), Some("sec_2024"));
/// # Ok::<(), kirim_verify::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    value: Zeroizing<String>,
    label: Option<String>,
}

impl Secret {
    /// Wraps a secret string.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`] (also for a bare `whsec_`), [`ConfigError::SurroundingWhitespace`] or
    /// [`ConfigError::MissingPrefix`]: the HMAC key is the UTF-8 bytes of the whole string Kirim
    /// issued, so anything else would never verify; [`ConfigError::ControlCharacter`].
    pub fn new(value: impl Into<String>) -> Result<Self, ConfigError> {
        let value = Zeroizing::new(value.into());
        if value.is_empty() || value.as_str() == PREFIX {
            return Err(ConfigError::EmptySecret);
        }
        if value.trim() != value.as_str() {
            return Err(ConfigError::SurroundingWhitespace);
        }
        if !value.starts_with(PREFIX) {
            return Err(ConfigError::MissingPrefix);
        }
        // HMAC pads short keys with zero bytes, so `whsec_x` and `whsec_x\0` would be one key;
        // no issued secret holds a control character, so none is accepted.
        if value.chars().any(char::is_control) {
            return Err(ConfigError::ControlCharacter);
        }
        Ok(Self { value, label: None })
    }

    /// Attaches a label, reported by [`Verified::secret_label`](crate::Verified::secret_label)
    /// when this secret verifies a delivery. Defaults to none; an empty label means none.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        let label = label.into();
        self.label = (!label.is_empty()).then_some(label);
        self
    }

    /// The label, if one was given.
    #[must_use]
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The HMAC key: the UTF-8 bytes of the whole secret, `whsec_` included.
    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }

    /// Parses a comma-separated list of secrets, each `whsec_…` or `label=whsec_…`, as the
    /// receivers read `KIRIM_WEBHOOK_SECRETS`. Blanks around entries are ignored.
    ///
    /// ```
    /// use kirim_verify::Secret;
    ///
    /// let secrets = Secret::parse_list("old=whsec_test, new=whsec_rotating")?;
    /// assert_eq!(secrets.len(), 2);
    /// assert_eq!(secrets[1].label(), Some("new"));
    /// # Ok::<(), kirim_verify::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first entry's [`ConfigError`]; [`ConfigError::NoSecrets`] for a blank list.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, ConfigError> {
        let secrets = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Self>, _>>()?;
        if secrets.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        Ok(secrets)
    }
}

/// `whsec_…` or `label=whsec_…`. The secret itself may contain `=` (base64 padding), so an
/// entry that starts with `whsec_` is never split.
impl FromStr for Secret {
    type Err = ConfigError;

    fn from_str(entry: &str) -> Result<Self, ConfigError> {
        if entry.starts_with(PREFIX) {
            return Self::new(entry);
        }
        match entry.split_once('=') {
            Some((label, value)) => {
                let label = label.trim();
                if label.is_empty() {
                    return Err(ConfigError::EmptyLabel);
                }
                Ok(Self::new(value.trim())?.with_label(label))
            }
            None => Self::new(entry),
        }
    }
}

/// Redacted: prints the label and the `whsec_` prefix only.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("label", &self.label)
            .field("value", &"whsec_…")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_could_never_verify() {
        assert_eq!(Secret::new("").err(), Some(ConfigError::EmptySecret));
        assert_eq!(Secret::new("test").err(), Some(ConfigError::MissingPrefix));
        assert_eq!(
            Secret::new("whsec_x\n").err(),
            Some(ConfigError::SurroundingWhitespace)
        );
        assert_eq!(
            Secret::new(" whsec_x").err(),
            Some(ConfigError::SurroundingWhitespace)
        );
        assert_eq!(Secret::new("whsec_").err(), Some(ConfigError::EmptySecret));
        assert_eq!(
            Secret::new("whsec_x\0").err(),
            Some(ConfigError::ControlCharacter)
        );
        assert_eq!(
            Secret::new("whsec_\u{1}x").err(),
            Some(ConfigError::ControlCharacter)
        );
        assert!(Secret::new("whsec_x").is_ok());
        assert_eq!(Secret::new("whsec_x").unwrap().with_label("").label(), None);
    }

    #[test]
    fn entry_forms() {
        let s: Secret = "whsec_Zm9v==".parse().unwrap();
        assert_eq!((s.label(), s.key_bytes()), (None, &b"whsec_Zm9v=="[..]));
        let s: Secret = "sec_1 = whsec_Zm9v==".parse().unwrap();
        assert_eq!(
            (s.label(), s.key_bytes()),
            (Some("sec_1"), &b"whsec_Zm9v=="[..])
        );
        assert_eq!(
            "=whsec_x".parse::<Secret>().err(),
            Some(ConfigError::EmptyLabel)
        );
        assert_eq!(
            "a=b".parse::<Secret>().err(),
            Some(ConfigError::MissingPrefix)
        );
    }

    #[test]
    fn lists() {
        assert_eq!(
            Secret::parse_list(" , ").err(),
            Some(ConfigError::NoSecrets)
        );
        assert_eq!(
            Secret::parse_list("whsec_a,nope").err(),
            Some(ConfigError::MissingPrefix)
        );
        let list = Secret::parse_list("whsec_a,,b=whsec_b ").unwrap();
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("whsec_supersecret").unwrap();
        assert!(!alloc::format!("{s:?}").contains("supersecret"));
    }
}
