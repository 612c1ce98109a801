//! The middleware: verify and admit before the handler, settle the dedup claim after it.

use std::cell::Cell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use kirim_verify::flow::{Outcome, bodies};
use kirim_verify::{Receiver, Rejection};

use crate::intake::receive;
use crate::rejection::{KirimRejection, plain_ok};
use crate::webhook::KirimWebhook;

/// Verifies and deduplicates Kirim deliveries in front of a handler.
///
/// Wrap the webhook route with it, so that other methods still get 405:
/// `web::resource(path).route(web::post().to(handler).wrap(KirimMiddleware::new(receiver)))`.
/// It also wraps a resource, a scope or the app; every request through it must then be a
/// signed delivery.
///
/// It runs [`Receiver`]'s flow (the steps and the status of each outcome are described once,
/// in its documentation): limits, signature and timestamp, dedup; then the handler, with the
/// exact bytes put back as the payload (so `web::Bytes` and `web::Json<T>` still work) and the
/// delivery stored for [`KirimWebhook`]; then the claim settled from the answer. A panic is
/// answered 500, returned as an `Err`
/// ([`Rejection::HandlerPanicked`](kirim_verify::Rejection::HandlerPanicked)) that actix turns
/// into the response: the request went down with the handler.
///
/// Refusals are answered through [`KirimRejection`].
#[derive(Debug, Clone)]
pub struct KirimMiddleware {
    receiver: Arc<Receiver>,
}

impl KirimMiddleware {
    /// Middleware receiving with `receiver` (a [`Receiver`] or an `Arc<Receiver>`).
    #[must_use]
    pub fn new(receiver: impl Into<Arc<Receiver>>) -> Self {
        Self {
            receiver: receiver.into(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for KirimMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = KirimMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(KirimMiddlewareService {
            service: Rc::new(service),
            receiver: Arc::clone(&self.receiver),
        }))
    }
}

/// The service [`KirimMiddleware`] wraps around the inner one.
#[derive(Debug)]
pub struct KirimMiddlewareService<S> {
    service: Rc<S>,
    receiver: Arc<Receiver>,
}

type Answer<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>>>>;

impl<S, B> Service<ServiceRequest> for KirimMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Answer<B>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let receiver = Arc::clone(&self.receiver);
        Box::pin(async move {
            let payload = req.take_payload();
            let webhook = match receive(&receiver, req.request(), payload).await {
                Ok(webhook) => Arc::new(webhook),
                Err(rejection) => return Ok(req.error_response(rejection).map_into_right_body()),
            };
            req.set_payload(Payload::from(webhook.body().clone()));
            req.extensions_mut()
                .insert(KirimWebhook::from(Arc::clone(&webhook)));
            // The request goes into the handler only if it runs; otherwise it stays here to
            // carry the answer. (No second handle on it: actix's routing needs it unshared.)
            let slot = Cell::new(Some(req));
            let handler = || {
                let req = slot.take();
                async move {
                    match req {
                        Some(req) => service.call(req).await,
                        None => Err(KirimRejection::from(Rejection::HandlerPanicked).into()),
                    }
                }
            };
            let is_success = |outcome: &Result<ServiceResponse<B>, Error>| {
                outcome
                    .as_ref()
                    .is_ok_and(|response| response.status().is_success())
            };
            let processed = receiver.process(&webhook, handler, is_success).await;
            match (processed, slot.take()) {
                (Outcome::Handled(outcome), _) => outcome.map(ServiceResponse::map_into_left_body),
                (Outcome::Duplicate, Some(req)) => Ok(req
                    .into_response(plain_ok(bodies::DUPLICATE))
                    .map_into_right_body()),
                (Outcome::Refused(rejection), Some(req)) => {
                    let rejection = KirimRejection::from(rejection);
                    Ok(req.error_response(rejection).map_into_right_body())
                }
                // The handler ran and panicked: the request went down with it, so the 500 is an
                // error for actix to turn into the response.
                (Outcome::Duplicate | Outcome::Refused(_), None) => {
                    Err(KirimRejection::from(Rejection::HandlerPanicked).into())
                }
            }
        })
    }
}
