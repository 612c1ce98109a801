//! What the inbox hands out: stored events, dead rows, counts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// The answer to [`Inbox::accept`](crate::Inbox::accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accepted {
    /// The delivery is stored, committed: answer 200 `ok`. The worker will process it.
    Stored,
    /// The event (or this very signed message) is already in the inbox: answer 200
    /// `duplicate`. Nothing was written.
    Duplicate,
}

/// One stored delivery, as the worker gives it to the handler.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) id: i64,
    pub(crate) event: String,
    pub(crate) event_id: String,
    pub(crate) source: String,
    pub(crate) delivery_id: Option<String>,
    pub(crate) attempt: Option<i64>,
    pub(crate) signed_at: i64,
    pub(crate) received_at_ms: i64,
    pub(crate) body: Bytes,
    pub(crate) tries: i64,
}

impl Event {
    /// The row's id in the inbox table.
    #[must_use]
    pub fn row_id(&self) -> i64 {
        self.id
    }

    /// The event type (`X-Kirim-Event`), e.g. `message.received`.
    #[must_use]
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event id (`X-Kirim-Event-Id`).
    #[must_use]
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The source (`X-Kirim-Source`): `kirim`, `meta`, or what was sent.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The delivery id (`X-Kirim-Delivery-Id`), when it was sent.
    #[must_use]
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// Kirim's attempt number for the delivery that was stored (`X-Kirim-Attempt`).
    #[must_use]
    pub fn delivery_attempt(&self) -> Option<i64> {
        self.attempt
    }

    /// The signed timestamp `t`, in unix seconds.
    #[must_use]
    pub fn signed_at(&self) -> i64 {
        self.signed_at
    }

    /// When the inbox stored the delivery, by the database's clock.
    #[must_use]
    pub fn received_at(&self) -> SystemTime {
        system_time(self.received_at_ms)
    }

    /// The raw body, exactly as received and verified.
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Which run of the handler on this row this is: 1 the first time, more after a failure,
    /// a panic, or a worker that died holding it.
    #[must_use]
    pub fn tries(&self) -> i64 {
        self.tries
    }
}

/// A row the worker gave up on after its last allowed try: its last error is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadRow {
    /// The row's id, for [`Inbox::requeue`](crate::Inbox::requeue).
    pub row_id: i64,
    /// The event type.
    pub event: String,
    /// The event id.
    pub event_id: String,
    /// How many times the handler ran on it.
    pub tries: i64,
    /// The handler's last error (or panic message), as it displayed.
    pub last_error: Option<String>,
    /// When it was stored, by the database's clock.
    pub received_at: SystemTime,
}

/// Rows by state, for metrics: queue depth and how far behind the worker is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Waiting for a worker (new, or waiting out a retry's backoff).
    pub pending: u64,
    /// Held by a worker under a lease.
    pub running: u64,
    /// Processed, remembered for dedup until the retention ends.
    pub done: u64,
    /// Given up on after the last allowed try.
    pub dead: u64,
    /// Age of the oldest row not yet processed (pending or running), by the database's clock.
    pub oldest_pending_age: Option<Duration>,
}

/// What one [`Inbox::purge`](crate::Inbox::purge) removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Done rows past the retention, deleted (their dedup keys forgotten).
    pub rows: u64,
    /// Done rows past the payload retention whose body was dropped (their keys kept).
    pub payloads: u64,
    /// Expired rows of the SQL dedup store, deleted.
    pub store_keys: u64,
}

/// How a failed run was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// Back to pending, after the backoff.
    Retry,
    /// Dead: the last allowed try failed.
    Dead,
    /// The row was no longer held by this lease: nothing changed.
    Stale,
}

pub(crate) fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Adds one `state, count, now - min(received_at)` row of a count query to `counts`.
pub(crate) fn tally(counts: &mut Counts, state: &str, count: u64, age_ms: Option<i64>) {
    match state {
        "pending" => counts.pending = count,
        "running" => counts.running = count,
        "done" => counts.done = count,
        "dead" => counts.dead = count,
        _ => return,
    }
    if matches!(state, "pending" | "running")
        && let Some(age) = age_ms
    {
        let age = Duration::from_millis(u64::try_from(age).unwrap_or(0));
        counts.oldest_pending_age = Some(counts.oldest_pending_age.map_or(age, |a| a.max(age)));
    }
}
