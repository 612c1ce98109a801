//! The extractor: a verified delivery, its raw body and its metadata.

use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRef, FromRequest, Request};
use kirim_verify::{Receiver, Rejection, Webhook};

use crate::intake;
use crate::rejection::KirimRejection;

/// A verified Kirim webhook: the raw body exactly as received, the typed delivery headers, and
/// the verification result. Only this crate makes one, so a handler that receives it knows the
/// signature, the timestamp and the body limit were checked.
///
/// It consumes the request body (a [`FromRequest`] extractor): put it last among a handler's
/// arguments.
///
/// Under [`KirimLayer`](crate::KirimLayer) it is the delivery the layer verified and admitted
/// (the layer also puts the body back, so `Bytes` or `Json` work next to it). Without the layer
/// it verifies the request itself, with the [`Receiver`] it reads from the router's state
/// (`Arc<Receiver>: FromRef<S>`), and has no dedup: if that receiver has dedup configured it
/// refuses every request with [`Rejection::Misconfigured`](kirim_verify::Rejection::Misconfigured)
/// (500) rather than skip dedup silently.
#[derive(Debug, Clone)]
pub struct KirimWebhook(Arc<Webhook>);

impl KirimWebhook {
    /// The verified webhook as the core crate's flow made it.
    #[must_use]
    pub fn into_inner(self) -> Webhook {
        Arc::unwrap_or_clone(self.0)
    }

    /// The verified body as typed JSON ([`Webhook::json`]), refused as a response when it is
    /// not. Parse leniently: unknown fields are normal.
    ///
    /// # Errors
    ///
    /// [`Rejection::InvalidJson`](kirim_verify::Rejection::InvalidJson) (400 as a response)
    /// when the body is not JSON of type `T`.
    #[cfg(feature = "json")]
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, KirimRejection> {
        self.0.json().map_err(KirimRejection::logged)
    }
}

/// The accessors of the core's [`Webhook`]: `body()`, `into_body()`, `delivery()`,
/// `verified()`.
impl Deref for KirimWebhook {
    type Target = Webhook;

    fn deref(&self) -> &Webhook {
        &self.0
    }
}

/// Shared, not copied: the middleware keeps the webhook to settle its claims while the handler
/// holds it.
impl From<Arc<Webhook>> for KirimWebhook {
    fn from(webhook: Arc<Webhook>) -> Self {
        Self(webhook)
    }
}

/// What [`Rejection::Misconfigured`] says when the extractor meets a dedup receiver alone.
const DEDUP_WITHOUT_LAYER: &str = "KirimWebhook extracted without KirimLayer, but the Receiver \
     has dedup configured: the extractor cannot see the handler's outcome to settle the claim; \
     add `.route_layer(KirimLayer::new(receiver))` to the webhook route";

impl<S> FromRequest<S> for KirimWebhook
where
    Arc<Receiver>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = KirimRejection;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(webhook) = request.extensions_mut().remove::<Self>() {
            return Ok(webhook);
        }
        let receiver = Arc::<Receiver>::from_ref(state);
        if receiver.has_dedup() {
            let fix = DEDUP_WITHOUT_LAYER;
            return Err(KirimRejection::logged(Rejection::Misconfigured { fix }));
        }
        // Without dedup there is nothing to admit: `Receiver::admit` would hand out an
        // unguarded ticket, and settling it does nothing.
        let (_, webhook) = intake::verify(&receiver, request).await?;
        let webhook = Self(Arc::new(webhook));
        tracing::debug!(
            event = webhook.delivery().event(),
            event_id = webhook.delivery().event_id(),
            attempt = webhook.delivery().attempt(),
            secret = webhook.verified().secret_index(),
            "kirim webhook verified"
        );
        Ok(webhook)
    }
}
