//! Why a delivery was refused, and why a configuration did not build.

use core::fmt;

use crate::header::MalformedHeader;

/// Why a delivery is not authentic, or could not be read.
///
/// The [`Display`](fmt::Display) text is for the operator (logs). Send the HTTP caller only a
/// generic answer; [`VerifyError::status`] gives the status code the spec prescribes. No variant
/// carries a secret, a computed signature or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent (`X-Kirim-Signature`, or a delivery header the receiver needs).
    MissingHeader {
        /// Lowercase header name.
        name: &'static str,
    },
    /// A delivery header (not the signature) is present but unusable: not visible ASCII, too
    /// long, or empty.
    InvalidHeader {
        /// Lowercase header name.
        name: &'static str,
    },
    /// `X-Kirim-Signature` is not of the form `t=…,v1=…`; see the reason.
    MalformedHeader(MalformedHeader),
    /// The header is well formed and fresh, but no `v1` matched any configured secret.
    SignatureMismatch,
    /// The signed timestamp is further in the past than the tolerance allows.
    TooOld {
        /// Seconds between the signed timestamp and now.
        age_secs: u64,
        /// The past tolerance in force.
        tolerance_secs: u64,
    },
    /// The signed timestamp is further in the future than the tolerance allows.
    TooNew {
        /// Seconds between now and the signed timestamp.
        ahead_secs: u64,
        /// The future tolerance in force.
        tolerance_secs: u64,
    },
}

impl VerifyError {
    /// The HTTP status the spec prescribes: 400 for a missing or malformed header (a
    /// configuration bug on one side: permanent, fix and replay), 401 for a mismatch or a
    /// timestamp outside the tolerance.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingHeader { .. } | Self::InvalidHeader { .. } | Self::MalformedHeader(_) => {
                400
            }
            Self::SignatureMismatch | Self::TooOld { .. } | Self::TooNew { .. } => 401,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader { name } => write!(f, "request has no {name} header"),
            Self::InvalidHeader { name } => {
                write!(f, "{name} header is empty, too long or not visible ASCII")
            }
            Self::MalformedHeader(reason) => write!(f, "malformed {reason}"),
            Self::SignatureMismatch => f.write_str(
                "no signature matched any configured secret; is the body the raw bytes as \
                 received and the secret the full whsec_ string?",
            ),
            Self::TooOld {
                age_secs,
                tolerance_secs,
            } => write!(
                f,
                "signature timestamp is {age_secs} s old, over the {tolerance_secs} s tolerance; \
                 a replayed delivery, or this machine's clock is ahead"
            ),
            Self::TooNew {
                ahead_secs,
                tolerance_secs,
            } => write!(
                f,
                "signature timestamp is {ahead_secs} s in the future, over the {tolerance_secs} s \
                 tolerance; this machine's clock is behind"
            ),
        }
    }
}

// No `source()`: the malformed-header reason is already part of the Display text.
impl core::error::Error for VerifyError {}

impl From<MalformedHeader> for VerifyError {
    fn from(reason: MalformedHeader) -> Self {
        Self::MalformedHeader(reason)
    }
}

/// Why a [`Secret`](crate::Secret), [`Verifier`](crate::Verifier) or
/// [`Signer`](crate::Signer) could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret is the empty string, or `whsec_` with nothing after it.
    EmptySecret,
    /// A secret does not start with `whsec_`. Kirim keys HMAC with the whole string it issued,
    /// prefix included; a secret without it is almost always a copy-paste or decoding mistake.
    MissingPrefix,
    /// A secret starts or ends with whitespace (a trailing newline from a file or an env var).
    SurroundingWhitespace,
    /// A secret holds a control character (a NUL, an escape). HMAC pads short keys with zero
    /// bytes, so a trailing NUL would even make two different strings one key.
    ControlCharacter,
    /// A `label=whsec_…` entry has nothing before the `=`.
    EmptyLabel,
    /// No secret was given.
    NoSecrets,
    /// More than [`MAX_SECRETS`](crate::MAX_SECRETS) secrets were given; each one costs an HMAC
    /// per request.
    TooManySecrets,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptySecret => "webhook secret is empty",
            Self::MissingPrefix => {
                "webhook secret does not start with whsec_; use the full string Kirim issued, \
                 prefix included, without decoding it"
            }
            Self::SurroundingWhitespace => {
                "webhook secret starts or ends with whitespace; strip the newline or spaces"
            }
            Self::ControlCharacter => "webhook secret contains a control character",
            Self::EmptyLabel => "webhook secret label is empty",
            Self::NoSecrets => "no webhook secret configured",
            Self::TooManySecrets => "more than 16 webhook secrets configured",
        })
    }
}

impl core::error::Error for ConfigError {}
