//! The extractor: what the middleware verified, or a verification of its own.

use std::future::{Future, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{self, PayloadConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use bytes::Bytes;
use kirim_verify::{Delivery, Receiver, Verified, VerifiedDelivery};

use crate::intake::{Limits, receive};
use crate::rejection::KirimRejection;

/// A verified Kirim delivery: its exact body, its headers, which secret matched.
///
/// Behind [`KirimMiddleware`](crate::KirimMiddleware) it reads what the middleware verified
/// and admitted (no second read, no second check). Used alone, it reads and verifies the body
/// itself with the `web::Data<Receiver>` from the app data (the smaller of the receiver's
/// limit and a [`PayloadConfig`]'s, when one is set); dedup needs the middleware, so a
/// receiver with dedup is refused there (500, [`KirimRejection::DedupWithoutMiddleware`]).
///
/// Take `Result<KirimWebhook, KirimRejection>` to answer refusals yourself.
#[derive(Debug, Clone)]
pub struct KirimWebhook {
    delivery: VerifiedDelivery,
    body: Bytes,
}

impl KirimWebhook {
    pub(crate) fn new(delivery: VerifiedDelivery, body: Bytes) -> Self {
        Self { delivery, body }
    }

    /// The body exactly as received and verified.
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, owned.
    #[must_use]
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The delivery headers: event type, event id, source, attempt.
    #[must_use]
    pub fn delivery(&self) -> &Delivery {
        self.delivery.delivery()
    }

    /// The verification result: signed timestamp, which secret matched.
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

type Extraction = Pin<Box<dyn Future<Output = Result<KirimWebhook, KirimRejection>>>>;

impl FromRequest for KirimWebhook {
    type Error = KirimRejection;
    type Future = Extraction;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(stored) = req.extensions().get::<KirimWebhook>() {
            return Box::pin(ready(Ok(stored.clone())));
        }
        let refuse = |rejection: KirimRejection| -> Self::Future {
            rejection.log();
            Box::pin(ready(Err(rejection)))
        };
        let Some(receiver) = req.app_data::<web::Data<Receiver>>().cloned() else {
            return refuse(KirimRejection::MissingReceiver);
        };
        if receiver.has_dedup() {
            return refuse(KirimRejection::DedupWithoutMiddleware);
        }
        let limits = if req.app_data::<PayloadConfig>().is_some()
            || req.app_data::<web::Data<PayloadConfig>>().is_some()
        {
            Limits::AlsoPayloadConfig
        } else {
            Limits::Receiver
        };
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let (delivery, body) = receive(&receiver, &req, payload, limits).await?;
            Ok(KirimWebhook::new(delivery, body))
        })
    }
}
