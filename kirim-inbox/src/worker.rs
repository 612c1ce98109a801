//! The worker: takes pending rows in batches under a lease, runs the handler on each, and marks
//! it done, or schedules a retry with backoff, or gives up on it (dead) after the last try.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backend::{Backend, timed};
use crate::error::InboxError;
use crate::inbox::Inbox;
use crate::keys::random_token;
use crate::row::{Event, Failed, millis};

/// Default number of rows taken in one claim.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Default number of handlers running at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default lease on a taken row: a worker that dies holding it gives it back after this.
pub const DEFAULT_WORKER_LEASE: Duration = Duration::from_secs(60);
/// Default number of runs of the handler on a row before it is dead.
pub const DEFAULT_MAX_TRIES: u32 = 10;
/// Default first retry delay; it doubles with each failure.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Default longest retry delay.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Default polling interval, the fallback when no wake-up arrives.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default interval between purges of expired rows.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// How long the done mark of a finished handler waits for a claim to carry it before it is
/// written on its own. Written alone, marks cost a statement each time a handler frees a slot
/// that a row taken ahead fills (measured: more mark statements than claims, the PostgreSQL
/// drain at 0.6x of itself). Until written, a crash runs the row again, as for a row in flight.
const MARK_DELAY: Duration = Duration::from_millis(50);

/// The longest error text kept on a row.
const MAX_ERROR_BYTES: usize = 2000;

/// Limit on each of the worker's own database calls.
const WORKER_DB_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How one run of the handler ended.
pub(crate) enum Outcome {
    /// The handler succeeded; its done mark is written with others of the same moment.
    Succeeded,
    /// The handler succeeded and the row is done (`false`: the lease was lost before); only
    /// transactional handlers mark their row themselves.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Done(bool),
    /// The handler failed, panicked, or its done mark could not be written: this error text.
    Failed(String),
}

/// Runs the user's handler on one row; the plain and the transactional kinds.
pub(crate) trait Run: Send + Sync + 'static {
    fn run(&self, backend: Backend, event: Event, token: String) -> BoxFuture<Outcome>;
}

struct Plain<H>(Arc<H>);

impl<H, Fut, E> Run for Plain<H>
where
    H: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    fn run(&self, _backend: Backend, event: Event, _token: String) -> BoxFuture<Outcome> {
        let handler = Arc::clone(&self.0);
        Box::pin(async move {
            // The call itself runs inside the guarded future, so a panic before its first
            // await is caught too.
            let handled = AssertUnwindSafe(async move { handler(event).await }).catch_unwind();
            match handled.await {
                Ok(Ok(())) => Outcome::Succeeded,
                Ok(Err(error)) => Outcome::Failed(error.to_string()),
                Err(panic) => Outcome::Failed(panic_text(&*panic)),
            }
        })
    }
}

