//! The extractor: the verified delivery the middleware stored for the handler.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use kirim_verify::Rejection;

use crate::rejection::KirimRejection;

kirim_verify::flow::adapter_webhook! {
    /// A verified Kirim webhook: the raw body exactly as received, the typed delivery headers,
    /// and the verification result (the core's [`Webhook`](kirim_verify::Webhook), which it
    /// dereferences to). Only [`KirimMiddleware`](crate::KirimMiddleware) makes one, so a
    /// handler that receives it knows the signature, the timestamp and the body limit were
    /// checked, and that the middleware will settle the event's dedup claim from the handler's
    /// answer.
    ///
    /// It reads what the middleware stored in the request's extensions, and does not touch the
    /// payload: `web::Bytes` or `web::Json` work next to it (the middleware puts the body back).
    ///
    /// **Without the middleware** there is nothing to read: every request is refused with a 500
    /// ([`Rejection::Misconfigured`]) and an error is logged saying to wrap the webhook route in
    /// `.wrap(KirimMiddleware::new(receiver))`. It never verifies on its own, so it cannot run
    /// without dedup by mistake.
    pub struct KirimWebhook;
}

/// What [`Rejection::Misconfigured`] says when the extractor runs without the middleware.
const MIDDLEWARE_MISSING: &str = "KirimWebhook extracted on a route without KirimMiddleware: \
     nothing verified this request; wrap the webhook route in \
     `.wrap(KirimMiddleware::new(receiver))`";

impl FromRequest for KirimWebhook {
    type Error = KirimRejection;
    type Future = Ready<Result<Self, KirimRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Self>().cloned().ok_or_else(|| {
            KirimRejection::logged(Rejection::Misconfigured {
                fix: MIDDLEWARE_MISSING,
            })
        }))
    }
}
