//! The database behind an inbox: one of the compiled-in backends, chosen by the URL.

use std::sync::Arc;
use std::time::Duration;

use crate::error::InboxError;
use crate::keys::NewRow;
use crate::row::{Counts, DeadRow, Event, Failed, Purged};
use crate::store::Held;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("kirim-inbox needs a backend: enable the `sqlite` or the `postgres` feature");

#[cfg(feature = "postgres")]
use crate::postgres::Postgres;
#[cfg(feature = "sqlite")]
use crate::sqlite::Sqlite;

/// One database, shared by the inbox, its workers and the SQL dedup store.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Arc<Postgres>),
}

/// The same call on whichever backend this is: both take the same owned arguments.
macro_rules! dispatch {
    ($backend:expr, $db:ident => $call:expr) => {
        match $backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($db) => $call,
            #[cfg(feature = "postgres")]
            Backend::Postgres($db) => $call,
        }
    };
}

impl Backend {
    pub(crate) async fn accept(&self, row: NewRow) -> Result<bool, InboxError> {
        dispatch!(self, db => db.accept(row).await)
    }

    /// Marks `done` rows done, then takes up to `limit` rows under `token`, in one
    /// transaction; returns the rows taken and how many of `done` were still held.
    pub(crate) async fn claim(
        &self,
        limit: usize,
        lease_ms: i64,
        token: String,
        done: &[(i64, String)],
    ) -> Result<(Vec<Event>, u64), InboxError> {
        dispatch!(self, db => db.claim(limit, lease_ms, token, done).await)
    }

    pub(crate) async fn done_many(&self, rows: Vec<(i64, String)>) -> Result<u64, InboxError> {
        dispatch!(self, db => db.done_many(rows).await)
    }

    pub(crate) async fn fail(
        &self,
        id: i64,
        token: String,
        backoff_ms: i64,
        max_tries: i64,
        error: String,
    ) -> Result<Failed, InboxError> {
        dispatch!(self, db => db.fail(id, token, backoff_ms, max_tries, error).await)
    }

    pub(crate) async fn hand_back(&self, id: i64, token: String) -> Result<bool, InboxError> {
        dispatch!(self, db => db.hand_back(id, token).await)
    }

    pub(crate) async fn counts(&self) -> Result<Counts, InboxError> {
        dispatch!(self, db => db.counts().await)
    }

    pub(crate) async fn dead(&self, limit: usize) -> Result<Vec<DeadRow>, InboxError> {
        dispatch!(self, db => db.dead(limit).await)
    }

    pub(crate) async fn requeue(&self, id: Option<i64>) -> Result<u64, InboxError> {
        dispatch!(self, db => db.requeue(id).await)
    }

    pub(crate) async fn purge(
        &self,
        retention_ms: i64,
        payload_ms: Option<i64>,
        batch: usize,
    ) -> Result<Purged, InboxError> {
        dispatch!(self, db => db.purge(retention_ms, payload_ms, batch).await)
    }

    pub(crate) async fn store_claim(
        &self,
        key: String,
        token: String,
        lease_ms: i64,
    ) -> Result<Held, InboxError> {
        dispatch!(self, db => db.store_claim(key, token, lease_ms).await)
    }

    pub(crate) async fn store_complete(
        &self,
        key: String,
        token: String,
        retention_ms: i64,
    ) -> Result<bool, InboxError> {
        dispatch!(self, db => db.store_complete(key, token, retention_ms).await)
    }

    pub(crate) async fn store_release(
        &self,
        key: String,
        token: String,
    ) -> Result<bool, InboxError> {
        dispatch!(self, db => db.store_release(key, token).await)
    }

    /// The PostgreSQL database, when this is one (for `LISTEN` and transactional handlers).
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(&self) -> Option<&Arc<Postgres>> {
        match self {
            Self::Postgres(db) => Some(db),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => None,
        }
    }

    /// Spawns the `LISTEN` connection on PostgreSQL; nothing on SQLite, where only deliveries
    /// of this process wake the worker without polling.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) fn spawn_listener(
        &self,
        wake: Arc<tokio::sync::Notify>,
        stop: tokio::sync::watch::Receiver<bool>,
        #[cfg(feature = "postgres")] retry: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        #[cfg(feature = "postgres")]
        if let Some(db) = self.postgres() {
            return Some(tokio::spawn(Arc::clone(db).listen(wake, stop, retry)));
        }
        None
    }
}

/// Runs a database call under `timeout`.
pub(crate) async fn timed<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, InboxError>>,
) -> Result<T, InboxError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(InboxError::Timeout(timeout)))
}
