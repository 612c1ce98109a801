//! Why an inbox call failed.

use std::fmt;
use std::time::Duration;

use kirim_verify::store::BoxError;

/// Why an inbox, worker or store call failed. On the request path every one of them means the
/// same: the delivery was not acknowledged as stored, answer 503 and Kirim retries.
#[derive(Debug)]
#[non_exhaustive]
pub enum InboxError {
    /// The database URL's scheme is neither `sqlite://` nor `postgres://`/`postgresql://`.
    UnsupportedUrl,
    /// The URL names a backend this build left out (the `sqlite` or `postgres` feature).
    BackendDisabled(&'static str),
    /// The URL could not be parsed; the driver's error is the source.
    InvalidUrl(BoxError),
    /// The call took longer than the store timeout. It may still commit afterwards: a delivery
    /// answered 503 this way is then a duplicate when Kirim retries it, never lost.
    Timeout(Duration),
    /// The database failed (connection refused or reset, an error reply, a locked file); the
    /// driver's error is the source.
    Backend(BoxError),
}

impl InboxError {
    pub(crate) fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }
}

impl fmt::Display for InboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedUrl => {
                f.write_str("database url must start with sqlite:// or postgres://")
            }
            Self::BackendDisabled(feature) => {
                write!(
                    f,
                    "this build has no {feature} backend (enable the `{feature}` feature)"
                )
            }
            Self::InvalidUrl(_) => f.write_str("database url is invalid"),
            Self::Timeout(after) => write!(f, "inbox database did not answer within {after:?}"),
            Self::Backend(_) => f.write_str("inbox database failed"),
        }
    }
}

impl std::error::Error for InboxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidUrl(error) | Self::Backend(error) => Some(&**error),
            _ => None,
        }
    }
}
