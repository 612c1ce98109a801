//! Why a request was answered by this crate instead of the handler, and the answer.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use kirim_verify::{Rejection, bodies};

/// Bodies the core does not define (yet): kept as generic as the core's.
pub(crate) mod local_bodies {
    /// 400 for a body that could not be read, or is not the JSON the handler expects.
    pub(crate) const BAD_BODY: &str = "malformed webhook body";
    /// 500: the handler panicked, or the receiver is misconfigured.
    pub(crate) const INTERNAL: &str = "internal error";
}

/// A webhook request refused by [`KirimMiddleware`](crate::KirimMiddleware) or
/// [`KirimWebhook`](crate::KirimWebhook), answered through [`ResponseError`].
///
/// The caller gets the spec's status and a short generic body (`invalid signature`, …; see
/// [`kirim_verify::bodies`]); the precise reason is this value's `Display` and
/// [`source`](StdError::source), for the operator. When answered, it is also logged with
/// `tracing`: `debug` for client errors, `warn` for dedup store trouble, `error` for a
/// misconfigured receiver or a panicking handler. No variant carries the body, a secret or a
/// computed signature.
#[derive(Debug)]
#[non_exhaustive]
pub enum KirimRejection {
    /// The shared receiving flow refused the delivery: 400 (headers), 401 (signature,
    /// timestamp), 413 (body limit) or 503 with `Retry-After` (event in progress elsewhere,
    /// dedup store failing).
    Rejected(Rejection),
    /// The body could not be read: the connection broke, or actix refused it (a
    /// [`PayloadConfig`](actix_web::web::PayloadConfig) limit smaller than the receiver's is 413,
    /// anything else 400).
    Payload(actix_web::Error),
    /// The verified body is not the JSON [`KirimWebhook::json`](crate::KirimWebhook::json)
    /// was asked for: 400.
    InvalidJson(serde_json::Error),
    /// [`KirimWebhook`](crate::KirimWebhook) was used without [`KirimMiddleware`](crate::KirimMiddleware)
    /// and there is no `web::Data<Receiver>` in the app data: 500.
    MissingReceiver,
    /// [`KirimWebhook`](crate::KirimWebhook) was used without [`KirimMiddleware`](crate::KirimMiddleware)
    /// on a receiver with dedup: the extractor alone never sees the handler's answer, so it
    /// cannot settle the claim. Refused rather than silently skipping dedup: 500.
    DedupWithoutMiddleware,
    /// The handler panicked; its claim was released so Kirim's retry is processed: 500.
    HandlerPanicked,
}

impl KirimRejection {
    /// The HTTP status, per the spec's response table.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Rejected(rejection) => StatusCode::from_u16(rejection.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::Payload(error) => {
                if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                }
            }
            Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The generic body for the caller.
    #[must_use]
    pub fn body(&self) -> &'static str {
        match self {
            Self::Rejected(rejection) => rejection.body(),
            Self::Payload(_) if self.status() == StatusCode::PAYLOAD_TOO_LARGE => bodies::TOO_LARGE,
            Self::Payload(_) | Self::InvalidJson(_) => local_bodies::BAD_BODY,
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => {
                local_bodies::INTERNAL
            }
        }
    }

    /// The `Retry-After` value in whole seconds, for 503 answers.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Rejected(rejection) => rejection.retry_after_secs(),
            _ => None,
        }
    }

    /// The core's rejection, when the shared flow refused the delivery.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Self::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// Logs the precise reason for the operator, at the level its cause deserves.
    fn log(&self) {
        let status = self.status().as_u16();
        let source = tracing::field::display(source_text(self));
        match self {
            Self::Rejected(Rejection::Store(_)) => {
                tracing::warn!(status, error = %self, source, "kirim webhook refused");
            }
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => {
                tracing::error!(status, error = %self, source, "kirim webhook refused");
            }
            _ => tracing::debug!(status, error = %self, source, "kirim webhook refused"),
        }
    }
}

fn source_text(error: &KirimRejection) -> String {
    match error {
        // serde_json's messages may quote values from the body (`invalid type: string "…"`):
        // only where and what kind of error reaches the logs.
        KirimRejection::InvalidJson(json) => format!(
            "{:?} error at line {} column {}",
            json.classify(),
            json.line(),
            json.column()
        ),
        _ => StdError::source(error).map_or_else(String::new, ToString::to_string),
    }
}

impl fmt::Display for KirimRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Transparent: the core's reason is the whole story (its source stays reachable).
            Self::Rejected(rejection) => fmt::Display::fmt(rejection, f),
            Self::Payload(_) => f.write_str("could not read the webhook body"),
            Self::InvalidJson(_) => f.write_str("verified webhook body is not the expected JSON"),
            Self::MissingReceiver => f.write_str(
                "KirimWebhook used without KirimMiddleware and without a web::Data<Receiver> in \
                 the app data; wrap the route in KirimMiddleware::new(receiver)",
            ),
            Self::DedupWithoutMiddleware => f.write_str(
                "KirimWebhook used alone on a receiver with dedup: the extractor cannot see the \
                 handler's answer to settle the dedup claim; wrap the route in \
                 KirimMiddleware::new(receiver)",
            ),
            Self::HandlerPanicked => f.write_str(
                "the kirim webhook handler panicked; its dedup claim was released so the retry \
                 is processed",
            ),
        }
    }
}

impl StdError for KirimRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Rejected(rejection) => rejection.source(),
            Self::Payload(error) => Some(error),
            Self::InvalidJson(error) => Some(error),
            Self::MissingReceiver | Self::DedupWithoutMiddleware | Self::HandlerPanicked => None,
        }
    }
}

impl From<Rejection> for KirimRejection {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl ResponseError for KirimRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status());
        response.insert_header(ContentType::plaintext());
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.body(self.body())
    }
}

/// 200 with a short plain-text body, as the rejections are answered.
pub(crate) fn plain_ok(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body(body)
}
