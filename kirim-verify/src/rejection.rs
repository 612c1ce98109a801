//! Why a request was not handed to the handler: the status, the generic body for the caller,
//! and the precise reason, logged for the operator. Both framework adapters answer with it.

use core::fmt;
use core::time::Duration;

use crate::dedup_store::{BoxError, StoreError};
use crate::error::VerifyError;

/// Response bodies: short and generic. The precise reason is in the [`Rejection`], for logs.
pub mod bodies {
    /// 200, first processing.
    pub const OK: &str = "ok";
    /// 200, a duplicate: acknowledged so Kirim stops retrying; the handler did not run.
    pub const DUPLICATE: &str = "duplicate";
    /// 400, missing or malformed delivery headers.
    pub const BAD_REQUEST: &str = "malformed webhook headers";
    /// 400, the body could not be read.
    pub const BODY_UNREADABLE: &str = "failed to read the request body";
    /// 400, the verified body is not the JSON the handler expects.
    pub const INVALID_JSON: &str = "invalid JSON body";
    /// 401, the signature did not verify.
    pub const INVALID_SIGNATURE: &str = "invalid signature";
    /// 413.
    pub const TOO_LARGE: &str = "payload too large";
    /// 500, a server-side problem the caller can do nothing about.
    pub const INTERNAL_ERROR: &str = "internal server error";
    /// 503.
    pub const UNAVAILABLE: &str = "temporarily unavailable, retry later";
}

/// Why a request was not handed to the handler, and what to answer.
///
/// [`status`](Self::status), [`body`](Self::body) and [`retry_after_secs`](Self::retry_after_secs)
/// are the answer (the spec's response table, generic bodies); the [`Display`](fmt::Display)
/// text and [`source`](core::error::Error::source) chain are the reason, for the operator.
/// Neither ever contains the body, a secret or a computed signature.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// The delivery did not verify, or its headers are unusable: 400 or 401.
    Verify(VerifyError),
    /// The body is longer than the limit: 413.
    TooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The body could not be read (the client went away, a broken chunked encoding): 400.
    BodyUnreadable(BoxError),
    /// The verified body is not the JSON the handler asked for: 400. Only the position is
    /// kept: a JSON parser's message may quote the body.
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// Another worker is processing the same event (or the same signature): 503 with
    /// `Retry-After`.
    InProgress {
        /// The claim's remaining lease.
        retry_after: Duration,
    },
    /// The dedup store failed and the policy is to fail closed: 503.
    Store(StoreError),
    /// The handler panicked: 500. Its dedup claims were released, so Kirim's retry is
    /// processed.
    HandlerPanicked,
    /// The receiver is wired wrongly: 500 on every request until it is fixed, rather than a
    /// silent gap (say, dedup configured where nothing can settle its claims).
    Misconfigured {
        /// What is wrong and how to fix it.
        fix: &'static str,
    },
}

