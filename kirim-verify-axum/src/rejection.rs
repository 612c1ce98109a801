//! Why a webhook was refused: the core's [`Rejection`] as an axum response.

use axum_core::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use kirim_verify::flow::bodies;

kirim_verify::flow::adapter_rejection! {
    /// Why a request did not reach the handler, and what to answer: a
    /// [`kirim_verify::Rejection`] as an axum response.
    ///
    /// As a response ([`IntoResponse`]) it carries the status of the spec's response table and a
    /// short generic body ([`kirim_verify::flow::bodies`]), plus `Retry-After` on a 503. Where it is made,
    /// the operator's `tracing` event is emitted ([`Rejection::log`]: `debug` for a refused client,
    /// `warn` for store trouble, `error` for a misconfiguration). The precise reason is its
    /// `Display` text and [`source`](std::error::Error::source) chain. Neither ever
    /// contains the body, a secret or a computed signature.
    ///
    /// `?` on the core's [`Webhook::json`](kirim_verify::Webhook::json) in a handler returning
    /// `Result<_, KirimRejection>` answers its 400.
    pub struct KirimRejection;
}

impl IntoResponse for KirimRejection {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = text(status, self.0.body());
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
