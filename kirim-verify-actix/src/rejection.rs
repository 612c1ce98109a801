//! Why a request was answered by this crate instead of the handler: the core's [`Rejection`]
//! as an actix response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};

kirim_verify::flow::adapter_rejection! {
    /// A webhook request refused by [`KirimMiddleware`](crate::KirimMiddleware) or
    /// [`KirimWebhook`](crate::KirimWebhook): a [`kirim_verify::Rejection`] answered through
    /// [`ResponseError`].
    ///
    /// The caller gets the spec's status and a short generic body (`invalid signature`, …; see
    /// [`kirim_verify::flow::bodies`]), plus `Retry-After` on a 503. Where it is made, the operator's
    /// `tracing` event is emitted ([`Rejection::log`]: `debug` for a refused client, `warn` for
    /// store trouble, `error` for a misconfiguration). The precise reason is this value's `Display` and
    /// `source`. Neither ever contains the body, a secret or a computed
    /// signature.
    ///
    /// `?` on the core's [`Webhook::json`](kirim_verify::Webhook::json) in a handler returning
    /// `Result<_, KirimRejection>` answers its 400.
    pub struct KirimRejection;
}

impl ResponseError for KirimRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType::plaintext());
        if let Some(secs) = self.0.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.body(self.0.body())
    }
}

/// 200 with a short plain-text body, as the rejections are answered.
pub(crate) fn plain_ok(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body(body)
}
