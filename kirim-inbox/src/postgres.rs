//! The PostgreSQL backend: a pool of connections shared by every receiver and worker of the
//! process, `FOR UPDATE SKIP LOCKED` to share rows between workers on many machines, and
//! `LISTEN`/`NOTIFY` to wake them as soon as a delivery is stored.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::StreamExt as _;
use tokio::sync::{Notify, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::InboxError;
use crate::keys::NewRow;
use crate::row::{Counts, DeadRow, Event, Failed, Purged, system_time};

/// Connections in the pool.
const POOL_SIZE: usize = 16;

/// The channel `NOTIFY` is sent on when a delivery is stored.
const CHANNEL: &str = "kirim_inbox";

/// The database clock, in unix milliseconds (the statement's start, in autocommit).
macro_rules! now_ms {
    () => {
        "(extract(epoch from now()) * 1000)::bigint"
    };
}

/// Marks done the rows of the ids and tokens arrays (parameters `$ids` and `$tokens`) that
/// are still held.
macro_rules! done_many {
    ($ids:literal, $tokens:literal) => {
        concat!(
            "UPDATE kirim_inbox SET state = 'done', finished_at = ",
            now_ms!(),
            ", lease_token = NULL, last_error = NULL FROM unnest(",
            $ids,
            "::bigint[], ",
            $tokens,
            "::text[]) AS d(id, token) \
             WHERE kirim_inbox.id = d.id AND kirim_inbox.lease_token = d.token \
             AND kirim_inbox.state = 'running'"
        )
    };
}

const SCHEMA: &str = "
SELECT pg_advisory_xact_lock(7283101044);
CREATE TABLE IF NOT EXISTS kirim_inbox (
    id BIGSERIAL PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    guard_key TEXT UNIQUE,
    event TEXT NOT NULL,
    event_id TEXT NOT NULL,
    source TEXT NOT NULL,
    delivery_id TEXT,
    attempt BIGINT,
    signed_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body BYTEA,
    state TEXT NOT NULL DEFAULT 'pending',
    tries BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    lease_token TEXT,
    finished_at BIGINT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS kirim_inbox_ready ON kirim_inbox (run_after)
    WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS kirim_inbox_finished ON kirim_inbox (finished_at)
    WHERE state = 'done';
CREATE TABLE IF NOT EXISTS kirim_dedup (
    key TEXT PRIMARY KEY,
    token TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS kirim_dedup_expires ON kirim_dedup (expires_at);
";

// The insert alone: a `NOTIFY` in the same transaction would serialise every commit on the
// server's notification queue lock (measured: 0.64x a bare insert). Workers of other processes
// are told by the notifier, after the commit.
const ACCEPT: &str = concat!(
    "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, source, \
     delivery_id, attempt, signed_at, body, received_at, run_after) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ") ON CONFLICT DO NOTHING"
);

/// [`ACCEPT`] for a delivery whose event id is bound to the signed body: a row already holding
/// its signed message is another genuine event of it, so this one keeps no guard key; only its
/// event key may make it a duplicate. Two such rows racing on the guard key fail the second
/// with a unique violation: answered 503, and Kirim's retry is stored.
const ACCEPT_BOUND: &str = concat!(
    "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, source, \
     delivery_id, attempt, signed_at, body, received_at, run_after) \
     VALUES ($1, CASE WHEN EXISTS (SELECT 1 FROM kirim_inbox WHERE guard_key = $2::text) \
     THEN NULL ELSE $2::text END, $3, $4, $5, $6, $7, $8, $9, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ") ON CONFLICT (dedup_key) DO NOTHING"
);

const NOTIFY: &str = "SELECT pg_notify('kirim_inbox', '')";

/// The done marks of the rows the worker finished ([`done_many!`] of `$3` and `$4`), then the
/// claim of up to a given number of rows, in one statement: one round trip and one commit where two
/// would do. The claim leaves those rows out: a row whose lease ran out while its handler
/// succeeded is either marked done here or, if another worker re-took it, not touched by either
/// part. `(SELECT 1) LEFT JOIN` keeps one row, with the count, when nothing is claimed.
///
/// The claim's `LIMIT` is written into the statement, between [`CLAIM_HEAD`] and
/// [`CLAIM_TAIL`], not passed as a parameter: for a parameter limit the planner assumes a tenth
/// of the ready rows, so the cached generic plan never looked cheaper than a fresh one and every
/// claim was planned again (measured: 0.19 ms of a 0.69 ms claim of 8 rows). One prepared
/// statement per claim size, at most the worker's batch size of them per connection.
const CLAIM_HEAD: &str = concat!(
    "WITH done AS (",
    done_many!("$3", "$4"),
    " RETURNING 1), \
     claimed AS (UPDATE kirim_inbox SET state = 'running', run_after = ",
    now_ms!(),
    " + $1, lease_token = $2, tries = tries + 1 \
     WHERE id IN (SELECT id FROM kirim_inbox WHERE state IN ('pending', 'running') \
     AND run_after <= ",
    now_ms!(),
    " AND id <> ALL($3::bigint[]) ORDER BY run_after LIMIT "
);

/// The rest of the claim statement, after its `LIMIT`.
const CLAIM_TAIL: &str = " FOR UPDATE SKIP LOCKED) \
     RETURNING id, event, event_id, source, delivery_id, attempt, signed_at, received_at, \
     body, tries) \
     SELECT (SELECT count(*) FROM done), claimed.* FROM (SELECT 1) AS one \
     LEFT JOIN claimed ON true";

/// The claim statement for up to `limit` rows (see [`CLAIM_HEAD`]).
fn claim_sql(limit: usize) -> String {
    format!("{CLAIM_HEAD}{limit}{CLAIM_TAIL}")
}

const DONE: &str = concat!(
    "UPDATE kirim_inbox SET state = 'done', finished_at = ",
    now_ms!(),
    ", lease_token = NULL, last_error = NULL \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'"
);

const DONE_MANY: &str = done_many!("$1", "$2");

const FAIL: &str = concat!(
    "UPDATE kirim_inbox SET \
     state = CASE WHEN tries >= $4 THEN 'dead' ELSE 'pending' END, \
     finished_at = CASE WHEN tries >= $4 THEN ",
    now_ms!(),
    " END, run_after = ",
    now_ms!(),
    " + $3, lease_token = NULL, last_error = $5 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state"
);

const HAND_BACK: &str = concat!(
    "UPDATE kirim_inbox SET state = 'pending', run_after = ",
    now_ms!(),
    ", lease_token = NULL, tries = greatest(tries - 1, 0) \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'"
);

const COUNTS: &str = concat!(
    "SELECT state, count(*), ",
    now_ms!(),
    " - min(received_at) FROM kirim_inbox GROUP BY state"
);

const DEAD: &str = "SELECT id, event, event_id, tries, last_error, received_at FROM kirim_inbox \
     WHERE state = 'dead' ORDER BY id LIMIT $1";

const REQUEUE: &str = concat!(
    "UPDATE kirim_inbox SET state = 'pending', tries = 0, finished_at = NULL, run_after = ",
    now_ms!(),
    " WHERE state = 'dead' AND ($1::bigint IS NULL OR id = $1::bigint)"
);

const PURGE_ROWS: &str = concat!(
    "DELETE FROM kirim_inbox WHERE id IN (SELECT id FROM kirim_inbox \
     WHERE state = 'done' AND finished_at <= ",
    now_ms!(),
    " - $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

const PURGE_PAYLOADS: &str = concat!(
    "UPDATE kirim_inbox SET body = NULL WHERE id IN (SELECT id FROM kirim_inbox \
     WHERE state = 'done' AND finished_at <= ",
    now_ms!(),
    " - $1 AND body IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

const PURGE_STORE: &str = concat!(
    "DELETE FROM kirim_dedup WHERE key IN (SELECT key FROM kirim_dedup WHERE expires_at <= ",
    now_ms!(),
    " LIMIT $1 FOR UPDATE SKIP LOCKED)"
);

// Take the key when it is absent or expired; the conflict's WHERE is evaluated on the latest
// committed row, so of concurrent claims exactly one takes it.
const STORE_TAKE: &str = concat!(
    "INSERT INTO kirim_dedup (key, token, expires_at) VALUES ($1, $2, ",
    now_ms!(),
    " + $3) ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, \
     expires_at = EXCLUDED.expires_at WHERE kirim_dedup.expires_at <= ",
    now_ms!(),
    " RETURNING 1"
);

const STORE_READ: &str = concat!(
    "SELECT token IS NULL, expires_at - ",
    now_ms!(),
    " FROM kirim_dedup WHERE key = $1"
);

const STORE_COMPLETE: &str = concat!(
    "UPDATE kirim_dedup SET token = NULL, expires_at = ",
    now_ms!(),
    " + $3 WHERE key = $1 AND token = $2 AND expires_at > ",
    now_ms!()
);

const STORE_RELEASE: &str = concat!(
    "DELETE FROM kirim_dedup WHERE key = $1 AND token = $2 AND expires_at > ",
    now_ms!()
);

/// A PostgreSQL database: its connection pool, and how to open a listening connection.
pub(crate) struct Postgres {
    config: tokio_postgres::Config,
    pool: Pool,
    /// Wakes the notifier: something was stored since its last `NOTIFY`.
    stored: Arc<Notify>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.stored.notify_one();
    }
}

impl std::fmt::Debug for Postgres {
    // The configuration holds the password: show only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

fn backend(error: tokio_postgres::Error) -> InboxError {
    InboxError::backend(error)
}

impl Postgres {
    /// Connects a pool to `url` and creates the tables when absent.
    pub(crate) async fn open(
        url: &str,
        connect_timeout: Duration,
        synchronous_commit: bool,
    ) -> Result<Arc<Self>, InboxError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| InboxError::InvalidUrl(Box::new(e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout);
        }
        if synchronous_commit {
            // A server (or role) configured with `synchronous_commit = off` would acknowledge
            // commits it can still lose: these sessions commit synchronously whatever it says.
            let options = match config.get_options() {
                Some(given) => format!("{given} -c synchronous_commit=on"),
                None => String::from("-c synchronous_commit=on"),
            };
            config.options(&options);
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A closed connection is dropped on checkout; no extra round trip per request.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(InboxError::backend)?;
        let db = Arc::new(Self {
            config,
            pool,
            stored: Arc::new(Notify::new()),
            closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        });
        tokio::spawn(notifier(
            Arc::downgrade(&db),
            Arc::clone(&db.stored),
            Arc::clone(&db.closed),
        ));
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute(SCHEMA).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(db)
    }

    pub(crate) async fn client(&self) -> Result<Object, InboxError> {
        self.pool.get().await.map_err(InboxError::backend)
    }

    pub(crate) async fn accept(&self, row: NewRow) -> Result<bool, InboxError> {
        let client = self.client().await?;
        let sql = if row.bound { ACCEPT_BOUND } else { ACCEPT };
        let statement = client.prepare_cached(sql).await.map_err(backend)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &row.dedup_key,
            &row.guard_key,
            &row.event,
            &row.event_id,
            &row.source,
            &row.delivery_id,
            &row.attempt,
            &row.signed_at,
            &&row.body[..],
        ];
        let stored = match client.execute(&statement, &params).await {
            // A bound row raced another row of the same signed message for its guard key (a
            // concurrent copy, or another event of the same batch): once more, the guard key is
            // seen and left out, and the event key alone decides.
            Err(error)
                if row.bound
                    && error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                client.execute(&statement, &params).await.map_err(backend)?
            }
            other => other.map_err(backend)?,
        };
        if stored == 1 {
            self.stored.notify_one();
        }
        Ok(stored == 1)
    }

    pub(crate) async fn claim(
        &self,
        limit: usize,
        lease_ms: i64,
        token: String,
        done: &[(i64, String)],
    ) -> Result<(Vec<Event>, u64), InboxError> {
        let ids: Vec<i64> = done.iter().map(|(id, _)| *id).collect();
        let tokens: Vec<&str> = done.iter().map(|(_, token)| token.as_str()).collect();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&claim_sql(limit))
            .await
            .map_err(backend)?;
        let rows = client
            .query(&statement, &[&lease_ms, &token, &ids, &tokens])
            .await
            .map_err(backend)?;
        let applied = match rows.first() {
            Some(row) => row.try_get::<_, i64>(0).map_err(backend)?,
            None => 0,
        };
        let events = rows
            .iter()
            .filter_map(|row| match row.try_get::<_, Option<i64>>(1) {
                // The one row of an empty claim.
                Ok(None) => None,
                Ok(Some(id)) => Some(event(row, id)),
                Err(error) => Some(Err(error)),
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(backend)?;
        Ok((events, u64::try_from(applied).unwrap_or(0)))
    }

    /// Marks the row done on `client`, which may be in the handler's transaction.
    pub(crate) async fn done_on(
        client: &tokio_postgres::Client,
        id: i64,
        token: &str,
    ) -> Result<bool, InboxError> {
        // Prepared per call: this runs on plain clients too (the handler's transaction).
        let statement = client.prepare(DONE).await.map_err(backend)?;
        Ok(client
            .execute(&statement, &[&id, &token])
            .await
            .map_err(backend)?
            == 1)
    }

    /// Marks several rows done in one statement; returns how many were still held.
    pub(crate) async fn done_many(&self, rows: Vec<(i64, String)>) -> Result<u64, InboxError> {
        let (ids, tokens): (Vec<i64>, Vec<String>) = rows.into_iter().unzip();
        let client = self.client().await?;
        let statement = client.prepare_cached(DONE_MANY).await.map_err(backend)?;
        client
            .execute(&statement, &[&ids, &tokens])
            .await
            .map_err(backend)
    }

    pub(crate) async fn fail(
        &self,
        id: i64,
        token: String,
        backoff_ms: i64,
        max_tries: i64,
        error: String,
    ) -> Result<Failed, InboxError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(FAIL).await.map_err(backend)?;
        let row = client
            .query_opt(&statement, &[&id, &token, &backoff_ms, &max_tries, &error])
            .await
            .map_err(backend)?;
        let state: Option<String> = row.map(|row| row.try_get(0)).transpose().map_err(backend)?;
        Ok(match state.as_deref() {
            Some("dead") => Failed::Dead,
            Some(_) => Failed::Retry,
            None => Failed::Stale,
        })
    }

    pub(crate) async fn hand_back(&self, id: i64, token: String) -> Result<bool, InboxError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(HAND_BACK).await.map_err(backend)?;
        Ok(client
            .execute(&statement, &[&id, &token])
            .await
            .map_err(backend)?
            == 1)
    }

    pub(crate) async fn counts(&self) -> Result<Counts, InboxError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(COUNTS).await.map_err(backend)?;
        let mut counts = Counts::default();
        for row in client.query(&statement, &[]).await.map_err(backend)? {
            let state: String = row.try_get(0).map_err(backend)?;
            let count: i64 = row.try_get(1).map_err(backend)?;
            let age: Option<i64> = row.try_get(2).map_err(backend)?;
            crate::row::tally(&mut counts, &state, u64::try_from(count).unwrap_or(0), age);
        }
        Ok(counts)
    }

    pub(crate) async fn dead(&self, limit: usize) -> Result<Vec<DeadRow>, InboxError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let statement = client.prepare_cached(DEAD).await.map_err(backend)?;
        client
            .query(&statement, &[&limit])
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                Ok(DeadRow {
                    row_id: row.try_get(0)?,
                    event: row.try_get(1)?,
                    event_id: row.try_get(2)?,
                    tries: row.try_get(3)?,
                    last_error: row.try_get(4)?,
                    received_at: system_time(row.try_get(5)?),
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(backend)
    }

    pub(crate) async fn requeue(&self, id: Option<i64>) -> Result<u64, InboxError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(REQUEUE).await.map_err(backend)?;
        client.execute(&statement, &[&id]).await.map_err(backend)
    }

    pub(crate) async fn purge(
        &self,
        retention_ms: i64,
        payload_ms: Option<i64>,
        batch: usize,
    ) -> Result<Purged, InboxError> {
        let batch_size = i64::try_from(batch).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let mut purged = Purged::default();
        let full = |n: u64| i64::try_from(n).unwrap_or(i64::MAX) >= batch_size;
        let rows = client.prepare_cached(PURGE_ROWS).await.map_err(backend)?;
        loop {
            let n = client
                .execute(&rows, &[&retention_ms, &batch_size])
                .await
                .map_err(backend)?;
            purged.rows += n;
            if !full(n) {
                break;
            }
        }
        if let Some(payload_ms) = payload_ms {
            let payloads = client
                .prepare_cached(PURGE_PAYLOADS)
                .await
                .map_err(backend)?;
            loop {
                let n = client
                    .execute(&payloads, &[&payload_ms, &batch_size])
                    .await
                    .map_err(backend)?;
                purged.payloads += n;
                if !full(n) {
                    break;
                }
            }
        }
        let store = client.prepare_cached(PURGE_STORE).await.map_err(backend)?;
        loop {
            let n = client
                .execute(&store, &[&batch_size])
                .await
                .map_err(backend)?;
            purged.store_keys += n;
            if !full(n) {
                break;
            }
        }
        Ok(purged)
    }

    pub(crate) async fn store_claim(
        &self,
        key: String,
        token: String,
        lease_ms: i64,
    ) -> Result<crate::store::Held, InboxError> {
        let client = self.client().await?;
        let take = client.prepare_cached(STORE_TAKE).await.map_err(backend)?;
        let read = client.prepare_cached(STORE_READ).await.map_err(backend)?;
        // The read can miss the row when it expired or was released in between: try again.
        for _ in 0..8 {
            if client
                .query_opt(&take, &[&key, &token, &lease_ms])
                .await
                .map_err(backend)?
                .is_some()
            {
                return Ok(crate::store::Held::Taken);
            }
            if let Some(row) = client.query_opt(&read, &[&key]).await.map_err(backend)? {
                let done: bool = row.try_get(0).map_err(backend)?;
                let left: i64 = row.try_get(1).map_err(backend)?;
                if left > 0 {
                    return Ok(if done {
                        crate::store::Held::Done
                    } else {
                        crate::store::Held::Leased(left)
                    });
                }
            }
        }
        Err(InboxError::backend("dedup key kept changing under a claim"))
    }

    pub(crate) async fn store_complete(
        &self,
        key: String,
        token: String,
        retention_ms: i64,
    ) -> Result<bool, InboxError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(STORE_COMPLETE)
            .await
            .map_err(backend)?;
        Ok(client
            .execute(&statement, &[&key, &token, &retention_ms])
            .await
            .map_err(backend)?
            == 1)
    }

    pub(crate) async fn store_release(
        &self,
        key: String,
        token: String,
    ) -> Result<bool, InboxError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(STORE_RELEASE)
            .await
            .map_err(backend)?;
        Ok(client
            .execute(&statement, &[&key, &token])
            .await
            .map_err(backend)?
            == 1)
    }

    /// Keeps a connection that `LISTEN`s on the inbox channel and wakes `wake` on every
    /// notification, reconnecting after `retry` when it drops, until `stop` turns true.
    pub(crate) async fn listen(
        self: Arc<Self>,
        wake: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
        retry: Duration,
    ) {
        while !*stop.borrow() {
            if let Err(error) = self.listen_once(&wake, &mut stop).await {
                tracing::debug!(error = %error, source = ?std::error::Error::source(&error),
                    "inbox LISTEN connection lost; polling until it is back");
            }
            if *stop.borrow() {
                break;
            }
            // Whatever was stored while not listening is found by the next claim.
            wake.notify_one();
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn listen_once(
        &self,
        wake: &Notify,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), InboxError> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(backend)?;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let query = format!("LISTEN {CHANNEL}");
        let listen = client.batch_execute(&query);
        tokio::pin!(listen);
        // The connection must be driven while LISTEN runs; notifications may follow at once.
        let mut listening = false;
        loop {
            tokio::select! {
                result = &mut listen, if !listening => {
                    result.map_err(backend)?;
                    listening = true;
                    wake.notify_one();
                }
                message = messages.next() => match message {
                    Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(backend(error)),
                    None => return Err(InboxError::backend("LISTEN connection closed")),
                },
                _ = stop.changed() => return Ok(()),
            }
        }
    }
}

