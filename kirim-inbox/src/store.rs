//! The dedup store on SQL: the core's two-phase claim protocol in a `kirim_dedup` table, on the
//! database's clock.

use std::time::Duration;

use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};

use crate::backend::{Backend, timed};
use crate::error::InboxError;
use crate::row::millis;

/// Default limit on one store call: well inside Kirim's 10 s for the whole request.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a claim found, as the backends report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// The key was free or expired: now held by the new token.
    Taken,
    /// Done, still retained.
    Done,
    /// In progress, with this many milliseconds of lease left.
    Leased(i64),
}

/// A [`DedupStore`] on the inbox's database (SQLite or PostgreSQL), for a receiver that keeps
/// the two-phase flow (handler in the request) but has no Redis: a `kirim_dedup` table with
/// the key as primary key, the holder's token, and an expiry on the database's clock.
///
/// Made by [`Inbox::dedup_store`](crate::Inbox::dedup_store); shares the inbox's connections.
/// Expired rows are deleted in batches by [`purge_expired`](Self::purge_expired) (which
/// [`Inbox::purge`](crate::Inbox::purge) and the worker also run).
#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
    timeout: Duration,
}

fn store_error(error: InboxError) -> StoreError {
    match error {
        InboxError::Timeout(after) => StoreError::Timeout(after),
        other => StoreError::backend(other),
    }
}

impl SqlStore {
    pub(crate) fn new(backend: Backend, timeout: Duration) -> Self {
        Self { backend, timeout }
    }

    /// The limit on each store call. Defaults to the inbox's store timeout (1 s by default).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deletes expired keys, `batch` at a time, until none is left; returns how many.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn purge_expired(&self, batch: usize) -> Result<u64, InboxError> {
        // Retention of inbox rows is irrelevant here: nothing is done longer than forever.
        let purged = self.backend.purge(i64::MAX, None, batch.max(1)).await?;
        Ok(purged.store_keys)
    }
}

impl DedupStore for SqlStore {
    async fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let held = timed(
            self.timeout,
            self.backend.store_claim(
                key.as_str().to_owned(),
                token.as_str().to_owned(),
                millis(lease),
            ),
        )
        .await
        .map_err(store_error)?;
        Ok(match held {
            Held::Taken => Claim::Acquired,
            Held::Done => Claim::Done,
            Held::Leased(left) => Claim::InProgress {
                retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            },
        })
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> Result<Settled, StoreError> {
        let applied = timed(
            self.timeout,
            self.backend.store_complete(
                key.as_str().to_owned(),
                token.as_str().to_owned(),
                millis(retention),
            ),
        )
        .await
        .map_err(store_error)?;
        Ok(settled(applied))
    }

    async fn release(&self, key: &DedupKey, token: &ClaimToken) -> Result<Settled, StoreError> {
        let applied = timed(
            self.timeout,
            self.backend
                .store_release(key.as_str().to_owned(), token.as_str().to_owned()),
        )
        .await
        .map_err(store_error)?;
        Ok(settled(applied))
    }
}

/// What a compare-and-set on the token did: changed the row, or found another token (or none).
fn settled(applied: bool) -> Settled {
    if applied {
        Settled::Applied
    } else {
        Settled::Stale
    }
}
