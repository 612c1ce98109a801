//! A handler's panic, caught: the claims it held are released and the caller answers 500.

use core::any::Any;
use std::boxed::Box;
use core::future::Future;
use core::panic::AssertUnwindSafe;
use std::panic::catch_unwind;
use core::pin::Pin;
use std::string::String;
use core::task::{Context, Poll};

/// Calls `handler` and awaits its future, turning a panic in either into an `Err` with its
/// payload. The call is inside the guard too: a handler may panic before its future exists.
pub(crate) async fn run_caught<H, Fut>(handler: H) -> Result<Fut::Output, Box<dyn Any + Send>>
where
    H: FnOnce() -> Fut,
    Fut: Future,
{
    match catch_unwind(AssertUnwindSafe(handler)) {
        Ok(future) => CatchUnwind(Box::pin(future)).await,
        Err(panic) => Err(panic),
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

/// The panic's message, when it has one.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
