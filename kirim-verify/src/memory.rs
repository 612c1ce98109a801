//! The in-memory dedup store: one process, bounded, exact.

use std::collections::{BTreeMap, HashMap};
use core::future::{Future, ready};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::string::ToString;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::dedup_store::{Claim, ClaimToken, DedupStore, Settled, StoreError};
use crate::key::DedupKey;

/// Default bound on remembered keys.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// A [`DedupStore`] in this process's memory: the default for a single instance, tests and the
/// demo. Several instances behind a load balancer need a shared store (`kirim-dedup-redis`).
///
/// Bounded: at most `max_entries` keys (default 100 000; about 270 bytes each for a 40-byte key,
/// as measured, so about 27 MB when full). Expired keys are dropped as they come due. When the store is full, the *done* key completed longest ago
/// is evicted: the oldest memory goes first, which can at worst let a very late retry through
/// as a duplicate delivery. Not the key closest to expiry: the replay guard's keys are kept only
/// for the tolerance window, minutes against the events' days, so they would always go first,
/// and a replay under a new event id would get through seconds after the original. A claim in
/// progress is never evicted (that would let a second worker take an event whose handler is
/// still running). A store full of claims in progress refuses new ones with
/// [`StoreError::Full`], which the receiver answers 503 so Kirim retries. Size the bound for your
/// event rate × retention (two keys per event with the replay guard on).
///
/// Every call takes one short lock and never waits on I/O, so it never times out.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use kirim_verify::MemoryStore;
/// use kirim_verify::store::{Claim, DedupKey, DedupStore};
///
/// let store = MemoryStore::new();
/// let key = DedupKey::new("kirim:", "evt", "evt_1");
/// let Claim::Acquired(token) = store.claim(&key, Duration::from_secs(30)).await? else {
///     panic!("a new key is free");
/// };
/// store.complete(&key, &token, Duration::from_secs(3600)).await?;
/// assert_eq!(store.claim(&key, Duration::from_secs(30)).await?, Claim::Done);
/// # Ok::<(), kirim_verify::store::StoreError>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    next_token: AtomicU64,
    max_entries: usize,
}

/// One copy of each key, shared by the map and the expiry index it is in.
type Key = Arc<str>;

/// When an entry expires: (deadline, sequence), the sequence making equal deadlines distinct.
/// A done key's sequence is taken when it completes, so it also orders completions.
type Deadline = (Instant, u64);

/// Far enough ahead to mean "never" for a lease or retention too long for [`Instant`].
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Claims in progress, by lease expiry.
    leases: BTreeMap<Deadline, Key>,
    /// Done keys, by retention expiry.
    done: BTreeMap<Deadline, Key>,
    /// Done keys, by completion (their deadline's sequence): the eviction order when full.
    completed: BTreeMap<u64, Key>,
    sequence: u64,
}

#[derive(Debug)]
struct Entry {
    /// `Some(token)` while in progress, `None` once done.
    token: Option<ClaimToken>,
    deadline: Deadline,
}

impl MemoryStore {
    /// An empty store holding at most [`DEFAULT_MAX_ENTRIES`] keys.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Mutex::default(),
            next_token: AtomicU64::new(1),
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }

    /// Bounds the number of remembered keys (at least 1). Defaults to [`DEFAULT_MAX_ENTRIES`].
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The number of live keys (in progress or done).
    #[must_use]
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.expire(Instant::now());
        inner.entries.len()
    }

    /// Whether no key is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method restores the maps' invariants before anything that could panic, so a
        // poisoned lock holds consistent state: use it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn claim_now(&self, key: &DedupKey, lease: Duration) -> Result<Claim, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now);
        if let Some(entry) = inner.entries.get(key.as_str()) {
            return Ok(match entry.token {
                None => Claim::Done,
                Some(_) => Claim::InProgress {
                    retry_after: entry.deadline.0.saturating_duration_since(now),
                },
            });
        }
        while inner.entries.len() >= self.max_entries {
            if !inner.evict_done() {
                return Err(StoreError::Full);
            }
        }
        let token = ClaimToken::new(self.next_token.fetch_add(1, Ordering::Relaxed).to_string());
        let deadline = inner.next_deadline(after(now, lease));
        let shared: Key = Arc::from(key.as_str());
        inner.leases.insert(deadline, Arc::clone(&shared));
        inner.entries.insert(
            shared,
            Entry {
                token: Some(token.clone()),
                deadline,
            },
        );
        Ok(Claim::Acquired(token))
    }

    fn settle_now(&self, key: &DedupKey, token: &ClaimToken, retain: Option<Duration>) -> Settled {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now);
        let Some((shared, entry)) = inner.entries.get_key_value(key.as_str()) else {
            return Settled::Stale;
        };
        if entry.token.as_ref() != Some(token) {
            return Settled::Stale;
        }
        let (shared, lease) = (Arc::clone(shared), entry.deadline);
        inner.leases.remove(&lease);
        match retain {
            Some(retention) => {
                let deadline = inner.next_deadline(after(now, retention));
                inner.done.insert(deadline, Arc::clone(&shared));
                inner.completed.insert(deadline.1, Arc::clone(&shared));
                if let Some(entry) = inner.entries.get_mut(&shared) {
                    entry.token = None;
                    entry.deadline = deadline;
                }
            }
            None => {
                inner.entries.remove(&shared);
            }
        }
        Settled::Applied
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// `now + duration`, with a duration too long for an [`Instant`] taken as [`FOREVER`].
fn after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(FOREVER)).unwrap_or(now)
}

