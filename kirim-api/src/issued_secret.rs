//! A signing secret as Kirim hands it out once: redacted everywhere but where asked for.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A plaintext signing secret (`whsec_…`) from Kirim's answer: a new subscription's
/// `initial_secret` or a rotation's `secret`. Kirim shows it once.
///
/// Redacted in `Debug`, zeroized on drop, validated as a [`kirim_verify::Secret`] when read.
/// [`expose`](Self::expose) gives the value, to be printed once or written to a private file;
/// [`to_secret`](Self::to_secret) gives the receiver's type:
///
/// ```
/// use kirim_api::IssuedSecret;
///
/// let issued = IssuedSecret::new("whsec_c2VjcmV0")?;
/// assert_eq!(format!("{issued:?}"), "IssuedSecret(\"whsec_…\")");
/// let secret = issued.to_secret().with_label("sec_new");
/// assert_eq!(secret.label(), Some("sec_new"));
/// # Ok::<(), kirim_verify::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct IssuedSecret {
    value: Zeroizing<String>,
    secret: kirim_verify::Secret,
}

impl IssuedSecret {
    /// Wraps a secret string.
    ///
    /// # Errors
    ///
    /// What [`kirim_verify::Secret::new`] refuses: a value that would never verify.
    pub fn new(value: impl Into<String>) -> Result<Self, kirim_verify::ConfigError> {
        let value = Zeroizing::new(value.into());
        let secret = kirim_verify::Secret::new(value.as_str())?;
        Ok(Self { value, secret })
    }

    /// The plaintext. Print it once, or write it to a file only its owner reads; never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The secret as the receiving side takes it ([`kirim_verify::Verifier::new`]).
    #[must_use]
    pub fn to_secret(&self) -> kirim_verify::Secret {
        self.secret.clone()
    }
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IssuedSecret").field(&"whsec_…").finish()
    }
}

impl<'de> Deserialize<'de> for IssuedSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Zeroizing::new(String::deserialize(deserializer)?);
        // The error names the reason only, never the value.
        Self::new(value.as_str()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redacts_and_refuses_what_would_never_verify() {
        let issued: IssuedSecret = serde_json::from_str(r#""whsec_dG9wc2VjcmV0""#).unwrap();
        assert_eq!(issued.expose(), "whsec_dG9wc2VjcmV0");
        assert!(!format!("{issued:?}").contains("dG9w"));
        let error = serde_json::from_str::<IssuedSecret>(r#""notasecret_x""#).unwrap_err();
        assert!(!error.to_string().contains("notasecret_x"), "{error}");
    }
}
