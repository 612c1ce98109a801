//! The SQLite backend: one database file in WAL mode, a few connections used from blocking
//! threads (rusqlite is synchronous). Writes of this process queue on a lock of their own
//! before SQLite's: two writers meeting at SQLite's lock would send the second to its busy
//! handler, which sleeps 1 ms and more before it looks again; SQLite's lock and its
//! `busy_timeout` are left to the writers of other processes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use tokio::sync::Semaphore;

use crate::error::InboxError;
use crate::keys::NewRow;
use crate::row::{Counts, DeadRow, Event, Failed, Purged, system_time};

/// Connections open at once: SQLite has one writer at a time, more only helps readers.
const CONNECTIONS: usize = 4;

/// The database clock, in unix milliseconds. `'now'` is fixed for the length of a statement.
macro_rules! now_ms {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kirim_inbox (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    guard_key TEXT UNIQUE,
    event TEXT NOT NULL,
    event_id TEXT NOT NULL,
    source TEXT NOT NULL,
    delivery_id TEXT,
    attempt INTEGER,
    signed_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body BLOB,
    state TEXT NOT NULL DEFAULT 'pending',
    tries INTEGER NOT NULL DEFAULT 0,
    run_after INTEGER NOT NULL,
    lease_token TEXT,
    finished_at INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS kirim_inbox_ready ON kirim_inbox (run_after)
    WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS kirim_inbox_finished ON kirim_inbox (finished_at)
    WHERE state = 'done';
CREATE TABLE IF NOT EXISTS kirim_dedup (
    key TEXT PRIMARY KEY,
    token TEXT,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kirim_dedup_expires ON kirim_dedup (expires_at);
";

const ACCEPT: &str = concat!(
    "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, source, delivery_id, \
     attempt, signed_at, body, received_at, run_after) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ") ON CONFLICT DO NOTHING"
);

/// [`ACCEPT`] for a delivery whose event id is bound to the signed body: a row already holding
/// its signed message is another genuine event of it, so this one keeps no guard key; only its
/// event key may make it a duplicate. (Under SQLite's one writer the check and the insert are
/// one step.)
const ACCEPT_BOUND: &str = concat!(
    "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, source, delivery_id, \
     attempt, signed_at, body, received_at, run_after) \
     VALUES (?1, CASE WHEN EXISTS (SELECT 1 FROM kirim_inbox WHERE guard_key = ?2) \
     THEN NULL ELSE ?2 END, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ") ON CONFLICT (dedup_key) DO NOTHING"
);

const CLAIM: &str = concat!(
    "UPDATE kirim_inbox SET state = 'running', run_after = ",
    now_ms!(),
    " + ?2, lease_token = ?3, tries = tries + 1 \
     WHERE id IN (SELECT id FROM kirim_inbox WHERE state IN ('pending', 'running') \
     AND run_after <= ",
    now_ms!(),
    " ORDER BY run_after LIMIT ?1) \
     RETURNING id, event, event_id, source, delivery_id, attempt, signed_at, received_at, \
     body, tries"
);

const DONE: &str = concat!(
    "UPDATE kirim_inbox SET state = 'done', finished_at = ",
    now_ms!(),
    ", lease_token = NULL, last_error = NULL \
     WHERE id = ?1 AND lease_token = ?2 AND state = 'running'"
);

const FAIL: &str = concat!(
    "UPDATE kirim_inbox SET \
     state = CASE WHEN tries >= ?4 THEN 'dead' ELSE 'pending' END, \
     finished_at = CASE WHEN tries >= ?4 THEN ",
    now_ms!(),
    " END, run_after = ",
    now_ms!(),
    " + ?3, lease_token = NULL, last_error = ?5 \
     WHERE id = ?1 AND lease_token = ?2 AND state = 'running' RETURNING state"
);

const HAND_BACK: &str = concat!(
    "UPDATE kirim_inbox SET state = 'pending', run_after = ",
    now_ms!(),
    ", lease_token = NULL, tries = max(tries - 1, 0) \
     WHERE id = ?1 AND lease_token = ?2 AND state = 'running'"
);

const COUNTS: &str = concat!(
    "SELECT state, count(*), ",
    now_ms!(),
    " - min(received_at) FROM kirim_inbox GROUP BY state"
);

const REQUEUE: &str = concat!(
    "UPDATE kirim_inbox SET state = 'pending', tries = 0, finished_at = NULL, run_after = ",
    now_ms!(),
    " WHERE state = 'dead' AND (?1 IS NULL OR id = ?1)"
);

const PURGE_ROWS: &str = concat!(
    "DELETE FROM kirim_inbox WHERE id IN (SELECT id FROM kirim_inbox \
     WHERE state = 'done' AND finished_at <= ",
    now_ms!(),
    " - ?1 LIMIT ?2)"
);

const PURGE_PAYLOADS: &str = concat!(
    "UPDATE kirim_inbox SET body = NULL WHERE id IN (SELECT id FROM kirim_inbox \
     WHERE state = 'done' AND finished_at <= ",
    now_ms!(),
    " - ?1 AND body IS NOT NULL LIMIT ?2)"
);

const PURGE_STORE: &str = concat!(
    "DELETE FROM kirim_dedup WHERE key IN (SELECT key FROM kirim_dedup WHERE expires_at <= ",
    now_ms!(),
    " LIMIT ?1)"
);

const STORE_READ: &str = concat!(
    "SELECT token, expires_at - ",
    now_ms!(),
    " FROM kirim_dedup WHERE key = ?1"
);

const STORE_TAKE: &str = concat!(
    "INSERT OR REPLACE INTO kirim_dedup (key, token, expires_at) VALUES (?1, ?2, ",
    now_ms!(),
    " + ?3)"
);

const STORE_COMPLETE: &str = concat!(
    "UPDATE kirim_dedup SET token = NULL, expires_at = ",
    now_ms!(),
    " + ?3 WHERE key = ?1 AND token = ?2 AND expires_at > ",
    now_ms!()
);

const STORE_RELEASE: &str = concat!(
    "DELETE FROM kirim_dedup WHERE key = ?1 AND token = ?2 AND expires_at > ",
    now_ms!()
);

/// How SQLite makes a commit durable (`PRAGMA synchronous`), in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// `FULL`: every commit is synced to disk before it returns. An acknowledged delivery
    /// survives a crash of the process, of the operating system, and a power cut. The default.
    #[default]
    Full,
    /// `NORMAL`: commits are synced at checkpoints only. An acknowledged delivery survives a
    /// crash of the process (`SIGKILL`, a panic, a deploy) but the last commits may be lost on
    /// an operating system crash or a power cut: Kirim will not resend them.
    Normal,
}