impl Inner {
    fn next_deadline(&mut self, at: Instant) -> Deadline {
        self.sequence += 1;
        (at, self.sequence)
    }

    fn expire(&mut self, now: Instant) {
        for index in [&mut self.leases, &mut self.done] {
            while let Some(entry) = index.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let sequence = entry.key().1;
                let key = entry.remove();
                self.entries.remove(&key);
                // A no-op for a lease: only done keys are in the completion order.
                self.completed.remove(&sequence);
            }
        }
    }

    /// Drops the done key completed longest ago; false when there is none.
    fn evict_done(&mut self) -> bool {
        let Some((_, key)) = self.completed.pop_first() else {
            return false;
        };
        if let Some(entry) = self.entries.remove(&key) {
            self.done.remove(&entry.deadline);
        }
        true
    }
}

impl DedupStore for MemoryStore {
    fn claim(
        &self,
        key: &DedupKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(self.claim_now(key, lease))
    }

    fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        ready(Ok(self.settle_now(key, token, Some(retention))))
    }

    fn release(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        ready(Ok(self.settle_now(key, token, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> DedupKey {
        DedupKey::new("", "evt", id)
    }

    fn acquire(store: &MemoryStore, id: &str, lease: Duration) -> ClaimToken {
        match store.claim_now(&key(id), lease) {
            Ok(Claim::Acquired(token)) => token,
            other => panic!("{id}: {other:?}"),
        }
    }

    #[test]
    fn full_store_evicts_the_done_key_completed_longest_ago() {
        let store = MemoryStore::new().with_max_entries(3);
        let long = Duration::from_secs(3600);
        // "a" is done first and kept long (an event); "b" after it and kept briefly (a
        // signature in the replay guard).
        for (id, retention) in [("a", 3600), ("b", 10)] {
            let token = acquire(&store, id, long);
            store.settle_now(&key(id), &token, Some(Duration::from_secs(retention)));
        }
        let _c = acquire(&store, "c", Duration::from_secs(1));
        // Full: "a" is the oldest memory, so it goes, though "b" expires sooner; the claim on
        // "c", whose lease ends first of all, stays.
        let _d = acquire(&store, "d", long);
        assert_eq!(store.len(), 3);
        assert!(matches!(
            store.claim_now(&key("c"), long),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(store.claim_now(&key("b"), long).ok(), Some(Claim::Done));
        // "a" was forgotten: it can be claimed again, evicting "b", the last done key...
        assert!(matches!(
            store.claim_now(&key("a"), long),
            Ok(Claim::Acquired(_))
        ));
        // ...and now every key is a claim in progress: the store refuses a new one.
        assert!(matches!(
            store.claim_now(&key("e"), long),
            Err(StoreError::Full)
        ));
        let inner = store.lock();
        assert_eq!(
            (inner.done.len(), inner.completed.len(), inner.leases.len()),
            (0, 0, 3)
        );
    }

    #[test]
    fn durations_too_long_for_an_instant_mean_never() {
        let store = MemoryStore::new();
        let token = acquire(&store, "x", Duration::MAX);
        assert!(matches!(
            store.claim_now(&key("x"), Duration::MAX),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(
            store.settle_now(&key("x"), &token, Some(Duration::MAX)),
            Settled::Applied
        );
        assert_eq!(
            store.claim_now(&key("x"), Duration::MAX).ok(),
            Some(Claim::Done)
        );
    }

    #[test]
    fn claims_in_progress_are_never_evicted() {
        let store = MemoryStore::new().with_max_entries(2);
        let long = Duration::from_secs(3600);
        let b = acquire(&store, "b", long);
        let _c = acquire(&store, "c", long);
        assert!(matches!(
            store.claim_now(&key("d"), long),
            Err(StoreError::Full)
        ));
        // "b" is still held by its worker, who completes it.
        assert!(matches!(
            store.claim_now(&key("b"), long),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(
            store.settle_now(&key("b"), &b, Some(long)),
            Settled::Applied
        );
        assert_eq!(store.claim_now(&key("b"), long).ok(), Some(Claim::Done));
    }

    #[test]
    fn expired_entries_free_their_slot() {
        let store = MemoryStore::new();
        let _ = acquire(&store, "x", Duration::ZERO);
        assert!(store.is_empty());
        let token = acquire(&store, "x", Duration::from_secs(1));
        store.settle_now(&key("x"), &token, Some(Duration::ZERO));
        assert!(store.is_empty());
    }

    #[test]
    fn completing_keeps_one_entry_per_key() {
        let store = MemoryStore::new();
        let token = acquire(&store, "x", Duration::from_secs(1));
        store.settle_now(&key("x"), &token, Some(Duration::from_secs(60)));
        let inner = store.lock();
        assert_eq!(
            (
                inner.entries.len(),
                inner.leases.len(),
                inner.done.len(),
                inner.completed.len()
            ),
            (1, 0, 1, 1)
        );
    }
}
