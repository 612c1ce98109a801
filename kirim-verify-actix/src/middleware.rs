//! The middleware: verify and admit before the handler, settle the dedup claim after it.

use std::any::Any;
use std::future::{Future, Ready, ready};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use futures_util::FutureExt;
use kirim_verify::{Admission, Receiver, bodies};

use crate::extractor::KirimWebhook;
use crate::intake::{Limits, receive};
use crate::rejection::{KirimRejection, plain_ok};

/// Verifies and deduplicates Kirim deliveries in front of a handler.
///
/// Wrap the webhook route with it, so that other methods still get 405:
/// `web::resource(path).route(web::post().to(handler).wrap(KirimMiddleware::new(receiver)))`.
/// It also wraps a resource, a scope or the app; every request through it must then be a
/// signed delivery.
///
/// For each request, in order:
///
/// 1. a declared `Content-Length` over the receiver's limit: 413, nothing read;
/// 2. the signature header and its timestamp: 400 or 401, nothing read;
/// 3. the body, frame by frame, counted (413 for chunked bodies too) and hashed; then the
///    signature compared: 401 on a mismatch, 400 for missing event headers;
/// 4. the dedup claim ([`Receiver::admit`]): a duplicate is answered 200 `duplicate` without
///    calling the handler; an event in progress elsewhere, or a failing store, 503 with
///    `Retry-After`;
/// 5. the handler, with the exact bytes put back as the payload (so `web::Bytes` and
///    `web::Json<T>` still work) and the delivery stored for [`KirimWebhook`];
/// 6. the claim settled from the answer: a 2xx marks the event done; any other status, an
///    error or a panic releases it so Kirim's retry is processed. A panic is answered 500,
///    returned as an `Err` ([`KirimRejection::HandlerPanicked`]) that actix turns into the
///    response: the request went down with the handler.
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

    /// The receiver in use.
    #[must_use]
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
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
            let (delivery, body) =
                match receive(&receiver, req.request(), payload, Limits::Receiver).await {
                    Ok(received) => received,
                    Err(rejection) => {
                        return Ok(req.error_response(rejection).map_into_right_body());
                    }
                };
            let mut ticket = match receiver.admit(&delivery, &body).await {
                Ok(Admission::Process(ticket)) => ticket,
                Ok(Admission::Duplicate) => {
                    tracing::debug!(
                        event = delivery.delivery().event(),
                        event_id = delivery.delivery().event_id(),
                        attempt = delivery.delivery().attempt(),
                        "kirim webhook is a duplicate; handler not run"
                    );
                    let answer = plain_ok(bodies::DUPLICATE);
                    return Ok(req.into_response(answer).map_into_right_body());
                }
                Err(refused) => {
                    let rejection = KirimRejection::from(refused);
                    rejection.log();
                    return Ok(req.error_response(rejection).map_into_right_body());
                }
            };
            tracing::debug!(
                event = delivery.delivery().event(),
                event_id = delivery.delivery().event_id(),
                attempt = delivery.delivery().attempt(),
                secret = delivery.verified().secret_index(),
                guarded = ticket.is_guarded(),
                "kirim webhook verified and admitted"
            );
            req.set_payload(Payload::from(body.clone()));
            req.extensions_mut()
                .insert(KirimWebhook::new(delivery, body));
            // The call itself inside the guarded future: a service may panic before its
            // future exists.
            let outcome = AssertUnwindSafe(async move { service.call(req).await })
                .catch_unwind()
                .await;
            match outcome {
                Ok(Ok(response)) => {
                    let succeeded = response.status().is_success();
                    ticket.settle(succeeded).await;
                    if !succeeded {
                        tracing::debug!(
                            status = response.status().as_u16(),
                            "kirim webhook handler did not succeed; dedup claim released for the \
                             retry"
                        );
                    }
                    Ok(response.map_into_left_body())
                }
                Ok(Err(error)) => {
                    ticket.settle(false).await;
                    tracing::debug!(
                        error = %error,
                        "kirim webhook handler failed; dedup claim released for the retry"
                    );
                    Err(error)
                }
                Err(panic) => {
                    ticket.settle(false).await;
                    tracing::error!(
                        panic = panic_message(&*panic),
                        "kirim webhook handler panicked; answered 500, dedup claim released for \
                         the retry"
                    );
                    // The request went down with the handler, so the answer is an error for
                    // actix to turn into the 500 (outer middleware sees it as an `Err`).
                    Err(KirimRejection::HandlerPanicked.into())
                }
            }
        })
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
