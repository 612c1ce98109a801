//! Faults a test injects: which requests they hit, and what the server does instead.

use std::time::Duration;

/// What the server does to a matching request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// `429 rate_limit_error` with `Retry-After: <secs>`, before anything is applied.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
    },
    /// `503 api_error`, before anything is applied.
    Unavailable,
    /// `502` with an HTML body and no envelope, as a proxy answers.
    BadGatewayWithoutEnvelope,
    /// `401 authentication_error`, whatever the key.
    Unauthorized,
    /// `404 not_found`.
    NotFound,
    /// Applies the change and stores the idempotent answer, then waits this long before
    /// answering (past the client's timeout).
    StallAfterApply(Duration),
    /// Holds the request in flight (idempotency key taken, nothing applied) this long before
    /// applying it.
    HoldInFlight(Duration),
}

/// A fault for the next `times` requests whose method and path match.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub(crate) method: Option<String>,
    pub(crate) path_contains: String,
    pub(crate) fault: Fault,
    pub(crate) remaining: u32,
}

impl FaultRule {
    /// `fault` for the next request of `method` (`"POST"`, …; `"*"` for any) whose path
    /// contains `path_contains` (`"/secrets"`, `"bulk_replay"`, `""` for any).
    #[must_use]
    pub fn new(method: &str, path_contains: &str, fault: Fault) -> Self {
        Self {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path_contains: path_contains.to_owned(),
            fault,
            remaining: 1,
        }
    }

    /// For this many requests instead of one.
    #[must_use]
    pub fn times(mut self, times: u32) -> Self {
        self.remaining = times;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && path.contains(&self.path_contains)
    }
}