/// Marks the rows done in one call, retrying a failing database briefly: a done mark that is
/// lost makes its row run again after its lease (at least once, never lost). Returns how many
/// were marked and how many had lost their lease.
async fn mark_done(backend: Backend, rows: Vec<(i64, String)>) -> (u64, u64) {
    if rows.is_empty() {
        return (0, 0);
    }
    let mut delay = Duration::from_millis(50);
    for _ in 0..5 {
        match timed(WORKER_DB_TIMEOUT, backend.done_many(rows.clone())).await {
            Ok(applied) => return marked(rows.len(), applied),
            Err(error) => {
                log_db_error(&error, "cannot mark inbox rows done; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    tracing::error!(
        rows = rows.len(),
        "cannot mark inbox rows done; they will run again after their lease"
    );
    (0, u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// `applied` of `count` done marks landed: how many were marked and how many had lost their
/// lease, which is warned about.
fn marked(count: usize, applied: u64) -> (u64, u64) {
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    if applied < count {
        tracing::warn!(
            rows = count - applied,
            "inbox rows' lease ran out before their handler finished; raise the lease"
        );
    }
    (applied, count.saturating_sub(applied))
}

impl WorkerReport {
    fn marked(&mut self, (done, lost): (u64, u64)) {
        self.done += done;
        self.lost_leases += lost;
    }
}

pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a non-string payload");
    format!("handler panicked: {message}")
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A worker's settings, made by [`Inbox::worker`]; [`start`](Self::start) it with a handler.
///
/// ```no_run
/// # async fn run() -> Result<(), kirim_inbox::InboxError> {
/// use std::time::Duration;
/// use kirim_inbox::{Event, Inbox};
///
/// let inbox = Inbox::open("sqlite://inbox.db").await?;
/// let worker = inbox.worker().with_max_tries(5).start(|event: Event| async move {
///     println!("processed {} {}", event.event(), event.event_id());
///     Ok::<_, std::io::Error>(())
/// });
/// // … on shutdown:
/// let report = worker.shutdown(Duration::from_secs(10)).await;
/// # let _ = report;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a worker does nothing until started"]
pub struct Worker {
    inbox: Inbox,
    batch_size: usize,
    concurrency: usize,
    prefetch: Option<usize>,
    lease: Duration,
    max_tries: u32,
    backoff: Duration,
    max_backoff: Duration,
    poll_interval: Duration,
    purge_interval: Duration,
}

impl Worker {
    pub(crate) fn new(inbox: Inbox) -> Self {
        Self {
            inbox,
            batch_size: DEFAULT_BATCH_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            prefetch: None,
            lease: DEFAULT_WORKER_LEASE,
            max_tries: DEFAULT_MAX_TRIES,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            poll_interval: DEFAULT_POLL_INTERVAL,
            purge_interval: DEFAULT_PURGE_INTERVAL,
        }
    }

    /// The most rows taken in one claim (at most the free handler slots plus the
    /// [prefetch](Self::with_prefetch)). Defaults to 32. On PostgreSQL each claim size is a
    /// prepared statement of its own (so the server reuses its plan), up to this many on each
    /// pooled connection.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Handlers running at once. Defaults to 8.
    pub fn with_concurrency(mut self, handlers: usize) -> Self {
        self.concurrency = handlers.max(1);
        self
    }

    /// How long a taken row is held before another worker may take it: longer than the
    /// slowest handler (a handler outliving it may run twice). Defaults to 60 s.
    ///
    /// A row [taken ahead](Self::with_prefetch) starts only while at least half its lease is
    /// left; otherwise it is handed back, and the worker stops taking rows ahead.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Rows taken beyond the free handlers, to start as soon as one frees. Each claim is a
    /// round trip, and with fast handlers the claims, not the handlers, set the pace: more
    /// rows per claim, more rows per second (the inbox benchmarks' `drain` against
    /// `drain-no-prefetch`). A row taken ahead waits for at most one handler's run, hidden
    /// from other workers, its lease ticking; it starts only while at least half its lease is
    /// left, and if one ever is not, it is handed back and this worker takes no more rows
    /// ahead (its handlers are too slow for it to pay). `0` turns it off. Defaults to the
    /// number of handlers.
    pub fn with_prefetch(mut self, rows: usize) -> Self {
        self.prefetch = Some(rows);
        self
    }

    /// Runs of the handler on a row before it is dead. Defaults to 10.
    pub fn with_max_tries(mut self, tries: u32) -> Self {
        self.max_tries = tries.max(1);
        self
    }

    /// The delay before the first retry, doubled with each further failure up to `max`.
    /// Defaults to 1 s and 5 min.
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// How often to look for rows when nothing woke the worker. Defaults to 1 s.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How often to run [`Inbox::purge`]. Defaults to 60 s.
    pub fn with_purge_interval(mut self, interval: Duration) -> Self {
        self.purge_interval = interval;
        self
    }

    /// Starts the worker on the current Tokio runtime, running `handler` on each row. An
    /// `Err` or a panic schedules a retry; the error's `Display` is kept on the row.
    pub fn start<H, Fut, E>(self, handler: H) -> WorkerHandle
    where
        H: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.start_with(Arc::new(Plain(Arc::new(handler))))
    }

    /// PostgreSQL only: runs `handler` inside the transaction that marks its row done. The
    /// handler writes through [`Transaction::client`](crate::Transaction::client); when it
    /// returns `Ok`, the done mark and its writes commit together (or not at all, when the
    /// lease was lost): the handler's effects on this database happen exactly once. On an
    /// `Err` or a panic the transaction rolls back and a retry is scheduled.
    ///
    /// On SQLite every run fails with an error saying so (and the rows end dead): use
    /// [`start`](Self::start) there.
    #[cfg(feature = "postgres")]
    pub fn start_transactional<H, Fut, E>(self, handler: H) -> WorkerHandle
    where
        H: Fn(Event, crate::transaction::Transaction) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.start_with(Arc::new(crate::transaction::Transactional(Arc::new(
            handler,
        ))))
    }

    fn start_with(self, runner: Arc<dyn Run>) -> WorkerHandle {
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(self.run(runner, stopped));
        WorkerHandle { stop, task }
    }

    fn backoff_for(&self, tries: i64) -> Duration {
        let doublings = u32::try_from(tries.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    async fn run(
        self,
        runner: Arc<dyn Run>,
        mut stop: watch::Receiver<Option<Instant>>,
    ) -> WorkerReport {
        let backend = self.inbox.backend().clone();
        let wake = Arc::clone(self.inbox.wake());
        let (listener_stop, listener_stopped) = watch::channel(false);
        let listener = backend.spawn_listener(
            Arc::clone(&wake),
            listener_stopped,
            #[cfg(feature = "postgres")]
            self.poll_interval,
        );
        let worker_id = random_token().unwrap_or_else(|_| String::from("worker"));
        let lease_ms = millis(self.lease);
        let mut report = WorkerReport::default();
        let mut claims = 0u64;
        let mut running: JoinSet<Settled> = JoinSet::new();
        let mut held: HashMap<tokio::task::Id, (i64, String)> = HashMap::new();
        let mut succeeded = Unmarked::default();
        let mut marks: JoinSet<(u64, u64)> = JoinSet::new();
        let mut next_purge = Instant::now() + self.purge_interval;
        let settings = Arc::new(self.clone());
        // Rows taken ahead of a free handler, with when their claim was sent.
        let mut ahead: VecDeque<(Event, String, Instant)> = VecDeque::new();
        let mut prefetch = self.prefetch.unwrap_or(self.concurrency);
        let start = |running: &mut JoinSet<Settled>,
                     held: &mut HashMap<tokio::task::Id, (i64, String)>,
                     event: Event,
                     token: String| {
            let id = event.id;
            let task = running.spawn(settle(
                Arc::clone(&settings),
                Arc::clone(&runner),
                backend.clone(),
                event,
                token.clone(),
            ));
            held.insert(task.id(), (id, token));
        };

        while stop.borrow().is_none() {
            while running.len() < self.concurrency {
                let Some((event, token, sent)) = ahead.pop_front() else {
                    break;
                };
                if sent.elapsed() <= self.lease / 2 {
                    start(&mut running, &mut held, event, token);
                    continue;
                }
                if prefetch > 0 {
                    tracing::warn!(
                        lease = ?self.lease,
                        "inbox handlers take more than half the lease: rows taken ahead waited \
                         too long; this worker takes no more rows ahead (raise the lease)"
                    );
                    prefetch = 0;
                }
                report.handed_back += hand_back(&backend, event.id, token).await;
            }
            // Slots are free only once every row taken ahead has started.
            let free = self.concurrency.saturating_sub(running.len());
            let mut more = false;
            if free > 0 {
                let limit = (free + prefetch).min(self.batch_size);
                claims += 1;
                // A token per claim: a late settle of an earlier lease never matches.
                let token = format!("{worker_id}.{claims}");
                // The done marks of the handlers that finished ride on the claim: one round
                // trip and one commit for both.
                let finished = succeeded.take();
                let sent = Instant::now();
                let got = timed(
                    WORKER_DB_TIMEOUT,
                    backend.claim(limit, lease_ms, token.clone(), &finished),
                )
                .await;
                match got {
                    Ok((events, applied)) => {
                        report.marked(marked(finished.len(), applied));
                        more = events.len() == limit;
                        for event in events {
                            if running.len() < self.concurrency {
                                start(&mut running, &mut held, event, token.clone());
                            } else {
                                ahead.push_back((event, token.clone(), sent));
                            }
                        }
                    }
                    Err(error) => {
                        log_db_error(&error, "cannot take inbox rows; will poll again");
                        // The marks may have landed with a claim that timed out: marked again,
                        // a mark that finds its row done counts as a lost lease, nothing worse.
                        if !finished.is_empty() {
                            marks.spawn(mark_done(backend.clone(), finished));
                        }
                    }
                }
            }
            if Instant::now() >= next_purge {
                match timed(WORKER_DB_TIMEOUT, self.inbox.purge()).await {
                    Ok(purged) => tracing::debug!(?purged, "inbox purged"),
                    Err(error) => log_db_error(&error, "cannot purge the inbox"),
                }
                next_purge = Instant::now() + self.purge_interval;
            }
            // No claim carried them (every slot is busy): held for the next claim, which comes
            // as soon as a slot frees; marked on their own, in the background, once a batch of
            // them waits or the oldest waited MARK_DELAY (slow handlers).
            if succeeded.due(self.batch_size) {
                marks.spawn(mark_done(backend.clone(), succeeded.take()));
            }
            // A full batch means more rows are likely waiting: take them while slots are free.
            if more && running.len() < self.concurrency {
                continue;
            }
            tokio::select! {
                _ = stop.changed() => {}
                Some(joined) = running.join_next_with_id(), if !running.is_empty() => {
                    finish(joined, &mut held, &mut succeeded, &mut report);
                    // Handlers of the same batch often finish together: one yield lets those
                    // already woken end, so the next claim fills their slots too instead of
                    // taking a row or two.
                    tokio::task::yield_now().await;
                    // Whatever else finished meanwhile is marked done in the same call.
                    while let Some(joined) = running.try_join_next_with_id() {
                        finish(joined, &mut held, &mut succeeded, &mut report);
                    }
                }
                () = tokio::time::sleep_until(succeeded.deadline()), if !succeeded.is_empty() => {}
                Some(marked) = marks.join_next(), if !marks.is_empty() => {
                    report.marked(marked.unwrap_or_default());
                }
                () = wake.notified(), if running.len() < self.concurrency => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }

        // Shutdown: take nothing more, let the running handlers finish until the deadline,
        // then stop them and give their rows back.
        let deadline = (*stop.borrow()).unwrap_or_else(Instant::now);
        loop {
            tokio::select! {
                joined = running.join_next_with_id() => match joined {
                    Some(joined) => finish(joined, &mut held, &mut succeeded, &mut report),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        running.abort_all();
        while let Some(joined) = running.join_next_with_id().await {
            finish(joined, &mut held, &mut succeeded, &mut report);
        }
        report.marked(mark_done(backend.clone(), succeeded.take()).await);
        while let Some(marked) = marks.join_next().await {
            report.marked(marked.unwrap_or_default());
        }
        let unstarted = ahead.drain(..).map(|(event, token, _)| (event.id, token));
        for (id, token) in held.into_values().chain(unstarted) {
            report.handed_back += hand_back(&backend, id, token).await;
        }
        let _ = listener_stop.send(true);
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        report
    }
}

/// The rows whose handler succeeded and whose done mark is not written yet, with when the
/// first of them finished: a claim carries them, or, past [`MARK_DELAY`], a statement of
/// their own.
#[derive(Debug, Default)]
struct Unmarked {
    rows: Vec<(i64, String)>,
    since: Option<Instant>,
}

impl Unmarked {
    fn push(&mut self, id: i64, token: String) {
        self.since.get_or_insert_with(Instant::now);
        self.rows.push((id, token));
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether they should go on their own now: a batch of them, or the first waited enough.
    fn due(&self, batch: usize) -> bool {
        self.rows.len() >= batch
            || self
                .since
                .is_some_and(|since| since.elapsed() >= MARK_DELAY)
    }

    /// When the first of them has waited [`MARK_DELAY`] (now when there is none).
    fn deadline(&self) -> Instant {
        self.since
            .map_or_else(Instant::now, |since| since + MARK_DELAY)
    }

    fn take(&mut self) -> Vec<(i64, String)> {
        self.since = None;
        std::mem::take(&mut self.rows)
    }
}

/// Gives a held row back (pending at once, its try not counted); 1 if it was still held.
async fn hand_back(backend: &Backend, id: i64, token: String) -> u64 {
    match timed(WORKER_DB_TIMEOUT, backend.hand_back(id, token)).await {
        Ok(true) => 1,
        Ok(false) => 0,
        Err(error) => {
            log_db_error(&error, "cannot hand a row back; its lease will expire");
            0
        }
    }
}

fn log_db_error(error: &InboxError, what: &'static str) {
    tracing::warn!(
        error = %error,
        source = ?std::error::Error::source(error).map(ToString::to_string),
        "{what}"
    );
}

/// What settling one row did.
#[derive(Debug, Clone)]
enum Settled {
    /// The handler succeeded: mark the row done (with others).
    Succeeded(i64, String),
    Done,
    Retry,
    Dead,
    /// The lease was lost or the database failed: the row comes back after its lease.
    Lost,
}

async fn settle(
    settings: Arc<Worker>,
    runner: Arc<dyn Run>,
    backend: Backend,
    event: Event,
    token: String,
) -> Settled {
    let (id, tries) = (event.id, event.tries);
    let error = match runner.run(backend.clone(), event, token.clone()).await {
        Outcome::Succeeded => return Settled::Succeeded(id, token),
        Outcome::Done(true) => return Settled::Done,
        Outcome::Done(false) => {
            tracing::warn!(
                row = id,
                "inbox row's lease ran out before its handler finished; raise the lease"
            );
            return Settled::Lost;
        }
        Outcome::Failed(error) => truncate(error),
    };
    let backoff = settings.backoff_for(tries);
    let max_tries = i64::from(settings.max_tries);
    match timed(
        WORKER_DB_TIMEOUT,
        backend.fail(id, token, millis(backoff), max_tries, error.clone()),
    )
    .await
    {
        Ok(Failed::Retry) => {
            tracing::warn!(row = id, tries, error = %error, ?backoff, "inbox handler failed; will retry");
            Settled::Retry
        }
        Ok(Failed::Dead) => {
            tracing::error!(row = id, tries, error = %error, "inbox handler failed its last try; row is dead");
            Settled::Dead
        }
        Ok(Failed::Stale) => Settled::Lost,
        Err(db) => {
            log_db_error(
                &db,
                "cannot record a handler failure; the row's lease will expire",
            );
            Settled::Lost
        }
    }
}

fn finish(
    joined: Result<(tokio::task::Id, Settled), tokio::task::JoinError>,
    held: &mut HashMap<tokio::task::Id, (i64, String)>,
    succeeded: &mut Unmarked,
    report: &mut WorkerReport,
) {
    // Aborted at the shutdown deadline: the row stays in `held`, to be handed back.
    if let Ok((id, settled)) = joined {
        held.remove(&id);
        match settled {
            Settled::Succeeded(row, token) => succeeded.push(row, token),
            Settled::Done => report.done += 1,
            Settled::Retry => report.retried += 1,
            Settled::Dead => report.dead += 1,
            Settled::Lost => report.lost_leases += 1,
        }
    }
}

/// A running worker. [`shutdown`](Self::shutdown) it; dropping the handle leaves it running
/// until the runtime ends (its rows then come back after their lease).
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<Option<Instant>>,
    task: tokio::task::JoinHandle<WorkerReport>,
}

impl WorkerHandle {
    /// Stops taking rows, lets the running handlers finish for up to `grace`, then stops them
    /// and hands their rows back (pending at once, their try not counted).
    pub async fn shutdown(self, grace: Duration) -> WorkerReport {
        let _ = self.stop.send(Some(Instant::now() + grace));
        self.task.await.unwrap_or_default()
    }
}

/// What a worker did, returned by [`WorkerHandle::shutdown`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Rows processed and marked done.
    pub done: u64,
    /// Failed runs scheduled for a retry.
    pub retried: u64,
    /// Rows that failed their last try.
    pub dead: u64,
    /// Runs whose lease was lost (they come back, or came back, to a worker).
    pub lost_leases: u64,
    /// Rows handed back: still running at the shutdown deadline, or taken ahead and not
    /// started (at shutdown, or when half their lease had passed).
    pub handed_back: u64,
}
