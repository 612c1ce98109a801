//! The extractor: the verified delivery the layer stored for the handler.

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use kirim_verify::Rejection;

use crate::rejection::KirimRejection;

kirim_verify::flow::adapter_webhook! {
    /// A verified Kirim webhook: the raw body exactly as received, the typed delivery headers, and
    /// the verification result (the core's [`Webhook`](kirim_verify::Webhook), which it dereferences to). Only
    /// [`KirimLayer`](crate::KirimLayer) makes one, so a handler that receives it knows the
    /// signature, the timestamp and the body limit were checked, and that the layer will settle
    /// the event's dedup claim from the handler's answer.
    ///
    /// It reads the request's parts only (a [`FromRequestParts`] extractor, for any router state):
    /// put it in any argument position, next to `State`, `Json` or `Bytes` (the layer puts the body
    /// back).
    ///
    /// **Without the layer** there is nothing to read: every request is refused with a 500
    /// ([`Rejection::Misconfigured`]) and an error is logged saying to add
    /// `.route_layer(KirimLayer::new(receiver))` to the webhook route. It never verifies on its
    /// own, so it cannot run without dedup by mistake.
    pub struct KirimWebhook;
}

/// What [`Rejection::Misconfigured`] says when the extractor runs without the layer.
const LAYER_MISSING: &str = "KirimWebhook extracted on a route without KirimLayer: nothing \
     verified this request; add `.route_layer(KirimLayer::new(receiver))` to the webhook route";

impl<S: Send + Sync> FromRequestParts<S> for KirimWebhook {
    type Rejection = KirimRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| KirimRejection::logged(Rejection::Misconfigured { fix: LAYER_MISSING }))
    }
}
