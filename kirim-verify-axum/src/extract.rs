//! The extractor: a verified delivery, its raw body and its metadata.

use std::sync::Arc;

use axum_core::extract::{FromRef, FromRequest, Request};
use bytes::Bytes;
use kirim_verify::{Delivery, Receiver, Verified, VerifiedDelivery};

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
/// refuses every request with [`KirimRejection::DedupWithoutLayer`] (500) rather than skip
/// dedup silently.
#[derive(Debug, Clone)]
pub struct KirimWebhook {
    body: Bytes,
    delivery: VerifiedDelivery,
}

impl KirimWebhook {
    pub(crate) fn new(body: Bytes, delivery: VerifiedDelivery) -> Self {
        Self { body, delivery }
    }

    /// The raw body, exactly as received (not necessarily UTF-8).
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The raw body, owned.
    #[must_use]
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The delivery headers: event type, event id, source, delivery id, attempt. Not covered
    /// by the signature (only its timestamp is): they are what the sender claims.
    #[must_use]
    pub fn delivery(&self) -> &Delivery {
        self.delivery.delivery()
    }

    /// The verification result: the signed timestamp and which configured secret matched.
    #[must_use]
    pub fn verified(&self) -> &Verified {
        self.delivery.verified()
    }

    /// The verified delivery as the core crate's flow made it.
    #[must_use]
    pub fn verified_delivery(&self) -> &VerifiedDelivery {
        &self.delivery
    }

    /// The verified body as typed JSON. Parse leniently (unknown fields are normal, and an
    /// unknown event type should be acknowledged): a strict type here turns a new field into
    /// a permanent failure.
    ///
    /// # Errors
    ///
    /// [`KirimRejection::InvalidJson`] (400 as a response) when the body is not JSON of type
    /// `T`.
    #[cfg(feature = "json")]
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, KirimRejection> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let rejection = KirimRejection::InvalidJson(error);
            rejection.log();
            rejection
        })
    }
}

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
            let rejection = KirimRejection::DedupWithoutLayer;
            rejection.log();
            return Err(rejection);
        }
        // Without dedup there is nothing to admit: `Receiver::admit` would hand out an
        // unguarded ticket, and settling it does nothing.
        let (_, webhook) = intake::verify(&receiver, request).await?;
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