impl SqliteSynchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// A SQLite database file and its connections.
pub(crate) struct Sqlite {
    path: PathBuf,
    synchronous: SqliteSynchronous,
    busy: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Held by this process's writer for the length of its write.
    writer: Mutex<()>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.path)
            .field("synchronous", &self.synchronous)
            .finish_non_exhaustive()
    }
}

impl Sqlite {
    /// Opens (creating when absent) the file at `path` and its tables.
    pub(crate) async fn open(
        path: PathBuf,
        synchronous: SqliteSynchronous,
        busy: Duration,
    ) -> Result<Arc<Self>, InboxError> {
        let db = Arc::new(Self {
            path,
            synchronous,
            busy,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(CONNECTIONS)),
            writer: Mutex::new(()),
        });
        db.write(|conn| {
            // Two processes opening the same new file: one creates, the other waits.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            tx.commit()
        })
        .await?;
        Ok(db)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.busy)?;
        // WAL: readers never block the writer, and a commit is one append to the log.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", self.synchronous.pragma())?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Runs `work`, which writes, on an idle connection, on a blocking thread, after this
    /// process's other writers. The connection goes back to the pool when `work` ends, even
    /// when the caller stopped waiting (a timeout).
    async fn write<T, F>(self: &Arc<Self>, work: F) -> Result<T, InboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = Arc::clone(self);
        self.read(move |conn| {
            let _writing = db.writer.lock().unwrap_or_else(PoisonError::into_inner);
            work(conn)
        })
        .await
    }

    /// Runs `work`, which only reads, on an idle connection, on a blocking thread: under WAL
    /// it waits for no writer.
    async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T, InboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(InboxError::backend)?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let idle = db.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = match idle {
                Some(conn) => conn,
                None => db.connect()?,
            };
            let result = work(&mut conn);
            db.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            result
        })
        .await
        .map_err(InboxError::backend)?
        .map_err(InboxError::backend)
    }

    pub(crate) async fn accept(self: &Arc<Self>, row: NewRow) -> Result<bool, InboxError> {
        self.write(move |conn| {
            let statement = if row.bound { ACCEPT_BOUND } else { ACCEPT };
            let changed = conn.prepare_cached(statement)?.execute(params![
                row.dedup_key,
                row.guard_key,
                row.event,
                row.event_id,
                row.source,
                row.delivery_id,
                row.attempt,
                row.signed_at,
                &row.body[..],
            ])?;
            Ok(changed == 1)
        })
        .await
    }

    pub(crate) async fn claim(
        self: &Arc<Self>,
        limit: usize,
        lease_ms: i64,
        token: String,
        done: &[(i64, String)],
    ) -> Result<(Vec<Event>, u64), InboxError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Owned by the blocking thread that runs the transaction.
        let done = done.to_vec();
        self.write(move |conn| {
            // One commit for the done marks and the claim: one sync of the log, not two.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let applied = mark_done(&tx, &done)?;
            let events = {
                let mut statement = tx.prepare_cached(CLAIM)?;
                let rows = statement.query_map(params![limit, lease_ms, token], |row| {
                    Ok(Event {
                        id: row.get(0)?,
                        event: row.get(1)?,
                        event_id: row.get(2)?,
                        source: row.get(3)?,
                        delivery_id: row.get(4)?,
                        attempt: row.get(5)?,
                        signed_at: row.get(6)?,
                        received_at_ms: row.get(7)?,
                        body: row.get::<_, Option<Vec<u8>>>(8)?.unwrap_or_default().into(),
                        tries: row.get(9)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Event>>>()?
            };
            tx.commit()?;
            Ok((events, applied))
        })
        .await
    }

    /// Marks several rows done in one transaction; returns how many were still held.
    pub(crate) async fn done_many(
        self: &Arc<Self>,
        rows: Vec<(i64, String)>,
    ) -> Result<u64, InboxError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let applied = mark_done(&tx, &rows)?;
            tx.commit()?;
            Ok(applied)
        })
        .await
    }

    pub(crate) async fn fail(
        self: &Arc<Self>,
        id: i64,
        token: String,
        backoff_ms: i64,
        max_tries: i64,
        error: String,
    ) -> Result<Failed, InboxError> {
        self.write(move |conn| {
            let state: Option<String> = conn
                .prepare_cached(FAIL)?
                .query_row(params![id, token, backoff_ms, max_tries, error], |row| {
                    row.get(0)
                })
                .optional()?;
            Ok(match state.as_deref() {
                Some("dead") => Failed::Dead,
                Some(_) => Failed::Retry,
                None => Failed::Stale,
            })
        })
        .await
    }

    pub(crate) async fn hand_back(
        self: &Arc<Self>,
        id: i64,
        token: String,
    ) -> Result<bool, InboxError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(HAND_BACK)?
                .execute(params![id, token])?
                == 1)
        })
        .await
    }

    pub(crate) async fn counts(self: &Arc<Self>) -> Result<Counts, InboxError> {
        self.read(|conn| {
            let mut counts = Counts::default();
            let mut statement = conn.prepare_cached(COUNTS)?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                let count = u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0);
                let age: Option<i64> = row.get(2)?;
                crate::row::tally(&mut counts, &state, count, age);
            }
            Ok(counts)
        })
        .await
    }

    pub(crate) async fn dead(self: &Arc<Self>, limit: usize) -> Result<Vec<DeadRow>, InboxError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, event, event_id, tries, last_error, received_at FROM kirim_inbox \
                 WHERE state = 'dead' ORDER BY id LIMIT ?1",
            )?;
            let rows = statement.query_map(params![limit], |row| {
                Ok(DeadRow {
                    row_id: row.get(0)?,
                    event: row.get(1)?,
                    event_id: row.get(2)?,
                    tries: row.get(3)?,
                    last_error: row.get(4)?,
                    received_at: system_time(row.get(5)?),
                })
            })?;
            rows.collect()
        })
        .await
    }

    pub(crate) async fn requeue(self: &Arc<Self>, id: Option<i64>) -> Result<u64, InboxError> {
        self.write(move |conn| {
            let changed = conn.prepare_cached(REQUEUE)?.execute(params![id])?;
            Ok(u64::try_from(changed).unwrap_or(0))
        })
        .await
    }

    pub(crate) async fn purge(
        self: &Arc<Self>,
        retention_ms: i64,
        payload_ms: Option<i64>,
        batch: usize,
    ) -> Result<Purged, InboxError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        self.write(move |conn| {
            // Each batch is its own short transaction: the writer lock is never held long.
            let mut purged = Purged::default();
            let count = |n: usize| u64::try_from(n).unwrap_or(0);
            loop {
                let n = conn
                    .prepare_cached(PURGE_ROWS)?
                    .execute(params![retention_ms, batch])?;
                purged.rows += count(n);
                if i64::try_from(n).unwrap_or(0) < batch {
                    break;
                }
            }
            if let Some(payload_ms) = payload_ms {
                loop {
                    let n = conn
                        .prepare_cached(PURGE_PAYLOADS)?
                        .execute(params![payload_ms, batch])?;
                    purged.payloads += count(n);
                    if i64::try_from(n).unwrap_or(0) < batch {
                        break;
                    }
                }
            }
            loop {
                let n = conn.prepare_cached(PURGE_STORE)?.execute(params![batch])?;
                purged.store_keys += count(n);
                if i64::try_from(n).unwrap_or(0) < batch {
                    break;
                }
            }
            Ok(purged)
        })
        .await
    }

    /// The dedup store's claim: read and write in one `BEGIN IMMEDIATE` transaction, so no
    /// other connection (or process) writes in between.
    pub(crate) async fn store_claim(
        self: &Arc<Self>,
        key: String,
        token: String,
        lease_ms: i64,
    ) -> Result<crate::store::Held, InboxError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<(Option<String>, i64)> = tx
                .prepare_cached(STORE_READ)?
                .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let held = match current {
                Some((None, left)) if left > 0 => crate::store::Held::Done,
                Some((Some(_), left)) if left > 0 => crate::store::Held::Leased(left),
                _ => {
                    tx.prepare_cached(STORE_TAKE)?
                        .execute(params![key, token, lease_ms])?;
                    crate::store::Held::Taken
                }
            };
            tx.commit()?;
            Ok(held)
        })
        .await
    }

    pub(crate) async fn store_complete(
        self: &Arc<Self>,
        key: String,
        token: String,
        retention_ms: i64,
    ) -> Result<bool, InboxError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(STORE_COMPLETE)?
                .execute(params![key, token, retention_ms])?
                == 1)
        })
        .await
    }

    pub(crate) async fn store_release(
        self: &Arc<Self>,
        key: String,
        token: String,
    ) -> Result<bool, InboxError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(STORE_RELEASE)?
                .execute(params![key, token])?
                == 1)
        })
        .await
    }
}

/// Marks each row done that is still held under its token; returns how many were.
fn mark_done(tx: &rusqlite::Transaction<'_>, rows: &[(i64, String)]) -> rusqlite::Result<u64> {
    let mut statement = tx.prepare_cached(DONE)?;
    let mut applied = 0;
    for (id, token) in rows {
        applied += u64::try_from(statement.execute(params![id, token])?).unwrap_or(0);
    }
    Ok(applied)
}
