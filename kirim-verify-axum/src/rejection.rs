//! Why a webhook was refused: the core's [`Rejection`] as an axum response.

use std::fmt;

use axum_core::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use kirim_verify::{Rejection, bodies};

/// Why a request did not reach the handler, and what to answer: a
/// [`kirim_verify::Rejection`] as an axum response.
///
/// As a response ([`IntoResponse`]) it carries the status of the spec's response table and a
/// short generic body ([`kirim_verify::bodies`]), plus `Retry-After` on a 503. Where it is made,
/// the operator's `tracing` event is emitted ([`Rejection::log`]: `debug` for a refused client,
/// `warn` for store trouble, `error` for a misconfiguration). The precise reason is its
/// [`Display`](fmt::Display) text and [`source`](std::error::Error::source) chain. Neither ever
/// contains the body, a secret or a computed signature.
///
/// Take `Result<KirimWebhook, KirimRejection>` in a handler to answer differently.
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

impl std::error::Error for KirimRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
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

impl IntoResponse for KirimRejection {
    fn into_response(self) -> Response {
        let mut response = text(self.status(), self.body_text());
        if let Some(secs) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// 200 `duplicate`: acknowledged, handler not run.
pub(crate) fn duplicate() -> Response {
    text(StatusCode::OK, bodies::DUPLICATE)
}
