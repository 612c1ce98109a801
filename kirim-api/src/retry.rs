//! When and how long to wait before trying again.

use std::time::Duration;

/// Retries of 429 (after `Retry-After`), 502, 503, 504, `409 idempotency_in_progress` and
/// connection failures or timeouts: capped exponential backoff with jitter, within an
/// overall deadline.
///
/// ```
/// use std::time::Duration;
/// use kirim_api::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .with_max_attempts(6)
///     .with_initial_backoff(Duration::from_millis(50))
///     .with_deadline(Duration::from_secs(20));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The defaults: 5 attempts, 500 ms initial backoff doubling up to 10 s, 60 s deadline.
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
        }
    }

    /// No retries: one attempt.
    #[must_use]
    pub fn none() -> Self {
        Self::new().with_max_attempts(1)
    }

    /// Attempts in all, the first included. Defaults to 5; 0 counts as 1.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff before the second attempt, doubled for each next one. Defaults to 500 ms.
    #[must_use]
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest backoff. Defaults to 10 s.
    #[must_use]
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The time a call may take, all attempts and waits included: no attempt starts after it,
    /// and a `Retry-After` beyond it ends the call with the 429. Defaults to 60 s.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1): a random duration up to the capped
    /// exponential bound (between half of it and all of it), so that many clients do not retry in
    /// step.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let bound = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let mut bytes = [0u8; 8];
        let fraction = if getrandom::fill(&mut bytes).is_ok() {
            (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
        } else {
            0.5
        };
        // At least half the bound: a retry right away helps nobody.
        bound.mul_f64(0.5 + fraction / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let policy = RetryPolicy::new()
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(350));
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(175) && third <= Duration::from_millis(350));
            assert!(policy.backoff(40) <= Duration::from_millis(350));
        }
    }
}
