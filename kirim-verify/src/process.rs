//! Step 3 of the receiving flow in one call: claim, run the handler, settle from its outcome.

use std::any::Any;
use std::boxed::Box;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::string::String;
use std::task::{Context, Poll};

use crate::receive::{Admission, Receiver, Webhook};
use crate::rejection::Rejection;

/// The outcome of [`Receiver::process`].
#[derive(Debug)]
#[must_use]
pub enum Processed<R> {
    /// The handler ran; its claims were settled from `R` (completed on success, released
    /// otherwise). Answer with it.
    Handled(R),
    /// A duplicate: the handler did not run. Answer 200 [`bodies::DUPLICATE`](crate::bodies::DUPLICATE).
    Duplicate,
    /// Not handled: the event is in progress elsewhere, the store failed closed, or the handler
    /// panicked (its claims released). Answer with the rejection.
    Refused(Rejection),
}

impl Receiver {
    /// Claims the verified delivery in the dedup store and, unless it is a duplicate (or held by
    /// another worker, or the store fails closed), runs `handler`; then settles the claims:
    /// when `succeeded` says the handler's output is a success (a 2xx answer) they are
    /// completed, otherwise released, so Kirim's retry is processed. A panic in `handler`, or in
    /// the future it returns, releases them too and is reported as
    /// [`Rejection::HandlerPanicked`] (logged with its message). Refusals are logged
    /// ([`Rejection::log`]); failures to settle are logged and never change the answer.
    ///
    /// This is the one place the framework adapters decide what a handler's outcome means for
    /// dedup. A request cancelled while the handler runs leaves its claims to expire after the
    /// lease: nothing is marked done.
    pub async fn process<H, Fut, R>(
        &self,
        webhook: &Webhook,
        handler: H,
        succeeded: impl FnOnce(&R) -> bool,
    ) -> Processed<R>
    where
        H: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let mut ticket = match self.admit(webhook).await {
            Ok(Admission::Process(ticket)) => ticket,
            Ok(Admission::Duplicate) => return Processed::Duplicate,
            Err(rejection) => {
                rejection.log();
                return Processed::Refused(rejection);
            }
        };
        let meta = webhook.delivery();
        tracing::debug!(
            event = meta.event(),
            event_id = meta.event_id(),
            attempt = meta.attempt(),
            secret = webhook.verified().secret_index(),
            guarded = ticket.is_guarded(),
            "kirim webhook verified and admitted"
        );
        // The handler is called inside the guard too: it may panic before its future exists.
        let outcome = match catch_unwind(AssertUnwindSafe(handler)) {
            Ok(future) => CatchUnwind(Box::pin(future)).await,
            Err(panic) => Err(panic),
        };
        match outcome {
            Ok(output) => {
                let success = succeeded(&output);
                ticket.settle(success).await;
                if !success {
                    tracing::debug!(
                        event_id = meta.event_id(),
                        "kirim webhook handler did not succeed; dedup claims released for the retry"
                    );
                }
                Processed::Handled(output)
            }
            Err(panic) => {
                ticket.settle(false).await;
                tracing::error!(
                    event_id = meta.event_id(),
                    panic = panic_message(&*panic),
                    "kirim webhook handler panicked; answered 500, dedup claims released for the retry"
                );
                Processed::Refused(Rejection::HandlerPanicked)
            }
        }
    }
}

/// Polls a future, turning a panic into an `Err` with its payload.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
