//! What the flow did with a verified delivery.

use crate::rejection::Rejection;

/// What [`Receiver::process`](crate::Receiver::process) did with a verified delivery: the one
/// decision an adapter turns into an answer. A [`Rejection`] is only ever the reason inside
/// [`Outcome::Refused`] (or an earlier refusal, before the delivery verified).
#[derive(Debug)]
#[must_use]
pub enum Outcome<R> {
    /// The handler ran; its claims were settled from `R` (completed on success, released
    /// otherwise). Answer with it.
    Handled(R),
    /// A duplicate: the handler did not run. Answer 200
    /// [`bodies::DUPLICATE`](crate::flow::bodies::DUPLICATE).
    Duplicate,
    /// Not handled: the event is in progress elsewhere, the store failed closed, or the handler
    /// panicked (its claims released). Answer with the rejection.
    Refused(Rejection),
}
