//! Why a request was answered by this crate instead of the handler, and the answer.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use kirim_verify::{Rejection, bodies};

/// Body of a 400 for a body that could not be read (the client went away mid-body, sent a
/// broken chunked encoding, or a content type the app's `PayloadConfig` refuses).
const BODY_UNREADABLE: &str = "failed to read the request body";
/// Body of a 400 for a verified body that is not the JSON the handler expects.
#[cfg(feature = "json")]
const INVALID_JSON: &str = "invalid JSON body";
/// Body of a 500: a server-side problem the caller can do nothing about.
pub(crate) const INTERNAL_ERROR: &str = "internal server error";

/// A webhook request refused by [`KirimMiddleware`](crate::KirimMiddleware) or
/// [`KirimWebhook`](crate::KirimWebhook), answered through [`ResponseError`].
///
/// The caller gets the spec's status and a short generic body (`invalid signature`, …; see
/// [`kirim_verify::bodies`]); the precise reason is this value's `Display` and
/// [`source`](StdError::source), for the operator; a `tracing` event is emitted where it is
/// made: `debug` for a refused client, `warn` for server-side trouble (dedup store, 503),
/// `error` for a misconfiguration or a panicking handler. Neither ever contains the body, a
/// secret or a computed signature.
///
/// Take `Result<KirimWebhook, KirimRejection>` in a handler to answer differently.
#[derive(Debug)]
#[non_exhaustive]
pub enum KirimRejection {
    /// The shared receiving flow refused the delivery: 400 (missing or malformed headers), 401
    /// (signature mismatch, timestamp outside the tolerance), 413 (body over the limit) or 503
    /// (dedup store unavailable, or the same event in progress elsewhere, with `Retry-After`).
    Refused(Rejection),
    /// The body is over the limit of the app's [`PayloadConfig`](actix_web::web::PayloadConfig),
    /// which is smaller than the receiver's: 413. Only [`KirimWebhook`](crate::KirimWebhook)
    /// used alone applies it.
    OverPayloadConfigLimit,
    /// The body could not be read: 400. The caller has usually gone away; or the app's
    /// [`PayloadConfig`](actix_web::web::PayloadConfig) refused its content type.
    BodyUnreadable(actix_web::Error),
    /// The body verified but is not the JSON [`KirimWebhook::json`](crate::KirimWebhook::json)
    /// was asked for: 400. The source's text may quote parts of the body.
    #[cfg(feature = "json")]
    InvalidJson(serde_json::Error),
    /// [`KirimWebhook`](crate::KirimWebhook) was extracted without
    /// [`KirimMiddleware`](crate::KirimMiddleware) and the app data holds no
    /// `web::Data<Receiver>`: 500. Wrap the route in the middleware, or add the receiver.
    MissingReceiver,
    /// [`KirimWebhook`](crate::KirimWebhook) was extracted without
    /// [`KirimMiddleware`](crate::KirimMiddleware) from a [`Receiver`](kirim_verify::Receiver)
    /// with dedup configured: 500. The extractor cannot see the handler's response, so it
    /// cannot settle a dedup claim; rather than skip dedup silently it refuses every request.
    /// Wrap the route in the middleware.
    DedupWithoutMiddleware,
    /// The handler panicked: 500. Its dedup claim was released, so Kirim's retry is processed.
    HandlerPanicked,
}

impl KirimRejection {
    /// The HTTP status, per the spec's response table.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(rejection) => StatusCode::from_u16(rejection.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::OverPayloadConfigLimit => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The short, generic response body.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        match self {
            Self::Refused(rejection) => rejection.body(),
            Self::OverPayloadConfigLimit => bodies::TOO_LARGE,
            Self::BodyUnreadable(_) => BODY_UNREADABLE,
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => INVALID_JSON,
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => {
                INTERNAL_ERROR
            }
        }
    }

    /// The `Retry-After` value in seconds, for a 503.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Refused(rejection) => rejection.retry_after_secs(),
            _ => None,
        }
    }

    /// The shared flow's rejection, when that is what this is.
    #[must_use]
    pub fn as_refused(&self) -> Option<&Rejection> {
        match self {
            Self::Refused(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// Emits the operator's event: `error` for a misconfiguration, `warn` for server-side
    /// trouble (store, 503), `debug` for a refused client. Reasons only: never the body.
    /// A panic is logged where it is caught, with its message.
    pub(crate) fn log(&self) {
        let status = self.status().as_u16();
        match self {
            Self::HandlerPanicked => {}
            Self::MissingReceiver | Self::DedupWithoutMiddleware => {
                tracing::error!(status, reason = %self, "kirim webhook refused");
            }
            #[cfg(feature = "json")]
            Self::InvalidJson(error) => tracing::debug!(
                status,
                // Category and position only: serde_json's message may quote the body.
                category = ?error.classify(),
                line = error.line(),
                column = error.column(),
                "kirim webhook body is not the expected JSON"
            ),
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

/// The `source()` chain of an error, joined with `: ` (empty when there is none).
struct SourceChain<'a>(&'a dyn StdError);

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

impl fmt::Display for KirimRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Transparent: the flow's reason is the whole story (its source stays reachable).
            Self::Refused(rejection) => fmt::Display::fmt(rejection, f),
            Self::OverPayloadConfigLimit => f.write_str(
                "webhook body is over the limit of the app's web::PayloadConfig, which is \
                 smaller than the receiver's",
            ),
            Self::BodyUnreadable(_) => f.write_str("failed to read the webhook body"),
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => f.write_str("verified webhook body is not the expected JSON"),
            Self::MissingReceiver => f.write_str(
                "KirimWebhook extracted without KirimMiddleware and without a \
                 web::Data<Receiver> in the app data; wrap the webhook route in \
                 `.wrap(KirimMiddleware::new(receiver))`",
            ),
            Self::DedupWithoutMiddleware => f.write_str(
                "KirimWebhook extracted without KirimMiddleware, but the Receiver has dedup \
                 configured: the extractor cannot see the handler's outcome to settle the \
                 claim; wrap the webhook route in `.wrap(KirimMiddleware::new(receiver))`",
            ),
            Self::HandlerPanicked => {
                f.write_str("kirim webhook handler panicked; dedup claim released for the retry")
            }
        }
    }
}

impl StdError for KirimRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // The flow's Display is already ours; its own source (a store error) comes next.
            Self::Refused(rejection) => StdError::source(rejection),
            Self::BodyUnreadable(error) => Some(error),
            #[cfg(feature = "json")]
            Self::InvalidJson(error) => Some(error),
            Self::OverPayloadConfigLimit
            | Self::MissingReceiver
            | Self::DedupWithoutMiddleware
            | Self::HandlerPanicked => None,
        }
    }
}

impl From<Rejection> for KirimRejection {
    fn from(rejection: Rejection) -> Self {
        Self::Refused(rejection)
    }
}

impl ResponseError for KirimRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        response.insert_header(ContentType::plaintext());
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.body(self.body_text())
    }
}

/// 200 with a short plain-text body, as the rejections are answered.
pub(crate) fn plain_ok(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body(body)
}
