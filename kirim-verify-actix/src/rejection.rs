//! Why a request was answered by this crate instead of the handler: the core's [`Rejection`]
//! as an actix response.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use kirim_verify::Rejection;

/// A webhook request refused by [`KirimMiddleware`](crate::KirimMiddleware) or
/// [`KirimWebhook`](crate::KirimWebhook): a [`kirim_verify::Rejection`] answered through
/// [`ResponseError`].
///
/// The caller gets the spec's status and a short generic body (`invalid signature`, …; see
/// [`kirim_verify::bodies`]), plus `Retry-After` on a 503. Where it is made, the operator's
/// `tracing` event is emitted ([`Rejection::log`]: `debug` for a refused client, `warn` for
/// store trouble, `error` for a misconfiguration). The precise reason is this value's `Display` and
/// [`source`](StdError::source). Neither ever contains the body, a secret or a computed
/// signature.
///
/// Take `Result<KirimWebhook, KirimRejection>` in a handler to answer refusals yourself.
#[derive(Debug)]
pub struct KirimRejection(Rejection);

impl KirimRejection {
    /// The HTTP status, per the spec's response table.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The short, generic response body.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        self.0.body()
    }

    /// The `Retry-After` value in seconds, for a 503.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.0.retry_after_secs()
    }

    /// The reason, as the core crate's flow gave it.
    #[must_use]
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }

    /// The reason, owned.
    #[must_use]
    pub fn into_rejection(self) -> Rejection {
        self.0
    }
}

/// Transparent: the core's reason is the whole story.
impl fmt::Display for KirimRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for KirimRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        StdError::source(&self.0)
    }
}

impl From<Rejection> for KirimRejection {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl KirimRejection {
    /// Wraps a rejection this crate makes, emitting the operator's event.
    pub(crate) fn logged(rejection: Rejection) -> Self {
        rejection.log();
        Self(rejection)
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
