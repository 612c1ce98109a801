//! The inbox: the request path's one write, and the operator's view of the rows.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kirim_verify::store::{DEFAULT_KEY_PREFIX, DefaultKeyStrategy, KeyStrategy};
use kirim_verify::{DEFAULT_RETENTION, Webhook};
use tokio::sync::Notify;

use crate::backend::{Backend, timed};
use crate::error::InboxError;
use crate::keys::NewRow;
use crate::row::{Accepted, Counts, DeadRow, Purged, millis};
#[cfg(feature = "sqlite")]
use crate::sqlite::SqliteSynchronous;
use crate::store::{DEFAULT_STORE_TIMEOUT, SqlStore};
use crate::worker::Worker;

/// How many rows one purge statement deletes: short transactions, no long lock.
pub const DEFAULT_PURGE_BATCH: usize = 1000;

/// How an inbox connects: made by [`Inbox::builder`], finished by [`open`](Self::open).
#[derive(Debug, Clone)]
#[must_use = "call .open() to connect"]
pub struct InboxBuilder {
    url: String,
    store_timeout: Duration,
    #[cfg(feature = "sqlite")]
    synchronous: SqliteSynchronous,
    #[cfg(feature = "postgres")]
    synchronous_commit: bool,
}

impl InboxBuilder {
    /// The limit on each call on the request path (and the store's calls); also SQLite's
    /// `busy_timeout` and PostgreSQL's connect timeout. Past it the receiver answers 503.
    /// Defaults to 1 s.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// SQLite's `PRAGMA synchronous`. Defaults to [`SqliteSynchronous::Full`]: an
    /// acknowledged delivery survives a power cut.
    #[cfg(feature = "sqlite")]
    pub fn with_sqlite_synchronous(mut self, synchronous: SqliteSynchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// PostgreSQL: lets the sessions use the server's `synchronous_commit` (when it is `off`, a
    /// commit returns before its WAL record is written, and a crash of the server loses the
    /// last ~0.6 s of acknowledged deliveries: Kirim will not send them again). Defaults to
    /// forcing `synchronous_commit = on` on every inbox session.
    #[cfg(feature = "postgres")]
    pub fn dangerous_postgres_asynchronous_commit(mut self) -> Self {
        self.synchronous_commit = false;
        self
    }

    /// Connects (PostgreSQL) or opens the file (SQLite, created when absent) and creates the
    /// tables when they do not exist.
    ///
    /// # Errors
    ///
    /// [`InboxError::UnsupportedUrl`], [`InboxError::BackendDisabled`],
    /// [`InboxError::InvalidUrl`], or [`InboxError::Backend`] when the database cannot be
    /// reached or the tables cannot be created.
    pub async fn open(self) -> Result<Inbox, InboxError> {
        let backend = self.backend().await?;
        Ok(Inbox {
            backend,
            store_timeout: self.store_timeout,
            keys: Arc::new(DefaultKeyStrategy),
            prefix: String::from(DEFAULT_KEY_PREFIX),
            replay_guard: true,
            retention: DEFAULT_RETENTION,
            payload_retention: None,
            wake: Arc::new(Notify::new()),
        })
    }

    async fn backend(&self) -> Result<Backend, InboxError> {
        if let Some(path) = self.url.strip_prefix("sqlite://") {
            #[cfg(feature = "sqlite")]
            {
                let db = crate::sqlite::Sqlite::open(
                    std::path::PathBuf::from(path),
                    self.synchronous,
                    self.store_timeout,
                );
                return Ok(Backend::Sqlite(db.await?));
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = path;
                return Err(InboxError::BackendDisabled("sqlite"));
            }
        }
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                let db = crate::postgres::Postgres::open(
                    &self.url,
                    self.store_timeout,
                    self.synchronous_commit,
                );
                return Ok(Backend::Postgres(db.await?));
            }
            #[cfg(not(feature = "postgres"))]
            return Err(InboxError::BackendDisabled("postgres"));
        }
        Err(InboxError::UnsupportedUrl)
    }
}