/// The claimed row of `row` (the columns after the done count), whose id is `id`.
fn event(row: &tokio_postgres::Row, id: i64) -> Result<Event, tokio_postgres::Error> {
    Ok(Event {
        id,
        event: row.try_get(2)?,
        event_id: row.try_get(3)?,
        source: row.try_get(4)?,
        delivery_id: row.try_get(5)?,
        attempt: row.try_get(6)?,
        signed_at: row.try_get(7)?,
        received_at_ms: row.try_get(8)?,
        body: row
            .try_get::<_, Option<Vec<u8>>>(9)?
            .unwrap_or_default()
            .into(),
        tries: row.try_get(10)?,
    })
}

/// The least time between two `NOTIFY`s. Each is a commit that takes the server's notification
/// queue lock: sent back to back under load, they were one more transaction per few deliveries
/// (the ack path measured 0.75x to 0.83x a bare insert). The first after a quiet spell goes at
/// once; during a burst, workers of other processes are woken every few milliseconds, and are
/// busy with the burst anyway.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// Sends one `NOTIFY` per burst of stored deliveries, off the request path: every accept that
/// stored a row wakes it, and the wake-ups that arrive while a `NOTIFY` is in flight, or within
/// [`NOTIFY_INTERVAL`] of the last, coalesce into the next one. It ends when its database is
/// dropped.
async fn notifier(
    db: std::sync::Weak<Postgres>,
    stored: Arc<Notify>,
    closed: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        stored.notified().await;
        if closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(db) = db.upgrade() else { return };
        let sent = crate::backend::timed(crate::store::DEFAULT_STORE_TIMEOUT, async {
            let client = db.client().await?;
            client.batch_execute(NOTIFY).await.map_err(backend)
        })
        .await;
        drop(db);
        if let Err(error) = sent {
            // Workers elsewhere find the rows at their next poll.
            tracing::debug!(error = %error, "inbox NOTIFY failed");
        }
        tokio::time::sleep(NOTIFY_INTERVAL).await;
    }
}
