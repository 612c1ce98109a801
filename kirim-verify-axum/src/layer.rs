//! The layer: the whole receiving flow around the webhook route, dedup claims settled from the
//! handler's response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::extract::Request;
use axum_core::response::{IntoResponse, Response};
use kirim_verify::Receiver;
use kirim_verify::flow::Outcome;
use tower::{Layer, Service};

use crate::KirimWebhook;
use crate::intake;
use crate::rejection::{self, KirimRejection};

/// Runs [`Receiver`]'s flow around the webhook route: body limit, signature and timestamp,
/// dedup; then the handler, whose answer settles the event's dedup claim (a 2xx completes it;
/// another status, an error or a panic releases it, so Kirim's retry is processed). The steps
/// and the status of each outcome are described once, in [`Receiver`]'s documentation.
///
/// The verified delivery reaches the handler as the [`KirimWebhook`](crate::KirimWebhook)
/// extractor, and the body is put back, so `Bytes` or `Json` still work next to it.
///
/// Apply it to the webhook route only, with `route_layer` so that other methods still get 405:
/// `post(handler).route_layer(KirimLayer::new(receiver))`. Every request through it must be a
/// signed delivery. The body limit is the receiver's, or axum's `DefaultBodyLimit` when that is
/// smaller and applied outside this layer (as it is when set on the router).
///
/// A request cancelled mid-handler (the connection dropped) leaves its claim to expire after
/// the lease: nothing is marked done.
#[derive(Clone)]
pub struct KirimLayer {
    receiver: Arc<Receiver>,
}

impl KirimLayer {
    /// A layer running `receiver`'s flow (a `Receiver`, or an `Arc` of one to share it).
    #[must_use]
    pub fn new(receiver: impl Into<Arc<Receiver>>) -> Self {
        Self {
            receiver: receiver.into(),
        }
    }
}

impl fmt::Debug for KirimLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KirimLayer")
            .field("receiver", &self.receiver)
            .finish()
    }
}

impl<S> Layer<S> for KirimLayer {
    type Service = KirimService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KirimService {
            inner,
            receiver: Arc::clone(&self.receiver),
        }
    }
}

/// The service [`KirimLayer`] wraps a route in.
#[derive(Clone)]
pub struct KirimService<S> {
    inner: S,
    receiver: Arc<Receiver>,
}

impl<S> fmt::Debug for KirimService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KirimService")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

impl<S> Service<Request> for KirimService<S>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse + Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready is the one called; the fresh clone stays behind.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let receiver = Arc::clone(&self.receiver);
        Box::pin(run(receiver, inner, request))
    }
}

async fn run<S>(
    receiver: Arc<Receiver>,
    mut inner: S,
    request: Request,
) -> Result<Response, S::Error>
where
    S: Service<Request>,
    S::Response: IntoResponse,
{
    let (parts, webhook) = match intake::verify(&receiver, request).await {
        Ok((parts, webhook)) => (parts, Arc::new(webhook)),
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let mut request = Request::from_parts(parts, Body::from(webhook.body().clone()));
    request
        .extensions_mut()
        .insert(KirimWebhook::from(Arc::clone(&webhook)));
    let handler = || async move { inner.call(request).await.map(IntoResponse::into_response) };
    let is_success = |outcome: &Result<Response, S::Error>| {
        outcome
            .as_ref()
            .is_ok_and(|response| response.status().is_success())
    };
    match receiver.process(&webhook, handler, is_success).await {
        Outcome::Handled(outcome) => outcome,
        Outcome::Duplicate => Ok(rejection::duplicate()),
        Outcome::Refused(rejection) => Ok(KirimRejection::from(rejection).into_response()),
    }
}
