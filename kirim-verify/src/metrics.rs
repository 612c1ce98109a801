//! The receiver's counters, through the `metrics` facade: what an operator graphs and alerts
//! on, and what `kirim-webhooks rotate --confirm-metrics` reads to confirm that a new secret
//! verifies deliveries before the old one is deleted. Without the `metrics` feature every
//! function here is empty.
//!
//! | counter | labels | counts |
//! |---|---|---|
//! | `kirim_webhooks_verified_total` | `secret`: the secret's label, or its 0-based position in the list | deliveries whose signature verified |
//! | `kirim_webhooks_rejected_total` | `reason`: [`Rejection::code`] | requests refused, by reason |
//! | `kirim_webhooks_duplicates_total` | | verified deliveries answered `duplicate`, handler not run |
//! | `kirim_webhooks_store_failures_total` | | dedup store calls that failed or timed out |
//! | `kirim_webhooks_handled_total` | `outcome`: `success`, `failure` or `panic` | handler runs |

use crate::rejection::Rejection;
use crate::verifier::Verified;

/// The name of the counter of verified deliveries, by secret.
pub const VERIFIED_TOTAL: &str = "kirim_webhooks_verified_total";
/// The name of the counter of refused requests, by reason.
pub const REJECTED_TOTAL: &str = "kirim_webhooks_rejected_total";
/// The name of the counter of duplicates.
pub const DUPLICATES_TOTAL: &str = "kirim_webhooks_duplicates_total";
/// The name of the counter of dedup store failures.
pub const STORE_FAILURES_TOTAL: &str = "kirim_webhooks_store_failures_total";
/// The name of the counter of handler runs, by outcome.
pub const HANDLED_TOTAL: &str = "kirim_webhooks_handled_total";

/// A delivery verified with this secret.
pub(crate) fn verified(verified: &Verified) {
    #[cfg(feature = "metrics")]
    {
        use alloc::string::ToString;
        let secret = verified
            .secret_label()
            .map_or_else(|| verified.secret_index().to_string(), ToString::to_string);
        metrics::counter!(VERIFIED_TOTAL, "secret" => secret).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = verified;
}

/// A request refused.
pub(crate) fn rejected(rejection: &Rejection) {
    #[cfg(feature = "metrics")]
    metrics::counter!(REJECTED_TOTAL, "reason" => rejection.code()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = rejection;
}

/// A verified delivery answered `duplicate`.
pub(crate) fn duplicate() {
    #[cfg(feature = "metrics")]
    metrics::counter!(DUPLICATES_TOTAL).increment(1);
}

/// A dedup store call failed.
pub(crate) fn store_failure() {
    #[cfg(feature = "metrics")]
    metrics::counter!(STORE_FAILURES_TOTAL).increment(1);
}

/// How a handler run ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handled {
    Success,
    Failure,
    Panic,
}

/// The handler ran and ended so.
pub(crate) fn handled(outcome: Handled) {
    // Literal labels make a static key: no allocation per request.
    #[cfg(feature = "metrics")]
    match outcome {
        Handled::Success => metrics::counter!(HANDLED_TOTAL, "outcome" => "success").increment(1),
        Handled::Failure => metrics::counter!(HANDLED_TOTAL, "outcome" => "failure").increment(1),
        Handled::Panic => metrics::counter!(HANDLED_TOTAL, "outcome" => "panic").increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}
