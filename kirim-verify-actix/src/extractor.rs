//! The extractor: what the middleware verified, or a verification of its own.

use std::future::{Future, ready};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::web::{self, PayloadConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use kirim_verify::{Receiver, Rejection, Webhook};

use crate::intake::{Limits, receive};
use crate::rejection::KirimRejection;

/// A verified Kirim delivery: its exact body, its headers, which secret matched.
///
/// Behind [`KirimMiddleware`](crate::KirimMiddleware) it reads what the middleware verified
/// and admitted (no second read, no second check). Used alone, it reads and verifies the body
/// itself with the `web::Data<Receiver>` from the app data (the smaller of the receiver's
/// limit and a [`PayloadConfig`]'s, when one is set); dedup needs the middleware, so a
/// receiver with dedup is refused there (500, [`Rejection::Misconfigured`]).
///
/// Take `Result<KirimWebhook, KirimRejection>` to answer refusals yourself.
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

/// What [`Rejection::Misconfigured`] says when the extractor finds no receiver.
const MISSING_RECEIVER: &str = "KirimWebhook extracted without KirimMiddleware and without a \
     web::Data<Receiver> in the app data; wrap the webhook route in \
     `.wrap(KirimMiddleware::new(receiver))`";

/// What [`Rejection::Misconfigured`] says when the extractor meets a dedup receiver alone.
const DEDUP_WITHOUT_MIDDLEWARE: &str = "KirimWebhook extracted without KirimMiddleware, but the \
     Receiver has dedup configured: the extractor cannot see the handler's outcome to settle \
     the claim; wrap the webhook route in `.wrap(KirimMiddleware::new(receiver))`";

type Extraction = Pin<Box<dyn Future<Output = Result<KirimWebhook, KirimRejection>>>>;

impl FromRequest for KirimWebhook {
    type Error = KirimRejection;
    type Future = Extraction;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(stored) = req.extensions().get::<KirimWebhook>() {
            return Box::pin(ready(Ok(stored.clone())));
        }
        let refuse = |fix| -> Self::Future {
            Box::pin(ready(Err(KirimRejection::logged(
                Rejection::Misconfigured { fix },
            ))))
        };
        let Some(receiver) = req.app_data::<web::Data<Receiver>>().cloned() else {
            return refuse(MISSING_RECEIVER);
        };
        if receiver.has_dedup() {
            return refuse(DEDUP_WITHOUT_MIDDLEWARE);
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
            Ok(Self(Arc::new(
                receive(&receiver, &req, payload, limits).await?,
            )))
        })
    }
}