impl Rejection {
    /// The HTTP status, per the spec's response table.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Verify(error) => error.status(),
            Self::TooLarge { .. } => 413,
            Self::BodyUnreadable(_) | Self::InvalidJson { .. } => 400,
            Self::InProgress { .. } | Self::Store(_) => 503,
            Self::HandlerPanicked | Self::Misconfigured { .. } => 500,
        }
    }

    /// The generic body for the caller.
    #[must_use]
    pub fn body(&self) -> &'static str {
        match self {
            Self::Verify(error) if error.status() == 401 => bodies::INVALID_SIGNATURE,
            Self::Verify(_) => bodies::BAD_REQUEST,
            Self::TooLarge { .. } => bodies::TOO_LARGE,
            Self::BodyUnreadable(_) => bodies::BODY_UNREADABLE,
            Self::InvalidJson { .. } => bodies::INVALID_JSON,
            Self::InProgress { .. } | Self::Store(_) => bodies::UNAVAILABLE,
            Self::HandlerPanicked | Self::Misconfigured { .. } => bodies::INTERNAL_ERROR,
        }
    }

    /// The `Retry-After` value in whole seconds (at least 1), for 503 answers.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::InProgress { retry_after } => Some(retry_after.as_secs().max(1)),
            Self::Store(_) => Some(1),
            _ => None,
        }
    }

    /// A short stable name for the reason, for metrics and dashboards: `malformed_header`,
    /// `missing_header`, `invalid_header`, `signature_mismatch`, `too_old`, `too_new`,
    /// `too_large`, `body_unreadable`, `invalid_json`, `in_progress`, `store_unavailable`,
    /// `handler_panicked` or `misconfigured`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(VerifyError::MissingHeader { .. }) => "missing_header",
            Self::Verify(VerifyError::InvalidHeader { .. }) => "invalid_header",
            Self::Verify(VerifyError::MalformedHeader(_)) => "malformed_header",
            Self::Verify(VerifyError::SignatureMismatch) => "signature_mismatch",
            Self::Verify(VerifyError::TooOld { .. }) => "too_old",
            Self::Verify(VerifyError::TooNew { .. }) => "too_new",
            Self::TooLarge { .. } => "too_large",
            Self::BodyUnreadable(_) => "body_unreadable",
            Self::InvalidJson { .. } => "invalid_json",
            Self::InProgress { .. } => "in_progress",
            Self::Store(_) => "store_unavailable",
            Self::HandlerPanicked => "handler_panicked",
            Self::Misconfigured { .. } => "misconfigured",
        }
    }

    /// Emits the operator's `tracing` event: `error` for a misconfiguration, `warn`
    /// for server-side trouble (the store, 503), `debug` for a refused client. Reasons only.
    pub fn log(&self) {
        crate::metrics::rejected(self);
        let status = self.status();
        match self {
            // Logged with its message where it was caught (`Receiver::process`).
            Self::HandlerPanicked => {}
            Self::Misconfigured { .. } => {
                tracing::error!(status, reason = %self, "kirim webhook refused");
            }
            _ if core::error::Error::source(self).is_none() => {
                if status >= 500 {
                    tracing::warn!(status, reason = %self, "kirim webhook refused");
                } else {
                    tracing::debug!(status, reason = %self, "kirim webhook refused");
                }
            }
            _ if status >= 500 => tracing::warn!(
                status,
                reason = %self,
                source = %SourceChain(self),
                "kirim webhook refused"
            ),
            _ => tracing::debug!(
                status,
                reason = %self,
                source = %SourceChain(self),
                "kirim webhook refused"
            ),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(error) => fmt::Display::fmt(error, f),
            Self::TooLarge { limit } => write!(f, "webhook body is over the {limit} byte limit"),
            Self::BodyUnreadable(_) => f.write_str("failed to read the webhook body"),
            Self::InvalidJson { line, column } => write!(
                f,
                "verified webhook body is not the expected JSON (line {line}, column {column})"
            ),
            Self::InProgress { retry_after } => write!(
                f,
                "the same event is being processed by another worker; retry in {retry_after:?}"
            ),
            Self::Store(_) => f.write_str("dedup store unavailable; failing closed"),
            Self::HandlerPanicked => {
                f.write_str("webhook handler panicked; dedup claims released for the retry")
            }
            Self::Misconfigured { fix } => write!(f, "webhook receiver misconfigured: {fix}"),
        }
    }
}

impl core::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Store(error) => Some(error),
            Self::BodyUnreadable(error) => Some(&**error),
            _ => None,
        }
    }
}

impl From<VerifyError> for Rejection {
    fn from(error: VerifyError) -> Self {
        Self::Verify(error)
    }
}

/// The `source()` chain of an error, joined with `: ` (empty when there is none).
pub(crate) struct SourceChain<'a>(pub(crate) &'a dyn core::error::Error);

impl fmt::Display for SourceChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut next = self.0.source();
        let mut first = true;
        while let Some(error) = next {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{error}")?;
            first = false;
            next = error.source();
        }
        Ok(())
    }
}