/// A durable inbox of verified deliveries, in SQLite or PostgreSQL: the receiver
/// [`accept`](Self::accept)s each delivery (one write, committed before it answers 200), and a
/// [`Worker`] processes the rows afterwards.
///
/// Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct Inbox {
    backend: Backend,
    store_timeout: Duration,
    keys: Arc<dyn KeyStrategy>,
    prefix: String,
    replay_guard: bool,
    retention: Duration,
    payload_retention: Option<Duration>,
    wake: Arc<Notify>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("backend", &self.backend)
            .field("store_timeout", &self.store_timeout)
            .field("prefix", &self.prefix)
            .field("replay_guard", &self.replay_guard)
            .field("retention", &self.retention)
            .field("payload_retention", &self.payload_retention)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// How to connect to `url`: `sqlite://PATH` (a file, relative or, as
    /// `sqlite:///abs/path`, absolute) or `postgres://user@host:port/db`.
    pub fn builder(url: impl Into<String>) -> InboxBuilder {
        InboxBuilder {
            url: url.into(),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            #[cfg(feature = "sqlite")]
            synchronous: SqliteSynchronous::Full,
            #[cfg(feature = "postgres")]
            synchronous_commit: true,
        }
    }

    /// [`builder`](Self::builder)`(url).open()`, with the defaults.
    ///
    /// # Errors
    ///
    /// As [`InboxBuilder::open`].
    pub async fn open(url: impl Into<String>) -> Result<Self, InboxError> {
        Self::builder(url).open().await
    }

    /// How deliveries map to events. Defaults to [`DefaultKeyStrategy`], as the receiving
    /// flow's dedup.
    #[must_use]
    pub fn with_key_strategy(mut self, keys: impl KeyStrategy) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    /// Prefix of every key. Defaults to `kirim:`, as the receiving flow's dedup.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a processed row (and so its dedup key) is kept. Defaults to 7 days, beyond
    /// Kirim's ~31 h of retries.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Drops the body of processed rows after this, keeping their keys until the retention.
    /// Defaults to keeping it as long as the row.
    #[must_use]
    pub fn with_payload_retention(mut self, retention: Duration) -> Self {
        self.payload_retention = Some(retention);
        self
    }

    /// Turns off the replay guard's unique key on the signed message's digest. Without it, a
    /// captured delivery re-sent within the tolerance under a fresh event id is stored and
    /// processed again. Defaults to on.
    #[must_use]
    pub fn dangerous_disable_replay_guard(mut self) -> Self {
        self.replay_guard = false;
        self
    }

    /// Stores a verified delivery: one `INSERT … ON CONFLICT DO NOTHING` under two unique keys,
    /// the event key (as the dedup stores make it) and the replay guard's key (the signed
    /// message's digest), within the store timeout. Answer 200 `ok` on
    /// [`Accepted::Stored`] (the row is committed), 200 `duplicate` on
    /// [`Accepted::Duplicate`], and 503 on an error: nothing was acknowledged, Kirim retries.
    ///
    /// # Errors
    ///
    /// [`InboxError::Timeout`] when the database does not answer in time (the write may still
    /// commit: the retry is then a duplicate), [`InboxError::Backend`] when it fails.
    pub async fn accept(&self, webhook: &Webhook) -> Result<Accepted, InboxError> {
        let row = NewRow::new(webhook, &*self.keys, &self.prefix, self.replay_guard);
        if timed(self.store_timeout, self.backend.accept(row)).await? {
            // A worker of this process wakes at once; others by NOTIFY or their poll.
            self.wake.notify_one();
            Ok(Accepted::Stored)
        } else {
            let delivery = webhook.delivery();
            tracing::debug!(
                event = delivery.event(),
                event_id = delivery.event_id(),
                "kirim webhook is already in the inbox; not stored again"
            );
            Ok(Accepted::Duplicate)
        }
    }

    /// A worker for this inbox, with the defaults; start it with [`Worker::start`].
    pub fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }

    /// The SQL dedup store on this database, sharing its connections.
    #[must_use]
    pub fn dedup_store(&self) -> SqlStore {
        SqlStore::new(self.backend.clone(), self.store_timeout)
    }

    /// Rows by state, and the age of the oldest one not processed yet.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn counts(&self) -> Result<Counts, InboxError> {
        self.backend.counts().await
    }

    /// Up to `limit` dead rows, oldest first, with their last error.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn dead(&self, limit: usize) -> Result<Vec<DeadRow>, InboxError> {
        self.backend.dead(limit).await
    }

    /// Puts a dead row back to pending with a fresh count of tries; `false` when `row_id` is
    /// not a dead row.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn requeue(&self, row_id: i64) -> Result<bool, InboxError> {
        let requeued = self.backend.requeue(Some(row_id)).await? == 1;
        if requeued {
            self.wake.notify_one();
        }
        Ok(requeued)
    }

    /// Puts every dead row back to pending; returns how many.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn requeue_all_dead(&self) -> Result<u64, InboxError> {
        let requeued = self.backend.requeue(None).await?;
        if requeued > 0 {
            self.wake.notify_one();
        }
        Ok(requeued)
    }

    /// Deletes processed rows past the retention (their dedup keys are then forgotten), drops
    /// the bodies past the payload retention, and deletes expired keys of the SQL dedup
    /// store, [`DEFAULT_PURGE_BATCH`] rows per statement. The worker runs it periodically.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn purge(&self) -> Result<Purged, InboxError> {
        self.backend
            .purge(
                millis(self.retention),
                self.payload_retention.map(millis),
                DEFAULT_PURGE_BATCH,
            )
            .await
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }
}
